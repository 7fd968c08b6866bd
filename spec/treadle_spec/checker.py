"""The explicit-state checker for specs (:mod:`treadle_spec.lang`).

:func:`check_spec` explores every reachable state breadth-first and reports:

* **invariant** violations of ``Property.always`` - with a shortest trace
  (breadth-first search finds the shallowest bad state first);
* **deadlock** - a reachable state with no enabled action that the model does
  not call final (``is_final``), again with a shortest trace;
* **unreachable** - a ``Property.sometimes`` whose predicate no reachable
  state satisfies (only claimed when the search was exhaustive);
* **liveness** violations of ``Property.eventually`` / ``Property.leads_to``
  under weak fairness - with a lasso: a prefix from an initial state and a
  cycle the system can repeat forever without reaching the goal, or a final
  stop in a state short of it.

Behaviours (what liveness talks about) are the infinite paths of the state
graph, plus finite paths that end in a state with no successor and then
stutter there. The system always moves when it can (as TLA+'s
``WF_vars(Next)``), and each weakly fair action instance that stays enabled
forever is eventually taken. A cycle violates ``eventually q`` only if it is
*fair*: for every fair action instance, the cycle either takes it or passes
through a state where it is disabled. For weak fairness it is enough to test
each strongly connected component of the ``not q`` subgraph as a whole (a
sub-cycle of an unfair component is unfair too), which is what this does,
with an iterative Tarjan (no recursion limit).

Memory: visited states are kept as 64-bit fingerprints (``hash(state)``) in a
set, with a parent index and the successor's position per state in two
arrays; traces are rebuilt by re-executing the k-th successor from the
initial state. Only the frontier holds state objects. When a liveness
property is checked the graph is kept too, as compact arrays (edge targets,
fair-action ids, one bit per state per predicate).
"""

from __future__ import annotations

import builtins
import sys
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from treadle_spec.lang import Property, Spec, state_variables

__all__ = [
    "SpecGraph",
    "SpecReport",
    "Step",
    "Trace",
    "Violation",
    "ViolationKind",
    "check_spec",
    "explore_graph",
    "format_trace",
]

ViolationKind = Literal["invariant", "deadlock", "liveness", "unreachable"]


@dataclass(frozen=True)
class Step:
    """One state of a trace, and the action that led to it (``None`` for an initial state)."""

    action: Hashable | None
    state: Any


@dataclass(frozen=True)
class Trace:
    """A behaviour prefix, or a lasso when ``cycle_start`` is set.

    For a lasso, the last step leads back to ``steps[cycle_start]`` (its state
    equals that one) and the behaviour repeats the steps in between forever.
    ``stutters`` marks a behaviour that stops in its last state (no action is
    enabled there).
    """

    steps: tuple[Step, ...]
    cycle_start: int | None = None
    stutters: bool = False

    @property
    def depth(self) -> int:
        """The number of states in the trace (as TLC counts)."""
        return len(self.steps)

    @property
    def actions(self) -> list[Hashable]:
        return [s.action for s in self.steps if s.action is not None]

    def __str__(self) -> str:
        return format_trace(self)


@dataclass(frozen=True)
class Violation:
    """A property that does not hold, and a trace that shows it."""

    property: str
    kind: ViolationKind
    trace: Trace | None
    message: str = ""

    @builtins.property
    def depth(self) -> int:
        return 0 if self.trace is None else self.trace.depth

    def __str__(self) -> str:
        head = f"{self.kind} violation: {self.property}"
        if self.message:
            head += f" - {self.message}"
        if self.trace is None:
            return head
        return f"{head}\n{format_trace(self.trace)}"


@dataclass(frozen=True)
class SpecReport:
    """The result of :func:`check_spec`.

    ``ok`` means every property holds *and* the search was exhaustive
    (``complete``); a run cut short by ``max_states`` or by the first
    violation is not a proof.
    """

    name: str
    distinct_states: int
    transitions: int
    depth: int
    violations: tuple[Violation, ...]
    complete: bool
    elapsed: float
    properties: tuple[str, ...]
    fair_actions: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.complete and not self.violations

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.elapsed if self.elapsed > 0 else 0.0

    def violation(self, prop: str) -> Violation | None:
        """The violation of property ``prop`` (or ``deadlock``), if any."""
        for v in self.violations:
            if v.property == prop:
                return v
        return None

    def summary(self) -> str:
        status = "OK" if self.ok else ("FAILED" if self.violations else "INCOMPLETE")
        return (
            f"{self.name}: {status}: {self.distinct_states:,} distinct states, "
            f"{self.transitions:,} transitions, depth {self.depth}, "
            f"{self.elapsed:.2f}s ({self.states_per_second:,.0f} states/s)"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.properties:
            failed = {v.property for v in self.violations}
            unknown = "ok" if self.complete else "-"
            marks = [f"{p} {'FAIL' if p in failed else unknown}" for p in self.properties]
            label = "properties" if self.complete else "properties (- = not established)"
            lines.append(f"  {label}: " + ", ".join(marks))
        for v in self.violations:
            lines.append("")
            lines.append(str(v))
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(map(repr, v))) + "}"
    return repr(v)


def format_trace(trace: Trace) -> str:
    """TLC-style: each step's action and only the variables that changed."""
    lines: list[str] = []
    prev: dict[str, Any] | None = None
    last = len(trace.steps)
    for i, step in enumerate(trace.steps, 1):
        if trace.cycle_start is not None and i - 1 == trace.cycle_start:
            lines.append("  -- cycle: from here the steps repeat forever --")
        label = "<initial state>" if step.action is None else str(step.action)
        if trace.cycle_start is not None and i == last:
            lines.append(f"  {i}: {label}  -- back to state {trace.cycle_start + 1} --")
            break
        lines.append(f"  {i}: {label}")
        cur = state_variables(step.state)
        if prev is None:
            changed = cur
        else:
            changed = {k: v for k, v in cur.items() if prev.get(k, _MISSING) != v}
            if not changed:
                changed = {}
                lines.append("       (no variable changed)")
        width = max((len(k) for k in changed), default=0)
        for k, v in changed.items():
            lines.append(f"       {k.ljust(width)} = {_fmt(v)}")
        prev = cur
    if trace.stutters:
        lines.append("  -- stops here forever (no action enabled) --")
    return "\n".join(lines)


_MISSING = object()


# -- model adapter ------------------------------------------------------------


def _successor_function(model: Any) -> Callable[[Any], list[tuple[Any, Any]]]:
    fast = getattr(model, "successors", None)
    if callable(fast):
        return fast  # type: ignore[no-any-return]
    actions = model.actions
    next_state = model.next_state

    def successors(state: Any) -> list[tuple[Any, Any]]:
        out = []
        for a in actions(state):
            nxt = next_state(state, a)
            if nxt is not None:
                out.append((a, nxt))
        return out

    return successors


def _model_name(model: Any) -> str:
    name = getattr(model, "name", None)
    if not isinstance(name, str):
        name = type(model).__name__
    consts = getattr(model, "constants", None)
    if consts is not None and not callable(consts):
        try:
            vals = state_variables(consts)
            if not (len(vals) == 1 and "state" in vals):
                inner = ", ".join(f"{k}={v!r}" for k, v in vals.items())
                return f"{name}({inner})"
        except Exception:  # pragma: no cover - a spec's odd constants
            pass
    return name


def _fairness(model: Any, fairness: bool | Iterable[str] | None) -> Callable[[Any], bool]:
    if fairness is None:
        fn = getattr(model, "is_fair", None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
        return lambda a: False
    if fairness is True:
        return lambda a: True
    if fairness is False:
        return lambda a: False
    names = frozenset(fairness)
    return lambda a: getattr(a, "name", a) in names


# -- the search ---------------------------------------------------------------


class _Progress:
    def __init__(self, interval: float | None, stream: TextIO | None, name: str) -> None:
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.name = name
        self.start = time.perf_counter()
        self.next = self.start + interval if interval is not None else float("inf")

    def tick(self, states: int, queue: int, depth: int) -> None:
        now = time.perf_counter()
        if now < self.next or self.interval is None:
            return
        self.next = now + self.interval
        elapsed = now - self.start
        rate = states / elapsed if elapsed > 0 else 0.0
        print(
            f"[treadle spec] {self.name}: {states:,} states, {rate:,.0f} states/s, "
            f"queue {queue:,}, depth {depth}, {elapsed:.0f}s",
            file=self.stream,
            flush=True,
        )


def check_spec(
    model: Any,
    *,
    all_violations: bool = False,
    max_states: int | None = None,
    fairness: bool | Iterable[str] | None = None,
    check_liveness: bool = True,
    exact: bool = False,
    progress: float | None = 10.0,
    progress_stream: TextIO | None = None,
) -> SpecReport:
    """Explore every reachable state of ``model`` and check its properties.

    Args:
        model: a spec (see :mod:`treadle_spec.lang` for the shape).
        all_violations: keep exploring after a violation and report every
            property that fails (each with its shortest trace); by default
            the search stops at the first one.
        max_states: stop after this many distinct states; the report then
            says the search was not exhaustive and makes no claim about
            ``sometimes`` or liveness properties.
        fairness: which actions are weakly fair: ``None`` asks the model
            (``is_fair``), ``False`` none, ``True`` all, or a collection of
            action names.
        check_liveness: check ``eventually`` / ``leads_to`` properties
            (keeps the state graph in memory).
        exact: deduplicate on the states themselves instead of 64-bit
            fingerprints (no chance of a collision; more memory).
        progress: seconds between progress lines on stderr (states,
            states/s, queue, depth); ``None`` for none. Nothing is printed by
            runs shorter than one interval.
        progress_stream: where progress goes (default ``sys.stderr``).

    Returns:
        A :class:`SpecReport`.

    Raises:
        TypeError: an option has the wrong type, or a state is unhashable.
        ValueError: ``max_states`` is not positive, or the model has no
            initial state.
    """
    if max_states is not None and (
        isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 1
    ):
        raise ValueError(f"max_states must be a positive int or None, got {max_states!r}")
    if progress is not None and not (isinstance(progress, (int, float)) and progress > 0):
        raise ValueError(f"progress must be a positive number of seconds or None, got {progress!r}")
    started = time.perf_counter()
    name = _model_name(model)
    props: list[Property[Any]] = list(model.properties())
    for p in props:
        if not isinstance(p, Property):
            raise TypeError(f"{name}: properties() must return Property values, got {p!r}")
    seen_names: set[str] = set()
    for p in props:
        if p.name in seen_names:
            raise ValueError(f"{name}: two properties are named {p.name!r}")
        seen_names.add(p.name)
    successors = _successor_function(model)
    is_final_fn = getattr(model, "is_final", None)
    is_final: Callable[[Any], bool] = is_final_fn if callable(is_final_fn) else (lambda s: False)
    init = list(model.init_states())
    if not init:
        raise ValueError(f"{name}: init_states() returned no state")

    invariants = [(p.name, p.pred) for p in props if p.kind == "always"]
    sometimes = [(p.name, p.pred) for p in props if p.kind == "sometimes"]
    live = [p for p in props if p.is_liveness] if check_liveness else []
    need_graph = bool(live)
    fair = _fairness(model, fairness)

    violations: list[Violation] = []
    failed: set[str] = set()
    notes: list[str] = []
    key: Callable[[Any], Hashable] = (lambda s: s) if exact else hash

    # parent[i]: index of the state i was first reached from (-1 for an
    # initial state); pos[i]: its position in the parent's successor list
    # (in init, for an initial state). States are numbered in BFS order.
    parent = array("i")
    pos = array("i")
    index: dict[Hashable, int] = {}
    seen: set[Hashable] = set()
    # The graph, kept only for liveness: CSR offsets, edge targets, fair ids.
    offsets = array("i")
    targets = array("i")
    edge_fair = array("i")
    fair_ids: dict[Hashable, int] = {}
    fair_labels: list[Hashable] = []
    fair_by_id: dict[int, tuple[Hashable, int]] = {}
    persistent_labels = isinstance(model, Spec)

    def fair_id(label: Hashable) -> int:
        fid = fair_ids.get(label)
        if fid is None:
            fid = len(fair_labels) if fair(label) else -1
            fair_ids[label] = fid
            if fid >= 0:
                fair_labels.append(label)
        return fid

    # Per liveness property: bits of p and q for each state.
    pbits: list[bytearray] = [bytearray() for _ in live]
    qbits: list[bytearray] = [bytearray() for _ in live]
    n_init = 0

    stop = False
    truncated = False

    def record(idx: int, kind: ViolationKind, prop: str, message: str) -> None:
        nonlocal stop
        if prop in failed or stop:
            return
        failed.add(prop)
        violations.append(
            Violation(prop, kind, _rebuild(init, successors, parent, pos, idx), message)
        )
        if not all_violations:
            stop = True

    # (bits, predicate) for every bit array kept per state.
    bit_preds: list[tuple[bytearray, Callable[[Any], bool]]] = []
    for j, p in enumerate(live):
        if p.kind == "leads_to":
            assert p.target is not None
            bit_preds.append((pbits[j], p.pred))
            bit_preds.append((qbits[j], p.target))
        else:
            bit_preds.append((qbits[j], p.pred))

    def broken(pname: str, idx: int) -> None:
        if pname not in failed:
            record(idx, "invariant", pname, "a reachable state breaks the invariant")

    def reached(s: Any) -> None:
        hit = [item for item in sometimes if item[1](s)]
        for item in hit:
            sometimes.remove(item)

    def visit_new(s: Any, idx: int) -> None:
        for pname, pred in invariants:
            if not pred(s):
                broken(pname, idx)
        if sometimes:
            reached(s)
        for bits, pred in bit_preds:
            bits.append(1 if pred(s) else 0)

    level: list[Any] = []
    for k, s in enumerate(init):
        fp = key(s)
        if fp in seen or fp in index:
            continue
        idx = len(parent)
        if need_graph:
            index[fp] = idx
        else:
            seen.add(fp)
        parent.append(-1)
        pos.append(k)
        level.append(s)
        visit_new(s, idx)
    n_init = len(parent)

    progress_meter = _Progress(progress, progress_stream, name)
    transitions = 0
    depth = 1
    cur = 0  # index of the state being expanded
    n = len(parent)  # states found
    limit = max_states if max_states is not None else 1 << 62
    if n >= limit:
        truncated = True
    add_parent = parent.append
    add_pos = pos.append
    add_target = targets.append
    add_fair = edge_fair.append
    add_seen = seen.add
    index_get = index.get

    # The hot loop: one branch per graph mode so that safety-only runs pay
    # for nothing they do not use. Invariants are inlined.
    while level and not stop and not truncated:
        next_level: list[Any] = []
        append_next = next_level.append
        for s in level:
            succ = successors(s)
            transitions += len(succ)
            if not succ and not is_final(s):
                record(
                    cur, "deadlock", "deadlock", "no action is enabled and the state is not final"
                )
            if need_graph:
                offsets.append(len(targets))
                for k, (label, t) in enumerate(succ):
                    fp = key(t)
                    found = index_get(fp)
                    if found is None:
                        j = n
                        n += 1
                        index[fp] = j
                        add_parent(cur)
                        add_pos(k)
                        append_next(t)
                        for pname, pred in invariants:
                            if not pred(t):
                                broken(pname, j)
                        if sometimes:
                            reached(t)
                        for bits, pred in bit_preds:
                            bits.append(1 if pred(t) else 0)
                        if n >= limit:
                            truncated = True
                    else:
                        j = found
                    add_target(j)
                    # Labels of a Spec are long-lived objects: look them up by
                    # identity (an int hash) and fall back to equality.
                    entry = fair_by_id.get(id(label))
                    if entry is not None and entry[0] is label:
                        fid = entry[1]
                    else:
                        fid = fair_id(label)
                        if persistent_labels:
                            fair_by_id[id(label)] = (label, fid)
                    add_fair(fid)
                    if truncated:
                        break
            else:
                for k, (_, t) in enumerate(succ):
                    fp = key(t)
                    if fp in seen:
                        continue
                    add_seen(fp)
                    add_parent(cur)
                    add_pos(k)
                    append_next(t)
                    for pname, pred in invariants:
                        if not pred(t):
                            broken(pname, n)
                    if sometimes:
                        reached(t)
                    n += 1
                    if n >= limit:
                        truncated = True
                        break
            cur += 1
            if stop or truncated:
                break
            if not cur & 4095:
                progress_meter.tick(n, len(level) - cur + len(next_level), depth)
        if stop or truncated:
            break
        level = next_level
        if level:
            depth += 1

    complete = not stop and not truncated
    if truncated:
        notes.append(
            f"stopped at max_states={max_states}: not exhaustive; sometimes and "
            "liveness properties were not checked"
        )
    if stop and not complete:
        notes.append("stopped at the first violation (all_violations=False)")

    if complete:
        for pname, _ in sometimes:
            violations.append(
                Violation(pname, "unreachable", None, "no reachable state satisfies it")
            )
            failed.add(pname)
        if need_graph:
            offsets.append(len(targets))
            graph = _Graph(offsets, targets, edge_fair, len(fair_labels))
            behaviour = "a fair behaviour" if fair_labels else "a behaviour (no action is fair)"
            for j, p in enumerate(live):
                if not all_violations and violations:
                    break
                if p.kind == "eventually":
                    starts = bytearray(len(parent))
                    starts[:n_init] = b"\x01" * n_init
                    what = f"{behaviour} never reaches it"
                else:
                    starts = pbits[j]
                    what = f"{behaviour} from a state where p holds never reaches q"
                lasso = _find_lasso(graph, starts, qbits[j])
                if lasso is not None:
                    prefix_end, path, cycle_at, stutters = lasso
                    trace = _rebuild_lasso(
                        init, successors, parent, pos, prefix_end, path, cycle_at
                    )
                    trace = Trace(trace.steps, trace.cycle_start, stutters)
                    violations.append(Violation(p.name, "liveness", trace, what))
                    failed.add(p.name)

    elapsed = time.perf_counter() - started
    return SpecReport(
        name=name,
        distinct_states=len(parent),
        transitions=transitions,
        depth=depth,
        violations=tuple(violations),
        complete=complete,
        elapsed=elapsed,
        properties=tuple(["deadlock", *(p.name for p in props)]),
        fair_actions=len(fair_labels),
        notes=tuple(notes),
    )


# -- traces -------------------------------------------------------------------


def _path_to(parent: array[int], pos: array[int], idx: int) -> tuple[int, list[int]]:
    """(position of the root in init, successor positions from the root to ``idx``)."""
    steps: list[int] = []
    while parent[idx] != -1:
        steps.append(pos[idx])
        idx = parent[idx]
    steps.reverse()
    return pos[idx], steps


def _replay(
    init: Sequence[Any],
    successors: Callable[[Any], list[tuple[Any, Any]]],
    root: int,
    path: Iterable[int],
) -> list[Step]:
    s = init[root]
    out = [Step(None, s)]
    for k in path:
        label, s = successors(s)[k]
        out.append(Step(label, s))
    return out


def _rebuild(
    init: Sequence[Any],
    successors: Callable[[Any], list[tuple[Any, Any]]],
    parent: array[int],
    pos: array[int],
    idx: int,
) -> Trace:
    root, path = _path_to(parent, pos, idx)
    return Trace(tuple(_replay(init, successors, root, path)))


def _rebuild_lasso(
    init: Sequence[Any],
    successors: Callable[[Any], list[tuple[Any, Any]]],
    parent: array[int],
    pos: array[int],
    start: int,
    edge_positions: list[int],
    cycle_at: int | None,
) -> Trace:
    """The BFS path to ``start``, then the given successor positions."""
    root, path = _path_to(parent, pos, start)
    prefix_len = len(path) + 1
    steps = _replay(init, successors, root, path + edge_positions)
    if cycle_at is None:
        return Trace(tuple(steps))
    # ``cycle_at`` counts steps along ``edge_positions``; the last step
    # returns to the state at that position.
    first = prefix_len - 1 + cycle_at
    return Trace(tuple(steps), cycle_start=first)


# -- liveness -----------------------------------------------------------------


@dataclass
class _Graph:
    offsets: array[int]
    targets: array[int]
    fair: array[int]
    n_fair: int

    @property
    def n(self) -> int:
        return len(self.offsets) - 1


def _find_lasso(
    g: _Graph, starts: bytearray, q: bytearray
) -> tuple[int, list[int], int | None, bool] | None:
    """A fair behaviour from a ``starts`` state that avoids ``q`` forever.

    Returns (start state, successor positions from it, index in that list
    where the cycle starts or None when it ends in a state with no successor,
    whether it stutters), or None when the property holds.
    """
    n = g.n
    off, tgt = g.offsets, g.targets
    # can[i]: from i (a not-q state) some fair behaviour avoids q forever.
    # bad_kind[i]: 1 = i is in a fair non-trivial SCC, 2 = i has no successor.
    can = bytearray(n)
    bad_kind = bytearray(n)
    comp = array("i", [-1]) * n
    _tarjan(g, q, can, bad_kind, comp)
    start = -1
    for i in range(n):
        if starts[i] and not q[i] and can[i]:
            start = i
            break
    if start == -1:
        return None
    # Shortest path (within not-q, can) from start to a bad state.
    prev: dict[int, tuple[int, int]] = {start: (-1, -1)}
    dq = deque([start])
    goal = -1
    while dq:
        u = dq.popleft()
        if bad_kind[u]:
            goal = u
            break
        for e in range(off[u], off[u + 1]):
            v = tgt[e]
            if q[v] or not can[v] or v in prev:
                continue
            prev[v] = (u, e - off[u])
            dq.append(v)
    assert goal != -1, "a state that can avoid q must reach a bad state"
    path: list[int] = []
    v = goal
    while v != start:
        u, k = prev[v]
        path.append(k)
        v = u
    path.reverse()
    if bad_kind[goal] == 2:
        return start, path, None, True
    cycle = _fair_cycle(g, q, comp, goal)
    return start, path + cycle, len(path), False


def _tarjan(g: _Graph, q: bytearray, can: bytearray, bad_kind: bytearray, comp: array[int]) -> None:
    """Iterative Tarjan over the not-q subgraph; fills can/bad_kind/comp.

    SCCs come out in reverse topological order, so when an SCC is complete
    every SCC it can reach is already decided.
    """
    n = g.n
    off, tgt, fair, n_fair = g.offsets, g.targets, g.fair, g.n_fair
    index = array("i", [-1]) * n
    low = array("i", [0]) * n
    on_stack = bytearray(n)
    stack: list[int] = []
    counter = 0
    n_comp = 0
    for root in range(n):
        if q[root] or index[root] != -1:
            continue
        # Frames: (node, next edge to look at).
        call: list[list[int]] = [[root, off[root]]]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        while call:
            frame = call[-1]
            v, e = frame
            end = off[v + 1]
            advanced = False
            while e < end:
                w = tgt[e]
                e += 1
                if q[w]:
                    continue
                if index[w] == -1:
                    frame[1] = e
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    call.append([w, off[w]])
                    advanced = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if advanced:
                continue
            call.pop()
            if call:
                u = call[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] != index[v]:
                continue
            if stack[-1] == v:
                # A single state (most SCCs): decide inline unless it loops
                # to itself, which needs the fairness check.
                a, b = off[v], off[v + 1]
                looped = False
                for e in range(a, b):
                    t = tgt[e]
                    if t == v and not q[t]:
                        looped = True
                        break
                if not looped:
                    stack.pop()
                    on_stack[v] = 0
                    comp[v] = n_comp
                    n_comp += 1
                    if a == b:
                        bad_kind[v] = 2
                        can[v] = 1
                    else:
                        for e in range(a, b):
                            t = tgt[e]
                            if not q[t] and can[t]:
                                can[v] = 1
                                break
                    continue
            members: list[int] = []
            while True:
                w = stack.pop()
                on_stack[w] = 0
                comp[w] = n_comp
                members.append(w)
                if w == v:
                    break
            _decide(members, n_comp, off, tgt, fair, n_fair, q, can, bad_kind, comp)
            n_comp += 1


def _decide(
    members: list[int],
    c: int,
    off: array[int],
    tgt: array[int],
    fair: array[int],
    n_fair: int,
    q: bytearray,
    can: bytearray,
    bad_kind: bytearray,
    comp: array[int],
) -> None:
    internal = False
    reaches = False
    taken: set[int] = set()
    always_enabled: set[int] | None = None
    for v in members:
        a, b = off[v], off[v + 1]
        if a == b:
            # No successor at all: the behaviour stops (stutters) here.
            bad_kind[v] = 2
            reaches = True
            continue
        enabled: set[int] = set()
        for e in range(a, b):
            f = fair[e]
            if f >= 0:
                enabled.add(f)
            w = tgt[e]
            if q[w]:
                continue
            if comp[w] == c:
                internal = True
                if f >= 0:
                    taken.add(f)
            elif can[w]:
                reaches = True
        if n_fair:
            always_enabled = enabled if always_enabled is None else always_enabled & enabled
    if internal:
        starved = (always_enabled or set()) - taken
        if not starved:
            for v in members:
                bad_kind[v] = 1
            reaches = True
    if reaches:
        for v in members:
            can[v] = 1


def _fair_cycle(g: _Graph, q: bytearray, comp: array[int], start: int) -> list[int]:
    """Successor positions of a cycle from ``start`` inside its SCC that is fair.

    It visits, for each fair action enabled somewhere in the SCC, either an
    edge that takes it or a state where it is disabled, and comes back.
    """
    off, tgt, fair = g.offsets, g.targets, g.fair
    c = comp[start]
    members = [v for v in range(g.n) if comp[v] == c and not q[v]]
    enabled_at: dict[int, set[int]] = {}
    for v in members:
        enabled_at[v] = {fair[e] for e in range(off[v], off[v + 1]) if fair[e] >= 0}
    all_fair = set().union(*enabled_at.values()) if enabled_at else set()
    # Waypoints: ("edge", e) or ("state", v).
    waypoints: list[tuple[str, int]] = []
    covered: set[int] = set()
    for f in sorted(all_fair):
        if f in covered:
            continue
        edge = next(
            (
                e
                for v in members
                for e in range(off[v], off[v + 1])
                if fair[e] == f and comp[tgt[e]] == c and not q[tgt[e]]
            ),
            None,
        )
        if edge is not None:
            waypoints.append(("edge", edge))
            covered.add(f)
            continue
        state = next(v for v in members if f not in enabled_at[v])
        waypoints.append(("state", state))
        covered |= all_fair - enabled_at[state]

    def source_of(e: int) -> int:
        lo, hi = 0, g.n
        while lo < hi:  # largest v with off[v] <= e
            mid = (lo + hi) // 2
            if off[mid + 1] <= e:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def walk(a: int, b: int) -> list[int]:
        """Shortest path a -> b inside the SCC, as successor positions."""
        if a == b:
            return []
        prev: dict[int, tuple[int, int]] = {a: (-1, -1)}
        dq = deque([a])
        while dq:
            u = dq.popleft()
            for e in range(off[u], off[u + 1]):
                v = tgt[e]
                if comp[v] != c or q[v] or v in prev:
                    continue
                prev[v] = (u, e - off[u])
                if v == b:
                    out: list[int] = []
                    x = v
                    while x != a:
                        px, k = prev[x]
                        out.append(k)
                        x = px
                    out.reverse()
                    return out
                dq.append(v)
        raise AssertionError("states of one SCC must reach each other")

    out: list[int] = []
    here = start
    for kind, x in waypoints:
        if kind == "state":
            out += walk(here, x)
            here = x
        else:
            src = source_of(x)
            out += walk(here, src)
            out.append(x - off[src])
            here = tgt[x]
    if here != start or not out:
        if not out:
            # A self-loop (or a cycle through an unfair action): take one
            # internal edge to make the cycle visible.
            e = next(
                e for e in range(off[start], off[start + 1]) if comp[tgt[e]] == c and not q[tgt[e]]
            )
            out.append(e - off[start])
            here = tgt[e]
        out += walk(here, start)
    return out


# -- the whole graph, for pictures --------------------------------------------


@dataclass(frozen=True)
class SpecGraph:
    """Every reachable state and every transition (for ``treadle spec graph``)."""

    states: tuple[Any, ...]
    edges: tuple[tuple[int, int, Hashable], ...]
    initial: int
    complete: bool


def explore_graph(model: Any, *, max_states: int = 2000) -> SpecGraph:
    """Collect the reachable graph with the states themselves (small models only).

    Raises:
        ValueError: ``max_states`` is not positive.
    """
    if max_states < 1:
        raise ValueError(f"max_states must be positive, got {max_states}")
    successors = _successor_function(model)
    states: list[Any] = []
    ids: dict[Any, int] = {}
    edges: list[tuple[int, int, Hashable]] = []
    queue: deque[int] = deque()
    for s in model.init_states():
        if s not in ids:
            ids[s] = len(states)
            states.append(s)
            queue.append(ids[s])
    n_init = len(states)
    complete = True
    while queue:
        i = queue.popleft()
        for label, t in successors(states[i]):
            j = ids.get(t)
            if j is None:
                if len(states) >= max_states:
                    complete = False
                    continue
                j = ids[t] = len(states)
                states.append(t)
                queue.append(j)
            edges.append((i, j, label))
    return SpecGraph(tuple(states), tuple(edges), n_init, complete)
