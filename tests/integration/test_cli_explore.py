"""``treadle explore``: finds the bug, prints a replay command that reproduces it."""

from __future__ import annotations

import re

import pytest

from treadle_verify.cli import main

RACY = "tests.integration.programs:racy_counter"


def test_explore_reports_a_lost_update_and_its_replay_reproduces_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explore", RACY]) == 1
    out = capsys.readouterr().out
    assert "lost update" in out
    found = re.search(r"--replay '([^']+)'", out)
    assert found, out
    assert main(["explore", RACY, "--replay", found.group(1)]) == 1
    assert "lost update" in capsys.readouterr().out


def test_explore_passes_a_correct_program_and_counts_its_executions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explore", "tests.integration.programs:locked_counter"]) == 0
    out = capsys.readouterr().out
    assert "2 executions" in out  # two lock orders, nothing else distinct


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("no_colon_here", "MODULE:FUNCTION"),
        ("tests.integration.programs:missing", "missing"),
        ("tests.integration.programs:NOT_CALLABLE", "not callable"),
        ("no.such.module:f", "no.such"),
    ],
)
def test_explore_rejects_a_bad_target_clearly(
    target: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", target]) == 2
    assert fragment in capsys.readouterr().err


def test_explore_random_strategy_is_reproducible_by_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["explore", RACY, "--strategy", "random", "--seed", "7", "--max-executions", "50"]
    first = main(args)
    out1 = capsys.readouterr().out
    second = main(args)
    out2 = capsys.readouterr().out
    assert first == second == 1
    schedule = re.compile(r"--replay '([^']+)'")
    assert schedule.findall(out1) == schedule.findall(out2)
