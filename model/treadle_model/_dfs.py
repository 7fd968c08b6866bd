"""Bounded depth-first search over every interleaving (no reduction).

Every schedule is run, optionally only those with at most ``preemption_bound``
preemptions (switching away from a thread that could have continued), the
CHESS/shuttle iterative context bounding. Without a bound this enumerates
every interleaving, which makes it the reference the DPOR counts are checked
against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle_model._runtime import CLOCK_TID

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["DFS"]


class DFS:
    """Depth-first enumeration of schedules, current thread first."""

    name = "dfs"
    needs_races = False

    def __init__(self, preemption_bound: int | None = None) -> None:
        self.bound = preemption_bound
        # Per position: the candidate thread ids, the index chosen, and the
        # preemptions used before this position.
        self.stack: list[list[Any]] = []
        self.pos = 0
        self.preemptions = 0
        self.done = False
        self.pruned = False

    def new_execution(self) -> bool:
        if self.done:
            return False
        self.pos = 0
        self.preemptions = 0
        return True

    def next_value(self, bound: int) -> int:
        return 0

    def exhaustive(self) -> bool:
        return self.done and not self.pruned

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        k = self.pos
        self.pos = k + 1
        events = ex.events
        last = events[-1].th if events else None
        last_enabled = last is not None and last in enabled and last.tid != CLOCK_TID
        if k < len(self.stack):
            entry = self.stack[k]
            options: list[int] = entry[0]
            tid = options[entry[1]]
            for th in enabled:
                if th.tid == tid:
                    break
            else:
                ex.abort(
                    "nondeterminism",
                    f"the same schedule ran differently at step {k}: a thread that ran there "
                    "before could not run; the explored code depends on something the model "
                    "does not control",
                )
                return None
            if last_enabled and th is not last:
                self.preemptions += 1
            return th
        ordered = sorted(enabled, key=lambda t: (t is not last, t.index))
        options = []
        for th in ordered:
            preempts = last_enabled and th is not last
            if self.bound is not None and preempts and self.preemptions + 1 > self.bound:
                self.pruned = True
                continue
            options.append(th.tid)
        self.stack.append([options, 0])
        chosen = ordered[0]
        if last_enabled and chosen is not last:
            self.preemptions += 1
        return chosen

    def end_execution(self, ex: Execution) -> None:
        if ex.aborted:
            self.done = True
            return
        del self.stack[self.pos :]
        stack = self.stack
        while stack:
            entry = stack[-1]
            options = entry[0]
            i: int = entry[1]
            if i + 1 < len(options):
                entry[1] = i + 1
                return
            stack.pop()
        self.done = True
