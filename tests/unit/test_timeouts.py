"""Timeouts: ``math.inf`` and huge finite values wait forever, never overflow."""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import pytest

from tests.support import Background, wait_until
from treadle import channel, sync
from treadle.task import CancellationToken, spawn

HUGE = [math.inf, 1e300, sys.float_info.max, threading.TIMEOUT_MAX * 2]


@pytest.mark.parametrize("timeout", HUGE)
def test_check_timeout_maps_huge_values_to_forever(timeout: float) -> None:
    assert sync.check_timeout(timeout) is None


def test_check_timeout_keeps_ordinary_values() -> None:
    assert sync.check_timeout(0) == 0
    assert sync.check_timeout(1.5) == 1.5
    assert sync.check_timeout(threading.TIMEOUT_MAX) == threading.TIMEOUT_MAX


@pytest.mark.parametrize("bad", [-1, -math.inf, math.nan])
def test_check_timeout_refuses_negative_and_nan(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a non-negative"):
        sync.check_timeout(bad)


@pytest.mark.parametrize("bad", ["1", True, object()])
def test_check_timeout_refuses_non_numbers(bad: object) -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        sync.check_timeout(bad)


@pytest.mark.parametrize("timeout", HUGE)
def test_recv_with_huge_timeout_waits_for_the_sender(timeout: float) -> None:
    tx, rx = channel(1)
    got = Background(rx.recv, timeout)
    wait_until(lambda: rx.statistics().receiver_waiting, what="the receiver to block")
    tx.send("x")
    assert got.outcome() == "x"
    tx.close()
    rx.close()


@pytest.mark.parametrize("timeout", HUGE)
def test_send_with_huge_timeout_waits_for_room(timeout: float) -> None:
    tx, rx = channel(1)
    tx.send(1)
    sent = Background(tx.send, 2, timeout)
    wait_until(lambda: tx.statistics().senders_waiting >= 1, what="the sender to block")
    assert rx.recv() == 1
    sent.outcome()
    assert rx.recv(timeout) == 2
    tx.close()
    rx.close()


@pytest.mark.parametrize("timeout", HUGE)
def test_rendezvous_send_with_huge_timeout(timeout: float) -> None:
    tx, rx = channel(0)
    sent = Background(tx.send, "r", timeout)
    assert rx.recv(timeout) == "r"
    sent.outcome()
    tx.close()
    rx.close()


@pytest.mark.parametrize("timeout", HUGE)
def test_task_wait_with_huge_timeout(timeout: float) -> None:
    go = threading.Event()

    def run(token: CancellationToken) -> str:
        go.wait(10)
        return "done"

    with spawn(run) as handle:
        waiter: Background[Any] = Background(handle.wait, timeout)
        go.set()
        assert waiter.outcome() == "done"


@pytest.mark.parametrize("timeout", HUGE)
def test_cancellation_token_wait_with_huge_timeout(timeout: float) -> None:
    started = threading.Event()
    result: list[bool] = []

    def run(token: CancellationToken) -> None:
        started.set()
        result.append(token.wait(timeout))

    with spawn(run) as handle:
        assert started.wait(10)
        handle.cancel()
        handle.wait(10)
    assert result == [True]


def test_sleep_validates_its_length() -> None:
    sync.sleep(0)
    with pytest.raises(ValueError, match="sleep length"):
        sync.sleep(-1)
    with pytest.raises(ValueError, match="sleep length"):
        sync.sleep(math.nan)
    with pytest.raises(TypeError, match="sleep length"):
        sync.sleep(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", HUGE)
def test_thread_join_with_huge_timeout(timeout: float) -> None:
    from treadle.threads import spawn_thread

    go = threading.Event()
    handle = spawn_thread(lambda: go.wait(10) and "ok")
    joined: Background[Any] = Background(handle.join, timeout)
    go.set()
    assert joined.outcome() == "ok"


@pytest.mark.parametrize("timeout", HUGE)
def test_pool_recv_and_worker_recv_with_huge_timeout(timeout: float) -> None:
    from treadle import WorkerPool

    def worker(tx: Any, rx: Any) -> None:
        tx.send(rx.recv(timeout))

    with WorkerPool[Any, Any](2) as pool:
        pool.execute(worker)
        pool.send_one("ping")
        assert pool.recv(timeout) == "ping"


def test_the_model_treats_inf_as_no_timeout() -> None:
    import treadle_model

    def body() -> None:
        ev = sync.Event()
        done = sync.Event()
        cond = sync.Condition()

        def waiter() -> None:
            assert ev.wait(math.inf) is True
            with cond:
                assert cond.wait_for(done.is_set, 1e300)

        t = sync.spawn(waiter)
        ev.set()
        with cond:
            done.set()
            cond.notify_all()
        t.join(math.inf)

    report = treadle_model.explore(body)
    assert report.ok, report.failures
