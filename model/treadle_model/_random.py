"""Random scheduling: each step runs a uniformly chosen thread (seeded)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["RandomScheduler"]


class RandomScheduler:
    """``max_executions`` random schedules from one seed (same seed, same schedules)."""

    name = "random"
    needs_races = False

    def __init__(self, seed: int, max_executions: int) -> None:
        self.rng = random.Random(seed)
        self.remaining = max_executions

    def new_execution(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        if len(enabled) == 1:
            return enabled[0]
        return enabled[self.rng.randrange(len(enabled))]

    def next_value(self, bound: int) -> int:
        return self.rng.randrange(bound)

    def end_execution(self, ex: Execution) -> None:
        pass

    def exhaustive(self) -> bool:
        return False
