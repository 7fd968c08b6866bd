"""``treadle spec``: list, show, check, graph."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from treadle_verify import _cli_spec
from treadle_verify.cli import main


def test_list_names_every_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("pump", "pool_drain", "shutdown"):
        assert name in out


def test_show_prints_constants_variables_actions_and_properties(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["spec", "show", "pump"]) == 0
    out = capsys.readouterr().out
    for heading in ("CONSTANTS", "VARIABLES", "ACTIONS", "PROPERTIES", "BUG SWITCHES"):
        assert heading in out
    assert "Send(item)  [fair; when worker = 'run']" in out
    assert "bug_keep_rx_open = False" in out
    assert "join_before_return" in out


def test_check_all_specs_at_default_sizes_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "check", "-q"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out
    assert out.count(" ok") >= 28


def test_check_with_a_bug_switch_fails_and_prints_the_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        [
            "spec",
            "check",
            "pool_drain",
            "-q",
            "--const",
            "bug_join_before_drain=true",
            "--const",
            "workers=1",
            "--const",
            "items=2",
            "--all-violations",
        ]
    )
    assert status == 1
    out = capsys.readouterr().out
    assert "deadlock (deadlock)" in out
    assert "drain_before_join (invariant)" in out
    assert "SendStop(w=0)" in out
    assert "1 failed" in out


def test_check_rejects_unknown_specs_and_constants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "check", "nope"]) == 2
    assert "no spec named 'nope'" in capsys.readouterr().err
    assert main(["spec", "check", "pump", "--const", "widgets=3"]) == 2
    err = capsys.readouterr().err
    assert "no constant widgets" in err and "capacity" in err
    assert main(["spec", "check", "pump", "--const", "capacity"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_graph_writes_dot_with_the_violation_path_in_red(tmp_path: Path) -> None:
    target = tmp_path / "pump.dot"
    status = main(
        [
            "spec",
            "graph",
            "pump",
            "-o",
            str(target),
            "--const",
            "capacity=0",
            "--const",
            "bug_keep_rx_open=true",
        ]
    )
    assert status == 0
    text = target.read_text()
    assert text.startswith('digraph "Pump"')
    assert 'color="red", penwidth=2' in text
    assert 'fillcolor="#ffcccc"' in text  # the deadlock state


def test_graph_of_a_correct_spec_has_no_red_path(tmp_path: Path) -> None:
    target = tmp_path / "shutdown.gv"
    assert main(["spec", "graph", "shutdown", "-o", str(target), "--const", "jobs=0"]) == 0
    text = target.read_text()
    assert "->" in text and "penwidth=2, fontcolor" not in text


def test_graph_svg_needs_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli_spec.shutil, "which", lambda name: None)
    assert main(["spec", "graph", "pump", "-o", str(tmp_path / "g.svg")]) == 2
    err = capsys.readouterr().err
    assert "`dot`" in err and "apt-get install graphviz" in err and "-o FILE.dot" in err
    assert not (tmp_path / "g.svg").exists()


def test_graph_svg_is_written_by_the_real_graphviz(tmp_path: Path) -> None:
    # CI sets TREADLE_REQUIRE_DOT (and installs graphviz), so there this never skips.
    if shutil.which("dot") is None:
        if os.environ.get("TREADLE_REQUIRE_DOT"):
            pytest.fail("TREADLE_REQUIRE_DOT is set but Graphviz's `dot` is not on PATH")
        pytest.skip("Graphviz's `dot` is not installed (apt-get install graphviz)")
    target = tmp_path / "graph.svg"
    assert main(["spec", "graph", "pump", "-o", str(target)]) == 0
    text = target.read_text()
    assert "<svg" in text and "</svg>" in text
    assert 'class="node"' in text and 'class="edge"' in text


def test_graph_rejects_unknown_suffixes_and_huge_graphs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["spec", "graph", "pump", "-o", str(tmp_path / "g.png")]) == 2
    assert ".svg" in capsys.readouterr().err
    status = main(
        ["spec", "graph", "pool_drain", "-o", str(tmp_path / "g.dot"), "--max-states", "10"]
    )
    assert status == 2
    assert "more than 10" in capsys.readouterr().err


def test_graph_svg_pipes_the_dot_text_through_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for Graphviz: wraps whatever DOT it reads in an <svg> element.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dot"
    fake.write_text('#!/bin/sh\nprintf "<svg>"; cat; printf "</svg>"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")
    target = tmp_path / "g.svg"
    assert main(["spec", "graph", "shutdown", "-o", str(target), "--const", "jobs=0"]) == 0
    text = target.read_text()
    assert text.startswith("<svg>digraph") and text.endswith("</svg>")
