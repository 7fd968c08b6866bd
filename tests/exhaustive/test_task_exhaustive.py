"""Task handles explored under every interleaving, conforming to the ``task`` spec.

Each scenario of ``treadle_verify.protocols.task`` (the ones ``treadle check``
runs at its default preset) is explored exhaustively with the conformance
monitor on: tasks that return, raise, look at their token between steps,
ignore it, nap on it or wait for it; owners that wait, cancel at once, close
at once, poll and wait with timeouts (which may fire at any moment), or use
the C-style surface. Each body asserts the one outcome seen every time and
the join before ``close()`` (or the C ``wait``) returns (``unload()``). Then
the checks are shown to bite with the mutants in
:mod:`tests.exhaustive.mutants_task`, each caught with the right failure
kind and a schedule that ``replay`` reproduces.

Execution counts are printed (``pytest -s``) and recorded as test properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.exhaustive.mutants_task import ClosesWithoutCancel, Detached
from tests.exhaustive.support import explore_ok, thorough_only
from treadle.task import TaskHandle
from treadle_model import Failure, Report, explore, replay
from treadle_spec import task as task_spec
from treadle_spec.checker import check_spec
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Scenario
from treadle_verify.protocols import task as protocol
from treadle_verify.protocols._run import explore_scenario

DEFAULT = protocol.scenarios("default")
THOROUGH_ONLY = thorough_only(protocol.scenarios)


def _explore_ok(scenario: Scenario, record_property: Any) -> Report:
    return explore_ok("task", scenario, record_property)


def test_the_default_preset_covers_every_kind_of_task_and_owner() -> None:
    names = [s.name for s in DEFAULT]
    assert len(names) == len(set(names))
    for kind in ("returns", "raises", "cooperative", "stubborn", "sleeper", "until_cancelled"):
        assert any(n.startswith(kind) for n in names), kind
    for owner in ("waits then closes", "cancels at once", "closes at once", "timeout", "C surface"):
        assert any(owner in n for n in names), owner
    assert any("raising Cancelled" in n for n in names)
    assert any("spurious wakeups" in n for n in names)
    for s in DEFAULT:
        assert s.mapping is not None and s.proves
        if "timeout" in s.name:
            assert s.options == {"timeouts": "always"}


@pytest.mark.parametrize("scenario", DEFAULT, ids=[s.name for s in DEFAULT])
def test_task_outcome_is_seen_the_same_every_time_joined_before_close_returns_and_conforms(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", THOROUGH_ONLY, ids=[s.name for s in THOROUGH_ONLY])
def test_longer_tasks_also_conform_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


def test_the_spec_sizes_of_every_preset_pass_every_property() -> None:
    for preset in ("quick", "default"):
        for constants in protocol.spec_sizes(preset):
            report = check_spec(task_spec.build(**constants), progress=None, all_violations=True)
            assert report.ok, str(report)


def test_cancelling_is_seen_by_the_task_in_some_interleaving_and_not_in_another() -> None:
    # The cancel scenarios are not vacuous: both outcomes happen.
    seen: set[object] = set()
    config = protocol.Config("cooperative", "cancel", spins=2)
    task = protocol._task_fn(config)

    def record(token: Any) -> object:
        result = task(token)
        seen.add(result)
        return result

    def body() -> None:
        handle = TaskHandle(record, name=protocol.NAME)
        handle.cancel()
        handle.close()

    report = explore(body)
    assert report.ok and report.exhaustive, str(report)
    assert seen == {0, 1, 2}, seen


def test_an_unknown_task_event_fails_the_mapping_loudly() -> None:
    mapping = protocol.mapping(protocol.Config("returns", "wait").spec_constants())
    with pytest.raises(AssertionError, match="unknown task event"):
        mapping.translate("task.something_new", {"task": protocol.NAME})
    assert mapping.translate("task.handle_created", {"handle": 1, "task": "x"}) is None
    assert mapping.translate("runtime.job_sent", {"job": 1}) is None


# -- mutants ------------------------------------------------------------------------------


def _explore(scenario: Scenario, *, conformance: bool) -> Report:
    options: dict[str, Any] = dict(scenario.options)
    if conformance:
        assert scenario.mapping is not None
        options["monitor"] = monitor_factory(scenario.mapping)
    return explore(scenario.body, **options)


def _caught(scenario: Scenario, kind: str, *, conformance: bool = True) -> Failure:
    """Explore ``scenario`` (with or without its monitor); its first failure must be
    of ``kind``, and replaying that failure's schedule must fail the same way."""
    report = _explore(scenario, conformance=conformance)
    assert report.failures, f"{scenario.name}: the mutant was not caught"
    failure = report.failures[0]
    assert failure.kind == kind, str(failure)
    assert failure.schedule and failure.trace
    options: dict[str, Any] = dict(scenario.options)
    if conformance:
        assert scenario.mapping is not None
        options["monitor"] = monitor_factory(scenario.mapping)
    again = replay(scenario.body, failure.schedule, **options)
    assert [f.kind for f in again.failures] == [kind], str(again)
    assert again.failures[0].schedule == failure.schedule
    print(
        f"\n{scenario.name}: caught as {kind} ({report.failed_executions} failing of "
        f"{report.executions} executions); replays with {failure.schedule!r}"
    )
    return failure


CLOSE_RUNNING = protocol.Config("cooperative", "close", spins=2)
WAIT = protocol.Config("returns", "wait")


def test_close_without_join_leaves_the_task_thread_alive_at_unload() -> None:
    failure = _caught(
        protocol.scenario(CLOSE_RUNNING, Detached), "leaked_thread", conformance=False
    )
    assert "'task' was still alive" in failure.message
    assert "unload('close returned')" in failure.message


def test_wait_without_join_leaves_the_task_thread_alive_at_unload() -> None:
    failure = _caught(protocol.scenario(WAIT, Detached), "leaked_thread", conformance=False)
    assert "'task' was still alive" in failure.message


def test_close_without_join_breaks_the_spec_when_close_returns_first() -> None:
    # Its events say close() returned while the task had not even ended: the
    # spec's CloseJoins needs the task's thread gone.
    message = _caught(protocol.scenario(CLOSE_RUNNING, Detached), "conformance").message
    assert "task.closed" in message and "as match('CloseJoins')" in message
    assert "spec states the execution could be in" in message
    assert "task='spawned'" in message and "actions enabled there:" in message


def test_close_without_cancel_waits_for_ever_on_a_task_that_runs_until_cancelled() -> None:
    config = protocol.Config("until_cancelled", "close")
    failure = _caught(protocol.scenario(config, ClosesWithoutCancel), "deadlock", conformance=False)
    assert "'main' waits to join 'task'" in failure.message
    assert "'task' waits on Event" in failure.message


def test_the_shipped_task_handle_passes_the_scenarios_that_catch_the_mutants() -> None:
    for config in (CLOSE_RUNNING, WAIT, protocol.Config("until_cancelled", "close")):
        report = explore_scenario(protocol.scenario(config))
        assert report.ok and report.exhaustive, str(report)
