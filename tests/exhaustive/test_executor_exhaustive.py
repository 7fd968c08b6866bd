"""Executor and Tagged explored under every interleaving, conforming to the ``executor`` spec.

Each scenario of ``treadle_verify.protocols.executor`` (the ones ``treadle
check`` runs at its default preset) is explored exhaustively with the
conformance monitor on; its body asserts that every accepted job ran once
in order and every rejected one never ran, that join drains and then joins,
and that a Tagged value is only ever readable on its own executor's thread.
Then the checks are shown to bite on the mutants in
:mod:`tests.exhaustive.mutants_executor`, each caught with the right failure
kind and a schedule that ``replay`` reproduces.

Execution counts are printed (``pytest -s``) and recorded as test properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.exhaustive.mutants_executor import ReturnsBeforeTheThreadEnds, ReusesTags
from tests.exhaustive.support import explore_ok, thorough_only
from treadle_model import Failure, Report, explore, replay
from treadle_spec import executor as executor_spec
from treadle_spec.checker import check_spec
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Scenario
from treadle_verify.protocols import executor as protocol
from treadle_verify.protocols._run import explore_scenario

DEFAULT = protocol.scenarios("default")
THOROUGH_ONLY = thorough_only(protocol.scenarios)


def _explore_ok(scenario: Scenario, record_property: Any) -> Report:
    return explore_ok("executor", scenario, record_property)


@pytest.mark.parametrize("scenario", DEFAULT, ids=[s.name for s in DEFAULT])
def test_jobs_run_once_in_order_join_drains_and_conforms_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", THOROUGH_ONLY, ids=[s.name for s in THOROUGH_ONLY])
def test_more_callers_and_jobs_also_conform_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


def test_the_spec_sizes_of_every_preset_pass_every_property() -> None:
    for preset in ("quick", "default"):
        for constants in protocol.spec_sizes(preset):
            report = check_spec(
                executor_spec.build(**constants), progress=None, all_violations=True
            )
            assert report.ok, str(report)


def test_the_mapping_forgets_the_first_executors_tag_between_executions() -> None:
    # Tags come from a process-wide counter, so every execution's first executor
    # has a new one; the translation must learn it afresh each time.
    scenario = next(s for s in DEFAULT if s.name == "tagged on a second executor")
    first = explore_scenario(scenario)
    again = explore_scenario(scenario)
    assert first.ok and again.ok and first.executions == again.executions > 1


# -- mutants ------------------------------------------------------------------------------


def _options(scenario: Scenario, conformance: bool) -> dict[str, Any]:
    options: dict[str, Any] = dict(scenario.options)
    if conformance:
        assert scenario.mapping is not None
        options["monitor"] = monitor_factory(scenario.mapping)
    return options


def _caught(scenario: Scenario, kind: str, *, conformance: bool = True) -> Failure:
    """Explore ``scenario``; its first failure must be of ``kind``, and replaying that
    failure's schedule must fail the same way. Returns the failure."""
    options = _options(scenario, conformance)
    report = explore(scenario.body, **options)
    assert report.failures, f"{scenario.name}: the mutant was not caught"
    failure = report.failures[0]
    assert failure.kind == kind, str(failure)
    assert failure.schedule and failure.trace
    again = replay(scenario.body, failure.schedule, **options)
    assert [f.kind for f in again.failures] == [kind], str(again)
    assert again.failures[0].schedule == failure.schedule
    print(
        f"\n{scenario.name}: caught as {kind} ({report.failed_executions} failing of "
        f"{report.executions} executions); replays with {failure.schedule!r}"
    )
    return failure


def _second_executor(impl: Any) -> Scenario:
    return next(s for s in protocol.scenarios("quick", impl) if "second executor" in s.name)


def test_a_reused_tag_lets_a_later_executor_read_an_earlier_ones_tagged_value() -> None:
    failure = _caught(_second_executor(ReusesTags), "exception", conformance=False)
    assert isinstance(failure.exception, AssertionError)
    assert "read executor" in failure.message and "Tagged value" in failure.message


def test_a_reused_tag_breaks_the_spec_as_soon_as_the_second_executor_starts() -> None:
    failure = _caught(_second_executor(ReusesTags), "conformance")
    message = failure.message
    assert "executor.started" in message and "as match('StartSecond', tag=1)" in message
    assert "actions enabled there:" in message and "StartSecond(tag=2)" in message
    # The spec's own bug switch is the same mistake, and its checker finds it too.
    spec = executor_spec.build(callers=1, jobs=1, joiners=1, tagged=True, bug_tag_reuse=True)
    assert check_spec(spec, progress=None).violation("tags_unique") is not None


def test_join_returning_before_the_thread_ends_leaks_it() -> None:
    scenario = protocol.scenarios("quick", ReturnsBeforeTheThreadEnds)[0]
    failure = _caught(scenario, "leaked_thread", conformance=False)
    assert "treadle-executor-" in failure.message and "join before unload" in failure.message


def test_join_returning_before_the_thread_ends_breaks_the_spec() -> None:
    scenario = protocol.scenarios("quick", ReturnsBeforeTheThreadEnds)[0]
    failure = _caught(scenario, "conformance")
    assert "executor.joined" in failure.message and "JoinReturns" in failure.message
