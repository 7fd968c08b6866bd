"""Real SIGINTs at random moments over every swept operation, in a child process.

The sweep (``test_every_check_point``) raises at each check point with a
tracer; this sends the real signal, so it also lands where the tracer does
not go: inside ``threading`` and blocking calls, in the middle of a wait.
Bounded: 25 runs per operation, from a fixed seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_real_sigints_at_random_moments_keep_every_promise() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.interrupts.real_sigint_child", "25", "7"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    failures = [f"{name}: {f}" for name, r in report.items() for f in r["failures"]]
    assert failures == [], "\n".join(failures)
    runs = sum(r["runs"] for r in report.values())
    interrupted = sum(r["interrupted"] for r in report.values())
    # The signals must really land inside the operations, not only around them.
    assert interrupted >= runs // 5, (interrupted, runs, report)
    assert report["pump.run"]["interrupted"] > 0 and report["runtime.shutdown"]["interrupted"] > 0
