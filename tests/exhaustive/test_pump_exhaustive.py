"""WorkerPump.run explored under every interleaving, conforming to the ``pump`` spec.

Each scenario of ``treadle_verify.protocols.pump`` (the ones ``treadle check``
runs at its default preset) is explored exhaustively with the conformance
monitor on; its body asserts FIFO, nothing lost or duplicated, the right
outcome and the join before ``run`` returns. Then the checks are shown to
bite: the mutants in :mod:`tests.exhaustive.mutants_pump` bring back
historical bugs, and each is caught with the right failure kind and a
schedule that ``replay`` reproduces.

Execution counts are printed (``pytest -s``) and recorded as test properties.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.exhaustive.mutants_pump import KeepsReceiverOpen, WaitsForEverySender
from tests.exhaustive.support import explore_ok, thorough_only
from treadle_model import Failure, Report, explore, replay
from treadle_spec import pump as pump_spec
from treadle_spec.checker import check_spec
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Scenario
from treadle_verify.protocols import pump as protocol
from treadle_verify.protocols._run import explore_scenario

DEFAULT = protocol.scenarios("default")
THOROUGH_ONLY = thorough_only(protocol.scenarios)


def _explore_ok(scenario: Scenario, record_property: Any) -> Report:
    return explore_ok("pump", scenario, record_property)


def test_the_default_preset_covers_every_capacity_failure_point_and_option() -> None:
    names = [s.name for s in DEFAULT]
    assert len(names) == len(set(names))
    configs = [s.name for s in DEFAULT]
    for cap in (0, 1, 2):
        assert any(n.startswith(f"capacity={cap} ") for n in configs)
    for needle in (
        "pump raises",
        "worker raises",
        "leaks its sender",
        "worker logs",
        "Ctrl-C at run's scheduling points",
        "spurious wakeups",
    ):
        assert any(needle in n for n in configs), needle
    for s in DEFAULT:
        assert s.mapping is not None and s.proves
        if "Ctrl-C" in s.name:
            assert s.options == {"interrupt_main": True}


@pytest.mark.parametrize("scenario", DEFAULT, ids=[s.name for s in DEFAULT])
def test_run_pumps_a_fifo_prefix_joins_and_conforms_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", THOROUGH_ONLY, ids=[s.name for s in THOROUGH_ONLY])
def test_bigger_pump_configurations_also_conform_under_every_interleaving(
    scenario: Scenario, record_property: Any
) -> None:
    _explore_ok(scenario, record_property)


def test_the_spec_sizes_of_every_preset_pass_every_property() -> None:
    for preset in ("quick", "default"):
        for constants in protocol.spec_sizes(preset):
            report = check_spec(pump_spec.build(**constants), progress=None, all_violations=True)
            assert report.ok, str(report)


# -- mutants ------------------------------------------------------------------------------


def _explore(scenario: Scenario, *, conformance: bool, **extra: Any) -> Report:
    options: dict[str, Any] = dict(scenario.options)
    if conformance:
        assert scenario.mapping is not None
        options["monitor"] = monitor_factory(scenario.mapping)
    return explore(scenario.body, **options, **extra)


def _caught(scenario: Scenario, kind: str, *, conformance: bool = True) -> Failure:
    """Explore ``scenario`` (with or without its monitor); its first failure must
    be of ``kind``, and replaying that failure's schedule must fail the same
    way. Returns the failure."""
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


BLOCKED_WORKER = protocol.Config(1, 3, pump_fails_at=0)
"""pump raises on item 0 while the worker can be blocked sending item 2."""


def test_receiver_left_open_when_pump_raises_deadlocks_the_join() -> None:
    mutant = protocol.scenario(BLOCKED_WORKER, KeepsReceiverOpen)
    failure = _caught(mutant, "deadlock", conformance=False)
    assert "'main' waits to join 'treadle-pump-worker'" in failure.message
    assert "'treadle-pump-worker' waits on Condition" in failure.message


def test_receiver_left_open_conforms_to_the_spec_with_that_bug_and_still_deadlocks() -> None:
    # The impl mutant and the spec's bug switch are the same mistake: the mutant's
    # events are a behaviour of the buggy spec, whose checker finds the same deadlock.
    mutant = protocol.scenario(BLOCKED_WORKER, KeepsReceiverOpen, spec={"bug_keep_rx_open": True})
    _caught(mutant, "deadlock")
    spec = pump_spec.build(**{**BLOCKED_WORKER.spec_constants(), "bug_keep_rx_open": True})
    assert check_spec(spec, progress=None).violation("deadlock") is not None


def test_receiver_left_open_breaks_the_spec_even_where_it_cannot_deadlock() -> None:
    # Capacity 2, one item: the worker never blocks, so no execution hangs and the
    # body's assertions all hold - only conformance sees the join before the close.
    config = protocol.Config(2, 1, pump_fails_at=0)
    mutant = protocol.scenario(config, KeepsReceiverOpen)
    plain = _explore(mutant, conformance=False)
    assert plain.ok and plain.exhaustive, str(plain)
    message = _caught(mutant, "conformance").message
    assert "pump.worker_joined" in message and "as match('Join')" in message
    assert "spec states the execution could be in" in message
    assert "actions enabled there: CloseRx" in message


def test_waiting_for_every_sender_hangs_on_a_leaked_sender() -> None:
    config = protocol.Config(1, 1, leak=True)
    failure = _caught(protocol.scenario(config, WaitsForEverySender), "deadlock", conformance=False)
    assert "'main' waits on Condition" in failure.message


def test_waiting_for_every_sender_breaks_the_spec_without_a_leak() -> None:
    # Without a leaked sender the seed's loop ends fine - but by a disconnect, which
    # the spec (END marker) never does.
    config = protocol.Config(1, 1)
    mutant = protocol.scenario(config, WaitsForEverySender)
    plain = _explore(mutant, conformance=False)
    assert plain.ok, str(plain)
    assert "channel.disconnected" in _caught(mutant, "conformance").message


def test_the_shipped_pump_passes_the_scenarios_that_catch_the_mutants() -> None:
    for config in (BLOCKED_WORKER, protocol.Config(2, 1, pump_fails_at=0)):
        report = explore_scenario(protocol.scenario(config))
        assert report.ok and report.exhaustive, str(report)
