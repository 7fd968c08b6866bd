"""The other strategies (DFS, random, PCT), schedules, reports and check()."""

from __future__ import annotations

import itertools
import math

import pytest

import treadle_model
from treadle import sync
from treadle_model._schedule import decode, encode


def lost_update() -> None:
    x = sync.Cell(0)

    def work() -> None:
        r = x.get()
        x.set(r + 1)

    ts = [sync.spawn(work) for _ in range(3)]
    for t in ts:
        t.join()
    assert x.get() == 3, "lost update"


def two_writers() -> None:
    x = sync.Cell(0)
    ts = [sync.spawn(x.set, i) for i in range(2)]
    for t in ts:
        t.join()


def test_dfs_runs_every_interleaving() -> None:
    report = treadle_model.explore(two_writers, strategy="dfs")
    # main: 2 spawns, 2 joins, exit; each writer: set, exit. Interleavings of
    # the writers' 2 steps each, with main's joins waiting for them.
    dpor = treadle_model.explore(two_writers)
    assert report.exhaustive and report.ok
    assert report.executions > dpor.executions == 2


def test_dfs_with_a_preemption_bound_runs_fewer_schedules_and_is_not_exhaustive() -> None:
    full = treadle_model.explore(lost_update, strategy="dfs", stop_on_first=False)
    bounded = treadle_model.explore(
        lost_update, strategy="dfs", preemption_bound=1, stop_on_first=False
    )
    assert bounded.executions < full.executions
    assert full.exhaustive and not bounded.exhaustive
    assert not bounded.ok  # one preemption is enough for a lost update
    zero = treadle_model.explore(lost_update, strategy="dfs", preemption_bound=0)
    assert zero.ok


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_sampling_strategies_find_the_lost_update_and_are_reproducible(strategy: str) -> None:
    a = treadle_model.explore(lost_update, strategy=strategy, seed=3, max_executions=200)
    b = treadle_model.explore(lost_update, strategy=strategy, seed=3, max_executions=200)
    assert not a.ok and not a.exhaustive
    assert (a.executions, a.failures[0].schedule) == (b.executions, b.failures[0].schedule)
    again = treadle_model.replay(lost_update, a.failures[0].schedule)
    assert [f.kind for f in again.failures] == ["exception"]


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_sampling_strategies_run_max_executions(strategy: str) -> None:
    report = treadle_model.explore(two_writers, strategy=strategy, max_executions=25)
    assert report.executions == 25 and report.ok


def test_max_executions_stops_dpor_early_and_says_it_was_not_exhaustive() -> None:
    report = treadle_model.explore(lost_update, max_executions=3, stop_on_first=False)
    assert report.executions == 3 and not report.exhaustive


def test_stop_on_first_false_keeps_going_and_counts_every_failing_execution() -> None:
    report = treadle_model.explore(lost_update, stop_on_first=False)
    assert report.exhaustive
    assert report.executions == math.factorial(3) ** 2
    assert 0 < report.failed_executions < report.executions
    assert len(report.failures) == min(report.failed_executions, 50)


def test_schedules_round_trip_through_their_string_form() -> None:
    steps = [0, 0, 0, 1, 2, 2, -1, 0]
    assert encode(steps) == "0*3,1,2*2,t,0"
    assert decode("0*3,1,2*2,t,0") == (steps, None)
    assert encode(steps, 4) == "i4:0*3,1,2*2,t,0"
    assert decode("i4:0*3,1,2*2,t,0") == (steps, 4)
    assert decode(encode([])) == ([], None)
    with pytest.raises(ValueError, match="bad schedule"):
        decode("0,x")
    with pytest.raises(TypeError):
        decode(3)  # type: ignore[arg-type]


def test_a_failure_trace_uses_few_preemptions() -> None:
    report = treadle_model.explore(lost_update)
    failure = report.failures[0]
    threads = [line.split()[1] for line in failure.trace if line.strip()[:1].isdigit()]
    switches = sum(1 for a, b in itertools.pairwise(threads) if a != b)
    assert switches <= 6, failure.trace


def test_report_text_and_assert_ok_show_the_trace_and_the_replay_call() -> None:
    report = treadle_model.explore(lost_update)
    text = str(report)
    assert "treadle_model (dpor)" in text and "executions" in text
    assert "lost update" in text and "replay with: treadle_model.replay(" in text
    with pytest.raises(AssertionError, match="lost update") as info:
        report.assert_ok()
    assert "trace:" in str(info.value) and "schedule:" in str(info.value)
    ok = treadle_model.explore(two_writers)
    ok.assert_ok()
    assert "ok" in str(ok)


def test_check_raises_for_a_failing_program_and_returns_the_report_otherwise() -> None:
    with pytest.raises(AssertionError, match="lost update"):
        treadle_model.check(lost_update)
    assert treadle_model.check(two_writers).executions == 2


def test_progress_is_reported() -> None:
    seen: list[tuple[int, float]] = []
    treadle_model.explore(two_writers, progress=lambda n, t: seen.append((n, t)))
    assert seen and seen[-1][0] == 2
