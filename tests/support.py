"""Helpers shared by the tests: observing threads without sleeping blindly.

``wait_until`` polls a condition the test can observe (a channel's
statistics, an executor's queue) instead of sleeping "long enough"; it fails
loudly if the condition never holds. ``Background`` runs a call on a thread
and hands back its outcome. ``recording`` installs a production backend that
also records protocol events.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from treadle import sync

T = TypeVar("T")


def wait_until(condition: Callable[[], object], *, timeout: float = 10.0, what: str = "") -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.0005)


class Background(Generic[T]):
    """Run ``fn(*args)`` on a new thread; ``outcome()`` joins and returns or raises."""

    def __init__(self, fn: Callable[..., T], *args: Any, name: str = "test-background") -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name)
        self._thread.start()

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        try:
            self._result = fn(*args)
        except BaseException as exc:
            self._error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def still_running_after(self, seconds: float) -> bool:
        """True if the call has not finished within ``seconds`` (a negative check)."""
        self._thread.join(seconds)
        return self._thread.is_alive()

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "background call did not finish"

    def outcome(self, timeout: float = 10.0) -> T:
        self.join(timeout)
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def error(self, timeout: float = 10.0) -> BaseException | None:
        self.join(timeout)
        return self._error


@contextmanager
def interrupt_main_when(condition: Callable[[], object]) -> Iterator[threading.Event]:
    """Deliver a real SIGINT to the main thread once ``condition()`` holds.

    The main thread gets exactly one ``KeyboardInterrupt``. SIGINT is sent
    again until it arrives: CPython only acts on a signal when the main
    thread next checks for one, and a signal that lands just before a
    blocking lock wait is not noticed until the wait is interrupted again.
    Yields an event that is set once the interrupt was raised.
    """
    assert threading.current_thread() is threading.main_thread()
    fired = threading.Event()
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if not fired.is_set():
            fired.set()
            raise KeyboardInterrupt

    def kick() -> None:
        wait_until(lambda: condition() or stop.is_set(), what="the moment to interrupt")
        while not stop.is_set():
            signal.pthread_kill(main, signal.SIGINT)
            if fired.wait(0.05):
                return

    main = threading.main_thread().ident or 0
    previous = signal.signal(signal.SIGINT, handler)
    kicker = threading.Thread(target=kick, name="test-interrupter")
    kicker.start()
    try:
        yield fired
    finally:
        stop.set()
        kicker.join()
        signal.signal(signal.SIGINT, previous)


class RecordingBackend(sync.ThreadingBackend):
    """The production backend, plus a thread-safe log of protocol events."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((event, fields))

    def names(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [name for name, _ in self.events if name.startswith(prefix)]

    def matching(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [fields for event, fields in self.events if event == name]


@contextmanager
def recording() -> Iterator[RecordingBackend]:
    """Install a :class:`RecordingBackend` for a ``with`` block."""
    backend = RecordingBackend()
    with sync.using_backend(backend):
        yield backend
