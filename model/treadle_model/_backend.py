"""The controlled backend installed with :func:`treadle.sync.using_backend`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import GreenletExit  # type: ignore[import-untyped,unused-ignore]

from treadle import sync
from treadle_model._ops import K_GETHOOK, K_SETHOOK, K_UNLOAD
from treadle_model._primitives import CCell, CCondition, CEvent, CLocal, CLock, CRLock, CSemaphore
from treadle_model._runtime import Execution, ModelError

T = TypeVar("T")

__all__ = ["ModelBackend"]


class ModelBackend:
    """Hands out controlled primitives bound to the execution that is running."""

    name = "treadle_model"

    def __init__(self) -> None:
        self.ex: Execution | None = None

    def _ex(self) -> Execution:
        ex = self.ex
        if ex is None:
            raise ModelError(
                "treadle.sync was used while the model backend is installed but no execution is "
                "running (create facade objects inside the explored function)"
            )
        return ex

    def lock(self) -> sync.Lock:
        return CLock(self._ex())

    def rlock(self) -> sync.RLock:
        return CRLock(self._ex())

    def condition(self, lock: sync.Lock | sync.RLock | None = None) -> sync.Condition:
        return CCondition(self._ex(), lock)

    def event(self) -> sync.Event:
        return CEvent(self._ex())

    def semaphore(self, value: int = 1) -> sync.Semaphore:
        return CSemaphore(self._ex(), value)

    def cell(self, value: T) -> sync.Cell[T]:
        return CCell(self._ex(), value)

    def local(self) -> sync.local:
        return CLocal(self._ex())

    def spawn(
        self,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        stack_size: int | None,
    ) -> sync.Thread:
        return self._ex().spawn(fn, args, kwargs, name)

    def current_thread(self) -> sync.Thread:
        ex = self._ex()
        th = ex.current
        if th is None:
            if ex.killing or ex.stop:
                # The execution is being torn down (its threads are killed
                # with GreenletExit): clean-up code asking who it is gets the
                # same answer every other facade call gives it.
                raise GreenletExit
            raise ModelError("current_thread() was called outside the explored threads")
        return th

    def sleep(self, seconds: float) -> None:
        self._ex().sleep(seconds)

    def monotonic(self) -> float:
        return self._ex().monotonic()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        ex = self.ex
        if ex is not None:
            ex.emit(event, fields)

    def get_excepthook(self) -> sync.ExceptHook:
        return self._ex().op(K_GETHOOK, None, None)  # type: ignore[no-any-return]

    def set_excepthook(self, hook: sync.ExceptHook) -> None:
        self._ex().op(K_SETHOOK, None, hook)

    def unload(self, label: str) -> None:
        self._ex().op(K_UNLOAD, None, label)
