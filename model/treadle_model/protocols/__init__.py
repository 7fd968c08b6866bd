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

from treadle_model.conformance import Mapping as EventMapping

__all__ = [
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


def load(name: str) -> ProtocolCheck:
    """The :class:`ProtocolCheck` of protocol ``name``.

    Raises:
        KeyError: no such protocol (the message lists the known ones).
    """
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    module = importlib.import_module(f"treadle_model.protocols.{name}")
    check = module.CHECK
    assert isinstance(check, ProtocolCheck)
    return check
