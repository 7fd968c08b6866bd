"""Run a worker on a background thread while the calling thread pumps its output.

:class:`WorkerPump` is for the pattern where heavy work must happen off the
main thread but its results must be handled *on* it (a GUI, an embedding
runtime, anything that is not thread-safe)::

    from treadle import WorkerPump

    def worker(tx):                 # on a new thread
        for n in range(5):
            tx.send(n * n)
        return "done"

    result = WorkerPump().run(worker, print)   # print runs on this thread
    assert result == "done"

The protocol, step by step:

1. ``run`` makes a channel of the pump's capacity (named ``"pump"``) and
   starts the worker thread with the sending half.
2. The calling thread receives items in FIFO order and calls ``pump(item)``
   for each. With ``forward_logs`` it first handles, on this thread, every
   ``logging`` record the worker thread produced so far.
3. When the worker function returns (or raises), its sender is closed and an
   end marker is queued behind everything it sent. The calling thread pumps
   every item up to the marker, closes the receiver, joins the worker,
   handles the remaining log records, and returns the worker's result (or
   raises :class:`WorkerError` from the worker's exception).
4. If ``pump`` raises anything (``KeyboardInterrupt`` included), the receiver
   is closed at once, so a blocked or later ``send`` in the worker raises
   :class:`~treadle.Disconnected`; the worker is joined, remaining log records
   are handled, and the pump's exception propagates unchanged.

No step can hang on a sender the worker leaked: ``run`` ends when the worker
*function* has returned and everything queued before that was pumped, not
when every sender is closed. Items sent after that through a leaked sender
(or clone) are never pumped; once ``run`` has returned such a ``send`` raises
:class:`~treadle.Disconnected`.

Protocol events (visible to the model checker; free in production), in order
of a normal run: ``pump.worker_started``, then per item ``pump.item``
(``item=``), ``pump.worker_returned`` or ``pump.worker_raised`` (``error=``
the exception's type name), ``pump.rx_closed``, ``pump.worker_joined``,
``pump.run_returned`` or ``pump.run_raised`` (``error=``). When the pump
raises, ``pump.pump_raised`` (``error=``) comes right before
``pump.rx_closed``. The item channel's own events carry ``channel="pump"``;
the end marker appears in them as the item :data:`END`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from treadle import sync
from treadle._logforward import LogRoute
from treadle.channel import Disconnected, Receiver, Sender, _open
from treadle.threads import join_through_interrupts

__all__ = ["END", "WorkerError", "WorkerPump"]

T = TypeVar("T")
R = TypeVar("R")


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<end of worker>"


END: Final = _End()
"""The marker queued after the worker's last item. Never passed to ``pump``."""


class WorkerError(Exception):
    """The worker function raised; ``__cause__`` is the worker's exception.

    Raised by :meth:`WorkerPump.run` after every item the worker sent before
    raising has been pumped and the worker thread has been joined.
    """


class _Outcome(Generic[R]):
    """What the worker function did. Written on the worker thread; read by the
    caller only after joining it (join orders the accesses)."""

    __slots__ = ("error", "result")

    def __init__(self) -> None:
        self.result: R | None = None
        self.error: BaseException | None = None


class WorkerPump:
    """Run ``worker`` on a new thread while the calling thread pumps its items.

    Args:
        capacity: how many items may wait between worker and pump; ``send``
            blocks when that many are queued. ``0`` makes each ``send`` a
            rendezvous: it returns once the pump thread has taken the item.
        forward_logs: handle ``logging`` records made on the worker thread on
            the calling thread instead (before each pump call and once more
            at the end), in order. Turn off to let the worker log directly.

    Raises:
        TypeError: ``capacity`` is not an int or ``forward_logs`` not a bool.
        ValueError: ``capacity`` is negative.

    A ``WorkerPump`` holds only configuration; ``run`` may be called any
    number of times, from any thread, also concurrently.
    """

    __slots__ = ("_capacity", "_forward_logs")

    def __init__(self, capacity: int = 64, *, forward_logs: bool = True) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(
                f"WorkerPump capacity must be an int >= 0 (0 = rendezvous), not {capacity!r}"
            )
        if capacity < 0:
            raise ValueError(
                f"WorkerPump capacity must be >= 0 (0 = rendezvous), got {capacity}; "
                "it bounds how far the worker may run ahead of the pump"
            )
        if not isinstance(forward_logs, bool):
            raise TypeError(f"forward_logs must be True or False, not {forward_logs!r}")
        self._capacity = capacity
        self._forward_logs = forward_logs

    @property
    def capacity(self) -> int:
        """The item channel's capacity (0 = rendezvous)."""
        return self._capacity

    @property
    def forward_logs(self) -> bool:
        """Whether worker-thread log records are handled on the calling thread."""
        return self._forward_logs

    def __repr__(self) -> str:
        return f"WorkerPump(capacity={self._capacity}, forward_logs={self._forward_logs})"

    def run(self, worker: Callable[[Sender[T]], R], pump: Callable[[T], object]) -> R:
        """Run ``worker(tx)`` on a new thread, calling ``pump(item)`` here for each item.

        Every item the worker sends before its function returns is pumped, in
        FIFO order, before the worker thread is joined. The worker thread is
        always joined before ``run`` returns or raises.

        Returns:
            Whatever ``worker`` returned.

        Raises:
            WorkerError: ``worker`` raised (any ``BaseException``); the
                worker's exception is the ``__cause__`` and its message is
                repeated. Raised after pumping what the worker sent.
            BaseException: whatever ``pump`` raised, unchanged. The worker
                was joined first; its own outcome is discarded.
            KeyboardInterrupt: arrived during the clean-up (closing the
                receiver, joining the worker, handling the last log
                records). It does not cut the clean-up short: it is held
                back and raised once the worker has ended and ``logging`` is
                restored (chained to the pump's exception, if any).
            TypeError: ``worker`` or ``pump`` is not callable.
        """
        if not callable(worker):
            raise TypeError(f"WorkerPump.run() needs a callable worker, got {worker!r}")
        if not callable(pump):
            raise TypeError(f"WorkerPump.run() needs a callable pump, got {pump!r}")
        traced = sync.observing()
        tx: Sender[Any]
        end_tx: Sender[Any]
        rx: Receiver[Any] | None = None
        # Every sender goes into ``made`` as it is made, so an interrupt
        # before the worker runs still leaves them to be closed.
        made: list[Sender[Any]] = []
        logs: LogRoute | None = None
        outcome: _Outcome[R] = _Outcome()

        def body() -> None:
            if logs is not None:
                logs.attach()
            try:
                sync.emit("pump.worker_started")
                try:
                    outcome.result = worker(tx)
                except BaseException as exc:  # delivered to run() as WorkerError
                    outcome.error = exc
                    sync.emit("pump.worker_raised", error=type(exc).__name__)
                else:
                    sync.emit("pump.worker_returned")
            finally:
                if logs is not None:
                    logs.detach()
                tx.close()
                # Disconnected: the pump failed and closed the receiver, so
                # nobody is waiting for the marker.
                with contextlib.suppress(Disconnected):
                    end_tx.send(END)
                end_tx.close()

        # The worker thread goes into ``started`` before it can run (see
        # sync.spawn_into): an interrupt anywhere from here on finds it.
        started: list[sync.Thread] = []
        routes: list[LogRoute] = []
        try:
            tx, rx = _open(self._capacity, "pump", made)
            # Ours, not the worker's: it queues END even if the worker closed tx.
            end_tx = tx.clone(_into=made)
            if self._forward_logs:
                LogRoute(into=routes)  # in ``routes`` before it patches logging
                logs = routes[0]
            sync.spawn_into(started, body, name="treadle-pump-worker")
            recv = rx.recv
            while True:
                item = recv()
                if item is END:
                    break
                if logs is not None:
                    logs.drain()
                if traced:
                    sync.emit("pump.item", item=item)
                pump(item)
        except BaseException as exc:
            thread = started[0] if started else None
            logs = routes[0] if routes else None
            if thread is not None:
                sync.emit("pump.pump_raised", error=type(exc).__name__)
            errors: list[BaseException] = []
            # Retried here, not in a helper: a function's entry is a signal
            # check point, so the retry must be in this frame.
            interrupted = None
            while True:
                try:
                    interrupted = _shut_down(rx, made, thread, logs, errors) or interrupted
                    break
                except KeyboardInterrupt as again:
                    interrupted = interrupted or again
            for error in errors:
                exc.add_note(f"treadle: a forwarded log record could not be handled: {error!r}")
            if interrupted is not None and not isinstance(exc, KeyboardInterrupt):
                sync.emit("pump.run_raised", error=type(interrupted).__name__)
                raise interrupted  # noqa: B904 - chained to exc implicitly
            sync.emit("pump.run_raised", error=type(exc).__name__)
            raise
        interrupted = None
        while True:  # retried in this frame: see the except clause above
            try:
                interrupted = _shut_down(rx, made, started[0], logs, None) or interrupted
                break
            except KeyboardInterrupt as again:
                interrupted = interrupted or again
        if interrupted is not None:
            sync.emit("pump.run_raised", error=type(interrupted).__name__)
            raise interrupted
        if outcome.error is not None:
            error = outcome.error
            outcome.error = None  # no cycle through the frame
            sync.emit("pump.run_raised", error="WorkerError")
            raise WorkerError(f"the worker raised {type(error).__name__}: {error}") from error
        sync.emit("pump.run_returned")
        return outcome.result  # type: ignore[return-value]


def _shut_down(
    rx: Receiver[Any] | None,
    made: list[Sender[Any]],
    thread: sync.Thread | None,
    logs: LogRoute | None,
    errors: list[BaseException] | None,
) -> BaseException | None:
    """Close the receiver, join the worker, flush the logs, in that order.

    A ``KeyboardInterrupt`` at any point is held back, not allowed to cut
    the clean-up short: the step it hit is retried (closing
    is idempotent and repeats its wake-ups) and the rest still runs, so the
    worker is always joined and ``logging`` always restored. Returns the first
    interrupt, for the caller to raise. ``errors``: see ``LogRoute.close``.
    """
    # Every call below is a signal check point (on entry or once it
    # returns), so the steps run inside one try and an interrupt resumes at
    # the step it hit; each step is idempotent.
    held: BaseException | None = None
    step = 0
    while True:
        try:
            if step == 0:
                if rx is None or len(made) < 2:
                    # Interrupted while making the channel or treadle's END
                    # sender: nothing but this frame ever saw the channel.
                    for sender in made:
                        sender._forget()
                    return held
                rx.close()
                step = 1
                sync.emit("pump.rx_closed")
            if step == 1:
                if thread is None:
                    # spawn() failed or was interrupted: the worker never
                    # ran; nothing blocks on these handles.
                    while True:  # not `while made:` (see task._close_all)
                        if not made:
                            break
                        made[-1].close()
                        made.pop()
                else:
                    held = join_through_interrupts(thread) or held
                step = 2
                if thread is not None:
                    sync.emit("pump.worker_joined")
            if step == 2 and logs is not None:
                held = logs.close(errors) or held
            break
        except KeyboardInterrupt as exc:  # only interrupts: see join_through_interrupts
            held = held or exc
    return held
