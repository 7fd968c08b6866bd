"""Run a :class:`ProtocolCheck`: its spec at each size, its impl scenarios exhaustively.

This is the engine of ``treadle check`` and of the exhaustive tests; it
returns plain result records and reports progress through a callback, so the
command line, JSON output and tests all read the same data.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from treadle_verify.conformance import monitor_factory
from treadle_verify.protocols import Preset, ProtocolCheck, Scenario

__all__ = [
    "ProtocolResult",
    "ScenarioResult",
    "SpecResult",
    "explore_scenario",
    "run_protocol",
]

Progress = Callable[[str], None]


@dataclass
class SpecResult:
    """The spec checked at one size."""

    constants: dict[str, Any]
    states: int
    transitions: int
    depth: int
    properties: tuple[str, ...]
    complete: bool
    elapsed: float
    violations: list[str]

    @property
    def ok(self) -> bool:
        return self.complete and not self.violations


@dataclass
class ScenarioResult:
    """One impl scenario explored."""

    name: str
    proves: str
    executions: int
    redundant: int
    exhaustive: bool
    elapsed: float
    conformance: bool
    failures: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exhaustive and not self.failures


@dataclass
class ProtocolResult:
    """Everything ``treadle check`` learned about one protocol."""

    name: str
    spec: str
    specs: list[SpecResult] = field(default_factory=list)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    elapsed: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and all(s.ok for s in self.specs)
            and all(s.ok for s in self.scenarios)
        )

    @property
    def spec_states(self) -> int:
        return sum(s.states for s in self.specs)

    @property
    def executions(self) -> int:
        return sum(s.executions for s in self.scenarios)

    @property
    def properties(self) -> int:
        names: set[str] = set()
        for s in self.specs:
            names.update(s.properties)
        return len(names)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.name,
            "spec": self.spec,
            "ok": self.ok,
            "error": self.error,
            "elapsed": round(self.elapsed, 3),
            "spec_states": self.spec_states,
            "impl_executions": self.executions,
            "properties": self.properties,
            "specs": [
                {
                    "constants": s.constants,
                    "states": s.states,
                    "transitions": s.transitions,
                    "depth": s.depth,
                    "complete": s.complete,
                    "properties": list(s.properties),
                    "violations": s.violations,
                    "elapsed": round(s.elapsed, 3),
                }
                for s in self.specs
            ],
            "scenarios": [
                {
                    "name": s.name,
                    "proves": s.proves,
                    "executions": s.executions,
                    "redundant": s.redundant,
                    "exhaustive": s.exhaustive,
                    "conformance": s.conformance,
                    "elapsed": round(s.elapsed, 3),
                    "failures": [
                        {
                            "kind": f.kind,
                            "message": f.message,
                            "schedule": f.schedule,
                            "trace": list(f.trace),
                        }
                        for f in s.failures
                    ],
                }
                for s in self.scenarios
            ],
        }


def _constants_dict(constants: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(constants) and not isinstance(constants, type):
        return dataclasses.asdict(constants)
    return {str(k): v for k, v in dict(constants).items()}


def check_spec_size(spec_name: str, constants: Mapping[str, Any]) -> SpecResult:
    """Check spec ``spec_name`` (from ``treadle_spec.SPECS``) at ``constants``."""
    from treadle_spec import SPECS
    from treadle_spec.checker import check_spec

    module = SPECS[spec_name]
    model = module.build(**constants)
    report = check_spec(model, all_violations=True, progress=None)
    return SpecResult(
        constants=dict(constants),
        states=report.distinct_states,
        transitions=report.transitions,
        depth=report.depth,
        properties=tuple(report.properties),
        complete=report.complete,
        elapsed=report.elapsed,
        violations=[str(v) for v in report.violations],
    )


def explore_scenario(scenario: Scenario, **overrides: Any) -> Any:
    """Explore one scenario with its conformance monitor; returns the model's Report."""
    from treadle_model import explore

    options: dict[str, Any] = dict(scenario.options)
    if scenario.mapping is not None:
        options["monitor"] = monitor_factory(scenario.mapping)
    options.update(overrides)
    return explore(scenario.body, **options)


def run_protocol(
    check: ProtocolCheck,
    preset: Preset,
    *,
    impl: Any = None,
    spec: bool = True,
    scenarios: bool = True,
    only: Sequence[str] = (),
    progress: Progress | None = None,
) -> ProtocolResult:
    """Check ``check``'s spec at its sizes and explore its scenarios.

    Args:
        preset: ``quick`` / ``default`` / ``thorough``.
        impl: the impl class to explore (``None``: the shipped one).
        spec / scenarios: which halves to run.
        only: run just the scenarios with these names.
        progress: called with one short line as each step starts.
    """
    say = progress or (lambda line: None)
    result = ProtocolResult(name=check.name, spec=check.spec)
    started = time.perf_counter()
    try:
        if spec:
            for constants in check.spec_sizes(preset):
                consts = _constants_dict(constants)
                shown = ", ".join(f"{k}={v}" for k, v in consts.items() if not k.startswith("bug_"))
                say(f"{check.name}: spec {check.spec} [{shown}]")
                result.specs.append(check_spec_size(check.spec, consts))
        if scenarios:
            for scenario in check.scenarios(preset, impl):
                if only and scenario.name not in only:
                    continue
                say(f"{check.name}: exploring {scenario.name}")
                report = explore_scenario(scenario)
                result.scenarios.append(
                    ScenarioResult(
                        name=scenario.name,
                        proves=scenario.proves,
                        executions=report.executions,
                        redundant=report.redundant,
                        exhaustive=report.exhaustive,
                        elapsed=report.elapsed,
                        conformance=scenario.mapping is not None,
                        failures=list(report.failures),
                    )
                )
    except Exception as exc:  # a broken scenario must fail the check loudly, not crash it
        result.error = f"{type(exc).__name__}: {exc}"
    result.elapsed = time.perf_counter() - started
    return result


def load_all(names: Sequence[str]) -> list[ProtocolCheck]:
    """The checks for ``names`` (all protocols when empty)."""
    from treadle_verify.protocols import PROTOCOLS, load

    return [load(n) for n in (names or PROTOCOLS)]


def spec_module(name: str) -> Any:
    return importlib.import_module(f"treadle_spec.{name}")
