"""The stdlib under the model: documented semantics inside, untouched outside."""

from __future__ import annotations

import _queue
import _thread
import asyncio
import concurrent.futures
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import treadle_model
from tests.model import plain_programs as pp
from treadle import sync
from treadle_verify.cli import main

# What these names are before any exploration (threading.Lock is a function up
# to 3.12 and a type since 3.13); kept in a dict, which the patching never scans.
_ORIGINAL: dict[str, Any] = {"Lock": threading.Lock, "lock type": type(_thread.allocate_lock())}


def _snapshot() -> dict[str, Any]:
    return {
        "threading.Lock": threading.Lock,
        "threading.RLock": threading.RLock,
        "threading.Condition": threading.Condition,
        "threading.Event": threading.Event,
        "threading.Semaphore": threading.Semaphore,
        "threading.current_thread": threading.current_thread,
        "threading.get_ident": threading.get_ident,
        "threading.excepthook": threading.excepthook,
        "_thread.allocate_lock": _thread.allocate_lock,
        "_thread.start_new_thread": _thread.start_new_thread,
        "time.sleep": time.sleep,
        "time.monotonic": time.monotonic,
        "time.time": time.time,
        "queue.SimpleQueue": queue.SimpleQueue,
        "queue.time": queue.time,  # type: ignore[attr-defined]
        "threading._time": threading._time,  # type: ignore[attr-defined]
        "cf.ThreadPoolExecutor": concurrent.futures.ThreadPoolExecutor,
        "cf.wait": concurrent.futures.wait,
        "Thread": dict(threading.Thread.__dict__),
        "socket": dict(socket.socket.__dict__),
        "pp.Lock": pp.Lock,
        "pp.Condition": pp.Condition,
        "pp.ThreadPoolExecutor": pp.ThreadPoolExecutor,
        "os.read": os.read,
        "asyncio.run": asyncio.run,
    }


def _assert_restored(before: dict[str, Any]) -> None:
    after = _snapshot()
    for key, value in before.items():
        assert after[key] == value, f"{key} was not restored"
    assert threading.Lock is _ORIGINAL["Lock"]
    assert pp.Lock is _ORIGINAL["Lock"]
    assert _thread.allocate_lock().__class__ is _ORIGINAL["lock type"]
    assert queue.SimpleQueue is _queue.SimpleQueue
    assert time.sleep.__module__ == "time"


def test_the_patches_are_in_effect_only_inside_virtual_threads() -> None:
    before = _snapshot()
    seen: dict[str, Any] = {}

    def invariant() -> bool:
        # Not a virtual thread: the originals, even while the body runs.
        seen["invariant lock"] = type(threading.Lock())
        return True

    def body() -> None:
        seen["body lock"] = type(threading.Lock())
        seen["by name"] = type(pp.Lock())
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()

    assert treadle_model.explore(body, invariant=invariant).ok
    assert seen["invariant lock"] is type(_thread.allocate_lock())
    assert seen["body lock"] is not type(_thread.allocate_lock())
    assert seen["by name"] is seen["body lock"]
    _assert_restored(before)
    # And afterwards the real things work as usual.
    lock = threading.Lock()
    assert lock.acquire(timeout=0.01) and not lock.acquire(timeout=0)
    t0 = time.monotonic()
    assert time.monotonic() >= t0


@pytest.mark.parametrize(
    "body",
    [pp.if_instead_of_while_bug, pp.lock_order_inversion_bug, pp.thread_left_running_bug],
    ids=["raises", "killed-in-deadlock", "leaks"],
)
def test_the_patches_are_undone_however_an_exploration_ends(body: Callable[[], None]) -> None:
    before = _snapshot()
    assert not treadle_model.explore(body).ok
    _assert_restored(before)


def test_the_patches_are_undone_on_ctrl_c() -> None:
    before = _snapshot()

    def progress(executions: int, seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        treadle_model.explore(pp.lock_order_inversion_fixed, progress=progress)
    _assert_restored(before)


def test_thread_api_under_the_model() -> None:
    class Worker(threading.Thread):  # a subclass overriding run()
        def __init__(self) -> None:
            super().__init__(name="worker", daemon=True)
            self.result = 0

        def run(self) -> None:
            self.result = threading.get_ident()
            assert threading.current_thread() is self
            assert threading.current_thread().name == "worker"

    def body() -> None:
        main_thread = threading.current_thread()
        assert main_thread is threading.main_thread()
        assert main_thread.name == "MainThread"
        w = Worker()
        assert w.ident is None and not w.is_alive() and w.daemon
        assert "initial" in repr(w)
        with pytest.raises(RuntimeError, match="before it is started"):
            w.join()
        w.start()
        with pytest.raises(RuntimeError, match="only be started once"):
            w.start()
        assert w.ident is not None and w.ident != threading.get_ident()
        assert threading.active_count() in (1, 2)
        w.join()
        assert not w.is_alive() and w.result == w.ident
        assert threading.enumerate() == [main_thread]
        gate = threading.Event()
        stuck = threading.Thread(target=gate.wait, name="stuck")
        stuck.start()
        stuck.join(timeout=5)  # on the virtual clock
        assert stuck.is_alive()
        t0 = time.monotonic()
        time.sleep(2.5)
        assert time.monotonic() - t0 >= 2.5
        assert time.time() > 1.7e9
        gate.set()
        stuck.join()
        _thread.start_new_thread(gate.wait, ())

    report = treadle_model.explore(body, max_executions=200)
    # The _thread thread was never joined: it is the leak the model reports.
    assert report.failures and report.failures[0].kind == "leaked_thread"
    assert all(f.kind == "leaked_thread" for f in report.failures)


def test_timer_barrier_local_and_rlock() -> None:
    def body() -> None:
        fired: list[int] = []
        timer = threading.Timer(10.0, fired.append, args=(1,))
        timer.start()
        timer.join()
        assert fired == [1]
        cancelled = threading.Timer(10.0, fired.append, args=(2,))
        cancelled.start()
        cancelled.cancel()
        cancelled.join()
        barrier = threading.Barrier(2)
        local = threading.local()
        local.x = "main"
        ids: list[int] = []

        def party() -> None:
            assert not hasattr(local, "x")
            local.x = "party"
            ids.append(barrier.wait())

        t = threading.Thread(target=party)
        t.start()
        ids.append(barrier.wait())
        t.join()
        assert sorted(ids) == [0, 1] and local.x == "main"
        r = threading.RLock()
        with r, r:
            pass

    report = treadle_model.explore(body)
    assert report.ok and report.exhaustive, str(report)


def test_excepthook_is_called_for_a_thread_exception() -> None:
    def body() -> None:
        caught: list[str] = []
        threading.excepthook = lambda args: caught.append(type(args.exc_value).__name__)
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
        assert caught == ["ZeroDivisionError"]

    before = threading.excepthook
    report = treadle_model.explore(body)
    assert report.ok, str(report)
    assert threading.excepthook is before
    # Without a hook the exception fails the execution.
    unhooked = treadle_model.explore(lambda: pp._run(lambda: 1 / 0))
    assert unhooked.failures[0].kind == "exception"


def test_futures_results_timeouts_and_callbacks() -> None:
    def body() -> None:
        done: list[int] = []
        gate = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(gate.wait)
            with pytest.raises(concurrent.futures.TimeoutError):
                slow.result(timeout=3)
            quick = pool.submit(lambda: 7)
            quick.add_done_callback(lambda f: done.append(f.result()))
            assert quick.result() == 7
            gate.set()
            assert slow.result() is True
            boom = pool.submit(lambda: 1 / 0)
            assert isinstance(boom.exception(), ZeroDivisionError)
            res = concurrent.futures.wait([slow, quick, boom], return_when="FIRST_EXCEPTION")
            assert boom in res.done
            assert list(pool.map(abs, [-1, -2])) == [1, 2]
        assert done == [7]

    report = treadle_model.explore(body, max_executions=300)
    assert report.ok, str(report)


def test_as_completed_yields_in_a_deterministic_order_per_schedule() -> None:
    orders: list[list[int]] = []

    def body() -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            fs = {pool.submit(lambda i=i: i) for i in range(2)}
            orders.append([f.result() for f in concurrent.futures.as_completed(fs)])

    report = treadle_model.explore(body)
    assert report.ok and report.exhaustive, str(report)
    assert all(sorted(o) == [0, 1] for o in orders)
    assert len({tuple(o) for o in orders}) > 1  # the completion order is explored
    again = treadle_model.explore(body)
    assert again.executions == report.executions


def test_mixing_treadle_sync_and_stdlib_objects() -> None:
    def body() -> None:
        lock = sync.Lock()
        cond = threading.Condition(lock)
        box = sync.Cell(0)

        def setter() -> None:
            with cond:
                box.set(1)
                cond.notify()

        t = threading.Thread(target=setter)
        u = sync.spawn(lambda: time.sleep(1))
        t.start()
        with cond:
            while not box.get():
                cond.wait()
        t.join()
        u.join()

    report = treadle_model.explore(body)
    assert report.ok and report.exhaustive, str(report)


@pytest.mark.parametrize(
    ("what", "fragment"),
    [
        ("socket", "socket.recv"),
        ("subprocess", "subprocess"),
        ("asyncio", "asyncio"),
        ("pipe", "os.read"),
    ],
)
def test_blocking_io_in_a_virtual_thread_is_uncontrolled(what: str, fragment: str) -> None:
    a, b = socket.socketpair()
    r, w = os.pipe()

    def body() -> None:
        if what == "socket":
            a.recv(1)
        elif what == "subprocess":
            subprocess.run([sys.executable, "-c", "pass"], check=False)
        elif what == "asyncio":
            asyncio.run(asyncio.sleep(0))
        else:
            os.read(r, 1)

    try:
        report = treadle_model.explore(body)
    finally:
        a.close()
        b.close()
        os.close(r)
        os.close(w)
    failure = report.failures[0]
    assert failure.kind == "uncontrolled", str(failure)
    assert fragment in failure.message
    assert "test_stdlib_patching.py:" in failure.message


def test_cli_explore_checks_plain_threading_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "tests.model.plain_programs:lock_order_inversion_bug"]) == 1
    assert "deadlock" in capsys.readouterr().out
    assert main(["explore", "tests.model.plain_programs:lock_order_inversion_fixed"]) == 0
    assert "2 executions" in capsys.readouterr().out


pytest_plugins = ["pytester"]

PLAIN_MARKED = """
import threading
import pytest

@pytest.mark.treadle({options})
def test_inversion():
    a, b = threading.Lock(), threading.Lock()
    def one():
        with a, b:
            pass
    def two():
        with {order}:
            pass
    ts = [threading.Thread(target=one), threading.Thread(target=two)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
"""


def test_the_pytest_marker_checks_plain_threading_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLAIN_MARKED.format(options="", order="b, a"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "deadlock" in result.stdout.str()


def test_the_pytest_marker_with_count_runs_seeded_schedules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLAIN_MARKED.format(options="strategy='random'", order="a, b"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--count", "5", "-q")
    result.assert_outcomes(passed=5)
    pytester.makepyfile(PLAIN_MARKED.format(options="strategy='random'", order="b, a"))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--count", "20", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
