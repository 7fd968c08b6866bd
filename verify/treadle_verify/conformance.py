"""Conformance: check that an execution of the real code is a behaviour of its spec.

The impl emits protocol events through :func:`treadle.sync.emit` at the points
where its protocol takes a step. During exploration a :class:`SpecMonitor`
receives those events in execution order and replays them as actions of the
spec. A *mapping* (one per protocol, see :class:`Mapping`) says, for each
event, which spec actions it may stand for, and which spec actions are
*internal*: steps the spec models but the impl does not announce (a thread
blocking, a rendezvous offer that is only seen when taken).

The monitor tracks the set of spec states the execution could be in, so a
mapping does not have to resolve every ambiguity itself (the spec state is
unobservable in the same way a TLA+ refinement mapping's hidden variables
are):

    states  := internal-closure(init_states)
    on event e with candidate actions P:
        states := internal-closure({ next(s, a) | s in states, a in actions(s), P(a) })
        if states is empty: the execution does something the spec cannot.
    on a clean end of the execution:
        some state in states must be final (after internal steps).

A violation is raised as :class:`~treadle_model.MonitorViolation` with kind
``"conformance"``, and names the event, the spec states the execution could
have been in, and the actions the spec had enabled there.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from treadle_spec.lang import Action

__all__ = [
    "ActionMatch",
    "ConformanceError",
    "Mapping",
    "SpecMonitor",
    "any_of",
    "match",
    "monitor_factory",
    "never",
]

# A predicate on spec actions: does this action explain the event?
ActionMatch = Callable[[Action], bool]


class ConformanceError(Exception):
    """An execution took a step its spec cannot take.

    ``event`` is the offending event (``None`` at the end of an execution),
    ``states`` the spec states the execution could have been in, ``enabled``
    the actions the spec had enabled there.
    """

    def __init__(
        self,
        message: str,
        *,
        event: tuple[str, dict[str, Any]] | None,
        states: Sequence[Hashable],
        enabled: Sequence[Action],
    ) -> None:
        super().__init__(message)
        self.event = event
        self.states = list(states)
        self.enabled = list(enabled)


class _SpecLike(Protocol):
    def init_states(self) -> Iterable[Any]: ...

    def actions(self, state: Any) -> Iterable[Any]: ...

    def next_state(self, state: Any, action: Any) -> Any: ...


class _Match:
    """``match(name, **params)``: hashable, so the monitor can memoise steps by it."""

    __slots__ = ("_key", "name", "wanted")

    def __init__(self, name: str, wanted: tuple[tuple[str, Hashable], ...]) -> None:
        self.name = name
        self.wanted = wanted
        self._key = (name, wanted)

    def describe(self) -> str:
        return f"match({self.name!r}{''.join(f', {k}={v!r}' for k, v in self.wanted)})"

    def __call__(self, action: Action) -> bool:
        if action.name != self.name:
            return False
        if not self.wanted:
            return True
        have = dict(action.params)
        return all(k in have and have[k] == v for k, v in self.wanted)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Match) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)


class _Never:
    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def describe(self) -> str:
        return f"no spec action ({self.what})"

    def __call__(self, action: object) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Never) and other.what == self.what

    def __hash__(self) -> int:
        return hash(("never", self.what))


class _AnyOf:
    __slots__ = ("matches",)

    def __init__(self, matches: tuple[ActionMatch, ...]) -> None:
        self.matches = matches

    def describe(self) -> str:
        return " or ".join(_describe(m) for m in self.matches)

    def __call__(self, action: Action) -> bool:
        return any(m(action) for m in self.matches)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _AnyOf) and other.matches == self.matches

    def __hash__(self) -> int:
        return hash(("any_of", self.matches))


def match(name: str, /, **params: Hashable) -> ActionMatch:
    """A predicate accepting actions called ``name`` whose given params equal these.

    Parameters not named are not constrained: ``match("Recv")`` accepts
    ``Recv(item=0)`` and ``Recv(item=1)``; ``match("Recv", item=1)`` only the
    second.
    """
    key = (name, tuple(params.items()))
    try:
        return _MATCHES[key]
    except KeyError:
        made = _MATCHES[key] = _Match(*key)
        return made
    except TypeError:  # an unhashable parameter: still a predicate, just not memoisable
        return _Match(*key)


# match() is called for every event of every execution: hand out one object per
# (name, params), so the monitor's memo finds it by identity.
_MATCHES: dict[tuple[str, tuple[tuple[str, Hashable], ...]], _Match] = {}


def _describe(predicate: object) -> str:
    describe = getattr(predicate, "describe", None)
    if callable(describe):
        return str(describe())
    return str(getattr(predicate, "__qualname__", predicate))


def never(what: str) -> ActionMatch:
    """A predicate accepting no action: the event is something the spec forbids.

    ``what`` says what the event means; it appears in the violation message.
    """
    return _Never(what)


def any_of(*matches: ActionMatch) -> ActionMatch:
    """A predicate accepting what any of ``matches`` accepts."""
    return _AnyOf(matches)


@dataclass
class Mapping:
    """How one protocol's impl events map onto its spec's actions.

    Attributes:
        spec: builds the spec instance an execution is checked against.
        translate: ``(event, fields) -> steps``; ``None`` ignores the event
            (it is not part of this protocol), otherwise a sequence of action
            predicates the spec must take in order (usually one; a rendezvous
            hand-off can be two).
        internal: spec actions the impl does not announce; the monitor lets
            the spec take any number of them between events.
        name: shown in violation messages.
    """

    spec: Callable[[], _SpecLike]
    translate: Callable[[str, dict[str, Any]], Sequence[ActionMatch] | None]
    internal: ActionMatch = field(default=lambda action: False)
    name: str = "spec"
    max_states: int = 100_000


class _Memo:
    """Spec transitions computed once per mapping, shared by all its executions.

    The explorer runs one scenario's body thousands of times, and the
    executions share most of their event sequences, so the monitor would
    otherwise compute the same spec steps again and again. A spec is a pure
    function of its state, so per mapping this keeps:

    * ``closure``: a spec state -> every state its internal actions reach;
    * ``steps``: (the set of states the execution could be in, a predicate)
      -> the set after taking an action the predicate accepts and closing it.

    Predicates made by :func:`match`, :func:`never` and :func:`any_of` are
    compared by value; any other callable by identity (it must then be pure,
    as a mapping's predicates are meant to be).
    """

    __slots__ = ("_initial", "closure", "mapping", "steps")

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._initial: frozenset[Hashable] | None = None
        self.closure: dict[Hashable, frozenset[Hashable]] = {}
        self.steps: dict[tuple[frozenset[Hashable], object], frozenset[Hashable]] = {}

    def initial(self, spec: _SpecLike) -> frozenset[Hashable]:
        if self._initial is None:
            self._initial = self.close(spec, spec.init_states())
        return self._initial

    def close(self, spec: _SpecLike, states: Iterable[Hashable]) -> frozenset[Hashable]:
        out: set[Hashable] = set()
        cache = self.closure
        for s in states:
            reached = cache.get(s)
            if reached is None:
                reached = cache[s] = self._close_one(spec, s)
            out |= reached
        if len(out) > self.mapping.max_states:
            raise ConformanceError(
                f"{self.mapping.name}: more than {self.mapping.max_states} "
                "spec states are consistent with the events so far; the "
                "mapping's internal actions are too loose",
                event=None,
                states=[],
                enabled=[],
            )
        return frozenset(out)

    def _close_one(self, spec: _SpecLike, state: Hashable) -> frozenset[Hashable]:
        internal = self.mapping.internal
        limit = self.mapping.max_states
        frontier = [state]
        seen = {state}
        while frontier:
            s = frontier.pop()
            for a in spec.actions(s):
                if internal(a):
                    t = spec.next_state(s, a)
                    if t is not None and t not in seen:
                        seen.add(t)
                        frontier.append(t)
                        if len(seen) > limit:
                            raise ConformanceError(
                                f"{self.mapping.name}: more than {limit} spec states are "
                                "consistent with the events so far; the mapping's internal "
                                "actions are too loose",
                                event=None,
                                states=[],
                                enabled=[],
                            )
        return frozenset(seen)

    def step(
        self, spec: _SpecLike, states: frozenset[Hashable], predicate: ActionMatch
    ) -> frozenset[Hashable]:
        key = (states, predicate)
        try:
            return self.steps[key]
        except KeyError:
            pass
        nxt: set[Hashable] = set()
        for s in states:
            for a in spec.actions(s):
                if predicate(a):
                    t = spec.next_state(s, a)
                    if t is not None:
                        nxt.add(t)
        result = self.close(spec, nxt) if nxt else frozenset()
        self.steps[key] = result
        return result


class SpecMonitor:
    """Follows one execution's events through the spec (see the module docs).

    Create one per execution. ``on_event`` and ``on_end`` raise
    :class:`ConformanceError`; :func:`monitor_factory` adapts them to the
    explorer's monitor protocol. Monitors made with the same ``memo`` (one
    per mapping: :func:`monitor_factory` does this) share the spec steps
    they compute; ``mapping.spec()`` must then build the same spec each time.
    """

    def __init__(self, mapping: Mapping, memo: _Memo | None = None) -> None:
        self.mapping = mapping
        self.spec = mapping.spec()
        self._memo = memo if memo is not None else _Memo(mapping)
        self._is_final: Callable[[Any], bool] | None = getattr(self.spec, "is_final", None)
        self.states: frozenset[Hashable] = self._memo.initial(self.spec)
        self.steps = 0

    def _enabled(self) -> list[Action]:
        out: set[Action] = set()
        for s in self.states:
            out.update(self.spec.actions(s))
        return sorted(out, key=str)

    def on_event(self, event: str, fields: dict[str, Any]) -> None:
        steps = self.mapping.translate(event, fields)
        if steps is None:
            return
        memo, spec = self._memo, self.spec
        for predicate in steps:
            nxt = memo.step(spec, self.states, predicate)
            if not nxt:
                shown = sorted(self.states, key=repr)[:4]
                raise ConformanceError(
                    f"{self.mapping.name}: the spec cannot take event {_show(event, fields)} "
                    f"(as {_describe(predicate)}) after "
                    f"{self.steps} matched events.\n"
                    f"  spec states the execution could be in ({len(self.states)}): "
                    + "; ".join(repr(s) for s in shown)
                    + ("; ..." if len(self.states) > len(shown) else "")
                    + "\n  actions enabled there: "
                    + (", ".join(map(str, self._enabled())) or "none"),
                    event=(event, dict(fields)),
                    states=shown,
                    enabled=self._enabled(),
                )
            self.states = nxt
        self.steps += 1

    def on_end(self, ok: bool) -> None:
        """At the end of an execution that finished cleanly, the spec must be able to end too."""
        if not ok or self._is_final is None:
            return
        if not any(self._is_final(s) for s in self.states):
            shown = sorted(self.states, key=repr)[:4]
            raise ConformanceError(
                f"{self.mapping.name}: the execution finished but the spec cannot: no "
                f"final state is consistent with the {self.steps} events seen.\n"
                f"  spec states: " + "; ".join(repr(s) for s in shown),
                event=None,
                states=shown,
                enabled=self._enabled(),
            )


def _show(event: str, fields: dict[str, Any]) -> str:
    inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{event}({inner})"


class _ExplorerMonitor:
    """Adapts a :class:`SpecMonitor` to ``explore(monitor=...)``."""

    __slots__ = ("_inner",)

    def __init__(self, mapping: Mapping, memo: _Memo | None = None) -> None:
        self._inner = SpecMonitor(mapping, memo)

    def on_event(self, name: str, fields: dict[str, Any], thread: str) -> None:
        try:
            self._inner.on_event(name, fields)
        except ConformanceError as exc:
            raise _violation(exc) from None

    def on_end(self, ok: bool) -> None:
        try:
            self._inner.on_end(ok)
        except ConformanceError as exc:
            raise _violation(exc) from None


def _violation(exc: ConformanceError) -> Exception:
    from treadle_model._report import MonitorViolation

    return MonitorViolation("conformance", str(exc))


def monitor_factory(mapping: Mapping) -> Callable[[], _ExplorerMonitor]:
    """A ``monitor=`` factory for :func:`treadle_model.explore` checking ``mapping``.

    Each execution gets a fresh monitor; an event the spec cannot take fails
    that execution with kind ``"conformance"``. The monitors share one memo of
    spec steps (see :class:`_Memo`), so each spec transition is computed once
    per scenario however many executions take it.
    """
    memo = _Memo(mapping)
    return lambda: _ExplorerMonitor(mapping, memo)
