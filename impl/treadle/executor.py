"""A single background thread that runs the functions you hand it, one at a time.

:class:`Executor` is for state that must only ever be touched by one thread
(a non-thread-safe library handle, an audio device): every ``submit`` runs
its function on the executor's thread and blocks until it is done::

    from treadle import Executor

    with Executor() as ex:
        n = ex.submit(lambda: 10 + 10)        # runs on the executor thread
        assert n == 20

:class:`Tagged` wraps a value so that only the executor thread that created it
can read it; :meth:`Executor.drop` disposes of it on that thread::

    with Executor() as ex:
        handle = ex.submit(lambda: Tagged(open_device()))
        ex.submit(lambda: handle.get().play())   # fine: on the executor thread
        handle.get()                             # TaggedAccessError: wrong thread
        ex.drop(handle)                          # handle.get().close() runs there

Each executor has a *tag*, an integer taken from a process-wide counter, so
no two executors ever share one (the seed used a memory address, which a
later executor could reuse and so read an earlier executor's values).

Protocol events (model checker only), each with ``tag=`` the executor's
tag: ``executor.started``, ``executor.submit`` / ``executor.job_started``
/ ``executor.job_done`` (``job=`` a per-executor sequence number,
``raised=`` a bool on ``job_done``), ``executor.job_cancelled``,
``executor.inline``, ``executor.closing``, ``executor.stopped``,
``executor.joined``, ``executor.tagged_created`` /
``executor.tagged_dropped`` (``tag=`` the value's tag), and
``executor.tagged_refused`` (``tag=`` the value's, ``here=`` the calling
thread's executor tag or ``None``) when a ``Tagged`` is used on a thread it
does not belong to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar

from treadle import sync
from treadle.threads import join_through_interrupts

__all__ = [
    "Executor",
    "ExecutorClosed",
    "ExecutorStatistics",
    "Tagged",
    "TaggedAccessError",
]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class ExecutorClosed(RuntimeError):
    """``submit`` (or ``drop``) was called after ``join`` began."""


class TaggedAccessError(RuntimeError):
    """A :class:`Tagged` value was made or used outside its executor's thread."""


@dataclass(frozen=True, slots=True)
class ExecutorStatistics:
    """A snapshot of an executor, for tests and monitoring."""

    tag: int
    queued: int
    running: bool
    closed: bool


# --- tags -------------------------------------------------------------------

# Guards the two fields below. Created at import (a production lock even under
# the model): nothing inside its critical sections goes through the facade, so
# a virtual thread is never switched out while holding it.
_tag_lock = sync.Lock()
_last_tag = 0
# executor thread -> its executor's tag, while its loop runs.
_thread_tags: dict[sync.Thread, int] = {}


def _next_tag() -> int:
    global _last_tag
    with _tag_lock:
        _last_tag += 1
        return _last_tag


def _current_tag() -> int | None:
    me = sync.current_thread()
    with _tag_lock:
        return _thread_tags.get(me)


# --- jobs -------------------------------------------------------------------

_PENDING, _RUNNING, _CANCELLED = 0, 1, 2


class _Job:
    """One submitted call. ``state`` is guarded by the executor's lock; the
    outcome is written on the executor thread before ``done`` is released and
    read by the submitter after it acquired ``done``."""

    __slots__ = ("args", "done", "error", "fn", "kwargs", "number", "result", "state")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.number = 0  # set when queued
        self.state = _PENDING
        self.result: Any = None
        self.error: BaseException | None = None
        # A latch: created held, released once by the executor thread when the
        # call has finished. Cheaper than an Event (no Condition behind it),
        # which is most of a round trip's cost apart from the thread switches.
        self.done = sync.Lock()
        self.done.acquire()


class Executor:
    """One background thread that runs submitted functions in FIFO order.

    Creating an ``Executor`` starts its thread; :meth:`join` (or leaving a
    ``with`` block) runs whatever is still queued and then joins it. Always
    do one of the two: there is no ``atexit`` hook, and a thread that was
    never joined keeps the interpreter from exiting.

    Args:
        name: the thread's name; defaults to ``"treadle-executor-<tag>"``.

    Raises:
        TypeError: ``name`` is not a str.
    """

    __slots__ = (
        "_closed",
        "_idle",
        "_jobs",
        "_lock",
        "_running",
        "_submitted",
        "_tag",
        "_thread",
        "_traced",
        "_wake",
    )

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"executor thread name must be a str or None, not {name!r}")
        self._tag = self._allocate_tag()
        self._traced = sync.observing()
        self._lock = sync.Lock()  # guards the fields below
        self._jobs: deque[_Job] = deque()
        self._closed = False
        # The loop found nothing to do and is about to block on _wake, which
        # whoever clears _idle (under _lock) releases exactly once. A latch
        # rather than a Condition, for the same reason as _Job.done.
        self._idle = False
        self._wake = sync.Lock()
        self._wake.acquire()
        self._running = False
        self._submitted = 0
        sync.emit("executor.started", tag=self._tag)
        # The thread goes into ``started`` before it can run (sync.spawn_into),
        # so a KeyboardInterrupt anywhere below finds it: the constructor then
        # stops and joins it before the interrupt goes on, and no thread
        # outlives an Executor() that raised.
        started: list[sync.Thread] = []
        try:
            sync.spawn_into(started, self._loop, name=name or f"treadle-executor-{self._tag}")
            self._thread: sync.Thread = started[0]
        except BaseException:
            if started:
                self._thread = started[0]
                # Not contextlib.suppress: its __exit__ is Python code, with
                # check points of its own.
                try:  # noqa: SIM105
                    self.join()
                except KeyboardInterrupt:
                    pass  # a second one while joining: the first is raised below
            raise

    def _allocate_tag(self) -> int:
        """Return this executor's tag: unique for the life of the process.

        The one place tags come from, so a test can subclass ``Executor`` and
        bring back the seed's reuse bug to show that the tests catch it.
        """
        return _next_tag()

    @property
    def tag(self) -> int:
        """This executor's tag (see :class:`Tagged`)."""
        return self._tag

    # --- the executor thread ------------------------------------------------

    def _loop(self) -> None:
        me = sync.current_thread()
        with _tag_lock:
            _thread_tags[me] = self._tag
        try:
            self._serve()
        finally:
            with _tag_lock:
                del _thread_tags[me]
            sync.emit("executor.stopped", tag=self._tag)

    def _serve(self) -> None:
        lock, wake, jobs, traced = self._lock, self._wake, self._jobs, self._traced
        while True:
            with lock:
                self._running = False
                if not jobs:
                    if self._closed:
                        return
                    self._idle = True
                    job = None
                else:
                    job = jobs.popleft()
                    if job.state == _CANCELLED:
                        continue
                    job.state = _RUNNING
                    self._running = True
            if job is None:
                wake.acquire()  # until submit() or join() clears _idle
                continue
            if traced:
                sync.emit("executor.job_started", tag=self._tag, job=job.number)
            try:
                job.result = job.fn(*job.args, **job.kwargs)
            except BaseException as exc:  # delivered to the submitter
                job.error = exc
            job.fn = job.args = job.kwargs = None  # type: ignore[assignment]
            if traced:
                sync.emit(
                    "executor.job_done",
                    tag=self._tag,
                    job=job.number,
                    raised=job.error is not None,
                )
            job.done.release()

    # --- the public surface -------------------------------------------------

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` on the executor thread and return its result.

        Blocks until ``fn`` has run. Jobs run one at a time in the order they
        were submitted. Called on the executor thread itself (from inside a
        job), ``fn`` runs right away, inline, instead of deadlocking.

        If the caller is interrupted while it waits (``KeyboardInterrupt``, or
        any exception raised into it): a job that has not started is
        withdrawn and never runs; a job that is running finishes on the
        executor thread and its outcome is discarded. Either way the
        executor keeps working and the interrupt propagates.

        Raises:
            BaseException: whatever ``fn`` raised, the same object with its
                original traceback; the executor keeps working.
            ExecutorClosed: ``join`` was called.
            TypeError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise TypeError(f"Executor.submit() needs a callable, got {fn!r}")
        if sync.current_thread() is self._thread:
            if self._traced:
                sync.emit("executor.inline", tag=self._tag)
            return fn(*args, **kwargs)
        job = _Job(fn, args, kwargs)
        try:
            with self._lock:
                if self._closed:
                    raise ExecutorClosed(
                        f"submit() on an executor that was joined (tag {self._tag}); "
                        "create a new Executor to run more work"
                    )
                self._submitted += 1
                job.number = self._submitted
                self._jobs.append(job)
                if self._traced:
                    sync.emit("executor.submit", tag=self._tag, job=job.number)
                self._wake_idle_loop()
            job.done.acquire()
        except BaseException:
            # Interrupted while waiting (or before queueing, which is harmless).
            with self._lock:
                if job.state == _PENDING:
                    job.state = _CANCELLED
                    if self._traced and job.number:
                        sync.emit("executor.job_cancelled", tag=self._tag, job=job.number)
            raise
        error = job.error
        if error is not None:
            job.error = None
            try:
                raise error
            finally:
                del error  # no cycle through this frame
        return job.result  # type: ignore[no-any-return]

    def drop(self, tagged: Tagged[Any]) -> None:
        """Dispose of ``tagged`` on this executor's thread.

        The value is taken out of ``tagged`` there; if it has a ``close()``
        method, that is called there too; then the executor lets go of it, so
        its last reference dies on the executor thread. Afterwards
        ``tagged.get()`` raises :class:`TaggedAccessError`.

        Raises:
            TypeError: ``tagged`` is not a :class:`Tagged`.
            TaggedAccessError: it belongs to another executor, or was dropped.
            ExecutorClosed: ``join`` was called.
            BaseException: whatever ``close()`` raised (the value is dropped
                regardless).
        """
        if not isinstance(tagged, Tagged):
            raise TypeError(f"Executor.drop() needs a Tagged value, got {tagged!r}")
        if tagged.tag != self._tag:
            raise TaggedAccessError(
                f"this Tagged value belongs to the executor with tag {tagged.tag}, not to "
                f"this one (tag {self._tag}); drop it through the executor that created it"
            )
        try:
            self.submit(_dispose, tagged)
        except ExecutorClosed:
            raise ExecutorClosed(
                f"drop() on an executor that was joined (tag {self._tag}); "
                "the value can no longer be disposed of on its thread"
            ) from None

    def join(self) -> None:
        """Run what is still queued, then stop the thread and wait for it.

        Idempotent, and callable from several threads. After ``join`` begins,
        ``submit`` raises :class:`ExecutorClosed`. The thread is always gone
        when ``join`` returns or raises: a ``KeyboardInterrupt`` that arrives
        meanwhile is held back until then, and raised afterwards.

        Raises:
            RuntimeError: called on the executor thread (it would wait for
                itself forever).
            KeyboardInterrupt: arrived while joining (the thread has ended).
        """
        if sync.current_thread() is self._thread:
            raise RuntimeError(
                "Executor.join() called from the executor's own thread (inside a submitted "
                "job); it would wait for itself forever. Join from another thread."
            )
        held: BaseException | None = None
        while True:
            try:
                with self._lock:
                    if not self._closed:
                        self._closed = True
                        sync.emit("executor.closing", tag=self._tag)
                    self._wake_idle_loop()
                break
            except KeyboardInterrupt as exc:  # retry: the steps are idempotent
                held = held or exc
        held = join_through_interrupts(self._thread) or held
        sync.emit("executor.joined", tag=self._tag)
        if held is not None:
            raise held

    def _wake_idle_loop(self) -> None:
        # Caller holds _lock. Clear the flag first, release after: there is no
        # signal check point between the two (the release is one C call, and
        # CPython checks only once it has returned), so the flag never says
        # "idle" about a latch already released; the other order let an
        # interrupt right after the release make a retry release twice
        # (RuntimeError: release unlocked lock).
        if self._idle:
            self._idle = False
            self._wake.release()

    @property
    def closed(self) -> bool:
        """True once ``join`` has begun."""
        with self._lock:
            return self._closed

    def statistics(self) -> ExecutorStatistics:
        """A snapshot: queued (not yet started, not withdrawn) jobs, whether one runs."""
        with self._lock:
            return ExecutorStatistics(
                tag=self._tag,
                queued=sum(1 for job in self._jobs if job.state == _PENDING),
                running=self._running,
                closed=self._closed,
            )

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.join()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Executor tag={self._tag} {state}>"


# --- tagged values ----------------------------------------------------------

_UNSET: Any = object()


class Tagged(Generic[T]):
    """A value that only the executor thread which created it may read.

    Create it inside a job (``ex.submit(lambda: Tagged(value))``); it records
    that executor's tag. :meth:`get` checks the calling thread's tag, so the
    value can be passed around freely but only used where it belongs.

    Raises:
        TaggedAccessError: created outside an executor thread.
    """

    __slots__ = ("_tag", "_value")

    def __init__(self, value: T) -> None:
        tag = _current_tag()
        if tag is None:
            raise TaggedAccessError(
                "Tagged() can only be created on an Executor thread; create it inside a "
                "job, e.g. executor.submit(lambda: Tagged(value))"
            )
        self._tag = tag
        self._value: T = value
        sync.emit("executor.tagged_created", tag=tag)

    @property
    def tag(self) -> int:
        """The tag of the executor this value belongs to."""
        return self._tag

    def _check(self, action: str) -> None:
        here = _current_tag()
        if here != self._tag:
            sync.emit("executor.tagged_refused", tag=self._tag, here=here)
            where = (
                "a thread that is not an executor"
                if here is None
                else f"the thread of another executor (tag {here})"
            )
            raise TaggedAccessError(
                f"{action} of a Tagged value from {where}; it belongs to the executor with "
                f"tag {self._tag}: use it inside that executor's submit()"
            )
        if self._value is _UNSET:
            raise TaggedAccessError(f"{action} of a Tagged value that was dropped")

    def get(self) -> T:
        """Return the value.

        Raises:
            TaggedAccessError: not on the owning executor's thread, or dropped.
        """
        self._check("get()")
        return self._value

    def __repr__(self) -> str:
        # Never shows the value: repr() may be called from any thread.
        return f"<Tagged tag={self._tag}>"


def _dispose(tagged: Tagged[Any]) -> None:
    # Runs on the owning executor's thread (Executor.drop submits it).
    tagged._check("drop()")
    value = tagged._value
    tagged._value = _UNSET
    sync.emit("executor.tagged_dropped", tag=tagged.tag)
    close = getattr(value, "close", None)
    del value
    if callable(close):
        close()
