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
