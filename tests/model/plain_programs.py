"""Classic threading bugs written with the plain stdlib (no treadle import), and their fixes.

Each ``*_bug`` function is a program a user might already have; ``*_fixed``
is the same program corrected. The tests explore them with
:func:`treadle_model.explore` unchanged.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from threading import Condition, Lock, Thread

# Created at import time: a real lock the model does not control.
IMPORT_TIME_LOCK = threading.Lock()


def _run(*targets: object) -> None:
    threads = [Thread(target=t, name=f"worker-{i}") for i, t in enumerate(targets)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- `if` instead of `while` around Condition.wait, two consumers --------------------


def _if_or_while(loop: bool) -> None:
    items: list[int] = []
    cond = Condition()
    got: list[int] = []

    def consumer() -> None:
        with cond:
            if loop:
                while not items:
                    cond.wait()
            elif not items:
                cond.wait()
            got.append(items.pop())  # IndexError when woken with nothing left

    def producer() -> None:
        for i in range(2):
            with cond:
                items.append(i)
                cond.notify()

    _run(consumer, consumer, producer)
    assert sorted(got) == [0, 1]


def if_instead_of_while_bug() -> None:
    _if_or_while(loop=False)


def if_instead_of_while_fixed() -> None:
    _if_or_while(loop=True)


# --- notify instead of notify_all ----------------------------------------------------


def _notify(everyone: bool) -> None:
    # A one-slot buffer, one condition for "slot full" and "slot empty":
    # notify() can wake a thread of the same side, and the other side sleeps on.
    slot: list[int] = []
    cond = threading.Condition()

    def wake() -> None:
        if everyone:
            cond.notify_all()
        else:
            cond.notify()

    def producer(i: int) -> None:
        with cond:
            while slot:
                cond.wait()
            slot.append(i)
            wake()

    def consumer() -> None:
        with cond:
            while not slot:
                cond.wait()
            slot.pop()
            wake()

    _run(lambda: producer(0), lambda: producer(1), consumer, consumer)


def notify_instead_of_notify_all_bug() -> None:
    _notify(everyone=False)


def notify_instead_of_notify_all_fixed() -> None:
    _notify(everyone=True)


# --- lock-order inversion ------------------------------------------------------------


def _lock_order(consistent: bool) -> None:
    accounts = Lock()
    audit = Lock()

    def transfer() -> None:
        with accounts, audit:
            pass

    def report() -> None:
        if consistent:
            with accounts, audit:
                pass
        else:
            with audit, accounts:
                pass

    _run(transfer, report)


def lock_order_inversion_bug() -> None:
    _lock_order(consistent=False)


def lock_order_inversion_fixed() -> None:
    _lock_order(consistent=True)


# --- bounded buffer whose producer waits on the wrong condition -----------------------


class BoundedBuffer:
    def __init__(self, capacity: int, *, wrong: bool) -> None:
        self.items: list[int] = []
        self.capacity = capacity
        self.mutex = threading.Lock()
        self.not_full = threading.Condition(self.mutex)
        self.not_empty = threading.Condition(self.mutex)
        self.wrong = wrong

    def put(self, item: int) -> None:
        with self.mutex:
            while len(self.items) >= self.capacity:
                (self.not_empty if self.wrong else self.not_full).wait()
            self.items.append(item)
            self.not_empty.notify()

    def get(self) -> int:
        with self.mutex:
            while not self.items:
                self.not_empty.wait()
            item = self.items.pop(0)
            self.not_full.notify()
            return item


def _buffer(wrong: bool) -> None:
    buf = BoundedBuffer(1, wrong=wrong)
    got: list[int] = []

    def producer() -> None:
        for i in range(2):
            buf.put(i)

    def consumer() -> None:
        for _ in range(2):
            got.append(buf.get())

    _run(producer, consumer)
    assert got == [0, 1]


def bounded_buffer_wrong_condition_bug() -> None:
    _buffer(wrong=True)


def bounded_buffer_wrong_condition_fixed() -> None:
    _buffer(wrong=False)


# --- a thread left running past return ------------------------------------------------


def _left_running(join: bool) -> None:
    done = threading.Event()
    t = threading.Thread(target=done.set, name="flusher")
    t.start()
    if join:
        t.join()


def thread_left_running_bug() -> None:
    _left_running(join=False)


def thread_left_running_fixed() -> None:
    _left_running(join=True)


# --- a semaphore released twice ---------------------------------------------------------


def _semaphore(twice: bool) -> None:
    # One connection slot; on the retry path the slot is given back twice,
    # so two later users hold it at once.
    slots = threading.Semaphore(1)
    guard = threading.Lock()
    inside = [0]

    def use() -> None:
        with slots:
            with guard:
                inside[0] += 1
                assert inside[0] == 1, "two threads hold the one connection slot"
            with guard:
                inside[0] -= 1

    def retry() -> None:
        slots.acquire()
        slots.release()
        if twice:
            slots.release()

    _run(retry, use, use)


def semaphore_released_twice_bug() -> None:
    _semaphore(twice=True)


def semaphore_released_twice_fixed() -> None:
    _semaphore(twice=False)


def bounded_semaphore_released_twice_bug() -> None:
    slots = threading.BoundedSemaphore(1)

    def retry() -> None:
        slots.acquire()
        slots.release()
        slots.release()  # ValueError: Semaphore released too many times

    _run(retry)


# --- queue.Queue pipelines ----------------------------------------------------------------


def _pipeline(sentinel_per_consumer: bool) -> None:
    jobs: queue.Queue[int | None] = queue.Queue(maxsize=1)
    results: queue.Queue[int] = queue.Queue()

    def producer() -> None:
        for i in range(2):
            jobs.put(i)
        for _ in range(2 if sentinel_per_consumer else 1):
            jobs.put(None)

    def consumer() -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            results.put(job * 10)

    _run(producer, consumer, consumer)
    assert sorted(results.get_nowait() for _ in range(2)) == [0, 10]


def queue_pipeline_bug() -> None:
    _pipeline(sentinel_per_consumer=False)


def queue_pipeline_fixed() -> None:
    _pipeline(sentinel_per_consumer=True)


def queue_join_pipeline() -> None:
    # task_done/join, a LifoQueue and a SimpleQueue in one program.
    work: queue.Queue[int] = queue.Queue()
    stack: queue.LifoQueue[int] = queue.LifoQueue()
    out: queue.SimpleQueue[int] = queue.SimpleQueue()

    def worker() -> None:
        while True:
            n = work.get()
            if n < 0:
                work.task_done()
                return
            stack.put(n)
            out.put(n)
            work.task_done()

    t = Thread(target=worker, daemon=True)
    t.start()
    for i in range(2):
        work.put(i)
    work.join()
    work.put(-1)
    t.join()
    assert {out.get(), out.get()} == {0, 1}
    assert stack.get() == 1  # last in, first out
    assert stack.get(timeout=5) == 0
    try:
        stack.get(timeout=1)
    except queue.Empty:
        pass
    else:  # pragma: no cover - the checker would report this
        raise AssertionError("an empty LifoQueue returned an item")


# --- code that assumes sleep(1) outlasts sleep(0.5) -----------------------------------------


def _sleeps(join: bool) -> None:
    ready: list[str] = []

    def warm_up() -> None:
        time.sleep(0.5)
        ready.append("cache")

    t = threading.Thread(target=warm_up)
    t.start()
    if join:
        t.join()
    else:
        time.sleep(1)  # "surely the 0.5 s warm-up is done by now"
    assert ready == ["cache"], "the warm-up had not finished"
    t.join()


def sleep_outlasts_bug() -> None:
    _sleeps(join=False)


def sleep_outlasts_fixed() -> None:
    _sleeps(join=True)


# --- ThreadPoolExecutor -------------------------------------------------------------------


def _pool(one_critical_section: bool) -> None:
    # A read-modify-write split over two critical sections loses updates.
    balance = [0]
    lock = threading.Lock()

    def deposit(amount: int) -> int:
        if one_critical_section:
            with lock:
                balance[0] += amount
                return balance[0]
        with lock:
            seen = balance[0]
        with lock:
            balance[0] = seen + amount
            return balance[0]

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(deposit, 10), pool.submit(deposit, 5)]
        wait(futures)
        finals = sorted(f.result() for f in as_completed(futures))
    assert balance[0] == 15, f"lost update: balance {balance[0]}"
    assert finals[-1] == 15


def thread_pool_lost_update_bug() -> None:
    _pool(one_critical_section=False)


def thread_pool_lost_update_fixed() -> None:
    _pool(one_critical_section=True)


# --- counts -------------------------------------------------------------------------------


def n_lockers(n: int) -> None:
    lock = threading.Lock()

    def take() -> None:
        with lock:
            pass

    _run(*([take] * n))


# --- uncontrolled ---------------------------------------------------------------------------


def import_time_lock() -> None:
    def step() -> None:
        with IMPORT_TIME_LOCK:
            time.sleep(0)  # a scheduling point while the real lock is held

    _run(step, step)


IMPORT_TIME_EVENT = threading.Event()


def import_time_event() -> None:
    _run(IMPORT_TIME_EVENT.wait)


def single_thread() -> None:
    with Lock():
        pass
