"""WorkerPump (SEMANTICS section 2): the seed's tests, ported, and the gaps treadle closes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.support import recording
from treadle import Closed, Disconnected, Sender, WorkerError, WorkerPump, sync


def sends(items: Iterable[int], result: object = None) -> Callable[[Sender[int]], object]:
    """A worker that sends ``items`` and returns ``result``."""

    def worker(tx: Sender[int]) -> object:
        for item in items:
            tx.send(item)
        return result

    return worker


# --- ported seed tests --------------------------------------------------------


def test_happy_path_pumps_five_items_in_order_and_returns_the_result() -> None:
    pumped: list[int] = []

    def worker(tx: Sender[int]) -> int:
        for i in range(5):
            tx.send(i)
        return 42

    assert WorkerPump().run(worker, pumped.append) == 42
    assert pumped == [0, 1, 2, 3, 4]


def test_worker_error_with_no_items_never_calls_pump_and_keeps_the_message() -> None:
    pumped: list[object] = []

    def worker(tx: Sender[int]) -> int:
        raise OSError("disk on fire")

    with pytest.raises(WorkerError, match="disk on fire") as info:
        WorkerPump().run(worker, pumped.append)
    assert pumped == []
    cause = info.value.__cause__
    assert isinstance(cause, OSError)
    assert str(cause) == "disk on fire"
    assert "OSError" in str(info.value)


def test_pump_error_joins_worker_first() -> None:
    worker_threads: list[sync.Thread] = []
    worker_finished = threading.Event()

    def worker(tx: Sender[int]) -> None:
        worker_threads.append(sync.current_thread())
        try:
            for i in range(100):
                tx.send(i)
        finally:
            worker_finished.set()

    def pump(item: int) -> None:
        raise ValueError(f"cannot handle {item}")

    with pytest.raises(ValueError, match="cannot handle 0"):
        WorkerPump(capacity=4).run(worker, pump)
    # By the time the error surfaced the worker had finished and was joined.
    assert worker_finished.is_set()
    assert not worker_threads[0].is_alive()


def test_capacity_one_worker_stops_on_disconnect_when_pump_raises_first_item() -> None:
    sent: list[int] = []
    refused: list[int] = []

    def worker(tx: Sender[int]) -> str:
        for i in range(11):
            try:
                tx.send(i)
            except Disconnected as exc:
                refused.append(exc.item)
                return "stopped"
            sent.append(i)
        return "finished"

    def pump(item: int) -> None:
        raise RuntimeError("pump gave up")

    with pytest.raises(RuntimeError, match="pump gave up"):
        WorkerPump(capacity=1).run(worker, pump)
    assert len(refused) == 1
    assert sent == list(range(refused[0]))


class _ListHandler(logging.Handler):
    """Records (message, thread that handled it) for each record."""

    def __init__(self, events: list[tuple[str, Any]] | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.events = events if events is not None else []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((record.getMessage(), sync.current_thread()))


@pytest.fixture
def test_logger() -> Iterator[tuple[logging.Logger, _ListHandler]]:
    logger = logging.getLogger("treadle.tests.pump")
    handler = _ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_worker_logs_are_emitted_before_the_pump_sees_the_next_item(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    seen: list[tuple[str, Any]] = handler.events

    def worker(tx: Sender[int]) -> None:
        for i in range(20):
            logger.info("making %d", i)
            tx.send(i)

    def pump(item: int) -> None:
        seen.append((f"pump {item}", sync.current_thread()))

    main = sync.current_thread()
    WorkerPump(capacity=2).run(worker, pump)
    order = [message for message, _ in seen]
    for i in range(20):
        assert order.index(f"making {i}") < order.index(f"pump {i}")
    assert all(thread is main for _, thread in seen)


# --- the rest of the contract -------------------------------------------------


def test_every_item_is_pumped_before_the_worker_is_joined() -> None:
    with recording() as backend:
        WorkerPump(capacity=0).run(sends(range(3)), lambda _: None)
    assert backend.names("pump.") == [
        "pump.worker_started",
        "pump.item",
        "pump.item",
        "pump.item",
        "pump.worker_returned",
        "pump.rx_closed",
        "pump.worker_joined",
        "pump.run_returned",
    ]
    assert [f["item"] for f in backend.matching("pump.item")] == [0, 1, 2]
    assert {f["channel"] for f in backend.matching("channel.send")} == {"pump"}


def test_events_when_the_pump_raises() -> None:
    def pump(item: int) -> None:
        raise KeyError(item)

    def worker(tx: Sender[int]) -> None:
        tx.send(1)

    with recording() as backend, pytest.raises(KeyError):
        WorkerPump().run(worker, pump)
    # The worker's own end may interleave anywhere after its send.
    names = [
        n for n in backend.names("pump.") if n not in ("pump.worker_returned", "pump.worker_raised")
    ]
    assert names == [
        "pump.worker_started",
        "pump.item",
        "pump.pump_raised",
        "pump.rx_closed",
        "pump.worker_joined",
        "pump.run_raised",
    ]
    assert backend.matching("pump.run_raised") == [{"error": "KeyError"}]


def test_worker_error_comes_after_pumping_what_it_sent() -> None:
    pumped: list[int] = []

    def worker(tx: Sender[int]) -> None:
        tx.send(1)
        tx.send(2)
        raise ValueError("half way")

    with pytest.raises(WorkerError, match="ValueError: half way") as info:
        WorkerPump(capacity=0).run(worker, pumped.append)
    assert pumped == [1, 2]
    assert isinstance(info.value.__cause__, ValueError)


def test_worker_base_exception_is_wrapped_too() -> None:
    def worker(tx: Sender[int]) -> None:
        raise SystemExit(3)

    with pytest.raises(WorkerError) as info:
        WorkerPump().run(worker, lambda _: None)
    assert isinstance(info.value.__cause__, SystemExit)


def test_pump_exception_propagates_unchanged() -> None:
    error = LookupError("mine")

    def pump(item: int) -> None:
        raise error

    def worker(tx: Sender[int]) -> None:
        tx.send(1)

    with pytest.raises(LookupError) as info:
        WorkerPump().run(worker, pump)
    assert info.value is error
    assert error.__cause__ is None
    assert not error.__suppress_context__
    assert not getattr(error, "__notes__", None)


def test_keyboard_interrupt_in_pump_leaves_no_thread_and_propagates() -> None:
    before = set(threading.enumerate())
    handle_before = logging.Logger.handle

    def worker(tx: Sender[int]) -> None:
        i = 0
        while True:  # only a Disconnected ends this worker
            tx.send(i)
            i += 1

    def pump(item: int) -> None:
        if item == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WorkerPump(capacity=2).run(worker, pump)
    assert set(threading.enumerate()) == before
    assert logging.Logger.handle is handle_before


def test_pump_raising_while_worker_is_blocked_on_a_full_channel_does_not_hang() -> None:
    proceed = threading.Event()

    def worker(tx: Sender[int]) -> None:
        tx.send(0)
        proceed.set()
        tx.send(1)  # blocks: capacity 1 and the pump is stuck on item 0
        tx.send(2)

    def pump(item: int) -> None:
        proceed.wait()
        raise ArithmeticError

    with pytest.raises(ArithmeticError):
        WorkerPump(capacity=1).run(worker, pump)


def test_worker_that_keeps_its_sender_after_returning_cannot_hang_run() -> None:
    kept: list[Sender[int]] = []

    def worker(tx: Sender[int]) -> int:
        tx.send(1)
        kept.append(tx)
        return 7

    assert WorkerPump().run(worker, lambda _: None) == 7
    # run closed the worker's sender when the worker returned.
    assert kept[0].closed


def test_worker_that_leaks_a_clone_cannot_hang_run_and_the_clone_is_disconnected() -> None:
    leaked: list[Sender[int]] = []
    pumped: list[int] = []

    def worker(tx: Sender[int]) -> int:
        clone = tx.clone()
        clone.send(1)
        tx.send(2)
        leaked.append(clone)
        return 8

    assert WorkerPump(capacity=0).run(worker, pumped.append) == 8
    assert pumped == [1, 2]
    assert not leaked[0].closed
    with pytest.raises(Disconnected):
        leaked[0].send(3)
    leaked[0].close()


def test_worker_that_closes_its_own_sender_still_ends_run() -> None:
    def worker(tx: Sender[int]) -> str:
        with tx:
            tx.send(1)
        return "closed it"

    assert WorkerPump().run(worker, lambda _: None) == "closed it"


def test_worker_sender_cannot_be_used_after_the_worker_returned() -> None:
    kept: list[Sender[int]] = []
    WorkerPump().run(kept.append, lambda _: None)
    with pytest.raises(Closed):
        kept[0].send(1)


def test_run_is_reusable_and_runs_can_overlap_on_different_threads() -> None:
    pump = WorkerPump(capacity=1)
    outcomes: dict[int, tuple[object, list[int]]] = {}

    def one_run(base: int) -> None:
        got: list[int] = []
        outcomes[base] = (pump.run(sends(range(base, base + 50), base), got.append), got)

    threads = [threading.Thread(target=one_run, args=(b,)) for b in (0, 1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {b: (b, list(range(b, b + 50))) for b in (0, 1000, 2000)}
    assert pump.run(lambda tx: 5, lambda _: None) == 5


def test_worker_runs_on_a_new_thread_and_pump_on_the_calling_thread() -> None:
    main = sync.current_thread()
    worker_thread: list[sync.Thread] = []
    pump_threads: set[sync.Thread] = set()

    def worker(tx: Sender[int]) -> None:
        worker_thread.append(sync.current_thread())
        tx.send(1)
        tx.send(2)

    WorkerPump().run(worker, lambda _: pump_threads.add(sync.current_thread()))
    assert worker_thread[0] is not main
    assert pump_threads == {main}


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"capacity": -1}, ValueError, ">= 0"),
        ({"capacity": None}, TypeError, "int >= 0"),
        ({"capacity": 2.0}, TypeError, "int >= 0"),
        ({"capacity": True}, TypeError, "int >= 0"),
        ({"forward_logs": 1}, TypeError, "forward_logs"),
    ],
)
def test_bad_configuration_is_rejected(
    kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        WorkerPump(**kwargs)  # type: ignore[arg-type]


def test_non_callables_are_rejected_before_any_thread_starts() -> None:
    with pytest.raises(TypeError, match="worker"):
        WorkerPump().run(3, print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pump"):
        WorkerPump().run(lambda tx: None, "x")  # type: ignore[arg-type]


def test_configuration_is_readable() -> None:
    pump = WorkerPump(0, forward_logs=False)
    assert (pump.capacity, pump.forward_logs) == (0, False)
    assert repr(pump) == "WorkerPump(capacity=0, forward_logs=False)"
    assert WorkerPump().capacity == 64


# --- log forwarding -----------------------------------------------------------


def test_worker_log_records_reach_the_main_thread_in_order_none_lost_or_duplicated(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    root_handlers = list(logging.getLogger().handlers)
    own_handlers = list(logger.handlers)
    handle_before = logging.Logger.handle
    main = sync.current_thread()

    def worker(tx: Sender[int]) -> None:
        for i in range(300):
            logger.debug("record %d", i)
            if i % 7 == 0:
                tx.send(i)
        logger.debug("last words")

    WorkerPump(capacity=1).run(worker, lambda _: None)
    assert [m for m, _ in handler.events] == [f"record {i}" for i in range(300)] + ["last words"]
    assert all(thread is main for _, thread in handler.events)
    # Everything installed into logging was removed.
    assert logging.Logger.handle is handle_before
    assert logging.getLogger().handlers == root_handlers
    assert logger.handlers == own_handlers


def test_records_keep_the_worker_threads_name(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, _ = test_logger
    names: list[str | None] = []

    class Names(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            names.append(record.threadName)

    extra = Names()
    logger.addHandler(extra)
    try:
        WorkerPump().run(lambda tx: logger.warning("hi"), lambda _: None)
    finally:
        logger.removeHandler(extra)
    assert names == ["treadle-pump-worker"]


def test_worker_logs_are_flushed_on_the_error_path_too(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    main = sync.current_thread()

    def worker(tx: Sender[int]) -> None:
        try:
            tx.send(1)
            tx.send(2)
            tx.send(3)
        except Disconnected:
            logger.error("worker saw the pump fail")

    def pump(item: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WorkerPump(capacity=0).run(worker, pump)
    assert handler.events == [("worker saw the pump fail", main)]


def test_worker_logs_are_flushed_when_the_worker_raises(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger

    def worker(tx: Sender[int]) -> None:
        logger.error("about to fail")
        raise ValueError("failed")

    with pytest.raises(WorkerError):
        WorkerPump().run(worker, lambda _: None)
    assert [m for m, _ in handler.events] == ["about to fail"]


def test_forward_logs_off_handles_records_on_the_worker_thread(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    worker_thread: list[sync.Thread] = []

    def worker(tx: Sender[int]) -> None:
        worker_thread.append(sync.current_thread())
        logger.info("direct")

    WorkerPump(forward_logs=False).run(worker, lambda _: None)
    assert handler.events == [("direct", worker_thread[0])]


def test_main_thread_logging_during_run_is_not_forwarded(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    main = sync.current_thread()

    def pump(item: int) -> None:
        logger.info("pumping %d", item)

    WorkerPump().run(sends([1]), pump)
    assert handler.events == [("pumping 1", main)]


class _BreaksOn(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == self.message:
            raise RuntimeError("filter broke")
        return True


def test_a_log_filter_raising_before_a_pump_call_ends_run_like_a_pump_error(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    broken = _BreaksOn("bad")
    logger.addFilter(broken)
    pumped: list[int] = []
    try:

        def worker(tx: Sender[int]) -> None:
            logger.info("bad")
            logger.info("good")
            tx.send(1)

        # Handled on this thread, the filter's error surfaces here, as it
        # would from a logging call made here; the rest are still handled.
        with pytest.raises(RuntimeError, match="filter broke"):
            WorkerPump().run(worker, pumped.append)
    finally:
        logger.removeFilter(broken)
    assert pumped == []
    assert [m for m, _ in handler.events] == ["good"]


def test_a_log_filter_raising_on_the_error_path_becomes_a_note_on_the_pump_error(
    test_logger: tuple[logging.Logger, _ListHandler],
) -> None:
    logger, handler = test_logger
    broken = _BreaksOn("bad")
    logger.addFilter(broken)
    try:

        def worker(tx: Sender[int]) -> None:
            try:
                tx.send(1)
                tx.send(2)
            except Disconnected:
                logger.info("bad")
                logger.info("good")

        def pump(item: int) -> None:
            raise KeyError("pump")

        with pytest.raises(KeyError) as info:
            WorkerPump(capacity=0).run(worker, pump)
    finally:
        logger.removeFilter(broken)
    assert [m for m, _ in handler.events] == ["good"]
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert "filter broke" in notes[0]


def test_overlapping_runs_restore_logging_only_when_the_last_one_ends() -> None:
    original = logging.Logger.handle
    inner_saw: list[bool] = []

    def outer_pump(item: int) -> None:
        # A nested run on this (the outer run's calling) thread.
        WorkerPump().run(sends([item]), lambda _: None)
        inner_saw.append(logging.Logger.handle is not original)

    WorkerPump().run(sends(range(3)), outer_pump)
    assert inner_saw == [True, True, True]
    assert logging.Logger.handle is original


# --- a real Ctrl-C ------------------------------------------------------------

_SIGINT_CHILD = textwrap.dedent(
    """
    import sys, threading
    from treadle import Disconnected, WorkerPump

    def worker(tx):
        i = 0
        try:
            while True:
                tx.send(i)
                i += 1
        except Disconnected:
            return i

    def pump(item):
        if item == 0:
            print("ready", flush=True)
            threading.Event().wait()  # only Ctrl-C gets us out

    try:
        WorkerPump(capacity=1).run(worker, pump)
    except KeyboardInterrupt:
        alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        print("alive:", alive, flush=True)
        raise
    print("run returned", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_real_sigint_while_pumping_exits_with_keyboard_interrupt_and_no_live_threads() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _SIGINT_CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # A signal landing just before the child blocks is only acted on at
        # the next one (a CPython limitation), so repeat until it exits.
        for _ in range(100):
            child.send_signal(signal.SIGINT)
            try:
                out, err = child.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("the child did not exit on SIGINT")
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert "alive: []" in out
    assert "run returned" not in out
    assert "KeyboardInterrupt" in err
    # An uncaught KeyboardInterrupt makes CPython exit by SIGINT itself.
    assert child.returncode == -signal.SIGINT
