"""``interrupt_main="anywhere"``: KeyboardInterrupt wherever CPython checks for signals."""

from __future__ import annotations

import signal
import sys
from typing import Any

from treadle import sync
from treadle_model import explore, replay


def _work() -> None:
    pass


class Owner:
    """Stores its worker's handle one instruction after spawn returns: a window."""

    def start(self) -> None:
        self.worker = sync.spawn(_work, name="worker")  # the window: after the call returns

    def join(self) -> None:
        if hasattr(self, "worker"):
            self.worker.join()


def window_between_spawn_and_store() -> None:
    owner = Owner()
    try:
        owner.start()
    finally:
        owner.join()


def no_window() -> None:
    # The handle is owned by the thread list before any check point can land:
    # the finally joins every thread spawned, whether or not start() stored it.
    spawned: list[Any] = []
    try:
        spawned.append(sync.spawn(_work, name="worker"))
    finally:
        for t in spawned:
            t.join()
        # (a KeyboardInterrupt after spawn returned but before append leaks:
        # shown by test_the_list_version_still_has_the_window)


def _note() -> None:
    pass


def torn_update() -> None:
    box = {"a": 0, "b": 0}
    try:
        box["a"] += 1
        _note()  # a call: CPython checks for signals when it returns
        box["b"] += 1
    except KeyboardInterrupt:
        assert box["a"] == box["b"], f"torn update: {box}"
        raise


def test_cheap_mode_misses_a_window_anywhere_finds_it() -> None:
    cheap = explore(torn_update, interrupt_main=True)
    assert cheap.ok and cheap.exhaustive

    report = explore(torn_update, interrupt_main="anywhere")
    assert not report.ok
    failure = report.failures[0]
    assert failure.kind == "exception"
    assert "KeyboardInterrupt was turned into another exception" in failure.message
    assert "AssertionError: torn update" in failure.message
    # the first window: _note's entry (after box["a"] += 1 and before box["b"] += 1)
    assert "test_interrupt_anywhere.py" in failure.message and "(in _note)" in failure.message
    assert failure.schedule.startswith("a")

    again = replay(torn_update, failure.schedule)
    assert [f.kind for f in again.failures] == ["exception"]
    assert "torn update" in again.failures[0].message


def test_anywhere_finds_the_spawn_then_store_window() -> None:
    report = explore(window_between_spawn_and_store, interrupt_main="anywhere")
    leaks = [f for f in report.failures if f.kind == "leaked_thread"]
    assert any("(in start)" in f.message for f in leaks), [f.message for f in leaks]
    cheap = explore(window_between_spawn_and_store, interrupt_main=True)
    assert not any("(in start)" in f.message for f in cheap.failures)


def test_the_list_version_still_has_the_window() -> None:
    report = explore(no_window, interrupt_main="anywhere")
    assert [f.kind for f in report.failures][:1] == ["leaked_thread"]


def _deferring_body() -> None:
    """A trio-style shield: SIGINT is recorded while the handle is stored, delivered after."""
    pending: list[int] = []

    def defer(signum: int, frame: object) -> None:
        pending.append(signum)

    spawned: list[Any] = []
    previous = signal.signal(signal.SIGINT, defer)
    try:
        spawned.append(sync.spawn(_work, name="worker"))
    finally:
        try:
            for t in spawned:
                t.join()  # still deferred: a Ctrl-C here does not cut the join short
        finally:
            # A KeyboardInterrupt can land inside signal.signal() once the
            # default handler is back: by then every thread is joined.
            signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def test_a_deferring_sigint_handler_is_honoured() -> None:
    before = signal.getsignal(signal.SIGINT)
    report = explore(_deferring_body, interrupt_main="anywhere")
    assert report.ok and report.exhaustive, report.failures[:1]
    assert signal.getsignal(signal.SIGINT) is before
    # more executions than without interrupts: the check points were explored
    assert report.executions > explore(_deferring_body).executions


def test_tracing_is_restored_after_the_exploration() -> None:
    before = sys.gettrace()

    def raises() -> None:
        sync.spawn(_work).join()
        raise ValueError("boom")

    report = explore(raises, interrupt_main="anywhere")
    assert report.failures[0].kind == "exception"
    assert sys.gettrace() is before
    explore(no_window, interrupt_main="anywhere")
    assert sys.gettrace() is before


def test_bad_interrupt_main_value() -> None:
    import pytest

    with pytest.raises(TypeError, match="interrupt_main must be True, False or 'anywhere'"):
        explore(no_window, interrupt_main="everywhere")


def test_the_first_exploration_in_a_process_is_deterministic() -> None:
    # The engine once imported its check-point tracer lazily, inside the
    # first execution: the import's module locks became scheduling points of
    # that execution only, and the next one "ran differently" (a bogus
    # nondeterminism report). Only a fresh process shows it.
    import subprocess
    import textwrap

    code = textwrap.dedent(
        """
        import treadle_model
        from treadle import WorkerPump

        def body():
            try:
                WorkerPump(capacity=1).run(lambda tx: tx.send(1), lambda item: None)
            except KeyboardInterrupt:
                pass

        r = treadle_model.explore(body, interrupt_main="anywhere", max_executions=300)
        assert r.ok, str(r)
        print("ok", r.executions)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok 300"), out.stdout


def _returns_inside_a_try(fn: Any) -> Any:
    try:
        return fn()
    except KeyboardInterrupt:
        return None


def test_no_point_after_a_call_whose_handler_the_next_instruction_lacks() -> None:
    # CPython raises "after the call returned" with the frame still at the
    # CALL, so the try's handler applies; the tracer can only raise at the
    # next instruction, which for ``return fn()`` in a try is outside it.
    # Raising there would skip an except CPython runs: a failure that
    # cannot happen. Such points are left out; the others stay.
    import dis

    from treadle_model._checkpoints import check_rules

    code = _returns_inside_a_try.__code__
    instructions = list(dis.get_instructions(code))
    rules = check_rules(code)
    calls = [i for i, ins in enumerate(instructions) if ins.opname == "CALL"]
    after_first_call = instructions[calls[0] + 1]
    listing = dis.Bytecode(code).dis()
    assert after_first_call.offset not in rules.at, listing
    assert after_first_call.offset not in rules.after, listing
    assert after_first_call.offset in rules.lost, listing

    def loop(fns: list[Any]) -> None:
        for fn in fns:
            fn()

    loop_rules = check_rules(loop.__code__)
    assert loop_rules.at or loop_rules.after, "a loop with calls has check points"


def _collects() -> None:
    import gc

    gc.collect()


def test_a_gc_callback_is_not_interrupted_like_a_finaliser() -> None:
    # gc.callbacks hooks (hypothesis registers one) run wherever a collection
    # happens, like finalisers: their check points would depend on gc timing.
    import gc

    def hook(phase: str, info: dict[str, int]) -> None:
        for _ in range(3):
            pass

    plain = explore(_collects, interrupt_main="anywhere")
    gc.callbacks.append(hook)
    try:
        hooked = explore(_collects, interrupt_main="anywhere")
    finally:
        gc.callbacks.remove(hook)
    plain.assert_ok()
    hooked.assert_ok()
    assert hooked.executions == plain.executions, (hooked.executions, plain.executions)
