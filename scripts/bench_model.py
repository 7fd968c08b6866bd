"""Benchmark the model checker: executions per second, and against frontrun.

Runs classic programs exhaustively under ``treadle_model.explore`` (DPOR) and
prints, for each, the number of executions (one per Mazurkiewicz trace), the
median wall time of several runs and executions per second. If frontrun is
installed (``pip install frontrun``; it is not a treadle dependency) the same
programs run under frontrun's DPOR, in a subprocess because frontrun patches
``threading`` process-wide, and the table shows its counts and the ratio of
wall times.

Usage::

    .venv/bin/python scripts/bench_model.py            # default sizes
    .venv/bin/python scripts/bench_model.py --runs 7 --quick
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

import treadle_model
from treadle import sync
from treadle.channel import channel


@dataclass(frozen=True)
class Program:
    name: str
    n: int
    body: Callable[[], None]
    expected: int | None  # the number of Mazurkiewicz traces, when known
    frontrun: str | None  # the program's shape for frontrun (see _FRONTRUN)


def own_cells(n: int) -> Callable[[], None]:
    def body() -> None:
        cells = [sync.Cell(0) for _ in range(n)]
        ts = [sync.spawn(c.set, 1) for c in cells]
        for t in ts:
            t.join()

    return body


def shared_writers(n: int) -> Callable[[], None]:
    def body() -> None:
        x = sync.Cell(0)
        ts = [sync.spawn(x.set, i) for i in range(n)]
        for t in ts:
            t.join()

    return body


def increments(n: int, *, locked: bool) -> Callable[[], None]:
    def body() -> None:
        x = sync.Cell(0)
        lock = sync.Lock()

        def work() -> None:
            if locked:
                with lock:
                    x.set(x.get() + 1)
            else:
                r = x.get()
                x.set(r + 1)

        ts = [sync.spawn(work) for _ in range(n)]
        for t in ts:
            t.join()

    return body


def producer_consumer(capacity: int, items: int) -> Callable[[], None]:
    def body() -> None:
        tx, rx = channel(capacity)
        got: list[int] = []

        def consumer() -> None:
            for item in rx:
                got.append(item)

        def producer() -> None:
            with tx:
                for i in range(items):
                    tx.send(i)

        c = sync.spawn(consumer)
        p = sync.spawn(producer)
        p.join()
        c.join()
        rx.close()
        assert got == list(range(items))

    return body


def programs(quick: bool) -> list[Program]:
    sizes = (3, 4) if quick else (3, 4, 5)
    out: list[Program] = []
    for n in sizes:
        out.append(Program("own cells", n, own_cells(n), 1, "own"))
    for n in sizes:
        out.append(Program("shared writers", n, shared_writers(n), math.factorial(n), "shared"))
    for n in (2, 3) if quick else (2, 3, 4):
        out.append(
            Program(
                "increments",
                n,
                increments(n, locked=False),
                math.factorial(n) ** 2,
                "incr",
            )
        )
    for n in sizes:
        out.append(
            Program(
                "locked increments",
                n,
                increments(n, locked=True),
                math.factorial(n),
                "locked",
            )
        )
    out.append(Program("channel cap 1, 2 items", 2, producer_consumer(1, 2), None, None))
    if not quick:
        out.append(Program("channel cap 2, 3 items", 3, producer_consumer(2, 3), None, None))
    return out


def run_treadle(program: Program, runs: int) -> dict[str, float]:
    times = []
    report = None
    for _ in range(runs):
        start = time.perf_counter()
        report = treadle_model.explore(program.body, stop_on_first=False)
        times.append(time.perf_counter() - start)
    assert report is not None
    if not report.ok or not report.exhaustive:
        raise SystemExit(f"{program.name} n={program.n}: unexpected result\n{report}")
    if program.expected is not None and report.executions != program.expected:
        raise SystemExit(
            f"{program.name} n={program.n}: {report.executions} executions, "
            f"expected {program.expected}"
        )
    median = statistics.median(times)
    return {
        "executions": report.executions,
        "redundant": report.redundant,
        "steps": report.steps / max(report.executions, 1),
        "median": median,
        "rate": report.executions / median if median else 0.0,
    }


# The same programs for frontrun: shared state is an object, threads are the
# workers, happens in a subprocess (frontrun patches threading globally).
_FRONTRUN = textwrap.dedent(
    """
    import json, statistics, sys, threading, time
    from frontrun._cooperative import patch_locks
    patch_locks()
    import frontrun

    class State:
        def __init__(self, n):
            self.x = 0
            self.cells = [0] * n
            self.lock = threading.Lock()

    def workers(shape, n):
        def own(i):
            def w(s): s.cells[i] = 1
            return w
        def shared(i):
            def w(s): s.x = i
            return w
        def incr(i):
            def w(s):
                r = s.x
                s.x = r + 1
            return w
        def locked(i):
            def w(s):
                with s.lock:
                    s.x = s.x + 1
            return w
        make = {"own": own, "shared": shared, "incr": incr, "locked": locked}[shape]
        return [make(i) for i in range(n)]

    shape, n, runs, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    times, explored = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = frontrun.explore(
            lambda: State(n), workers(shape, n), lambda s: True,
            preemption_bound=None, stop_on_first=False, detect_io=False,
            reproduce_on_failure=0, total_timeout=budget,
        )
        times.append(time.perf_counter() - start)
        explored = result.num_explored
        if times[-1] >= budget:
            break
    print(json.dumps({"executions": explored, "median": statistics.median(times),
                      "complete": times[-1] < budget}))
    """
)


def frontrun_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import frontrun"], capture_output=True, check=False
    )
    return probe.returncode == 0


def run_frontrun(program: Program, runs: int, budget: float) -> dict[str, float] | None:
    if program.frontrun is None:
        return None
    proc = subprocess.run(
        [sys.executable, "-c", _FRONTRUN, program.frontrun, str(program.n), str(runs), str(budget)],
        capture_output=True,
        text=True,
        check=False,
        timeout=budget * (runs + 1) + 120,
    )
    if proc.returncode != 0:
        print(f"  frontrun failed on {program.name} n={program.n}: {proc.stderr[-400:]}")
        return None
    data: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per program (median)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--no-frontrun", action="store_true", help="skip the comparison")
    parser.add_argument(
        "--frontrun-budget", type=float, default=120.0, help="seconds per frontrun run at most"
    )
    args = parser.parse_args(argv)

    compare = not args.no_frontrun and frontrun_available()
    print(f"treadle_model DPOR, median of {args.runs} runs (wall time)")
    if not compare and not args.no_frontrun:
        print("(frontrun is not installed: pip install frontrun to compare)")
    header = f"{'program':<26} {'N':>2} {'execs':>7} {'steps':>6} {'median':>9} {'execs/s':>9}"
    if compare:
        header += f" | {'frontrun':>8} {'median':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for program in programs(args.quick):
        mine = run_treadle(program, args.runs)
        line = (
            f"{program.name:<26} {program.n:>2} {mine['executions']:>7.0f} "
            f"{mine['steps']:>6.1f} {mine['median'] * 1000:>7.1f}ms {mine['rate']:>9,.0f}"
        )
        if compare:
            theirs = run_frontrun(program, max(1, args.runs // 2), args.frontrun_budget)
            if theirs is None:
                line += f" | {'-':>8} {'-':>9} {'-':>7}"
            else:
                mark = "" if theirs["complete"] else "+"
                ratio = theirs["median"] / mine["median"] if mine["median"] else float("inf")
                count = f"{theirs['executions']:>7.0f}{mark or ' '}"
                line += f" | {count} {theirs['median'] * 1000:>7.0f}ms {ratio:>6.0f}x"
        print(line, flush=True)
    if compare:
        print("frontrun: its DPOR with preemption_bound=None; '+' = stopped at the time budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
