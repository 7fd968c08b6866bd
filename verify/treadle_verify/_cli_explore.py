"""``treadle explore module:function``: explore a function under the model.

The function is imported and run as the main virtual thread, exactly as
:func:`treadle_model.explore` would. Exits 0 when every explored execution
passed, 1 when one failed (printing its trace and the replay command), 2 on
bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["register", "run_explore"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="explore a function under every interleaving",
        description=(
            "Import MODULE:FUNCTION and explore it under the model (every distinct "
            "interleaving by default). Exits 1 if an execution fails."
        ),
    )
    parser.add_argument(
        "target",
        metavar="MODULE:FUNCTION",
        help="the function to explore (MODULE may also be a path to a .py file)",
    )
    parser.add_argument(
        "--strategy",
        choices=("dpor", "dfs", "random", "pct"),
        default="dpor",
        help="dpor (exhaustive, default), dfs (with --preemption-bound), random, pct",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for random/pct")
    parser.add_argument("--max-executions", type=int, default=None, metavar="N")
    parser.add_argument("--preemption-bound", type=int, default=None, metavar="N")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N")
    parser.add_argument(
        "--interrupt-main",
        action="store_true",
        help="also raise KeyboardInterrupt at each scheduling point of the main thread",
    )
    parser.add_argument(
        "--spurious-wakeups", action="store_true", help="let Condition.wait return spuriously"
    )
    parser.add_argument(
        "--timeouts", choices=("when_stuck", "always", "never"), default="when_stuck"
    )
    parser.add_argument(
        "--detect-races", action="store_true", help="report Cell accesses not ordered by sync"
    )
    parser.add_argument("--all", action="store_true", help="keep going after the first failure")
    parser.add_argument("--replay", metavar="SCHEDULE", help="run exactly this schedule")
    parser.set_defaults(func=run_explore)


def _load(target: str) -> Callable[[], object]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {target!r}")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: the current directory is importable
    module = _import(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


def _import(module_name: str) -> Any:
    """A module by dotted name, or a script by path (``dir/script.py``)."""
    if not module_name.endswith(".py"):
        return importlib.import_module(module_name)
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    path = Path(module_name)
    if not path.is_file():
        raise ImportError(f"no file {module_name}")
    name = path.stem
    spec = spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {module_name}")
    module = module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _command(args: argparse.Namespace, schedule: str) -> str:
    """The ``treadle explore`` command that replays ``schedule`` with these options."""
    import shlex

    from treadle_model._report import shell_quote

    flags = ""
    if args.max_steps is not None:
        flags += f" --max-steps {args.max_steps}"
    if args.timeouts != "when_stuck":
        flags += f" --timeouts {args.timeouts}"
    if args.spurious_wakeups:
        flags += " --spurious-wakeups"
    if args.detect_races:
        flags += " --detect-races"
    return f"treadle explore {shlex.quote(args.target)}{flags} --replay {shell_quote(schedule)}"


class _Live:
    """Progress on stderr: one overwritten line on a terminal, a line every 5 s elsewhere."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, executions: int, elapsed: float) -> None:
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = executions / elapsed if elapsed > 0 else 0.0
        line = f"explored {executions:,} executions in {elapsed:.1f}s ({rate:,.0f}/s)"
        if self.tty:
            sys.stderr.write("\r" + line)
            self.shown = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_explore(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("greenlet") is None:
        print("treadle explore needs greenlet: pip install 'treadle[model]'", file=sys.stderr)
        return 2
    import treadle_model

    try:
        body = _load(args.target)
    except (ValueError, ImportError, AttributeError, SyntaxError) as exc:
        print(f"treadle explore: cannot load {args.target!r}: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    options: dict[str, Any] = {
        "spurious_wakeups": args.spurious_wakeups,
        "timeouts": args.timeouts,
        "detect_races": args.detect_races,
    }
    if args.max_steps is not None:
        options["max_steps"] = args.max_steps
    try:
        if args.replay is not None:
            report = treadle_model.replay(body, args.replay, **options)
        else:
            live = _Live()
            report = treadle_model.explore(
                body,
                strategy=args.strategy,
                seed=args.seed,
                max_executions=args.max_executions,
                preemption_bound=args.preemption_bound,
                interrupt_main=args.interrupt_main,
                stop_on_first=not args.all,
                progress=live,
                **options,
            )
            live.done()
    except (TypeError, ValueError) as exc:
        print(f"treadle explore: {exc}", file=sys.stderr)
        return 2
    import dataclasses

    print(report._summary())
    for failure in report.failures:
        print()
        print(dataclasses.replace(failure, replay_call=_command(args, failure.schedule),
                                  replay_exact=True))  # fmt: skip
    return 0 if report.ok else 1
