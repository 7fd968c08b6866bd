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

# --- the cases: each returns elapsed seconds for `n` operations ---------------


def channel_case(capacity: int | None) -> Callable[[int], float]:
    def run(n: int) -> float:
        tx, rx = channel(capacity)

        def produce() -> None:
            send = tx.send
            for i in range(n):
                send(i)
            tx.close()

        start = time.perf_counter()
        producer = threading.Thread(target=produce)
        producer.start()
        recv = rx.recv
        for _ in range(n):
            recv()
        producer.join()
        return time.perf_counter() - start

    return run


def queue_case(maxsize: int) -> Callable[[int], float]:
    def run(n: int) -> float:
        q: queue.Queue[int] = queue.Queue(maxsize)

        def produce() -> None:
            put = q.put
            for i in range(n):
                put(i)

        start = time.perf_counter()
        producer = threading.Thread(target=produce)
        producer.start()
        get = q.get
        for _ in range(n):
            get()
        producer.join()
        return time.perf_counter() - start

    return run


def _nothing() -> None:
    return None


def executor_case(n: int) -> float:
    with Executor() as ex:
        submit = ex.submit
        start = time.perf_counter()
        for _ in range(n):
            submit(_nothing)
        return time.perf_counter() - start


def thread_pool_case(n: int) -> float:
    with ThreadPoolExecutor(1) as pool:
        submit = pool.submit
        start = time.perf_counter()
        for _ in range(n):
            submit(_nothing).result()
        return time.perf_counter() - start


def pump_case(forward_logs: bool) -> Callable[[int], float]:
    def run(n: int) -> float:
        total = 0

        def worker(tx: Sender[int]) -> None:
            send = tx.send
            for i in range(n):
                send(i)

        def pump(item: int) -> None:
            nonlocal total
            total += item

        start = time.perf_counter()
        WorkerPump(64, forward_logs=forward_logs).run(worker, pump)
        elapsed = time.perf_counter() - start
        assert total == n * (n - 1) // 2
        return elapsed

    return run


_DONE = object()


def hand_pump_case(n: int) -> float:
    """What WorkerPump replaces: a thread, a bounded queue, a sentinel, a join."""
    total = 0

    def pump(item: int) -> None:
        nonlocal total
        total += item

    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    return elapsed


# --- measuring ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    unit: str
    n: int
    ours: Callable[[int], float]
    baseline: Callable[[int], float]
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


def measure(case: Case, runs: int) -> tuple[float, float]:
    ours: list[float] = []
    base: list[float] = []
    case.ours(max(case.n // 20, 100))  # warm up
    case.baseline(max(case.n // 20, 100))
    for _ in range(runs):
        # Alternate, so drift in machine load hits both sides alike.
        gc.collect()
        ours.append(case.ours(case.n))
        gc.collect()
        base.append(case.baseline(case.n))
    return statistics.median(ours), statistics.median(base)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=7, help="repetitions per case (>= 5)")
    parser.add_argument("--quick", action="store_true", help="10x fewer items: a smoke run")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.runs < 5:
        parser.error("--runs must be at least 5 (medians of fewer runs are noise)")

    print(f"python {sys.version.split()[0]}, {args.runs} runs per case, medians")
    header = (
        f"{'case':<28} {'n':>8} {'ours/s':>12} {'baseline/s':>12} "
        f"{'speed-up':>9} {'target':>7}  baseline"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for case in cases(args.quick):
        ours, base = measure(case, args.runs)
        ratio = base / ours
        target = "-" if case.target is None else f">={case.target:.2f}"
        verdict = ""
        if case.target is not None and ratio < case.target:
            verdict = "  MISSED"
            missed.append(case.name)
        print(
            f"{case.name:<28} {case.n:>8} {case.n / ours:>12,.0f} {case.n / base:>12,.0f} "
            f"{ratio:>8.2f}x {target:>7}  {case.baseline_name}{verdict}"
        )
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
