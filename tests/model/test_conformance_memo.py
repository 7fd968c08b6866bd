"""The conformance monitor memoises spec steps per mapping without changing verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from treadle_spec.lang import Action
from treadle_verify.conformance import (
    ConformanceError,
    Mapping,
    SpecMonitor,
    _Memo,
    any_of,
    match,
    monitor_factory,
    never,
)


class Counter:
    """x counts up to 2 (Bump) and back to 0 (Reset); final at 0."""

    BUMP = Action.of("Bump")
    RESET = Action.of("Reset")

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[Action]:
        return [self.BUMP] if s < 2 else [self.RESET]

    def next_state(self, s: int, a: Action) -> int:
        return s + 1 if a == self.BUMP else 0

    def is_final(self, s: int) -> bool:
        return s == 0


def translate(event: str, fields: dict[str, Any]) -> list[Any] | None:
    if event == "bump":
        return [match("Bump")]
    if event == "reset":
        return [match("Reset")]
    if event == "bad":
        return [never("a bad event")]
    return None


def mapping() -> Mapping:
    spec = Counter()
    return Mapping(spec=lambda: spec, translate=translate, name="counter")


def run(monitor: SpecMonitor, events: list[str]) -> None:
    for e in events:
        monitor.on_event(e, {})
    monitor.on_end(True)


def test_predicates_compare_by_value_and_are_interned() -> None:
    assert match("Bump", w=1) is match("Bump", w=1)
    assert match("Bump", w=1) != match("Bump", w=2)
    assert never("x") == never("x") and hash(never("x")) == hash(never("x"))
    assert any_of(match("A"), match("B")) == any_of(match("A"), match("B"))
    # an unhashable parameter still works, unmemoised
    assert match("Bump", w=[1]) is not match("Bump", w=[1])


def test_shared_memo_gives_the_same_verdicts_as_a_fresh_monitor() -> None:
    m = mapping()
    memo = _Memo(m)
    good = ["bump", "bump", "reset"]
    run(SpecMonitor(m, memo), good)
    steps_after_first = len(memo.steps)
    run(SpecMonitor(m, memo), good)
    assert len(memo.steps) == steps_after_first  # the second execution computed nothing new

    for events in (["bump", "bump", "bump"], ["bad"], ["bump"]):
        with pytest.raises(ConformanceError) as fresh:
            run(SpecMonitor(m), events)
        with pytest.raises(ConformanceError) as memoised:
            run(SpecMonitor(m, memo), events)
        assert str(fresh.value) == str(memoised.value)


def test_a_violation_names_the_predicate() -> None:
    with pytest.raises(ConformanceError, match=r"as match\('Bump'\)"):
        run(SpecMonitor(mapping()), ["bump", "bump", "bump"])
    with pytest.raises(ConformanceError, match=r"as no spec action \(a bad event\)"):
        run(SpecMonitor(mapping()), ["bad"])


def test_monitor_factory_shares_one_memo() -> None:
    factory = monitor_factory(mapping())
    a, b = factory(), factory()
    assert a._inner._memo is b._inner._memo
