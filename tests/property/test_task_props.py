"""Random operation sequences on tasks and on the C-style task API.

The test keeps a model of each task (released? cancelled? what it will
return) and of every live handle and result, and checks every answer
against it: a result is delivered exactly as planned, a misuse always sets
an error and returns None, live counts match, and no thread survives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treadle.task import (
    PENDING,
    CancellationToken,
    Cancelled,
    TaskHandle,
    clear_last_error,
    export_task,
    last_error_length,
    last_error_message,
    spawn,
)

TIMEOUT = 10.0


class Controlled:
    """Runs until the test releases it (then returns or raises) or it is cancelled."""

    def __init__(self, value: int, fails: bool) -> None:
        self.value = value
        self.fails = fails
        self.release = threading.Event()

    def run(self, token: CancellationToken) -> int:
        while True:
            # Read the token before the release: the test releases before it
            # cancels, so a cancel seen here means any release is visible too
            # and a release always wins over a later cancel.
            cancelled = token.cancelled()
            if self.release.is_set():
                break
            if cancelled:
                raise Cancelled("cancelled before release")
            self.release.wait(0.002)  # the task's own work loop
        if self.fails:
            raise ValueError(f"failed {self.value}")
        return self.value


@dataclass
class Planned:
    task: Controlled
    released: bool = False
    cancelled: bool = False  # cancelled before any release: the task ends Cancelled
    cancel_called: bool = False

    def finished_outcome(self) -> tuple[str, Any]:
        """What the task ends with, given that release wins over a later cancel."""
        if self.released:
            return (
                ("error", f"failed {self.task.value}")
                if self.task.fails
                else ("ok", self.task.value)
            )
        return ("cancelled", None)


def check_outcome(handle: TaskHandle[int], plan: Planned, *, blocking: bool) -> None:
    kind, expected = plan.finished_outcome()
    try:
        got = handle.wait(timeout=TIMEOUT) if blocking else handle.poll()
    except Cancelled:
        assert kind == "cancelled"
        return
    except ValueError as exc:
        assert (kind, str(exc)) == ("error", expected)
        return
    if got is PENDING:
        assert not blocking
        return
    assert (kind, got) == ("ok", expected)


handle_ops = st.lists(
    st.tuples(
        st.sampled_from(["poll", "release", "cancel", "wait", "close"]),
        st.integers(0, 3),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 100), st.booleans()), min_size=1, max_size=4),
    handle_ops,
)
def test_task_handles_deliver_exactly_the_planned_outcome(
    tasks: list[tuple[int, bool]], ops: list[tuple[str, int]]
) -> None:
    before = set(threading.enumerate())
    plans = [Planned(Controlled(v, f)) for v, f in tasks]
    handles = [spawn(p.task) for p in plans]
    try:
        for op, i in ops:
            i %= len(plans)
            plan, handle = plans[i], handles[i]
            if op == "release":
                if not handle.done() and not plan.cancelled:
                    plan.released = True
                    plan.task.release.set()
            elif op == "cancel":
                handle.cancel()
                if not plan.released:
                    plan.cancelled = True
                assert handle.cancelled()
            elif op == "poll":
                check_outcome(handle, plan, blocking=False)
            elif op in ("wait", "close"):
                if not (plan.released or plan.cancelled):
                    # Nothing would end it but close(), which cancels first.
                    if op == "wait":
                        continue
                    plan.cancelled = True
                if op == "close":
                    handle.close()
                    assert handle.done()
                check_outcome(handle, plan, blocking=True)
                check_outcome(handle, plan, blocking=False)  # same outcome again
    finally:
        for h in handles:
            h.close()
    for plan, handle in zip(plans, handles, strict=True):
        if not plan.released:
            plan.cancelled = True
        check_outcome(handle, plan, blocking=False)
    assert set(threading.enumerate()) <= before


c_ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "spawn",
                "poll",
                "release",
                "cancel",
                "cancelled",
                "wait",
                "destroy",
                "result_value",
                "result_destroy",
                "junk",
            ]
        ),
        st.integers(0, 6),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c_ops)
def test_c_surface_keeps_exact_accounts_and_reports_every_misuse(
    ops: list[tuple[str, int, bool]],
) -> None:
    before = set(threading.enumerate())
    api = export_task(Controlled)
    issued: list[tuple[int, Planned]] = []  # every task handle ever returned
    live: dict[int, Planned] = {}
    results: list[int] = []  # every result handle ever returned
    live_results: dict[int, Any] = {}

    def expect_misuse(value: Any) -> None:
        assert value is None
        assert last_error_length() > 0

    try:
        for op, k, flag in ops:
            clear_last_error()
            h = issued[k % len(issued)][0] if issued else 1
            plan = issued[k % len(issued)][1] if issued else None
            if op == "spawn":
                task = Controlled(k, flag)
                handle = api.spawn(task)
                assert isinstance(handle, int) and last_error_length() == 0
                assert handle not in live and all(handle != x for x, _ in issued)
                p = Planned(task)
                issued.append((handle, p))
                live[handle] = p
            elif op == "junk":
                expect_misuse(api.poll(None if flag else 10_000 + k))
            elif op == "release":
                if plan is not None and not plan.cancelled:
                    plan.released = True
                    plan.task.release.set()
            elif h not in live and op in ("poll", "cancel", "cancelled", "wait", "destroy"):
                fn = {
                    "poll": api.poll,
                    "cancel": api.cancel,
                    "cancelled": api.cancelled,
                    "wait": api.wait,
                    "destroy": api.handle_destroy,
                }[op]
                expect_misuse(fn(h))
                if issued:
                    assert "already freed" in (last_error_message() or "")
            elif op == "poll":
                assert plan is not None
                r = api.poll(h)
                kind, expected = plan.finished_outcome()
                if r is None:
                    if last_error_length():
                        assert kind in ("error", "cancelled")
                else:
                    assert kind == "ok" and api.result_value(r) == expected
                    results.append(r)
                    live_results[r] = expected
            elif op == "cancel":
                assert plan is not None
                api.cancel(h)
                plan.cancel_called = True
                if not plan.released:
                    plan.cancelled = True
                assert api.cancelled(h) == 1
            elif op == "cancelled":
                assert plan is not None
                assert api.cancelled(h) == int(plan.cancel_called)
            elif op == "wait":
                assert plan is not None
                if not (plan.released or plan.cancelled):
                    continue  # would block: nothing ends this task
                r = api.wait(h)
                del live[h]
                kind, expected = plan.finished_outcome()
                if kind == "ok":
                    assert r is not None and api.result_value(r) == expected
                    results.append(r)
                    live_results[r] = expected
                else:
                    expect_misuse(r)
                    if kind == "error":
                        assert last_error_message() == expected
            elif op == "destroy":
                api.handle_destroy(h)
                assert last_error_length() == 0
                del live[h]
            elif op in ("result_value", "result_destroy"):
                r = results[k % len(results)] if results else 2
                if r in live_results:
                    if op == "result_value":
                        assert api.result_value(r) == live_results[r]
                    else:
                        api.result_destroy(r)
                        del live_results[r]
                    assert last_error_length() == 0
                else:
                    fn2 = api.result_value if op == "result_value" else api.result_destroy
                    expect_misuse(fn2(r))
            stats = api.statistics()
            assert stats.live_handles == len(live)
            assert stats.live_results == len(live_results)
    finally:
        api.close()
    stats = api.statistics()
    assert (stats.live_handles, stats.live_results) == (0, 0)
    assert set(threading.enumerate()) <= before
