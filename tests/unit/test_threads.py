"""spawn_thread (stack size, outcome) and the ref-counted ScopedSetting guard."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from treadle import sync
from treadle.threads import (
    DEFAULT_STACK_SIZE,
    ScopedSetting,
    join_through_interrupts,
    spawn_thread,
)

from ._stack import current_stack_size

TIMEOUT = 10.0


class SpawnRecorder(sync.ThreadingBackend):
    """The production backend, remembering the stack size of each spawn."""

    name = "spawn-recorder"

    def __init__(self) -> None:
        self.stack_sizes: list[int | None] = []

    def spawn(
        self,
        fn: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        stack_size: int | None,
    ) -> sync.Thread:
        self.stack_sizes.append(stack_size)
        return super().spawn(fn, args, kwargs, name, stack_size)


def test_default_stack_size_is_8_mib() -> None:
    assert DEFAULT_STACK_SIZE == 8 * 1024 * 1024


def test_spawn_thread_asks_the_backend_for_8_mib_by_default() -> None:
    backend = SpawnRecorder()
    with sync.using_backend(backend, observe_events=False):
        handle = spawn_thread(lambda: None)
    handle.join()
    assert backend.stack_sizes == [DEFAULT_STACK_SIZE]


def test_stack_size_is_actually_applied_to_the_os_thread() -> None:
    # glibc may hand a new thread a cached stack somewhat larger than asked
    # for (up to 4x), so check the ranges, which cannot overlap here.
    small = spawn_thread(current_stack_size, stack_size=256 * 1024)
    default = spawn_thread(current_stack_size)
    assert 256 * 1024 <= small.join() < DEFAULT_STACK_SIZE
    assert default.join() >= DEFAULT_STACK_SIZE


def test_spawn_thread_does_not_change_the_global_stack_size_setting() -> None:
    before = threading.stack_size()
    spawn_thread(lambda: None, stack_size=1024 * 1024).join()
    assert threading.stack_size() == before


def test_join_returns_the_functions_result_and_passes_arguments() -> None:
    handle = spawn_thread(lambda a, b=1: a * b, 6, b=7, name="multiplier")
    assert handle.name == "multiplier"
    assert handle.join() == 42
    assert handle.join() == 42
    assert not handle.is_alive()


def test_join_raises_the_functions_exception_every_time() -> None:
    boom = ValueError("boom")

    def fail() -> None:
        raise boom

    handle = spawn_thread(fail)
    for _ in range(2):
        with pytest.raises(ValueError, match="boom") as info:
            handle.join()
        assert info.value is boom


def test_exception_in_a_spawned_thread_does_not_reach_the_excepthook() -> None:
    seen: list[object] = []
    saved = sync.get_excepthook()
    sync.set_excepthook(seen.append)
    try:
        handle = spawn_thread(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            handle.join()
    finally:
        sync.set_excepthook(saved)
    assert seen == []


def test_join_with_a_timeout_raises_while_the_thread_runs() -> None:
    release = threading.Event()
    handle = spawn_thread(release.wait, TIMEOUT)
    with pytest.raises(TimeoutError, match="still running"):
        handle.join(timeout=0.01)
    release.set()
    assert handle.join() is True


def test_spawn_thread_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="callable"):
        spawn_thread(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="from 32768"):
        spawn_thread(lambda: None, stack_size=1024)
    with pytest.raises(TypeError, match="ScopedSetting"):
        spawn_thread(lambda: None, scoped=[object()])  # type: ignore[list-item]


def test_join_through_interrupts_finishes_the_join_then_reports_the_interrupt() -> None:
    release = threading.Event()
    thread = sync.spawn(release.wait, TIMEOUT)
    calls = 0

    class Interrupting:
        """A thread whose first join is interrupted, like Ctrl-C during join."""

        name = "interrupting"

        def join(self, timeout: float | None = None) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                release.set()
                raise KeyboardInterrupt
            thread.join()

        def is_alive(self) -> bool:
            return thread.is_alive()

    pending = join_through_interrupts(Interrupting())  # type: ignore[arg-type]
    assert isinstance(pending, KeyboardInterrupt)
    assert calls == 2
    assert not thread.is_alive()


# --- ScopedSetting ------------------------------------------------------------


class Global:
    """A stand-in for a process-global setting, recording every write."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.writes: list[int] = []
        self.lock = threading.Lock()

    def get(self) -> int:
        return self.value

    def set(self, value: int) -> None:
        with self.lock:
            self.value = value
            self.writes.append(value)


def test_scoped_setting_applies_and_restores() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1, name="limit")
    with setting as value:
        assert value == -1
        assert g.value == -1
        assert setting.statistics().active == 1
    assert g.value == 10
    assert g.writes == [-1, 10]
    assert setting.statistics().active == 0


def test_nested_guards_apply_once_and_the_outermost_restores() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1)
    with setting:
        with setting:
            assert setting.statistics().active == 2
            assert g.value == -1
        assert g.value == -1, "the inner guard must not restore while the outer is active"
    assert g.value == 10
    assert g.writes == [-1, 10]


def test_overlapping_guards_from_threads_restore_only_when_the_last_one_ends() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1)
    n = 8
    entered = threading.Barrier(n + 1)
    leave = [threading.Event() for _ in range(n)]
    left = [threading.Event() for _ in range(n)]

    def user(i: int) -> None:
        with setting:
            entered.wait(TIMEOUT)
            assert leave[i].wait(TIMEOUT)
        left[i].set()

    threads = [threading.Thread(target=user, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    entered.wait(TIMEOUT)
    assert setting.statistics().active == n
    for i in range(n - 1):
        leave[i].set()
        assert left[i].wait(TIMEOUT)
        assert g.value == -1, f"restored after {i + 1} of {n} users left"
    leave[n - 1].set()
    for t in threads:
        t.join(TIMEOUT)
    assert g.value == 10
    assert g.writes == [-1, 10]
    assert setting.statistics().times_applied == 1


def test_a_later_first_user_saves_the_current_original_again() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1)
    with setting:
        pass
    g.set(20)
    with setting:
        assert g.value == -1
    assert g.value == 20
    assert setting.statistics().times_applied == 2


def test_guard_restores_when_the_body_raises() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1)
    with pytest.raises(KeyError), setting:
        raise KeyError("x")
    assert g.value == 10


def test_failed_apply_does_not_count_the_user_in() -> None:
    def broken_set(value: int) -> None:
        raise OSError("cannot set")

    setting = ScopedSetting(lambda: 1, broken_set, 2)
    with pytest.raises(OSError, match="cannot set"), setting:
        pass
    assert setting.statistics().active == 0


def test_leaving_more_often_than_entering_is_an_error() -> None:
    g = Global(1)
    setting = ScopedSetting(g.get, g.set, 2)
    with pytest.raises(RuntimeError, match="more times than it was entered"):
        setting.__exit__(None, None, None)


def test_spawn_thread_enters_scoped_settings_around_the_function() -> None:
    g = Global(10)
    setting = ScopedSetting(g.get, g.set, -1)
    handle = spawn_thread(lambda: g.value, scoped=[setting])
    assert handle.join() == -1
    assert g.value == 10


def test_scoped_setting_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="callable"):
        ScopedSetting(1, print, 2)  # type: ignore[arg-type]


def test_join_through_interrupts_holds_back_cpythons_interrupted_join_race() -> None:
    # CPython <= 3.12: an interrupt in Thread.join as the thread exits makes
    # join's clean-up raise "release unlocked lock" while handling it. That
    # is the interrupt: held back, the join retried.
    import os

    from treadle.threads import join_through_interrupts

    fake_threading = os.path.join(os.path.dirname(threading.__file__), "threading.py")
    code = compile(
        "def join(state):\n"
        "    state['calls'] += 1\n"
        "    if state['calls'] == 1:\n"
        "        try:\n"
        "            raise KeyboardInterrupt\n"
        "        except KeyboardInterrupt:\n"
        "            raise RuntimeError('release unlocked lock')\n",
        fake_threading,
        "exec",
    )
    namespace: dict[str, Any] = {}
    exec(code, namespace)

    class RacyJoin:
        def __init__(self) -> None:
            self.state = {"calls": 0}

        def join(self) -> None:
            namespace["join"](self.state)

    racy = RacyJoin()
    held = join_through_interrupts(racy)  # type: ignore[arg-type]
    assert isinstance(held, KeyboardInterrupt)
    assert racy.state["calls"] == 2

    class OtherError:
        def join(self) -> None:
            raise RuntimeError("not an interrupted join")

    with pytest.raises(RuntimeError, match="not an interrupted join"):
        join_through_interrupts(OtherError())  # type: ignore[arg-type]
