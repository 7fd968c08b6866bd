"""KeyboardInterrupt at every signal check point of each public operation, on real threads.

For each operation in :data:`SCENARIOS`, the harness counts the check points
the main thread passes in treadle's own code, then reruns the operation once
per point with a ``KeyboardInterrupt`` raised there. After each run: the
exception is ``KeyboardInterrupt`` (or none), no thread the scenario started
is alive once ``after()`` has done what the API allows, nothing escaped a
thread, and the scenario's own promises (nothing lost or duplicated, the
object usable or cleanly closed) hold.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.interrupts.harness import Injected, run_traced, sweep
from tests.interrupts.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_check_point(name: str) -> None:
    result = sweep(name, SCENARIOS[name])
    assert result.points > 0, f"{name}: the tracer saw no check point at all"
    assert result.interrupted + result.completed == result.points
    assert result.failures == [], "\n".join(result.failures)


def test_the_harness_catches_a_handle_stored_after_a_check_point() -> None:
    # The window the library had: spawn returns, then an interrupt lands
    # before the handle is stored, so the clean-up has nothing to join.
    from treadle import sync

    release = threading.Event()
    holder: list[sync.Thread] = []

    def op() -> None:
        try:
            thread = sync.spawn(release.wait)
            holder.append(thread)
            release.set()
            thread.join()
        except BaseException:
            for t in holder:
                release.set()
                t.join()
            raise

    def scenario():  # type: ignore[no-untyped-def]
        release.clear()
        holder.clear()

        def after(error: BaseException | None, result: object) -> None:
            pass  # a leaked thread waits until the harness gives up on it

        return op, after

    try:
        result = sweep("broken", scenario, leak_grace=0.01)
    finally:
        release.set()
    for t in threading.enumerate():
        if t is not threading.main_thread():
            t.join(5)
    leaks = [f for f in result.failures if "threads alive" in f]
    assert leaks, result


def test_run_traced_raises_the_injected_interrupt_at_the_chosen_point() -> None:
    from treadle import Executor

    seen, error, _ = run_traced(lambda: Executor().join(), 3)
    assert isinstance(error, Injected) and seen >= 3


def test_an_interrupted_clone_never_strands_the_receiver() -> None:
    # clone() counts a new sender; an interrupt between the count and the
    # handle existing would leave a count no close ever gives back, and the
    # receiver would wait forever after every real sender closed.
    import gc
    import warnings

    from treadle.channel import Disconnected, Empty, channel

    def op_for(tx: Any) -> Callable[[], Any]:
        return lambda: tx.clone()

    tx, rx = channel(1)
    total, error, clone = run_traced(op_for(tx), 0)
    assert error is None and total > 0
    clone.close()
    tx.close()
    stranded = []
    # A clone made but never returned closes itself once collected (it
    # warns, like an unclosed file: the user never got it).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for n in range(1, total + 1):
            tx, rx = channel(1)
            _, error, clone = run_traced(op_for(tx), n)
            assert isinstance(error, (Injected, type(None))), error
            if clone is not None:
                clone.close()
            tx.close()
            error = clone = None
            gc.collect()
            try:
                rx.recv(timeout=5)
            except Disconnected:
                continue
            except Empty:
                stranded.append(n)
    assert stranded == [], f"receiver never disconnected after an interrupt at points {stranded}"


_FIRST_RUN = """
import os, sys
from tests.interrupts import harness
harness.REARM_OPCODE_TRACE = sys.argv[1] == "rearm"
source = (
    "def f(n):\\n    total = 0\\n    for i in range(n):\\n"
    "        total += abs(i)\\n    return total\\n"
)
namespace = {}
exec(compile(source, os.path.join(harness.TREADLE_DIR, "_fresh_code.py"), "exec"), namespace)
f = namespace["f"]
first = harness.run_traced(lambda: f(5), 0)[0]
second = harness.run_traced(lambda: f(5), 0)[0]
print(first, second)
"""


@pytest.mark.parametrize("mode", ["rearm", "no-rearm"])
def test_the_tracer_counts_a_first_run_fully(mode: str) -> None:
    # On 3.12 the first frame in a process to switch on f_trace_opcodes
    # gets opcode events only after sys.settrace runs again, so the sweep's
    # first count (in a fresh process, such as CI's) saw only the function
    # entries of the first operation. The tracer re-installs itself once per
    # new code object. In a fresh process each time:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FIRST_RUN, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert done.returncode == 0, done.stderr
    first, second = map(int, done.stdout.split())
    assert second > 10, second  # entry, 5 back-edges, 5 calls
    if mode == "rearm" or sys.version_info[:2] != (3, 12):
        assert first == second
    else:
        # The deliberately broken tracer: without the re-arm the first run
        # misses every opcode event on this interpreter.
        assert first < second, (first, second)
