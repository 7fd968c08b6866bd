"""Hypothesis drives schedules and shrinks a failing one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings

from tests.integration.programs import locked_counter, racy_counter
from treadle_model.strategies import run_schedule, schedules


def _fails(schedule: list[int]) -> bool:
    try:
        run_schedule(racy_counter, schedule)
    except AssertionError:
        return True
    return False


def test_hypothesis_finds_the_lost_update_and_shrinks_the_schedule() -> None:
    found = find(
        schedules(),
        _fails,
        settings=settings(max_examples=500, database=None, suppress_health_check=list(HealthCheck)),
    )
    # A minimal failing schedule: one switch in the middle of the first bump.
    assert _fails(found)
    assert len(found) <= 8 and sum(1 for c in found if c) <= 2, found


@given(schedules())
@settings(max_examples=50, database=None, deadline=None)
def test_a_correct_program_passes_every_drawn_schedule(schedule: list[int]) -> None:
    run_schedule(locked_counter, schedule)


def test_schedules_rejects_negative_bounds() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        schedules(max_length=-1)
