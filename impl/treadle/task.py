"""Cancellable background tasks, and a C-style handle API for embedding them.

A task is anything with ``run(token) -> T`` (the :class:`Task` protocol) or a
plain function of the token. :func:`spawn` runs it on its own thread and
returns a :class:`TaskHandle`::

    class Spin:
        def run(self, token: CancellationToken) -> int:
            spins = 0
            while not token.cancelled():
                token.wait(0.001)          # sleeps, but wakes at once on cancel
                spins += 1
            return spins

    with spawn(Spin()) as handle:          # leaving the block cancels and joins
        assert handle.poll() is PENDING
        handle.cancel()
        spins = handle.wait()

Cancellation is a request: ``cancel()`` sets the token; the task decides when
to look (``token.cancelled()``, or ``token.raise_if_cancelled()`` which raises
:class:`Cancelled`). What the task then returns or raises is its result.

``poll()`` never blocks: it returns :data:`PENDING` while the task runs (so a
task that returns ``None`` is told apart), then the result, or raises the
task's exception - the same value or exception object on every later poll.
``close()`` cancels *and joins*: unlike the seed, no task thread outlives its
handle's owner. Use the handle as a context manager.

:func:`export_task` gives the same thing as a C ABI would: functions over
opaque integer handles, ``None`` as the null value, and a thread-local "last
error" (:func:`last_error_message`, :func:`last_error_length`,
:func:`clear_last_error`). Misuse never raises, crashes or leaks a thread.

Protocol events (``sync.emit``; a no-op in production):

* ``task.spawned(task)`` - before the task's thread starts.
* ``task.started(task)`` - on the task's thread, under the handle lock.
* ``task.cancel(task)`` - before the token is set.
* ``task.done(task, ok)`` - on the task's thread, under the handle lock, as
  the outcome is published.
* ``task.joined(task, by)`` - under the handle lock, after the first join
  (``by`` is ``"wait"`` or ``"close"``, the call that joined).
* ``task.closed(task)`` - under the handle lock, the first close.
* C surface, under the export's lock: ``task.handle_created(handle, task)``,
  ``task.handle_freed(handle, by)`` (``by`` is ``"wait"``, ``"destroy"`` or
  ``"close"``), ``task.result_created(result, handle)``,
  ``task.result_freed(result)``, ``task.misuse(function, value, reason)``.
"""

from __future__ import annotations

import enum
import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Generic, Literal, Protocol, TypeVar

from treadle import sync
from treadle.threads import ThreadHandle, join_through_interrupts, spawn_thread

__all__ = [
    "PENDING",
    "CancellationToken",
    "Cancelled",
    "Pending",
    "Task",
    "TaskExportStatistics",
    "TaskExports",
    "TaskHandle",
    "clear_last_error",
    "export_task",
    "last_error_length",
    "last_error_message",
    "spawn",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Cancelled(Exception):
    """The task stopped early because it was cancelled.

    Raised by :meth:`CancellationToken.raise_if_cancelled`; a task that lets it
    escape makes ``poll``/``wait`` raise it.
    """


class Pending(enum.Enum):
    """The type of :data:`PENDING`."""

    PENDING = "PENDING"

    def __repr__(self) -> str:
        return "PENDING"

    __str__ = __repr__


PENDING: Final = Pending.PENDING
"""What :meth:`TaskHandle.poll` returns while the task is still running."""


class CancellationToken:
    """A shareable, sticky "please stop" flag.

    ``cancel()`` is idempotent and cannot be undone. Tasks check
    ``cancelled()`` between steps, call ``raise_if_cancelled()``, or sleep with
    ``wait(seconds)`` which returns early (``True``) when cancelled.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = sync.Event()

    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the task to stop (idempotent, sticky)."""
        self._event.set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if :meth:`cancel` was called.

        Raises:
            Cancelled: the token was cancelled.
        """
        if self._event.is_set():
            raise Cancelled("the task was cancelled")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; True if cancelled.

        ``None``, ``math.inf`` or any timeout above ``threading.TIMEOUT_MAX``
        waits forever.
        """
        return self._event.wait(sync.check_timeout(timeout))

    def __repr__(self) -> str:
        return f"<CancellationToken cancelled={self.cancelled()}>"


class Task(Protocol[T_co]):
    """Something that can run in the background: ``run(token) -> T``.

    ``run`` should look at the token between steps and stop early when it is
    cancelled (returning a partial result, or raising :class:`Cancelled`).
    """

    def run(self, token: CancellationToken, /) -> T_co: ...


class _Outcome:
    __slots__ = ("error", "ok", "value")

    def __init__(self, ok: bool, value: Any, error: BaseException | None) -> None:
        self.ok = ok
        self.value = value
        self.error = error


# Labels for protocol events only (uniqueness, not ordering, matters).
_task_ids = itertools.count(1)


class TaskHandle(Generic[T]):
    """A task running on its own thread. Made by :func:`spawn`.

    The handle owns the thread: :meth:`close` (or leaving a ``with`` block)
    cancels the task and joins the thread. Every method is safe to call from
    any thread.
    """

    __slots__ = (
        "_closed",
        "_cond",
        "_joined",
        "_label",
        "_lock",
        "_outcome",
        "_threads",
        "_token",
    )

    def __init__(
        self,
        run: Callable[[CancellationToken], T],
        *,
        name: str | None = None,
        stack_size: int | None = None,
        _into: list[TaskHandle[Any]] | None = None,
    ) -> None:
        self._label = name or f"task-{next(_task_ids)}"
        self._lock = sync.Lock()
        self._cond = sync.Condition(self._lock)
        self._token = CancellationToken()
        # Guarded by _lock.
        self._outcome: _Outcome | None = None
        self._joined = False
        self._closed = False
        self._threads: list[ThreadHandle[None]] = []
        # A factory passes ``_into``: the handle is in it (fully set up)
        # before its thread can run, so an interrupt right after the
        # constructor returns (a signal check point) still leaves the
        # factory something to close.
        if _into is not None:
            _into.append(self)
        sync.emit("task.spawned", task=self._label)
        try:
            spawn_thread(
                self._body, run, stack_size=stack_size, name=self._label, into=self._threads
            )
        except BaseException:
            # Interrupted after the thread started: cancel it and join it
            # before the interrupt goes on (the task's code sees the token).
            if self._threads:
                self._token.cancel()
                join_through_interrupts(self._threads[0].thread)
            raise

    @property
    def _thread(self) -> ThreadHandle[None]:
        return self._threads[0]

    def _body(self, run: Callable[[CancellationToken], T]) -> None:
        with self._lock:
            sync.emit("task.started", task=self._label)
        try:
            outcome = _Outcome(True, run(self._token), None)
        except BaseException as exc:
            outcome = _Outcome(False, None, exc)
        with self._lock:
            self._outcome = outcome
            sync.emit("task.done", task=self._label, ok=outcome.ok)
            self._cond.notify_all()

    @property
    def name(self) -> str:
        """The task's name (also its thread's name)."""
        return self._label

    @property
    def token(self) -> CancellationToken:
        """The token passed to the task's ``run``."""
        return self._token

    def poll(self) -> T | Literal[Pending.PENDING]:
        """The result if the task has finished, else :data:`PENDING`. Never blocks.

        Polling again after the result was taken returns the same result.

        Raises:
            BaseException: what the task raised (the same object every time),
                e.g. :class:`Cancelled`.
        """
        with self._lock:
            outcome = self._outcome
        if outcome is None:
            return PENDING
        return self._unwrap(outcome)

    def wait(self, timeout: float | None = None) -> T:
        """Block until the task finishes; return its result.

        The task's thread has ended when this returns or raises the task's error.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (the task keeps running).
            BaseException: what the task raised.
        """
        outcome = self._await_outcome(timeout)
        self._join("wait")
        return self._unwrap(outcome)

    def _await_outcome(self, timeout: float | None) -> _Outcome:
        timeout = sync.check_timeout(timeout)
        with self._lock:
            if not self._cond.wait_for(lambda: self._outcome is not None, timeout):
                raise TimeoutError(f"task {self._label!r} still running after {timeout}s")
            outcome = self._outcome
        assert outcome is not None
        return outcome

    def _peek(self) -> _Outcome | None:
        with self._lock:
            return self._outcome

    @staticmethod
    def _unwrap(outcome: _Outcome) -> T:
        if not outcome.ok:
            assert outcome.error is not None
            raise outcome.error
        value: T = outcome.value
        return value

    def cancel(self) -> None:
        """Ask the task to stop (sticky, idempotent; does not wait)."""
        sync.emit("task.cancel", task=self._label)
        self._token.cancel()

    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called (whether or not the task noticed)."""
        return self._token.cancelled()

    def done(self) -> bool:
        """True once the task has returned or raised."""
        with self._lock:
            return self._outcome is not None

    def close(self) -> None:
        """Cancel the task and join its thread (idempotent, any thread).

        Blocks until the task notices the cancellation and returns. The
        result stays available to :meth:`poll`/:meth:`wait`.

        Raises:
            KeyboardInterrupt: raised while joining; held back until the
                thread has ended, then re-raised.
        """
        self.cancel()
        self._join("close")
        with self._lock:
            if not self._closed:
                self._closed = True
                sync.emit("task.closed", task=self._label)

    def _join(self, by: str) -> None:
        # One small method on purpose: a test-only subclass drops it to
        # reintroduce the seed's bug (the thread is detached, never joined).
        if not self._threads:
            return  # its constructor was interrupted before the thread started
        interrupted = join_through_interrupts(self._thread.thread)
        with self._lock:
            if not self._joined:
                self._joined = True
                sync.emit("task.joined", task=self._label, by=by)
        if interrupted is not None:
            raise interrupted

    def __enter__(self) -> TaskHandle[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            state = "pending" if self._outcome is None else "done"
        cancelled = " cancelled" if self.cancelled() else ""
        return f"<TaskHandle {self._label!r} {state}{cancelled}>"


def _runner(task: object, what: str) -> Callable[[CancellationToken], Any]:
    run = getattr(task, "run", None)
    if callable(run):
        return run  # type: ignore[no-any-return]
    if callable(task):
        return task
    raise TypeError(
        f"{what} needs a Task (an object with run(token)) or a function of the token, got {task!r}"
    )


def spawn(
    task: Task[T] | Callable[[CancellationToken], T],
    *,
    name: str | None = None,
    stack_size: int | None = None,
) -> TaskHandle[T]:
    """Run ``task.run(token)`` (or ``task(token)``) on a new thread.

    Args:
        name: the task's (and its thread's) name.
        stack_size: bytes of stack for the thread, or ``None`` for the
            platform default.

    Returns:
        A handle that owns the thread; close it (or use ``with``).

    Raises:
        TypeError: ``task`` is neither a :class:`Task` nor callable.
    """
    run = _runner(task, "spawn()")
    made: list[TaskHandle[T]] = []
    try:
        # Stored, then returned: the check point after the call stays inside
        # the try (as CPython has it), where the interrupt sweep reaches it.
        handle = TaskHandle(run, name=name, stack_size=stack_size, _into=made)
        return handle
    except BaseException:
        # Interrupted right after the handle was made, before it was returned.
        _close_all(made)
        raise


def _close_all(handles: list[TaskHandle[Any]]) -> None:
    """Close each handle, holding back interrupts until all are closed."""
    # The back-edge is a check point too, so the loop runs inside the try.
    # It is written `while True: if ...: break`, not `while i < len(...)`:
    # CPython 3.13 puts the back-edge of a `while cond:` loop (and of a
    # comprehension's `if`) outside the try, so a Ctrl-C there skips the
    # except (CPython issue #130279); tests/interrupts/test_loop_handlers.py
    # checks every loop in the library for it.
    i = 0
    while True:
        try:
            while True:
                if i >= len(handles):
                    break
                handles[i].close()  # idempotent: run again after an interrupt
                i += 1
            return
        except KeyboardInterrupt:
            continue


# --- thread-local last error ------------------------------------------------

# One thread-local store per backend: an object made by one backend means
# nothing under another (the model runs virtual threads on one OS thread).
# Created on first use, never at import time.
_error_slots: weakref.WeakKeyDictionary[object, sync.local] = weakref.WeakKeyDictionary()


def _error_slot() -> sync.local:
    backend = sync.get_backend()
    slot = _error_slots.get(backend)
    if slot is None:
        # setdefault is one dict operation: two threads racing here agree.
        slot = _error_slots.setdefault(backend, sync.local())
    return slot


def _set_last_error(message: str) -> None:
    _error_slot().message = message


def last_error_message() -> str | None:
    """The calling thread's most recent error from an exported task API, or ``None``.

    Errors are set by failing calls and kept until :func:`clear_last_error`
    (successful calls do not clear them), as in the C convention.
    """
    message: str | None = getattr(_error_slot(), "message", None)
    return message


def last_error_length() -> int:
    """Bytes a C caller needs for the last error: UTF-8 length + 1 (NUL), 0 if none."""
    message = last_error_message()
    return 0 if message is None else len(message.encode("utf-8")) + 1


def clear_last_error() -> None:
    """Forget the calling thread's last error."""
    _error_slot().message = None


# --- the C-style surface ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskExportStatistics:
    """Live objects of a :class:`TaskExports`: what a C caller has yet to free."""

    live_handles: int
    live_results: int
    waits_in_progress: int
    handles_issued: int
    results_issued: int


class _Entry:
    __slots__ = ("handle", "waiting")

    def __init__(self, handle: TaskHandle[Any]) -> None:
        self.handle = handle
        self.waiting = False


class TaskExports(Generic[T]):
    """The C-style API for one task type. Made by :func:`export_task`.

    Task handles and result handles are positive ints (odd for tasks, even
    for results, never reused); ``None`` is the null value. Every function
    reports misuse - ``None`` or a non-int, an unknown handle, a freed one -
    by setting the calling thread's last error and returning ``None``.
    Functions that succeed leave the last error alone.

    * ``spawn(task) -> handle | None``
    * ``poll(handle) -> result | None``: ``None`` with no error set while
      pending; ``None`` with the task's error as last error if it raised.
      Each successful poll returns a *new* result handle for the same value.
    * ``wait(handle) -> result | None``: blocks until the task ends, joins
      its thread and frees the task handle (as the seed does).
    * ``cancel(handle) -> None``; ``cancelled(handle) -> 1 | 0 | None``.
    * ``handle_destroy(handle) -> None``: cancels, joins, frees.
    * ``result_value(result) -> value``: read a result (the C ``*ptr``).
    * ``result_destroy(result) -> None``: free a result.

    :meth:`close` (or ``with``) destroys whatever is still live.
    """

    def __init__(self, task_type: type[Any], *, name: str | None = None) -> None:
        if not isinstance(task_type, type) or not callable(getattr(task_type, "run", None)):
            raise TypeError(
                f"export_task() needs a class with a run(token) method, got {task_type!r}"
            )
        self._task_type = task_type
        self._name = name or task_type.__name__
        self._lock = sync.Lock()
        # Guarded by _lock.
        self._handles: dict[int, _Entry] = {}
        self._results: dict[int, Any] = {}
        self._next_handle = 1  # odd
        self._next_result = 2  # even

    # -- misuse reporting

    def _misuse(self, function: str, value: object, reason: str) -> None:
        message = f"{self._name}_{function}(): {reason}"
        sync.emit("task.misuse", function=function, value=value, reason=reason)
        _set_last_error(message)

    def _check_id(self, function: str, value: object, kind: str) -> int | None:
        if value is None:
            self._misuse(
                function, value, f"the {kind} handle is None (null); pass one returned by spawn()"
            )
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._misuse(function, value, f"a {kind} handle is an int, got {value!r}")
            return None
        return value

    def _not_live(self, function: str, value: int, kind: str, parity: int, issued: int) -> None:
        # Caller holds _lock.
        if value > 0 and value % 2 == parity and value < issued:
            reason = (
                f"{kind} handle {value} was already freed"
                + (
                    " (by wait() or handle_destroy())"
                    if kind == "task"
                    else " (by result_destroy())"
                )
                + "; it cannot be used again"
            )
        elif (
            value > 0 and value % 2 != parity and value < max(self._next_handle, self._next_result)
        ):
            other = "result" if kind == "task" else "task"
            reason = f"{value} is a {other} handle, not a {kind} handle"
        else:
            reason = f"unknown {kind} handle {value}: it was never returned by this API"
        self._misuse(function, value, reason)

    def _entry(self, function: str, value: object) -> _Entry | None:
        handle = self._check_id(function, value, "task")
        if handle is None:
            return None
        with self._lock:
            entry = self._handles.get(handle)
            if entry is None:
                self._not_live(function, handle, "task", 1, self._next_handle)
            return entry

    def _deliver(self, function: str, handle: int, outcome: _Outcome) -> int | None:
        if not outcome.ok:
            error = outcome.error
            if isinstance(error, Cancelled):
                # treadle's own message, so it has the API's prefix like every
                # other one; an error the task raised is passed on verbatim.
                _set_last_error(f"{self._name}_{function}(): task handle {handle}: {error}")
            else:
                _set_last_error(str(error) or type(error).__name__)
            return None
        with self._lock:
            result = self._next_result
            self._next_result += 2
            self._results[result] = outcome.value
            sync.emit("task.result_created", result=result, handle=handle)
        return result

    # -- the exported functions

    def spawn(self, task: object) -> int | None:
        """Start ``task`` (an instance of the exported type); return its handle."""
        if not isinstance(task, self._task_type):
            self._misuse(
                "spawn",
                task,
                f"expected a {self._task_type.__name__} instance, got {task!r}",
            )
            return None
        made: list[TaskHandle[Any]] = []
        try:
            TaskHandle(_runner(task, "spawn()"), name=None, _into=made)
        except Exception as exc:
            _close_all(made)
            self._misuse("spawn", task, f"could not start the task: {exc}")
            return None
        except BaseException:
            _close_all(made)  # interrupted: no handle is issued, no thread left
            raise
        th = made[0]
        registered = False
        try:
            with self._lock:
                handle = self._next_handle
                self._next_handle += 2
                self._handles[handle] = _Entry(th)
                registered = True  # no check point since the store above
                sync.emit("task.handle_created", handle=handle, task=th.name)
        except BaseException:
            # Interrupted before the task was registered: close it, so no
            # task runs that nobody can name. Once registered, close() owns it.
            if not registered:
                _close_all(made)
            raise
        return handle

    def poll(self, handle: object) -> int | None:
        """A result handle if the task finished, else ``None`` (see the class doc)."""
        entry = self._entry("poll", handle)
        if entry is None:
            return None
        outcome = entry.handle._peek()
        if outcome is None:
            return None
        assert isinstance(handle, int)
        return self._deliver("poll", handle, outcome)

    def wait(self, handle: object) -> int | None:
        """Wait for the task, free its handle, return a result handle (or ``None``)."""
        entry = self._entry("wait", handle)
        if entry is None:
            return None
        assert isinstance(handle, int)
        # ``waiting`` is set inside the try (no check point between the store
        # and ``mine``), so an interrupt never leaves it set: close() skips
        # entries being waited for, and would skip this one forever.
        mine = False
        try:
            with self._lock:
                if entry.waiting:
                    self._misuse(
                        "wait",
                        handle,
                        f"task handle {handle} is already being waited for on another thread",
                    )
                    return None
                entry.waiting = True
                mine = True
            outcome = entry.handle._await_outcome(None)
        except BaseException:
            if mine:
                with self._lock:
                    entry.waiting = False
            raise
        try:
            with self._lock:
                if self._handles.pop(handle, None) is not None:
                    sync.emit("task.handle_freed", handle=handle, by="wait")
            entry.handle.close()
        except BaseException:
            # Interrupted after the task ended: join its thread before the
            # interrupt goes on. A handle still in the table stays closable.
            with self._lock:
                entry.waiting = False
            _close_all([entry.handle])
            raise
        return self._deliver("wait", handle, outcome)

    def cancel(self, handle: object) -> None:
        """Ask the task to stop (idempotent)."""
        entry = self._entry("cancel", handle)
        if entry is not None:
            entry.handle.cancel()

    def cancelled(self, handle: object) -> int | None:
        """1 if the task was cancelled, 0 if not, ``None`` on misuse."""
        entry = self._entry("cancelled", handle)
        if entry is None:
            return None
        return 1 if entry.handle.cancelled() else 0

    def handle_destroy(self, handle: object) -> None:
        """Cancel the task, join its thread and free the handle."""
        entry = self._entry("handle_destroy", handle)
        if entry is None:
            return
        assert isinstance(handle, int)
        with self._lock:
            if entry.waiting:
                self._misuse(
                    "handle_destroy",
                    handle,
                    f"task handle {handle} is being waited for on another thread; "
                    "wait() frees it, do not destroy it as well",
                )
                return
            if self._handles.pop(handle, None) is None:
                self._not_live("handle_destroy", handle, "task", 1, self._next_handle)
                return
            sync.emit("task.handle_freed", handle=handle, by="destroy")
        entry.handle.close()

    def result_value(self, result: object) -> Any:
        """The value behind a result handle (``None`` and a last error on misuse)."""
        rid = self._check_id("result_value", result, "result")
        if rid is None:
            return None
        with self._lock:
            if rid in self._results:
                return self._results[rid]
            self._not_live("result_value", rid, "result", 0, self._next_result)
            return None

    def result_destroy(self, result: object) -> None:
        """Free a result handle."""
        rid = self._check_id("result_destroy", result, "result")
        if rid is None:
            return
        with self._lock:
            if rid in self._results:
                del self._results[rid]
                sync.emit("task.result_freed", result=rid)
                return
            self._not_live("result_destroy", rid, "result", 0, self._next_result)

    def statistics(self) -> TaskExportStatistics:
        """How many task and result handles are live (not yet freed)."""
        with self._lock:
            return TaskExportStatistics(
                live_handles=len(self._handles),
                live_results=len(self._results),
                waits_in_progress=sum(1 for e in self._handles.values() if e.waiting),
                handles_issued=self._next_handle // 2,
                results_issued=self._next_result // 2 - 1,
            )

    def close(self) -> None:
        """Destroy every live handle (cancel and join its task) and free every result."""
        entries: list[tuple[int, _Entry]] = []
        pending: BaseException | None = None
        try:
            with self._lock:
                # Not a comprehension with `if` (nor a loop ending in an
                # `if`): on 3.13 a Ctrl-C at that back-edge skips the except.
                taken: list[tuple[int, _Entry]] = []
                for h, e in self._handles.items():
                    if e.waiting:
                        continue
                    taken.append((h, e))
                entries = taken
                for h, _ in entries:
                    del self._handles[h]
                    sync.emit("task.handle_freed", handle=h, by="close")
                for rid in list(self._results):
                    del self._results[rid]
                    sync.emit("task.result_freed", result=rid)
        except BaseException as exc:
            pending = exc  # interrupted: still close what was taken out
        # Every task taken out of the table is closed (joined) here, even if
        # interrupts arrive meanwhile: they are held back and the first is
        # raised at the end. A task left in the table is closed by the next
        # close(); none is forgotten.
        # The loop's back-edge is a signal check point too, so it runs
        # inside the try; an interrupt resumes at the same entry.
        i = 0
        while True:
            try:
                while True:  # not `while i < len(entries):` (see _close_all)
                    if i >= len(entries):
                        break
                    entries[i][1].handle.close()
                    i += 1
                break
            except KeyboardInterrupt as exc:
                pending = pending or exc
            except BaseException as exc:
                pending = pending or exc
                i += 1
        if pending is not None:
            raise pending

    def __enter__(self) -> TaskExports[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TaskExports {self._name}>"


def export_task(task_type: type[Task[T]], *, name: str | None = None) -> TaskExports[T]:
    """Export ``task_type`` through a C-style handle API (see :class:`TaskExports`).

    Args:
        name: prefix used in error messages (``"<name>_poll(): ..."``);
            defaults to the class name.

    Raises:
        TypeError: ``task_type`` is not a class with a ``run`` method.
    """
    return TaskExports(task_type, name=name)
