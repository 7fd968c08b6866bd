"""The spec checker against models whose answers are known by hand."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple

import pytest

from tests.spec.models import (
    Arbiter,
    BinaryClock,
    Blinker,
    BrokenMutex,
    ClockConsts,
    Counter,
    CounterConsts,
    Peterson,
    Philosophers,
    Raw,
    Spinner,
    naive_reachable,
)
from treadle_spec import Action, Property, Spec, action, check_spec
from treadle_spec.checker import explore_graph, format_trace


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_counter_mod_n_has_n_states_and_n_transitions(n: int) -> None:
    report = check_spec(Counter(CounterConsts(n=n, goal=n - 1)))
    assert report.ok, str(report)
    assert report.distinct_states == n
    assert report.transitions == n
    assert report.depth == n
    assert report.complete


@pytest.mark.parametrize("bits", [1, 2, 3, 6])
def test_binary_clock_has_two_to_the_bits_states(bits: int) -> None:
    report = check_spec(BinaryClock(ClockConsts(bits=bits)))
    assert report.ok, str(report)
    assert report.distinct_states == 2**bits
    assert report.depth == 2**bits


def test_peterson_reachable_states_match_a_naive_search_and_mutex_holds() -> None:
    spec = Peterson()
    report = check_spec(spec)
    assert report.ok, str(report)
    # 20 reachable states, as a plain BFS over actions()/next_state() (which
    # shares no code with the checker) also finds.
    assert report.distinct_states == 20
    assert len(naive_reachable(spec)) == 20
    assert report.transitions == 34


def test_broken_mutex_gives_the_shortest_trace_into_the_critical_section() -> None:
    report = check_spec(BrokenMutex())
    v = report.violation("mutual_exclusion")
    assert v is not None and v.kind == "invariant"
    assert v.trace is not None
    # init, both pass the check (2 steps), both set their flag and enter (2 steps)
    assert v.depth == 5
    assert v.trace.steps[-1].state.pc == (3, 3)
    assert not report.ok


def test_deadlock_is_found_with_a_shortest_trace() -> None:
    report = check_spec(Philosophers())
    v = report.violation("deadlock")
    assert v is not None and v.kind == "deadlock"
    assert v.trace is not None
    assert v.depth == 3
    assert [str(a) for a in v.trace.actions] == ["TakeLeft(p=0)", "TakeLeft(p=1)"]


def test_final_states_are_not_deadlocks() -> None:
    report = check_spec(Spinner())
    assert report.ok, str(report)
    assert report.violation("deadlock") is None


def test_unreachable_sometimes_fails_so_a_spec_cannot_pass_vacuously() -> None:
    class Vacuous(Counter):
        def properties(self) -> list[Property[object]]:
            return [Property.sometimes("never", lambda s: False)]

    report = check_spec(Vacuous())
    v = report.violation("never")
    assert v is not None and v.kind == "unreachable" and v.trace is None
    assert not report.ok


def test_liveness_violation_without_fairness_passes_with_it() -> None:
    unfair = check_spec(Spinner(), fairness=False)
    v = unfair.violation("exits")
    assert v is not None and v.kind == "liveness"
    assert v.trace is not None and v.trace.cycle_start == 0
    assert [str(a) for a in v.trace.actions] == ["Loop"]
    fair = check_spec(Spinner())
    assert fair.ok, str(fair)


def test_fairness_can_be_given_by_action_name() -> None:
    assert check_spec(Spinner(), fairness=["Exit"]).ok
    assert not check_spec(Spinner(), fairness=["Loop"]).ok


def test_weak_fairness_does_not_force_an_action_that_is_only_intermittently_enabled() -> None:
    report = check_spec(Blinker())
    v = report.violation("exits")
    assert v is not None and v.kind == "liveness"
    assert v.trace is not None and v.trace.cycle_start is not None
    cycle = v.trace.steps[v.trace.cycle_start :]
    # The cycle passes a state where Exit is disabled (light off).
    assert any(step.state.light == 0 for step in cycle)


def test_eventually_fails_on_a_cycle_that_never_reaches_the_goal() -> None:
    report = check_spec(Counter(CounterConsts(n=4, goal=9)))
    v = report.violation("reaches_goal")
    assert v is not None and v.kind == "liveness"
    assert v.trace is not None and v.trace.cycle_start == 0
    assert v.depth == 5  # four ticks, the last one back to the start


def test_leads_to_holds_under_fairness_and_fails_when_the_arbiter_may_idle() -> None:
    assert check_spec(Arbiter()).ok
    report = check_spec(Arbiter(), fairness=["Request", "Release"])
    v = report.violation("request_granted")
    assert v is not None and v.kind == "liveness"
    assert v.trace is not None and v.trace.cycle_start is not None
    assert v.trace.steps[v.trace.cycle_start].state.req
    assert {str(a) for a in v.trace.actions[v.trace.cycle_start :]} == {"Idle"}


def test_peterson_is_starvation_free_under_weak_fairness() -> None:
    report = check_spec(Peterson())
    assert report.violation("p0_enters") is None
    assert report.violation("p1_enters") is None


def test_a_stop_in_a_non_goal_state_is_a_liveness_violation_that_stutters() -> None:
    @dataclass(frozen=True)
    class K:
        pass

    class S(NamedTuple):
        x: int

    class Stops(Spec[S, K]):
        constants_type = K

        def init_states(self) -> list[S]:
            return [S(0)]

        @action
        def Step(self, s: S) -> S | None:
            return S(1) if s.x == 0 else None

        def is_final(self, s: S) -> bool:
            return True

        def properties(self) -> list[Property[S]]:
            return [Property.eventually("two", lambda s: s.x == 2)]

    v = check_spec(Stops()).violation("two")
    assert v is not None and v.trace is not None
    assert v.trace.stutters and v.trace.cycle_start is None
    assert "stops here forever" in format_trace(v.trace)


def test_state_limit_reports_an_incomplete_search_and_claims_nothing_more() -> None:
    report = check_spec(Counter(CounterConsts(n=100, goal=99)), max_states=10)
    assert report.distinct_states == 10
    assert not report.complete and not report.ok
    assert report.violations == ()  # no unreachable/liveness claims
    assert "not exhaustive" in str(report)


def test_first_violation_stops_by_default_all_violations_collects_every_property() -> None:
    class TwoBugs(BrokenMutex):
        def properties(self) -> list[Property[object]]:
            return [
                *super().properties(),
                Property.always("never_both_flags", lambda s: s.flag != (True, True)),
            ]

    first = check_spec(TwoBugs())
    assert len(first.violations) == 1
    every = check_spec(TwoBugs(), all_violations=True)
    names = {v.property for v in every.violations}
    assert {"mutual_exclusion", "never_both_flags"} <= names


def test_a_plain_model_without_the_spec_base_is_checked_and_traced() -> None:
    report = check_spec(Raw(3))
    v = report.violation("below_limit")
    assert v is not None and v.trace is not None
    assert v.trace.actions == ["inc", "inc", "inc"]
    assert report.distinct_states == 4  # 0..3 (stops at the first violation)


def test_exact_mode_finds_the_same_states() -> None:
    assert check_spec(Peterson(), exact=True).distinct_states == 20


def test_trace_shows_each_action_and_only_the_variables_it_changed() -> None:
    v = check_spec(Philosophers()).violation("deadlock")
    assert v is not None and v.trace is not None
    text = format_trace(v.trace)
    assert "1: <initial state>" in text
    assert "2: TakeLeft(p=0)" in text
    lines = text.splitlines()
    step2 = lines.index("  2: TakeLeft(p=0)")
    changed = [ln.split("=")[0].strip() for ln in lines[step2 + 1 : step2 + 3]]
    assert sorted(changed) == ["fork", "pc"]
    assert lines[step2 + 3].startswith("  3: ")


def test_lasso_trace_names_the_state_it_returns_to() -> None:
    v = check_spec(Spinner(), fairness=False).violation("exits")
    assert v is not None and v.trace is not None
    assert "back to state 1" in format_trace(v.trace)


def test_liveness_on_a_long_cycle_needs_no_recursion() -> None:
    n = 60_000
    report = check_spec(Counter(CounterConsts(n=n, goal=n - 1)))
    assert report.ok and report.distinct_states == n
    bad = check_spec(Counter(CounterConsts(n=n, goal=n + 5)))
    v = bad.violation("reaches_goal")
    assert v is not None and v.depth == n + 1


def test_progress_lines_go_to_the_given_stream() -> None:
    out = io.StringIO()
    check_spec(BinaryClock(ClockConsts(bits=14)), progress=1e-9, progress_stream=out)
    text = out.getvalue()
    assert "states/s" in text and "queue" in text


def test_quiet_runs_print_nothing() -> None:
    out = io.StringIO()
    check_spec(BinaryClock(ClockConsts(bits=14)), progress=None, progress_stream=out)
    assert out.getvalue() == ""


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="max_states"):
        check_spec(Peterson(), max_states=0)
    with pytest.raises(ValueError, match="progress"):
        check_spec(Peterson(), progress=-1)


def test_duplicate_property_names_are_rejected() -> None:
    class Dup(Counter):
        def properties(self) -> list[Property[object]]:
            return [Property.always("p", lambda s: True), Property.always("p", lambda s: True)]

    with pytest.raises(ValueError, match="two properties"):
        check_spec(Dup())


def test_report_text_summarises_and_lists_property_results() -> None:
    text = str(check_spec(Peterson()))
    assert "Peterson" in text and "OK" in text and "20 distinct states" in text
    assert "mutual_exclusion ok" in text


def test_action_labels_print_and_parse_back() -> None:
    a = Action.of("Send", w=0, item=1)
    assert str(a) == "Send(w=0, item=1)"
    assert Action.parse("Send(w=0, item=1)") == a
    assert Action.parse("Stop") == Action("Stop")
    assert Action.parse("Pick(t='main')")["t"] == "main"
    with pytest.raises(ValueError, match="not an action label"):
        Action.parse("Send(1)")


def test_conformance_api_enabled_actions_and_taking_one() -> None:
    spec = Peterson()
    s0 = next(iter(spec.init_states()))
    assert [str(a) for a in spec.actions(s0)] == ["Step(i=0)", "Step(i=1)"]
    s1 = spec.next_state(s0, spec.action("Step", i=0))
    assert s1 is not None and s1.pc == (1, 0)
    with pytest.raises(KeyError, match="no action"):
        spec.next_state(s0, Action.of("Nope"))


def test_when_preconditions_name_real_variables() -> None:
    class Bad(Spinner):
        @action(when={"nope": 1})
        def Other(self, s: object) -> None:
            return None

    with pytest.raises(ValueError, match="nope"):
        Bad()


def test_explore_graph_collects_states_and_edges() -> None:
    g = explore_graph(Counter(CounterConsts(n=3, goal=0)))
    assert len(g.states) == 3 and len(g.edges) == 3 and g.complete
