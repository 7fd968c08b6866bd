"""Runtime sessions explored under every interleaving, conforming to the ``shutdown`` spec.

Each scenario of ``treadle_verify.protocols.runtime`` (the ones ``treadle check``
runs at its default preset) is explored exhaustively with the conformance
monitor on: init, jobs with main-side calls, shutdown from main and from a
second thread, Ctrl-C at every scheduling point of the main thread, spurious
wake-ups. Each body asserts every call served once on main, the right
outcome of every run_on_worker, and the join before shutdown returns
(``unload()``). Then the checks are shown to bite: the mutants in
:mod:`tests.exhaustive.mutants_runtime` bring back the historical shutdown
bugs, and each is caught with the right failure kind and a schedule that
``replay`` reproduces.

Execution counts are printed (``pytest -s``) and recorded as test properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.exhaustive.mutants_runtime import (
    HookBeforeJoin,
    PollingReceive,
    PollingShutdown,
    ReturnsWithoutJoin,
    SkipsTheWait,
)
from tests.exhaustive.support import explore_ok, thorough_only
from treadle_model import Failure, Report, explore, replay
from treadle_spec import shutdown as shutdown_spec
from treadle_spec.checker import check_spec
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Scenario
from treadle_verify.protocols import runtime as protocol
from treadle_verify.protocols._run import explore_scenario

DEFAULT = protocol.scenarios("default")
THOROUGH_ONLY = thorough_only(protocol.scenarios)


def _explore_ok(scenario: Scenario, record_property: Any) -> Report:
    return explore_ok("runtime", scenario, record_property)


def test_the_default_preset_covers_calls_failures_a_second_caller_and_interrupts() -> None:
    names = [s.name for s in DEFAULT]
    assert len(names) == len(set(names))
    for needle in (
        "jobs=0 calls=0",
        "jobs=1 calls=1",
        "jobs raise",
        "first main-side call raises",
        "another thread shuts down at any time",
        "Ctrl-C at main's scheduling points",
        "spurious wakeups",
    ):
        assert any(needle in n for n in names), needle
    assert any("jobs=1" in n and "Ctrl-C" in n for n in names)
    for s in DEFAULT:
        assert s.mapping is not None and s.proves
        if "Ctrl-C" in s.name:
            assert s.options == {"interrupt_main": True}
        if "spurious" in s.name:
            assert s.options == {"spurious_wakeups": True}


@pytest.mark.parametrize("scenario", DEFAULT, ids=[s.name for s in DEFAULT])
def test_runtime_serves_each_call_once_joins_before_shutdown_returns_and_conforms(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", THOROUGH_ONLY, ids=[s.name for s in THOROUGH_ONLY])
def test_bigger_runtime_sessions_also_conform_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


def test_the_spec_sizes_of_every_preset_pass_every_property() -> None:
    for preset in ("quick", "default"):
        for constants in protocol.spec_sizes(preset):
            report = check_spec(
                shutdown_spec.build(**constants), progress=None, all_violations=True
            )
            assert report.ok, str(report)


def test_an_unknown_runtime_event_fails_the_mapping_loudly() -> None:
    mapping = protocol.mapping(protocol.Config(0).spec_constants())
    with pytest.raises(AssertionError, match="unknown runtime event"):
        mapping.translate("runtime.something_new", {})
    assert mapping.translate("pump.item", {"item": 0}) is None
    assert mapping.translate("channel.recv", {"channel": "other", "item": 0}) is None


# -- mutants ------------------------------------------------------------------------------


def _explore(scenario: Scenario, *, conformance: bool, **extra: Any) -> Report:
    options: dict[str, Any] = dict(scenario.options)
    options.update(extra)
    if conformance:
        assert scenario.mapping is not None
        options["monitor"] = monitor_factory(scenario.mapping)
    return explore(scenario.body, **options)


def _caught(scenario: Scenario, kind: str, *, conformance: bool = True, **extra: Any) -> Failure:
    """Explore ``scenario`` (with or without its monitor); its first failure must be
    of ``kind``, and replaying that failure's schedule must fail the same way."""
    report = _explore(scenario, conformance=conformance, **extra)
    assert report.failures, f"{scenario.name}: the mutant was not caught"
    failure = report.failures[0]
    assert failure.kind == kind, str(failure)
    assert failure.schedule and failure.trace
    options: dict[str, Any] = dict(scenario.options)
    options.update(extra)
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


SESSION = protocol.Config(0)
"""init, then shutdown: the smallest session, enough for every shutdown bug."""

TWO_CALLERS = protocol.Config(0, other=True)


def test_hook_removed_before_join_breaks_the_spec_at_the_unhook() -> None:
    # The worker never crashes here, so every body assertion holds: only the
    # conformance monitor sees the hook go while the spec still waits to join.
    mutant = protocol.scenario(SESSION, HookBeforeJoin)
    plain = _explore(mutant, conformance=False)
    assert plain.ok and plain.exhaustive, str(plain)
    message = _caught(mutant, "conformance").message
    assert "runtime.hook_uninstalled" in message and "as match('Unhook')" in message
    assert "main='sd_join'" in message
    assert "actions enabled there: JoinWorker(t='main')" in message


def test_hook_removed_before_join_is_the_spec_bug_switch_whose_checker_finds_it() -> None:
    # The mutant's events are a behaviour of the spec with bug_unhook_before_join,
    # and that spec's checker finds the broken invariant.
    mutant = protocol.scenario(SESSION, HookBeforeJoin, spec={"bug_unhook_before_join": True})
    report = _explore(mutant, conformance=True)
    assert report.ok and report.exhaustive, str(report)
    spec = shutdown_spec.build(**{**SESSION.spec_constants(), "bug_unhook_before_join": True})
    assert (
        check_spec(spec, progress=None, all_violations=True).violation("unhook_after_join")
        is not None
    )


def test_shutdown_returning_without_join_leaves_the_worker_alive_at_unload() -> None:
    mutant = protocol.scenario(SESSION, ReturnsWithoutJoin)
    failure = _caught(mutant, "leaked_thread", conformance=False)
    assert "'treadle-runtime-worker' was still alive" in failure.message
    assert "unload('shutdown returned')" in failure.message


def test_shutdown_returning_without_join_breaks_the_spec_first() -> None:
    mutant = protocol.scenario(SESSION, ReturnsWithoutJoin)
    message = _caught(mutant, "conformance").message
    assert "runtime.hook_uninstalled" in message and "JoinWorker(t='main')" in message


def test_polling_shutdown_leaves_the_worker_mid_poll_at_unload() -> None:
    mutant = protocol.scenario(SESSION, PollingShutdown)
    failure = _caught(mutant, "leaked_thread", conformance=False)
    assert "'treadle-runtime-worker' was still alive" in failure.message


def test_polling_shutdown_is_the_spec_bug_switch_whose_checker_finds_it() -> None:
    plain = protocol.scenario(SESSION, PollingShutdown)
    message = _caught(plain, "conformance").message
    assert "runtime.hook_uninstalled" in message and "SendStop(t='main')" in message
    # Against the spec with bug_poll the events conform (the worker's timeouts
    # are the spec's PollTimeout) up to the leak, which both find.
    mutant = protocol.scenario(SESSION, PollingShutdown, spec={"bug_poll": True})
    _caught(mutant, "leaked_thread")
    spec = shutdown_spec.build(**{**SESSION.spec_constants(), "bug_poll": True})
    assert (
        check_spec(spec, progress=None, all_violations=True).violation("join_before_unload")
        is not None
    )


def test_polling_receive_spins_for_ever_when_timeouts_can_fire() -> None:
    # Polling instead of blocking is caught as what it is: with timeouts free to
    # fire, the idle worker's wait never ends for good - a livelock.
    mutant = protocol.scenario(SESSION, PollingReceive)
    failure = _caught(mutant, "step_limit", conformance=False, timeouts="always")
    assert "spin loop or a livelock" in failure.message
    assert "treadle-runtime-worker" in failure.message
    # The shipped runtime has no timed wait at all: the same exploration passes.
    shipped = _explore(protocol.scenario(SESSION), conformance=True, timeouts="always")
    assert shipped.ok and shipped.exhaustive, str(shipped)


def test_shutdown_that_skips_waiting_for_another_returns_while_the_worker_is_alive() -> None:
    mutant = protocol.scenario(TWO_CALLERS, SkipsTheWait)
    failure = _caught(mutant, "exception", conformance=False)
    assert "shutdown returned while the worker is alive" in failure.message
    message = _caught(mutant, "conformance").message
    assert "no final state" in message and "sd_wait" in message


def test_the_shipped_runtime_passes_the_scenarios_that_catch_the_mutants() -> None:
    for config in (SESSION, TWO_CALLERS):
        report = explore_scenario(protocol.scenario(config))
        assert report.ok and report.exhaustive, str(report)
