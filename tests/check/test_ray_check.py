"""``treadle check --ray local``: a real local Ray cluster gives the serial run's results.

Ray is the optional ``cluster`` extra for users, and part of ``dev``: the tests
always run, each starting (and stopping) a real local cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

if importlib.util.find_spec("ray") is None:
    raise RuntimeError("the tests need ray: pip install -e '.[dev]'")


def _check(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    done = subprocess.run(
        [sys.executable, "-m", "treadle_verify.cli", "check", "--quick", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def _summary(doc: Any) -> Any:
    return [
        (
            p["protocol"],
            p["ok"],
            p["spec_states"],
            p["impl_executions"],
            [(s["constants"], s["states"], s["depth"]) for s in p["specs"]],
            [(s["name"], s["executions"], s["redundant"], s["exhaustive"]) for s in p["scenarios"]],
        )
        for p in doc["protocols"]
    ]


def test_ray_local_cluster_results_equal_the_serial_run() -> None:
    rc_serial, serial, _ = _check()
    rc_ray, on_ray, err = _check("--ray", "local", "--jobs", "2")
    assert rc_serial == 0 and rc_ray == 0, err
    assert _summary(on_ray) == _summary(serial)
    assert sum(w["tasks"] for w in on_ray["workers"]) == sum(
        len(p["specs"]) + len(p["scenarios"]) for p in serial["protocols"]
    )


def test_a_killed_ray_worker_fails_the_run_naming_its_task() -> None:
    task = "pump: scenario capacity=1 items=2"
    rc, doc, _ = _check("pump", "--ray", "local", "--jobs", "2",
                        env={"TREADLE_TEST_KILL_TASK": task})  # fmt: skip
    assert rc == 1 and doc["ok"] is False
    error = doc["protocols"][0]["error"]
    assert task in error and "WorkerCrashedError" in error
