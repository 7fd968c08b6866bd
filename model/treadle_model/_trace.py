"""Readable traces, and a schedule with fewer preemptions for the same failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treadle_model._events import Ev
    from treadle_model._runtime import Execution

__all__ = ["MAX_TRACE_LINES", "format_trace", "linearize"]

MAX_TRACE_LINES = 120


def linearize(events: list[Ev], upto: int) -> list[int]:
    """Reorder ``events[: upto + 1]`` into an equivalent schedule with few thread switches.

    Any order that respects happens-before runs the same operations on the
    same states, so it reproduces the same failure. Greedily keep running the
    current thread while its next event is ready, else switch to the thread
    whose next ready event came first in the original run.
    """
    evs = events[: upto + 1]
    if not evs:
        return []
    queues: dict[int, list[Ev]] = {}
    for e in evs:
        queues.setdefault(e.tid, []).append(e)
    heads = dict.fromkeys(queues, 0)
    emitted: dict[int, int] = {}

    def ready(e: Ev) -> bool:
        clock = e.clock
        tid = e.tid
        return all(t == tid or clock[t] <= emitted.get(t, 0) for t in range(len(clock)))

    out: list[int] = []
    cur = evs[0].tid
    total = len(evs)
    while len(out) < total:
        q = queues.get(cur)
        h = heads.get(cur, 0)
        if q is not None and h < len(q) and ready(q[h]):
            e = q[h]
        else:
            best: Ev | None = None
            for t, q2 in queues.items():
                h2 = heads[t]
                if h2 < len(q2) and ready(q2[h2]) and (best is None or q2[h2].idx < best.idx):
                    best = q2[h2]
            if best is None:  # pragma: no cover - happens-before is acyclic
                return [x.th.index for x in evs]
            e = best
            cur = e.tid
        heads[e.tid] += 1
        emitted[e.tid] = emitted.get(e.tid, 0) + 1
        out.append(e.th.index)
    return out


def format_trace(ex: Execution, upto: int | None = None) -> tuple[str, ...]:
    """One line per step (and per protocol event emitted), capped in length."""
    events = ex.events if upto is None else ex.events[: upto + 1]
    emits: dict[int, list[str]] = {}
    for step, who, name, fields in ex.emits:
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        emits.setdefault(step, []).append(f"      {who} emits {name}({args})")
    width = max([len(e.th.name) for e in events] + [6])
    lines: list[str] = []
    for e in events:
        info = e.info
        if isinstance(info, tuple):
            text, loc = info
        else:
            text, loc = (info or ""), ""
        line = f"{e.idx:>4}  {e.th.name:<{width}}  {text}"
        if loc:
            line = f"{line:<{width + 60}}  {loc}"
        lines.append(line.rstrip())
        lines.extend(emits.get(e.idx, ()))
    if len(lines) > MAX_TRACE_LINES:
        head = lines[:30]
        tail = lines[-(MAX_TRACE_LINES - 31) :]
        lines = [
            *head,
            f"      ... {len(lines) - len(head) - len(tail)} lines not shown ...",
            *tail,
        ]
    return tuple(lines)
