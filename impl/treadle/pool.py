"""A manager/worker pool whose stop drains before it joins.

``WorkerPool(capacity)`` owns a set of worker threads. The thread that owns
the pool is the *manager*. Messages from workers to the manager go *up* one
shared channel bounded by ``capacity`` (so fast workers cannot outrun the
manager's memory); messages from the manager to a worker go *down* that
worker's own unbounded channel (so sending ``STOP`` never blocks)::

    from treadle import WorkerPool

    def square(tx, rx):
        for n in rx:               # user messages; the loop ends at STOP
            tx.send(n * n)

    with WorkerPool(16) as pool:
        pool.execute_many(4, square)
        for n in range(10):
            pool.send_one(n)       # round robin from worker 0
        results = sorted(pool.stop())   # the values sent up; drains, then joins

Why drain before join: a worker may be blocked in ``tx.send`` on the full up
channel when the manager asks it to stop. If the manager joined first, that
worker would wait for room that only the manager can make, and the manager
would wait for the worker: a deadlock. ``stop()`` therefore keeps receiving
up messages until every worker has ended, and only then joins them. The one
rule for worker code (as in the seed): after ``STOP`` arrives a worker must
end shortly, blocking on nothing but ``tx.send``.

``recv_burst()`` avoids the other classic failure, a livelock where workers
send faster than the manager handles: a burst yields only the messages sent no
later than the moment the burst started (each message travels in an
:class:`UpMsg` envelope carrying the ``sync.monotonic()`` time it was sent);
the first later message is kept and delivered first by the next
``recv``/``try_recv``/``recv_burst``/``stop``.

Receiving (``recv``, ``try_recv``, ``recv_burst``, ``stop``,
``stop_and_join``, ``close``) hands out the values the workers sent, as the
seed pool does. Pass ``with_envelope=True`` to any of them to get the
:class:`UpMsg` envelopes instead (``value``, ``sent_at`` and the sending
``worker``'s index).

Down messages are :data:`STOP`, :data:`PAUSE`, :data:`CONTINUE` (members of
:class:`Control`) or any other value, which is a user message. On the worker
side ``for msg in rx`` yields user messages and ends at ``STOP``; ``PAUSE``
makes ``recv``/iteration block until ``CONTINUE`` or ``STOP`` (user messages
that arrive meanwhile are held and delivered, in order, after ``CONTINUE``;
``STOP`` drops them); ``rx.try_recv()`` never blocks.

What treadle does beyond the seed: every worker is joined even when several
raise, and their errors are raised together afterwards as one
:class:`PoolWorkerError` (an ``ExceptionGroup``); closing or dropping the pool
stops and joins it (a finaliser that cannot take the pool's lock at once, or
runs on one of its workers, hands that to a ``<name>-closer`` thread instead
of waiting); ``recv`` on a pool with no running worker and nothing
queued raises :class:`NoWorkers` instead of blocking forever (also when the
last worker ends while ``recv`` waits); ``send_one`` starts at worker 0; an
abandoned or interrupted ``stop()`` still drains and joins.

The manager-side methods are meant to be called by one thread at a time (the
manager, as in the seed where they take ``&mut self``); ``statistics()`` may be
called from any thread.

Protocol events (``sync.emit``; a no-op in production), each with
``pool=<name>``:

* ``pool.worker_started(worker)`` - manager, just before the worker's thread
  is spawned (under the pool lock).
* ``pool.stop_sent(worker)`` - manager, just before ``STOP`` goes down to the
  worker (under the pool lock).
* ``pool.stop_received(worker)``, ``pool.pause_received(worker)``,
  ``pool.continue_received(worker)`` - worker, once it took that control
  message from its down channel.
* ``pool.message_drained(worker, value)`` - manager, each up message taken by
  ``stop()``.
* ``pool.worker_ended(worker, failed)`` - worker, under the pool lock, after
  its function returned or raised and its channel handles were closed.
* ``pool.idle()`` - under the pool lock, when the last running worker ended
  (the up channel is then disconnected, which ends the drain).
* ``pool.worker_joined(worker)`` - manager, after joining that thread.
* ``pool.stop_returned(failed)`` - manager, under the pool lock, when a
  ``stop()`` has drained and joined everything and forgets the workers
  (``failed`` = number of worker errors).
* ``pool.burst_started(at)``, ``pool.burst_kept(worker, sent_at)`` - manager,
  under the pool lock, when a burst takes its bound and when it keeps a later
  message back.

The up and down channels are named ``<name>.up`` and ``<name>.down<i>``, so
their ``channel.*`` events can be told apart.
"""

from __future__ import annotations

import contextlib
import enum
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, cast, overload

from treadle import sync
from treadle.channel import Closed, Disconnected, Empty, Receiver, Sender, channel

__all__ = [
    "CONTINUE",
    "PAUSE",
    "STOP",
    "Control",
    "NoWorkers",
    "PoolStatistics",
    "PoolStop",
    "PoolWorkerError",
    "StopRequested",
    "UpMsg",
    "WorkerPaused",
    "WorkerPool",
    "WorkerReceiver",
    "WorkerSender",
]

U = TypeVar("U")
D = TypeVar("D")
T = TypeVar("T")


class Control(enum.Enum):
    """The control messages a manager can send down to a worker."""

    STOP = "stop"
    """End the worker: iteration over ``rx`` ends, ``recv`` raises :class:`StopRequested`."""
    PAUSE = "pause"
    """Hold user messages back: ``recv`` blocks until ``CONTINUE`` or ``STOP``."""
    CONTINUE = "continue"
    """End a pause (ignored when not paused)."""

    def __repr__(self) -> str:
        return f"treadle.pool.{self.name}"


STOP = Control.STOP
PAUSE = Control.PAUSE
CONTINUE = Control.CONTINUE


@dataclass(frozen=True, slots=True)
class UpMsg(Generic[U]):
    """A message from a worker to the manager.

    Attributes:
        value: what the worker sent.
        sent_at: ``sync.monotonic()`` when the worker called ``send``; used by
            ``recv_burst`` to tell messages sent before the burst from later ones.
        worker: the index of the worker that sent it (0 for the first worker
            started since the pool was created or last stopped).
    """

    value: U
    sent_at: float
    worker: int


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """A snapshot of a :class:`WorkerPool`, for tests and monitoring.

    Attributes:
        capacity: the bound of the up channel.
        workers: workers started since the pool was created or last stopped
            (running or ended, not yet joined by ``stop``).
        running: workers whose function has not returned yet.
        queued: up messages waiting for the manager (including a message kept
            back by a burst).
        senders_waiting: workers blocked in ``tx.send`` on the full up channel.
        manager_waiting: the manager is blocked in ``recv`` (or a stop's drain).
        stopping: a ``stop()`` was issued and has not finished joining.
        closed: ``close()`` was called (or the pool was dropped).
    """

    capacity: int
    workers: int
    running: int
    queued: int
    senders_waiting: int
    manager_waiting: bool
    stopping: bool
    closed: bool


class StopRequested(Exception):
    """Worker side: the manager sent ``STOP``; the worker should return now.

    A worker function may simply let it escape: the pool counts that as a
    normal end (not an error) when this worker did receive ``STOP``.
    """


class WorkerPaused(Empty):
    """Worker side: ``try_recv`` (or a timed-out ``recv``) while the worker is paused.

    A subclass of :class:`~treadle.channel.Empty`: there is nothing to handle
    now. Call ``rx.wait_while_paused()`` to block until ``CONTINUE``/``STOP``.
    """


class NoWorkers(Disconnected):
    """Manager side: no worker is running and no up message is queued.

    Raised by ``recv``/``try_recv`` instead of blocking forever (also when the
    last worker ends while ``recv`` waits), and by ``send_one`` when no worker
    can take the message (``item`` is that message). A subclass of
    :class:`~treadle.channel.Disconnected`: every sender is gone.
    """


class PoolWorkerError(ExceptionGroup[Exception]):
    """One or more workers raised; raised by ``stop``/``stop_and_join``/``close``.

    It is raised only after every worker was joined. Its message names each
    worker and what it raised, e.g. ``2 pool workers raised: worker 0:
    ValueError('x'); worker 3: KeyError('k')``. ``exceptions[k]`` was raised
    by worker ``workers[k]``; each exception also knows its worker as
    ``exc.treadle_worker`` and carries a note naming it. A worker that raised
    a ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``KeyboardInterrupt`` raised by hand) is reported as a
    :class:`RuntimeError` whose ``__cause__`` is that exception (and whose
    ``treadle_worker`` names the worker); the message shows the original.

    Attributes:
        workers: the index of the worker behind each exception.
        messages: for ``stop_and_join``/``close``/``PoolStop.close``, what
            was drained before the error was raised (so nothing sent up is
            lost): values, or :class:`UpMsg` envelopes if the call was given
            ``with_envelope=True``.
    """

    workers: tuple[int, ...]
    messages: list[Any]

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Exception],
        workers: Sequence[int] = (),
        messages: Sequence[Any] = (),
    ) -> Self:
        self = super().__new__(cls, message, exceptions)
        self.workers = tuple(workers)
        self.messages = list(messages)
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Exception],
        workers: Sequence[int] = (),
        messages: Sequence[Any] = (),
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> PoolWorkerError:  # type: ignore[override]
        # split()/subgroup()/except*: the part keeps its workers, and its
        # message names only them.
        by_id = {id(e): w for e, w in zip(self.exceptions, self.workers, strict=True)}
        workers = [by_id.get(id(e), -1) for e in excs]
        return PoolWorkerError(_describe(list(zip(workers, excs, strict=True))), excs, workers)


_SHOWN = 200
"""At most this many characters of each worker's exception in the message."""


def _describe(errors: Sequence[tuple[int, BaseException]]) -> str:
    """``2 pool workers raised: worker 0: ValueError('x'); worker 3: KeyError('k')``."""
    parts = []
    for index, exc in errors:
        # A wrapped BaseException is shown as what the worker raised.
        shown = exc.__cause__ if isinstance(exc, _Wrapped) and exc.__cause__ else exc
        text = repr(shown)
        if len(text) > _SHOWN:
            text = text[: _SHOWN - 3] + "..."
        parts.append(f"worker {index}: {text}")
    n = len(errors)
    return f"{n} pool worker{'s' if n != 1 else ''} raised: " + "; ".join(parts)


class _Wrapped(RuntimeError):
    """What stands for a worker's non-``Exception`` ``BaseException`` in the group."""


def _worker_error(errors: Sequence[tuple[int, BaseException]]) -> PoolWorkerError | None:
    if not errors:
        return None
    excs: list[Exception] = []
    for index, exc in errors:
        if not isinstance(exc, Exception):
            wrapped = _Wrapped(f"pool worker {index} raised {type(exc).__name__}: {exc}")
            wrapped.__cause__ = exc
            exc = wrapped
        exc.add_note(f"raised by pool worker {index}")
        with contextlib.suppress(AttributeError, TypeError):  # a read-only attribute
            exc.treadle_worker = index  # type: ignore[attr-defined]
        excs.append(exc)
    return PoolWorkerError(_describe(errors), excs, [i for i, _ in errors])


def _unwrap(msgs: Sequence[UpMsg[Any]], with_envelope: bool) -> list[Any]:
    """What the manager hands out: the envelopes, or just the values."""
    return list(msgs) if with_envelope else [m.value for m in msgs]


# --- worker side ----------------------------------------------------------------------------


class WorkerSender(Generic[U]):
    """A worker's handle on the up channel (the ``tx`` passed to the worker function).

    The pool closes it when the worker function returns; do not keep it past that.
    """

    __slots__ = ("_index", "_tx")

    def __init__(self, tx: Sender[UpMsg[U]], index: int) -> None:
        self._tx = tx
        self._index = index

    @property
    def index(self) -> int:
        """This worker's index in the pool."""
        return self._index

    def send(self, value: U, timeout: float | None = None) -> None:
        """Send ``value`` up, blocking while the up channel is full.

        The message is stamped with ``sync.monotonic()`` before it waits for room.

        Raises:
            Full: ``timeout`` elapsed first (the value was not sent).
            Closed: the worker function already returned (the handle leaked).
        """
        try:
            self._tx.send(UpMsg(value, sync.monotonic(), self._index), timeout)
        except Closed:
            raise Closed(
                f"tx.send() for pool worker {self._index} after its function returned: "
                "the pool closes a worker's sender when the worker ends"
            ) from None

    def try_send(self, value: U) -> None:
        """Send ``value`` up if there is room now; never blocks.

        Raises:
            Full: the up channel is full (the value was not sent).
            Closed: the worker function already returned (the handle leaked).
        """
        try:
            self._tx.send_nowait(UpMsg(value, sync.monotonic(), self._index))
        except Closed:
            raise Closed(
                f"tx.try_send() for pool worker {self._index} after its function returned"
            ) from None

    def _close(self) -> None:
        self._tx.close()

    def __repr__(self) -> str:
        return f"<WorkerSender worker={self._index}>"


class WorkerReceiver(Generic[D]):
    """A worker's handle on its down channel (the ``rx`` passed to the worker function).

    ``for msg in rx`` yields user messages and ends at ``STOP``. The pause
    state lives here, on the worker's own thread: only the worker uses it.
    """

    __slots__ = ("_held", "_index", "_paused", "_pool", "_rx", "_stopped", "_traced")

    def __init__(self, rx: Receiver[D | Control], index: int, pool: str, traced: bool) -> None:
        self._rx = rx
        self._index = index
        self._pool = pool
        self._traced = traced
        self._held: deque[D] = deque()
        self._paused = False
        self._stopped = False

    @property
    def index(self) -> int:
        """This worker's index in the pool."""
        return self._index

    @property
    def paused(self) -> bool:
        """True between a ``PAUSE`` this worker took and the next ``CONTINUE``."""
        return self._paused

    @property
    def stopped(self) -> bool:
        """True once this worker took ``STOP``."""
        return self._stopped

    def _stop_error(self) -> StopRequested:
        return StopRequested(f"pool worker {self._index} was asked to stop")

    def _handle(self, item: D | Control) -> bool:
        """Apply a control message, or hold a user message; True if ``item`` is deliverable."""
        if item is STOP:
            self._stopped = True
            self._held.clear()
            if self._traced:
                sync.emit("pool.stop_received", pool=self._pool, worker=self._index)
        elif item is PAUSE:
            self._paused = True
            if self._traced:
                sync.emit("pool.pause_received", pool=self._pool, worker=self._index)
        elif item is CONTINUE:
            self._paused = False
            if self._traced:
                sync.emit("pool.continue_received", pool=self._pool, worker=self._index)
        elif self._paused:
            self._held.append(item)  # type: ignore[arg-type]
        else:
            return True
        return False

    def _take(self, *, block: bool, deadline: float | None) -> D | Control:
        try:
            if not block:
                return self._rx.recv_nowait()
            if deadline is None:
                return self._rx.recv()
            return self._rx.recv(max(0.0, deadline - sync.monotonic()))
        except Disconnected:
            # Every down sender is gone: the pool has finished with us.
            return STOP
        except Empty:
            if self._paused:
                raise WorkerPaused(
                    f"pool worker {self._index} is paused; wait_while_paused() blocks "
                    "until CONTINUE or STOP"
                ) from None
            raise

    def _next(self, *, block: bool, timeout: float | None) -> D:
        deadline = None if timeout is None else sync.monotonic() + timeout
        while True:
            if self._stopped:
                raise self._stop_error()
            if self._held and not self._paused:
                return self._held.popleft()
            item = self._take(block=block, deadline=deadline)
            if self._handle(item):
                return item  # type: ignore[return-value]

    def recv(self, timeout: float | None = None) -> D:
        """Return the next user message, blocking while there is none or while paused.

        Raises:
            StopRequested: the manager sent ``STOP`` (now or earlier).
            Empty: ``timeout`` elapsed first (:class:`WorkerPaused` if paused).
        """
        timeout = sync.check_timeout(timeout)
        return self._next(block=True, timeout=timeout)

    def try_recv(self) -> D:
        """Return the next user message if one can be had now; never blocks.

        Control messages already queued are applied on the way (so a queued
        ``CONTINUE`` ends a pause).

        Raises:
            StopRequested: the manager sent ``STOP``.
            WorkerPaused: the worker is paused (a subclass of ``Empty``).
            Empty: nothing is queued.
        """
        return self._next(block=False, timeout=None)

    def wait_while_paused(self, timeout: float | None = None) -> None:
        """Block while this worker is paused; return at once if it is not.

        User messages that arrive meanwhile are held for ``recv``.

        Raises:
            StopRequested: ``STOP`` arrived.
            WorkerPaused: ``timeout`` elapsed while still paused.
        """
        timeout = sync.check_timeout(timeout)
        deadline = None if timeout is None else sync.monotonic() + timeout
        while self._paused and not self._stopped:
            self._handle(self._take(block=True, deadline=deadline))
        if self._stopped:
            raise self._stop_error()

    def __iter__(self) -> Iterator[D]:
        """Yield user messages until ``STOP``."""
        while True:
            try:
                yield self._next(block=True, timeout=None)
            except StopRequested:
                return

    def _close(self) -> None:
        self._rx.close()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "paused" if self._paused else "running"
        return f"<WorkerReceiver worker={self._index} {state}>"


# --- shared state ---------------------------------------------------------------------------


class _Worker:
    """One worker's record. ``running``/``error``/``joined`` are guarded by the pool lock."""

    __slots__ = ("down", "error", "index", "joined", "running", "thread")

    def __init__(self, index: int, down: Sender[Any]) -> None:
        self.index = index
        self.down = down
        self.thread: sync.Thread | None = None
        self.running = True
        self.joined = False
        self.error: BaseException | None = None


class _Core:
    """Everything the worker threads share with the manager; guarded by ``lock``.

    Worker threads hold this, never the :class:`WorkerPool` itself, so dropping
    the pool can run its finaliser (which stops and joins) while they run.
    """

    __slots__ = (
        "active_stop",
        "anchor",
        "backlog",
        "capacity",
        "closed",
        "closer",
        "live",
        "lock",
        "name",
        "rr",
        "rx",
        "stopped_by",
        "stopping",
        "traced",
        "unreported",
        "workers",
    )

    def __init__(self, capacity: int, name: str) -> None:
        self.capacity = capacity
        self.name = name
        self.traced = sync.observing()
        self.lock = sync.Lock()
        self.workers: list[_Worker] = []
        self.live = 0
        # The pool's own sender on the current up channel, open exactly while
        # some worker runs. Closing it when the last worker ends disconnects
        # the channel, which is how a blocked recv()/drain learns "no workers".
        self.anchor: Sender[Any] | None = None
        self.rx: Receiver[Any] | None = None
        # Up messages taken off the channel but not yet delivered: the one a
        # burst kept back, leftovers of a finished channel, and what an
        # abandoned stop() drained. Delivered before the channel's.
        self.backlog: deque[UpMsg[Any]] = deque()
        self.rr = 0
        self.stopping = False
        # The call that last stopped the workers ("stop_and_join()", ...);
        # None once execute() starts new ones. For NoWorkers' message.
        self.stopped_by: str | None = None
        self.closed = False
        # A closer thread was started for this dropped pool (set without the lock).
        self.closer = False
        self.active_stop: weakref.ref[PoolStop[Any]] | None = None
        # Worker errors a stop() could not raise (abandoned, or another
        # exception was in flight); the next stop()/close() raises them.
        self.unreported: list[tuple[int, BaseException]] = []


def _run_worker(
    core: _Core,
    worker: _Worker,
    fn: Callable[[WorkerSender[Any], WorkerReceiver[Any]], object],
    tx: WorkerSender[Any],
    rx: WorkerReceiver[Any],
) -> None:
    error: BaseException | None = None
    try:
        fn(tx, rx)
    except StopRequested as exc:
        # Letting rx.recv()'s StopRequested escape is a normal way to end,
        # once STOP really arrived for this worker.
        if not rx.stopped:
            error = exc
    except BaseException as exc:  # reported by stop(), after every join
        error = exc
    finally:
        tx._close()
        rx._close()
        with core.lock:
            worker.running = False
            worker.error = error
            core.live -= 1
            if core.traced:
                sync.emit(
                    "pool.worker_ended",
                    pool=core.name,
                    worker=worker.index,
                    failed=error is not None,
                )
            if core.live == 0:
                anchor, core.anchor = core.anchor, None
                if anchor is not None:
                    anchor.close()
                if core.traced:
                    sync.emit("pool.idle", pool=core.name)
        del error


# --- manager side ---------------------------------------------------------------------------


class WorkerPool(Generic[U, D]):
    """A set of worker threads and the channels between them and their manager.

    Args:
        capacity: how many up messages may wait for the manager before a
            worker's ``tx.send`` blocks; an int >= 1. (Unbounded would let
            workers outrun the manager's memory, which the pool exists to
            prevent; for a hand-off per message use capacity 1.)
        name: names the threads (``<name>-worker-<i>``), the channels
            (``<name>.up``, ``<name>.down<i>``) and the protocol events.

    Worker functions are called as ``fn(tx, rx)`` on a new thread with a
    :class:`WorkerSender` and a :class:`WorkerReceiver`. If one raises, the
    exception is kept and raised (with the others) by the ``stop`` that joins
    it. Workers are numbered from 0 in start order; the numbering restarts
    after each ``stop``. The pool is reusable after ``stop``; ``close()`` (or
    leaving a ``with`` block, or dropping the pool) stops it for good.

    Raises:
        TypeError / ValueError: ``capacity`` is not an int >= 1, or ``name``
            is not a non-empty str.
    """

    __slots__ = ("__weakref__", "_core")

    def __init__(self, capacity: int = 64, *, name: str = "pool") -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"WorkerPool capacity must be an int >= 1, not {capacity!r}")
        if capacity < 1:
            raise ValueError(
                f"WorkerPool capacity must be >= 1, got {capacity}: the up channel is bounded "
                "so workers cannot outrun the manager (use 1 for a hand-off per message)"
            )
        if not isinstance(name, str) or not name:
            raise TypeError(f"WorkerPool name must be a non-empty str, not {name!r}")
        self._core = _Core(capacity, name)

    # -- starting workers --------------------------------------------------------------------

    def execute(self, fn: Callable[[WorkerSender[U], WorkerReceiver[D]], object]) -> int:
        """Start one worker thread running ``fn(tx, rx)``; return its index.

        Raises:
            TypeError: ``fn`` is not callable.
            Closed: the pool was closed.
        """
        if not callable(fn):
            raise TypeError(f"execute() needs a callable fn(tx, rx), got {fn!r}")
        self._settle()
        core = self._core
        with core.lock:
            self._check_open("execute")
            core.stopped_by = None
            if core.anchor is None:
                self._new_up_channel()
            assert core.anchor is not None
            index = len(core.workers)
            up = core.anchor.clone()
            down_tx, down_rx = channel(None, name=f"{core.name}.down{index}")
            worker = _Worker(index, down_tx)
            tx: WorkerSender[U] = WorkerSender(up, index)
            rx: WorkerReceiver[D] = WorkerReceiver(down_rx, index, core.name, core.traced)
            core.workers.append(worker)
            core.live += 1
            if core.traced:
                sync.emit("pool.worker_started", pool=core.name, worker=index)
            try:
                worker.thread = sync.spawn(
                    _run_worker, core, worker, fn, tx, rx, name=f"{core.name}-worker-{index}"
                )
            except BaseException:
                core.workers.pop()
                core.live -= 1
                up.close()
                down_tx.close()
                down_rx.close()
                if core.live == 0:
                    core.anchor.close()
                    core.anchor = None
                raise
        return index

    def execute_many(
        self, n: int, fn: Callable[[WorkerSender[U], WorkerReceiver[D]], object]
    ) -> list[int]:
        """Start ``n`` workers running ``fn(tx, rx)``; return their indices.

        Raises:
            TypeError / ValueError: ``n`` is not an int >= 0, or ``fn`` is not callable.
            Closed: the pool was closed.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"execute_many() needs an int number of workers, not {n!r}")
        if n < 0:
            raise ValueError(f"execute_many() needs n >= 0 workers, got {n}")
        if not callable(fn):
            raise TypeError(f"execute_many() needs a callable fn(tx, rx), got {fn!r}")
        return [self.execute(fn) for _ in range(n)]

    def _new_up_channel(self) -> None:
        # Called with the lock held, when no worker runs: every sender of the
        # old channel is closed, so what is left in it can be taken without
        # blocking and delivered ahead of the new channel's messages.
        core = self._core
        old = core.rx
        if old is not None:
            while True:
                try:
                    core.backlog.append(old.recv_nowait())
                except (Empty, Disconnected):
                    break
            old.close()
        core.anchor, core.rx = channel(core.capacity, name=f"{core.name}.up")

    # -- receiving -------------------------------------------------------------------------

    def _no_workers(self, op: str) -> NoWorkers:
        with self._core.lock:
            n = len(self._core.workers)
            stopped_by = self._core.stopped_by
        if n:
            who = "its only worker has" if n == 1 else f"all {n} workers have"
            why = f"{who} ended (call stop() to join them and see their errors)"
        elif stopped_by is not None:
            return NoWorkers(
                f"{op}(): pool workers have stopped ({stopped_by} was called); no more values "
                "(execute() starts new workers)"
            )
        else:
            why = "no worker was started (call execute() first)"
        return NoWorkers(f"{op}() on a WorkerPool with no running worker and nothing queued: {why}")

    def _recv(self, timeout: float | None, op: str) -> UpMsg[U]:
        core = self._core
        with core.lock:
            if core.backlog:
                return core.backlog.popleft()
            rx = core.rx
        if rx is None:
            raise self._no_workers(op)
        try:
            msg: UpMsg[U] = rx.recv(timeout)
        except Disconnected:
            raise self._no_workers(op) from None
        return msg

    @overload
    def recv(self, timeout: float | None = None, *, with_envelope: Literal[False] = False) -> U: ...
    @overload
    def recv(self, timeout: float | None = None, *, with_envelope: Literal[True]) -> UpMsg[U]: ...
    def recv(self, timeout: float | None = None, *, with_envelope: bool = False) -> U | UpMsg[U]:
        """Return the next value a worker sent up, blocking until one arrives.

        With ``with_envelope=True`` return its :class:`UpMsg` instead (the
        value with the sending worker's index and its send time).

        Raises:
            NoWorkers: no worker is running and nothing is queued, or the last
                worker ended while this call waited.
            Empty: ``timeout`` elapsed first.
            Closed: the pool was closed.
        """
        timeout = sync.check_timeout(timeout)
        self._check_open("recv")
        msg = self._recv(timeout, "recv")
        return msg if with_envelope else msg.value

    @overload
    def try_recv(self, *, with_envelope: Literal[False] = False) -> U: ...
    @overload
    def try_recv(self, *, with_envelope: Literal[True]) -> UpMsg[U]: ...
    def try_recv(self, *, with_envelope: bool = False) -> U | UpMsg[U]:
        """Return the next value sent up if one is queued; never blocks.

        With ``with_envelope=True`` return its :class:`UpMsg` instead.

        Raises:
            Empty: nothing is queued but some worker is running.
            NoWorkers: nothing is queued and no worker is running.
            Closed: the pool was closed.
        """
        self._check_open("try_recv")
        msg = self._take_nowait()
        if msg is not None:
            return msg if with_envelope else msg.value
        with self._core.lock:
            running = self._core.live
        if running:
            raise Empty("no up message is queued")
        raise self._no_workers("try_recv")

    def _take_nowait(self) -> UpMsg[U] | None:
        core = self._core
        with core.lock:
            if core.backlog:
                return core.backlog.popleft()
            rx = core.rx
        if rx is None:
            return None
        try:
            msg: UpMsg[U] = rx.recv_nowait()
        except (Empty, Disconnected):
            return None
        return msg

    @overload
    def recv_burst(self, *, with_envelope: Literal[False] = False) -> Iterator[U]: ...
    @overload
    def recv_burst(self, *, with_envelope: Literal[True]) -> Iterator[UpMsg[U]]: ...
    def recv_burst(self, *, with_envelope: bool = False) -> Iterator[U] | Iterator[UpMsg[U]]:
        """Return a non-blocking iterator of the values sent up to now.

        "Now" is ``sync.monotonic()`` at this call. The iterator yields the
        values of queued messages whose ``sent_at`` is not later than that
        (their :class:`UpMsg` envelopes with ``with_envelope=True``), and stops at the
        first later one, which is kept and delivered first by the next
        ``recv``/``try_recv``/``recv_burst``/``stop``. It also stops when
        nothing is queued (it never waits), and after as many messages as
        could have been sent by then (those queued plus one per running
        worker), so it ends even if the clock does not advance.

        Raises:
            Closed: the pool was closed.
        """
        self._check_open("recv_burst")
        core = self._core
        start = sync.monotonic()
        with core.lock:
            bound = len(core.backlog) + core.live
            if core.rx is not None:
                bound += core.rx.statistics().buffered
            if core.traced:
                sync.emit("pool.burst_started", pool=core.name, at=start)
        burst = self._burst(start, bound)
        if with_envelope:
            return burst
        return (msg.value for msg in burst)

    def _burst(self, start: float, bound: int) -> Iterator[UpMsg[U]]:
        core = self._core
        for _ in range(bound):
            msg = self._take_nowait()
            if msg is None:
                return
            if msg.sent_at > start:
                with core.lock:
                    core.backlog.appendleft(msg)
                    if core.traced:
                        sync.emit(
                            "pool.burst_kept",
                            pool=core.name,
                            worker=msg.worker,
                            sent_at=msg.sent_at,
                        )
                return
            yield msg

    # -- sending down ----------------------------------------------------------------------

    def send_to(self, index: int, msg: D | Control) -> None:
        """Send ``msg`` down to worker ``index``. Never blocks.

        Raises:
            IndexError: no such worker (since the pool was created or last stopped).
            Disconnected: that worker has already ended (``item`` is ``msg``).
            Closed: the pool was closed.
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"send_to() needs an int worker index, not {index!r}")
        core = self._core
        with core.lock:
            self._check_open("send_to")
            if not 0 <= index < len(core.workers):
                raise IndexError(
                    f"send_to({index}): the pool has {len(core.workers)} workers (0-based)"
                )
            try:
                core.workers[index].down.send(msg)
            except Disconnected:
                raise Disconnected(
                    f"send_to({index}): worker {index} has ended; {msg!r} was not delivered", msg
                ) from None

    def broadcast(self, msg: D | Control) -> int:
        """Send ``msg`` down to every worker still running; return how many took it.

        Raises:
            Closed: the pool was closed.
        """
        core = self._core
        reached = 0
        with core.lock:
            self._check_open("broadcast")
            for worker in core.workers:
                try:
                    worker.down.send(msg)
                except Disconnected:
                    continue
                reached += 1
        return reached

    def send_one(self, msg: D | Control) -> int:
        """Send ``msg`` to the next running worker in round robin; return its index.

        The round starts at worker 0 (and again after each ``stop``); workers
        that have ended are skipped.

        Raises:
            NoWorkers: no worker is running (``item`` is ``msg``).
            Closed: the pool was closed.
        """
        core = self._core
        with core.lock:
            self._check_open("send_one")
            n = len(core.workers)
            for k in range(n):
                i = (core.rr + k) % n
                try:
                    core.workers[i].down.send(msg)
                except Disconnected:
                    continue
                core.rr = (i + 1) % n
                return i
        raise NoWorkers(f"send_one(): no running worker to take {msg!r}", msg)

    # -- stopping --------------------------------------------------------------------------

    @overload
    def stop(self, *, with_envelope: Literal[False] = False) -> PoolStop[U]: ...
    @overload
    def stop(self, *, with_envelope: Literal[True]) -> PoolStop[UpMsg[U]]: ...
    def stop(self, *, with_envelope: bool = False) -> PoolStop[U] | PoolStop[UpMsg[U]]:
        """Send ``STOP`` to every worker and return an iterator that drains and joins.

        The iterator yields the values of the messages already taken off the
        channel (the one a burst kept back first), then the value of every up
        message until all workers
        have ended, then joins every worker thread and finishes. If workers
        raised, finishing raises :class:`PoolWorkerError` instead of
        ``StopIteration``, after all joins. The pool is reusable afterwards.
        With ``with_envelope=True`` it yields (and ``close()`` returns) the
        :class:`UpMsg` envelopes instead of the values.

        Closing the iterator (``close()``, a ``with`` block, or dropping it)
        before it finished still drains and joins: ``close()`` returns the
        messages it drained; an abandoned (dropped) iterator, or one left by
        an exception, puts them back for the pool's next
        ``recv``/``try_recv``/``recv_burst``/``stop``, and its worker errors
        are raised by the next ``stop``/``close``. An exception that hits the
        manager during the drain or a join (KeyboardInterrupt included) is
        re-raised only after every worker was joined. Starting new workers
        or stopping again also first finishes an unfinished stop.

        Raises:
            Closed: the pool was closed.
        """
        return self._stop("stop()", with_envelope)

    def _stop(self, op: str, with_envelope: bool) -> PoolStop[Any]:
        self._check_open(op[:-2])
        self._settle()
        core = self._core
        it: PoolStop[Any] = PoolStop(self, with_envelope)
        try:
            with core.lock:
                core.stopped_by = op
                core.active_stop = weakref.ref(it)
                core.stopping = True
                for worker in core.workers:
                    if core.traced:
                        sync.emit("pool.stop_sent", pool=core.name, worker=worker.index)
                    with contextlib.suppress(Disconnected):  # it has already ended
                        worker.down.send(STOP)
        except BaseException as exc:
            it._abandon(exc)
            raise
        return it

    @overload
    def stop_and_join(self, *, with_envelope: Literal[False] = False) -> list[U]: ...
    @overload
    def stop_and_join(self, *, with_envelope: Literal[True]) -> list[UpMsg[U]]: ...
    def stop_and_join(self, *, with_envelope: bool = False) -> list[U] | list[UpMsg[U]]:
        """``stop()``, collected: the value of every up message, in the order taken.

        With ``with_envelope=True``, their :class:`UpMsg` envelopes instead.

        Raises:
            PoolWorkerError: some workers raised (after all were joined); its
                ``messages`` holds what was drained (values, or envelopes
                with ``with_envelope=True``).
            Closed: the pool was closed.
        """
        return self._stop_and_join("stop_and_join()", with_envelope)

    def _stop_and_join(self, op: str, with_envelope: bool) -> list[Any]:
        out: list[UpMsg[U]] = []
        it = self._stop(op, True)
        try:
            for msg in it:
                out.append(msg)
        except PoolWorkerError as exc:
            exc.messages = _unwrap(out, with_envelope)
            raise
        except BaseException:
            # Interrupted: the iterator drained, joined and kept the rest; put
            # what we collected in front of it so nothing sent up is lost.
            core = self._core
            with core.lock:
                core.backlog.extendleft(reversed(out))
            raise
        return _unwrap(out, with_envelope)

    def _stop_step(self) -> UpMsg[U] | None:
        """One step of a stop: the next up message, or None once all workers are joined.

        Draining comes first and joining only when every worker has ended: a
        worker blocked in ``tx.send`` on the full up channel can end only after
        the manager makes room. (Joining first is the historical deadlock; a
        test-only subclass reintroduces it by overriding this method.)
        """
        msg = self._drain_one()
        if msg is None:
            self._join_workers()
        return msg

    def _drain_one(self) -> UpMsg[U] | None:
        try:
            msg = self._recv(None, "stop")
        except NoWorkers:
            return None
        core = self._core
        if core.traced:
            sync.emit("pool.message_drained", pool=core.name, worker=msg.worker, value=msg.value)
        return msg

    def _join_workers(self) -> None:
        core = self._core
        me = sync.current_thread()
        with core.lock:
            workers = list(core.workers)
        for worker in workers:
            thread = worker.thread
            if thread is None or thread is me or worker.joined:
                continue
            thread.join()
            with core.lock:
                worker.joined = True
            if core.traced:
                sync.emit("pool.worker_joined", pool=core.name, worker=worker.index)

    def _stop_finished(self) -> list[tuple[int, BaseException]]:
        """Forget the joined workers and return their errors (and unreported ones)."""
        core = self._core
        with core.lock:
            # Not a comprehension with `if` (nor a loop ending in an `if`):
            # on 3.13 a Ctrl-C at that back-edge skips the lock's release.
            errors = list(core.unreported)
            for w in core.workers:
                if w.error is None:
                    continue
                errors.append((w.index, w.error))
            core.unreported = []
            for worker in core.workers:
                worker.down.close()
                worker.error = None
            core.workers = []
            core.rr = 0
            core.stopping = False
            core.active_stop = None
            if core.traced:
                sync.emit("pool.stop_returned", pool=core.name, failed=len(errors))
        return errors

    def _stash(self, errors: list[tuple[int, BaseException]]) -> None:
        with self._core.lock:
            self._core.unreported.extend(errors)

    def _settle(self) -> None:
        """Finish a stop() whose iterator was left unfinished (its messages are kept)."""
        with self._core.lock:
            ref = self._core.active_stop
        it = ref() if ref is not None else None
        if it is not None:
            it._abandon(None)

    # -- closing ---------------------------------------------------------------------------

    def _check_open(self, op: str) -> None:
        if self._core.closed:
            raise Closed(f"{op}() on a closed WorkerPool; create a new pool")

    @overload
    def close(self, *, with_envelope: Literal[False] = False) -> list[U]: ...
    @overload
    def close(self, *, with_envelope: Literal[True]) -> list[UpMsg[U]]: ...
    def close(self, *, with_envelope: bool = False) -> list[U] | list[UpMsg[U]]:
        """Stop and join every worker and close the pool for good; idempotent.

        Returns the values drained (``[]`` if already closed; their
        :class:`UpMsg` envelopes with ``with_envelope=True``).

        Raises:
            PoolWorkerError: some workers raised (after all were joined; the
                pool is closed and the drained messages are on the error).
        """
        core = self._core
        if core.closed:
            return []
        try:
            return self._stop_and_join("close()", with_envelope)
        finally:
            with core.lock:
                core.closed = True
                rx, core.rx = core.rx, None
                core.backlog.clear()
            if rx is not None:
                rx.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the pool, discarding the drained messages.

        With no exception in flight, worker errors are raised as
        :class:`PoolWorkerError`; otherwise the in-flight exception goes on,
        with a note listing the worker errors.
        """
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except PoolWorkerError as group:
            exc.add_note(f"while closing {self!r}, workers also failed: {group!r}")

    def __del__(self) -> None:
        """Dropping an open pool closes it; the finaliser itself never waits for a lock.

        The cycle collector may finalise the pool on any thread, including
        one that holds the pool's lock (a worker ending, say): waiting for
        the lock there would deadlock. So the lock is only tried. When it is
        free and this is not one of the pool's workers, the pool is closed
        here (stop, drain, join, as ``close()``). Otherwise - the lock is
        busy, or this thread is one of the pool's own workers, which cannot
        join itself - the close is handed to a new thread
        (``<name>-closer``), which stops, drains and joins the workers once
        the lock is free; a worker error it meets goes to
        ``threading.excepthook``.
        """
        core: _Core | None = getattr(self, "_core", None)
        if core is None or core.closed or core.closer:
            return
        if core.lock.acquire(blocking=False):
            try:
                me = sync.current_thread()
                on_worker = any(w.thread is me for w in core.workers)
            finally:
                core.lock.release()
            if not on_worker:
                self.close()
                return
        # No waiting here: a closer thread does it. It cannot be started only
        # at interpreter shutdown, after the workers were joined anyway.
        core.closer = True
        try:
            sync.spawn(_close_dropped, core, name=f"{core.name}-closer")
        except RuntimeError:
            core.closer = False

    # -- introspection ---------------------------------------------------------------------

    def statistics(self) -> PoolStatistics:
        """A snapshot of the pool; safe to call from any thread."""
        core = self._core
        with core.lock:
            ch = core.rx.statistics() if core.rx is not None else None
            return PoolStatistics(
                capacity=core.capacity,
                workers=len(core.workers),
                running=core.live,
                queued=len(core.backlog) + (ch.buffered if ch is not None else 0),
                senders_waiting=ch.senders_waiting if ch is not None else 0,
                manager_waiting=ch.receiver_waiting if ch is not None else False,
                stopping=core.stopping,
                closed=core.closed,
            )

    def __repr__(self) -> str:
        core = self._core
        return (
            f"<WorkerPool {core.name!r} capacity={core.capacity} workers={len(core.workers)} "
            f"running={core.live}{' closed' if core.closed else ''}>"
        )


def _close_dropped(core: _Core) -> None:
    """On a thread of its own: close a dropped pool whose finaliser could not."""
    pool: WorkerPool[Any, Any] = WorkerPool.__new__(WorkerPool)
    pool._core = core
    pool.close()


class PoolStop(Generic[T]):
    """The iterator returned by :meth:`WorkerPool.stop`: drains, then joins.

    Iterate it to receive the value of every up message (its :class:`UpMsg`
    with ``stop(with_envelope=True)``) until all workers have ended;
    when it finishes every worker has been joined (and :class:`PoolWorkerError`
    is raised then if any raised). ``close()`` finishes it early: it drains
    the rest, joins, and returns what it drained. Use it as a context manager
    to make sure of that.
    """

    __slots__ = ("__weakref__", "_done", "_envelope", "_pool")

    def __init__(self, pool: WorkerPool[Any, Any], with_envelope: bool = False) -> None:
        self._pool = pool
        self._envelope = with_envelope
        self._done = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        try:
            msg = self._pool._stop_step()
        except BaseException as exc:
            self._abandon(exc)
            raise
        if msg is not None:
            return cast(T, msg if self._envelope else msg.value)
        self._done = True
        error = _worker_error(self._pool._stop_finished())
        if error is not None:
            raise error
        raise StopIteration

    def _drain_rest(self) -> tuple[list[UpMsg[Any]], BaseException | None]:
        """Drain and join to the end; an interrupt is kept, not allowed to stop the joins."""
        rest: list[UpMsg[Any]] = []
        interrupt: BaseException | None = None
        while True:
            try:
                msg = self._pool._stop_step()
            except KeyboardInterrupt as exc:  # keep joining; re-raised at the end
                # Only KeyboardInterrupt: anything else that a step raises
                # (e.g. GreenletExit when the model kills a stuck thread)
                # would be raised again by every retry, spinning forever.
                if interrupt is None:
                    interrupt = exc
                continue
            if msg is None:
                return rest, interrupt
            rest.append(msg)

    def _abandon(self, in_flight: BaseException | None) -> None:
        """Finish without a caller to hand results to: keep messages and errors in the pool."""
        if self._done:
            return
        self._done = True
        rest, interrupt = self._drain_rest()
        pool = self._pool
        errors = pool._stop_finished()
        with pool._core.lock:
            pool._core.backlog.extend(rest)
        if errors:
            pool._stash(errors)
            target = in_flight if in_flight is not None else interrupt
            if target is not None:
                target.add_note(
                    f"{len(errors)} pool worker error(s) are kept; the next stop() or close() "
                    "raises them"
                )
        if interrupt is not None and in_flight is None:
            raise interrupt

    def close(self) -> list[T]:
        """Drain the rest, join every worker, and return what was drained.

        Values, or :class:`UpMsg` envelopes for ``stop(with_envelope=True)``.

        Idempotent (``[]`` once finished).

        Raises:
            PoolWorkerError: some workers raised (after all joins); its
                ``messages`` holds what this call drained.
        """
        if self._done:
            return []
        self._done = True
        rest, interrupt = self._drain_rest()
        errors = self._pool._stop_finished()
        if interrupt is not None:
            pool = self._pool
            with pool._core.lock:
                pool._core.backlog.extend(rest)
            if errors:
                pool._stash(errors)
            raise interrupt
        error = _worker_error(errors)
        if error is not None:
            error.messages = _unwrap(rest, self._envelope)
            raise error
        return cast(list[T], _unwrap(rest, self._envelope))

    @property
    def done(self) -> bool:
        """True once every worker was joined."""
        return self._done

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._abandon(exc)

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self._abandon(None)
