"""Benchmark the conformance monitor: exploring a scenario with and without it.

For each chosen scenario of treadle's protocols, explores it exhaustively
twice per round - once with its spec monitor, once without - alternating,
and prints the median wall times and their ratio (the monitor's overhead).
The execution counts of both runs are printed too; they must be equal.

Usage::

    .venv/bin/python scripts/bench_conformance.py             # the default set
    .venv/bin/python scripts/bench_conformance.py --runs 7
    .venv/bin/python scripts/bench_conformance.py --protocol pump --scenario 'capacity=1 items=2'
"""

from __future__ import annotations

import argparse
import statistics
import time

from treadle_model import explore
from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import load

DEFAULT = [
    ("pump", "capacity=1 items=2"),
    ("pump", "capacity=2 items=2"),
    ("runtime", "jobs=1 calls=1"),
    ("task", "cooperative spins=2, owner polls, waits with a timeout, closes"),
    ("pool", "workers=1 items=3 capacity=2 stop_and_join"),
    ("executor", "callers=2 jobs=1 joiners=2 submit racing join"),
]


def _find(protocol: str, name: str) -> object:
    for sc in load(protocol).scenarios("default", None):
        if sc.name == name:
            return sc
    known = ", ".join(sc.name for sc in load(protocol).scenarios("default", None))
    raise SystemExit(f"no scenario {name!r} in {protocol}; known: {known}")


def _run(sc: object, monitored: bool) -> tuple[float, int]:
    options = dict(sc.options)  # type: ignore[attr-defined]
    if monitored:
        options["monitor"] = monitor_factory(sc.mapping)  # type: ignore[attr-defined]
    start = time.perf_counter()
    report = explore(sc.body, **options)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"{sc.name}: not ok: {report.failures[0]}")  # type: ignore[attr-defined]
    return elapsed, report.executions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--protocol")
    parser.add_argument("--scenario")
    args = parser.parse_args()
    chosen = [(args.protocol, args.scenario)] if args.protocol else DEFAULT
    print(f"{'scenario':<62} {'execs':>6} {'bare s':>8} {'monitored s':>11} {'ratio':>6}")
    ratios = []
    for protocol, name in chosen:
        sc = _find(protocol, name)
        bare, mon = [], []
        counts = set()
        for _ in range(args.runs):
            t, n = _run(sc, False)
            bare.append(t)
            counts.add(n)
            t, n = _run(sc, True)
            mon.append(t)
            counts.add(n)
        if len(counts) != 1:
            raise SystemExit(f"{name}: execution counts differ: {counts}")
        b, m = statistics.median(bare), statistics.median(mon)
        ratios.append(m / b)
        label = f"{protocol}: {name}"[:62]
        print(f"{label:<62} {counts.pop():>6} {b:>8.3f} {m:>11.3f} {m / b:>5.2f}x")
    print(f"median overhead: {statistics.median(ratios):.2f}x (goal <= 1.30x)")


if __name__ == "__main__":
    main()
