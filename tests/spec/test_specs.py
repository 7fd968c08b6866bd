"""The bundled protocol specs: correct at every size, and each bug switch is caught."""

from __future__ import annotations

import ast
import dataclasses
import itertools
from pathlib import Path

import pytest

import treadle_spec
from treadle_spec import SPECS, Action, check_spec, executor, pool_drain, pump, shutdown, task
from treadle_spec.checker import SpecReport, explore_graph


def _check(spec: object, **options: object) -> SpecReport:
    return check_spec(spec, progress=None, **options)  # type: ignore[arg-type]


def test_registry_names_every_bundled_spec_with_build_and_default_sizes() -> None:
    assert set(SPECS) == {"pump", "pool_drain", "shutdown", "task", "executor"}
    for module in SPECS.values():
        assert module.DEFAULT_SIZES
        spec = module.build()
        assert spec.properties()


@pytest.mark.parametrize(
    ("name", "index"),
    [(n, i) for n, m in SPECS.items() for i in range(len(m.DEFAULT_SIZES))],
)
def test_every_default_size_passes_every_property(name: str, index: int) -> None:
    module = SPECS[name]
    consts = module.DEFAULT_SIZES[index]
    report = _check(module.build(**dataclasses.asdict(consts)), all_violations=True)
    assert report.ok, str(report)


@pytest.mark.parametrize(
    ("capacity", "items", "pump_may_fail", "worker_may_fail"),
    list(itertools.product([0, 1, 2], [0, 1, 2, 3, 4], [False, True], [False, True])),
)
def test_pump_is_correct_across_sizes_and_failure_points(
    capacity: int, items: int, pump_may_fail: bool, worker_may_fail: bool
) -> None:
    spec = pump.build(
        capacity=capacity,
        items=items,
        pump_may_fail=pump_may_fail,
        worker_may_fail=worker_may_fail,
    )
    report = _check(spec, all_violations=True)
    assert report.ok, str(report)


@pytest.mark.parametrize(
    ("workers", "items", "capacity"),
    [
        (w, n, c)
        for w in (1, 2, 3)
        for n in (0, 1, 2)
        for c in (0, 1, 2)
        if w * n <= 4  # keeps the largest at a few thousand states
    ],
)
def test_pool_drain_is_correct_across_sizes(workers: int, items: int, capacity: int) -> None:
    report = _check(
        pool_drain.build(workers=workers, items=items, capacity=capacity), all_violations=True
    )
    assert report.ok, str(report)


@pytest.mark.parametrize(
    ("jobs", "calls", "other", "fail"),
    list(itertools.product([0, 1, 2], [0, 1], [False, True], [False, True])),
)
def test_shutdown_is_correct_across_sizes(jobs: int, calls: int, other: bool, fail: bool) -> None:
    spec = shutdown.build(jobs=jobs, calls=calls, other_shutdown=other, worker_may_fail=fail)
    report = _check(spec, all_violations=True)
    assert report.ok, str(report)


# -- bug switches ---------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "items"), [(0, 2), (1, 3), (2, 4)])
def test_pump_receiver_left_open_on_pump_error_deadlocks_the_join(
    capacity: int, items: int
) -> None:
    report = _check(
        pump.build(capacity=capacity, items=items, bug_keep_rx_open=True), all_violations=True
    )
    dead = report.violation("deadlock")
    assert dead is not None and dead.kind == "deadlock" and dead.trace is not None
    last = dead.trace.steps[-1].state
    assert last.main == "join" and last.pump_error and not last.rx_closed
    assert dead.depth <= 2 * items + 2
    assert [a.name for a in dead.trace.actions].count("PumpRaises") == 1  # type: ignore[attr-defined]
    live = report.violation("run_returns")
    assert live is not None and live.kind == "liveness"


def test_pump_leaked_sender_makes_run_wait_forever() -> None:
    report = _check(pump.build(bug_leak_sender=True), all_violations=True)
    dead = report.violation("deadlock")
    assert dead is not None and dead.depth <= 4
    assert dead.trace is not None and dead.trace.steps[-1].state.tx_open


def test_pool_join_before_drain_deadlocks_on_a_worker_blocked_on_the_full_up_channel() -> None:
    report = _check(
        pool_drain.build(workers=1, items=2, capacity=1, bug_join_before_drain=True),
        all_violations=True,
    )
    dead = report.violation("deadlock")
    assert dead is not None and dead.kind == "deadlock" and dead.trace is not None
    assert dead.depth <= 6
    last = dead.trace.steps[-1].state
    assert last.mgr == "join" and last.buf  # the manager joins, the channel is full
    order = report.violation("drain_before_join")
    assert order is not None and order.kind == "invariant"


def test_pool_join_before_drain_deadlocks_with_several_workers_too() -> None:
    report = _check(
        pool_drain.build(workers=2, items=1, capacity=1, bug_join_before_drain=True),
        all_violations=True,
    )
    assert report.violation("deadlock") is not None
    assert report.violation("stop_returns") is not None


def test_shutdown_polling_leaves_the_worker_alive_at_unload() -> None:
    report = _check(
        shutdown.build(jobs=0, other_shutdown=False, bug_poll=True), all_violations=True
    )
    v = report.violation("join_before_unload")
    assert v is not None and v.kind == "invariant" and v.trace is not None
    assert v.depth <= 7
    last = v.trace.steps[-1].state
    assert last.main == "unloaded" and last.worker == "recv"  # mid-poll
    assert report.violation("unhook_after_join") is not None


def test_shutdown_polling_spins_forever_without_fairness() -> None:
    unfair = _check(
        shutdown.build(jobs=0, other_shutdown=False, bug_poll=True),
        all_violations=True,
        fairness=False,
    )
    v = unfair.violation("shutdown_returns")
    assert v is not None and v.kind == "liveness"
    assert v.trace is not None and v.trace.cycle_start is not None
    fair = _check(shutdown.build(jobs=0, other_shutdown=False, bug_poll=True), all_violations=True)
    assert fair.violation("shutdown_returns") is None


def test_shutdown_unhook_before_join_leaves_a_crashing_worker_without_a_hook() -> None:
    report = _check(
        shutdown.build(jobs=0, other_shutdown=False, bug_unhook_before_join=True),
        all_violations=True,
    )
    order = report.violation("unhook_after_join")
    assert order is not None and order.kind == "invariant" and order.depth <= 9
    crash = report.violation("crash_handled")
    assert crash is not None and crash.trace is not None
    assert [str(a) for a in crash.trace.actions][-1] == "WorkerCrashes"


def test_shutdown_that_returns_early_during_another_lets_the_caller_unload_too_soon() -> None:
    report = _check(shutdown.build(jobs=0, bug_early_return=True), all_violations=True)
    v = report.violation("join_before_unload")
    assert v is not None and v.depth <= 7
    assert report.violation("shutdown_returns_after_join") is not None


@pytest.mark.parametrize(
    ("spins", "cooperative", "fail"),
    list(itertools.product([0, 1, 2, 3], [False, True], [False, True])),
)
def test_task_is_correct_across_sizes(spins: int, cooperative: bool, fail: bool) -> None:
    spec = task.build(spins=spins, cooperative=cooperative, task_may_fail=fail)
    report = _check(spec, all_violations=True)
    assert report.ok, str(report)


def test_task_close_without_join_lets_the_thread_outlive_its_owner() -> None:
    report = _check(task.build(bug_close_without_join=True), all_violations=True)
    v = report.violation("close_joins")
    assert v is not None and v.kind == "invariant" and v.depth <= 3
    assert v.trace is not None and v.trace.steps[-1].state.task != "dead"
    assert report.violation("wait_joins") is not None


@pytest.mark.parametrize(
    ("callers", "jobs", "joiners", "tagged"),
    [(1, 1, 1, True), (1, 2, 2, True), (2, 1, 1, True), (2, 2, 2, True), (3, 1, 1, False)],
)
def test_executor_is_correct_across_sizes(
    callers: int, jobs: int, joiners: int, tagged: bool
) -> None:
    spec = executor.build(callers=callers, jobs=jobs, joiners=joiners, tagged=tagged)
    report = _check(spec, all_violations=True)
    assert report.ok, str(report)


def test_executor_tag_reuse_lets_a_later_executor_read_an_earlier_ones_value() -> None:
    report = _check(executor.build(bug_tag_reuse=True), all_violations=True)
    v = report.violation("tags_unique")
    assert v is not None and v.kind == "invariant" and v.depth <= 8
    assert v.trace is not None and v.trace.actions[-1] == executor.ExecutorSpec(
        executor.Constants()
    ).action("ReadOnSecond")


# -- vocabulary and conformance API ---------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_action_labels_round_trip_through_their_printed_form(name: str) -> None:
    spec = SPECS[name].build()
    for a in spec.all_actions():
        assert Action.parse(str(a)) == a


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hints_and_preconditions_miss_no_enabled_action(name: str) -> None:
    for consts in SPECS[name].DEFAULT_SIZES:
        spec = SPECS[name].build(**dataclasses.asdict(consts))
        for s in explore_graph(spec, max_states=5000).states:
            spec.check_candidates(s)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_actions_and_next_state_agree_with_successors(name: str) -> None:
    spec = SPECS[name].build()
    for s in explore_graph(spec).states:
        succ = spec.successors(s)
        assert spec.actions(s) == [a for a, _ in succ]
        for a, t in succ:
            assert spec.next_state(s, a) == t


def test_every_action_of_every_spec_is_taken_somewhere_in_its_default_sizes() -> None:
    for name, module in SPECS.items():
        spec = module.build()
        taken: set[str] = set()
        for consts in module.DEFAULT_SIZES:
            sized = module.build(**dataclasses.asdict(consts))
            taken |= {str(lbl.name) for _, _, lbl in explore_graph(sized, max_states=5000).edges}  # type: ignore[attr-defined]
        declared = {d.name for d in type(spec).action_defs()}
        # PollTimeout only exists under the bug_poll switch.
        assert declared - taken <= {"PollTimeout"}, f"{name}: never taken: {declared - taken}"


def test_all_default_sizes_check_quickly() -> None:
    total = 0.0
    for module in SPECS.values():
        for consts in module.DEFAULT_SIZES:
            total += _check(module.build(**dataclasses.asdict(consts))).elapsed
    assert total < 20.0


def test_specs_import_only_the_spec_language_of_treadle_model() -> None:
    root = Path(treadle_spec.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                if top == "treadle_model":
                    assert node.module == "treadle_spec.lang", f"{path.name}: {node.module}"
                assert top != "treadle", f"{path.name} imports the impl"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in ("treadle", "treadle_model"), path.name
