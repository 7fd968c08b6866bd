"""Clean-up that survives Ctrl-C at any step, explored under every interleaving.

``interrupt_main=True`` makes the model raise ``KeyboardInterrupt`` in the main
thread at each of its scheduling points in turn (one per execution), so these
runs cover an interrupt landing *inside* the clean-up itself: in the middle of
closing a channel, of joining, of draining forwarded log records.

The protocol scenarios ``treadle check`` runs (``treadle_verify.protocols``)
cover the pump and executor protocols broadly; this file pins the pieces
that make their clean-up interrupt-proof.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest

from treadle import (
    Disconnected,
    Executor,
    Receiver,
    Sender,
    Tagged,
    TaggedAccessError,
    WorkerPump,
    channel,
    sync,
)
from treadle.threads import join_through_interrupts

try:
    from treadle_model import explore
except ImportError:
    # Only while the explorer has not landed in this checkout; once it
    # exists, an import problem must fail loudly, not skip.
    if importlib.util.find_spec("treadle_model._explore") is not None:
        raise
    pytest.skip("treadle_model.explore is not in this checkout", allow_module_level=True)

_ORIGINAL_HANDLE = logging.Logger.handle


def _close_retrying(close: Any) -> KeyboardInterrupt | None:
    """Close, retrying after an interrupt; return the interrupt to re-raise."""
    held = None
    while True:
        try:
            close()
            return held
        except KeyboardInterrupt as exc:
            held = held or exc


def _receiver_close_scenario(close_rx: Any) -> Any:
    def body() -> None:
        tx, rx = channel(1)

        def produce() -> None:
            try:
                tx.send(1)
                tx.send(2)  # blocks: the buffer is full and nobody receives
            except Disconnected:
                pass

        thread = sync.spawn(produce)
        held = _close_retrying(lambda: close_rx(rx))
        held = join_through_interrupts(thread) or held
        if held is not None:
            raise held

    return body


def test_an_interrupted_receiver_close_can_be_retried_and_still_wakes_senders() -> None:
    report = explore(_receiver_close_scenario(Receiver.close), interrupt_main=True)
    report.assert_ok()
    assert report.exhaustive


def _close_without_repeating_wakeups(rx: Receiver[Any]) -> None:
    # The channel's close before it repeated its wake-ups on a second call.
    ch = rx._ch  # type: ignore[attr-defined]
    with ch.lock:
        if rx._closed:  # type: ignore[attr-defined]
            return
        rx._closed = True  # type: ignore[attr-defined]
        ch.rx_closed = True
        ch.buf.clear()
        ch.offers.clear()
        if ch.tx_waiting:
            ch.not_full.notify_all()


def test_the_check_catches_a_close_that_does_not_repeat_its_wakeups() -> None:
    report = explore(
        _receiver_close_scenario(_close_without_repeating_wakeups), interrupt_main=True
    )
    assert not report.ok
    # The wake-up was never sent (the interrupt came first): a deadlock.
    assert report.failures[0].kind == "deadlock", report.failures[0]


def _pump_scenario(capacity: int, items: int, pump_fails: bool) -> Any:
    def body() -> None:
        pumped: list[int] = []

        def worker(tx: Sender[int]) -> str:
            try:
                for i in range(items):
                    tx.send(i)
            except Disconnected:
                return "stopped"
            return "done"

        def pump(item: int) -> None:
            if pump_fails:
                raise LookupError(item)
            pumped.append(item)

        try:
            result = WorkerPump(capacity).run(worker, pump)
        except LookupError:
            assert pump_fails
        else:
            assert (result, pumped) == ("done", list(range(items)))
        finally:
            # Runs when a KeyboardInterrupt escapes too.
            assert logging.Logger.handle is _ORIGINAL_HANDLE, "logging left patched"

    return body


# capacity 0 with a pump that never fails takes a few thousand executions:
# it is in the slow variant below.
@pytest.mark.parametrize(("capacity", "pump_fails"), [(0, True), (1, False), (1, True)])
def test_pump_joins_its_worker_and_restores_logging_wherever_ctrl_c_lands(
    capacity: int, pump_fails: bool
) -> None:
    report = explore(_pump_scenario(capacity, 1, pump_fails), interrupt_main=True)
    report.assert_ok()
    assert report.exhaustive


@pytest.mark.slow
@pytest.mark.parametrize("pump_fails", [False, True])
@pytest.mark.parametrize("capacity", [0, 1, 2])
def test_pump_interrupt_proof_with_two_items(capacity: int, pump_fails: bool) -> None:
    report = explore(_pump_scenario(capacity, 2, pump_fails), interrupt_main=True)
    report.assert_ok()
    assert report.exhaustive


def test_executor_joins_its_thread_wherever_ctrl_c_lands() -> None:
    def body() -> None:
        with Executor() as ex:
            results: list[int] = []
            other = sync.spawn(lambda: results.append(ex.submit(lambda: 1)))
            try:
                results.append(ex.submit(lambda: 2))
                tagged = ex.submit(lambda: Tagged(3))
                try:
                    tagged.get()
                    raise AssertionError("read a Tagged value off its thread")
                except TaggedAccessError:
                    pass
                ex.drop(tagged)
            finally:
                held = join_through_interrupts(other)
            if held is not None:
                raise held
            assert sorted(results) == [1, 2]

    report = explore(body, interrupt_main=True, max_executions=3000)
    report.assert_ok()
