#!/usr/bin/env python3
"""Benchmark the library against the stdlib doing the same job, in the same run.

Each case is run ``--runs`` times (at least 5), alternating ours and the
baseline, and the medians are printed with ``speed-up = baseline time / our
time`` (above 1 means treadle is faster):

* ``channel bounded``: one producer thread, one consumer, 200k items through
  ``channel(1024)`` vs ``queue.Queue(maxsize=1024)``. Target >= 1.5x.
* ``channel unbounded``: the same with ``channel(None)`` vs ``queue.Queue()``.
  Target >= 1.5x.
* ``executor submit``: round trips of ``Executor().submit(f)`` vs
  ``ThreadPoolExecutor(1).submit(f).result()``. Target: no slower (>= 1.0x).
* ``pump``: ``WorkerPump(64).run`` moving 200k items (log forwarding on, the
  default) vs a hand-written thread + ``queue.Queue(64)`` loop that does the
  same (sentinel at the end, join). Target: within 10% (>= 0.9x). The same
  with ``forward_logs=False`` is shown for information.

Targets are judged on wall-clock time. ``cpu speed-up`` is the same ratio of
process CPU time (all threads): it leaves out time spent descheduled, so it
moves much less than wall clock on a loaded machine, where a two-thread
hand-off is at the mercy of the OS scheduler.

Run: ``.venv/bin/python scripts/bench_lib.py [--runs N] [--quick]``.
Timings depend on the machine and its load; compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import gc
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from treadle import Executor, Sender, WorkerPump, channel

# --- the cases: each returns (wall, cpu) seconds for `n` operations -----------

Timing = tuple[float, float]


class _Clock:
    """Wall-clock and process CPU time (all threads) since creation."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def elapsed(self) -> Timing:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def channel_case(capacity: int | None) -> Callable[[int], Timing]:
    def run(n: int) -> Timing:
        tx, rx = channel(capacity)

        def produce() -> None:
            send = tx.send
            for i in range(n):
                send(i)
            tx.close()

        clock = _Clock()
        producer = threading.Thread(target=produce)
        producer.start()
        recv = rx.recv
        for _ in range(n):
            recv()
        producer.join()
        return clock.elapsed()

    return run


def queue_case(maxsize: int) -> Callable[[int], Timing]:
    def run(n: int) -> Timing:
        q: queue.Queue[int] = queue.Queue(maxsize)

        def produce() -> None:
            put = q.put
            for i in range(n):
                put(i)

        clock = _Clock()
        producer = threading.Thread(target=produce)
        producer.start()
        get = q.get
        for _ in range(n):
            get()
        producer.join()
        return clock.elapsed()

    return run


def _nothing() -> None:
    return None


def executor_case(n: int) -> Timing:
    with Executor() as ex:
        submit = ex.submit
        clock = _Clock()
        for _ in range(n):
            submit(_nothing)
        return clock.elapsed()


def thread_pool_case(n: int) -> Timing:
    with ThreadPoolExecutor(1) as pool:
        submit = pool.submit
        clock = _Clock()
        for _ in range(n):
            submit(_nothing).result()
        return clock.elapsed()


def pump_case(forward_logs: bool) -> Callable[[int], Timing]:
    def run(n: int) -> Timing:
        total = 0

        def worker(tx: Sender[int]) -> None:
            send = tx.send
            for i in range(n):
                send(i)

        def pump(item: int) -> None:
            nonlocal total
            total += item

        clock = _Clock()
        WorkerPump(64, forward_logs=forward_logs).run(worker, pump)
        elapsed = clock.elapsed()
        assert total == n * (n - 1) // 2
        return elapsed

    return run


_DONE = object()


def hand_pump_case(n: int) -> Timing:
    """What WorkerPump replaces: a thread, a bounded queue, a sentinel, a join."""
    total = 0

    def pump(item: int) -> None:
        nonlocal total
        total += item

    clock = _Clock()
    q: queue.Queue[object] = queue.Queue(64)

    def worker() -> None:
        put = q.put
        for i in range(n):
            put(i)
        put(_DONE)

    thread = threading.Thread(target=worker)
    thread.start()
    get = q.get
    while True:
        item = get()
        if item is _DONE:
            break
        pump(item)  # type: ignore[arg-type]
    thread.join()
    elapsed = clock.elapsed()
    assert total == n * (n - 1) // 2
    return elapsed


# --- measuring ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    unit: str
    n: int
    ours: Callable[[int], Timing]
    baseline: Callable[[int], Timing]
    baseline_name: str
    target: float | None  # minimum speed-up, None = information only


def cases(quick: bool) -> list[Case]:
    items = 20_000 if quick else 200_000
    submits = 2_000 if quick else 20_000
    return [
        Case(
            "channel bounded (1024)",
            "items",
            items,
            channel_case(1024),
            queue_case(1024),
            "queue.Queue(1024)",
            1.5,
        ),
        Case(
            "channel unbounded",
            "items",
            items,
            channel_case(None),
            queue_case(0),
            "queue.Queue()",
            1.5,
        ),
        Case(
            "executor submit round trip",
            "calls",
            submits,
            executor_case,
            thread_pool_case,
            "ThreadPoolExecutor(1)",
            1.0,
        ),
        Case(
            "pump, logs forwarded",
            "items",
            items,
            pump_case(True),
            hand_pump_case,
            "thread + Queue(64)",
            0.9,
        ),
        Case(
            "pump, forward_logs=False",
            "items",
            items,
            pump_case(False),
            hand_pump_case,
            "thread + Queue(64)",
            None,
        ),
    ]


def measure(case: Case, runs: int) -> tuple[Timing, Timing]:
    """Median (wall, cpu) of ours and of the baseline."""
    ours: list[Timing] = []
    base: list[Timing] = []
    case.ours(max(case.n // 20, 100))  # warm up
    case.baseline(max(case.n // 20, 100))
    for _ in range(runs):
        # Alternate, so drift in machine load hits both sides alike.
        gc.collect()
        ours.append(case.ours(case.n))
        gc.collect()
        base.append(case.baseline(case.n))

    def medians(timings: list[Timing]) -> Timing:
        return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)

    return medians(ours), medians(base)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=7, help="repetitions per case (>= 5)")
    parser.add_argument("--quick", action="store_true", help="10x fewer items: a smoke run")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.runs < 5:
        parser.error("--runs must be at least 5 (medians of fewer runs are noise)")

    print(f"python {sys.version.split()[0]}, {args.runs} runs per case, medians")
    header = (
        f"{'case':<28} {'n':>7} {'ours/s':>10} {'base/s':>10} {'speed-up':>9} "
        f"{'cpu speed-up':>12} {'target':>7}  baseline"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for case in cases(args.quick):
        (ours, ours_cpu), (base, base_cpu) = measure(case, args.runs)
        ratio = base / ours
        cpu_ratio = base_cpu / ours_cpu if ours_cpu > 0 else float("inf")
        target = "-" if case.target is None else f">={case.target:.2f}"
        verdict = ""
        if case.target is not None and ratio < case.target:
            verdict = "  MISSED"
            missed.append(case.name)
        print(
            f"{case.name:<28} {case.n:>7} {case.n / ours:>10,.0f} {case.n / base:>10,.0f} "
            f"{ratio:>8.2f}x {cpu_ratio:>11.2f}x {target:>7}  {case.baseline_name}{verdict}"
        )
    if missed:
        print(f"\ntargets missed (wall clock): {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
