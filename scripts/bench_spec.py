#!/usr/bin/env python3
"""Benchmark the spec checker: distinct states/s and memory per state, by spec and size.

For each spec at growing sizes this runs ``check_spec`` several times and
prints medians:

* ``states/s`` - distinct states per second of wall time, safety
  properties only (no state graph kept) and with liveness (the graph kept
  for the SCC pass); ``/cpu-s`` - the same per second of this process's CPU
  time, which is what to compare on a shared, busy machine;
* ``B/state`` - peak traced memory of one safety run (``tracemalloc``,
  measured in a separate run because tracing slows Python down) divided by
  the number of distinct states, next to the size of one state object
  (``state``, measured deeply), so the checker's own cost per state is the
  difference (the frontier of live state objects is included in the peak).

Reference point (DESIGN/brief): TLC with one worker explores a ~280,000-state
model at about 45,000 distinct states/s using about 1 GB, i.e. ~3.8 kB/state.

Run: ``.venv/bin/python scripts/bench_spec.py [--runs N] [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable
from typing import Any

from treadle_spec import check_spec, pool_drain, pump, shutdown

# (spec name, build function, constants) - growing sizes per spec.
SIZES: list[tuple[str, Any, dict[str, Any]]] = [
    ("pump", pump.build, {"capacity": 2, "items": 10}),
    ("pump", pump.build, {"capacity": 4, "items": 30}),
    ("pump", pump.build, {"capacity": 8, "items": 40}),
    ("pump", pump.build, {"capacity": 12, "items": 50}),
    ("pump", pump.build, {"capacity": 16, "items": 60}),
    ("pump", pump.build, {"capacity": 16, "items": 70}),
    ("pool_drain", pool_drain.build, {"workers": 2, "items": 2, "capacity": 1}),
    ("pool_drain", pool_drain.build, {"workers": 3, "items": 1, "capacity": 1}),
    ("pool_drain", pool_drain.build, {"workers": 3, "items": 2, "capacity": 2}),
    ("pool_drain", pool_drain.build, {"workers": 5, "items": 1, "capacity": 2}),
    ("shutdown", shutdown.build, {"jobs": 2, "calls": 1}),
    ("shutdown", shutdown.build, {"jobs": 64, "calls": 4}),
    ("shutdown", shutdown.build, {"jobs": 512, "calls": 8}),
]

QUICK: list[tuple[str, Any, dict[str, Any]]] = [
    ("pump", pump.build, {"capacity": 4, "items": 30}),
    ("pool_drain", pool_drain.build, {"workers": 2, "items": 2, "capacity": 1}),
    ("shutdown", shutdown.build, {"jobs": 16, "calls": 2}),
]


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and everything it holds (tuples, strings, ints), shared parts once."""
    if seen is None:
        seen = set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, (tuple, list, frozenset, set)):
        size += sum(deep_size(x, seen) for x in obj)
    return size


def one_run(spec: Any, *, liveness: bool) -> tuple[int, float, int, float]:
    """(states, wall seconds, depth, CPU seconds) of one check."""
    gc.collect()
    cpu = time.process_time()
    report = check_spec(spec, check_liveness=liveness, progress=None)
    cpu = time.process_time() - cpu
    if not report.ok:
        raise SystemExit(f"{report.name} failed:\n{report}")
    return report.distinct_states, report.elapsed, report.depth, cpu


def peak_bytes(spec: Any, *, liveness: bool) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        check_spec(spec, check_liveness=liveness, progress=None)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def sample_state_size(spec: Any) -> int:
    """Mean deep size of the states along one path (a typical state, not the initial one)."""
    s = next(iter(spec.init_states()))
    sizes = [deep_size(s)]
    for _ in range(200):
        succ = spec.successors(s)
        if not succ:
            break
        s = succ[len(succ) // 2][1]
        sizes.append(deep_size(s))
    return int(statistics.mean(sizes))


def fmt_consts(consts: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in consts.items())


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="runs per size (median reported)")
    parser.add_argument("--quick", action="store_true", help="one small size per spec")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--only", metavar="SPEC", help="only this spec's sizes")
    args = parser.parse_args(list(argv) if argv is not None else None)
    sizes = QUICK if args.quick else SIZES
    if args.only:
        sizes = [entry for entry in sizes if entry[0] == args.only]
    header = (
        f"{'spec':<11} {'constants':<30} {'states':>9} {'depth':>5} "
        f"{'safety st/s':>11} {'/cpu-s':>8} {'+liveness':>10} {'/cpu-s':>8} "
        f"{'B/state':>8} {'+live B':>8} {'state B':>7}"
    )
    print(f"spec checker benchmark: median of {args.runs} runs; Python {sys.version.split()[0]}")
    print(header)
    print("-" * len(header))
    started = time.perf_counter()
    for name, build, consts in sizes:
        spec = build(**consts)
        safety = [one_run(spec, liveness=False) for _ in range(args.runs)]
        live = [one_run(spec, liveness=True) for _ in range(args.runs)]
        states, _, depth, _ = safety[0]
        rate = statistics.median(n / t for n, t, _, _ in safety)
        rate_cpu = statistics.median(n / c for n, _, _, c in safety)
        rate_live = statistics.median(n / t for n, t, _, _ in live)
        rate_live_cpu = statistics.median(n / c for n, _, _, c in live)
        if args.no_memory:
            per_state = per_state_live = "-"
        else:
            per_state = f"{peak_bytes(spec, liveness=False) / states:,.0f}"
            per_state_live = f"{peak_bytes(spec, liveness=True) / states:,.0f}"
        print(
            f"{name:<11} {fmt_consts(consts):<30} {states:>9,} {depth:>5} "
            f"{rate:>11,.0f} {rate_cpu:>8,.0f} {rate_live:>10,.0f} {rate_live_cpu:>8,.0f} "
            f"{per_state:>8} {per_state_live:>8} "
            f"{sample_state_size(spec):>7,}",
            flush=True,
        )
    print(f"total {time.perf_counter() - started:.0f}s")
    print("reference: TLC, one worker, ~280,000 states: ~45,000 states/s, ~1 GB (~3,800 B/state)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
