"""Shared by the exhaustive protocol tests: explore a scenario and demand a clean proof."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from treadle_model import Report
from treadle_verify.protocols import Scenario
from treadle_verify.protocols._run import explore_scenario


def thorough_only(scenarios: Callable[[str], Sequence[Scenario]]) -> list[Scenario]:
    """The scenarios of the thorough preset that the default preset does not run."""
    default = {s.name for s in scenarios("default")}
    return [s for s in scenarios("thorough") if s.name not in default]


def explore_ok(protocol: str, scenario: Scenario, record_property: Any) -> Report:
    """Explore ``scenario`` (conformance on); every execution must pass, exhaustively.

    The execution count is printed (``pytest -s``) and recorded as a test property.
    """
    report: Report = explore_scenario(scenario)
    print(
        f"\n{protocol} [{scenario.name}]: {report.executions} executions, "
        f"{report.redundant} redundant, {report.elapsed:.2f}s - {scenario.proves}"
    )
    record_property("executions", report.executions)
    record_property("seconds", round(report.elapsed, 3))
    report.assert_ok()
    assert report.exhaustive, "the exploration stopped before covering every interleaving"
    assert report.executions > 0
    return report
