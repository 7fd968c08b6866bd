"""Run ``treadle check``'s work on N worker processes, with the serial run's results.

The campaign splits into independent *tasks*: one spec check per (protocol,
size) and one exploration per (protocol, scenario). Each task is named by its
protocol and its index in the protocol's (deterministic) list of sizes or
scenarios, so a worker rebuilds it from its name: no closures cross a process
boundary, only names and plain result records. Results are put back in the
serial order, so the table, the JSON (but for timings) and every failure's
schedule are the same whatever the number of workers.

Workers are standard-library processes started with ``spawn`` (no state
inherited from the driver; greenlet and threads are safe). The driver keeps
one pipe per worker and watches each process's sentinel, so it always knows
which task a worker was running: a worker that dies (killed, out of memory, a
crash in C) is reported as a failure of that task, naming its exit status, and
a fresh worker takes over the remaining tasks - never a silent partial "ok".
The task is not rerun: a task that kills its worker would kill the next one
too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from treadle_verify.protocols import Preset
from treadle_verify.protocols._run import (
    ProtocolResult,
    ScenarioResult,
    SpecResult,
    _constants_dict,
    check_spec_size,
    explore_scenario,
    load_all,
)

__all__ = ["Task", "WorkerStats", "run_parallel", "run_ray"]

# Test hook: a worker given the task with this label kills itself with SIGKILL
# (a real kill of a real process), so the tests can show a dead worker reported.
_KILL_ENV = "TREADLE_TEST_KILL_TASK"


@dataclass(frozen=True)
class Task:
    protocol: str
    kind: str  # "spec" or "scenario"
    index: int
    label: str

    def describe(self) -> str:
        return f"{self.protocol}: {self.kind} {self.label}"


@dataclass
class WorkerStats:
    """What one worker process did (``--json``'s ``workers``)."""

    worker: int
    pid: int
    tasks: int = 0
    executions: int = 0
    states: int = 0
    busy: float = 0.0
    died: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "pid": self.pid,
            "tasks": self.tasks,
            "executions": self.executions,
            "spec_states": self.states,
            "busy_seconds": round(self.busy, 3),
            "died": self.died,
        }


@dataclass
class _Worker:
    index: int
    process: Any
    conn: Connection
    task: Task | None = None
    started: float = 0.0
    stats: WorkerStats = field(default_factory=lambda: WorkerStats(0, 0))


def plan(names: Sequence[str], preset: Preset, *, spec: bool, scenarios: bool,
         only: Sequence[str]) -> list[Task]:  # fmt: skip
    """Every task of the campaign, in the serial run's order."""
    tasks: list[Task] = []
    for check in load_all(names):
        if spec:
            for i, constants in enumerate(check.spec_sizes(preset)):
                consts = _constants_dict(constants)
                shown = ", ".join(f"{k}={v}" for k, v in consts.items() if not k.startswith("bug_"))
                tasks.append(Task(check.name, "spec", i, f"{check.spec} [{shown}]"))
        if scenarios:
            for i, sc in enumerate(check.scenarios(preset, None)):
                if only and sc.name not in only:
                    continue
                tasks.append(Task(check.name, "scenario", i, sc.name))
    return tasks


def _run_task(task: Task, preset: Preset) -> SpecResult | ScenarioResult:
    if os.environ.get(_KILL_ENV) == task.describe():
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    (check,) = load_all([task.protocol])
    if task.kind == "spec":
        constants = _constants_dict(check.spec_sizes(preset)[task.index])
        return check_spec_size(check.spec, constants)
    scenario = check.scenarios(preset, None)[task.index]
    if scenario.name != task.label:
        raise RuntimeError(
            f"{task.protocol}: scenario {task.index} is {scenario.name!r} in this worker but "
            f"{task.label!r} in the driver: the scenario list must be deterministic"
        )
    report = explore_scenario(scenario)
    failures = []
    for f in report.failures:
        try:
            pickle.dumps(f.exception)
        except Exception:  # an exception that does not pickle: its message is in f.message
            f = type(f)(f.kind, f.message, f.schedule, f.trace, None, f.replay_call)
        failures.append(f)
    return ScenarioResult(
        name=scenario.name,
        proves=scenario.proves,
        executions=report.executions,
        redundant=report.redundant,
        exhaustive=report.exhaustive,
        elapsed=report.elapsed,
        conformance=scenario.mapping is not None,
        failures=failures,
    )


def _worker_main(conn: Connection, preset: Preset) -> None:
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            result: Any = ("ok", _run_task(task, preset))
        except Exception as exc:  # reported as the protocol's error, like the serial run
            result = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(result)


def _start(index: int, preset: Preset) -> _Worker:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(
        target=_worker_main, args=(child, preset), name=f"treadle-check-{index}", daemon=True
    )
    process.start()
    child.close()
    return _Worker(index, process, parent, stats=WorkerStats(index, process.pid or 0))


def _exit_status(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def run_parallel(
    names: Sequence[str],
    preset: Preset,
    *,
    jobs: int,
    spec: bool = True,
    scenarios: bool = True,
    only: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ProtocolResult], list[WorkerStats]]:
    """The results :func:`run_protocol` gives for each protocol, computed on ``jobs`` workers."""
    say = progress or (lambda line: None)
    tasks = plan(names, preset, spec=spec, scenarios=scenarios, only=only)
    checks = load_all(names)
    results: dict[Task, SpecResult | ScenarioResult | str] = {}
    pending = list(reversed(tasks))
    workers = [_start(i, preset) for i in range(max(1, min(jobs, len(tasks))))]
    stats: list[WorkerStats] = [w.stats for w in workers]
    started = time.perf_counter()
    try:
        for w in workers:
            _assign(w, pending)
        while any(w.task is not None for w in workers):
            busy = [w for w in workers if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                task = w.task
                assert task is not None
                if w.conn in ready:
                    try:
                        status, value = w.conn.recv()
                    except EOFError:
                        status, value = "died", None
                elif w.process.sentinel in ready:
                    status, value = "died", None
                else:
                    continue
                w.stats.busy += time.perf_counter() - w.started
                if status == "died":
                    w.process.join()
                    why = _exit_status(w.process)
                    w.stats.died = f"{why} while running {task.describe()}"
                    results[task] = f"its worker process {w.stats.pid} {why}"
                    replacement = _start(w.index, preset)
                    workers[workers.index(w)] = replacement
                    stats.append(replacement.stats)
                    w = replacement
                else:
                    w.stats.tasks += 1
                    if status == "ok":
                        results[task] = value
                        if isinstance(value, ScenarioResult):
                            w.stats.executions += value.executions
                        else:
                            w.stats.states += value.states
                    else:
                        results[task] = str(value)
                    w.task = None
                _assign(w, pending)
            done = len(results)
            elapsed = time.perf_counter() - started
            running = sum(1 for w in workers if w.task is not None)
            say(f"{done}/{len(tasks)} tasks done, {running} of {len(workers)} workers busy "
                f"({elapsed:.0f}s)")  # fmt: skip
    finally:
        for w in workers:
            if w.process.is_alive():
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
        for w in workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
    return _assemble(checks, tasks, results), stats


def _assign(w: _Worker, pending: list[Task]) -> None:
    if pending:
        w.task = pending.pop()
        w.started = time.perf_counter()
        w.conn.send(w.task)
    else:
        w.task = None


def _assemble(
    checks: Sequence[Any],
    tasks: Sequence[Task],
    results: dict[Task, SpecResult | ScenarioResult | str],
) -> list[ProtocolResult]:
    out = {c.name: ProtocolResult(name=c.name, spec=c.spec) for c in checks}
    errors: dict[str, list[str]] = {}
    for task in tasks:
        r = out[task.protocol]
        value = results.get(task, f"no result for {task.describe()}")
        if isinstance(value, str):
            errors.setdefault(task.protocol, []).append(f"{task.describe()}: {value}")
        elif isinstance(value, SpecResult):
            r.specs.append(value)
            r.elapsed += value.elapsed
        else:
            r.scenarios.append(value)
            r.elapsed += value.elapsed
    for name, errs in errors.items():
        out[name].error = "; ".join(errs)
    return list(out.values())


def _ray_task(task: Task, preset: Preset) -> tuple[str, Any, int]:
    """One task on a Ray worker: ``(status, value, pid)`` as :func:`_worker_main` sends."""
    try:
        return "ok", _run_task(task, preset), os.getpid()
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}", os.getpid()


def run_ray(
    names: Sequence[str],
    preset: Preset,
    *,
    address: str,
    jobs: int = 0,
    spec: bool = True,
    scenarios: bool = True,
    only: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ProtocolResult], list[WorkerStats]]:
    """:func:`run_parallel`'s results, with each task a Ray task on the cluster at ``address``.

    ``address="local"`` starts a throwaway local cluster (``jobs`` CPUs, 0: one
    per core) and stops it afterwards; any other address (``auto``,
    ``ray://host:10001``, ``host:6379``) joins an existing cluster, whose
    nodes must have treadle installed. The driver keeps only one result
    record per task. Tasks are not retried (``max_retries=0``): a worker
    that dies fails its task, named, as with local processes.
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "--ray needs Ray: pip install 'treadle[cluster]' (or pip install ray)"
        ) from None
    import logging

    say = progress or (lambda line: None)
    tasks = plan(names, preset, spec=spec, scenarios=scenarios, only=only)
    checks = load_all(names)
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if address == "local":
            kwargs["num_cpus"] = jobs or (os.cpu_count() or 1)
            kwargs["include_dashboard"] = False
        ray.init(address=address, **kwargs)
    try:
        remote = ray.remote(max_retries=0)(_ray_task)
        refs = {remote.remote(t, preset): t for t in tasks}
        results: dict[Task, SpecResult | ScenarioResult | str] = {}
        by_pid: dict[int, WorkerStats] = {}
        left = list(refs)
        begun = time.perf_counter()
        while left:
            ready, left = ray.wait(left, num_returns=1)
            for ref in ready:
                task = refs[ref]
                try:
                    status, value, pid = ray.get(ref)
                except Exception as exc:  # the worker died, or Ray could not run the task
                    results[task] = f"its Ray worker failed: {type(exc).__name__}: {exc}"
                    continue
                stats = by_pid.setdefault(pid, WorkerStats(len(by_pid), pid))
                stats.tasks += 1
                if status == "ok":
                    results[task] = value
                    stats.busy += value.elapsed
                    if isinstance(value, ScenarioResult):
                        stats.executions += value.executions
                    else:
                        stats.states += value.states
                else:
                    results[task] = str(value)
            say(f"{len(results)}/{len(tasks)} tasks done on Ray "
                f"({time.perf_counter() - begun:.0f}s)")  # fmt: skip
    finally:
        if started_here:
            ray.shutdown()
    return _assemble(checks, tasks, results), list(by_pid.values())
