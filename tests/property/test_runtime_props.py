"""Random sessions against a Runtime: nothing lost, nothing duplicated, no thread left.

Each example drives one runtime through a random sequence of jobs. A job
makes a random list of main-side calls (some raise on main, one may be
interrupted with KeyboardInterrupt, one may start a shutdown from another
thread), may fail itself, may try re-entrant calls; stray threads poke at
main-only code in between. The test keeps its own account of what must
happen and checks every result, every main-side execution (exactly once,
in order), and that after shutdown no runtime thread is alive and the
previous exception hook is back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from treadle import sync
from treadle.runtime import (
    JobAbandoned,
    MainThreadCallError,
    Runtime,
    RuntimeClosedError,
    WrongThreadError,
)

TIMEOUT = 10.0

# A main-side step: ("value", n) returns n on main; ("raise", n) raises on
# main; ("interrupt", n) raises KeyboardInterrupt on main; ("shutdown", n)
# starts shutdown() on another thread and returns n; ("reenter", n) tries a
# re-entrant run_on_worker from main and returns n.
steps = st.lists(
    st.tuples(
        st.sampled_from(["value", "value", "value", "raise", "interrupt", "shutdown", "reenter"]),
        st.integers(0, 1000),
    ),
    max_size=6,
)
jobs = st.tuples(steps, st.booleans(), st.booleans())  # steps, job fails, job reenters
ops = st.lists(
    st.one_of(jobs, jobs, jobs, jobs, st.just("stray"), st.just("shutdown")),
    min_size=1,
    max_size=8,
)


class Boom(Exception):
    pass


@dataclass
class Account:
    executed: list[tuple[int, int]] = field(default_factory=list)  # (job, step) run on main
    expected: list[tuple[int, int]] = field(default_factory=list)
    shutters: list[threading.Thread] = field(default_factory=list)
    abandoned_done: list[threading.Event] = field(default_factory=list)


def run_job(
    rt: Runtime, account: Account, job_no: int, job: tuple[list[tuple[str, int]], bool, bool]
) -> None:
    step_list, job_fails, job_reenters = job
    finished = threading.Event()
    seen_on_worker: list[tuple[str, Any]] = []

    def main_side(i: int, kind: str, n: int) -> int:
        account.executed.append((job_no, i))
        if kind == "raise":
            raise Boom(f"main {job_no}.{i}")
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "shutdown":
            t = threading.Thread(target=rt.shutdown, name=f"shutter-{job_no}")
            t.start()
            account.shutters.append(t)
            deadline = time.monotonic() + TIMEOUT
            while rt.statistics().state == "running":
                assert time.monotonic() < deadline, "shutdown never started"
                time.sleep(0.001)
        if kind == "reenter":
            try:
                rt.run_on_worker(lambda: None)
            except RuntimeError as exc:
                assert "re-entrantly" in str(exc)
            else:
                raise AssertionError("re-entrant run_on_worker did not fail")
        return n

    def body() -> int:
        try:
            total = 0
            if job_reenters:
                try:
                    rt.run_on_worker(lambda: None)
                except RuntimeError as exc:
                    seen_on_worker.append(("reenter", str(exc)))
            for i, (kind, n) in enumerate(step_list):
                try:
                    total += rt.call_on_main(main_side, i, kind, n)
                except MainThreadCallError as exc:
                    assert isinstance(exc.__cause__, Boom)
                    seen_on_worker.append(("boom", i))
                except JobAbandoned:
                    seen_on_worker.append(("abandoned", i))
            if job_fails:
                raise Boom(f"job {job_no}")
            return total
        finally:
            finished.set()

    # What must happen, computed from the plan.
    interrupt_at = next((i for i, (k, _) in enumerate(step_list) if k == "interrupt"), None)
    runs = step_list if interrupt_at is None else step_list[: interrupt_at + 1]
    account.expected.extend((job_no, i) for i in range(len(runs)))
    total = sum(n for k, n in runs if k not in ("raise", "interrupt"))

    event(f"job outcome planned: interrupt={interrupt_at is not None} fails={job_fails}")
    if any(k == "shutdown" for k, _ in step_list):
        event("shutdown from another thread during a job")
    try:
        result = rt.run_on_worker(body)
    except KeyboardInterrupt:
        assert interrupt_at is not None
        # The job goes on without main: every later main call is refused.
        assert finished.wait(TIMEOUT)
        abandoned = [i for tag, i in seen_on_worker if tag == "abandoned"]
        assert abandoned == list(range(interrupt_at, len(step_list)))
        return
    except Boom as exc:
        assert job_fails and interrupt_at is None
        assert str(exc) == f"job {job_no}"
    else:
        assert interrupt_at is None and not job_fails
        assert result == total
    booms = [i for tag, i in seen_on_worker if tag == "boom"]
    assert booms == [i for i, (k, _) in enumerate(step_list) if k == "raise"]
    assert [tag for tag, _ in seen_on_worker].count("reenter") == int(job_reenters)


def stray_call(rt: Runtime) -> None:
    caught: list[BaseException] = []

    def stray() -> None:
        try:
            rt.call_on_main(lambda: None)
        except BaseException as exc:
            caught.append(exc)

    t = threading.Thread(target=stray, name="stray")
    t.start()
    t.join(TIMEOUT)
    assert len(caught) == 1
    assert isinstance(caught[0], (WrongThreadError, RuntimeClosedError))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops)
def test_random_sessions_lose_nothing_and_leave_no_thread(plan: list[Any]) -> None:
    hook_before = sync.get_excepthook()
    threads_before = set(threading.enumerate())
    rt = Runtime(name="prop-rt")
    rt.init()
    account = Account()
    try:
        for job_no, op in enumerate(plan):
            closed = rt.statistics().state != "running"
            if op == "stray":
                stray_call(rt)
            elif op == "shutdown":
                rt.shutdown()
            elif closed:
                try:
                    rt.run_on_worker(lambda: None)
                except RuntimeClosedError:
                    pass
                else:
                    raise AssertionError("run_on_worker worked after shutdown")
            else:
                run_job(rt, account, job_no, op)
    finally:
        rt.shutdown()
        for t in account.shutters:
            t.join(TIMEOUT)
    assert account.executed == account.expected, "a main-side call was lost or duplicated"
    stats = rt.statistics()
    assert stats.state == "shut_down"
    assert not stats.worker_alive
    assert set(threading.enumerate()) <= threads_before
    assert sync.get_excepthook() is hook_before
