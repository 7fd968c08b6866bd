"""``treadle spec``: list, show, check and draw the bundled protocol specs.

* ``treadle spec list`` - the specs and their default sizes;
* ``treadle spec show NAME`` - the spec as text: constants, variables,
  actions with their guards and effects, properties;
* ``treadle spec check [NAME...] [--const K=V ...] [--all-violations]`` - check
  each spec at its default sizes (or at the given constants), print a table,
  then the trace of every violation; exit status 1 when anything fails;
* ``treadle spec graph NAME -o FILE [--const K=V ...]`` - the reachable state
  graph as Graphviz DOT (``.dot``/``.gv``) or SVG (``.svg``, needs ``dot`` on
  PATH), the first violation's path in red.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import itertools
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from treadle_spec.checker import SpecReport, check_spec, explore_graph
from treadle_spec.lang import Spec, SpecModule, state_variables

__all__ = ["GRAPHVIZ_MISSING", "register", "render_dot", "render_spec"]

GRAPHVIZ_MISSING = (
    "writing SVG needs Graphviz's `dot` program on PATH, and there is none. Install "
    "Graphviz (Debian/Ubuntu: `apt-get install graphviz`; Fedora: `dnf install graphviz`; "
    "macOS: `brew install graphviz`), or write the DOT text instead with -o FILE.dot"
)


def _specs() -> dict[str, SpecModule]:
    from treadle_spec import SPECS

    return dict(SPECS)


class _UsageError(Exception):
    pass


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_consts(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise _UsageError(f"--const wants NAME=VALUE (e.g. --const capacity=0), got {item!r}")
        out[key.strip()] = _parse_value(value)
    return out


def _pick(names: Sequence[str]) -> list[tuple[str, SpecModule]]:
    specs = _specs()
    if not names:
        return list(specs.items())
    out = []
    for n in names:
        if n not in specs:
            raise _UsageError(f"no spec named {n!r}; the specs are: {', '.join(specs)}")
        out.append((n, specs[n]))
    return out


def _defaults(module: SpecModule) -> Any:
    return type(module.build().constants)()


def _build(name: str, module: SpecModule, consts: dict[str, Any]) -> Spec[Any, Any]:
    fields = [f.name for f in dataclasses.fields(_defaults(module))]
    unknown = [k for k in consts if k not in fields]
    if unknown:
        raise _UsageError(
            f"spec {name} has no constant {', '.join(unknown)}; its constants are: "
            f"{', '.join(fields)}"
        )
    try:
        return module.build(**consts)
    except (TypeError, ValueError) as exc:
        raise _UsageError(f"spec {name}: bad constants {consts}: {exc}") from exc


def _sizes(name: str, module: SpecModule, consts: dict[str, Any]) -> list[Spec[Any, Any]]:
    if consts:
        return [_build(name, module, consts)]
    return [module.build(**dataclasses.asdict(c)) for c in module.DEFAULT_SIZES]


def _const_text(spec: Spec[Any, Any]) -> str:
    """The sizes (every int constant) and the flags that differ from their default."""
    c = spec.constants
    default = type(c)()
    shown = []
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        is_size = isinstance(value, int) and not isinstance(value, bool)
        if is_size or value != getattr(default, f.name):
            shown.append(f"{f.name}={value!r}")
    return " ".join(shown) if shown else "(defaults)"


# -- list ---------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    for name, module in _specs().items():
        spec = module.build()
        doc = (type(spec).__doc__ or "").strip().splitlines()[0] if type(spec).__doc__ else ""
        print(f"{name:<12} {doc}", file=out)
        print(f"{'':<12} default sizes: {len(module.DEFAULT_SIZES)}", file=out)
    return 0


# -- show ---------------------------------------------------------------------


def _wrap(text: str, indent: str, width: int = 88) -> list[str]:
    import textwrap

    return textwrap.wrap(
        " ".join(text.split()), width=width, initial_indent=indent, subsequent_indent=indent
    )


def render_spec(name: str, module: SpecModule) -> str:
    """A spec as readable text (what ``treadle spec show`` prints)."""
    spec = module.build()
    cls = type(spec)
    lines = [f"SPEC {name}  ({cls.__module__}.{cls.__name__})", ""]
    mod_doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    if mod_doc:
        lines.append(mod_doc)
        lines.append("")
    consts = spec.constants
    lines.append("CONSTANTS (defaults)")
    for f in dataclasses.fields(consts):
        lines.append(f"  {f.name} = {getattr(consts, f.name)!r}")
    cdoc = type(consts).__doc__
    if cdoc:
        lines.extend(_wrap(cdoc.split("\n", 1)[-1], "    "))
    lines.append("")
    lines.append(f"DEFAULT SIZES ({len(module.DEFAULT_SIZES)})")
    for c in module.DEFAULT_SIZES:
        lines.append(f"  {_const_text(module.build(**dataclasses.asdict(c)))}")
    lines.append("")
    lines.append("VARIABLES")
    init = list(spec.init_states())
    if init:
        for k, v in state_variables(init[0]).items():
            lines.append(f"  {k:<14} initially {v!r}")
    sdoc = cls.state_type.__doc__ if cls.state_type is not None else None
    if sdoc:
        lines.extend(_wrap(sdoc.split("\n", 1)[-1], "    "))
    lines.append("")
    lines.append("ACTIONS")
    for d in cls.action_defs():
        tags = ["fair"] if d.fair else []
        if d.when:
            tags.append(f"when {d.when_text()}")
        tag = f"  [{'; '.join(tags)}]" if tags else ""
        lines.append(f"  {d.signature()}{tag}")
        lines.extend(_wrap(d.doc or "(no description)", "      "))
    lines.append("")
    lines.append("PROPERTIES (at the default constants)")
    for p in spec.properties():
        lines.append(f"  {p.kind:<10} {p.name}")
        if p.doc:
            lines.extend(_wrap(p.doc, "      "))
    lines.append("  always     deadlock (built in: a non-final state must have a successor)")
    return "\n".join(lines)


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    ((name, module),) = _pick([args.name])
    print(render_spec(name, module), file=out)
    return 0


# -- check --------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    consts = _parse_consts(args.const)
    chosen = _pick(args.names)
    if consts and not args.names:
        raise _UsageError("--const needs the spec NAME(s) it applies to")
    reports: list[tuple[str, Spec[Any, Any], SpecReport]] = []
    header = (
        f"{'spec':<12} {'constants':<44} {'states':>9} {'trans':>9} {'depth':>5} "
        f"{'time':>7}  result"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, module in chosen:
        for spec in _sizes(name, module, consts):
            report = check_spec(
                spec,
                all_violations=args.all_violations,
                max_states=args.max_states,
                progress=None if args.quiet else 10.0,
            )
            reports.append((name, spec, report))
            if report.ok:
                result = "ok"
            elif report.violations:
                result = "FAIL: " + ", ".join(f"{v.property} ({v.kind})" for v in report.violations)
            else:
                result = "INCOMPLETE"
            print(
                f"{name:<12} {_const_text(spec):<44} {report.distinct_states:>9,} "
                f"{report.transitions:>9,} {report.depth:>5} {report.elapsed:>6.2f}s  {result}",
                file=out,
            )
    failed = [(n, s, r) for n, s, r in reports if not r.ok]
    total = sum(r.distinct_states for _, _, r in reports)
    elapsed = sum(r.elapsed for _, _, r in reports)
    print(
        f"\n{len(reports)} checks, {len(failed)} failed, {total:,} states in {elapsed:.2f}s",
        file=out,
    )
    for name, spec, report in failed:
        print(f"\n=== {name} {_const_text(spec)}", file=out)
        print(str(report), file=out)
    return 1 if failed else 0


# -- graph --------------------------------------------------------------------


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_dot(spec: Spec[Any, Any], *, max_states: int = 2000) -> str:
    """The reachable state graph as DOT, the first violation's path in red.

    Raises:
        ValueError: the graph has more than ``max_states`` states.
    """
    graph = explore_graph(spec, max_states=max_states)
    if not graph.complete:
        raise ValueError(
            f"{spec.name} has more than {max_states} reachable states at these constants; "
            "pick smaller constants or raise --max-states"
        )
    report = check_spec(spec, progress=None)
    path_states: set[Any] = set()
    path_edges: set[tuple[Any, Any, Any]] = set()
    if report.violations and report.violations[0].trace is not None:
        steps = report.violations[0].trace.steps
        for a, b in itertools.pairwise(steps):
            path_edges.add((a.state, b.state, b.action))
        path_states = {st.state for st in steps}
    ids = {s: i for i, s in enumerate(graph.states)}
    outgoing = {i for i, _, _ in graph.edges}
    lines = [
        f'digraph "{_dot_escape(spec.name)}" {{',
        f'  label="{_dot_escape(repr(spec))}"; labelloc=t;',
        '  node [shape=box, fontname="monospace", fontsize=9];',
        '  edge [fontname="monospace", fontsize=8];',
    ]
    for s, i in ids.items():
        vars_ = state_variables(s)
        text = "\\l".join(_dot_escape(f"{k}={v!r}") for k, v in vars_.items()) + "\\l"
        attrs = [f'label="{text}"']
        if i < graph.initial:
            attrs.append("penwidth=2")
        if spec.is_final(s):
            attrs.append("peripheries=2")
        elif i not in outgoing:
            attrs.append('style=filled, fillcolor="#ffcccc"')
        if s in path_states:
            attrs.append('color="red"')
        lines.append(f"  s{i} [{', '.join(attrs)}];")
    for i, j, label in graph.edges:
        a, b = graph.states[i], graph.states[j]
        attrs = [f'label="{_dot_escape(str(label))}"']
        if (a, b, label) in path_edges:
            attrs.append('color="red", penwidth=2, fontcolor="red"')
        lines.append(f"  s{i} -> s{j} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    ((name, module),) = _pick([args.name])
    spec = _build(name, module, _parse_consts(args.const))
    target = Path(args.output)
    suffix = target.suffix.lower()
    if suffix not in (".dot", ".gv", ".svg"):
        raise _UsageError(f"-o must end in .dot, .gv or .svg, got {target.name!r}")
    try:
        dot = render_dot(spec, max_states=args.max_states or 2000)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    if suffix == ".svg":
        exe = shutil.which("dot")
        if exe is None:
            raise _UsageError(GRAPHVIZ_MISSING)
        proc = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise _UsageError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
        target.write_bytes(proc.stdout)
    else:
        target.write_text(dot)
    print(f"wrote {target} ({spec!r})", file=out)
    return 0


# -- wiring -------------------------------------------------------------------


def _run(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if getattr(args, "max_states", None) is not None and args.max_states < 1:
            print(f"treadle spec: error: --max-states must be at least 1, got {args.max_states}",
                  file=sys.stderr)  # fmt: skip
            return 2
        try:
            status: int = handler(args, sys.stdout)
        except _UsageError as exc:
            print(f"treadle spec: error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            raise  # the reader of stdout went away: cli.main ends quietly
        except OSError as exc:  # -o into a missing directory, a read-only file...
            name = exc.filename if exc.filename is not None else ""
            print(f"treadle spec: error: cannot write {name}: {exc.strerror or exc}",
                  file=sys.stderr)  # fmt: skip
            return 2
        return status

    return run


def register(subparsers: Any) -> None:
    """Add ``treadle spec`` and its subcommands to the ``treadle`` parser."""
    parser = subparsers.add_parser(
        "spec",
        help="list, show, check and draw the protocol specs",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="spec_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 0)[1])

    p_list = sub.add_parser("list", help="the bundled specs")
    p_list.set_defaults(func=_run(_cmd_list))

    p_show = sub.add_parser("show", help="a spec as readable text")
    p_show.add_argument("name", metavar="NAME")
    p_show.set_defaults(func=_run(_cmd_show))

    p_check = sub.add_parser("check", help="check specs exhaustively")
    p_check.add_argument("names", nargs="*", metavar="NAME", help="specs to check (default: all)")
    p_check.add_argument(
        "--const",
        action="append",
        metavar="K=V",
        help="check at these constants instead of the default sizes (repeatable)",
    )
    p_check.add_argument(
        "--all-violations",
        action="store_true",
        help="keep going after a violation and report every failing property",
    )
    p_check.add_argument("--max-states", type=int, default=None, metavar="N")
    p_check.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p_check.set_defaults(func=_run(_cmd_check))

    p_graph = sub.add_parser("graph", help="the reachable state graph (DOT or SVG)")
    p_graph.add_argument("name", metavar="NAME")
    p_graph.add_argument("-o", "--output", required=True, metavar="FILE")
    p_graph.add_argument("--const", action="append", metavar="K=V")
    p_graph.add_argument("--max-states", type=int, default=None, metavar="N")
    p_graph.set_defaults(func=_run(_cmd_graph))
