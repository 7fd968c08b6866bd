"""The engine behind ``treadle check``: it passes good protocols and catches broken ones."""

from __future__ import annotations

from typing import Any

import treadle_model
from treadle import channel, sync
from treadle_spec.lang import Action, Property
from treadle_verify.conformance import Mapping, match
from treadle_verify.protocols import ProtocolCheck, Scenario
from treadle_verify.protocols._run import run_protocol


class _HandOff:
    """A tiny spec: one item goes through a channel, the sender closes (before or
    after the receive), then the receiver sees the channel disconnected.

    State: (sent, received, closed, disconnected).
    """

    def init_states(self) -> list[tuple[bool, ...]]:
        return [(False, False, False, False)]

    def actions(self, s: tuple[bool, ...]) -> list[Action]:
        sent, received, closed, disconnected = s
        out = []
        if not sent:
            out.append(Action.of("Send", item=1))
        if sent and not received:
            out.append(Action.of("Recv", item=1))
        if sent and not closed:
            out.append(Action.of("Close"))
        if received and closed and not disconnected:
            out.append(Action.of("Disconnected"))
        return out

    def next_state(self, s: tuple[bool, ...], a: Action) -> tuple[bool, ...] | None:
        if a not in self.actions(s):
            return None
        sent, received, closed, disconnected = s
        return {
            "Send": (True, received, closed, disconnected),
            "Recv": (sent, True, closed, disconnected),
            "Close": (sent, received, True, disconnected),
            "Disconnected": (sent, received, closed, True),
        }[a.name]

    def properties(self) -> list[Property[tuple[bool, ...]]]:
        return [Property.sometimes("finishes", lambda s: s[3])]

    def is_final(self, s: tuple[bool, ...]) -> bool:
        return s[3]


def _translate(event: str, fields: dict[str, Any]) -> list[Any] | None:
    if fields.get("channel") != "handoff":
        return None
    return {
        "channel.send": [match("Send", item=fields.get("item"))],
        "channel.recv": [match("Recv", item=fields.get("item"))],
        "channel.close_tx": [match("Close")],
        "channel.disconnected": [match("Disconnected")],
    }.get(event)


HANDOFF = Mapping(spec=_HandOff, translate=_translate, name="handoff")


def _good_body() -> None:
    tx, rx = channel(1, name="handoff")

    def produce() -> None:
        with tx:
            tx.send(1)

    t = sync.spawn(produce)
    assert list(rx) == [1]
    t.join()
    treadle_model.unload()


def _deadlocking_body() -> None:
    # The producer never closes its sender: the receiver waits forever.
    tx, rx = channel(1, name="handoff")
    t = sync.spawn(tx.send, 1)
    assert list(rx) == [1]
    t.join()


def _wrong_item_body() -> None:
    # Sends an item the spec does not allow: conformance must object.
    tx, rx = channel(1, name="handoff")
    with tx:
        tx.send(2)
    assert list(rx) == [2]


def _check(body: Any) -> ProtocolCheck:
    return ProtocolCheck(
        name="handoff",
        spec="pump",
        spec_sizes=lambda preset: [{"capacity": 1, "items": 1}],
        scenarios=lambda preset, impl: [
            Scenario(name="one item", body=body, mapping=HANDOFF, proves="hand-off works")
        ],
    )


def test_runner_passes_a_correct_protocol_and_counts_its_work() -> None:
    lines: list[str] = []
    result = run_protocol(_check(_good_body), "quick", progress=lines.append)
    assert result.ok, result.to_json()
    assert result.spec_states > 0
    assert result.executions >= 1
    assert result.scenarios[0].conformance
    assert any("exploring one item" in line for line in lines)
    assert result.to_json()["impl_executions"] == result.executions


def test_runner_reports_a_deadlock_with_a_replayable_schedule() -> None:
    result = run_protocol(_check(_deadlocking_body), "quick", spec=False)
    assert not result.ok
    (failure,) = result.scenarios[0].failures
    # The receiver waits for a disconnect that never comes: a plain deadlock
    # (its earlier wake-up was delivered, so nothing was lost).
    assert failure.kind == "deadlock", failure
    again = treadle_model.replay(_deadlocking_body, failure.schedule)
    assert [f.kind for f in again.failures] == ["deadlock"]


def test_runner_reports_a_conformance_failure_naming_the_event() -> None:
    result = run_protocol(_check(_wrong_item_body), "quick", spec=False)
    assert not result.ok
    (failure,) = result.scenarios[0].failures
    assert failure.kind == "conformance"
    assert "channel.send" in failure.message
    assert "Send(item=1)" in failure.message  # the action the spec had enabled


def test_runner_turns_a_crashing_scenario_into_a_failed_result() -> None:
    def scenarios(preset: str, impl: Any) -> list[Scenario]:
        raise RuntimeError("scenario table is broken")

    check = ProtocolCheck("broken", "pump", lambda preset: [], scenarios)
    result = run_protocol(check, "quick")
    assert not result.ok
    assert result.error is not None and "scenario table is broken" in result.error
