"""WorkerPump under random item counts, capacities and failure points.

The worker sends ``n`` items and may raise after ``k`` of them; the pump may
raise at the ``j``-th item; the worker either stops quietly on Disconnected or
lets it escape. Whatever happens: the pumped items are a FIFO prefix of what
was sent, the right exception (or result) comes out of ``run``, and no thread
is left behind.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treadle import Disconnected, Sender, WorkerError, WorkerPump


class WorkerFailed(Exception):
    pass


class PumpFailed(Exception):
    pass


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 30),
    capacity=st.integers(0, 5),
    worker_fails_after=st.one_of(st.none(), st.integers(0, 30)),
    pump_fails_at=st.one_of(st.none(), st.integers(0, 30)),
    pump_interrupts=st.booleans(),
    worker_swallows_disconnect=st.booleans(),
    forward_logs=st.booleans(),
)
def test_pumped_items_are_a_fifo_prefix_and_the_right_error_surfaces(
    n: int,
    capacity: int,
    worker_fails_after: int | None,
    pump_fails_at: int | None,
    pump_interrupts: bool,
    worker_swallows_disconnect: bool,
    forward_logs: bool,
) -> None:
    before = set(threading.enumerate())
    sent: list[int] = []
    pumped: list[int] = []
    pump_error: BaseException = KeyboardInterrupt() if pump_interrupts else PumpFailed()

    def worker(tx: Sender[int]) -> str:
        try:
            for i in range(n):
                if worker_fails_after is not None and i == worker_fails_after:
                    raise WorkerFailed(f"after {i}")
                tx.send(i)
                sent.append(i)
        except Disconnected:
            if not worker_swallows_disconnect:
                raise
            return "stopped early"
        return "done"

    def pump(item: int) -> None:
        if pump_fails_at is not None and len(pumped) == pump_fails_at:
            raise pump_error
        pumped.append(item)

    outcome: object
    try:
        outcome = WorkerPump(capacity, forward_logs=forward_logs).run(worker, pump)
    except BaseException as exc:  # classified below
        outcome = exc

    assert set(threading.enumerate()) == before, "a thread outlived run()"
    # Items the worker sent successfully, in order.
    will_send = n if worker_fails_after is None else min(n, worker_fails_after)
    assert pumped == sent[: len(pumped)], "pumped items are not a FIFO prefix of the sent ones"
    if pump_fails_at is not None and pump_fails_at < will_send:
        # The pump failed first: exactly the items before the failing one.
        assert outcome is pump_error
        assert pumped == list(range(pump_fails_at))
    elif worker_fails_after is not None and worker_fails_after < n:
        assert isinstance(outcome, WorkerError)
        assert isinstance(outcome.__cause__, WorkerFailed)
        assert f"after {worker_fails_after}" in str(outcome)
        assert pumped == sent == list(range(worker_fails_after))
    else:
        assert outcome == "done"
        assert pumped == sent == list(range(n))


@pytest.mark.parametrize("capacity", [0, 1, 64])
def test_a_large_run_pumps_everything(capacity: int) -> None:
    pumped: list[int] = []

    def worker(tx: Sender[int]) -> int:
        for i in range(5000):
            tx.send(i)
        return 5000

    assert WorkerPump(capacity).run(worker, pumped.append) == 5000
    assert pumped == list(range(5000))
