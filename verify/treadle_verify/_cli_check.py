"""``treadle check``: the main job.

Checks every bundled spec at its sizes and explores every impl protocol's
scenarios exhaustively with conformance to its spec, then prints one table.
Exits 0 when everything holds, 1 when anything failed (printing the failing
trace and the command that replays it), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from treadle_model._report import shell_quote

__all__ = ["register", "replay_command", "run_check"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check every spec and explore every impl protocol (the main job)",
        description=(
            "Check every bundled spec at its sizes and explore every impl protocol "
            "under every interleaving, with conformance to its spec. Exits non-zero "
            "on any failure."
        ),
    )
    parser.add_argument(
        "protocols",
        nargs="*",
        metavar="PROTOCOL",
        help="protocols to check (default: all: pump, runtime, task, pool, executor)",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smallest sizes (seconds)")
    size.add_argument(
        "--thorough", action="store_true", help="bigger sizes (minutes); default is in between"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every spec size and scenario"
    )
    parser.add_argument("--no-spec", action="store_true", help="skip the spec checks")
    parser.add_argument("--no-impl", action="store_true", help="skip the impl explorations")
    parser.add_argument(
        "--scenario", action="append", default=[], metavar="NAME", help="only this scenario"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="run the specs and scenarios on N worker processes (0: one per core); "
        "the results are the serial run's",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the specs and scenarios as tasks on the Ray cluster at ADDRESS "
        "('local' starts a throwaway local cluster; needs pip install 'treadle[cluster]')",
    )
    parser.add_argument(
        "--replay",
        metavar="SCHEDULE",
        help="replay one failing schedule of the scenario named by --scenario",
    )
    parser.set_defaults(func=run_check)


class _Progress:
    """One live line on a terminal; plain lines (at most one a second) elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.perf_counter()
        self.last = 0.0
        self.width = 0

    def __call__(self, line: str) -> None:
        elapsed = time.perf_counter() - self.started
        text = f"[{elapsed:6.1f}s] {line}"
        if self.tty:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 to stderr while this runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--jobs takes a number of processes, not {text!r}"
        ) from None
    if n < 0:
        raise argparse.ArgumentTypeError("--jobs takes 0 (one per core) or a positive number")
    return n or (os.cpu_count() or 1)


def _preset(args: argparse.Namespace) -> Any:
    return "quick" if args.quick else "thorough" if args.thorough else "default"


def run_check(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("greenlet") is None:
        print(
            "treadle check needs the model's virtual threads: pip install 'treadle[model]'",
            file=sys.stderr,
        )
        return 2
    from treadle_verify.protocols import PROTOCOLS
    from treadle_verify.protocols._run import load_all, run_protocol

    unknown = [p for p in args.protocols if p not in PROTOCOLS]
    if unknown:
        print(
            f"treadle check: unknown protocol {', '.join(unknown)}; known: {', '.join(PROTOCOLS)}",
            file=sys.stderr,
        )
        return 2
    preset = _preset(args)
    checks = load_all(args.protocols)
    if args.replay is not None:
        return _replay(args, checks, preset)
    if args.scenario:
        known = [s.name for c in checks for s in c.scenarios(preset, None)]
        missing = [n for n in args.scenario if n not in known]
        if missing:
            where = ", ".join(c.name for c in checks)
            print(
                f"treadle check: no scenario {', '.join(repr(n) for n in missing)} in {where} "
                f"at {preset} sizes; known: {', '.join(repr(n) for n in known)}",
                file=sys.stderr,
            )
            return 2
        if args.no_impl:
            print("treadle check: --scenario needs the impl explorations (drop --no-impl)",
                  file=sys.stderr)  # fmt: skip
            return 2
    if args.no_spec and args.no_impl:
        print("treadle check: --no-spec with --no-impl leaves nothing to check", file=sys.stderr)
        return 2

    progress = _Progress(sys.stderr)
    wall = time.perf_counter()
    workers: list[Any] = []
    if args.ray is not None:
        from treadle_verify.protocols._parallel import run_ray

        try:
            # Ray's own processes print to the driver's stdout; keep it for our output.
            with _stdout_to_stderr():
                results, workers = run_ray(
                    [c.name for c in checks],
                    preset,
                    address=args.ray,
                    jobs=args.jobs if args.jobs > 1 else 0,
                    spec=not args.no_spec,
                    scenarios=not args.no_impl,
                    only=args.scenario,
                    progress=progress,
                )
        except RuntimeError as exc:
            progress.done()
            print(f"treadle check: {exc}", file=sys.stderr)
            return 2
    elif args.jobs > 1:
        from treadle_verify.protocols._parallel import run_parallel

        results, workers = run_parallel(
            [c.name for c in checks],
            preset,
            jobs=args.jobs,
            spec=not args.no_spec,
            scenarios=not args.no_impl,
            only=args.scenario,
            progress=progress,
        )
    else:
        results = []
        for check in checks:
            results.append(
                run_protocol(
                    check,
                    preset,
                    spec=not args.no_spec,
                    scenarios=not args.no_impl,
                    only=args.scenario,
                    progress=progress,
                )
            )
    wall = time.perf_counter() - wall
    progress.done()
    ok = all(r.ok for r in results)
    if args.json:
        document: dict[str, Any] = {
            "preset": preset,
            "ok": ok,
            "jobs": args.jobs,
            "wall_seconds": round(wall, 3),
            "protocols": [r.to_json() for r in results],
        }
        if workers:
            document["workers"] = [w.to_json() for w in workers]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(results, preset, verbose=args.verbose, out=sys.stdout)
        if workers:
            died = [w for w in workers if w.died]
            sys.stdout.write(
                f"\n{len(workers) if args.ray else args.jobs} worker processes"
                + (" on Ray" if args.ray else "")
                + f", {wall:.1f}s wall time"
                + (f", {len(died)} died" if died else "")
                + "\n"
            )
    _print_failures(results, preset, out=sys.stdout if not args.json else sys.stderr)
    return 0 if ok else 1


def _print_table(results: list[Any], preset: str, *, verbose: bool, out: TextIO) -> None:
    header = ("protocol", "spec", "spec states", "properties", "scenarios", "impl executions",
              "time", "result")  # fmt: skip
    rows = []
    for r in results:
        rows.append(
            (
                r.name,
                r.spec,
                f"{r.spec_states:,}",
                str(r.properties),
                str(len(r.scenarios)),
                f"{r.executions:,}",
                f"{r.elapsed:.1f}s",
                "ok" if r.ok else "FAILED",
            )
        )
    total_states = sum(r.spec_states for r in results)
    total_execs = sum(r.executions for r in results)
    total_time = sum(r.elapsed for r in results)
    rows.append(
        (
            "total",
            "",
            f"{total_states:,}",
            "",
            str(sum(len(r.scenarios) for r in results)),
            f"{total_execs:,}",
            f"{total_time:.1f}s",
            "ok" if all(r.ok for r in results) else "FAILED",
        )
    )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    right = {2, 3, 4, 5, 6}

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                         enumerate(zip(row, widths, strict=True))).rstrip()  # fmt: skip

    out.write(f"treadle check ({preset} sizes)\n\n")
    out.write(fmt(header) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows[:-1]:
        out.write(fmt(row) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    out.write(fmt(rows[-1]) + "\n")
    if verbose:
        for r in results:
            out.write(f"\n{r.name}:\n")
            for s in r.specs:
                consts = ", ".join(f"{k}={v}" for k, v in s.constants.items())
                status = "ok" if s.ok else "FAILED"
                out.write(
                    f"  spec {r.spec} [{consts}]: {s.states:,} states, depth {s.depth}, "
                    f"{len(s.properties)} properties, {s.elapsed:.2f}s: {status}\n"
                )
            for sc in r.scenarios:
                status = "ok" if sc.ok else "FAILED"
                extra = "" if sc.redundant == 0 else f" ({sc.redundant} redundant)"
                conf = ", conformance" if sc.conformance else ""
                out.write(
                    f"  impl {sc.name}: {sc.executions:,} executions{extra}{conf}, "
                    f"{sc.elapsed:.2f}s: {status}\n"
                )
                if sc.proves:
                    out.write(f"      proves: {sc.proves}\n")


def _print_failures(results: list[Any], preset: str, *, out: TextIO) -> None:
    for r in results:
        if r.error is not None:
            out.write(f"\n{r.name}: the check itself failed: {r.error}\n")
        for s in r.specs:
            if not s.complete:
                out.write(f"\n{r.name}: spec check at {s.constants} was not exhaustive\n")
            for v in s.violations:
                out.write(f"\n{r.name}: spec {r.spec} at {s.constants}:\n{v}\n")
        for sc in r.scenarios:
            if not sc.exhaustive and not sc.failures:
                out.write(f"\n{r.name}: scenario {sc.name!r} was not explored exhaustively\n")
            for f in sc.failures:
                command = replay_command(r.name, preset, sc.name, f.schedule)
                shown = dataclasses.replace(f, replay_call=command, replay_exact=True)
                out.write(f"\n{r.name}: scenario {sc.name!r} failed:\n{shown}\n")


def replay_command(protocol: str, preset: str, scenario: str, schedule: str) -> str:
    """The ``treadle check`` command that replays one failing schedule of a scenario."""
    flag = {"quick": " --quick", "thorough": " --thorough"}.get(preset, "")
    return (
        f"treadle check {protocol}{flag} --scenario {shell_quote(scenario)} "
        f"--replay {shell_quote(schedule)}"
    )


def _replay(args: argparse.Namespace, checks: list[Any], preset: Any) -> int:
    from treadle_model import replay
    from treadle_verify.conformance import monitor_factory

    if len(checks) != 1 or len(args.scenario) != 1:
        print("treadle check --replay needs one PROTOCOL and one --scenario", file=sys.stderr)
        return 2
    check = checks[0]
    by_name = {s.name: s for s in check.scenarios(preset, None)}
    scenario = by_name.get(args.scenario[0])
    if scenario is None:
        print(
            f"treadle check: {check.name} has no scenario {args.scenario[0]!r} at {preset} "
            f"sizes; known: {', '.join(repr(n) for n in by_name)}",
            file=sys.stderr,
        )
        return 2
    options = dict(scenario.options)
    if scenario.mapping is not None:
        options["monitor"] = monitor_factory(scenario.mapping)
    try:
        report = replay(scenario.body, args.replay, **options)
    except ValueError as exc:
        print(f"treadle check: bad --replay schedule {args.replay!r}: {exc}", file=sys.stderr)
        return 2
    print(report._summary())
    command = replay_command(check.name, preset, scenario.name, args.replay)
    for f in report.failures:
        print()
        print(dataclasses.replace(f, replay_call=command, replay_exact=True))
    return 0 if report.ok else 1
