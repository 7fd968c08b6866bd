"""Classic threading bugs written with the plain stdlib are found; their fixes pass exhaustively."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import treadle_model
from tests.model import plain_programs as pp
from treadle import sync
from treadle_model import _explore

BUGS: list[tuple[Callable[[], None], str, str, dict[str, Any]]] = [
    (pp.if_instead_of_while_bug, "exception", "IndexError", {}),
    (pp.notify_instead_of_notify_all_bug, "deadlock", "never notified", {}),
    (pp.lock_order_inversion_bug, "deadlock", "waits to acquire", {}),
    (pp.bounded_buffer_wrong_condition_bug, "lost_wakeup", "lost wakeup", {}),
    (pp.thread_left_running_bug, "leaked_thread", "'flusher' was still alive", {}),
    (pp.semaphore_released_twice_bug, "exception", "two threads hold", {}),
    (pp.bounded_semaphore_released_twice_bug, "exception", "released too many times", {}),
    (pp.queue_pipeline_bug, "lost_wakeup", "waits forever", {}),
    (pp.sleep_outlasts_bug, "exception", "warm-up had not finished", {"timeouts": "always"}),
    (pp.thread_pool_lost_update_bug, "exception", "lost update", {}),
]

FIXED: list[tuple[Callable[[], None], dict[str, Any]]] = [
    (pp.if_instead_of_while_fixed, {}),
    (pp.notify_instead_of_notify_all_fixed, {}),
    (pp.lock_order_inversion_fixed, {}),
    (pp.bounded_buffer_wrong_condition_fixed, {}),
    (pp.thread_left_running_fixed, {}),
    (pp.semaphore_released_twice_fixed, {}),
    (pp.queue_pipeline_fixed, {}),
    (pp.queue_join_pipeline, {}),
    (pp.sleep_outlasts_fixed, {"timeouts": "always"}),
    (pp.thread_pool_lost_update_fixed, {}),
]


@pytest.mark.parametrize(
    ("body", "kind", "fragment", "options"), BUGS, ids=lambda v: getattr(v, "__name__", "")
)
def test_a_plain_threading_bug_is_found(
    body: Callable[[], None], kind: str, fragment: str, options: dict[str, Any]
) -> None:
    report = treadle_model.explore(body, **options)
    assert not report.ok, f"{body.__name__} passed: {report}"
    failure = report.failures[0]
    assert failure.kind == kind, str(failure)
    assert fragment in failure.message, str(failure)
    # The schedule replays the same failure.
    again = treadle_model.replay(body, failure.schedule, **options)
    assert again.failures and again.failures[0].kind == kind


@pytest.mark.parametrize(("body", "options"), FIXED, ids=lambda v: getattr(v, "__name__", ""))
def test_the_fixed_version_passes_exhaustively(
    body: Callable[[], None], options: dict[str, Any]
) -> None:
    report = treadle_model.explore(body, **options)
    assert report.ok, str(report)
    assert report.exhaustive
    assert not report.nothing_to_interleave
    assert report.redundant == 0


def test_sleep_order_bug_is_not_found_when_sleeps_end_only_when_stuck() -> None:
    # With the default timeouts the shorter sleep always ends first, as the
    # program assumes; timeouts="always" is what questions the assumption.
    assert treadle_model.explore(pp.sleep_outlasts_bug).ok


def _sync_lockers(n: int) -> None:
    lock = sync.Lock()

    def take() -> None:
        with lock:
            pass

    ts = [sync.spawn(take) for _ in range(n)]
    for t in ts:
        t.join()


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_threads_taking_a_threading_lock_once_give_n_factorial(n: int) -> None:
    plain = treadle_model.explore(lambda: pp.n_lockers(n))
    facade = treadle_model.explore(lambda: _sync_lockers(n))
    assert plain.ok and plain.exhaustive
    assert plain.executions == math.factorial(n) == facade.executions
    assert plain.redundant == facade.redundant == 0
    assert plain.steps == facade.steps  # the same operations, step for step


def test_a_lock_created_at_import_time_is_uncontrolled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_explore, "LOCK_STALL_SECONDS", 0.5)
    report = treadle_model.explore(pp.import_time_lock)
    assert not report.ok
    failure = report.failures[0]
    assert failure.kind == "uncontrolled", str(failure)
    assert "threading.Lock 'IMPORT_TIME_LOCK'" in failure.message
    assert "plain_programs.py:" in failure.message
    assert "create it inside the explored function" in failure.message
    assert "instrument=" in failure.message
    assert not pp.IMPORT_TIME_LOCK.locked()


def test_an_event_created_at_import_time_is_uncontrolled_at_once() -> None:
    report = treadle_model.explore(pp.import_time_event)
    failure = report.failures[0]
    assert failure.kind == "uncontrolled", str(failure)
    assert "threading.Event created before the exploration" in failure.message


def test_a_single_thread_body_says_nothing_to_interleave() -> None:
    report = treadle_model.explore(pp.single_thread)
    assert report.ok
    assert report.nothing_to_interleave
    assert "nothing to interleave" in str(report)
    assert "exhaustive" not in str(report)
    threaded = treadle_model.explore(pp.lock_order_inversion_fixed)
    assert not threaded.nothing_to_interleave
    assert ", exhaustive," in str(threaded)


def _lock_order_fails(schedule: list[int]) -> bool:
    from treadle_model.strategies import run_schedule

    try:
        run_schedule(pp.lock_order_inversion_bug, schedule)
    except AssertionError as exc:
        return "deadlock" in str(exc)
    return False


def test_hypothesis_schedules_find_the_plain_lock_order_inversion() -> None:
    from hypothesis import HealthCheck, find, settings

    from treadle_model.strategies import schedules

    found = find(
        schedules(),
        _lock_order_fails,
        settings=settings(max_examples=500, database=None, suppress_health_check=list(HealthCheck)),
    )
    assert _lock_order_fails(found)
