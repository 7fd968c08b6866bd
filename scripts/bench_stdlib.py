"""µs per scheduling point: plain ``threading`` code vs the same program on ``treadle.sync``.

Both programs: N threads each take one lock around a read-modify-write of a
shared counter (N! executions). Runs alternate; medians of several runs.
Usage: python scripts/bench_stdlib.py [N] [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

import treadle_model
from treadle import sync


def plain(n: int) -> None:
    lock = threading.Lock()
    box = [0]

    def bump() -> None:
        with lock:
            box[0] += 1

    ts = [threading.Thread(target=bump) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def facade(n: int) -> None:
    lock = sync.Lock()
    box = [0]

    def bump() -> None:
        with lock:
            box[0] += 1

    ts = [sync.spawn(bump) for _ in range(n)]
    for t in ts:
        t.join()


def measure(fn: object, n: int) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = treadle_model.explore(lambda: fn(n))  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    assert report.ok and report.exhaustive
    return elapsed / report.steps * 1e6, report.executions, report.steps


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    p: list[float] = []
    f: list[float] = []
    for _ in range(runs):
        us, ex_p, _ = measure(plain, n)
        p.append(us)
        us, ex_f, _ = measure(facade, n)
        f.append(us)
    assert ex_p == ex_f
    mp, mf = statistics.median(p), statistics.median(f)
    print(f"lockinc({n}): {ex_p} executions each")
    print(
        f"plain threading: {mp:.2f} us/step   treadle.sync: {mf:.2f} us/step   ratio {mp / mf:.2f}"
    )


if __name__ == "__main__":
    main()
