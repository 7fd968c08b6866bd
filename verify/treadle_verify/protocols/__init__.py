"""The impl protocols ``treadle check`` explores, and how each is checked.

Each protocol module (``pump``, ``runtime``, ``pool``, ``task``,
``executor``) defines ``CHECK``, a :class:`ProtocolCheck`: the spec it
conforms to, the spec sizes to check, and the *scenarios* - small
configurations of the real impl (capacity 0/1/2, 1-3 items, 1-3 workers...)
that are explored exhaustively under the model. A scenario's body asserts the
headline properties on the real code (nothing lost or duplicated, the right
outcome), the explorer adds deadlock / lost wakeup / leaked thread /
exception, and a conformance monitor replays every explored execution's
events through the spec.

Scenario bodies take the impl class as a parameter (``make(impl)``) so the
tests can run the same scenarios against deliberately broken subclasses (the
mutants in ``tests/exhaustive``) and show each check catching them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from treadle_verify.conformance import Mapping as EventMapping

__all__ = [
    "EventTable",
    "PRESETS",
    "PROTOCOLS",
    "Preset",
    "ProtocolCheck",
    "Scenario",
    "load",
]

Preset = Literal["quick", "default", "thorough"]
PRESETS: tuple[Preset, ...] = ("quick", "default", "thorough")

# The protocol modules, in the order ``treadle check`` reports them.
PROTOCOLS: tuple[str, ...] = ("pump", "runtime", "task", "pool", "executor")


@dataclass(frozen=True)
class EventTable:
    """Which impl events (names from ``treadle._events``) a protocol's mapping handles.

    Every event an execution emits is either ``mapped`` (the mapping
    translates it into spec steps, or decides from its fields that this
    instance is not the protocol's) or ``quiet`` (explicitly not a protocol
    step: the mapping lets it pass). Anything else is an event nobody decided
    about - a new or renamed impl event - and :meth:`rest` fails conformance
    naming it, instead of letting it slip past the check. ``modules`` are the
    ``treadle`` modules whose events the protocol's executions see; the tests
    check that ``mapped | quiet`` is exactly their events.
    """

    protocol: str
    modules: tuple[str, ...]
    mapped: frozenset[str]
    quiet: frozenset[str]

    def __post_init__(self) -> None:
        both = self.mapped & self.quiet
        if both:
            raise ValueError(
                f"{self.protocol}: events both mapped and quiet: {', '.join(sorted(both))}"
            )

    @property
    def known(self) -> frozenset[str]:
        return self.mapped | self.quiet

    def rest(self, event: str, fields: dict[str, Any]) -> Sequence[Any] | None:
        """What a mapping returns for an event it did not translate: ``None`` if quiet.

        Raises:
            ConformanceError: ``event`` is not quiet (unknown, or mapped but
                not translated by the mapping).
        """
        if event in self.quiet:
            return None
        from treadle_verify.conformance import ConformanceError

        if event in self.mapped:
            why = "is mapped in its event table, but the mapping did not translate it"
        else:
            why = (
                "is neither mapped nor marked quiet: map it to spec steps in the "
                f"{self.protocol} mapping or add it to the quiet events of its event table"
            )
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        raise ConformanceError(
            f"{self.protocol}: impl event {event}({shown}) {why}",
            event=(event, dict(fields)),
            states=[],
            enabled=[],
        )


@dataclass(frozen=True)
class Scenario:
    """One configuration of the real impl, explored exhaustively.

    Attributes:
        name: what is configured, e.g. ``"capacity=1 items=2 pump fails at 1"``.
        body: the zero-argument program run as the model's main thread.
        options: extra ``explore`` options (``interrupt_main``,
            ``spurious_wakeups``, ``timeouts``...).
        mapping: the conformance mapping to the spec, or ``None``.
        proves: one line saying what a pass means, shown in reports.
    """

    name: str
    body: Callable[[], object]
    options: Mapping[str, Any] = field(default_factory=dict)
    mapping: EventMapping | None = None
    proves: str = ""


@dataclass(frozen=True)
class ProtocolCheck:
    """How one protocol is checked: its spec sizes and its impl scenarios.

    Attributes:
        name: the protocol's name (``pump``).
        spec: the name of its spec in ``treadle_spec.SPECS``.
        spec_sizes: preset -> constants (keyword dicts for the spec's
            ``build``) to check the spec at.
        scenarios: ``(preset, impl) -> scenarios``; ``impl`` is the class to
            explore (``None`` = the shipped one).
    """

    name: str
    spec: str
    spec_sizes: Callable[[Preset], Sequence[Mapping[str, Any]]]
    scenarios: Callable[[Preset, Any], Sequence[Scenario]]
    summary: str = ""
    events: EventTable | None = None


def load(name: str) -> ProtocolCheck:
    """The :class:`ProtocolCheck` of protocol ``name``.

    Raises:
        KeyError: no such protocol (the message lists the known ones).
    """
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    module = importlib.import_module(f"treadle_verify.protocols.{name}")
    check = module.CHECK
    assert isinstance(check, ProtocolCheck)
    return check
