"""``treadle check --jobs N``: the serial run's results on N processes; dead workers reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from treadle_verify.protocols import PROTOCOLS
from treadle_verify.protocols._parallel import plan, run_parallel
from treadle_verify.protocols._run import load_all, run_protocol


def _summary(results: list[Any]) -> list[Any]:
    """Everything but timings."""
    out = []
    for r in results:
        out.append(
            (
                r.name,
                r.error,
                [(s.constants, s.states, s.transitions, s.depth, s.violations) for s in r.specs],
                [
                    (s.name, s.executions, s.redundant, s.exhaustive,
                     [(f.kind, f.schedule) for f in s.failures])
                    for s in r.scenarios
                ],
            )
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def serial() -> list[Any]:
    return [run_protocol(c, "quick") for c in load_all(PROTOCOLS)]


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_parallel_results_equal_the_serial_run(serial: list[Any], jobs: int) -> None:
    results, workers = run_parallel(list(PROTOCOLS), "quick", jobs=jobs)
    assert _summary(results) == _summary(serial)
    assert all(r.ok for r in results)
    assert len(workers) == jobs and not any(w.died for w in workers)
    assert sum(w.tasks for w in workers) == len(plan(PROTOCOLS, "quick", spec=True,
                                                      scenarios=True, only=()))  # fmt: skip
    assert sum(w.executions for w in workers) == sum(r.executions for r in serial)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadle_verify.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_a_killed_worker_fails_the_run_naming_its_task() -> None:
    task = "pump: scenario capacity=1 items=2"
    done = _cli("pump", "--quick", "--jobs", "2", "--json", env={"TREADLE_TEST_KILL_TASK": task})
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is False
    error = doc["protocols"][0]["error"]
    assert task in error and "killed by SIGKILL" in error
    died = [w for w in doc["workers"] if w["died"]]
    assert len(died) == 1 and task in died[0]["died"]
    # the other tasks still ran, on the replacement worker among others
    names = [s["name"] for s in doc["protocols"][0]["scenarios"]]
    assert "capacity=1 items=2" not in names and "capacity=0 items=1" in names


@pytest.mark.parametrize("bad", ["-1", "two"])
def test_bad_jobs_is_a_usage_error(bad: str) -> None:
    done = _cli("pump", "--quick", "--jobs", bad)
    assert done.returncode == 2
    assert "--jobs" in done.stderr
