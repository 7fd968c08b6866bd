"""DPOR runs exactly one execution per Mazurkiewicz trace, and never a redundant one here.

The classic counts: N threads writing their own cell have one trace; writing
one shared cell, N! (the order of the writes); read-then-write increments,
(N!)^2; the same increments under one lock, N! (the order of the critical
sections).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

import treadle_model
from treadle import sync


def own_cells(n: int) -> Callable[[], None]:
    def body() -> None:
        cells = [sync.Cell(0) for _ in range(n)]
        threads = [sync.spawn(c.set, 1) for c in cells]
        for t in threads:
            t.join()

    return body


def shared_cell(n: int) -> Callable[[], None]:
    def body() -> None:
        x = sync.Cell(0)
        threads = [sync.spawn(x.set, i) for i in range(n)]
        for t in threads:
            t.join()

    return body


def increments(n: int, *, locked: bool) -> Callable[[], None]:
    def body() -> None:
        x = sync.Cell(0)
        lock = sync.Lock()

        def work() -> None:
            if locked:
                with lock:
                    x.set(x.get() + 1)
            else:
                r = x.get()
                x.set(r + 1)

        threads = [sync.spawn(work) for _ in range(n)]
        for t in threads:
            t.join()

    return body


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_threads_writing_their_own_cell_have_one_execution(n: int) -> None:
    report = treadle_model.explore(own_cells(n))
    assert (report.executions, report.redundant, report.exhaustive) == (1, 0, True)
    assert report.ok


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_threads_writing_one_shared_cell_have_n_factorial_executions(n: int) -> None:
    report = treadle_model.explore(shared_cell(n))
    assert report.executions == math.factorial(n)
    assert report.redundant == 0
    assert report.exhaustive and report.ok


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_unlocked_increments_have_n_factorial_squared_executions(n: int) -> None:
    report = treadle_model.explore(increments(n, locked=False))
    assert report.executions == math.factorial(n) ** 2
    assert report.redundant == 0
    assert report.exhaustive


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_increments_under_one_lock_have_n_factorial_executions(n: int) -> None:
    report = treadle_model.explore(increments(n, locked=True))
    assert report.executions == math.factorial(n)
    assert report.redundant == 0
    assert report.exhaustive and report.ok


def test_the_lost_update_of_unlocked_increments_is_found() -> None:
    def body() -> None:
        x = sync.Cell(0)

        def work() -> None:
            r = x.get()
            x.set(r + 1)

        threads = [sync.spawn(work) for _ in range(2)]
        for t in threads:
            t.join()
        assert x.get() == 2, f"lost update: {x.get()}"

    report = treadle_model.explore(body)
    assert [f.kind for f in report.failures] == ["exception"]
    assert "lost update: 1" in report.failures[0].message


def test_locked_increments_never_lose_an_update() -> None:
    def body() -> None:
        x = sync.Cell(0)
        lock = sync.Lock()

        def work() -> None:
            with lock:
                x.set(x.get() + 1)

        threads = [sync.spawn(work) for _ in range(3)]
        for t in threads:
            t.join()
        assert x.get() == 3

    report = treadle_model.explore(body, stop_on_first=False)
    assert report.ok and report.executions == 6 and report.exhaustive
