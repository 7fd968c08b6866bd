"""Optimal dynamic partial-order reduction (source sets + wakeup trees).

This is the Optimal-DPOR algorithm of Abdulla, Aronis, Jonsson and Sagonas
("Source sets: a foundation for optimal dynamic partial order reduction",
JACM 2017), in the stateless, replay-from-scratch form that Nidhugg uses:

* The explored executions form a tree. ``nodes[k]`` is the node at depth
  ``k`` of the current execution; its children are the branches to explore at
  position ``k`` (the first child is the one being explored), each labelled by
  the event taken. Unexplored branches are *wakeup sequences*: paths that
  lead to a new equivalence class.
* ``sleeps[k]`` is the sleep set at position ``k``: threads whose next event
  was already explored from an equivalent state, with that event.
* At the end of every execution, each race ``(e, e')`` (conflicting events
  not ordered by anything else, see :meth:`Execution._races`) is reversed:
  ``v = notdep(e) . e'`` (the events after ``e`` that do not depend on it,
  then ``e'``) is a sequence that runs ``e'`` before ``e``. Unless a sleeping
  thread shows that its class was already explored, ``v`` is inserted into
  the wakeup tree at ``e``'s position.
* Backtracking takes the deepest position with another branch; the finished
  branch's thread goes to sleep there.

Blocking operations are handled as Nidhugg handles mutexes: a race whose
second event was enabled by the first (a release before an acquire) is moved
back to the event that took what the second needed (the acquire before that
release), and operations still blocked at the end race with the event that
blocks them. With these, every Mazurkiewicz trace is explored exactly once;
a wakeup sequence can still occasionally be cut off by a sleeping thread when
blocking is involved, and such partial executions are counted as redundant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from treadle_model._events import Ev, Sym, dep
from treadle_model._primitives import PEEK

if TYPE_CHECKING:
    from treadle_model._runtime import Execution, VThread

__all__ = ["DPOR"]

_EMPTY: dict[int, Sym] = {}


class _Node:
    __slots__ = ("children", "ev")

    def __init__(self, ev: Sym | None) -> None:
        self.ev = ev
        self.children: list[_Node] = []


class DPOR:
    """The default strategy: every distinct interleaving exactly once."""

    name = "dpor"
    needs_races = True

    def __init__(self) -> None:
        self.root = _Node(None)
        self.nodes: list[_Node] = [self.root]
        self.sleeps: list[dict[int, Sym]] = [_EMPTY]
        self.prefix_len = 0
        # The races of the last execution; those within the next prefix are
        # the same and are not computed again.
        self.last_races: list[tuple[int, int, Sym | None]] = []
        self.done = False
        self.complete = False
        # Counters that should stay zero; the tests assert them.
        self.infeasible = 0
        self.followed_sleeping = 0

    def new_execution(self) -> bool:
        return not self.done

    def next_value(self, bound: int) -> int:
        return 0

    def exhaustive(self) -> bool:
        return self.complete

    def _settle(self, ex: Execution, k: int) -> None:
        """Compute ``sleeps[k]`` from the event just executed at ``k - 1``."""
        ev = ex.events[k - 1]
        self.nodes[k].ev = ev
        s = self.sleeps[k - 1]
        if s:
            tid = ev.tid
            s2 = {q: sym for q, sym in s.items() if q != tid and not dep(ev, sym)}
            if len(s2) == len(s):
                s2 = s
            self.sleeps.append(s2)
        else:
            self.sleeps.append(s)

    def fast_pick(self, ex: Execution) -> VThread | None:
        """The common cases without looking at every thread: follow the tree, or keep going.

        Returns None when the full list of runnable threads is needed (then
        :meth:`next_thread` decides, with the same rules).
        """
        events = ex.events
        k = len(events)
        sleeps = self.sleeps
        nodes = self.nodes
        if len(sleeps) == k:
            # settle position k - 1 (see _settle), inlined: this runs every step
            ev = events[k - 1]
            nodes[k].ev = ev
            s = sleeps[k - 1]
            if s:
                tid = ev.tid
                s2 = {q: sym for q, sym in s.items() if q != tid and not dep(ev, sym)}
                sleeps.append(s2 if len(s2) != len(s) else s)
            else:
                sleeps.append(s)
        children = nodes[k].children
        if children:
            child = children[0]
            nxt = ex.by_tid.get(child.ev.tid)  # type: ignore[union-attr]
            if nxt is None or not nxt.alive or not ex.peek(nxt):
                return None
            if k < self.prefix_len:
                cev = child.ev
                if nxt.kind != cev.kind or nxt.acc != cev.acc:  # type: ignore[union-attr]
                    return self._follow(ex, k, child, nxt)  # reports the divergence
                # The same step as in the last execution: the runtime reuses
                # its event record (clock and races are the same).
                ex.again = cev  # type: ignore[assignment]
            elif nxt.tid in sleeps[k]:
                self.followed_sleeping += 1
            if len(nodes) == k + 1:
                nodes.append(child)
            return nxt
        if k == 0:
            return None
        th: VThread = events[-1].th
        if not th.alive or th.intr or th.tid in sleeps[k] or th.index < 0:
            return None
        peek = PEEK[th.kind]
        assert peek is not None
        acc = peek(ex, th)
        if acc is None:
            return None
        th.acc = acc
        child = _Node(None)
        children.append(child)
        nodes.append(child)
        return th

    def _follow(self, ex: Execution, k: int, child: _Node, th: VThread) -> VThread | None:
        cev = child.ev
        if k < self.prefix_len and isinstance(cev, Ev):
            if th.kind != cev.kind or th.acc != cev.acc:
                ex.abort("nondeterminism", _diverged(ex, k, cev, th))
                return None
        elif th.tid in self.sleeps[k]:
            self.followed_sleeping += 1
        nodes = self.nodes
        if len(nodes) == k + 1:
            nodes.append(child)
        return th

    def next_thread(self, ex: Execution, enabled: list[VThread]) -> VThread | None:
        k = len(ex.events)
        if len(self.sleeps) == k:
            self._settle(ex, k)
        node = self.nodes[k]
        children = node.children
        if children:
            child = children[0]
            cev = child.ev
            assert cev is not None
            tid = cev.tid
            for th in enabled:
                if th.tid == tid:
                    return self._follow(ex, k, child, th)
            if k < self.prefix_len:
                ex.abort("nondeterminism", _diverged(ex, k, cev, None))
            else:
                self.infeasible += 1
            return None
        sleep = self.sleeps[k]
        events = ex.events
        last = events[-1].tid if events else -1
        best: VThread | None = None
        for th in enabled:
            t = th.tid
            if t in sleep:
                continue
            if t == last:
                best = th
                break
            if best is None or t < best.tid:
                best = th
        if best is None:
            return None
        child = _Node(None)
        children.append(child)
        self.nodes.append(child)
        return best

    def end_execution(self, ex: Execution) -> None:
        events = ex.events
        k = len(events)
        if len(self.nodes) == k + 1 and len(self.sleeps) == k and k > 0:
            self._settle(ex, k)
        if ex.aborted:
            self.done = True
            return
        races = ex.races
        if self.prefix_len:
            cut = ex.reused
            races.extend(r for r in self.last_races if 0 <= r[1] < cut)
        self.last_races = races
        if races:
            big = len(events) + 1
            races.sort(key=lambda r: (r[0], r[1] if r[1] >= 0 else big))
            last: tuple[int, int] | None = None
            for i, j, sym in races:
                if (i, j) == last and sym is None:
                    continue
                last = (i, j)
                second: Sym = sym if sym is not None else events[j]
                self._reverse(events, i, second)
        self._backtrack()

    def _reverse(self, events: list[Ev], i: int, second: Sym) -> None:
        e = events[i]
        et = e.tid
        el = e.lidx
        v: list[Sym] = []
        for f in range(i + 1, len(events)):
            fe = events[f]
            fc = fe.clock
            if et >= len(fc) or fc[et] < el:
                v.append(fe)
        v.append(second)
        sleep = self.sleeps[i]
        for p, psym in sleep.items():
            for u in v:
                if u.tid == p:
                    return  # p's next event starts an equivalent execution: explored
                if dep(u, psym):
                    break
            else:
                return  # p commutes with all of v: explored
        node = self.nodes[i]
        while True:
            children = node.children
            if not children:
                return  # a branch from here is already scheduled and covers v
            nxt: _Node | None = None
            for child in children:
                cev = child.ev
                assert cev is not None
                ct = cev.tid
                matched = -1
                compatible = True
                for idx, u in enumerate(v):
                    if u.tid == ct:
                        matched = idx
                        break
                    if dep(u, cev):
                        compatible = False
                        break
                if not compatible:
                    continue
                if matched >= 0:
                    del v[matched]
                    if not v:
                        return
                nxt = child
                break
            if nxt is None:
                for u in v:
                    new = _Node(u)
                    node.children.append(new)
                    node = new
                return
            node = nxt

    def _backtrack(self) -> None:
        nodes = self.nodes
        k = len(nodes) - 2
        while k >= 0 and len(nodes[k].children) <= 1:
            k -= 1
        if k < 0:
            self.done = True
            self.complete = True
            return
        explored = nodes[k].children.pop(0)
        assert explored.ev is not None
        s = dict(self.sleeps[k])
        s[explored.ev.tid] = explored.ev
        self.sleeps[k] = s
        del nodes[k + 1 :]
        del self.sleeps[k + 1 :]
        self.prefix_len = k


def _diverged(ex: Execution, k: int, expected: Sym, th: VThread | None) -> str:
    from treadle_model._ops import KIND_NAMES

    before = ""
    if isinstance(expected, Ev):
        obj = getattr(expected.obj, "_label", "")
        before = f"{KIND_NAMES[expected.kind]} {obj}".strip()
        who = expected.th._name
    else:
        who = f"thread #{expected.tid}"
    if th is None:
        now = f"{who!r} could not run"
    else:
        obj = getattr(th.obj, "_label", "")
        now = f"{th._name!r} wanted to {KIND_NAMES[th.kind]} {obj}".strip()
    return (
        f"the same schedule ran differently at step {k}: an earlier run had {who!r} "
        f"{before or 'run'}, this run {now}. The explored code depends on something the model "
        "does not control: random numbers, the wall clock, real threads or locks (threading, "
        "time.sleep), or state kept between runs (a global counter, a cache). Make it "
        "deterministic or create that state inside the explored function"
    )
