"""The command line tells the truth: bad input is refused, a failure is printed
once, every printed ``replay with:`` line reproduces the failure when pasted,
and a reader that goes away (``| head``) ends the run quietly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from treadle_model import explore
from treadle_verify.cli import BROKEN_PIPE_STATUS, main
from treadle_verify.protocols import load

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RACY = "tests.integration.programs:racy_counter"
MUTANT_CLI = f"{sys.executable} -m tests.integration.mutant_cli"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _shell(line: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``line`` as pasted into a shell (``treadle`` on PATH)."""
    return subprocess.run(
        line, shell=True, cwd=cwd, env=_env(), capture_output=True, text=True, check=False
    )


def _replay_lines(text: str) -> list[str]:
    return re.findall(r"^replay with: (.+)$", text, flags=re.MULTILINE)


def _schedule_lines(text: str) -> int:
    return len(re.findall(r"^schedule: ", text, flags=re.MULTILINE))


# -- bad input: a clear message and exit status 2 ------------------------------------------


def test_an_unknown_scenario_is_refused_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "pump", "--quick", "--scenario", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err
    for scenario in load("pump").scenarios("quick", None):
        assert repr(scenario.name) in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["check", "pmup"], "unknown protocol pmup; known: pump, runtime"),
        (["check", "pump", "--replay", "0,1"], "needs one PROTOCOL and one --scenario"),
        (["check", "pump", "--no-spec", "--no-impl"], "leaves nothing to check"),
        (["check", "pump", "--quick", "--scenario", "nope", "--replay", "0"], "no scenario"),
        (["spec", "show", "nope"], "no spec named 'nope'"),
        (["spec", "check", "pump", "--const", "nope=1"], "has no constant nope"),
        (["spec", "graph", "pump", "-o", "g.png"], "-o must end in .dot, .gv or .svg"),
        (["explore", RACY, "--replay", "not a schedule"], "schedule"),
        (["explore", RACY, "--max-executions", "-1"], "max_executions must be at least 1"),
        (["explore", "tests/no_such_file.py:f"], "no file tests/no_such_file.py"),
        (["spec", "check", "pump", "--max-states", "-5"], "--max-states must be at least 1"),
        (["spec", "graph", "pump", "-o", "/nonexistent/dir/g.dot"], "cannot write"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_the_problem(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_a_script_that_does_not_compile_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def f(:\n")
    assert main(["explore", f"{script}:f"]) == 2
    assert "SyntaxError" in capsys.readouterr().err


def test_a_malformed_replay_schedule_for_a_scenario_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = load("pump").scenarios("quick", None)[0].name
    assert main(["check", "pump", "--quick", "--scenario", name, "--replay", "x*y"]) == 2
    assert "bad --replay schedule 'x*y'" in capsys.readouterr().err


# -- a failure is printed once, and its replay line reproduces it --------------------------


def test_explore_prints_the_failure_once_and_its_replay_command_reproduces_it() -> None:
    first = _shell(f"treadle explore {RACY}")
    assert first.returncode == 1, first.stderr
    assert first.stdout.count("lost update") == 1, first.stdout
    assert _schedule_lines(first.stdout) == 1
    (line,) = _replay_lines(first.stdout)
    assert line.startswith(f"treadle explore {RACY} --replay '")
    again = _shell(line)
    assert again.returncode == 1, again.stderr
    assert again.stdout.count("lost update") == 1, again.stdout
    assert _replay_lines(again.stdout) == [line]


def test_the_python_replay_call_of_a_module_function_reproduces_the_failure() -> None:
    from tests.integration.programs import racy_counter

    report = explore(racy_counter)
    (failure,) = report.failures
    assert failure.replay_exact
    assert failure.replay_call.startswith("treadle_model.replay(tests.integration.programs.")
    assert f"replay with: {failure.replay_call}" in str(failure)
    code = (
        "import sys, treadle_model, tests.integration.programs\n"
        f"report = {failure.replay_call}\n"
        "print(report)\n"
        "sys.exit(0 if report.ok else 1)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert ran.returncode == 1, ran.stderr
    assert "lost update" in ran.stdout


def test_a_script_s_replay_line_is_the_cli_command_and_reproduces_the_failure(
    tmp_path: Path,
) -> None:
    script = tmp_path / "counter.py"
    script.write_text(
        textwrap.dedent(
            """
            import treadle_model
            from treadle import sync

            def racy() -> None:
                x = sync.Cell(0)
                def bump() -> None:
                    x.set(x.get() + 1)
                ts = [sync.spawn(bump) for _ in range(2)]
                for t in ts:
                    t.join()
                assert x.get() == 2, "lost update"

            if __name__ == "__main__":
                print(treadle_model.explore(racy, spurious_wakeups=True))
            """
        )
    )
    first = _shell(f"{sys.executable} counter.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (line,) = _replay_lines(first.stdout)
    assert line.startswith("treadle explore counter.py:racy --spurious-wakeups --replay '")
    again = _shell(line, cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    assert "lost update" in again.stdout


def test_a_closure_s_replay_call_is_not_offered_as_a_line_to_paste() -> None:
    def racy() -> None:
        from tests.integration.programs import racy_counter

        racy_counter()

    (failure,) = explore(racy).failures
    assert not failure.replay_exact
    text = str(failure)
    assert _replay_lines(text) == []
    assert f"replay by calling: {failure.replay_call}" in text


def test_treadle_check_prints_a_failure_once_and_its_replay_command_reproduces_it() -> None:
    # mutant_cli is `treadle` with a broken WorkerPump under the pump protocol.
    first = _shell(f"{MUTANT_CLI} check pump --quick --no-spec")
    assert first.returncode == 1, first.stderr
    lines = _replay_lines(first.stdout)
    assert lines and _schedule_lines(first.stdout) == len(lines)
    line = lines[0]
    assert re.fullmatch(r"treadle check pump --quick --scenario '[^']+' --replay '[^']+'", line)
    again = _shell(line.replace("treadle", MUTANT_CLI, 1))
    assert again.returncode == 1, again.stderr
    assert again.stdout.count("deadlock: every thread is blocked") == 1, again.stdout
    assert _replay_lines(again.stdout) == [line]
    # ...and the shipped pump passes that same schedule.
    shipped = _shell(line)
    assert shipped.returncode == 0, shipped.stdout


# -- a reader that goes away ends the run quietly ------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["spec", "show", "pump"], ["spec", "list"], ["explore", RACY]],
    ids=["spec-show", "spec-list", "explore"],
)
def test_a_closed_stdout_pipe_ends_quietly(argv: list[str]) -> None:
    proc = subprocess.Popen(
        [str(BIN / "treadle"), *argv],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` having read what it wanted
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == BROKEN_PIPE_STATUS, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert "Exception ignored" not in err, err


def test_piping_into_head_prints_the_first_lines_and_no_error() -> None:
    ran = _shell("treadle spec show pump | head -n 2")
    assert ran.stdout.splitlines()[0].startswith("SPEC pump")
    assert "Traceback" not in ran.stderr and "BrokenPipe" not in ran.stderr, ran.stderr


def test_a_local_invariant_makes_the_replay_call_a_template() -> None:
    from tests.integration.programs import racy_counter

    (failure,) = explore(racy_counter, invariant=lambda: True).failures
    assert not failure.replay_exact
    assert failure.replay_call.endswith(", invariant=...)")
    assert _replay_lines(str(failure)) == []
