"""Events of an execution, their accesses, and the conflict relation.

Every scheduling point that a thread passes becomes one :class:`Ev`. Its
*accesses* say which objects it reads or writes (see :mod:`._ops`); two events
*depend* on each other when they belong to the same thread, when one spawned
the other's thread, when one is the global clock step, or when they access
the same object and at least one writes it. Happens-before is program order
plus the order of dependent events, kept as vector clocks (``clock[t]`` is the
number of events of thread ``t`` that happen before or at this one).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NO_SPAWN", "Ev", "Sym", "clock_get", "dep", "hb", "join_into"]

NO_SPAWN = -2


class Sym:
    """What the explorer needs to know about an event: who, and what it touches."""

    __slots__ = ("acc", "glob", "spawn", "tid")

    def __init__(self, tid: int, acc: tuple[int, ...], spawn: int = NO_SPAWN, glob: bool = False):
        self.tid = tid
        self.acc = acc
        self.spawn = spawn
        self.glob = glob

    def __repr__(self) -> str:
        accs = ",".join(f"{'W' if a & 1 else 'R'}{a >> 1}" for a in self.acc)
        extra = f" spawn={self.spawn}" if self.spawn != NO_SPAWN else ""
        extra += " global" if self.glob else ""
        return f"<t{self.tid} {accs}{extra}>"


class Ev(Sym):
    """One executed step: the thread's operation, where it happened, and its clock."""

    __slots__ = ("clock", "form", "idx", "info", "kind", "lidx", "obj", "sclock", "th")

    def __init__(
        self,
        tid: int,
        acc: tuple[int, ...],
        spawn: int,
        glob: bool,
        idx: int,
        lidx: int,
        kind: int,
        form: int,
        th: Any,
        obj: Any,
    ) -> None:
        self.tid = tid
        self.acc = acc
        self.spawn = spawn
        self.glob = glob
        self.idx = idx
        self.lidx = lidx
        self.kind = kind
        self.form = form
        self.th = th
        self.obj = obj
        self.clock: list[int] = []
        self.sclock: list[int] | None = None
        self.info: Any = None


def dep(a: Sym, b: Sym) -> bool:
    """True when ``a`` and ``b`` do not commute."""
    if a.tid == b.tid or a.glob or b.glob or a.spawn == b.tid or b.spawn == a.tid:
        return True
    aa = a.acc
    bb = b.acc
    if not aa or not bb:
        return False
    for x in aa:
        for y in bb:
            if (x ^ y) <= 1 and (x | y) & 1:
                return True
    return False


def clock_get(clock: list[int], tid: int) -> int:
    return clock[tid] if tid < len(clock) else 0


def hb(e: Ev, clock: list[int]) -> bool:
    """True when event ``e`` happens before (or is) the event whose clock is ``clock``."""
    t = e.tid
    return t < len(clock) and clock[t] >= e.lidx


def join_into(dst: list[int], src: list[int]) -> None:
    """``dst := max(dst, src)`` elementwise; ``dst`` is at least as long as ``src``."""
    n = len(src)
    dst[:n] = map(max, dst, src)
