"""The scheduler protocol every strategy implements (one strategy per module).

An exploration asks its scheduler for a new execution, then at every step for
the thread to run next (from the threads that can run), and tells it when the
execution is over. That is all a strategy sees, as in shuttle: DPOR
(:mod:`._dpor`), bounded DFS (:mod:`._dfs`), random (:mod:`._random`), PCT
(:mod:`._pct`) and replay (:mod:`._replay`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["Scheduler", "default_choice"]


class Scheduler(Protocol):
    """How an exploration chooses interleavings."""

    name: str
    #: True when the strategy needs the runtime to record races (DPOR).
    needs_races: bool

    def new_execution(self) -> bool:
        """Prepare the next execution; False when there is nothing left to explore."""
        ...

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        """The thread to run next, from ``enabled`` (None abandons the execution)."""
        ...

    def next_value(self, bound: int) -> int:
        """Draw a value in ``range(bound)`` (used for choices that are not threads)."""
        ...

    def end_execution(self, ex: Execution) -> None:
        """The execution is over (finished, deadlocked, failed or abandoned)."""
        ...

    def exhaustive(self) -> bool:
        """True once every interleaving the strategy is meant to cover has been run."""
        ...


def default_choice(ex: Execution, enabled: list[VThread]) -> VThread:
    """Keep running the thread that ran last if it can; otherwise the oldest thread."""
    events = ex.events
    if events:
        last: VThread = events[-1].th
        for th in enabled:
            if th is last:
                return th
    best = enabled[0]
    for th in enabled:
        if th.index < best.index:
            best = th
    return best
