"""Small random programs over treadle.sync, for checking the explorer against brute force.

A program is data: per thread, a list of instructions; :func:`build` turns it
into a body for :func:`treadle_model.explore`. :func:`canonical` names an
execution by its Mazurkiewicz trace (each event with its happens-before
predecessors), so two executions are equivalent exactly when their canonical
forms are equal.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from treadle import sync

Instr = tuple[Any, ...]


def random_program(
    rng: random.Random, *, threads: int = 2, length: int = 3, extended: bool = False
) -> list[list[Instr]]:
    """Random per-thread instruction lists (``extended``: the rarer primitives too)."""
    progs: list[list[Instr]] = []
    pick = _extended_instr if extended else _random_instr
    for _ in range(threads):
        ops: list[Instr] = []
        for _ in range(rng.randint(1, length)):
            ops.append(pick(rng, 0))
        progs.append(ops)
    return progs


def _extended_instr(rng: random.Random, depth: int) -> Instr:
    kind = rng.choice(
        ["rwith", "sacq2", "tacq", "waitfor", "mono", "spawnjoin", "tsem", "ewait0", "base"]
    )
    if kind == "rwith":
        inner: list[Instr] = [("rwith", 0, [("get", 0)])] if rng.random() < 0.5 else []
        return ("rwith", 0, [*inner, _random_instr(rng, depth + 1)])
    if kind == "sacq2":
        return ("sem2", rng.choice([None, 1.0]))
    if kind == "tacq":
        return ("tacq", rng.randrange(2), rng.choice([0, 1.0]))
    if kind == "waitfor":
        return ("waitfor", rng.choice([None, 1.0]))
    if kind == "mono":
        return ("mono",)
    if kind == "spawnjoin" and depth == 0:
        return ("spawnjoin", [_random_instr(rng, depth + 1)])
    if kind == "tsem":
        return ("tsem", rng.choice([0, 1.0]))
    if kind == "ewait0":
        return ("ewait_t", 0)
    return _random_instr(rng, depth)


def _random_instr(rng: random.Random, depth: int) -> Instr:
    choices = [
        "get",
        "set",
        "incr",
        "with",
        "with",
        "eset",
        "eclear",
        "ewait",
        "sacq",
        "srel",
        "try",
        "locked",
        "if",
        "notify",
        "cwait",
        "ewait_t",
        "sleep",
        "isset",
    ]
    kind = rng.choice(choices)
    c = rng.randrange(2)
    if kind == "get":
        return ("get", c)
    if kind == "set":
        return ("set", c, rng.randrange(3))
    if kind == "incr":
        return ("incr", c)
    if kind == "with":
        if depth >= 1:
            return ("get", c)
        body = [_random_instr(rng, depth + 1) for _ in range(rng.randint(1, 2))]
        return ("with", rng.randrange(2), body)
    if kind == "eset":
        return ("eset",)
    if kind == "eclear":
        return ("eclear",)
    if kind == "ewait":
        return ("ewait",)
    if kind == "ewait_t":
        return ("ewait_t", 1.0)
    if kind == "isset":
        return ("isset",)
    if kind == "sacq":
        return ("sacq",)
    if kind == "srel":
        return ("srel",)
    if kind == "try":
        return ("try", rng.randrange(2))
    if kind == "locked":
        return ("locked", rng.randrange(2))
    if kind == "if":
        return ("if", c, rng.randrange(2), [_random_instr(rng, depth + 1)])
    if kind == "notify":
        return ("notify", rng.random() < 0.5)
    if kind == "cwait":
        return ("cwait", rng.choice([None, None, 1.0]))
    return ("sleep", rng.choice([0.0, 1.0]))


def build(
    progs: list[list[Instr]], *, join: bool = True, main_ops: list[Instr] | None = None
) -> Callable[[], None]:
    def body() -> None:
        cells = [sync.Cell(0), sync.Cell(0)]
        locks = [sync.Lock(), sync.Lock()]
        event = sync.Event()
        sem = sync.Semaphore(1)
        cond_lock = sync.Lock()
        cond = sync.Condition(cond_lock)
        rlock = sync.RLock()
        sem2 = sync.Semaphore(2)
        env = (cells, locks, event, sem, cond, rlock, sem2)

        def run(ops: list[Instr]) -> None:
            for op in ops:
                _exec(op, env)

        ts = [sync.spawn(run, ops, name=f"T{i}") for i, ops in enumerate(progs)]
        if main_ops:
            run(main_ops)
        if join:
            for t in ts:
                t.join()

    return body


def _exec(op: Instr, env: Any) -> None:
    cells, locks, event, sem, cond, rlock, sem2 = env
    k = op[0]
    if k == "get":
        cells[op[1]].get()
    elif k == "set":
        cells[op[1]].set(op[2])
    elif k == "incr":
        r = cells[op[1]].get()
        cells[op[1]].set(r + 1)
    elif k == "with":
        with locks[op[1]]:
            for sub in op[2]:
                _exec(sub, env)
    elif k == "eset":
        event.set()
    elif k == "eclear":
        event.clear()
    elif k == "ewait":
        event.wait()
    elif k == "ewait_t":
        event.wait(op[1])
    elif k == "isset":
        event.is_set()
    elif k == "sacq":
        sem.acquire()
    elif k == "srel":
        sem.release()
    elif k == "try":
        if locks[op[1]].acquire(blocking=False):
            locks[op[1]].release()
    elif k == "locked":
        locks[op[1]].locked()
    elif k == "if":
        if cells[op[1]].get() == op[2]:
            for sub in op[3]:
                _exec(sub, env)
    elif k == "notify":
        with cond:
            if op[1]:
                cond.notify_all()
            else:
                cond.notify()
    elif k == "cwait":
        with cond:
            cond.wait(op[1])
    elif k == "sleep":
        sync.sleep(op[1])
    elif k == "rwith":
        with rlock:
            for sub in op[2]:
                _exec(sub, env)
    elif k == "sem2":
        if op[1] is None:
            sem2.acquire()
            cells[0].get()
            sem2.release()
        elif sem2.acquire(timeout=op[1]):
            sem2.release()
    elif k == "tacq":
        if locks[op[1]].acquire(timeout=op[2]):
            cells[1].get()
            locks[op[1]].release()
    elif k == "waitfor":
        with cond:
            cond.wait_for(lambda: cells[0].get() != 0, timeout=op[1])
    elif k == "mono":
        sync.monotonic()
    elif k == "spawnjoin":
        child = sync.spawn(lambda: [_exec(sub, env) for sub in op[1]], name="child")
        child.join()
    elif k == "tsem":
        if sem.acquire(timeout=op[1]):
            sem.release()
    else:  # pragma: no cover
        raise AssertionError(op)


def canonical(ex: Any) -> frozenset[tuple[Any, ...]]:
    """The execution's Mazurkiewicz trace: every event and what happens before it."""
    names = {th.tid: th.name for th in ex.threads}
    names[1] = "clock"
    out = []
    for e in ex.events:
        preds = tuple(
            sorted((names.get(t, str(t)), n) for t, n in enumerate(e.clock) if n and t != e.tid)
        )
        out.append((names[e.tid], e.lidx, e.kind, e.form, e.acc and len(e.acc), preds))
    return frozenset(out)
