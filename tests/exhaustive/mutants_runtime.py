"""Test-only Runtime subclasses that bring back historical shutdown bugs.

Each overrides one of the seams ``Runtime`` documents for this purpose
(``_shutdown_steps``, ``_receive``, ``_join_worker``, ``_await_shut_down``);
the shipped class has none of these bugs. ``test_runtime_exhaustive`` shows
the model catching each one with the right failure kind.
"""

from __future__ import annotations

from treadle import sync
from treadle.channel import Disconnected, Empty, Receiver
from treadle.runtime import Runtime, _Job, _Shutdown

__all__ = [
    "HookBeforeJoin",
    "PollingReceive",
    "PollingShutdown",
    "ReturnsWithoutJoin",
    "SkipsTheWait",
]

POLL_SECONDS = 0.25
"""The seed's polling interval."""


class HookBeforeJoin(Runtime):
    """The hook is uninstalled before the worker is joined.

    A worker that raised while winding down would find no hook (the seed's
    crash on exit); the events announce the hook's removal while the spec's
    shutdown is still waiting to join.
    """

    def _shutdown_steps(self, deferred: list[BaseException]) -> None:
        self._send_shutdown(deferred)
        self._close_channel()
        self._uninstall_hook()
        self._join_worker(deferred)


class ReturnsWithoutJoin(Runtime):
    """``shutdown`` never joins the worker: it may still be running when shutdown returns."""

    def _join_worker(self, deferred: list[BaseException]) -> None:
        pass


class PollingShutdown(Runtime):
    """The seed's old design: the worker polls its channel every 250 ms and checks a
    stop flag; ``shutdown`` sets the flag, uninstalls the hook and returns without
    sending anything or joining."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = sync.Cell(False)

    def _receive(self, rx: Receiver[_Job | _Shutdown]) -> _Job | _Shutdown | None:
        while not self._stop.get():
            try:
                return rx.recv(timeout=POLL_SECONDS)
            except Empty:
                continue
            except Disconnected:
                return None
        return None

    def _shutdown_steps(self, deferred: list[BaseException]) -> None:
        self._stop.set(True)
        self._uninstall_hook()


class PollingReceive(Runtime):
    """Only the worker's wait is a poll (every 250 ms, no stop flag); the shutdown
    protocol is otherwise the shipped one. Correct, but it never sleeps for good:
    the worker wakes up four times a second for as long as it is idle."""

    def _receive(self, rx: Receiver[_Job | _Shutdown]) -> _Job | _Shutdown | None:
        while True:
            try:
                return rx.recv(timeout=POLL_SECONDS)
            except Empty:
                continue
            except Disconnected:
                return None


class SkipsTheWait(Runtime):
    """A ``shutdown`` that finds another in progress returns at once instead of
    waiting for it (the seed's ``WORKER.lock().take()`` returning ``None``)."""

    def _await_shut_down(self, on_main: bool) -> None:
        pass
