"""Deliberately broken WorkerPumps: historical bugs, brought back for the tests only.

Each mutant is a subclass of :class:`treadle.WorkerPump` whose ``run`` is the
shipped protocol with one step changed. It emits the same protocol events at
the same points, so the conformance check sees exactly what the broken code
does. None of this is importable from ``treadle``.

* :class:`KeepsReceiverOpen` - when ``pump`` raises, join the worker first and
  close the receiver after (the seed's hazard: its clean-up ran in the wrong
  order unless ``run`` was wrapped). A worker blocked in ``send`` on the full
  channel is never woken, so the join waits forever.
* :class:`WaitsForEverySender` - the seed's loop: no END marker, pump until
  the channel is disconnected, i.e. until every sender is closed. A worker
  that leaked a clone of its sender keeps ``run`` waiting forever.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from treadle import sync
from treadle.channel import Disconnected, Sender, channel
from treadle.pump import END, WorkerError, WorkerPump

__all__ = ["KeepsReceiverOpen", "WaitsForEverySender"]

T = TypeVar("T")
R = TypeVar("R")


def _run(
    capacity: int,
    worker: Callable[[Sender[Any]], Any],
    pump: Callable[[Any], object],
    *,
    close_rx_before_join: bool,
    end_marker: bool,
) -> Any:
    """``WorkerPump.run`` without log forwarding or interrupt-proofing, with two switches."""
    tx, rx = channel(capacity, name="pump")
    end_tx = tx.clone() if end_marker else None
    outcome: dict[str, Any] = {}

    def body() -> None:
        sync.emit("pump.worker_started")
        try:
            try:
                outcome["result"] = worker(tx)
            except BaseException as exc:
                outcome["error"] = exc
                sync.emit("pump.worker_raised", error=type(exc).__name__)
            else:
                sync.emit("pump.worker_returned")
        finally:
            tx.close()
            if end_tx is not None:
                with contextlib.suppress(Disconnected):
                    end_tx.send(END)
                end_tx.close()

    thread = sync.spawn(body, name="treadle-pump-worker")
    try:
        while True:
            try:
                item = rx.recv()
            except Disconnected:
                break  # the seed's end: every sender is closed
            if item is END:
                break
            sync.emit("pump.item", item=item)
            pump(item)
    except BaseException as exc:
        sync.emit("pump.pump_raised", error=type(exc).__name__)
        if close_rx_before_join:
            rx.close()
            sync.emit("pump.rx_closed")
        thread.join()  # BUG when the receiver is still open: see KeepsReceiverOpen
        sync.emit("pump.worker_joined")
        if not close_rx_before_join:
            rx.close()
            sync.emit("pump.rx_closed")
        sync.emit("pump.run_raised", error=type(exc).__name__)
        raise
    rx.close()
    sync.emit("pump.rx_closed")
    thread.join()
    sync.emit("pump.worker_joined")
    if "error" in outcome:
        error = outcome.pop("error")
        sync.emit("pump.run_raised", error="WorkerError")
        raise WorkerError(f"the worker raised {type(error).__name__}: {error}") from error
    sync.emit("pump.run_returned")
    return outcome.get("result")


class KeepsReceiverOpen(WorkerPump):
    """Mutant: when ``pump`` raises, join the worker before closing the receiver."""

    def run(self, worker: Callable[[Sender[T]], R], pump: Callable[[T], object]) -> R:
        result: R = _run(self.capacity, worker, pump, close_rx_before_join=False, end_marker=True)
        return result


class WaitsForEverySender(WorkerPump):
    """Mutant: the seed's loop, which ends when every sender is closed (no END marker)."""

    def run(self, worker: Callable[[Sender[T]], R], pump: Callable[[T], object]) -> R:
        result: R = _run(self.capacity, worker, pump, close_rx_before_join=True, end_marker=False)
        return result
