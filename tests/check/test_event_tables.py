"""Every event the impl emits is declared in ``treadle._events``, and every
protocol that can see it maps it to spec steps or marks it quiet: an event
nobody decided about fails conformance, naming it, instead of slipping past."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import treadle
import treadle_model
from treadle import _events, sync
from treadle_verify.conformance import ConformanceError, SpecMonitor, monitor_factory
from treadle_verify.protocols import EventTable, ProtocolCheck, load

IMPL = Path(treadle.__file__).parent
STRICT = ("pump", "pool", "executor")

# Functions that pass their own ``event`` parameter on to ``sync.emit``; their
# callers' literal names are what the scan collects.
FORWARDERS = {("runtime", "_announce")}


def emitted_names(source: str, module: str) -> tuple[set[str], list[str]]:
    """The event names ``source`` emits, and the calls whose name cannot be read."""
    tree = ast.parse(source)
    names: set[str] = set()
    unreadable: list[str] = []
    callers = {"emit"} | {fn for mod, fn in FORWARDERS if mod == module}

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute | ast.Name):
                called = child.func.attr if isinstance(child.func, ast.Attribute) else child.func.id
                if called in callers and child.args:
                    arg = child.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.add(arg.value)
                    elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                        value = getattr(getattr(_events, arg.value.id, None), arg.attr, None)
                        if isinstance(value, str):
                            names.add(value)
                        else:
                            unreadable.append(f"{module}:{child.lineno}: {ast.unparse(arg)}")
                    elif (module, function) not in FORWARDERS:
                        unreadable.append(f"{module}:{child.lineno}: {ast.unparse(arg)}")
            visit(child, function)

    visit(tree, None)
    return names, unreadable


def test_every_emit_in_the_impl_uses_a_name_declared_for_its_module() -> None:
    seen: dict[str, set[str]] = {}
    problems: list[str] = []
    for path in sorted(IMPL.glob("*.py")):
        if path.stem in ("_events", "sync"):  # the declarations; sync.emit itself
            continue
        names, unreadable = emitted_names(path.read_text(), path.stem)
        problems += unreadable
        if names:
            seen[path.stem] = names
    assert not problems, problems
    assert set(seen) == set(_events.EVENTS)
    for module, names in seen.items():
        declared = set(_events.EVENTS[module])
        assert names == declared, (
            module,
            f"emitted, not declared: {sorted(names - declared)}",
            f"declared, never emitted: {sorted(declared - names)}",
        )
        assert all(n.startswith(f"{module}.") for n in names)
    assert len(_events.ALL) == sum(len(v) for v in _events.EVENTS.values())


def test_the_scan_catches_an_undeclared_name_and_an_unreadable_one() -> None:
    source = (
        "from treadle import sync\n"
        "def f(x):\n"
        "    sync.emit('pump.brand_new', item=1)\n"
        "    sync.emit(x)\n"
        "    sync.emit(Pump.ITEM)\n"
    )
    names, unreadable = emitted_names(source, "pump")
    assert names == {"pump.brand_new", "pump.item"}
    assert names - set(_events.EVENTS["pump"]) == {"pump.brand_new"}
    assert unreadable == ["pump:4: x"]


def _check(name: str) -> tuple[ProtocolCheck, EventTable]:
    check = load(name)
    assert check.events is not None, f"{name} declares no event table"
    return check, check.events


@pytest.mark.parametrize("name", STRICT)
def test_a_protocol_s_event_table_is_exactly_the_events_of_its_modules(name: str) -> None:
    _, table = _check(name)
    assert table.protocol == name
    everything = {e for m in table.modules for e in _events.EVENTS[m]}
    assert table.known == everything, (
        f"not decided: {sorted(everything - table.known)}",
        f"not emitted by {table.modules}: {sorted(table.known - everything)}",
    )
    assert not table.mapped & table.quiet


def test_an_event_table_refuses_an_event_both_mapped_and_quiet() -> None:
    with pytest.raises(ValueError, match=r"both mapped and quiet: pump\.item"):
        EventTable("pump", ("pump",), frozenset({"pump.item"}), frozenset({"pump.item"}))


def test_a_mapped_event_the_mapping_leaves_untranslated_fails() -> None:
    table = EventTable("pump", ("pump",), frozenset({"pump.item"}), frozenset())
    with pytest.raises(ConformanceError, match="mapped in its event table, but the mapping"):
        table.rest("pump.item", {"item": 0})


@pytest.mark.parametrize("name", STRICT)
def test_an_unknown_event_fails_conformance_naming_it(name: str) -> None:
    check, table = _check(name)
    mapping = check.scenarios("quick", None)[0].mapping
    assert mapping is not None
    monitor = SpecMonitor(mapping)
    with pytest.raises(ConformanceError, match=rf"{name}\.brand_new\(x=1\) is neither mapped"):
        monitor.on_event(f"{name}.brand_new", {"x": 1})
    # Each quiet event of the protocol's own objects passes without a step...
    own = {"channel": {"pump": "pump", "pool": "pool.up"}.get(name), "pool": "pool"}
    for quiet in sorted(table.quiet):
        assert mapping.translate(quiet, dict(own)) is None, quiet
    # ...and an event of a module the protocol does not expect fails too.
    with pytest.raises(ConformanceError, match=r"task\.spawned"):
        mapping.translate("task.spawned", {})


def test_an_unknown_event_fails_an_explored_execution_with_its_name() -> None:
    check, _ = _check("pump")
    mapping = check.scenarios("quick", None)[0].mapping
    assert mapping is not None

    def body() -> None:
        sync.emit("pump.brand_new", item=0)

    report = treadle_model.explore(body, monitor=monitor_factory(mapping))
    (failure,) = report.failures
    assert failure.kind == "conformance"
    assert "pump.brand_new(item=0) is neither mapped nor marked quiet" in failure.message


class _Recording:
    """A monitor that records each event's name, then checks conformance as usual."""

    def __init__(self, inner: Any, seen: set[str]) -> None:
        self.inner = inner
        self.seen = seen

    def on_event(self, name: str, fields: dict[str, Any], thread: str) -> None:
        self.seen.add(name)
        self.inner.on_event(name, fields, thread)

    def on_end(self, ok: bool) -> None:
        self.inner.on_end(ok)


@pytest.mark.parametrize("name", STRICT)
def test_every_event_the_quick_scenarios_emit_is_in_the_table(name: str) -> None:
    check, table = _check(name)
    seen: set[str] = set()
    for scenario in check.scenarios("quick", None):
        assert scenario.mapping is not None
        factory = monitor_factory(scenario.mapping)
        report = treadle_model.explore(
            scenario.body,
            monitor=lambda factory=factory: _Recording(factory(), seen),
            **dict(scenario.options),
        )
        assert report.ok and report.exhaustive, (scenario.name, str(report))
    assert seen, f"{name}'s scenarios emitted no events"
    assert seen <= table.known, sorted(seen - table.known)
    assert seen & table.mapped, "no mapped event was ever seen"
