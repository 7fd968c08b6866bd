"""Regenerate (or, with ``--check``, verify) the README's generated blocks from the code.

A generated block sits between two marker lines::

    <!-- readme-sync: NAME -->
    ...produced by the generator NAME...
    <!-- /readme-sync -->

Generators:

* ``spec-excerpt`` - the excerpt of ``spec/treadle_spec/pump.py`` (two
  actions and one property, cut from the source file);
* ``spec-check-example`` - what ``treadle spec check pump --const ...
  bug_keep_rx_open=true`` prints, from its violation on;
* ``counter-output`` - what the README's ``counter.py`` (the python block
  just above the marker) prints when run as a script;
* ``check-table`` - the ``treadle check`` table. It takes about a minute to
  produce, so ``--check-json FILE`` reads the output of an earlier
  ``treadle check --json`` instead (as ``.ci/run`` does). The time column is
  the time of the run that wrote the README; ``--check`` compares every other
  column exactly.

Usage::

    python scripts/readme_sync.py                 # rewrite README.md
    python scripts/readme_sync.py --check         # exit 1 naming each stale block
    python scripts/readme_sync.py --check --only spec-excerpt,counter-output

Exit status: 0 up to date (or rewritten), 1 stale (``--check``), 2 bad usage.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START = re.compile(r"^<!-- readme-sync: ([a-z-]+) -->$")
END = "<!-- /readme-sync -->"


class SyncError(Exception):
    """The README or a generator is not as this script expects (exit 2)."""


# -- the README's blocks --------------------------------------------------------------------


def blocks(text: str) -> list[tuple[str, int, int]]:
    """``(name, first body line, end marker line)`` of each generated block (0-based)."""
    lines = text.split("\n")
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(lines):
        m = START.match(lines[i])
        if m:
            for j in range(i + 1, len(lines)):
                if lines[j] == END:
                    out.append((m.group(1), i + 1, j))
                    i = j
                    break
                if START.match(lines[j]):
                    raise SyncError(f"README line {i + 1}: block {m.group(1)!r} is not closed")
            else:
                raise SyncError(f"README line {i + 1}: block {m.group(1)!r} is not closed")
        i += 1
    return out


def _fenced(body: str, lang: str = "") -> str:
    return f"```{lang}\n{body.rstrip()}\n```"


def _python_block_before(text: str, line: int) -> str:
    """The last ```python block that ends before ``line`` (0-based)."""
    lines = text.split("\n")[:line]
    end = max(i for i, s in enumerate(lines) if s == "```")
    starts = [i for i, s in enumerate(lines[:end]) if s == "```python"]
    if not starts:
        raise SyncError("counter-output must follow the ```python block of counter.py")
    return "\n".join(lines[starts[-1] + 1 : end]) + "\n"


# -- generators -----------------------------------------------------------------------------


def gen_spec_excerpt(text: str, line: int) -> str:
    path = ROOT / "spec" / "treadle_spec" / "pump.py"
    source = path.read_text()
    src_lines = source.split("\n")
    tree = ast.parse(source)
    methods: dict[str, ast.FunctionDef] = {}
    prop: ast.Call | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            methods[node.name] = node
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "always"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "join_before_return"
        ):
            prop = node
    if prop is None or "PumpRaises" not in methods or "CloseRx" not in methods:
        raise SyncError(f"{path}: PumpRaises, CloseRx or join_before_return is gone")

    def cut(first: int, last: int) -> str:
        return "\n".join(src_lines[first - 1 : last])

    parts = []
    for name in ("PumpRaises", "CloseRx"):
        fn = methods[name]
        first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
        parts.append(cut(first, fn.end_lineno or fn.lineno))
    excerpt = "\n\n".join(parts) + "\n    ...\n" + cut(prop.lineno, prop.end_lineno or prop.lineno)
    if not src_lines[(prop.end_lineno or prop.lineno) - 1].rstrip().endswith(","):
        excerpt += ","
    return _fenced(excerpt, "python")


SPEC_CHECK_ARGS = [
    "spec",
    "check",
    "pump",
    "--const",
    "capacity=0",
    "--const",
    "items=2",
    "--const",
    "bug_keep_rx_open=true",
    "--quiet",
]


def gen_spec_check_example(text: str, line: int) -> str:
    from treadle_verify.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(SPEC_CHECK_ARGS)
    if status != 1:
        raise SyncError(f"treadle {' '.join(SPEC_CHECK_ARGS)} exited {status}, expected 1")
    printed = out.getvalue()
    at = printed.find("deadlock violation:")
    if at < 0:
        raise SyncError("the bug_keep_rx_open check no longer reports a deadlock")
    shown = " ".join(a for a in SPEC_CHECK_ARGS if a != "--quiet")
    return _fenced(f"$ treadle {shown}\n...\n{printed[at:]}")


def gen_counter_output(text: str, line: int) -> str:
    program = _python_block_before(text, line)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "counter.py").write_text(program)
        ran = subprocess.run(
            [sys.executable, "counter.py"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    if ran.returncode != 0:
        raise SyncError(f"counter.py failed:\n{ran.stderr}")
    lines = ran.stdout.rstrip("\n").split("\n")
    # Elide what changes from run to run (the timing) and most of the trace.
    lines[0] = re.sub(r"(\d+ failing), .*$", r"\1, ...", lines[0])
    out: list[str] = []
    in_trace = shown = 0
    for s in lines:
        if s == "trace:":
            in_trace, shown = 1, 0
            out.append(s)
            continue
        if in_trace and s.startswith("  "):
            shown += 1
            if shown <= 5:
                out.append(s)
            elif shown == 6:
                out.append("     ...")
            continue
        in_trace = 0
        out.append(s)
    return _fenced("\n".join(out))


def _check_results(json_path: Path | None) -> tuple[list[Any], str]:
    """``treadle check``'s per-protocol results: from a ``--json`` file, or by running it."""
    if json_path is not None:
        data = json.loads(json_path.read_text())
    else:
        ran = subprocess.run(
            [sys.executable, "-m", "treadle_verify.cli", "check", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if ran.returncode not in (0, 1):
            raise SyncError(f"treadle check --json exited {ran.returncode}:\n{ran.stderr}")
        data = json.loads(ran.stdout)
    results = [
        SimpleNamespace(
            name=p["protocol"],
            spec=p["spec"],
            spec_states=p["spec_states"],
            properties=p["properties"],
            scenarios=p["scenarios"],
            executions=p["impl_executions"],
            elapsed=p["elapsed"],
            ok=p["ok"],
        )
        for p in data["protocols"]
    ]
    return results, data["preset"]


def check_table(results: list[Any], preset: str) -> str:
    """The table ``treadle check`` prints, without its title line."""
    from treadle_verify._cli_check import _print_table

    out = io.StringIO()
    _print_table(results, preset, verbose=False, out=out)
    body = out.getvalue().split("\n", 2)[2]  # drop "treadle check (...)" and the blank
    return _fenced(body)


def _without_times(block: str) -> str:
    """The table with its time column blanked (the one column that varies run to run)."""
    lines = block.split("\n")
    header = next((s for s in lines if s.startswith("protocol")), None)
    if header is None or " time" not in header:
        return block
    end = header.index(" time") + len(" time")
    start = header.rfind("  ", 0, header.index(" time")) + 2
    return "\n".join(s[:start] + " " * (end - start) + s[end:] for s in lines)


GENERATORS: dict[str, Callable[[str, int], str]] = {
    "spec-excerpt": gen_spec_excerpt,
    "spec-check-example": gen_spec_check_example,
    "counter-output": gen_counter_output,
}
SLOW = ("check-table",)
NAMES = (*GENERATORS, *SLOW)


# -- sync -----------------------------------------------------------------------------------


def sync(
    text: str, *, only: set[str] | None = None, check_json: Path | None = None, check: bool
) -> tuple[str, list[str]]:
    """The README with its blocks regenerated, and the names of the blocks that were stale."""
    lines = text.split("\n")
    stale: list[str] = []
    found = blocks(text)
    missing = sorted((only or set(NAMES)) - {name for name, _, _ in found})
    if missing:
        raise SyncError(f"README has no block {', '.join(missing)}")
    for name, first, end in reversed(found):
        if name not in NAMES:
            raise SyncError(f"README line {first}: unknown block {name!r}; known: {NAMES}")
        if only is not None and name not in only:
            continue
        current = "\n".join(lines[first:end])
        if name == "check-table":
            new = check_table(*_check_results(check_json))
            same = _without_times(new) == _without_times(current)
            if check and same:
                print(f"treadle check, as run:\n{new}\n")
        else:
            new = GENERATORS[name](text, first)
            same = new == current
        if not same:
            stale.append(name)
            if check:
                print(f"README block {name!r} is stale; it should read:\n{new}\n", file=sys.stderr)
        if not same and not check:
            lines[first:end] = new.split("\n")
    return "\n".join(lines), sorted(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if stale")
    parser.add_argument("--only", default=None, help=f"comma-separated blocks: {', '.join(NAMES)}")
    parser.add_argument(
        "--check-json",
        type=Path,
        default=None,
        metavar="FILE",
        help="the output of `treadle check --json` for the check-table block",
    )
    parser.add_argument("--readme", type=Path, default=README, help="the README to sync")
    args = parser.parse_args(argv)
    only = None if args.only is None else {n.strip() for n in args.only.split(",") if n.strip()}
    if only is not None and not only <= set(NAMES):
        print(f"readme_sync: unknown block {sorted(only - set(NAMES))}; known: {NAMES}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        text = args.readme.read_text()
        new, stale = sync(text, only=only, check_json=args.check_json, check=args.check)
    except (SyncError, OSError, ValueError, KeyError) as exc:
        print(f"readme_sync: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print(f"readme_sync: stale blocks: {', '.join(stale)} "
                  "(run python scripts/readme_sync.py to regenerate)", file=sys.stderr)  # fmt: skip
            return 1
        print(f"readme_sync: {args.readme.name} is up to date")
        return 0
    if new != text:
        args.readme.write_text(new)
        print(f"readme_sync: rewrote {', '.join(stale)} in {args.readme}")
    else:
        print(f"readme_sync: {args.readme.name} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
