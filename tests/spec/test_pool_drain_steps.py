"""pool_drain's steps that the real pool's events need (the conformance mapping).

A worker that has not called ``send`` yet may look at its down channel or
raise while the up channel is full; only a send that waits for room
(``Block``) takes those choices away. A stop or close after the pool is done,
and the manager finding the channel idle before stop, change nothing.
"""

from __future__ import annotations

from treadle_spec import Action, pool_drain


def _run(spec: pool_drain.PoolDrain, *steps: str) -> pool_drain.State:
    (state,) = spec.init_states()
    for step in steps:
        nxt = spec.next_state(state, Action.parse(step))
        assert nxt is not None, f"{step} is not enabled in {state}"
        state = nxt
    return state


def _enabled(spec: pool_drain.PoolDrain, state: pool_drain.State) -> set[str]:
    return {str(a) for a in spec.actions(state)}


def test_worker_not_yet_sending_sees_stop_and_may_raise_while_the_up_channel_is_full() -> None:
    spec = pool_drain.build(workers=1, items=2, capacity=1)
    full = _run(spec, "Send(w=0)", "BeginStop", "SendStop(w=0)")
    assert full.buf == ((0, 0),)
    assert {"SeeStop(w=0)", "Raise(w=0)", "Block(w=0)"} <= _enabled(spec, full)


def test_worker_waiting_for_room_can_neither_see_stop_nor_raise_until_its_send_completes() -> None:
    spec = pool_drain.build(workers=1, items=2, capacity=1)
    blocked = _run(spec, "Send(w=0)", "Block(w=0)", "BeginStop", "SendStop(w=0)")
    assert spec.blocked_in_send(blocked, 0)
    enabled = _enabled(spec, blocked)
    assert "SeeStop(w=0)" not in enabled and "Raise(w=0)" not in enabled
    assert "Send(w=0)" not in enabled  # no room yet
    after = _run(spec, "Send(w=0)", "Block(w=0)", "BeginStop", "SendStop(w=0)", "Recv(w=0, k=0)")
    assert "Send(w=0)" in _enabled(spec, after)
    sent = spec.next_state(after, Action.of("Send", w=0))
    assert sent is not None and sent.wk == ("work",) and sent.buf == ((0, 1),)


def test_block_is_only_enabled_on_a_full_channel_with_a_message_left() -> None:
    spec = pool_drain.build(workers=1, items=1, capacity=1)
    (init,) = spec.init_states()
    assert "Block(w=0)" not in _enabled(spec, init)  # room
    sent = _run(spec, "Send(w=0)")
    assert "Block(w=0)" not in _enabled(spec, sent)  # nothing left to send


def test_stop_again_after_done_changes_nothing_and_is_enabled_only_when_done() -> None:
    spec = pool_drain.build(workers=1, items=1, capacity=1, worker_may_fail=False)
    done = _run(
        spec,
        "Send(w=0)",
        "BeginStop",
        "SendStop(w=0)",
        "Recv(w=0, k=0)",
        "SeeStop(w=0)",
        "Exit(w=0)",
        "RecvDisconnected",
        "Join(w=0)",
    )
    assert spec.is_final(done)
    assert spec.next_state(done, Action.of("StopAgain")) == done
    (init,) = spec.init_states()
    assert "StopAgain" not in _enabled(spec, init)


def test_idle_while_running_needs_an_ended_worker_and_an_empty_channel() -> None:
    spec = pool_drain.build(workers=2, items=1, capacity=1)
    (init,) = spec.init_states()
    assert "IdleWhileRunning" not in _enabled(spec, init)
    raised = _run(spec, "Raise(w=0)", "Exit(w=0)")
    assert spec.next_state(raised, Action.of("IdleWhileRunning")) == raised
    busy = _run(spec, "Send(w=1)", "Raise(w=0)", "Exit(w=0)")
    assert "IdleWhileRunning" not in _enabled(spec, busy)  # a message is queued
