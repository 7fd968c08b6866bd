"""Test-only TaskHandle subclasses that bring back the seed's task bugs.

Each overrides one small method of :class:`~treadle.task.TaskHandle`; the
shipped class has none of these bugs. ``test_task_exhaustive`` shows the
model catching each one with the right failure kind.
"""

from __future__ import annotations

from typing import Any

from treadle.task import TaskHandle

__all__ = ["ClosesWithoutCancel", "Detached"]


class Detached(TaskHandle[Any]):
    """The seed's detached thread: ``wait`` and ``close`` never join it, so the
    task's thread can outlive its handle's owner."""

    def _join(self, by: str) -> None:
        pass


class ClosesWithoutCancel(TaskHandle[Any]):
    """``close`` joins without cancelling first: a task that runs until it is
    told to stop keeps its owner waiting for ever."""

    def cancel(self) -> None:
        pass
