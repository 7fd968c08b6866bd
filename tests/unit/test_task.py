"""Cancellable tasks and their C-style handle API (seed: ffi-task)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from treadle import sync
from treadle.task import (
    PENDING,
    CancellationToken,
    Cancelled,
    TaskExports,
    TaskHandle,
    clear_last_error,
    export_task,
    last_error_length,
    last_error_message,
    spawn,
)

TIMEOUT = 10.0


class Spin:
    """The seed's task: count until cancelled, return the count."""

    def __init__(self) -> None:
        self.spins = 0

    def run(self, token: CancellationToken) -> int:
        spins = 0
        while not token.cancelled():
            sync.sleep(0.001)  # the spin's work
            spins += 1
            self.spins = spins
        return spins


class Oops:
    def run(self, token: CancellationToken) -> int:
        raise ValueError("Oops")


class Gate:
    """Blocks until released (or cancelled); returns what it was given."""

    def __init__(self, value: object = None) -> None:
        self.value = value
        self.release = threading.Event()
        self.started = threading.Event()

    def run(self, token: CancellationToken) -> object:
        self.started.set()
        while not self.release.wait(0.01):
            token.raise_if_cancelled()
        return self.value


@pytest.fixture(autouse=True)
def fresh_last_error() -> Iterator[None]:
    clear_last_error()
    yield
    clear_last_error()


# --- TaskHandle -------------------------------------------------------------


def test_spinning_task_polled_ten_times_stays_pending_then_cancel_and_wait() -> None:
    task = Spin()
    with spawn(task) as handle:
        for _ in range(10):
            assert handle.poll() is PENDING
        assert not handle.done()
        assert not handle.cancelled()
        seen_before_cancel = task.spins
        handle.cancel()
        assert handle.cancelled()
        spins = handle.wait(timeout=TIMEOUT)
    assert spins >= seen_before_cancel
    assert spins == task.spins, "wait returns the number of spins the task made"
    assert handle.done()


def test_task_returning_none_is_distinguishable_from_pending() -> None:
    gate = Gate(None)
    with spawn(gate) as handle:
        assert handle.poll() is PENDING
        gate.release.set()
        assert handle.wait(timeout=TIMEOUT) is None
        assert handle.poll() is None


def test_a_second_poll_after_the_result_was_taken_returns_the_same_result() -> None:
    result = ["the", "result"]
    gate = Gate(result)
    gate.release.set()
    with spawn(gate) as handle:
        handle.wait(timeout=TIMEOUT)
        assert handle.poll() is result
        assert handle.poll() is result
        assert handle.wait() is result


def test_task_error_surfaces_with_its_message_on_every_poll_and_wait() -> None:
    with spawn(Oops()) as handle:
        with pytest.raises(ValueError, match="Oops") as first:
            handle.wait(timeout=TIMEOUT)
        with pytest.raises(ValueError, match="Oops") as again:
            handle.poll()
        assert again.value is first.value


def test_cancel_is_sticky_and_idempotent() -> None:
    gate = Gate()
    with spawn(gate) as handle:
        handle.cancel()
        handle.cancel()
        assert handle.cancelled()
        with pytest.raises(Cancelled):
            handle.wait(timeout=TIMEOUT)
        handle.cancel()
        assert handle.cancelled()


def test_close_cancels_and_joins_the_thread() -> None:
    gate = Gate()
    handle = spawn(gate, name="closing-task")
    assert gate.started.wait(TIMEOUT)
    assert any(t.name == "closing-task" for t in threading.enumerate())
    handle.close()
    assert handle.cancelled()
    assert not any(t.name == "closing-task" for t in threading.enumerate())
    handle.close()  # idempotent
    with pytest.raises(Cancelled):
        handle.poll()


def test_close_from_several_threads_all_return_after_the_join() -> None:
    gate = Gate()
    handle = spawn(gate, name="shared")
    assert gate.started.wait(TIMEOUT)
    alive_after: list[bool] = []

    def closer() -> None:
        handle.close()
        alive_after.append(any(t.name == "shared" for t in threading.enumerate()))

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert alive_after == [False] * 4


def test_wait_with_a_timeout_raises_timeout_error_while_running() -> None:
    gate = Gate(5)
    with spawn(gate) as handle:
        with pytest.raises(TimeoutError, match="still running"):
            handle.wait(timeout=0.01)
        gate.release.set()
        assert handle.wait(timeout=TIMEOUT) == 5


def test_wait_rejects_a_bad_timeout() -> None:
    with spawn(Gate()) as handle:
        with pytest.raises(ValueError, match="non-negative"):
            handle.wait(timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            handle.wait(timeout="soon")  # type: ignore[arg-type]


def test_a_plain_function_of_the_token_is_a_task() -> None:
    def count_to_three(token: CancellationToken) -> int:
        return 3

    with spawn(count_to_three) as handle:
        assert handle.wait(timeout=TIMEOUT) == 3


def test_spawn_rejects_something_that_is_not_a_task() -> None:
    with pytest.raises(TypeError, match="run"):
        spawn(42)  # type: ignore[arg-type]


def test_token_wait_returns_early_on_cancel() -> None:
    token = CancellationToken()
    assert token.wait(0.001) is False
    token.cancel()
    assert token.wait(TIMEOUT) is True
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_task_sees_the_handle_token() -> None:
    seen: list[CancellationToken] = []
    with spawn(seen.append) as handle:
        handle.wait(timeout=TIMEOUT)
    assert seen == [handle.token]


def test_keyboard_interrupt_during_close_still_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    handle: TaskHandle[object] = spawn(gate, name="interrupted-close")
    assert gate.started.wait(TIMEOUT)
    real_join = handle._thread.thread.join
    calls = 0

    def interrupted_join(timeout: float | None = None) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt
        real_join(timeout)

    monkeypatch.setattr(handle._thread.thread, "join", interrupted_join)
    with pytest.raises(KeyboardInterrupt):
        handle.close()
    assert calls == 2
    assert not any(t.name == "interrupted-close" for t in threading.enumerate())


# --- the C-style surface ------------------------------------------------------


@pytest.fixture
def spin_api() -> Iterator[TaskExports[int]]:
    with export_task(Spin) as api:
        yield api
        stats = api.statistics()
        assert (stats.live_handles, stats.live_results) == (0, 0), "test leaked handles"


def test_c_surface_flow_like_the_seed(spin_api: TaskExports[int]) -> None:
    handle = spin_api.spawn(Spin())
    assert isinstance(handle, int)
    assert spin_api.cancelled(handle) == 0
    clear_last_error()
    assert spin_api.poll(handle) is None
    assert last_error_length() == 0, "a pending poll sets no error"
    spin_api.cancel(handle)
    assert spin_api.cancelled(handle) == 1
    got = spin_api.wait(handle)
    assert last_error_length() == 0
    assert got is not None
    assert isinstance(spin_api.result_value(got), int)
    spin_api.result_destroy(got)
    assert last_error_length() == 0
    assert spin_api.statistics().live_handles == 0, "wait frees the handle"


def test_c_surface_task_error_becomes_the_last_error() -> None:
    with export_task(Oops) as api:
        handle = api.spawn(Oops())
        assert api.wait(handle) is None
        assert last_error_message() == "Oops"
        assert last_error_length() == len(b"Oops") + 1
        assert api.statistics().live_handles == 0


def test_c_surface_poll_after_finishing_gives_a_fresh_result_each_time() -> None:
    with export_task(Gate) as api:
        gate = Gate("value")
        gate.release.set()
        handle = api.spawn(gate)
        results: list[int] = []
        deadline = time.monotonic() + TIMEOUT
        while not results:
            assert time.monotonic() < deadline
            r = api.poll(handle)
            if r is not None:
                results.append(r)
            else:
                time.sleep(0.001)
        again = api.poll(handle)
        assert again is not None and again != results[0]
        assert api.result_value(results[0]) == api.result_value(again) == "value"
        api.result_destroy(results[0])
        api.result_destroy(again)
        api.handle_destroy(handle)
        assert last_error_length() == 0


def test_last_error_length_counts_utf8_bytes_plus_nul() -> None:
    class Unicode:
        def run(self, token: CancellationToken) -> None:
            raise RuntimeError("héllo ✓")

    with export_task(Unicode) as api:
        assert api.wait(api.spawn(Unicode())) is None
    assert last_error_message() == "héllo ✓"
    assert last_error_length() == len("héllo ✓".encode()) + 1


def test_last_error_is_thread_local() -> None:
    with export_task(Spin) as api:
        api.poll(None)
        assert last_error_length() > 0
        other: list[int] = []
        t = threading.Thread(target=lambda: other.append(last_error_length()))
        t.start()
        t.join(TIMEOUT)
        assert other == [0]


@pytest.mark.parametrize(
    ("misuse", "fragment"),
    [
        (lambda api, h, r: api.poll(None), "None"),
        (lambda api, h, r: api.poll("3"), "is an int"),
        (lambda api, h, r: api.poll(True), "is an int"),
        (lambda api, h, r: api.poll(999), "unknown task handle 999"),
        (lambda api, h, r: api.poll(h), "already freed"),
        (lambda api, h, r: api.wait(h), "already freed"),
        (lambda api, h, r: api.cancel(h), "already freed"),
        (lambda api, h, r: api.cancelled(h), "already freed"),
        (lambda api, h, r: api.handle_destroy(h), "already freed"),
        (lambda api, h, r: api.poll(r), "is a result handle"),
        (lambda api, h, r: api.result_destroy(h), "is a task handle"),
        (lambda api, h, r: api.result_destroy(None), "None"),
        (lambda api, h, r: api.spawn(object()), "expected a Spin instance"),
        (lambda api, h, r: api.spawn(None), "expected a Spin instance"),
    ],
)
def test_c_surface_misuse_sets_a_clear_error_and_returns_null(
    spin_api: TaskExports[int], misuse: object, fragment: str
) -> None:
    handle = spin_api.spawn(Spin())
    spin_api.cancel(handle)
    result = spin_api.wait(handle)  # frees the handle
    assert result is not None
    clear_last_error()
    assert misuse(spin_api, handle, result) is None  # type: ignore[operator]
    message = last_error_message()
    assert message is not None and fragment in message
    assert message.startswith("Spin_")
    spin_api.result_destroy(result)


def test_double_result_destroy_is_reported(spin_api: TaskExports[int]) -> None:
    handle = spin_api.spawn(Spin())
    spin_api.cancel(handle)
    result = spin_api.wait(handle)
    spin_api.result_destroy(result)
    assert last_error_length() == 0
    spin_api.result_destroy(result)
    assert "already freed" in (last_error_message() or "")
    assert spin_api.result_value(result) is None


def test_destroy_after_destroy_is_reported(spin_api: TaskExports[int]) -> None:
    handle = spin_api.spawn(Spin())
    spin_api.handle_destroy(handle)
    assert last_error_length() == 0
    spin_api.handle_destroy(handle)
    assert "already freed" in (last_error_message() or "")


def test_destroying_a_running_handle_cancels_and_joins(spin_api: TaskExports[int]) -> None:
    before = set(threading.enumerate())
    handles = [spin_api.spawn(Spin()) for _ in range(4)]
    assert len(set(threading.enumerate()) - before) == 4
    for h in handles:
        spin_api.handle_destroy(h)
    assert set(threading.enumerate()) <= before


def test_destroy_or_wait_on_a_handle_another_thread_waits_on_is_refused() -> None:
    gate = Gate("x")
    with export_task(Gate) as api:
        handle = api.spawn(gate)
        assert gate.started.wait(TIMEOUT)
        got: list[object] = []
        waiter = threading.Thread(target=lambda: got.append(api.wait(handle)))
        waiter.start()
        deadline = time.monotonic() + TIMEOUT
        while api.statistics().waits_in_progress == 0:
            assert time.monotonic() < deadline, "the waiter never started waiting"
            time.sleep(0.001)
        api.handle_destroy(handle)
        assert "being waited for" in (last_error_message() or "")
        assert api.wait(handle) is None
        assert "already being waited for" in (last_error_message() or "")
        # cancel and poll still work while another thread waits
        assert api.cancelled(handle) == 0
        gate.release.set()
        waiter.join(TIMEOUT)
        assert got[0] is not None
        assert api.result_value(got[0]) == "x"
        api.result_destroy(got[0])


def test_close_destroys_every_live_handle_and_result() -> None:
    api = export_task(Spin)
    before = set(threading.enumerate())
    handles = [api.spawn(Spin()) for _ in range(3)]
    api.cancel(handles[0])
    result = api.wait(handles[0])
    assert result is not None
    api.close()
    assert set(threading.enumerate()) <= before
    stats = api.statistics()
    assert (stats.live_handles, stats.live_results) == (0, 0)
    api.poll(handles[1])
    assert "already freed" in (last_error_message() or "")


def test_export_task_rejects_a_non_task_type() -> None:
    with pytest.raises(TypeError, match="run"):
        export_task(int)  # type: ignore[arg-type]


class RaisesWhenCancelled:
    def __init__(self) -> None:
        self.started = threading.Event()

    def run(self, token: CancellationToken) -> None:
        self.started.set()
        token.wait(TIMEOUT)
        token.raise_if_cancelled()


def test_c_surface_cancelled_wait_error_has_the_api_prefix() -> None:
    with export_task(RaisesWhenCancelled) as api:
        task = RaisesWhenCancelled()
        handle = api.spawn(task)
        assert task.started.wait(TIMEOUT)
        api.cancel(handle)
        clear_last_error()
        assert api.wait(handle) is None
        message = last_error_message()
        prefix = f"RaisesWhenCancelled_wait(): task handle {handle}: "
        assert message == prefix + "the task was cancelled"
