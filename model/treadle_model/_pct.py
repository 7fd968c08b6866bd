"""PCT: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

Each thread gets a random priority when it first appears and the highest
priority runnable thread runs. At ``depth - 1`` random steps the running
thread's priority drops below every initial one, which finds any bug of depth
``d`` with probability at least ``1 / (n * k^(d-1))``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["PCT"]


class PCT:
    """Seeded PCT schedules (same seed, same schedules)."""

    name = "pct"
    needs_races = False

    def __init__(self, seed: int, max_executions: int, depth: int = 3) -> None:
        self.rng = random.Random(seed)
        self.remaining = max_executions
        self.depth = max(1, depth)
        self.steps_estimate = 64
        self.priorities: dict[int, float] = {}
        self.change_points: dict[int, int] = {}

    def new_execution(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        self.priorities = {}
        k = max(self.steps_estimate, self.depth)
        points = self.rng.sample(range(1, k + 1), self.depth - 1) if self.depth > 1 else []
        self.change_points = {p: i for i, p in enumerate(sorted(points))}
        return True

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        prio = self.priorities
        for th in enabled:
            if th.tid not in prio:
                prio[th.tid] = self.depth + self.rng.random()
        best = max(enabled, key=lambda t: (prio[t.tid], -t.index))
        step = len(ex.events)
        change = self.change_points.get(step)
        if change is not None:
            prio[best.tid] = (self.depth - 1 - change) * 0.5
            best = max(enabled, key=lambda t: (prio[t.tid], -t.index))
        return best

    def next_value(self, bound: int) -> int:
        return self.rng.randrange(bound)

    def end_execution(self, ex: Execution) -> None:
        self.steps_estimate = max(self.steps_estimate, len(ex.events))

    def exhaustive(self) -> bool:
        return False
