"""Threads with a chosen stack size, and ref-counted scoped process settings.

``spawn_thread(fn, *args)`` starts ``fn`` on a new thread with an 8 MiB stack
(:data:`DEFAULT_STACK_SIZE`, the size Unix gives a main thread; many platforms
give new threads far less) and returns a :class:`ThreadHandle` whose
``join()`` returns ``fn``'s result or raises its exception, like
``concurrent.futures.Future.result``. Nothing escapes to
``threading.excepthook``: the handle owns the outcome.

:class:`ScopedSetting` changes a process-global setting for as long as at
least one user needs it. The first ``with setting:`` to start saves the
original value and applies the new one; nested and overlapping ``with`` blocks
from any number of threads share that; the *last* one to end restores the
original. (The seed uses this to switch off an interpreter's stack check while
foreign threads call into it.)

Everything goes through :mod:`treadle.sync`, so the model checker can run
this code under every interleaving.

Protocol events (emitted only when a backend observes them):

* ``threads.spawned(name)`` - on the spawning thread, before the start.
* ``threads.exited(name, ok)`` - on the thread, after its outcome is stored.
* ``threads.setting_applied(setting)`` - under the setting's lock, first user.
* ``threads.setting_entered(setting, active)`` / ``threads.setting_exited(setting, active)``
  - under the setting's lock, every user.
* ``threads.setting_restored(setting)`` - under the setting's lock, last user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from treadle import sync

__all__ = [
    "DEFAULT_STACK_SIZE",
    "ScopedSetting",
    "ScopedSettingStatistics",
    "ThreadHandle",
    "join_through_interrupts",
    "spawn_thread",
]

T = TypeVar("T")

DEFAULT_STACK_SIZE = 8 * 1024 * 1024
"""8 MiB: the stack Unix gives a process's main thread."""


class _Ok:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Err:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ThreadHandle(Generic[T]):
    """A thread started by :func:`spawn_thread`; join it to get ``fn``'s outcome.

    The outcome lives in a :class:`treadle.sync.Cell` written by the thread as
    its last act; ``join`` reads it after the thread has ended, so the join is
    what orders the write before the read.
    """

    __slots__ = ("_outcome", "_slot")

    def __init__(
        self,
        thread: sync.Thread | list[sync.Thread],
        outcome: sync.Cell[_Ok | _Err | None],
    ) -> None:
        # A list is the slot sync.spawn_into() fills: the handle exists
        # (and can be stored by its owner) before its thread can run.
        self._slot = thread if isinstance(thread, list) else [thread]
        self._outcome = outcome

    @property
    def _thread(self) -> sync.Thread:
        return self._slot[0]

    @property
    def name(self) -> str:
        """The thread's name."""
        return self._thread.name

    @property
    def thread(self) -> sync.Thread:
        """The underlying facade thread (compare with ``sync.current_thread()``)."""
        return self._thread

    def is_alive(self) -> bool:
        """True until the thread has finished running ``fn``."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> T:
        """Wait for the thread to end and return what ``fn`` returned.

        Args:
            timeout: seconds to wait, or ``None`` (the default) to wait forever.

        Raises:
            TimeoutError: ``timeout`` elapsed and the thread is still running
                (it keeps running; join again later).
            BaseException: whatever ``fn`` raised, re-raised as is (every
                ``join`` raises the same exception object).
        """
        self._thread.join(sync.check_timeout(timeout))
        if self._thread.is_alive():
            raise TimeoutError(
                f"thread {self._thread.name!r} is still running after {timeout}s; "
                "join() again to keep waiting"
            )
        outcome = self._outcome.get()
        if isinstance(outcome, _Err):
            raise outcome.error
        if outcome is None:  # pragma: no cover - the body always stores one
            raise RuntimeError(f"thread {self._thread.name!r} ended without an outcome")
        value: T = outcome.value
        return value

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "finished"
        return f"<ThreadHandle {self._thread.name!r} {state}>"


def spawn_thread(
    fn: Callable[..., T],
    /,
    *args: Any,
    stack_size: int | None = DEFAULT_STACK_SIZE,
    name: str | None = None,
    scoped: Sequence[ScopedSetting[Any]] = (),
    into: list[ThreadHandle[Any]] | None = None,
    **kwargs: Any,
) -> ThreadHandle[T]:
    """Start ``fn(*args, **kwargs)`` on a new thread with a chosen stack size.

    Args:
        stack_size: bytes of stack (32 KiB to 1 GiB), default 8 MiB; ``None``
            or ``0`` for the platform default. Checked before anything starts.
        name: the thread's name.
        scoped: settings entered (``with setting:``) on the new thread around
            ``fn`` and left when it ends, whatever way it ends.
        into: a list the handle is appended to *before* the thread can run.
            ``h = spawn_thread(...)`` can be interrupted (Ctrl-C) after the
            thread started and before ``h`` is bound; with ``into``, the
            owner's clean-up finds the handle whether or not this call
            returned. After it returns or raises, ``into`` holds the handle
            if and only if the thread was started.

    The caller owns the thread and must ``join()`` it.

    Raises:
        TypeError: ``fn`` is not callable, or a bad ``name``/``stack_size``.
        ValueError: ``stack_size`` is outside 32 KiB to 1 GiB (and not 0).
    """
    if not callable(fn):
        raise TypeError(f"spawn_thread() needs a callable, got {fn!r}")
    stack_size = sync.check_stack_size(stack_size)
    for setting in scoped:
        if not isinstance(setting, ScopedSetting):
            raise TypeError(f"scoped= takes ScopedSetting objects, got {setting!r}")
    outcome: sync.Cell[_Ok | _Err | None] = sync.Cell(None)
    settings = tuple(scoped)

    def body() -> None:
        ok = False
        try:
            with ExitStack() as stack:
                for s in settings:
                    stack.enter_context(s)
                result = fn(*args, **kwargs)
            outcome.set(_Ok(result))
            ok = True
        except BaseException as exc:
            outcome.set(_Err(exc))
        sync.emit("threads.exited", name=sync.current_thread().name, ok=ok)

    slot: list[sync.Thread] = []
    handle: ThreadHandle[T] = ThreadHandle(slot, outcome)
    if into is None:
        sync.emit("threads.spawned", name=name)
        sync.spawn_into(slot, body, name=name, stack_size=stack_size)
        return handle
    try:
        into.append(handle)
        sync.emit("threads.spawned", name=name)
        sync.spawn_into(slot, body, name=name, stack_size=stack_size)
    except BaseException:
        if not slot:  # not started: the owner has nothing to join
            while handle in into:
                into.remove(handle)
        raise
    return handle


def join_through_interrupts(thread: sync.Thread) -> BaseException | None:
    """Join ``thread`` even if the caller is interrupted while waiting.

    A ``KeyboardInterrupt`` raised in the joining thread while it waits is
    held back and the join resumes, so the thread is always gone when this
    returns. Returns the first interrupt held back (the caller re-raises it
    once its own clean-up is done), or ``None``.

    This is what "join before unload" costs: an owner that must not return
    with its thread alive cannot let Ctrl-C cut the join short.

    Only ``KeyboardInterrupt`` is held back. Anything else propagates: an
    error that ``join`` raises every time (the model checker kills a stuck
    virtual thread with ``GreenletExit``, after which every facade call
    raises again) would otherwise make this loop spin forever.

    CPython up to 3.12 has a race in ``Thread.join``: an interrupt that
    lands in the blocking wait just as the thread exits makes join's own
    clean-up release a lock that is no longer held, and the caller gets
    ``RuntimeError: release unlocked lock`` *while handling* the interrupt
    (found by tests/interrupts/test_real_sigint.py). That error, raised
    from ``threading`` with a ``KeyboardInterrupt`` as its context, is the
    interrupt: it is held back like one and the join is retried (it then
    returns at once).
    """
    pending: BaseException | None = None
    while True:
        try:
            thread.join()
            return pending
        except KeyboardInterrupt as exc:
            if pending is None:
                pending = exc
        except RuntimeError as exc:
            interrupt = exc.__context__
            if not isinstance(interrupt, KeyboardInterrupt) or not _raised_in_threading(exc):
                raise
            if pending is None:
                pending = interrupt


def _raised_in_threading(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    # (By file name: treadle reaches threading only through treadle.sync.)
    filename = tb.tb_frame.f_code.co_filename if tb is not None else ""
    return filename.endswith(("/threading.py", "\\threading.py"))


@dataclass(frozen=True, slots=True)
class ScopedSettingStatistics:
    """A snapshot of a :class:`ScopedSetting`."""

    name: str | None
    active: int
    applied: bool
    times_applied: int


class ScopedSetting(Generic[T]):
    """A process-global setting changed for as long as anyone needs it.

    ``ScopedSetting(get, set, value)`` describes the change; every
    ``with setting:`` block is one user. The first user to enter saves
    ``get()`` and calls ``set(value)``; later users (nested on the same
    thread or overlapping from other threads) only count themselves in; the
    last one to leave calls ``set(original)``. Entering and leaving hold the
    setting's lock while calling ``get``/``set``, so no user ever runs with
    the setting half-applied, and the original is never lost to a race.

    Use one ``ScopedSetting`` object per setting (sharing it is the point);
    two objects that change the same global do not know about each other.

    Example::

        stack_check = ScopedSetting(get_limit, set_limit, NO_LIMIT, name="stack-check")
        with stack_check:
            call_into_foreign_code()

    Raises (from ``with``):
        Whatever ``get`` or ``set`` raises. If applying fails, the user is not
        counted in; if restoring fails, the count has already dropped to zero
        (the next user starts afresh).
    """

    __slots__ = ("_active", "_get", "_lock", "_name", "_saved", "_set", "_times_applied", "_value")

    def __init__(
        self,
        get: Callable[[], T],
        set: Callable[[T], object],
        value: T,
        *,
        name: str | None = None,
    ) -> None:
        if not callable(get) or not callable(set):
            raise TypeError("ScopedSetting(get, set, value) needs callable get and set")
        self._get = get
        self._set = set
        self._value = value
        self._name = name
        self._lock = sync.Lock()
        self._active = 0
        self._saved: T | None = None
        self._times_applied = 0

    @property
    def value(self) -> T:
        """The value applied while the setting is active."""
        return self._value

    def __enter__(self) -> T:
        with self._lock:
            if self._active == 0:
                original = self._get()
                self._set(self._value)
                self._saved = original
                self._times_applied += 1
                sync.emit("threads.setting_applied", setting=self._name)
            self._active += 1
            sync.emit("threads.setting_entered", setting=self._name, active=self._active)
        return self._value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._active == 0:
                raise RuntimeError(
                    f"ScopedSetting {self._name or ''} left more times than it was entered"
                )
            self._active -= 1
            sync.emit("threads.setting_exited", setting=self._name, active=self._active)
            if self._active == 0:
                original = self._saved
                self._saved = None
                self._set(original)  # type: ignore[arg-type]
                sync.emit("threads.setting_restored", setting=self._name)

    def statistics(self) -> ScopedSettingStatistics:
        """How many users are inside, and whether the value is applied now."""
        with self._lock:
            return ScopedSettingStatistics(
                name=self._name,
                active=self._active,
                applied=self._active > 0,
                times_applied=self._times_applied,
            )

    def __repr__(self) -> str:
        return f"<ScopedSetting {self._name or ''} value={self._value!r}>"
