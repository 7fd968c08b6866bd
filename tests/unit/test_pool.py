"""WorkerPool: the seed's tests, the gaps treadle closes, and the worker-side API.

No test sleeps to order threads: they wait on Events, on the down channel's
FIFO order, on the burst cut-off itself, or poll ``statistics()`` with a
deadline that fails the test.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from treadle import (
    Closed,
    Disconnected,
    Empty,
    Full,
    NoWorkers,
    PoolStatistics,
    PoolWorkerError,
    StopRequested,
    UpMsg,
    WorkerPaused,
    WorkerPool,
    WorkerReceiver,
    WorkerSender,
    sync,
)
from treadle.pool import CONTINUE, PAUSE, STOP

Tx = WorkerSender[Any]
Rx = WorkerReceiver[Any]

WAIT = 10.0  # seconds; only ever reached when a test is failing


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.001)


def stats(pool: WorkerPool[Any, Any]) -> PoolStatistics:
    return pool.statistics()


def pool_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}-worker-")]


def wait_for_stop(tx: Tx, rx: Rx) -> None:
    for _ in rx:
        pass


def send_then_wait(*values: object) -> Callable[[Tx, Rx], None]:
    """A worker that sends ``values`` (``None`` = its own index), then waits for STOP."""

    def worker(tx: Tx, rx: Rx) -> None:
        for value in values:
            tx.send(tx.index if value is None else value)
        wait_for_stop(tx, rx)

    return worker


class Recorder(sync.ThreadingBackend):
    """The production backend plus a log of protocol events."""

    name = "pool-test-recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((event, fields))

    def pool_events(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(e, f) for e, f in self.events if e.startswith("pool.")]


@contextmanager
def recording() -> Iterator[Recorder]:
    backend = Recorder()
    with sync.using_backend(backend):
        yield backend


# --- seed tests -----------------------------------------------------------------------------


def test_burst_after_first_sends_returns_exactly_those() -> None:
    go = threading.Event()

    def worker(tx: Tx, rx: Rx) -> None:
        tx.send(("first", tx.index))
        assert go.wait(WAIT)
        tx.send(("second", tx.index))
        wait_for_stop(tx, rx)

    with WorkerPool[Any, Any](16) as pool:
        pool.execute_many(3, worker)
        wait_until(lambda: stats(pool).queued == 3, "the three first sends")
        burst = pool.recv_burst(with_envelope=True)
        # Everything sent after the burst started is queued before we read it:
        # only the cut-off can keep those out.
        go.set()
        wait_until(lambda: stats(pool).queued == 6, "the three second sends")
        got = list(burst)
        assert sorted(m.value for m in got) == [("first", 0), ("first", 1), ("first", 2)]
        assert sorted(m.worker for m in got) == [0, 1, 2]
        # The first later message was kept and comes first; then the rest.
        later = [pool.recv(timeout=WAIT, with_envelope=True) for _ in range(3)]
        assert sorted(m.value for m in later) == [("second", 0), ("second", 1), ("second", 2)]
        assert min(m.sent_at for m in later) > max(m.sent_at for m in got)
        assert pool.stop_and_join() == []


def test_kept_message_is_delivered_first_by_the_next_recv() -> None:
    go = threading.Event()

    def worker(tx: Tx, rx: Rx) -> None:
        assert go.wait(WAIT)
        for i in range(3):
            tx.send(i)
        wait_for_stop(tx, rx)

    with WorkerPool[int, Any](8) as pool:
        pool.execute(worker)
        burst = pool.recv_burst()
        go.set()
        wait_until(lambda: stats(pool).queued == 3, "three sends")
        assert list(burst) == []
        assert stats(pool).queued == 3  # the kept one still counts as queued
        assert [pool.recv(timeout=WAIT) for _ in range(3)] == [0, 1, 2]
        # A new burst after they were sent yields nothing more and ends.
        assert list(pool.recv_burst()) == []


def test_stop_collects_all_six_messages_of_three_workers() -> None:
    def worker(tx: Tx, rx: Rx) -> None:
        tx.send((tx.index, "a"))
        tx.send((tx.index, "b"))
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](16)
    pool.execute_many(3, worker)
    got = list(pool.stop())
    assert sorted(got) == sorted((w, x) for w in range(3) for x in "ab")
    for w in range(3):  # each worker's messages keep their order
        assert [x for i, x in got if i == w] == ["a", "b"]
    assert pool_threads("pool") == []
    pool.close()


def test_capacity_one_with_a_slow_manager_completes() -> None:
    per_worker = 50

    def worker(tx: Tx, rx: Rx) -> None:
        for i in range(per_worker):
            tx.send((tx.index, i))
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](1)
    pool.execute_many(3, worker)
    # The manager has not received anything: the channel holds one message and
    # the other workers are blocked in send. Joining now would deadlock.
    wait_until(lambda: stats(pool).senders_waiting >= 2, "workers blocked on the full channel")
    got = pool.stop_and_join()
    assert len(got) == 3 * per_worker
    for w in range(3):
        assert [i for j, i in got if j == w] == list(range(per_worker))
    assert pool_threads("pool") == []
    pool.close()


def test_broadcast_then_stop_gives_each_workers_echoes_and_final_message() -> None:
    def echo(tx: Tx, rx: Rx) -> None:
        for msg in rx:
            tx.send((tx.index, msg))
        tx.send((tx.index, "final"))

    pool = WorkerPool[Any, Any](4)
    pool.execute_many(3, echo)
    for n in range(3):
        assert pool.broadcast(n) == 3
    got = list(pool.stop())
    for w in range(3):
        assert [x for i, x in got if i == w] == [0, 1, 2, "final"]
    assert len(got) == 12
    pool.close()


def test_thirty_two_spinning_workers_on_capacity_sixteen_burst_then_stop_complete() -> None:
    def spin(tx: Tx, rx: Rx) -> None:
        n = 0
        while True:
            try:
                rx.try_recv()
            except StopRequested:
                return
            except Empty:
                pass
            tx.send(n)
            n += 1

    pool = WorkerPool[int, Any](16, name="spin")
    pool.execute_many(32, spin)
    wait_until(lambda: stats(pool).senders_waiting >= 16, "spinning workers to fill the channel")
    started = time.monotonic()
    burst = list(pool.recv_burst(with_envelope=True))
    # Never more than could have been sent when it started: the queue plus
    # one message in flight per worker. It ends although workers keep sending.
    assert 1 <= len(burst) <= 16 + 32
    rest = pool.stop_and_join(with_envelope=True)
    assert pool_threads("spin") == []
    elapsed = time.monotonic() - started
    assert elapsed < WAIT, f"burst + stop took {elapsed:.1f}s"
    for w in range(32):  # per worker, nothing lost or repeated, in order
        seq = [m.value for m in burst + rest if m.worker == w]
        assert seq == list(range(len(seq)))
    pool.close()


def test_a_worker_that_raises_makes_stop_raise_after_joining() -> None:
    def bad(tx: Tx, rx: Rx) -> None:
        tx.send("before")
        raise ValueError("worker broke")

    pool = WorkerPool[str, Any](4)
    pool.execute(bad)
    with pytest.raises(PoolWorkerError) as info:
        pool.stop_and_join()
    assert pool_threads("pool") == []
    err = info.value
    assert err.workers == (0,)
    assert [type(e) for e in err.exceptions] == [ValueError]
    assert str(err.exceptions[0]) == "worker broke"
    assert "raised by pool worker 0" in getattr(err.exceptions[0], "__notes__", [])
    assert err.messages == ["before"]
    # Reported once: the pool is clean and reusable.
    pool.execute(wait_for_stop)
    assert pool.stop_and_join() == []
    pool.close()


def test_several_raising_workers_are_all_joined_and_all_reported() -> None:
    release = threading.Event()

    def worker(tx: Tx, rx: Rx) -> None:
        if tx.index % 2 == 0:
            assert release.wait(WAIT)
            raise KeyError(tx.index)
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](4)
    pool.execute_many(5, worker)
    release.set()
    it = pool.stop()
    with pytest.raises(PoolWorkerError) as info:
        list(it)
    assert pool_threads("pool") == []
    assert sorted(info.value.workers) == [0, 2, 4]
    assert sorted(e.args[0] for e in info.value.exceptions) == [0, 2, 4]
    with pytest.raises(StopIteration):
        next(it)
    # except* sees through the group, keeping the worker indices.
    try:
        raise info.value
    except* KeyError as group:
        assert isinstance(group, PoolWorkerError)
        assert sorted(group.workers) == [0, 2, 4]
    pool.close()


def test_the_worker_error_names_each_worker_and_its_exception() -> None:
    def worker(tx: Tx, rx: Rx) -> None:
        if tx.index == 0:
            raise ValueError("x")
        if tx.index == 3:
            raise KeyError("k")
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](4, name="msg")
    pool.execute_many(4, worker)
    wait_until(lambda: stats(pool).running == 2, "workers 0 and 3 to raise")
    with pytest.raises(PoolWorkerError) as info:
        pool.stop_and_join()
    err = info.value
    assert err.message == (
        "2 pool workers raised: worker 0: ValueError('x'); worker 3: KeyError('k')"
    )
    assert str(err) == err.message + " (2 sub-exceptions)"
    assert err.workers == (0, 3)
    assert [e.treadle_worker for e in err.exceptions] == [0, 3]  # type: ignore[attr-defined]
    # A part of the group names only its own workers.
    part = err.subgroup(KeyError)
    assert part is not None and part.workers == (3,)
    assert part.message == "1 pool worker raised: worker 3: KeyError('k')"
    # A huge exception repr is cut short in the message.
    pool.execute(lambda tx, rx: (_ for _ in ()).throw(ValueError("y" * 1000)))
    with pytest.raises(PoolWorkerError) as info:
        pool.stop_and_join()
    assert info.value.message.endswith("...")
    assert len(info.value.message) < 300
    pool.close()


def test_a_worker_raising_a_base_exception_is_reported_wrapped() -> None:
    def leave(tx: Tx, rx: Rx) -> None:
        raise SystemExit(3)

    pool = WorkerPool[Any, Any](1)
    pool.execute(leave)
    with pytest.raises(PoolWorkerError) as info:
        pool.close()
    (exc,) = info.value.exceptions
    assert isinstance(exc, RuntimeError)
    assert isinstance(exc.__cause__, SystemExit)
    assert str(info.value) == "1 pool worker raised: worker 0: SystemExit(3) (1 sub-exception)"
    assert exc.treadle_worker == 0  # type: ignore[attr-defined]
    assert pool.statistics().closed


# --- the manager side -----------------------------------------------------------------------


def test_recv_with_no_workers_raises_instead_of_blocking() -> None:
    pool = WorkerPool[Any, Any](2)
    with pytest.raises(NoWorkers, match="no worker was started"):
        pool.recv()
    with pytest.raises(NoWorkers):
        pool.try_recv()
    assert list(pool.recv_burst()) == []
    with pytest.raises(NoWorkers):
        pool.send_one("x")
    assert issubclass(NoWorkers, Disconnected)
    pool.close()


def test_recv_after_all_workers_ended_returns_the_queue_then_raises() -> None:
    pool = WorkerPool[int, Any](4)
    pool.execute(lambda tx, rx: tx.send(7))
    assert pool.recv(timeout=WAIT) == 7
    with pytest.raises(NoWorkers, match="its only worker has ended"):
        pool.recv()
    pool.close()


def test_recv_after_a_stop_says_the_workers_stopped() -> None:
    pool = WorkerPool[int, Any](4, name="after")
    pool.execute_many(2, send_then_wait(None))
    assert sorted(pool.stop_and_join()) == [0, 1]
    stopped = r"pool workers have stopped \(stop_and_join\(\) was called\); no more values"
    with pytest.raises(NoWorkers, match=stopped) as info:
        pool.recv()
    assert "execute() first" not in str(info.value)
    with pytest.raises(NoWorkers, match=stopped):
        pool.recv(timeout=WAIT)
    with pytest.raises(NoWorkers, match=stopped):
        pool.try_recv()
    assert list(pool.recv_burst()) == []  # a burst never raises: it is just empty
    # After stop(), the message names stop().
    pool.execute(send_then_wait(5))
    assert list(pool.stop()) == [5]
    with pytest.raises(NoWorkers, match=r"stopped \(stop\(\) was called\)"):
        pool.try_recv()
    # New workers: the pool receives again, and then is back to "ended".
    pool.execute(lambda tx, rx: tx.send(9))
    assert pool.recv(timeout=WAIT) == 9
    with pytest.raises(NoWorkers, match="its only worker has ended"):
        pool.recv(timeout=WAIT)
    pool.close()
    with pytest.raises(Closed, match="closed WorkerPool"):
        pool.recv()


def test_recv_unblocks_with_an_error_when_the_last_worker_ends() -> None:
    holder: dict[str, WorkerPool[Any, Any]] = {}

    def worker(tx: Tx, rx: Rx) -> None:
        # Return only once the manager is blocked in recv().
        wait_until(lambda: holder["pool"].statistics().manager_waiting, "the manager in recv")

    pool = WorkerPool[Any, Any](2)
    holder["pool"] = pool
    pool.execute_many(2, worker)
    with pytest.raises(NoWorkers, match="all 2 workers have ended"):
        pool.recv(timeout=WAIT)
    del holder["pool"]
    pool.close()


def test_try_recv_raises_empty_while_a_worker_runs() -> None:
    with WorkerPool[Any, Any](2) as pool:
        pool.execute(wait_for_stop)
        with pytest.raises(Empty) as info:
            pool.try_recv()
        assert not isinstance(info.value, NoWorkers)
        with pytest.raises(Empty):
            pool.recv(timeout=0)


def test_up_messages_carry_worker_and_send_time() -> None:
    with WorkerPool[str, Any](2) as pool:
        before = time.monotonic()
        pool.execute(lambda tx, rx: tx.send("hi"))
        msg = pool.recv(timeout=WAIT, with_envelope=True)
        assert isinstance(msg, UpMsg)
        assert (msg.value, msg.worker) == ("hi", 0)
        assert before <= msg.sent_at <= time.monotonic()
        with pytest.raises(AttributeError):
            msg.value = "changed"  # type: ignore[misc]


def test_receiving_yields_values_unless_the_envelope_is_asked_for() -> None:
    def echo(tx: Tx, rx: Rx) -> None:
        for msg in rx:
            tx.send(msg)

    def sent_by_0(got: list[Any], values: list[Any]) -> None:
        assert all(isinstance(m, UpMsg) for m in got), got
        assert [(m.value, m.worker) for m in got] == [(v, 0) for v in values]

    pool = WorkerPool[str, Any](16, name="env")
    pool.execute(echo)
    for value in "abcdefgh":
        pool.send_to(0, value)
    wait_until(lambda: stats(pool).queued == 8, "eight echoes")
    # Values by default, from every way of receiving.
    assert pool.recv(timeout=WAIT) == "a"
    assert pool.try_recv() == "b"
    assert next(pool.recv_burst()) == "c"  # the rest stays queued
    # The envelope on request.
    sent_by_0([pool.recv(timeout=WAIT, with_envelope=True)], ["d"])
    sent_by_0([pool.try_recv(with_envelope=True)], ["e"])
    sent_by_0([next(pool.recv_burst(with_envelope=True))], ["f"])
    assert pool.stop_and_join() == ["g", "h"]
    for with_envelope in (False, True):
        pool.execute(echo)
        for value in "xyz":
            pool.send_to(0, value)
        it = pool.stop(with_envelope=with_envelope)
        first = next(it)
        rest = it.close()
        if with_envelope:
            sent_by_0([first, *rest], ["x", "y", "z"])
        else:
            assert [first, *rest] == ["x", "y", "z"]
    pool.execute(echo)
    pool.send_to(0, "s")
    sent_by_0(pool.stop_and_join(with_envelope=True), ["s"])
    pool.execute(echo)
    pool.send_to(0, "c1")
    assert pool.close(with_envelope=False) == ["c1"]


def test_close_with_envelope_and_the_messages_on_a_worker_error() -> None:
    def bad(tx: Tx, rx: Rx) -> None:
        tx.send("before")
        raise ValueError("x")

    for with_envelope in (False, True):
        pool = WorkerPool[str, Any](4, name="envc")
        pool.execute(bad)
        with pytest.raises(PoolWorkerError) as info:
            pool.stop_and_join(with_envelope=with_envelope)
        pool.execute(bad)
        with pytest.raises(PoolWorkerError) as closing:
            pool.close(with_envelope=with_envelope)
        for err in (info.value, closing.value):
            if with_envelope:
                assert [(m.value, m.worker) for m in err.messages] == [("before", 0)]
            else:
                assert err.messages == ["before"]
    pool = WorkerPool[str, Any](4, name="envc")
    pool.execute(send_then_wait("m"))
    (msg,) = pool.close(with_envelope=True)
    assert isinstance(msg, UpMsg) and (msg.value, msg.worker) == ("m", 0)


def test_send_to_and_round_robin_send_one_start_at_worker_zero() -> None:
    def echo(tx: Tx, rx: Rx) -> None:
        for msg in rx:
            tx.send(msg)

    pool = WorkerPool[Any, Any](16)
    pool.execute_many(3, echo)
    assert [pool.send_one(n) for n in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    pool.send_to(2, "direct")
    got = pool.stop_and_join(with_envelope=True)
    by_worker = {w: [m.value for m in got if m.worker == w] for w in range(3)}
    assert by_worker == {0: [0, 3, 6], 1: [1, 4], 2: [2, 5, "direct"]}
    # The round restarts at 0 after a stop.
    pool.execute_many(2, echo)
    assert pool.send_one("x") == 0
    pool.close()


def test_send_one_skips_workers_that_have_ended() -> None:
    def quit_at_once(tx: Tx, rx: Rx) -> None:
        pass

    def echo(tx: Tx, rx: Rx) -> None:
        for msg in rx:
            tx.send(msg)

    with WorkerPool[Any, Any](4) as pool:
        pool.execute(quit_at_once)
        pool.execute(echo)
        wait_until(lambda: stats(pool).running == 1, "worker 0 to end")
        assert pool.send_one("a") == 1
        assert pool.send_one("b") == 1
        assert pool.broadcast("c") == 1
        with pytest.raises(Disconnected, match="worker 0 has ended") as info:
            pool.send_to(0, "d")
        assert info.value.item == "d"
        assert [pool.recv(timeout=WAIT) for _ in range(3)] == ["a", "b", "c"]


def test_pool_is_reusable_after_stop() -> None:
    def hello(tx: Tx, rx: Rx) -> None:
        tx.send(("hello", tx.index))
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](2)
    for round_ in range(3):
        assert pool.execute_many(2, hello) == [0, 1]
        assert stats(pool).workers == 2
        got = sorted(pool.stop_and_join())
        assert got == [("hello", 0), ("hello", 1)], round_
        assert stats(pool).workers == 0
        assert pool_threads("pool") == []
    pool.close()


def test_messages_left_by_ended_workers_survive_a_new_execute() -> None:
    pool = WorkerPool[str, Any](4)
    pool.execute(lambda tx, rx: tx.send("old"))
    wait_until(lambda: stats(pool).running == 0, "the first worker to end")
    pool.execute(lambda tx, rx: tx.send("new"))  # a fresh up channel
    assert [pool.recv(timeout=WAIT) for _ in range(2)] == ["old", "new"]
    pool.close()


def test_statistics_report_the_pool() -> None:
    release = threading.Event()

    def worker(tx: Tx, rx: Rx) -> None:
        tx.send(1)
        assert release.wait(WAIT)
        wait_for_stop(tx, rx)

    pool = WorkerPool[int, Any](3, name="st")
    assert stats(pool) == PoolStatistics(
        capacity=3,
        workers=0,
        running=0,
        queued=0,
        senders_waiting=0,
        manager_waiting=False,
        stopping=False,
        closed=False,
    )
    pool.execute_many(2, worker)
    wait_until(lambda: stats(pool).queued == 2, "two sends")
    snap = stats(pool)
    assert (snap.workers, snap.running, snap.stopping) == (2, 2, False)
    it = pool.stop()
    assert stats(pool).stopping
    release.set()
    assert len(list(it)) == 2
    assert (stats(pool).workers, stats(pool).stopping) == (0, False)
    pool.close()
    assert stats(pool).closed
    assert "closed" in repr(pool)


# --- closing, abandoning, interrupting ------------------------------------------------------


def test_close_joins_and_returns_the_drained_messages() -> None:
    pool = WorkerPool[Any, Any](2, name="cl")
    pool.execute_many(2, send_then_wait(None))
    assert sorted(pool.close()) == [0, 1]
    assert pool_threads("cl") == []
    assert pool.close() == []  # idempotent
    for call in (
        lambda: pool.execute(wait_for_stop),
        pool.recv,
        pool.try_recv,
        pool.recv_burst,
        lambda: pool.broadcast(1),
        lambda: pool.send_one(1),
        lambda: pool.send_to(0, 1),
        pool.stop,
    ):
        with pytest.raises(Closed, match="closed WorkerPool"):
            call()


def test_context_manager_joins_and_raises_worker_errors() -> None:
    def bad(tx: Tx, rx: Rx) -> None:
        raise ValueError("bad")

    with pytest.raises(PoolWorkerError), WorkerPool[Any, Any](2, name="cm") as pool:
        pool.execute(bad)
        pool.execute(wait_for_stop)
    assert pool_threads("cm") == []


def test_context_manager_keeps_the_callers_exception_and_notes_worker_errors() -> None:
    def bad(tx: Tx, rx: Rx) -> None:
        raise ValueError("bad")

    with pytest.raises(LookupError) as info, WorkerPool[Any, Any](2, name="cm2") as pool:
        pool.execute(bad)
        raise LookupError("caller")
    assert pool_threads("cm2") == []
    assert any("workers also failed" in note for note in info.value.__notes__)


def test_dropping_the_pool_stops_and_joins_its_workers() -> None:
    pool = WorkerPool[Any, Any](2, name="dropped")
    pool.execute_many(3, wait_for_stop)
    threads = pool_threads("dropped")
    assert len(threads) == 3
    del pool
    gc.collect()
    assert not any(t.is_alive() for t in threads)


def finalise_on_a_thread(target: Callable[[], None], name: str) -> None:
    """Run ``target`` (a finaliser call) on a thread; it must finish, not hang."""
    # A daemon: if it does hang, the test fails instead of the interpreter exit.
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout=WAIT)  # a hang detector, not a sleep
    assert not thread.is_alive(), f"{name}: the finaliser blocked"


def closed_by_its_closer(pool: WorkerPool[Any, Any], workers: list[threading.Thread]) -> None:
    """The closer thread the finaliser handed over to stops, drains and joins the pool."""
    wait_until(lambda: stats(pool).closed, "the closer to close the pool")
    for t in threading.enumerate():
        if t.name == f"{pool._core.name}-closer":
            t.join(timeout=WAIT)
            assert not t.is_alive()
    assert not any(t.is_alive() for t in workers)


def test_the_finaliser_never_blocks_on_the_pools_lock_held_by_its_own_thread() -> None:
    # As when the cycle collector finalises the pool on a thread that holds
    # its lock (a worker ending): waiting for the lock would self-deadlock.
    pool = WorkerPool[Any, Any](2, name="selflock")
    pool.execute_many(2, send_then_wait(None))
    workers = pool_threads("selflock")

    def finalise() -> None:
        with pool._core.lock:
            pool.__del__()
            assert not pool._core.closed  # nothing that needs the lock was done here

    finalise_on_a_thread(finalise, "finaliser")
    closed_by_its_closer(pool, workers)
    assert pool_threads("selflock") == []


def test_the_finaliser_does_not_wait_for_a_lock_held_elsewhere() -> None:
    pool = WorkerPool[Any, Any](2, name="otherlock")
    pool.execute(wait_for_stop)
    workers = pool_threads("otherlock")
    lock = pool._core.lock
    assert lock.acquire(timeout=WAIT)
    try:
        finalise_on_a_thread(pool.__del__, "finaliser")
        assert not pool._core.closed
    finally:
        lock.release()
    closed_by_its_closer(pool, workers)


def test_the_finaliser_on_one_of_the_pools_workers_does_not_join_it() -> None:
    holder: dict[str, WorkerPool[Any, Any]] = {}
    finalised = threading.Event()

    def worker(tx: Tx, rx: Rx) -> None:
        if tx.index == 0:
            assert finalised.wait(WAIT)
            holder["pool"].__del__()  # as if the last reference went away here
            # Capacity 1: the second send waits for room that only a drain
            # makes, so the worker ends only if the close drains before it joins.
            tx.send("after the finaliser")
            tx.send("and again")
        wait_for_stop(tx, rx)

    pool = WorkerPool[Any, Any](1, name="onworker")
    holder["pool"] = pool
    pool.execute_many(2, worker)
    workers = pool_threads("onworker")
    finalised.set()
    closed_by_its_closer(pool, workers)
    del holder["pool"]


def test_abandoning_the_stop_iterator_still_joins_and_keeps_the_rest() -> None:
    def worker(tx: Tx, rx: Rx) -> None:
        for i in range(5):
            tx.send(i)
        wait_for_stop(tx, rx)

    pool = WorkerPool[int, Any](2, name="ab")
    pool.execute(worker)
    for value in pool.stop():
        assert value == 0
        break  # the iterator is dropped here
    assert pool_threads("ab") == []
    assert not stats(pool).stopping
    # Nothing is lost: the rest waits for the next recv.
    assert [pool.try_recv() for _ in range(4)] == [1, 2, 3, 4]
    pool.close()


def test_closing_the_stop_iterator_returns_the_rest() -> None:
    def worker(tx: Tx, rx: Rx) -> None:
        for i in range(4):
            tx.send(i)
        wait_for_stop(tx, rx)

    pool = WorkerPool[int, Any](1, name="cs")
    pool.execute(worker)
    with pool.stop() as it:
        assert next(it) == 0
        assert it.close() == [1, 2, 3]
        assert it.done
        assert it.close() == []
    assert pool_threads("cs") == []
    pool.close()


def test_an_unfinished_stop_is_finished_by_the_next_execute() -> None:
    pool = WorkerPool[Any, Any](2, name="un")
    pool.execute(send_then_wait("a", "b"))
    it = pool.stop()
    assert next(it) == "a"
    pool.execute(lambda tx, rx: tx.send("c"))  # `it` is still referenced
    assert it.done
    assert [pool.recv(timeout=WAIT) for _ in range(2)] == ["b", "c"]
    pool.close()


def test_errors_of_an_abandoned_stop_are_raised_by_the_next_stop() -> None:
    def bad(tx: Tx, rx: Rx) -> None:
        tx.send("x")
        raise ValueError("late")

    pool = WorkerPool[Any, Any](2, name="ae")
    pool.execute(bad)
    for _ in pool.stop():
        break
    with pytest.raises(PoolWorkerError) as info:
        pool.stop_and_join()
    assert info.value.workers == (0,)
    pool.close()


class InterruptedDrain(WorkerPool[Any, Any]):
    """Raises KeyboardInterrupt when the drain takes its third message."""

    __slots__ = ("drained",)

    def __init__(self) -> None:
        super().__init__(1, name="ki")
        self.drained = 0

    def _drain_one(self) -> UpMsg[Any] | None:
        msg = super()._drain_one()
        if msg is not None:
            self.drained += 1
            if self.drained == 3:
                raise KeyboardInterrupt
        return msg


def test_keyboard_interrupt_during_stop_still_joins_every_worker() -> None:
    def worker(tx: Tx, rx: Rx) -> None:
        for i in range(10):
            tx.send(i)
        wait_for_stop(tx, rx)

    pool = InterruptedDrain()
    pool.execute_many(3, worker)
    wait_until(lambda: stats(pool).senders_waiting >= 2, "workers blocked on the full channel")
    with pytest.raises(KeyboardInterrupt):
        pool.stop_and_join()
    assert pool_threads("ki") == []
    # The drain went on after the interrupt; only the message in hand when it
    # hit is gone. The two collected before it and the rest are still delivered.
    rest = pool.close(with_envelope=True)
    assert len(rest) == 29
    for w in range(3):
        seq = [m.value for m in rest if m.worker == w]
        assert seq == sorted(seq)


def test_keyboard_interrupt_in_the_loop_body_still_joins() -> None:
    pool = WorkerPool[Any, Any](1, name="kib")
    pool.execute_many(2, send_then_wait(1, 2))
    with pytest.raises(KeyboardInterrupt):
        for _ in pool.stop():
            raise KeyboardInterrupt
    assert pool_threads("kib") == []
    assert len(pool.close()) == 3


# --- the worker side ------------------------------------------------------------------------


def echo_all(tx: Tx, rx: Rx) -> None:
    for msg in rx:
        tx.send(msg)


def test_pause_holds_messages_until_continue() -> None:
    with WorkerPool[Any, Any](8) as pool:
        pool.execute(echo_all)
        for msg in ("a", PAUSE, "b", "c", CONTINUE, "d"):
            pool.send_to(0, msg)
        assert [pool.recv(timeout=WAIT) for _ in range(4)] == ["a", "b", "c", "d"]


def test_stop_while_paused_ends_the_worker_without_the_held_messages() -> None:
    # FIFO down channel: if PAUSE did not hold "b" back, it would be echoed
    # before STOP ends the loop.
    pool = WorkerPool[Any, Any](8)
    pool.execute(echo_all)
    for msg in ("a", PAUSE, "b"):
        pool.send_to(0, msg)
    assert list(pool.stop()) == ["a"]
    pool.close()


def test_try_recv_never_blocks_and_reports_pause_and_stop() -> None:
    step = threading.Event()
    seen: list[object] = []

    def worker(tx: Tx, rx: Rx) -> None:
        with pytest.raises(Empty) as empty:
            rx.try_recv()
        seen.append(type(empty.value))
        tx.send("ready")
        assert step.wait(WAIT)  # manager queued PAUSE, "x"
        with pytest.raises(WorkerPaused):
            rx.try_recv()
        seen.append(rx.paused)
        with pytest.raises(WorkerPaused):
            rx.wait_while_paused(timeout=0)
        with pytest.raises(WorkerPaused):
            rx.recv(timeout=0)
        tx.send("paused")
        step.clear()
        rx.wait_while_paused()  # returns at CONTINUE
        seen.append(rx.try_recv())  # the held message
        with pytest.raises(StopRequested):
            rx.recv()
        seen.append(rx.stopped)
        with pytest.raises(StopRequested):
            rx.try_recv()

    pool = WorkerPool[Any, Any](4)
    pool.execute(worker)
    assert pool.recv(timeout=WAIT) == "ready"
    pool.send_to(0, PAUSE)
    pool.send_to(0, "x")
    step.set()
    assert pool.recv(timeout=WAIT) == "paused"
    pool.send_to(0, CONTINUE)
    pool.send_to(0, STOP)
    assert pool.stop_and_join() == []
    assert seen == [Empty, True, "x", True]


def test_letting_stop_requested_escape_is_a_normal_end() -> None:
    def loop(tx: Tx, rx: Rx) -> None:
        while True:
            tx.send(rx.recv())

    def fake(tx: Tx, rx: Rx) -> None:
        raise StopRequested("not from the pool")

    pool = WorkerPool[Any, Any](4)
    pool.execute(loop)
    pool.send_to(0, "x")
    assert pool.stop_and_join() == ["x"]
    pool.execute(fake)  # no STOP was received: that is an error
    with pytest.raises(PoolWorkerError) as info:
        pool.stop_and_join()
    assert [type(e) for e in info.value.exceptions] == [StopRequested]
    pool.close()


def test_tx_send_times_out_and_try_send_reports_full() -> None:
    outcome: list[str] = []

    def worker(tx: Tx, rx: Rx) -> None:
        tx.send(1)
        with pytest.raises(Full):
            tx.try_send(2)
        with pytest.raises(Full):
            tx.send(2, timeout=0)
        outcome.append("full")

    pool = WorkerPool[int, Any](1)
    pool.execute(worker)
    wait_until(lambda: stats(pool).running == 0, "the worker to end")
    assert pool.stop_and_join() == [1]
    assert outcome == ["full"]
    pool.close()


def test_a_leaked_tx_is_closed_when_the_worker_returns() -> None:
    leaked: list[Tx] = []
    pool = WorkerPool[Any, Any](2)
    pool.execute(lambda tx, rx: leaked.append(tx))
    pool.stop_and_join()
    with pytest.raises(Closed, match="after its function returned"):
        leaked[0].send(1)
    with pytest.raises(Closed):
        leaked[0].try_send(1)
    pool.close()


def test_worker_handles_know_their_index() -> None:
    with WorkerPool[Any, Any](4) as pool:
        pool.execute_many(3, lambda tx, rx: tx.send((tx.index, rx.index, repr(tx))))
        got = sorted(pool.recv(timeout=WAIT) for _ in range(3))
    assert got == [(i, i, f"<WorkerSender worker={i}>") for i in range(3)]


def test_control_messages_have_readable_reprs() -> None:
    assert repr(STOP) == "treadle.pool.STOP"
    assert {PAUSE.name, CONTINUE.name} == {"PAUSE", "CONTINUE"}


# --- protocol events ------------------------------------------------------------------------


def test_stop_emits_drain_before_join_events() -> None:
    with recording() as rec:
        pool = WorkerPool[Any, Any](1, name="ev")
        pool.execute_many(2, send_then_wait(None))
        pool.stop_and_join()
        pool.close()
    names = [e for e, _ in rec.pool_events()]
    assert names.count("pool.worker_started") == 2
    assert names.count("pool.stop_sent") == 2
    assert names.count("pool.stop_received") == 2
    assert names.count("pool.message_drained") == 2
    assert names.count("pool.worker_ended") == 2
    assert names.count("pool.worker_joined") == 2
    # The first join comes only after both workers ended and the pool went idle.
    first_join = names.index("pool.worker_joined")
    assert names.index("pool.idle") < first_join
    assert max(i for i, n in enumerate(names) if n == "pool.worker_ended") < first_join
    assert names[-1] == "pool.stop_returned"
    assert all(f["pool"] == "ev" for _, f in rec.pool_events())


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "error"),
    [(0, ValueError), (-1, ValueError), (None, TypeError), (1.5, TypeError), (True, TypeError)],
)
def test_bad_capacity_is_rejected(capacity: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="capacity"):
        WorkerPool(capacity)


def test_bad_arguments_are_rejected_with_clear_errors() -> None:
    with pytest.raises(TypeError, match="name"):
        WorkerPool(1, name="")
    with WorkerPool[Any, Any](1) as pool:
        with pytest.raises(TypeError, match="callable"):
            pool.execute(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="n >= 0"):
            pool.execute_many(-1, wait_for_stop)
        with pytest.raises(TypeError, match="int number of workers"):
            pool.execute_many(2.0, wait_for_stop)  # type: ignore[arg-type]
        assert pool.execute_many(0, wait_for_stop) == []
        with pytest.raises(IndexError, match="0 workers"):
            pool.send_to(0, "x")
        with pytest.raises(TypeError, match="worker index"):
            pool.send_to("0", "x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            pool.recv(timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            pool.recv(timeout="soon")  # type: ignore[arg-type]
