"""WorkerPool under every interleaving: the ``pool`` protocol's scenarios and mutants.

Each scenario of :mod:`treadle_verify.protocols.pool` runs the real pool under
the model's exhaustive (DPOR) exploration with the ``pool_drain``
conformance monitor on, exactly as ``treadle check`` does: a pass means no
interleaving deadlocks, loses a wakeup, leaks a thread, raises, loses or
duplicates a message, or takes a step the (checked) spec cannot. Each test
prints its execution count.

The mutants (``mutants_pool.py``) show each check biting: the same scenarios
run against a deliberately broken pool must fail with the right kind, on a
schedule that ``replay`` reproduces.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.exhaustive import mutants_pool as mutants
from treadle.pool import PoolStop, WorkerPool
from treadle_model import Report, explore, replay
from treadle_spec import check_spec, pool_drain
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Scenario, load
from treadle_verify.protocols import pool as protocol
from treadle_verify.protocols._run import explore_scenario

DEFAULT = {s.name: s for s in protocol.scenarios("default")}
THOROUGH_ONLY = [s for s in protocol.scenarios("thorough") if s.name not in DEFAULT]


def _scenario(name: str, impl: Any = None) -> Scenario:
    for s in protocol.scenarios("thorough", impl):
        if s.name == name:
            return s
    raise KeyError(name)


def _explore(scenario: Scenario) -> Report:
    report: Report = explore_scenario(scenario)
    print(
        f"\n{scenario.name}: {report.executions} executions "
        f"({report.redundant} redundant) in {report.elapsed:.1f}s"
    )
    return report


def _passes(name: str, record_property: Any) -> Report:
    scenario = DEFAULT[name]
    report = _explore(scenario)
    record_property("executions", report.executions)
    assert report.ok, str(report)
    assert report.exhaustive
    assert report.executions > 0
    return report


# A worker blocked for room on a full channel with nobody left to receive is
# a plain deadlock: no signal was sent and missed, so not a lost wakeup.
DEADLOCK_KINDS = ("deadlock",)


@pytest.fixture
def killed_pools_finalized_quietly() -> Iterator[None]:
    """Swallow what finalizing the pools of executions the model killed raises.

    A mutant's failing execution is killed with its pool still running; the
    pool's ``__del__`` (which stops and joins) then runs during the kill or
    at a later garbage collection, where every facade call raises
    (``GreenletExit``, or ``ModelError`` outside any virtual thread): Python
    reports that as an unraisable exception, which this suite turns into an
    error. Reported to the model's owner; until the model finalizes killed
    executions itself, mutant tests collect their garbage under this hook.
    """
    previous = sys.unraisablehook
    finalizers = (WorkerPool.__del__, PoolStop.__del__)

    def hook(info: Any) -> None:
        if info.object in finalizers and type(info.exc_value).__name__ in (
            "GreenletExit",
            "ModelError",
        ):
            return
        previous(info)

    sys.unraisablehook = hook
    try:
        yield
        gc.collect()
    finally:
        sys.unraisablehook = previous


def _caught(name: str, impl: type[WorkerPool[Any, Any]], *kinds: str) -> str:
    """Explore scenario ``name`` against mutant ``impl``; it must fail with one of ``kinds``.

    The failure's schedule must replay to the same kind. Returns its message.
    """
    scenario = _scenario(name, impl)
    report = _explore(scenario)
    assert not report.ok, f"{impl.__name__} was not caught in {name}"
    failure = report.failures[0]
    assert failure.kind in kinds, str(failure)
    kind = failure.kind
    assert failure.schedule
    assert scenario.mapping is not None
    again = replay(
        scenario.body,
        failure.schedule,
        monitor=monitor_factory(scenario.mapping),
        **scenario.options,
    )
    assert again.failures, f"replaying {failure.schedule} did not fail"
    assert again.failures[0].kind == kind, str(again.failures[0])
    assert again.failures[0].trace, "a replayed failure carries a trace"
    return failure.message


BLOCKED = "workers=1 items=2 capacity=1 stop_and_join"
CAPACITY_2 = "workers=1 items=3 capacity=2 stop_and_join"
RAISES_AFTER_SENDING = "workers=1 items=2 capacity=1 fails=w0@1 stop_and_join"
TWO_RAISE = "workers=2 items=1 capacity=1 fails=w0@0,w1@0 stop_and_join"
PEEK = "workers=1 items=2 capacity=1 peek stop_and_join"
RECV_FIRST = "workers=1 items=2 capacity=1 recv first stop_and_join"
BURST_FIRST = "workers=1 items=2 capacity=1 burst first stop_and_join"
STOP_ITER = "workers=1 items=2 capacity=1 stop_iter"
CLOSE_RAISES = "workers=1 items=2 capacity=1 fails=w0@1 close"
IDLE_RENEW = "workers=2 items=1 capacity=1 fails=w0@0 stop_and_join"
BURST_KEEPS = "workers=1 items=2 capacity=1 burst keeps a later message"
PAUSED_STOP = "workers=1 items=1 capacity=1 PAUSE a stop_and_join"

# -- the shipped pool: every default scenario, exhaustively, with conformance ---------------


def test_every_default_scenario_has_a_test_here() -> None:
    named = {
        BLOCKED,
        CAPACITY_2,
        RAISES_AFTER_SENDING,
        TWO_RAISE,
        PEEK,
        RECV_FIRST,
        BURST_FIRST,
        STOP_ITER,
        CLOSE_RAISES,
        IDLE_RENEW,
        BURST_KEEPS,
        PAUSED_STOP,
    }
    assert named == set(DEFAULT)
    assert all(s.mapping is not None and s.proves for s in DEFAULT.values())


def test_worker_blocked_on_full_channel_at_stop_ends_because_stop_drains_before_joining(
    record_property: Any,
) -> None:
    _passes(BLOCKED, record_property)


def test_worker_blocked_on_the_third_message_at_capacity_2_ends_and_nothing_is_lost(
    record_property: Any,
) -> None:
    _passes(CAPACITY_2, record_property)


def test_worker_raising_after_sending_is_joined_its_message_kept_its_error_raised_after(
    record_property: Any,
) -> None:
    _passes(RAISES_AFTER_SENDING, record_property)


def test_two_raising_workers_are_both_joined_and_reported_together_after_all_joins(
    record_property: Any,
) -> None:
    _passes(TWO_RAISE, record_property)


def test_worker_seeing_stop_between_sends_ends_early_and_nothing_sent_is_lost(
    record_property: Any,
) -> None:
    _passes(PEEK, record_property)


def test_recv_while_running_then_stop_receives_every_message_exactly_once(
    record_property: Any,
) -> None:
    _passes(RECV_FIRST, record_property)


def test_burst_while_running_then_stop_receives_every_message_exactly_once(
    record_property: Any,
) -> None:
    _passes(BURST_FIRST, record_property)


def test_stop_iterator_closed_after_one_message_still_drains_and_joins(
    record_property: Any,
) -> None:
    _passes(STOP_ITER, record_property)


def test_close_drains_joins_and_raises_the_worker_error_carrying_the_messages(
    record_property: Any,
) -> None:
    _passes(CLOSE_RAISES, record_property)


def test_pool_idle_between_worker_starts_renews_its_channel_and_loses_nothing(
    record_property: Any,
) -> None:
    _passes(IDLE_RENEW, record_property)


def test_burst_keeps_a_message_sent_after_it_began_for_the_stop_to_deliver_first(
    record_property: Any,
) -> None:
    _passes(BURST_KEEPS, record_property)


def test_paused_worker_still_ends_at_stop_dropping_what_it_held(
    record_property: Any,
) -> None:
    _passes(PAUSED_STOP, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", THOROUGH_ONLY, ids=[s.name for s in THOROUGH_ONLY])
def test_thorough_scenario_has_no_failing_interleaving_and_conforms_to_pool_drain(
    scenario: Scenario, record_property: Any
) -> None:
    report = _explore(scenario)
    record_property("executions", report.executions)
    assert report.ok, str(report)
    assert report.exhaustive


# -- the registry and the spec sizes behind the mappings ----------------------------------


def test_pool_check_is_registered_with_the_pool_drain_spec() -> None:
    check = load("pool")
    assert check is protocol.CHECK
    assert check.spec == "pool_drain"
    for preset in ("quick", "default", "thorough"):
        assert check.scenarios(preset, None)
        assert check.spec_sizes(preset)
    quick = {s.name for s in check.scenarios("quick", None)}
    thorough = {s.name for s in check.scenarios("thorough", None)}
    assert quick < set(DEFAULT) < thorough


def test_spec_at_every_scenario_size_is_proven_correct() -> None:
    checked: set[str] = set()
    for scenario in protocol.scenarios("thorough"):
        assert scenario.mapping is not None
        if scenario.mapping.name in checked:  # the name spells the constants
            continue
        checked.add(scenario.mapping.name)
        report = check_spec(scenario.mapping.spec())
        assert report.ok and report.complete, f"{scenario.mapping.name}: {report}"
    assert len(checked) >= 4


def test_spec_at_the_default_sizes_is_proven_correct() -> None:
    for constants in protocol.spec_sizes("default"):
        report = check_spec(pool_drain.build(**constants))
        assert report.ok and report.complete, str(report)


# -- mutants: each check is shown to bite ------------------------------------------------


@pytest.mark.usefixtures("killed_pools_finalized_quietly")
def test_join_before_drain_mutant_deadlocks_on_a_worker_blocked_on_the_full_channel() -> None:
    message = _caught(BLOCKED, mutants.JoinBeforeDrainPool, *DEADLOCK_KINDS)
    assert "'main' waits to join 'pool-worker-0'" in message
    assert "'pool-worker-0' waits on Condition" in message


@pytest.mark.usefixtures("killed_pools_finalized_quietly")
def test_eager_join_mutant_passes_every_other_check_but_breaks_the_spec() -> None:
    scenario = _scenario(BLOCKED, mutants.EagerJoinPool)
    # Without the monitor nothing is wrong: no deadlock, nothing lost, all joined...
    plain = explore(scenario.body, **scenario.options)
    assert plain.ok and plain.exhaustive, str(plain)
    # ...but joining while the drain still runs is not a step of pool_drain.
    message = _caught(BLOCKED, mutants.EagerJoinPool, "conformance")
    assert "pool.worker_joined" in message
    assert "match('Join', w=0)" in message and "mgr='drain'" in message
    assert "actions enabled there: RecvDisconnected" in message


@pytest.mark.usefixtures("killed_pools_finalized_quietly")
def test_skip_failed_join_mutant_leaves_the_raising_worker_alive_at_unload() -> None:
    _caught(RAISES_AFTER_SENDING, mutants.SkipFailedJoinPool, "leaked_thread")


@pytest.mark.usefixtures("killed_pools_finalized_quietly")
def test_first_error_only_mutant_fails_the_scenario_assertion_on_reported_errors() -> None:
    message = _caught(TWO_RAISE, mutants.FirstErrorOnlyPool, "exception")
    assert "AssertionError" in message


@pytest.mark.usefixtures("killed_pools_finalized_quietly")
def test_burst_dropping_a_later_message_fails_the_nothing_lost_assertion() -> None:
    message = _caught(BURST_KEEPS, mutants.BurstDropsLaterPool, "exception")
    assert "AssertionError" in message
