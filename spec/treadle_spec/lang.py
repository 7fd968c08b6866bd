"""The spec language: small, TLA+-style state machines that the checker explores.

Any object with this shape is a model :func:`treadle_spec.check_spec` accepts
(the stateright shape):

* ``init_states() -> Iterable[S]``: the initial states;
* ``actions(state) -> Iterable[A]``: the actions enabled in ``state``, in a
  deterministic order (the checker rebuilds counterexample traces by
  re-executing "the k-th successor" from an initial state, so the order must
  not depend on hash seeds or on the order states were visited);
* ``next_state(state, action) -> S | None``: the state ``action`` leads to
  (``None`` if it is not enabled);
* ``properties() -> Sequence[Property[S]]``: what must hold;
* optional ``is_final(state) -> bool``: a non-final state with no successor is
  a deadlock (without ``is_final`` every state without a successor is one);
* optional ``is_fair(action) -> bool``: the actions that are weakly fair
  (liveness is checked assuming them);
* optional ``successors(state) -> list[(action, next)]``: a fast path the
  checker uses instead of ``actions`` + ``next_state`` when present.

States must be hashable and immutable: the checker stores 64-bit fingerprints
(``hash(state)``) of visited states, not the states. (As in TLC, two distinct
states with the same fingerprint would be merged; with n states the chance is
about n**2 / 2**65. One CPython quirk matters more: ``hash(-1) == hash(-2)``,
so prefer ``None`` to ``-1`` as a sentinel, or pass ``exact=True``.)

On top of that shape, :class:`Spec` makes a spec read like TLA+: constants
are a frozen dataclass, the state is a ``NamedTuple`` (or frozen dataclass)
of named variables, and actions are methods decorated with :func:`action`,
with parameters drawn from domains that depend on the constants::

    class Counter(Spec[State, Consts]):
        constants_type = Consts

        def init_states(self) -> list[State]:
            return [State(n=0)]

        @action(fair=True)
        def Tick(self, s: State) -> State | None:
            \"\"\"n < limit: n' = n + 1.\"\"\"
            return State(n=s.n + 1) if s.n < self.c.limit else None

        @action(k=lambda c: range(c.limit))
        def Reset(self, s: State, k: int) -> State | None:
            ...

An action method returns the next state, or ``None`` when its guard is false.
Its label is an :class:`Action`, printed ``Reset(k=1)``; the labels are the
vocabulary shared with the conformance checker, which asks a spec which
actions are enabled (``actions``) and takes one (``next_state``).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

__all__ = [
    "Action",
    "ActionDef",
    "Model",
    "Property",
    "PropertyKind",
    "Spec",
    "SpecModule",
    "action",
    "fast_replace",
    "state_variables",
]

S = TypeVar("S", bound=Hashable)
A = TypeVar("A", bound=Hashable)
C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])

PropertyKind = Literal["always", "eventually", "leads_to", "sometimes"]


@dataclass(frozen=True, slots=True)
class Property(Generic[S]):
    """A named property of a model. Build one with the constructors below.

    * :meth:`always` - an invariant: ``pred`` holds in every reachable state.
    * :meth:`eventually` - every fair behaviour reaches a state where ``pred``
      holds.
    * :meth:`leads_to` - whenever ``p`` holds, ``q`` holds then or later, on
      every fair behaviour (TLA+ ``p ~> q``).
    * :meth:`sometimes` - some reachable state satisfies ``pred``. It fails
      when none does, so a spec cannot pass vacuously (a guard that is never
      true, a scenario the constants make impossible).
    """

    name: str
    kind: PropertyKind
    pred: Callable[[S], bool]
    target: Callable[[S], bool] | None = None
    doc: str = ""

    @staticmethod
    def always(name: str, pred: Callable[[S], bool], doc: str = "") -> Property[S]:
        """An invariant: ``pred(state)`` in every reachable state."""
        return Property(_check_name(name), "always", pred, None, doc)

    @staticmethod
    def eventually(name: str, pred: Callable[[S], bool], doc: str = "") -> Property[S]:
        """Every fair behaviour from an initial state reaches a ``pred`` state."""
        return Property(_check_name(name), "eventually", pred, None, doc)

    @staticmethod
    def leads_to(
        name: str, p: Callable[[S], bool], q: Callable[[S], bool], doc: str = ""
    ) -> Property[S]:
        """From every reachable ``p`` state, every fair behaviour reaches a ``q`` state."""
        return Property(_check_name(name), "leads_to", p, q, doc)

    @staticmethod
    def sometimes(name: str, pred: Callable[[S], bool], doc: str = "") -> Property[S]:
        """Some reachable state satisfies ``pred`` (fails if none does)."""
        return Property(_check_name(name), "sometimes", pred, None, doc)

    @property
    def is_liveness(self) -> bool:
        return self.kind in ("eventually", "leads_to")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a property name must be a non-empty str, not {name!r}")
    return name


@runtime_checkable
class Model(Protocol[S, A]):
    """The shape :func:`~treadle_spec.check_spec` needs (see the module docs)."""

    def init_states(self) -> Iterable[S]: ...

    def actions(self, state: S) -> Iterable[A]: ...

    def next_state(self, state: S, action: A) -> S | None: ...

    def properties(self) -> Sequence[Property[S]]: ...


class Action:
    """An action label: a name and parameters, printed like ``Send(w=0, item=1)``.

    Labels are values: equal when name and parameters are equal, hashable,
    and parsed back from their printed form by :meth:`parse`.
    """

    __slots__ = ("_hash", "name", "params")

    name: str
    params: tuple[tuple[str, Hashable], ...]

    def __init__(self, name: str, params: Iterable[tuple[str, Hashable]] = ()) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"an action name must be an identifier, not {name!r}")
        self.name = name
        self.params = tuple(params)
        self._hash = hash((name, self.params))

    @classmethod
    def of(cls, name: str, /, **params: Hashable) -> Action:
        """``Action.of("Send", w=0)`` - the label with these parameters."""
        return cls(name, params.items())

    @classmethod
    def parse(cls, text: str) -> Action:
        """Parse a printed label: ``Send(w=0, item=1)`` or ``Stop``.

        Raises:
            ValueError: ``text`` is not a label (parameter values must be
                Python literals).
        """
        try:
            node = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"not an action label: {text!r}") from exc
        if isinstance(node, ast.Name):
            return cls(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
            params: list[tuple[str, Hashable]] = []
            for kw in node.keywords:
                if kw.arg is None:
                    raise ValueError(f"not an action label: {text!r}")
                try:
                    params.append((kw.arg, ast.literal_eval(kw.value)))
                except ValueError as exc:
                    raise ValueError(
                        f"action parameter {kw.arg} of {text!r} is not a literal"
                    ) from exc
            return cls(node.func.id, params)
        raise ValueError(f"not an action label: {text!r} (expected Name or Name(k=v, ...))")

    @property
    def args(self) -> dict[str, Hashable]:
        """The parameters as a dict."""
        return dict(self.params)

    def __getitem__(self, key: str) -> Hashable:
        for k, v in self.params:
            if k == key:
                return v
        raise KeyError(f"action {self} has no parameter {key!r}")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Action):
            return NotImplemented
        return self._hash == other._hash and self.name == other.name and self.params == other.params

    def __str__(self) -> str:
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return f"Action({self})"


Domain = Callable[[Any], Iterable[Hashable]] | Iterable[Hashable]


@dataclass(frozen=True)
class ActionDef:
    """What :func:`action` records about a decorated method."""

    name: str
    fair: bool
    domains: tuple[tuple[str, Domain], ...]
    doc: str
    func: Callable[..., Any]
    candidates: Callable[[Any, Any], Iterable[tuple[Hashable, ...]]] | None = None
    when: tuple[tuple[str, frozenset[Hashable]], ...] = ()

    def bindings(self, constants: object) -> list[tuple[tuple[str, Hashable], ...]]:
        """Every parameter binding, in a deterministic order (product of domains)."""
        names = [n for n, _ in self.domains]
        values: list[list[Hashable]] = []
        for n, dom in self.domains:
            items = dom(constants) if callable(dom) else dom
            vals = list(items)
            for v in vals:
                if not isinstance(v, Hashable):
                    raise TypeError(f"action {self.name}: value {v!r} of {n} is not hashable")
            values.append(vals)
        return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def signature(self) -> str:
        if not self.domains:
            return self.name
        return f"{self.name}({', '.join(n for n, _ in self.domains)})"

    def when_text(self) -> str:
        """The ``when`` precondition as text, e.g. ``worker = 'run'``."""
        parts = []
        for var, allowed in self.when:
            vals = sorted(allowed, key=repr)
            if len(vals) == 1:
                parts.append(f"{var} = {vals[0]!r}")
            else:
                parts.append(f"{var} in {{{', '.join(map(repr, vals))}}}")
        return " and ".join(parts)


_ACTION_ATTR = "__treadle_action__"


@overload
def action(fn: F, /) -> F: ...


@overload
def action(
    *,
    fair: bool = False,
    name: str | None = None,
    candidates: Callable[[Any, Any], Iterable[tuple[Hashable, ...]]] | None = None,
    when: Mapping[str, Hashable | Iterable[Hashable]] | None = None,
    **domains: Domain,
) -> Callable[[F], F]: ...


def action(
    fn: F | None = None,
    /,
    *,
    fair: bool = False,
    name: str | None = None,
    candidates: Callable[[Any, Any], Iterable[tuple[Hashable, ...]]] | None = None,
    when: Mapping[str, Hashable | Iterable[Hashable]] | None = None,
    **domains: Domain,
) -> Any:
    """Mark a :class:`Spec` method as a named, guarded action.

    Use as ``@action`` or ``@action(fair=True, w=lambda c: range(c.workers))``.
    Each keyword other than ``fair`` and ``name`` is a parameter of the action
    and its domain: an iterable, or a function of the spec's constants that
    returns one. The method is called as ``method(state, **binding)`` for each
    binding (the product of the domains) and returns the next state, or
    ``None`` when the action is not enabled. Its docstring is the action's
    description in ``treadle spec show`` (say the guard and the effect).

    Args:
        fair: the action is weakly fair (each of its instances, i.e. each
            binding, separately): a behaviour in which it stays enabled
            forever must take it.
        name: the label's name (default: the method's name).
        when: a guard on single variables, like a PlusCal label:
            ``when={"worker": "run"}`` or ``when={"main": ("recv", "pump")}``.
            It is part of the action's guard: the action is enabled only in
            states where each named variable has one of the given values
            (and the method returns a state). It shows the control state the
            action belongs to, and saves a call in states where it cannot be
            enabled.
        candidates: a speed hint for actions whose parameters range over
            large domains: ``candidates(spec, state)`` returns the parameter
            tuples (in domain order) worth trying in ``state``; it must
            include every binding whose guard can hold there. The guard
            stays in the method; the hint only saves calling it for bindings
            that are certainly disabled. ``Spec.check_candidates`` verifies
            a hint against full enumeration.
    """

    def mark(f: F) -> F:
        label = name if name is not None else f.__name__
        if not label.isidentifier():
            raise ValueError(f"action name {label!r} is not an identifier")
        doc = " ".join((f.__doc__ or "").split())
        pre: list[tuple[str, frozenset[Hashable]]] = []
        for var, vals in (when or {}).items():
            if isinstance(vals, (tuple, list, set, frozenset)):
                pre.append((var, frozenset(vals)))
            else:
                pre.append((var, frozenset([vals])))  # type: ignore[list-item]
        defn = ActionDef(label, bool(fair), tuple(domains.items()), doc, f, candidates, tuple(pre))
        setattr(f, _ACTION_ATTR, defn)
        return f

    if fn is not None:
        return mark(fn)
    return mark


T = TypeVar("T", bound=type)

_MISSING_ARG = object()


def fast_replace(cls: T) -> T:
    """Class decorator: a faster ``_replace`` for a ``NamedTuple`` state type.

    ``NamedTuple._replace`` builds a dict and a map per call (about 1 us);
    specs call it for every transition. This installs a generated
    ``_replace(**changes)`` with one keyword per field that is two to three
    times faster and behaves the same for valid field names (an unknown name
    raises ``TypeError``).

    Raises:
        TypeError: ``cls`` is not a NamedTuple class.
    """
    fields = getattr(cls, "_fields", None)
    if not isinstance(fields, tuple) or not issubclass(cls, tuple):
        raise TypeError(f"fast_replace needs a NamedTuple class, not {cls!r}")
    params = ", ".join(f"{f}=_M" for f in fields)
    values = ", ".join(f"_s[{i}] if {f} is _M else {f}" for i, f in enumerate(fields))
    src = f"def _replace(_s, *, {params}):\n    return _new(_cls, ({values},))\n"
    namespace: dict[str, Any] = {"_M": _MISSING_ARG, "_new": tuple.__new__, "_cls": cls}
    exec(src, namespace)
    fn = namespace["_replace"]
    fn.__doc__ = f"Return a copy of the {cls.__name__} with the given fields replaced."
    fn.__qualname__ = f"{cls.__name__}._replace"
    cls._replace = fn  # type: ignore[attr-defined]
    return cls


def _dataclass_fields(obj: object) -> list[str]:
    return [f.name for f in dataclasses.fields(obj)]  # type: ignore[arg-type]


def state_variables(state: object) -> dict[str, Any]:
    """A state's variables by name (NamedTuple, dataclass, mapping or plain value)."""
    fields = getattr(state, "_fields", None)
    if isinstance(fields, tuple):
        return dict(zip(fields, state, strict=True))  # type: ignore[call-overload]
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {n: getattr(state, n) for n in _dataclass_fields(state)}
    if isinstance(state, Mapping):
        return {str(k): v for k, v in state.items()}
    return {"state": state}


class Spec(Generic[S, C]):
    """Base class for TLA+-style specs built from :func:`action` methods.

    Subclasses set ``constants_type`` (a frozen dataclass), optionally
    ``state_type`` (the state class: ``when=`` preconditions on a NamedTuple
    state compile to index lookups, and ``treadle spec show`` prints its
    docstring), and define
    ``init_states``, ``properties``, optionally ``is_final``, and actions.
    Construct with ``MySpec(MySpec.constants_type(...))`` or
    ``MySpec.build(k=v, ...)``.
    """

    constants_type: ClassVar[type[Any]]
    state_type: ClassVar[type[Any] | None] = None
    _action_defs: ClassVar[tuple[ActionDef, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defs: dict[str, ActionDef] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                defn = getattr(attr, _ACTION_ATTR, None)
                if isinstance(defn, ActionDef):
                    defs[defn.name] = defn
        cls._action_defs = tuple(defs.values())

    def __init__(self, constants: C | None = None) -> None:
        if constants is None:
            constants = self.constants_type()
        if not isinstance(constants, self.constants_type):
            raise TypeError(
                f"{type(self).__name__} needs {self.constants_type.__name__} constants, "
                f"got {type(constants).__name__}"
            )
        self.c: C = constants
        instances: list[tuple[Action, Callable[..., Any], dict[str, Any], bool]] = []
        for defn in self._action_defs:
            bound = defn.func.__get__(self, type(self))
            for binding in defn.bindings(constants):
                instances.append((Action(defn.name, binding), bound, dict(binding), defn.fair))
        self._instances = instances
        defs_by_name = {d.name: d for d in self._action_defs}
        self._by_label = {
            lbl: (fn, kw, defs_by_name[lbl.name].when) for lbl, fn, kw, _ in instances
        }
        self._fair = frozenset(lbl for lbl, _, _, fair in instances if fair)
        # The hot path: per action, a precondition (variable index and the
        # allowed values), then either positional calls with pre-built
        # argument tuples or, for hinted actions, a table from parameter
        # values to labels.
        fields = getattr(self.state_type, "_fields", None)
        self._runtime: list[tuple[Any, ...]] = []
        for defn in self._action_defs:
            bound = defn.func.__get__(self, type(self))
            mine = [
                (lbl, tuple(kw.values())) for lbl, fn, kw, _ in instances if lbl.name == defn.name
            ]
            pre: list[tuple[Any, frozenset[Hashable]]] = []
            for var, allowed in defn.when:
                if isinstance(fields, tuple):
                    if var not in fields:
                        raise ValueError(
                            f"{type(self).__name__}.{defn.name}: when= names {var!r}, "
                            f"which is not a variable of {fields}"
                        )
                    pre.append((fields.index(var), allowed))
                else:
                    pre.append((var, allowed))
            table = dict((args, lbl) for lbl, args in mine) if defn.candidates else None
            self._runtime.append((tuple(pre), defn.candidates, bound, mine, table))
        self._indexed = isinstance(fields, tuple)

    @classmethod
    def build(cls, **constants: Any) -> Spec[S, C]:
        """``Spec.build(capacity=1)`` - the spec with these constants (others default).

        Raises:
            TypeError: an unknown constant name.
        """
        return cls(cls.constants_type(**constants))

    # -- the model interface -------------------------------------------------

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def constants(self) -> C:
        return self.c

    def init_states(self) -> Iterable[S]:
        raise NotImplementedError(f"{type(self).__name__} must define init_states()")

    def properties(self) -> Sequence[Property[S]]:
        raise NotImplementedError(f"{type(self).__name__} must define properties()")

    def is_final(self, state: S) -> bool:
        """States where stopping is correct (not a deadlock). Default: none."""
        return False

    def successors(self, state: S) -> list[tuple[Action, S]]:
        """Every enabled action with its next state, in a deterministic order.

        Actions come in declaration order; the bindings of an action in
        domain order (or, for a hinted action, in the order of its hint).
        """
        out = []
        indexed = self._indexed
        for pre, hint, fn, mine, table in self._runtime:
            if pre:
                ok = True
                for var, allowed in pre:
                    if (state[var] if indexed else getattr(state, var)) not in allowed:  # type: ignore[index]
                        ok = False
                        break
                if not ok:
                    continue
            if hint is None:
                for lbl, args in mine:
                    nxt = fn(state, *args)
                    if nxt is not None:
                        out.append((lbl, nxt))
            else:
                for args in hint(self, state):
                    lbl = table.get(args)
                    if lbl is not None:
                        nxt = fn(state, *args)
                        if nxt is not None:
                            out.append((lbl, nxt))
        return out

    @staticmethod
    def _when_holds(state: Any, when: tuple[tuple[str, frozenset[Hashable]], ...]) -> bool:
        return all(getattr(state, var) in allowed for var, allowed in when)

    def successors_unhinted(self, state: S) -> list[tuple[Action, S]]:
        """Like :meth:`successors` but trying every binding (ignores ``candidates`` hints)."""
        out = []
        for lbl, fn, kw, _ in self._instances:
            if not self._when_holds(state, self._by_label[lbl][2]):
                continue
            nxt = fn(state, **kw)
            if nxt is not None:
                out.append((lbl, nxt))
        return out

    def check_candidates(self, state: S) -> None:
        """Check that the ``candidates`` hints miss no enabled action in ``state``.

        Raises:
            AssertionError: a hint left out an enabled binding.
        """
        fast = {(lbl, nxt) for lbl, nxt in self.successors(state)}
        full = {(lbl, nxt) for lbl, nxt in self.successors_unhinted(state)}
        missing = full - fast
        if missing:
            names = ", ".join(sorted(str(lbl) for lbl, _ in missing))
            raise AssertionError(f"{self.name}: candidates hints miss {names} in {state!r}")

    def actions(self, state: S) -> list[Action]:
        """The labels of the actions enabled in ``state`` (conformance API)."""
        return [lbl for lbl, _ in self.successors(state)]

    def next_state(self, state: S, action: Action) -> S | None:
        """Take ``action`` in ``state``; ``None`` if it is not enabled (conformance API).

        Raises:
            KeyError: the spec has no action with this label.
        """
        entry = self._by_label.get(action)
        if entry is None:
            known = ", ".join(sorted({d.signature() for d in self._action_defs}))
            raise KeyError(f"{self.name} has no action {action}; its actions are: {known}")
        fn, kw, when = entry
        if not self._when_holds(state, when):
            return None
        result: S | None = fn(state, **kw)
        return result

    def is_fair(self, action: Action) -> bool:
        return action in self._fair

    def action(self, name: str, /, **params: Hashable) -> Action:
        """The label ``name(**params)``, checked against the spec's actions.

        Raises:
            KeyError: no such action instance.
        """
        lbl = Action.of(name, **params)
        if lbl not in self._by_label:
            raise KeyError(f"{self.name} has no action instance {lbl}")
        return lbl

    @classmethod
    def action_defs(cls) -> tuple[ActionDef, ...]:
        return cls._action_defs

    def all_actions(self) -> list[Action]:
        """Every action instance (each binding of each action), in order."""
        return [lbl for lbl, _, _, _ in self._instances]

    def __repr__(self) -> str:
        return f"{self.name}({self.c!r})"


class SpecModule(Protocol):
    """What a bundled spec module offers (see :mod:`treadle_spec`)."""

    __name__: str
    __doc__: str | None
    DEFAULT_SIZES: Sequence[Any]

    def build(self, **constants: Any) -> Spec[Any, Any]: ...
