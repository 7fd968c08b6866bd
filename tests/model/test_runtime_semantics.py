"""The controlled primitives behave like threading's, with virtual time."""

from __future__ import annotations

from typing import Any

import pytest

import treadle_model
from treadle import sync
from treadle.channel import Full, channel


def _ok(body: Any, **options: Any) -> treadle_model.Report:
    report = treadle_model.explore(body, stop_on_first=False, **options)
    assert report.ok, str(report)
    return report


# --- time ---------------------------------------------------------------------


def test_a_timed_wait_nobody_notifies_returns_false_instead_of_hanging() -> None:
    def body() -> None:
        cond = sync.Condition(sync.Lock())
        with cond:
            start = sync.monotonic()
            assert cond.wait(2.5) is False
            assert sync.monotonic() - start == 2.5

    report = _ok(body)
    assert report.executions == 1 and report.exhaustive


def test_wait_for_returns_the_predicate_once_notified_or_after_the_timeout() -> None:
    def body() -> None:
        cond = sync.Condition()
        flag = sync.Cell(False)

        def setter() -> None:
            with cond:
                flag.set(True)
                cond.notify_all()

        t = sync.spawn(setter)
        with cond:
            assert cond.wait_for(flag.get, timeout=5) is True
        t.join()
        with cond:
            assert cond.wait_for(lambda: False, timeout=1) is False

    _ok(body)


def test_timed_event_join_lock_and_semaphore_waits_time_out() -> None:
    def body() -> None:
        event = sync.Event()
        assert event.wait(1) is False
        lock = sync.Lock()
        sem = sync.Semaphore(0)
        release = sync.Event()

        def holder() -> None:
            with lock:
                release.wait()

        t = sync.spawn(holder, name="holder")
        assert sem.acquire(timeout=1) is False
        t.join(timeout=1)
        assert t.is_alive()
        assert lock.acquire(timeout=1) is False
        assert lock.acquire(blocking=False) is False
        release.set()
        t.join()
        assert not t.is_alive()
        assert lock.acquire(timeout=1) is True
        lock.release()

    _ok(body)


def test_sleep_advances_virtual_time_only_when_everything_else_is_blocked() -> None:
    def body() -> None:
        order = sync.Cell("")

        def napper(name: str, seconds: float) -> None:
            sync.sleep(seconds)
            order.set(order.get() + name)

        a = sync.spawn(napper, "b", 2.0)
        b = sync.spawn(napper, "a", 1.0)
        a.join()
        b.join()
        assert order.get() == "ab"
        assert sync.monotonic() == 2.0

    report = _ok(body)
    assert report.executions == 1


def test_timeouts_never_turns_a_timed_wait_without_a_notifier_into_a_deadlock() -> None:
    def body() -> None:
        cond = sync.Condition()
        with cond:
            cond.wait(1)

    assert treadle_model.explore(body).ok
    report = treadle_model.explore(body, timeouts="never")
    assert report.failures[0].kind == "deadlock"


def test_timeouts_always_explores_a_timeout_racing_with_the_notify() -> None:
    outcomes: set[bool] = set()

    def body() -> None:
        cond = sync.Condition()

        def notifier() -> None:
            with cond:
                cond.notify()

        with cond:
            t = sync.spawn(notifier)  # it can notify only once we wait
            outcomes.add(cond.wait(10))
        t.join()

    treadle_model.explore(body, stop_on_first=False)
    assert outcomes == {True}  # when_stuck: the timeout never beats a notifier that can run
    outcomes.clear()
    treadle_model.explore(body, stop_on_first=False, timeouts="always")
    assert outcomes == {True, False}


def test_a_channel_send_with_a_timeout_raises_full_when_nobody_receives() -> None:
    def body() -> None:
        tx, rx = channel(1)
        tx.send(1)
        with pytest.raises(Full):
            tx.send(2, timeout=0.5)
        assert sync.monotonic() == 0.5
        tx.close()
        rx.close()

    _ok(body)


# --- interrupts -----------------------------------------------------------------


def _worker_body(*, cleanup: bool) -> Any:
    def body() -> None:
        stop = sync.Event()
        worker = sync.spawn(stop.wait, name="worker")
        if cleanup:
            try:
                sync.sleep(1)
            finally:
                # The interrupt may land in the cleanup itself: hold it back
                # until the worker is joined, then re-raise it.
                held: BaseException | None = None
                while True:
                    try:
                        stop.set()
                        worker.join()
                        break
                    except KeyboardInterrupt as exc:
                        held = exc
                if held is not None:
                    raise held
        else:
            sync.sleep(1)
            stop.set()
            worker.join()

    return body


def test_interrupt_main_finds_a_thread_left_running_when_the_main_thread_is_interrupted() -> None:
    assert treadle_model.explore(_worker_body(cleanup=False)).ok
    report = treadle_model.explore(_worker_body(cleanup=False), interrupt_main=True)
    failure = report.failures[0]
    assert failure.kind == "leaked_thread"
    assert failure.schedule.startswith("i")
    assert any("KeyboardInterrupt raised" in line for line in failure.trace)
    again = treadle_model.replay(_worker_body(cleanup=False), failure.schedule)
    assert [f.kind for f in again.failures] == ["leaked_thread"]


def test_interrupt_main_passes_code_that_joins_in_finally() -> None:
    report = treadle_model.explore(
        _worker_body(cleanup=True), interrupt_main=True, stop_on_first=False
    )
    assert report.ok, str(report)
    assert report.exhaustive
    assert report.executions > 3  # every interrupt point was tried


def test_an_interrupt_while_waiting_on_a_condition_reacquires_the_lock_first() -> None:
    seen: list[bool] = []

    def body() -> None:
        cond = sync.Condition(sync.RLock())
        try:
            with cond:
                cond.wait()
        except KeyboardInterrupt:
            seen.append(True)
            raise

    report = treadle_model.explore(body, interrupt_main=True, stop_on_first=False)
    # Without an interrupt the wait never ends (a deadlock); with one, the
    # KeyboardInterrupt propagates with the lock released by `with`.
    kinds = [f.kind for f in report.failures]
    assert kinds == ["deadlock"]
    assert seen


# --- spurious wakeups -------------------------------------------------------------


def _consumer(*, loop: bool) -> Any:
    def body() -> None:
        cond = sync.Condition()
        items: list[int] = []

        def consumer() -> None:
            with cond:
                if loop:
                    while not items:
                        cond.wait()
                elif not items:
                    cond.wait()
                items.pop()

        c = sync.spawn(consumer, name="consumer")
        with cond:
            items.append(1)
            cond.notify()
        c.join()

    return body


def test_spurious_wakeups_catch_if_instead_of_while() -> None:
    assert treadle_model.explore(_consumer(loop=False)).ok
    report = treadle_model.explore(_consumer(loop=False), spurious_wakeups=True)
    failure = report.failures[0]
    assert failure.kind == "exception" and "IndexError" in failure.message
    assert any("spurious wakeup" in line for line in failure.trace)


def test_spurious_wakeups_pass_a_wait_in_a_loop() -> None:
    report = _ok(_consumer(loop=True), spurious_wakeups=2)
    assert report.exhaustive


# --- locks, threads, locals, hooks --------------------------------------------------


def test_rlock_is_reentrant_and_refuses_release_by_another_thread() -> None:
    def body() -> None:
        rlock = sync.RLock()
        with rlock, rlock:
            pass
        rlock.acquire()
        errors: list[str] = []

        def other() -> None:
            try:
                rlock.release()
            except RuntimeError as exc:
                errors.append(str(exc))

        t = sync.spawn(other)
        t.join()
        rlock.release()
        assert errors == ["cannot release un-acquired lock"]

    _ok(body)


def test_a_plain_lock_may_be_released_by_another_thread_but_not_twice() -> None:
    def body() -> None:
        lock = sync.Lock()
        lock.acquire()
        t = sync.spawn(lock.release)
        t.join()
        assert not lock.locked()
        with pytest.raises(RuntimeError, match="release unlocked lock"):
            lock.release()

    _ok(body)


def test_a_thread_that_acquires_a_lock_it_holds_deadlocks() -> None:
    def body() -> None:
        lock = sync.Lock()
        with lock, lock:
            pass

    report = treadle_model.explore(body)
    assert report.failures[0].kind == "deadlock"
    assert "'main' waits to acquire Lock#1 (held by 'main')" in report.failures[0].message


def test_semaphore_counts_and_blocks_at_zero() -> None:
    def body() -> None:
        sem = sync.Semaphore(2)
        inside = sync.Cell(0)
        peak = sync.Cell(0)

        lock = sync.Lock()

        def work() -> None:
            with sem:
                with lock:
                    n = inside.get() + 1
                    inside.set(n)
                    peak.set(max(peak.get(), n))
                with lock:
                    inside.set(inside.get() - 1)

        ts = [sync.spawn(work) for _ in range(3)]
        for t in ts:
            t.join()
        assert peak.get() <= 2

    _ok(body)


def test_threads_have_identity_names_and_their_own_locals() -> None:
    def body() -> None:
        data = sync.local()
        data.value = "main"
        seen: dict[str, Any] = {}

        def work() -> None:
            seen["self"] = sync.current_thread()
            seen["missing"] = not hasattr(data, "value")
            data.value = "worker"
            seen["own"] = data.value

        t = sync.spawn(work, name="worker")
        t.join()
        assert seen == {"self": t, "missing": True, "own": "worker"}
        assert data.value == "main"
        assert t.name == "worker" and sync.current_thread().name == "main"
        assert isinstance(t, sync.Thread)
        with pytest.raises(RuntimeError, match="cannot join current thread"):
            sync.current_thread().join()

    _ok(body)


def test_facade_isinstance_checks_hold_for_controlled_objects() -> None:
    def body() -> None:
        assert isinstance(sync.Lock(), sync.Lock)
        assert isinstance(sync.RLock(), sync.RLock)
        assert isinstance(sync.Condition(), sync.Condition)
        assert isinstance(sync.Event(), sync.Event)
        assert isinstance(sync.Semaphore(), sync.Semaphore)
        assert isinstance(sync.Cell(1), sync.Cell)
        assert isinstance(sync.local(), sync.local)

    _ok(body)


def test_the_excepthook_slot_is_per_execution_and_called_for_escaping_exceptions() -> None:
    calls: list[str] = []

    def body() -> None:
        previous = sync.get_excepthook()

        def hook(args: Any) -> None:
            calls.append(f"{args.thread.name}: {args.exc_value}")

        sync.set_excepthook(hook)
        t = sync.spawn(lambda: 1 / 0, name="divider")
        t.join()
        sync.set_excepthook(previous)
        assert sync.get_excepthook() is previous

    report = treadle_model.explore(body)
    assert report.failures[0].kind == "exception"  # still reported
    assert calls and calls[0].startswith("divider: division by zero")


# --- isolation between executions ----------------------------------------------------


def test_threads_left_blocked_are_killed_and_their_cleanup_cannot_disturb_the_next_run() -> None:
    cleanups: list[str] = []

    def body() -> None:
        lock = sync.Lock()
        x = sync.Cell(0)

        def stuck() -> None:
            try:
                with lock:
                    sync.Event().wait()  # never set
            finally:
                try:
                    x.set(99)  # a facade operation while being killed
                    cleanups.append("ran")
                except BaseException as exc:
                    cleanups.append(type(exc).__name__)
                    raise

        t = sync.spawn(stuck, name="stuck")
        x.set(1)
        t.join()

    report = treadle_model.explore(body, stop_on_first=False)
    assert report.executions == 1
    assert [f.kind for f in report.failures] == ["deadlock"]
    assert cleanups and set(cleanups) == {"GreenletExit"}
    # The next exploration is not disturbed by anything the cleanup did.
    again = treadle_model.explore(body, stop_on_first=False)
    assert again.executions == 1 and [f.kind for f in again.failures] == ["deadlock"]


def test_an_object_kept_from_an_earlier_execution_is_refused() -> None:
    kept: list[Any] = []

    def body() -> None:
        if kept:
            kept[0].acquire()
        else:
            kept.append(sync.Lock())
        c = sync.Cell(0)
        t = sync.spawn(c.set, 1)
        c.get()
        t.join()

    report = treadle_model.explore(body, stop_on_first=False)
    messages = [f.message for f in report.failures]
    assert any("belongs to another execution" in m for m in messages), messages


def test_two_runs_give_the_same_counts_and_the_same_first_failure() -> None:
    def body() -> None:
        x = sync.Cell(0)
        lock = sync.Lock()

        def work(i: int) -> None:
            with lock:
                x.set(x.get() + i)
            r = x.get()
            x.set(r * 2)

        ts = [sync.spawn(work, i) for i in range(3)]
        for t in ts:
            t.join()
        assert x.get() != 12

    first = treadle_model.explore(body, stop_on_first=False)
    second = treadle_model.explore(body, stop_on_first=False)
    assert first.executions == second.executions
    assert [(f.kind, f.message, f.schedule, f.trace) for f in first.failures] == [
        (f.kind, f.message, f.schedule, f.trace) for f in second.failures
    ]
    assert first.failures


# --- misuse -------------------------------------------------------------------------


def test_misuse_raises_clear_errors() -> None:
    with pytest.raises(TypeError, match="callable"):
        treadle_model.explore(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy must be one of"):
        treadle_model.explore(lambda: None, strategy="bfs")
    with pytest.raises(ValueError, match="timeouts must be"):
        treadle_model.explore(lambda: None, timeouts="sometimes")
    with pytest.raises(ValueError, match="preemption_bound applies to"):
        treadle_model.explore(lambda: None, preemption_bound=2)
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        treadle_model.explore(lambda: None, max_steps=0)
    with pytest.raises(TypeError, match="stop_on_first must be True or False"):
        treadle_model.explore(lambda: None, stop_on_first=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bad schedule"):
        treadle_model.replay(lambda: None, "0*x")


def test_explore_inside_an_explored_function_is_refused() -> None:
    def body() -> None:
        treadle_model.explore(lambda: None)

    report = treadle_model.explore(body)
    assert "cannot be nested" in report.failures[0].message


def test_facade_objects_cannot_be_made_outside_an_execution_under_the_model() -> None:
    from treadle_model._backend import ModelBackend

    with sync.using_backend(ModelBackend()), pytest.raises(RuntimeError, match="no execution"):
        sync.Lock()


def test_a_schedule_that_does_not_fit_the_program_is_reported() -> None:
    def body() -> None:
        sync.Cell(0).set(1)

    report = treadle_model.replay(body, "0,3")
    assert report.failures[0].kind == "nondeterminism"
    assert "asks for thread 3" in report.failures[0].message


def test_code_that_raises_greenlet_exit_itself_is_reported_not_a_crash() -> None:
    from greenlet import GreenletExit

    def body() -> None:
        def rogue() -> None:
            raise GreenletExit

        t = sync.spawn(rogue, name="rogue")
        t.join()

    report = treadle_model.explore(body)
    assert report.failures[0].kind == "exception"
    assert "raised GreenletExit" in report.failures[0].message
