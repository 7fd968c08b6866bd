"""DPOR against brute force: the same Mazurkiewicz traces, each exactly once.

Random small programs over every primitive (cells, locks, events, semaphores,
conditions with and without timeouts, sleeps) run under plain DFS, which
enumerates every interleaving, and under DPOR. The set of equivalence classes
(each execution named by its events and their happens-before predecessors)
must be the same, and DPOR must not run any class twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

import treadle_model
from tests.model.programs import Instr, build, canonical, random_program
from treadle_model import _explore

DFS_CAP = 2500


def _classes(body: Callable[[], None], **options: Any) -> tuple[list[Any], treadle_model.Report]:
    seen: list[Any] = []

    def observe(ex: Any) -> None:
        duplicate = ex.variant is not None and not ex.interrupted
        if not ex.redundant and not duplicate:
            seen.append(canonical(ex))

    _explore._observer = observe
    try:
        report = treadle_model.explore(body, stop_on_first=False, **options)
    finally:
        _explore._observer = None
    return seen, report


def _check(progs: list[list[Instr]], main_ops: list[Instr] | None, **options: Any) -> None:
    body = build(progs, main_ops=main_ops)
    every, brute = _classes(body, strategy="dfs", max_executions=DFS_CAP, **options)
    if not brute.exhaustive:
        return  # too big for brute force; other seeds cover it
    explored, report = _classes(body, **options)
    assert report.exhaustive
    assert len(explored) == len(set(explored)), f"a class was explored twice: {progs}"
    assert set(explored) == set(every), f"classes differ for {progs} / main {main_ops}"
    assert report.executions == len(set(every))


OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"timeouts": "always"},
    {"timeouts": "never"},
    {"spurious_wakeups": True},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("seed", range(12))
def test_dpor_explores_each_trace_exactly_once_two_threads(
    seed: int, options: dict[str, Any]
) -> None:
    progs = random_program(random.Random(seed), threads=2, length=3)
    _check(progs, None, **options)


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("seed", range(300, 306))
def test_dpor_explores_each_trace_exactly_once_with_rlocks_timeouts_and_nesting(
    seed: int, options: dict[str, Any]
) -> None:
    # RLocks, a semaphore of 2, timed acquires and waits, wait_for,
    # monotonic, and threads that spawn and join their own threads.
    progs = random_program(random.Random(seed), threads=2, length=3, extended=True)
    _check(progs, None, **options)


@pytest.mark.parametrize("seed", range(100, 112))
def test_dpor_explores_each_trace_exactly_once_with_a_busy_main(seed: int) -> None:
    progs = random_program(random.Random(seed), threads=3, length=2)
    _check(progs[1:], progs[0])


@pytest.mark.parametrize("seed", range(200, 206))
def test_dpor_explores_each_trace_exactly_once_with_interrupts(seed: int) -> None:
    progs = random_program(random.Random(seed), threads=3, length=2)
    _check(progs[1:], progs[0], interrupt_main=True)


def test_a_program_where_blocking_crosses_a_clock_step_is_explored_completely() -> None:
    # A thread blocked on a lock while the clock advances can still race
    # with the acquire that blocked it (found by the random search, seed 1090).
    progs: list[list[Instr]] = [
        [("with", 0, [("ewait",), ("incr", 1)]), ("locked", 1)],
        [("with", 0, [("eclear",), ("eset",)]), ("incr", 1), ("locked", 0)],
        [("sleep", 1.0)],
    ]
    _check(progs, None)


def test_two_waiters_competing_for_one_spurious_wakeup_are_explored_completely() -> None:
    progs: list[list[Instr]] = [
        [("with", 1, [("cwait", 1.0), ("srel",)]), ("with", 0, [("incr", 1)]), ("ewait",)],
        [("cwait", 1.0)],
    ]
    _check(progs, None, spurious_wakeups=True)
