"""Small hand-countable models for testing the spec checker.

Each one has a state count, a trace or a verdict that can be worked out on
paper, so the checker's answers can be compared with known ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from treadle_spec import Action, Property, Spec, action, fast_replace


@dataclass(frozen=True)
class CounterConsts:
    n: int = 5
    goal: int = 3


class Count(NamedTuple):
    x: int


class Counter(Spec[Count, CounterConsts]):
    """x counts up modulo n: exactly n states, n transitions, one cycle."""

    constants_type = CounterConsts
    state_type = Count

    def init_states(self) -> list[Count]:
        return [Count(0)]

    @action(fair=True)
    def Tick(self, s: Count) -> Count:
        """x' = (x + 1) mod n."""
        return Count((s.x + 1) % self.c.n)

    def properties(self) -> list[Property[Count]]:
        return [
            Property.always("in_range", lambda s: 0 <= s.x < self.c.n),
            Property.eventually("reaches_goal", lambda s: s.x == self.c.goal),
            Property.sometimes("wraps", lambda s: s.x == self.c.n - 1),
        ]


@dataclass(frozen=True)
class ClockConsts:
    bits: int = 3


class Clock(NamedTuple):
    bits: tuple[int, ...]


class BinaryClock(Spec[Clock, ClockConsts]):
    """A k-bit binary counter that flips bit i when bits below it are all 1: 2**k states."""

    constants_type = ClockConsts
    state_type = Clock

    def init_states(self) -> list[Clock]:
        return [Clock((0,) * self.c.bits)]

    @action(fair=True)
    def Inc(self, s: Clock) -> Clock:
        bits = list(s.bits)
        for i in range(len(bits)):
            if bits[i] == 0:
                bits[i] = 1
                break
            bits[i] = 0
        return Clock(tuple(bits))

    def properties(self) -> list[Property[Clock]]:
        return [Property.sometimes("all_ones", lambda s: all(s.bits))]


@dataclass(frozen=True)
class NoConsts:
    pass


@fast_replace
class Pet(NamedTuple):
    pc: tuple[int, int]
    flag: tuple[bool, bool]
    turn: int


class Peterson(Spec[Pet, NoConsts]):
    """Peterson's two-process mutex.

    Process i: 0 (non-critical) -> flag[i] := TRUE -> 1 -> turn := 1 - i -> 2
    -> await flag[1-i] = FALSE or turn = i -> 3 (critical) -> flag[i] := FALSE -> 0.
    """

    constants_type = NoConsts
    state_type = Pet

    def init_states(self) -> list[Pet]:
        return [Pet((0, 0), (False, False), 0)]

    @action(fair=True, i=(0, 1))
    def Step(self, s: Pet, i: int) -> Pet | None:
        j = 1 - i
        pc = s.pc[i]

        def at(p: int) -> tuple[int, int]:
            return (p, s.pc[1]) if i == 0 else (s.pc[0], p)

        def flag(v: bool) -> tuple[bool, bool]:
            return (v, s.flag[1]) if i == 0 else (s.flag[0], v)

        if pc == 0:
            return s._replace(pc=at(1), flag=flag(True))
        if pc == 1:
            return s._replace(pc=at(2), turn=j)
        if pc == 2:
            if not s.flag[j] or s.turn == i:
                return s._replace(pc=at(3))
            return None
        return s._replace(pc=at(0), flag=flag(False))

    def properties(self) -> list[Property[Pet]]:
        return [
            Property.always("mutual_exclusion", lambda s: s.pc != (3, 3)),
            Property.leads_to("p0_enters", lambda s: s.pc[0] == 1, lambda s: s.pc[0] == 3),
            Property.leads_to("p1_enters", lambda s: s.pc[1] == 1, lambda s: s.pc[1] == 3),
            Property.sometimes("both_waiting", lambda s: s.pc == (2, 2)),
        ]


class BrokenMutex(Peterson):
    """Peterson without the turn variable: both may enter the critical section."""

    @action(fair=True, i=(0, 1))
    def Step(self, s: Pet, i: int) -> Pet | None:
        j = 1 - i
        pc = s.pc[i]

        def at(p: int) -> tuple[int, int]:
            return (p, s.pc[1]) if i == 0 else (s.pc[0], p)

        def flag(v: bool) -> tuple[bool, bool]:
            return (v, s.flag[1]) if i == 0 else (s.flag[0], v)

        if pc == 0:  # check first, then set the flag: the classic race
            return s._replace(pc=at(1)) if not s.flag[j] else None
        if pc == 1:
            return s._replace(pc=at(3), flag=flag(True))
        if pc == 3:
            return s._replace(pc=at(0), flag=flag(False))
        return None


class Spin(NamedTuple):
    pc: str


class Spinner(Spec[Spin, NoConsts]):
    """A process that may spin forever or exit: only fairness of Exit forces the exit."""

    constants_type = NoConsts
    state_type = Spin

    def init_states(self) -> list[Spin]:
        return [Spin("spin")]

    @action(when={"pc": "spin"})
    def Loop(self, s: Spin) -> Spin:
        """Spin once more."""
        return s

    @action(fair=True, when={"pc": "spin"})
    def Exit(self, s: Spin) -> Spin:
        """Leave the loop."""
        return Spin("done")

    def is_final(self, s: Spin) -> bool:
        return s.pc == "done"

    def properties(self) -> list[Property[Spin]]:
        return [Property.eventually("exits", lambda s: s.pc == "done")]


class Blink(NamedTuple):
    light: int
    done: bool


class Blinker(Spec[Blink, NoConsts]):
    """Exit is enabled only while the light is on; the light keeps toggling.

    Exit is never *continuously* enabled on the toggling cycle, so weak
    fairness does not force it: a liveness violation even with fairness
    (strong fairness would forbid it).
    """

    constants_type = NoConsts
    state_type = Blink

    def init_states(self) -> list[Blink]:
        return [Blink(0, False)]

    @action(fair=True)
    def Toggle(self, s: Blink) -> Blink | None:
        return None if s.done else s._replace(light=1 - s.light)

    @action(fair=True)
    def Exit(self, s: Blink) -> Blink | None:
        return s._replace(done=True) if s.light and not s.done else None

    def is_final(self, s: Blink) -> bool:
        return s.done

    def properties(self) -> list[Property[Blink]]:
        return [Property.eventually("exits", lambda s: s.done)]


@fast_replace
class Phil(NamedTuple):
    pc: tuple[str, str]  # per philosopher: think | left | eat | done
    fork: tuple[int | None, int | None]  # who holds fork 0 and fork 1


class Philosophers(Spec[Phil, NoConsts]):
    """Two philosophers; each takes its left fork (its own number), then its right.

    The shortest deadlock: both take their left fork (3 states).
    """

    constants_type = NoConsts
    state_type = Phil

    def init_states(self) -> list[Phil]:
        return [Phil(("think", "think"), (None, None))]

    @action(fair=True, p=(0, 1))
    def TakeLeft(self, s: Phil, p: int) -> Phil | None:
        if s.pc[p] != "think" or s.fork[p] is not None:
            return None
        return s._replace(pc=_put(s.pc, p, "left"), fork=_put(s.fork, p, p))

    @action(fair=True, p=(0, 1))
    def TakeRight(self, s: Phil, p: int) -> Phil | None:
        if s.pc[p] != "left" or s.fork[1 - p] is not None:
            return None
        return s._replace(pc=_put(s.pc, p, "eat"), fork=_put(s.fork, 1 - p, p))

    @action(fair=True, p=(0, 1))
    def Finish(self, s: Phil, p: int) -> Phil | None:
        if s.pc[p] != "eat":
            return None
        return s._replace(pc=_put(s.pc, p, "done"), fork=(None, None))

    def is_final(self, s: Phil) -> bool:
        return s.pc == ("done", "done")

    def properties(self) -> list[Property[Phil]]:
        return [Property.sometimes("someone_eats", lambda s: "eat" in s.pc)]


def _put(t: tuple[Any, Any], i: int, v: Any) -> tuple[Any, Any]:
    return (v, t[1]) if i == 0 else (t[0], v)


class Req(NamedTuple):
    req: bool
    grant: bool


class Arbiter(Spec[Req, NoConsts]):
    """A request is granted, then released; the arbiter may be lazy (Idle self-loop)."""

    constants_type = NoConsts
    state_type = Req

    def init_states(self) -> list[Req]:
        return [Req(False, False)]

    @action(fair=True)
    def Request(self, s: Req) -> Req | None:
        return Req(True, False) if not s.req and not s.grant else None

    @action(fair=True)
    def Grant(self, s: Req) -> Req | None:
        return Req(False, True) if s.req else None

    @action(fair=True)
    def Release(self, s: Req) -> Req | None:
        return Req(False, False) if s.grant else None

    @action
    def Idle(self, s: Req) -> Req:
        return s

    def properties(self) -> list[Property[Req]]:
        return [
            Property.leads_to("request_granted", lambda s: s.req, lambda s: s.grant),
            Property.sometimes("granted", lambda s: s.grant),
        ]


class Raw:
    """A model without the Spec base: plain methods, string actions."""

    def __init__(self, n: int) -> None:
        self.n = n

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, state: int) -> list[str]:
        return ["inc", "dec"] if state > 0 else ["inc"]

    def next_state(self, state: int, action: str) -> int | None:
        if action == "inc":
            return state + 1 if state < self.n else None
        return state - 1

    def properties(self) -> list[Property[int]]:
        return [Property.always("below_limit", lambda s: s < self.n)]


def naive_reachable(model: Any) -> set[Hashable]:
    """An independent reference: every reachable state, by plain BFS over actions."""
    seen: set[Hashable] = set()
    queue: deque[Hashable] = deque()
    for s in model.init_states():
        if s not in seen:
            seen.add(s)
            queue.append(s)
    while queue:
        s = queue.popleft()
        acts: Iterable[Any] = model.actions(s)
        for a in acts:
            t = model.next_state(s, a)
            if t is not None and t not in seen:
                seen.add(t)
                queue.append(t)
    return seen


def labels(actions: Iterable[Any]) -> list[str]:
    return [str(a) if isinstance(a, Action) else repr(a) for a in actions]
