"""Hypothesis strategies for schedules, so a failing schedule shrinks.

A schedule is a list of non-negative ints: at each scheduling point with more
than one runnable thread, the number picks one (by age, wrapping around).
Shrinking a list towards zeros shrinks towards "keep running the oldest
runnable thread", i.e. towards fewer preemptions, so hypothesis reports the
simplest interleaving it found that still fails::

    from hypothesis import given
    from treadle_model.strategies import schedules, run_schedule

    @given(schedules())
    def test_counter_is_atomic(schedule: list[int]) -> None:
        run_schedule(racy_counter, schedule)   # raises AssertionError on failure

Use this for programs too big to explore exhaustively; ``explore`` with the
default strategy remains the proof for small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

__all__ = ["run_schedule", "schedules"]


def schedules(*, max_length: int = 200, max_choice: int = 7) -> st.SearchStrategy[list[int]]:
    """Lists of thread choices, shrinking towards fewer preemptions.

    Args:
        max_length: how many scheduling decisions the list covers (later
            decisions run the oldest runnable thread).
        max_choice: the largest choice drawn (choices wrap around the number
            of runnable threads).
    """
    if max_length < 0 or max_choice < 0:
        raise ValueError("max_length and max_choice must be >= 0")
    return st.lists(st.integers(min_value=0, max_value=max_choice), max_size=max_length)


def run_schedule(body: Callable[[], object], schedule: list[int], **options: Any) -> Any:
    """Run ``body`` once along ``schedule``; raise AssertionError if it fails.

    Returns the model's report when the execution passed. ``options`` are
    those of :func:`treadle_model.explore` that apply to one execution
    (``max_steps``, ``spurious_wakeups``, ``timeouts``, ``invariant``,
    ``detect_races``, ``monitor``).
    """
    from treadle_model._explore import run_choices

    report = run_choices(body, list(schedule), **options)
    if report.failures:
        failure = report.failures[0]
        raise AssertionError(f"{failure}\n(hypothesis schedule: {schedule!r})")
    return report
