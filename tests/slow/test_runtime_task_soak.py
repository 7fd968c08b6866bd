"""Soak tests for Runtime and tasks: many rounds of the racy cases.

Run with ``pytest -m slow``. Each test repeats a race that a single run
might not hit (shutdown against a job send, interrupts on main, concurrent
C-surface users) and checks the same invariants every round.
"""

from __future__ import annotations

import functools
import signal
import threading
import time

import pytest

from tests.unit._signals import interrupt_main_while_it_waits, wait_until
from treadle import sync
from treadle.runtime import JobAbandoned, Runtime, RuntimeClosedError, WrongThreadError
from treadle.task import (
    CancellationToken,
    Cancelled,
    clear_last_error,
    export_task,
    last_error_length,
    spawn,
)

pytestmark = pytest.mark.slow

TIMEOUT = 10.0


def test_shutdown_racing_a_job_either_delivers_or_refuses_it_never_hangs() -> None:
    hook = sync.get_excepthook()
    before = set(threading.enumerate())
    delivered = refused = 0
    for _ in range(300):
        rt = Runtime(name="race")
        rt.init()
        go = threading.Barrier(2)

        def shut(rt: Runtime = rt, go: threading.Barrier = go) -> None:
            go.wait(TIMEOUT)
            rt.shutdown()

        t = threading.Thread(target=shut)
        t.start()
        go.wait(TIMEOUT)

        def job(rt: Runtime = rt) -> int:
            return rt.call_on_main(lambda: 5)

        try:
            assert rt.run_on_worker(job) == 5
            delivered += 1
        except RuntimeClosedError:
            refused += 1
        t.join(TIMEOUT)
        assert not t.is_alive()
        assert not rt.statistics().worker_alive
        assert sync.get_excepthook() is hook
    assert delivered + refused == 300
    assert set(threading.enumerate()) <= before


def test_round_trips_stay_exact_while_stray_threads_hammer_main_only_code() -> None:
    with Runtime() as rt:

        @rt.main_thread_only
        def ident(x: int) -> int:
            return x

        stop = threading.Event()
        stray_errors = [0] * 4

        def stray(i: int) -> None:
            while not stop.wait(0.0005):  # a call every half millisecond or so
                try:
                    ident(1)
                except WrongThreadError:
                    stray_errors[i] += 1

        threads = [threading.Thread(target=stray, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        try:

            def job() -> int:
                return sum(ident(i) for i in range(5000))

            assert rt.run_on_worker(job) == sum(range(5000))
            total = sum(rt.run_on_worker(ident, i) for i in range(2000))
            assert total == sum(range(2000))
        finally:
            stop.set()
            for t in threads:
                t.join(TIMEOUT)
        assert all(n > 0 for n in stray_errors)
        assert rt.statistics().main_calls == 5000 + 2000


def test_repeated_sigint_while_main_waits_never_wedges_the_runtime() -> None:
    with Runtime() as rt:
        for round_no in range(100):
            release = threading.Event()
            saw = interrupt_main_while_it_waits(rt, functools.partial(release.wait, TIMEOUT))
            assert saw == ["abandoned"]
            release.set()
            assert rt.run_on_worker(int, round_no) == round_no
    assert not rt.statistics().worker_alive


def test_repeated_sigint_inside_main_side_calls_never_wedges_the_runtime() -> None:
    assert threading.current_thread() is threading.main_thread()
    main_ident = threading.main_thread().ident
    assert main_ident is not None
    with Runtime() as rt:
        for round_no in range(100):
            release = threading.Event()
            busy = threading.Event()
            job_saw: list[str] = []

            def main_side(busy: threading.Event = busy) -> None:
                busy.set()
                deadline = time.monotonic() + TIMEOUT
                while time.monotonic() < deadline:  # long work on main, in short steps
                    time.sleep(0.005)

            def job(release: threading.Event = release, job_saw: list[str] = job_saw) -> str:
                try:
                    rt.call_on_main(main_side)
                except JobAbandoned:
                    job_saw.append("abandoned")
                assert release.wait(TIMEOUT)
                return "discarded"

            def interrupter(busy: threading.Event = busy) -> None:
                assert busy.wait(TIMEOUT)
                signal.pthread_kill(main_ident, signal.SIGINT)

            t = threading.Thread(target=interrupter)
            t.start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                rt.run_on_worker(job)
            assert time.monotonic() - started < TIMEOUT / 2, "the interrupt did not stop main"
            t.join(TIMEOUT)
            wait_until(job_saw.copy, "the job to learn it was abandoned")
            assert job_saw == ["abandoned"]
            release.set()
            assert rt.run_on_worker(int, round_no) == round_no
    assert not rt.statistics().worker_alive


def test_many_tasks_spawned_and_closed_from_several_threads_leave_no_thread() -> None:
    before = set(threading.enumerate())

    def spin(token: CancellationToken) -> int:
        n = 0
        while not token.wait(0.0005):
            n += 1
        return n

    def user(results: list[int]) -> None:
        for i in range(100):
            with spawn(spin, name=f"soak-{i}") as handle:
                if i % 3 == 0:
                    handle.cancel()
                    results.append(handle.wait(timeout=TIMEOUT))
        # leaving each with-block cancelled and joined the task

    outs: list[list[int]] = [[] for _ in range(4)]
    threads = [threading.Thread(target=user, args=(outs[i],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert all(len(o) == 34 for o in outs)
    assert set(threading.enumerate()) <= before


def test_c_surface_used_from_several_threads_keeps_exact_accounts() -> None:
    class Count:
        def __init__(self, n: int) -> None:
            self.n = n

        def run(self, token: CancellationToken) -> int:
            if self.n % 5 == 0:
                token.wait(TIMEOUT)
                raise Cancelled("stopped")
            return self.n * 2

    api = export_task(Count)
    failures: list[str] = []

    def user(k: int) -> None:
        for i in range(150):
            n = k * 1000 + i
            clear_last_error()
            h = api.spawn(Count(n))
            if n % 5 == 0:
                api.cancel(h)
                if api.wait(h) is not None or last_error_length() == 0:
                    failures.append(f"{n}: cancelled task delivered a result")
                continue
            if i % 2:
                r = api.wait(h)
            else:
                r = None
                deadline = time.monotonic() + TIMEOUT
                while r is None and time.monotonic() < deadline:
                    r = api.poll(h)
                    if r is None and last_error_length():
                        failures.append(f"{n}: poll error")
                        break
                    if r is None:
                        time.sleep(0.0005)
                api.handle_destroy(h)
            if r is None or api.result_value(r) != n * 2:
                failures.append(f"{n}: wrong result")
            else:
                api.result_destroy(r)
            if last_error_length():
                failures.append(f"{n}: unexpected error")

    threads = [threading.Thread(target=user, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    api.close()
    assert failures == []
    stats = api.statistics()
    assert (stats.live_handles, stats.live_results) == (0, 0)
    assert stats.handles_issued == 600
