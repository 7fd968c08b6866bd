"""The synchronisation facade: the only door between treadle and the OS.

Every lock, condition, event, semaphore, shared variable, thread, sleep and
clock reading in treadle goes through this module. In production the facade
hands out plain :mod:`threading` objects (``sync.Lock()`` *is* a
``threading.Lock``), so the cost is one extra call when an object is created
and nothing afterwards. The model checker (``treadle_model``) installs a
controlled backend for the duration of an exploration; the same source then
runs on virtual threads that switch only at facade operations, which is how
the real code is checked under every interleaving (the loom idea).

Rules for code that wants to be checkable (treadle itself follows them):

* all state shared between threads is guarded by a facade lock or lives in a
  :class:`Cell`;
* never call :mod:`threading`, :mod:`queue`, ``time.sleep`` or
  ``time.monotonic`` directly;
* create facade objects inside the code being checked, not at import time:
  an object belongs to the backend that was active when it was created.

Example::

    from treadle import sync

    class Counter:
        def __init__(self) -> None:
            self._lock = sync.Lock()
            self._n = 0

        def bump(self) -> int:
            with self._lock:
                self._n += 1
                return self._n
"""

from __future__ import annotations

import abc
import dis
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "Backend",
    "Cell",
    "Condition",
    "Event",
    "ExceptHook",
    "Lock",
    "RLock",
    "Semaphore",
    "Thread",
    "ThreadingBackend",
    "current_thread",
    "emit",
    "get_backend",
    "get_excepthook",
    "local",
    "monotonic",
    "observing",
    "set_excepthook",
    "sleep",
    "spawn",
    "spawn_into",
    "using_backend",
]

T = TypeVar("T")


class _Facade(abc.ABCMeta):
    """Metaclass that turns ``Lock()`` into ``backend.lock()``.

    The method bodies on the facade classes below only document the interface
    (they are never called: production hands out ``threading`` objects, which
    are registered as virtual subclasses).

    Calling one of the facade classes below asks the active backend for an
    object. Calling a *subclass* (a backend's own implementation) constructs it
    normally, so backends can subclass the facade types.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        factory = cls.__dict__.get("_factory")
        if factory is not None:
            return getattr(_state.backend, factory)(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class Lock(metaclass=_Facade):
    """A mutual-exclusion lock (``threading.Lock`` in production).

    ``acquire(blocking=True, timeout=-1)`` follows :class:`threading.Lock`.
    """

    _factory = "lock"
    __slots__ = ()

    def __init__(self) -> None:  # pragma: no cover - typing only
        pass

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def locked(self) -> bool:
        raise NotImplementedError

    def __enter__(self) -> bool:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError


class RLock(metaclass=_Facade):
    """A re-entrant lock (``threading.RLock`` in production)."""

    _factory = "rlock"
    __slots__ = ()

    def __init__(self) -> None:  # pragma: no cover - typing only
        pass

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> bool:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError


class Condition(metaclass=_Facade):
    """A condition variable (``threading.Condition`` in production).

    ``wait`` may return spuriously under the model when spurious wakeups are
    enabled; always wait in a loop (or use :meth:`wait_for`).
    """

    _factory = "condition"
    __slots__ = ()

    def __init__(self, lock: Lock | RLock | None = None) -> None:  # pragma: no cover
        pass

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> bool:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        raise NotImplementedError

    def notify(self, n: int = 1) -> None:
        raise NotImplementedError

    def notify_all(self) -> None:
        raise NotImplementedError


class Event(metaclass=_Facade):
    """A one-bit flag threads can wait for (``threading.Event`` in production)."""

    _factory = "event"
    __slots__ = ()

    def __init__(self) -> None:  # pragma: no cover - typing only
        pass

    def is_set(self) -> bool:
        raise NotImplementedError

    def set(self) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> bool:
        raise NotImplementedError


class Semaphore(metaclass=_Facade):
    """A counting semaphore (``threading.Semaphore`` in production)."""

    _factory = "semaphore"
    __slots__ = ()

    def __init__(self, value: int = 1) -> None:  # pragma: no cover - typing only
        pass

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def release(self, n: int = 1) -> None:
        raise NotImplementedError

    def __enter__(self) -> bool:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError


class Cell(Generic[T], metaclass=_Facade):
    """A variable shared between threads, visible to the model checker.

    Reads and writes of a plain attribute are invisible to the model; reads and
    writes of a ``Cell`` are scheduling points, so races on it are explored
    (and, when asked, reported as data races). In production ``get``/``set``
    are ordinary attribute accesses.
    """

    _factory = "cell"
    __slots__ = ()

    def __init__(self, value: T) -> None:  # pragma: no cover - typing only
        pass

    def get(self) -> T:
        raise NotImplementedError

    def set(self, value: T) -> None:
        raise NotImplementedError


class Thread(metaclass=abc.ABCMeta):  # noqa: B024 - an interface for register()
    """A running thread, as returned by :func:`spawn` and :func:`current_thread`.

    In production this is a :class:`threading.Thread`; identity comparisons
    (``spawn(...) is current_thread()`` inside the thread) hold.
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> None:
        raise NotImplementedError

    def is_alive(self) -> bool:
        raise NotImplementedError


class local(metaclass=_Facade):
    """Thread-local attribute storage (``threading.local`` in production)."""

    _factory = "local"

    def __init__(self) -> None:  # pragma: no cover - typing only
        pass

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - typing only
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:  # pragma: no cover
        object.__setattr__(self, name, value)


ExceptHook = Callable[[Any], object]
"""The process-wide hook for exceptions escaping threads (``threading.excepthook``)."""


class Backend(Protocol):
    """What a backend provides. ``ThreadingBackend`` is the production one."""

    name: str

    def lock(self) -> Lock: ...

    def rlock(self) -> RLock: ...

    def condition(self, lock: Lock | RLock | None = None) -> Condition: ...

    def event(self) -> Event: ...

    def semaphore(self, value: int = 1) -> Semaphore: ...

    def cell(self, value: T) -> Cell[T]: ...

    def local(self) -> local: ...

    def spawn(
        self,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        stack_size: int | None,
    ) -> Thread: ...

    def current_thread(self) -> Thread: ...

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...

    def emit(self, event: str, fields: dict[str, Any]) -> None: ...

    def get_excepthook(self) -> ExceptHook: ...

    def set_excepthook(self, hook: ExceptHook) -> None: ...


# --- the production backend -------------------------------------------------


class _ThreadingCell(Cell[T]):
    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def get(self) -> T:
        return self._value

    def set(self, value: T) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"Cell({self._value!r})"


# threading.stack_size() is process-global: set it, start, restore, all under
# one lock so two spawns with different sizes cannot swap each other's setting.
_stack_size_lock = threading.Lock()

# threading only accepts 0 (platform default) or at least 32 KiB; far larger
# values are accepted by threading.stack_size() but make the thread's start
# fail, so treadle refuses them up front.
MIN_STACK_SIZE = 32 * 1024
MAX_STACK_SIZE = 1 << 30


def check_stack_size(stack_size: object) -> int | None:
    """Validate a thread stack size in bytes; return what to start the thread with.

    Accepted: ``None`` or ``0`` (the platform default; returned as ``None``), or
    an int from :data:`MIN_STACK_SIZE` (32 KiB) to :data:`MAX_STACK_SIZE`
    (1 GiB) inclusive. Checked when the runtime or thread is created, not when
    the thread starts.

    Raises:
        TypeError: not an int (``bool`` is refused) or ``None``.
        ValueError: outside the accepted range.
    """
    if stack_size is None:
        return None
    if isinstance(stack_size, bool) or not isinstance(stack_size, int):
        raise TypeError(f"stack_size must be an int number of bytes or None, not {stack_size!r}")
    if stack_size == 0:
        return None
    if not MIN_STACK_SIZE <= stack_size <= MAX_STACK_SIZE:
        raise ValueError(
            f"stack_size must be 0 or None (platform default) or from {MIN_STACK_SIZE} "
            f"(32 KiB) to {MAX_STACK_SIZE} (1 GiB) bytes, got {stack_size}"
        )
    return stack_size


def check_timeout(timeout: object, param: str = "timeout") -> float | None:
    """Validate a timeout in seconds and return the value to wait with.

    ``None`` means wait forever. So does any timeout above
    :data:`threading.TIMEOUT_MAX` (``math.inf`` included): such a wait cannot
    end by timing out in practice, and threading would raise
    ``OverflowError`` for it, so it is returned as ``None``.

    Raises:
        TypeError: ``timeout`` is not a number (``bool`` is refused).
        ValueError: ``timeout`` is negative or NaN.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{param} must be a number of seconds or None, not {timeout!r}")
    if not timeout >= 0:
        raise ValueError(f"{param} must be a non-negative number of seconds or None, got {timeout}")
    if timeout > threading.TIMEOUT_MAX:
        return None
    return timeout


class ThreadingBackend:
    """The production backend: plain :mod:`threading` and :mod:`time`."""

    name = "threading"

    def lock(self) -> Lock:
        return threading.Lock()  # type: ignore[return-value]

    def rlock(self) -> RLock:
        return threading.RLock()  # type: ignore[return-value]

    def condition(self, lock: Lock | RLock | None = None) -> Condition:
        return threading.Condition(lock)  # type: ignore[arg-type, return-value]

    def event(self) -> Event:
        return threading.Event()  # type: ignore[return-value]

    def semaphore(self, value: int = 1) -> Semaphore:
        return threading.Semaphore(value)  # type: ignore[return-value]

    def cell(self, value: T) -> Cell[T]:
        return _ThreadingCell(value)

    def local(self) -> local:
        return threading.local()  # type: ignore[return-value]

    def spawn(
        self,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        stack_size: int | None,
    ) -> Thread:
        thread = threading.Thread(target=fn, args=args, kwargs=kwargs, name=name)
        if stack_size is None:
            thread.start()
        else:
            with _stack_size_lock:
                # Read, then set inside the try: an interrupt right after a call
                # returns (before its result is stored) must not leave the
                # process-global size changed.
                previous = threading.stack_size()
                try:
                    threading.stack_size(stack_size)
                    thread.start()
                finally:
                    threading.stack_size(previous)
        return thread  # type: ignore[return-value]

    def spawn_into(
        self,
        slot: list[Thread],
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        stack_size: int | None,
    ) -> Thread:
        # See spawn_into() below for why. The thread is in ``slot`` before
        # start() can run it, and an interrupted start() leaves it there
        # only if the OS thread exists (then start-up is finished here, so
        # the owner can join it); otherwise it is taken out again.
        thread = threading.Thread(target=fn, args=args, kwargs=kwargs, name=name)
        try:
            slot.append(thread)  # type: ignore[arg-type]
            if stack_size is None:
                thread.start()
            else:
                with _stack_size_lock:
                    # Read, then set inside the try: an interrupt right after a call
                    # returns (before its result is stored) must not leave the
                    # process-global size changed.
                    previous = threading.stack_size()
                    try:
                        threading.stack_size(stack_size)
                        thread.start()
                    finally:
                        threading.stack_size(previous)
        except BaseException as exc:
            _settle_interrupted_start(slot, thread, exc)
            raise
        return thread  # type: ignore[return-value]

    def current_thread(self) -> Thread:
        return threading.current_thread()  # type: ignore[return-value]

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        pass

    def get_excepthook(self) -> ExceptHook:
        return threading.excepthook

    def set_excepthook(self, hook: ExceptHook) -> None:
        threading.excepthook = hook


def _find_os_start_call() -> int | None:
    """Offset of the call in ``Thread.start`` that makes the OS thread.

    ``threading.Thread.start`` is Python code with signal check points both
    before that call (a ``KeyboardInterrupt`` there: no thread) and after it
    (in ``self._started.wait()``: the thread runs). Only the interrupted
    frame's position tells the two apart.
    """
    call: int | None = None
    seen = False
    for ins in dis.get_instructions(threading.Thread.start):
        if ins.opname == "LOAD_GLOBAL" and ins.argval in (
            "_start_new_thread",
            "_start_joinable_thread",
        ):
            seen = True
        elif seen and ins.opname in ("CALL", "CALL_FUNCTION", "CALL_KW"):
            call = ins.offset
            break
    return call


_START_CODE = threading.Thread.start.__code__
_OS_START_CALL = _find_os_start_call()


def _os_thread_started(thread: threading.Thread, exc: BaseException) -> bool:
    if thread.is_alive() or thread.ident is not None:
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not _START_CODE:
        tb = tb.tb_next
    if tb is None or _OS_START_CALL is None:
        # Raised before start() ran (or an interpreter whose start() we do
        # not recognise: then we cannot tell, and say "not started").
        return False
    if tb.tb_next is not None:
        # Raised in a call start() made: _started.is_set() comes before
        # the OS call, _started.wait() after it.
        return tb.tb_lasti > _OS_START_CALL
    # Raised in start() itself. At the OS call's own offset: the call failed
    # (RuntimeError: can't start new thread) or the check point right after
    # it fired (any other exception: it came from a signal handler).
    if tb.tb_lasti > _OS_START_CALL:
        return True
    return tb.tb_lasti == _OS_START_CALL and not isinstance(exc, (RuntimeError, MemoryError))


def _settle_interrupted_start(
    slot: list[Any], thread: threading.Thread, exc: BaseException
) -> None:
    """Leave ``slot`` telling the truth after ``thread.start()`` raised.

    A second ``KeyboardInterrupt`` while settling is held back and raised
    after ``exc`` (as its context) once the slot is right: settling is
    short and never waits for user code.
    """
    held: BaseException | None = None
    while True:
        try:
            if _os_thread_started(thread, exc):
                # join() refuses a thread whose start-up it has not seen
                # finish; the thread sets _started before running anything.
                thread._started.wait()  # type: ignore[attr-defined]
            else:
                while True:  # not `while thread in slot:` (see task._close_all)
                    if thread not in slot:
                        break
                    slot.remove(thread)
            break
        except KeyboardInterrupt as again:
            held = held or again
    if held is not None:
        raise held from exc


Lock.register(type(threading.Lock()))
RLock.register(type(threading.RLock()))
Condition.register(threading.Condition)
Event.register(threading.Event)
Semaphore.register(threading.Semaphore)
Thread.register(threading.Thread)
local.register(threading.local)


class _State:
    __slots__ = ("backend", "observing")

    def __init__(self) -> None:
        self.backend: Backend = ThreadingBackend()
        # True when the backend wants protocol events; lets emit() return
        # before building anything in production.
        self.observing = False


_state = _State()
_PRODUCTION = _state.backend


def get_backend() -> Backend:
    """Return the backend currently in force."""
    return _state.backend


@contextmanager
def using_backend(backend: Backend, *, observe_events: bool = True) -> Iterator[Backend]:
    """Install ``backend`` for the duration of a ``with`` block.

    The swap is process-wide (the model runs all virtual threads on one OS
    thread), so only one non-production backend may be active at a time.

    Raises:
        RuntimeError: another non-production backend is already installed
            (nested explorations are not supported).
    """
    previous = _state.backend
    if previous is not _PRODUCTION:
        raise RuntimeError(
            f"backend {previous.name!r} is already installed; treadle cannot nest "
            f"explorations or run two at once (tried to install {backend.name!r})"
        )
    previous_observing = _state.observing
    _state.backend = backend
    _state.observing = observe_events
    try:
        yield backend
    finally:
        _state.backend = previous
        _state.observing = previous_observing


def spawn(
    fn: Callable[..., object],
    /,
    *args: Any,
    name: str | None = None,
    stack_size: int | None = None,
    **kwargs: Any,
) -> Thread:
    """Start ``fn(*args, **kwargs)`` on a new thread and return it, already running.

    Args:
        name: the thread's name (shown in traces and ``threading`` listings).
        stack_size: bytes of stack for the new thread (32 KiB to 1 GiB), or
            ``None``/``0`` for the platform default (see :func:`check_stack_size`).

    The caller owns the thread and must ``join`` it. An exception escaping
    ``fn`` goes to ``threading.excepthook`` in production and is reported as a
    failure by the model; code that cares should catch it inside ``fn``.

    Raises:
        TypeError / ValueError: ``fn`` is not callable or ``stack_size`` is bad.
    """
    if not callable(fn):
        raise TypeError(f"spawn() needs a callable, got {fn!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"thread name must be a str or None, not {name!r}")
    return _state.backend.spawn(fn, args, kwargs, name, check_stack_size(stack_size))


def spawn_into(
    slot: list[Thread],
    fn: Callable[..., object],
    /,
    *args: Any,
    name: str | None = None,
    stack_size: int | None = None,
    **kwargs: Any,
) -> Thread:
    """Like :func:`spawn`, but the thread is appended to ``slot`` first.

    Why: ``KeyboardInterrupt`` can be raised on the main thread at every
    signal check point CPython has (a Python function's entry, a loop's
    back-edge, right after a call into C returns, inside a blocking call),
    and ``threading.Thread.start`` has such points after the OS thread
    exists. ``t = spawn(...)`` can therefore raise with a running thread
    nobody holds. Deferring the interrupt (trio's way) needs the SIGINT
    handler, which belongs to the application, so treadle does the other
    thing: the owner's ``slot`` holds the thread *before* it can run, and
    the owner's clean-up (a ``finally`` / ``except BaseException``) joins
    whatever its slot holds, whether or not ``spawn_into`` returned.

    After ``spawn_into`` returns or raises, ``slot`` holds the thread if and
    only if it was started (and is joinable).
    """
    if not callable(fn):
        raise TypeError(f"spawn() needs a callable, got {fn!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"thread name must be a str or None, not {name!r}")
    size = check_stack_size(stack_size)
    backend = _state.backend
    if isinstance(backend, ThreadingBackend) and type(backend).spawn is ThreadingBackend.spawn:
        return backend.spawn_into(slot, fn, args, kwargs, name, size)
    # The model's backend starts a thread in one step, with no check point
    # between it and the append (this module is opaque to its interrupts).
    # A custom backend that overrides spawn() is called as it expects; the
    # append after it is then a check point on real threads.
    thread = backend.spawn(fn, args, kwargs, name, size)
    slot.append(thread)
    return thread


def current_thread() -> Thread:
    """Return the :class:`Thread` running the caller."""
    return _state.backend.current_thread()


def sleep(seconds: float) -> None:
    """Sleep for ``seconds`` (virtual time under the model).

    A length above :data:`threading.TIMEOUT_MAX` (``math.inf`` included)
    sleeps in ``TIMEOUT_MAX`` chunks, that is forever in practice, instead of
    raising ``OverflowError``.

    Raises:
        TypeError / ValueError: ``seconds`` is not a number, or negative or NaN.
    """
    if seconds is None:
        raise TypeError("sleep length must be a number of seconds, not None")
    if check_timeout(seconds, "sleep length") is None:
        while True:
            _state.backend.sleep(threading.TIMEOUT_MAX)
    _state.backend.sleep(seconds)


def monotonic() -> float:
    """A monotonic clock in seconds (virtual under the model)."""
    return _state.backend.monotonic()


def get_excepthook() -> ExceptHook:
    """The hook called for an exception escaping a thread (``threading.excepthook``).

    Process-global state: under the model it is a per-execution slot, so the
    order of installing and removing it relative to joins is checked.
    """
    return _state.backend.get_excepthook()


def set_excepthook(hook: ExceptHook) -> None:
    """Install ``hook`` as the thread-exception hook (see :func:`get_excepthook`)."""
    if not callable(hook):
        raise TypeError(f"excepthook must be callable, got {hook!r}")
    _state.backend.set_excepthook(hook)


def observing() -> bool:
    """True when the active backend records protocol events.

    Hot paths read this once (for example when a channel is created) and skip
    building event fields in production.
    """
    return _state.observing


def emit(event: str, /, **fields: Any) -> None:
    """Record a protocol event for conformance checking; a no-op in production.

    impl code calls this at the points where its protocol takes a step (for
    example ``sync.emit("pump.item", item=x)``). The model replays the events
    of each explored execution as actions of the matching spec.
    """
    if _state.observing:
        _state.backend.emit(event, fields)
