"""Replay: run exactly one schedule, step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from treadle_model._scheduler import default_choice

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["Replay"]


class Replay:
    """Follows a recorded schedule (thread indices; -1 is the clock), then the default choice."""

    name = "replay"
    needs_races = False

    def __init__(self, steps: list[int], *, strict: bool = True) -> None:
        self.steps = steps
        self.strict = strict
        self.ran = False

    def new_execution(self) -> bool:
        if self.ran:
            return False
        self.ran = True
        return True

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        k = len(ex.events)
        if k < len(self.steps):
            want = self.steps[k]
            for th in enabled:
                if th.index == want:
                    return th
            if self.strict:
                names = ", ".join(f"{t.index} ({t.name})" for t in enabled)
                ex.abort(
                    "nondeterminism",
                    f"the schedule asks for thread {want} at step {k} but only {names} can run "
                    "there: the explored code behaves differently from the run that produced "
                    "this schedule (it depends on something the model does not control, or "
                    "the code or the options changed)",
                )
                return None
        return default_choice(ex, enabled)

    def next_value(self, bound: int) -> int:
        return 0

    def end_execution(self, ex: Execution) -> None:
        pass

    def exhaustive(self) -> bool:
        return False


class Choices:
    """Follows a list of choice numbers (index into the runnable threads, by age).

    Beyond the list, or for a number past the end, the choice wraps around, so
    any list of non-negative ints is a valid schedule; shrinking the list
    towards zeros shrinks towards "run the oldest runnable thread".
    """

    name = "choices"
    needs_races = False

    def __init__(self, choices: list[int]) -> None:
        self.choices = choices
        self.ran = False

    def new_execution(self) -> bool:
        if self.ran:
            return False
        self.ran = True
        return True

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        k = len(ex.events)
        if len(enabled) == 1:
            return enabled[0]
        ordered = sorted(enabled, key=lambda t: t.index)
        c = self.choices[k] if k < len(self.choices) else 0
        return ordered[c % len(ordered)]

    def next_value(self, bound: int) -> int:
        return 0

    def end_execution(self, ex: Execution) -> None:
        pass

    def exhaustive(self) -> bool:
        return False
