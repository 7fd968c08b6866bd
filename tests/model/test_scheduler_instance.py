"""``explore(strategy=<scheduler object>)``: a user's own scheduler drives the exploration."""

from __future__ import annotations

from typing import Any

import pytest

from treadle import sync
from treadle_model import explore
from treadle_model._dpor import DPOR
from treadle_model._scheduler import default_choice


def two_writers() -> None:
    x = sync.Cell(0)
    ts = [sync.spawn(x.set, i) for i in range(2)]
    for t in ts:
        t.join()


class FirstOnly:
    """Runs exactly one execution, always keeping the last thread: a minimal scheduler."""

    name = "first-only"
    needs_races = False

    def __init__(self) -> None:
        self.runs = 0
        self.steps = 0

    def new_execution(self) -> bool:
        return self.runs == 0

    def next_thread(self, ex: Any, enabled: list[Any]) -> Any:
        self.steps += 1
        return default_choice(ex, enabled)

    def next_value(self, bound: int) -> int:
        return 0

    def end_execution(self, ex: Any) -> None:
        self.runs += 1

    def exhaustive(self) -> bool:
        return False


def test_a_scheduler_object_is_used() -> None:
    mine = FirstOnly()
    report = explore(two_writers, strategy=mine)
    assert report.executions == 1 and mine.runs == 1 and mine.steps > 0
    assert not report.exhaustive
    assert report.strategy == "first-only"


def test_a_dpor_instance_gives_the_named_strategy_counts() -> None:
    assert explore(two_writers, strategy=DPOR()).executions == explore(two_writers).executions == 2


def test_a_non_scheduler_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(TypeError, match=r"has no new_execution\(\), next_thread\(\)"):
        explore(two_writers, strategy=object())


def test_interrupts_need_a_named_strategy() -> None:
    with pytest.raises(ValueError, match="needs a named strategy"):
        explore(two_writers, strategy=FirstOnly(), interrupt_main=True)
