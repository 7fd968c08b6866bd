"""Every failure kind is caught on a deliberately broken program, and replays exactly."""

from __future__ import annotations

import _thread
import itertools
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

import treadle_model
from treadle import sync
from treadle.channel import channel
from treadle_model import Failure, Report, _explore

# Kept out of module globals so the exploration's patching does not replace it.
_REAL: dict[str, Any] = {"start_new_thread": _thread.start_new_thread}


def _only(report: Report, kind: str) -> Failure:
    assert not report.ok, "the broken program was not caught"
    failure = report.failures[0]
    assert failure.kind == kind, str(failure)
    return failure


def _replays(body: Callable[[], object], failure: Failure, **options: Any) -> None:
    again = treadle_model.replay(body, failure.schedule, **options)
    assert again.executions == 1
    assert [f.kind for f in again.failures] == [failure.kind]
    assert again.failures[0].message == failure.message
    assert again.failures[0].schedule == failure.schedule
    assert "treadle_model.replay(" in failure.replay_call
    assert failure.schedule in failure.replay_call


# --- deadlock ---------------------------------------------------------------


def lock_order_inversion() -> None:
    a, b = sync.Lock(), sync.Lock()

    def one() -> None:
        with a, b:
            pass

    def two() -> None:
        with b, a:
            pass

    t1 = sync.spawn(one, name="one")
    t2 = sync.spawn(two, name="two")
    t1.join()
    t2.join()


def test_lock_order_inversion_is_a_deadlock_naming_both_locks() -> None:
    failure = _only(treadle_model.explore(lock_order_inversion), "deadlock")
    assert "'one' waits to acquire Lock#2 (held by 'two')" in failure.message
    assert "'two' waits to acquire Lock#1 (held by 'one')" in failure.message
    assert any("acquire Lock#1" in line for line in failure.trace)
    assert any("test_failure_kinds.py" in line for line in failure.trace)
    _replays(lock_order_inversion, failure)


def test_the_same_locks_in_the_same_order_never_deadlock() -> None:
    def body() -> None:
        a, b = sync.Lock(), sync.Lock()

        def work() -> None:
            with a, b:
                pass

        ts = [sync.spawn(work) for _ in range(3)]
        for t in ts:
            t.join()

    report = treadle_model.explore(body)
    assert report.ok and report.exhaustive and report.executions == 6


# --- lost wakeups -----------------------------------------------------------


def flag_checked_outside_the_lock() -> None:
    cond = sync.Condition(sync.Lock())
    ready = sync.Cell(False)

    def waiter() -> None:
        if not ready.get():  # BUG: checked without the lock, and only once
            with cond:
                cond.wait()

    def notifier() -> None:
        with cond:
            ready.set(True)
            cond.notify()

    w = sync.spawn(waiter, name="waiter")
    n = sync.spawn(notifier, name="notifier")
    w.join()
    n.join()


def test_a_waiter_that_misses_an_earlier_notify_is_a_lost_wakeup() -> None:
    report = treadle_model.explore(flag_checked_outside_the_lock)
    failure = _only(report, "lost_wakeup")
    assert "'waiter' waits forever on Condition#" in failure.message
    assert "the notify it needed was sent at step" in failure.message
    assert "by 'notifier', before it started waiting" in failure.message
    _replays(flag_checked_outside_the_lock, failure)


def event_pulse() -> None:
    event = sync.Event()

    def pulse() -> None:
        event.set()
        event.clear()

    def waiter() -> None:
        event.wait()

    p = sync.spawn(pulse, name="pulse")
    w = sync.spawn(waiter, name="waiter")
    p.join()
    w.join()


def test_waiting_on_an_event_that_was_set_and_cleared_is_a_lost_wakeup() -> None:
    failure = _only(treadle_model.explore(event_pulse), "lost_wakeup")
    assert "'waiter' waits forever on Event#" in failure.message
    assert "the set() at step" in failure.message and "by 'pulse'" in failure.message
    _replays(event_pulse, failure)


def test_a_waiter_blocked_when_the_event_is_set_wakes_even_if_it_is_cleared_again() -> None:
    def body() -> None:
        event = sync.Event()
        woke = sync.Cell(False)

        def waiter() -> None:
            woke.set(event.wait())

        w = sync.spawn(waiter)
        sync.sleep(1)  # everything else runs first: the waiter is blocked
        event.set()
        event.clear()
        w.join()
        assert woke.get() is True

    report = treadle_model.explore(body)
    assert report.ok and report.exhaustive


def two_consumers_one_item() -> None:
    tx, rx = channel(1, name="jobs")

    def consumer() -> None:
        rx.recv()

    c1 = sync.spawn(consumer, name="c1")
    c2 = sync.spawn(consumer, name="c2")
    tx.send("job")
    c1.join()
    c2.join()
    tx.close()


def test_a_consumer_waiting_for_an_item_someone_else_took_is_a_lost_wakeup() -> None:
    report = treadle_model.explore(two_consumers_one_item, stop_on_first=False)
    kinds = {f.kind for f in report.failures}
    # Where one consumer is already blocked in recv(), the other is refused
    # (Receiver is single-consumer): an "exception" failure naming that.
    assert kinds <= {"lost_wakeup", "deadlock", "exception"}
    refused = [f for f in report.failures if f.kind == "exception"]
    assert all("single-consumer" in f.message for f in refused), refused
    lost = [f for f in report.failures if f.kind == "lost_wakeup"]
    assert lost, kinds
    assert any("channel.send" in f.message or "notify" in f.message for f in lost)
    _replays(two_consumers_one_item, lost[0])


# --- leaked threads ---------------------------------------------------------


def forgets_to_join() -> None:
    sync.spawn(lambda: None, name="stray")


def test_a_thread_alive_when_the_body_returns_is_leaked() -> None:
    failure = _only(treadle_model.explore(forgets_to_join), "leaked_thread")
    assert "'stray' was still alive (not joined) when the explored function returned" in (
        failure.message
    )
    _replays(forgets_to_join, failure)


def unload_before_join() -> None:
    done = sync.Event()
    worker = sync.spawn(done.set, name="worker")
    done.wait()
    treadle_model.unload("after done")  # BUG: the worker may still be running
    worker.join()


def test_unload_before_join_is_a_leaked_thread() -> None:
    failure = _only(treadle_model.explore(unload_before_join), "leaked_thread")
    assert "unload('after done')" in failure.message and "'worker'" in failure.message
    _replays(unload_before_join, failure)


def test_unload_after_join_passes() -> None:
    def body() -> None:
        worker = sync.spawn(lambda: None, name="worker")
        worker.join()
        treadle_model.unload()

    report = treadle_model.explore(body)
    assert report.ok


def test_unload_outside_an_exploration_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="inside an explored function"):
        treadle_model.unload()


# --- exceptions ---------------------------------------------------------------


def thread_raises() -> None:
    def boom() -> None:
        raise ValueError("boom")

    t = sync.spawn(boom, name="bomber")
    t.join()


def test_an_exception_escaping_a_thread_is_reported_with_the_exception() -> None:
    failure = _only(treadle_model.explore(thread_raises), "exception")
    assert "thread 'bomber' raised ValueError: boom (at " in failure.message
    assert "test_failure_kinds.py:" in failure.message
    assert isinstance(failure.exception, ValueError)
    _replays(thread_raises, failure)


def body_raises() -> None:
    x = sync.Cell(0)
    t = sync.spawn(x.set, 1)
    t.join()
    raise KeyError("from the body")


def test_an_exception_escaping_the_body_is_reported() -> None:
    failure = _only(treadle_model.explore(body_raises), "exception")
    assert "the explored function raised KeyError" in failure.message
    assert isinstance(failure.exception, KeyError)
    _replays(body_raises, failure)


def test_explore_itself_never_raises_for_a_failing_program() -> None:
    report = treadle_model.explore(body_raises, stop_on_first=False)
    assert report.failed_executions == report.executions == 1


# --- invariants -----------------------------------------------------------------


def test_an_invariant_returning_false_after_some_step_is_reported() -> None:
    state: dict[str, Any] = {}

    def body() -> None:
        balance = state["balance"] = sync.Cell(10)

        def withdraw() -> None:
            b = balance.get()
            if b >= 10:
                balance.set(b - 10)  # BUG: check-then-act without a lock

        ts = [sync.spawn(withdraw) for _ in range(2)]
        for t in ts:
            t.join()

    def never_negative() -> bool:
        cell = state.get("balance")
        return cell is None or cell.get() >= 0

    report = treadle_model.explore(body, invariant=never_negative)
    assert report.ok  # the cell is set, never below 0: both read 10 and write 0
    state.clear()

    def body2() -> None:
        balance = state["balance"] = sync.Cell(10)

        def withdraw() -> None:
            if balance.get() >= 10:
                balance.set(balance.get() - 10)

        ts = [sync.spawn(withdraw) for _ in range(2)]
        for t in ts:
            t.join()

    report = treadle_model.explore(body2, invariant=never_negative)
    failure = _only(report, "invariant")
    assert "the invariant returned False after step" in failure.message
    _replays(body2, failure, invariant=never_negative)


def test_an_invariant_that_raises_fails_the_execution() -> None:
    def body() -> None:
        sync.Cell(0).set(1)

    def broken() -> bool:
        raise RuntimeError("bad invariant")

    failure = _only(treadle_model.explore(body, invariant=broken), "invariant")
    assert "RuntimeError: bad invariant" in failure.message


def test_an_invariant_may_not_synchronise() -> None:
    holder: dict[str, Any] = {}

    def body() -> None:
        holder["lock"] = sync.Lock()
        sync.Cell(0).set(1)

    def locks() -> bool:
        lock = holder.get("lock")
        if lock is not None:
            with lock:
                pass
        return True

    failure = _only(treadle_model.explore(body, invariant=locks), "invariant")
    assert "invariants may only read Cells" in failure.message


# --- data races -------------------------------------------------------------------


def unsynchronised_read() -> None:
    c = sync.Cell(0)
    t = sync.spawn(c.set, 1, name="writer")
    c.get()
    t.join()


def test_unordered_cell_accesses_are_a_data_race_when_asked() -> None:
    assert treadle_model.explore(unsynchronised_read).ok
    failure = _only(treadle_model.explore(unsynchronised_read, detect_races=True), "data_race")
    assert "data race on Cell#" in failure.message and "'writer'" in failure.message
    _replays(unsynchronised_read, failure, detect_races=True)


def test_cell_accesses_ordered_by_a_lock_or_a_join_are_not_a_data_race() -> None:
    def body() -> None:
        c = sync.Cell(0)
        lock = sync.Lock()

        def work() -> None:
            with lock:
                c.set(c.get() + 1)

        ts = [sync.spawn(work) for _ in range(2)]
        with lock:
            c.get()
        for t in ts:
            t.join()
        c.get()

    report = treadle_model.explore(body, detect_races=True, stop_on_first=False)
    assert report.ok and report.exhaustive


# --- step limit -----------------------------------------------------------------


def spin_wait() -> None:
    flag = sync.Cell(False)
    t = sync.spawn(flag.set, True, name="setter")
    while not flag.get():  # BUG: spins instead of blocking
        pass
    t.join()


def test_a_spin_loop_hits_the_step_limit_with_a_hint() -> None:
    failure = _only(treadle_model.explore(spin_wait, max_steps=200), "step_limit")
    assert "often caused by a spin loop" in failure.message
    assert len(failure.trace) <= 130
    _replays(spin_wait, failure, max_steps=200)


# --- nondeterminism ---------------------------------------------------------------


def test_a_global_counter_that_changes_the_operations_is_nondeterminism() -> None:
    runs = itertools.count()

    def body() -> None:
        n = next(runs)
        c, d = sync.Cell(0), sync.Cell(0)
        t = sync.spawn(c.set, 1)
        (c if n % 2 == 0 else d).get()
        c.get()
        t.join()

    report = treadle_model.explore(body)
    failure = _only(report, "nondeterminism")
    assert "state kept between runs" in failure.message
    assert not report.exhaustive


def test_random_numbers_that_change_the_operations_are_nondeterminism() -> None:
    rng = random.Random(5)

    def body() -> None:
        cells = [sync.Cell(0) for _ in range(4)]
        t = sync.spawn(cells[0].set, 1)
        for _ in range(3):
            cells[rng.randrange(4)].get()
        cells[0].get()
        t.join()

    report = treadle_model.explore(body)
    assert _only(report, "nondeterminism")


def test_starting_a_real_thread_is_reported() -> None:
    # A thread the model does not run (started as a C extension would, with
    # the real _thread function saved before the exploration).
    real_start = _REAL["start_new_thread"]
    release = threading.Event()
    done = threading.Event()
    running: list[bool] = []

    def stray() -> None:
        running.append(True)
        release.wait()
        done.set()

    def body() -> None:
        real_start(stray, ())
        while not running:  # the real thread has begun (no scheduling point here)
            pass

    try:
        report = treadle_model.explore(body)
    finally:
        release.set()
        assert done.wait(10)
    failure = _only(report, "uncontrolled")
    assert "real OS thread the model does not run" in failure.message
    assert "instrument=" in failure.message


def test_a_real_lock_contended_inside_the_model_is_reported_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_explore, "STALL_SECONDS", 1.0)
    real = threading.Lock()

    def body() -> None:
        c = sync.Cell(0)

        def a() -> None:
            with real:
                c.set(1)

        def b() -> None:
            c.get()
            with real:
                pass

        ta = sync.spawn(a, name="a")
        tb = sync.spawn(b, name="b")
        ta.join()
        tb.join()

    report = treadle_model.explore(body)
    failure = _only(report, "uncontrolled")
    assert "blocked the real OS thread" in failure.message
    assert "threading.Lock 'real'" in failure.message
    assert not real.locked()


# --- monitors ---------------------------------------------------------------------


class _CountingMonitor:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sends = 0
        self.ended: list[bool] = []

    def on_event(self, name: str, fields: dict[str, Any], thread: str) -> None:
        if name == "channel.send":
            self.sends += 1
            if self.sends > self.limit:
                raise treadle_model.MonitorViolation(
                    "conformance", f"{thread} sent {fields['item']!r} past the limit"
                )

    def on_end(self, ok: bool) -> None:
        self.ended.append(ok)


def two_sends() -> None:
    tx, rx = channel(None, name="c")
    t = sync.spawn(lambda: [rx.recv(), rx.recv()], name="rx")
    tx.send(1)
    tx.send(2)
    t.join()
    tx.close()


def test_a_monitor_violation_fails_the_execution_with_its_kind() -> None:
    monitors: list[_CountingMonitor] = []

    def factory() -> _CountingMonitor:
        m = _CountingMonitor(limit=1)
        monitors.append(m)
        return m

    failure = _only(treadle_model.explore(two_sends, monitor=factory), "conformance")
    assert "main sent 2 past the limit" in failure.message
    assert any("emits channel.send" in line for line in failure.trace)
    _replays(two_sends, failure, monitor=factory)


def test_a_monitor_sees_every_event_and_the_end_of_every_execution() -> None:
    monitors: list[_CountingMonitor] = []

    def factory() -> _CountingMonitor:
        m = _CountingMonitor(limit=5)
        monitors.append(m)
        return m

    report = treadle_model.explore(two_sends, monitor=factory)
    assert report.ok
    assert len(monitors) == report.executions
    assert all(m.sends == 2 and m.ended == [True] for m in monitors)


def test_monitor_violation_kind_must_be_a_failure_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        treadle_model.MonitorViolation("oops", "no such kind")
