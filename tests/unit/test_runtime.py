"""Runtime: main thread + one worker, call routing, and the shutdown protocol.

Ports the seed's tests (thread-safety-and-shutdown) and pins treadle's
fixes: the previous exception hook is restored, every thread is joined before
shutdown returns, interrupts on main never wedge the runtime.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from treadle import sync
from treadle.runtime import (
    JobAbandoned,
    MainThreadCallError,
    NotInitializedError,
    Runtime,
    RuntimeClosedError,
    WrongThreadError,
)
from treadle.threads import DEFAULT_STACK_SIZE

from ._signals import interrupt_main_while_it_waits, wait_until
from ._stack import current_stack_size

TIMEOUT = 10.0


@pytest.fixture
def rt() -> Iterator[Runtime]:
    runtime = Runtime(name="test-rt")
    runtime.init()
    try:
        yield runtime
    finally:
        runtime.shutdown()


class Recorder:
    """A thread-exception hook that records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[BaseException | None] = []

    def __call__(self, args: Any) -> None:
        self.seen.append(args.exc_value)


@pytest.fixture
def previous_hook() -> Iterator[Recorder]:
    saved = sync.get_excepthook()
    recorder = Recorder()
    sync.set_excepthook(recorder)
    try:
        yield recorder
    finally:
        sync.set_excepthook(saved)


# --- before init / init -----------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.run_on_worker(lambda: 1),
        lambda rt: rt.call_on_main(lambda: 1),
        lambda rt: rt.is_main_thread(),
        lambda rt: rt.main_thread_only(lambda: 1)(),
    ],
    ids=["run_on_worker", "call_on_main", "is_main_thread", "main_thread_only"],
)
def test_calls_before_init_fail_with_a_message_naming_init(
    call: Callable[[Runtime], object],
) -> None:
    runtime = Runtime()
    with pytest.raises(NotInitializedError, match=r"init\(\)"):
        call(runtime)


def test_shutdown_before_init_does_nothing_and_init_still_works() -> None:
    runtime = Runtime()
    runtime.shutdown()
    assert runtime.statistics().state == "new"
    with runtime:
        assert runtime.run_on_worker(lambda: 7) == 7


def test_init_is_idempotent_on_the_main_thread(rt: Runtime) -> None:
    rt.init()
    rt.init()
    assert rt.statistics().state == "running"
    assert rt.run_on_worker(lambda: "ok") == "ok"


def test_init_from_another_thread_fails_clearly(rt: Runtime) -> None:
    errors: list[BaseException] = []

    def stray() -> None:
        try:
            rt.init()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=stray, name="stray-init")
    t.start()
    t.join(TIMEOUT)
    assert len(errors) == 1
    assert isinstance(errors[0], WrongThreadError)
    assert "stray-init" in str(errors[0])
    assert "idempotent only on the main thread" in str(errors[0])


def test_init_after_shutdown_fails_clearly() -> None:
    runtime = Runtime()
    runtime.init()
    runtime.shutdown()
    with pytest.raises(RuntimeClosedError, match="create a new Runtime"):
        runtime.init()


def test_is_main_thread_is_true_on_main_and_false_on_the_worker(rt: Runtime) -> None:
    assert rt.is_main_thread()
    assert rt.run_on_worker(rt.is_main_thread) is False


# --- jobs and routing ---------------------------------------------------------


def test_job_runs_on_the_worker_thread_not_on_main(rt: Runtime) -> None:
    name = rt.run_on_worker(lambda: threading.current_thread().name)
    assert name == "test-rt-worker"
    assert name != threading.current_thread().name


def test_run_on_worker_passes_arguments(rt: Runtime) -> None:
    def minus(a: int, b: int = 0) -> int:
        return a - b

    assert rt.run_on_worker(minus, 10, b=3) == 7


def test_call_on_main_from_the_worker_runs_on_main(rt: Runtime) -> None:
    main = threading.current_thread()

    def job() -> bool:
        return rt.call_on_main(lambda: threading.current_thread() is main)

    assert rt.run_on_worker(job) is True


def test_call_on_main_on_main_runs_inline(rt: Runtime) -> None:
    assert rt.call_on_main(lambda x: x + 1, 1) == 2
    assert rt.statistics().main_calls == 0


def test_main_thread_only_decorator_keeps_the_name_and_routes(rt: Runtime) -> None:
    @rt.main_thread_only
    def where(tag: str) -> tuple[str, str]:
        return tag, threading.current_thread().name

    assert where.__name__ == "where"
    main_name = threading.current_thread().name
    assert where("inline") == ("inline", main_name)
    assert rt.run_on_worker(lambda: where("routed")) == ("routed", main_name)


def test_512_round_trips_sum_correctly(rt: Runtime) -> None:
    def round_trip(i: int) -> int:
        return rt.call_on_main(lambda: i) + 1

    total = 0
    for i in range(512):
        total += rt.run_on_worker(round_trip, i)
    assert total == sum(range(512)) + 512
    stats = rt.statistics()
    assert stats.jobs_completed == 512
    assert stats.main_calls == 512


def test_many_main_calls_from_one_job_arrive_in_order(rt: Runtime) -> None:
    seen: list[int] = []

    def job() -> int:
        for i in range(200):
            rt.call_on_main(seen.append, i)
        return len(seen)

    assert rt.run_on_worker(job) == 200
    assert seen == list(range(200))


def test_reentrant_run_on_worker_from_a_job_fails_without_deadlock(rt: Runtime) -> None:
    def job() -> str:
        try:
            rt.run_on_worker(lambda: "never")
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    message = rt.run_on_worker(job)
    assert "re-entrantly" in message
    assert "worker" in message
    assert rt.run_on_worker(lambda: 5) == 5


def test_reentrant_run_on_worker_from_a_main_side_call_fails_without_deadlock(
    rt: Runtime,
) -> None:
    def job() -> BaseException | None:
        try:
            rt.call_on_main(rt.run_on_worker, lambda: "never")
        except MainThreadCallError as exc:
            return exc.__cause__
        return None

    cause = rt.run_on_worker(job)
    assert isinstance(cause, RuntimeError)
    assert "re-entrantly on the main thread" in str(cause)
    assert rt.run_on_worker(lambda: 6) == 6


def test_sixteen_stray_threads_get_the_clear_error_and_the_runtime_keeps_working(
    rt: Runtime,
) -> None:
    @rt.main_thread_only
    def main_only() -> int:
        return 1

    errors: list[BaseException | None] = [None] * 16
    start = threading.Barrier(16)

    def stray(i: int) -> None:
        start.wait(TIMEOUT)
        try:
            main_only()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=stray, args=(i,), name=f"stray-{i}") for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    for i, exc in enumerate(errors):
        assert isinstance(exc, WrongThreadError)
        assert f"stray-{i}" in str(exc)
        assert "neither the main thread" in str(exc)
    assert rt.run_on_worker(lambda: main_only() + main_only()) == 2


def test_thread_started_by_a_job_cannot_reach_main(rt: Runtime) -> None:
    def job() -> BaseException | None:
        caught: list[BaseException] = []

        def inner() -> None:
            try:
                rt.call_on_main(lambda: None)
            except BaseException as exc:
                caught.append(exc)

        t = threading.Thread(target=inner, name="job-child")
        t.start()
        t.join(TIMEOUT)
        return caught[0] if caught else None

    exc = rt.run_on_worker(job)
    assert isinstance(exc, WrongThreadError)


def test_stray_thread_cannot_send_jobs(rt: Runtime) -> None:
    caught: list[BaseException] = []

    def stray() -> None:
        try:
            rt.run_on_worker(lambda: 1)
        except BaseException as exc:
            caught.append(exc)

    t = threading.Thread(target=stray, name="stray-sender")
    t.start()
    t.join(TIMEOUT)
    assert isinstance(caught[0], WrongThreadError)
    assert "only the main thread" in str(caught[0])


# --- errors -------------------------------------------------------------------


def test_main_side_and_worker_side_exceptions_are_delivered_with_their_messages(
    rt: Runtime,
) -> None:
    def main_side() -> None:
        raise ValueError("main-side boom")

    def job() -> str:
        try:
            rt.call_on_main(main_side)
        except MainThreadCallError as exc:
            assert isinstance(exc.__cause__, ValueError)
            return str(exc)
        return "no error"

    message = rt.run_on_worker(job)
    assert "main-side boom" in message
    assert "ValueError" in message

    def failing_job() -> None:
        raise KeyError("worker-side boom")

    with pytest.raises(KeyError, match="worker-side boom"):
        rt.run_on_worker(failing_job)


def test_worker_is_reusable_after_a_main_side_exception(rt: Runtime) -> None:
    def job() -> None:
        rt.call_on_main(lambda: 1 / 0)

    with pytest.raises(MainThreadCallError, match="ZeroDivisionError") as info:
        rt.run_on_worker(job)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert rt.run_on_worker(lambda: rt.call_on_main(lambda: 41) + 1) == 42


def test_worker_is_reusable_after_a_job_exception(rt: Runtime) -> None:
    def failing() -> None:
        raise RuntimeError("job failed")

    for _ in range(5):
        with pytest.raises(RuntimeError, match="job failed"):
            rt.run_on_worker(failing)
    assert rt.run_on_worker(lambda: "still here") == "still here"


# --- shutdown -----------------------------------------------------------------


def test_shutdown_from_another_thread_waits_for_the_running_job() -> None:
    runtime = Runtime()
    runtime.init()
    started = threading.Event()
    finished = threading.Event()
    observed: list[bool] = []

    def job() -> str:
        started.set()
        time.sleep(0.3)  # the job's work, not an ordering device
        finished.set()
        return "result"

    def shut() -> None:
        assert started.wait(TIMEOUT)
        runtime.shutdown()
        observed.append(finished.is_set())

    t = threading.Thread(target=shut, name="shutter")
    t.start()
    try:
        assert runtime.run_on_worker(job) == "result"
    finally:
        t.join(TIMEOUT)
    assert observed == [True], "shutdown returned before the in-flight job finished"
    stats = runtime.statistics()
    assert stats.state == "shut_down"
    assert not stats.worker_alive
    t0 = time.monotonic()
    runtime.shutdown()
    assert time.monotonic() - t0 < 0.05, "a second shutdown must return at once"


def test_no_runtime_thread_is_alive_after_shutdown() -> None:
    before = set(threading.enumerate())
    runtime = Runtime(name="alive-check")
    runtime.init()
    runtime.run_on_worker(lambda: None)
    assert any(t.name == "alive-check-worker" for t in threading.enumerate())
    runtime.shutdown()
    assert set(threading.enumerate()) <= before


def test_shutdown_restores_the_previous_hook_not_the_default(previous_hook: Recorder) -> None:
    runtime = Runtime()
    runtime.init()
    assert sync.get_excepthook() is not previous_hook
    runtime.shutdown()
    assert sync.get_excepthook() is previous_hook
    assert threading.excepthook is not threading.__excepthook__


def test_installed_hook_counts_thread_exceptions_and_forwards_them(
    previous_hook: Recorder,
) -> None:
    with Runtime() as runtime:
        t = threading.Thread(target=lambda: 1 / 0, name="crasher")
        t.start()
        t.join(TIMEOUT)
        assert runtime.statistics().thread_exceptions == 1
    assert len(previous_hook.seen) == 1
    assert isinstance(previous_hook.seen[0], ZeroDivisionError)


def test_shutdown_leaves_a_hook_installed_over_ours_in_place(previous_hook: Recorder) -> None:
    runtime = Runtime()
    runtime.init()
    theirs = Recorder()
    sync.set_excepthook(theirs)
    runtime.shutdown()
    assert sync.get_excepthook() is theirs


def test_run_on_worker_after_shutdown_fails_clearly() -> None:
    runtime = Runtime()
    runtime.init()
    runtime.shutdown()
    with pytest.raises(RuntimeClosedError, match="after shutdown"):
        runtime.run_on_worker(lambda: 1)
    with pytest.raises(RuntimeClosedError):
        runtime.call_on_main(lambda: 1)


def test_shutdown_inside_a_job_fails_instead_of_deadlocking(rt: Runtime) -> None:
    def job() -> str:
        try:
            rt.shutdown()
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "cannot join itself" in rt.run_on_worker(job)

    def main_side_shutdown() -> str:
        try:
            rt.call_on_main(rt.shutdown)
        except MainThreadCallError as exc:
            return str(exc.__cause__)
        return "no error"

    assert "after run_on_worker() returns" in rt.run_on_worker(main_side_shutdown)
    assert rt.statistics().state == "running"


def test_concurrent_shutdowns_all_return_after_the_worker_is_joined() -> None:
    runtime = Runtime(name="many-shutdowns")
    runtime.init()
    release = threading.Event()
    started = threading.Event()
    alive_after: list[bool] = []

    def job() -> int:
        started.set()
        assert release.wait(TIMEOUT)
        return 3

    def shut() -> None:
        runtime.shutdown()
        alive_after.append(runtime.statistics().worker_alive)

    result: list[int] = []
    shutters = [threading.Thread(target=shut, name=f"shutter-{i}") for i in range(4)]

    def run_job() -> None:
        assert started.wait(TIMEOUT)
        for t in shutters:
            t.start()
        wait_until(lambda: runtime.statistics().state == "shutting_down", "shutdown to start")
        release.set()

    helper = threading.Thread(target=run_job, name="starter")
    helper.start()
    result.append(runtime.run_on_worker(job))
    helper.join(TIMEOUT)
    for t in shutters:
        t.join(TIMEOUT)
    assert result == [3]
    assert alive_after == [False] * 4


def test_job_sent_while_shutting_down_is_refused() -> None:
    runtime = Runtime()
    runtime.init()
    started = threading.Event()
    release = threading.Event()

    def job() -> None:
        started.set()
        assert release.wait(TIMEOUT)

    def shut() -> None:
        assert started.wait(TIMEOUT)
        runtime.shutdown()

    t = threading.Thread(target=shut)
    t.start()

    def releaser() -> None:
        wait_until(lambda: runtime.statistics().state == "shutting_down", "shutdown to start")
        release.set()

    r = threading.Thread(target=releaser)
    r.start()
    runtime.run_on_worker(job)
    r.join(TIMEOUT)
    t.join(TIMEOUT)
    with pytest.raises(RuntimeClosedError):
        runtime.run_on_worker(lambda: 1)


def test_context_manager_inits_and_shuts_down() -> None:
    with Runtime() as runtime:
        assert runtime.statistics().state == "running"
        assert runtime.run_on_worker(lambda: 1) == 1
    stats = runtime.statistics()
    assert stats.state == "shut_down"
    assert not stats.worker_alive


# --- interrupts ---------------------------------------------------------------


def test_keyboard_interrupt_in_a_main_side_call_abandons_the_job(rt: Runtime) -> None:
    job_saw: list[BaseException] = []
    job_ended = threading.Event()

    def interrupt() -> None:
        raise KeyboardInterrupt

    def job() -> str:
        try:
            rt.call_on_main(interrupt)
        except JobAbandoned as exc:
            job_saw.append(exc)
        try:
            rt.call_on_main(lambda: None)
        except JobAbandoned as exc:
            job_saw.append(exc)
        job_ended.set()
        return "discarded"

    with pytest.raises(KeyboardInterrupt):
        rt.run_on_worker(job)
    assert job_ended.wait(TIMEOUT)
    assert len(job_saw) == 2
    assert "interrupted" in str(job_saw[0])
    assert "stopped waiting" in str(job_saw[1])
    # The runtime stays usable; the abandoned result never shows up.
    assert rt.run_on_worker(lambda: "next") == "next"


def test_sigint_while_main_waits_abandons_the_job_and_the_runtime_stays_usable(
    rt: Runtime,
) -> None:
    release = threading.Event()
    assert interrupt_main_while_it_waits(rt, lambda: release.wait(TIMEOUT)) == ["abandoned"]
    assert rt.statistics().job_running, "the abandoned job keeps running"
    release.set()
    # The next job waits for the abandoned one, then runs.
    assert rt.run_on_worker(lambda: "after") == "after"
    assert rt.statistics().jobs_completed == 2


def test_shutdown_waits_for_an_abandoned_job() -> None:
    runtime = Runtime()
    runtime.init()
    release = threading.Event()
    finished = threading.Event()

    def interrupt() -> None:
        raise KeyboardInterrupt

    def job() -> None:
        rt_call_failed = False
        try:
            runtime.call_on_main(interrupt)
        except JobAbandoned:
            rt_call_failed = True
        assert release.wait(TIMEOUT)
        if rt_call_failed:
            finished.set()

    with pytest.raises(KeyboardInterrupt):
        runtime.run_on_worker(job)
    releaser = threading.Thread(target=release.set)
    releaser.start()
    runtime.shutdown()
    releaser.join(TIMEOUT)
    assert finished.is_set()
    assert not runtime.statistics().worker_alive


# --- stack size -------------------------------------------------------------


def test_worker_thread_gets_the_default_8_mib_stack(rt: Runtime) -> None:
    # (glibc may reuse a cached stack up to 4x the size asked for)
    assert DEFAULT_STACK_SIZE <= rt.run_on_worker(current_stack_size) <= 4 * DEFAULT_STACK_SIZE


def test_worker_stack_size_is_configurable() -> None:
    with Runtime(stack_size=512 * 1024) as runtime:
        assert 512 * 1024 <= runtime.run_on_worker(current_stack_size) < DEFAULT_STACK_SIZE


def test_runtime_rejects_a_bad_stack_size() -> None:
    with pytest.raises(TypeError, match="stack_size"):
        Runtime(stack_size="big")  # type: ignore[arg-type]


# --- protocol events and the bug seams ---------------------------------------


class Recording(sync.ThreadingBackend):
    """The production backend, plus a log of protocol events."""

    name = "runtime-recording"

    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        if event.startswith("runtime."):
            with self._lock:
                self.events.append(event.removeprefix("runtime."))


def shutdown_order_problems(events: list[str]) -> list[str]:
    """What is wrong with the order of one session's shutdown events."""
    problems = []
    for needed in ("shutdown_sent", "worker_exit", "joined", "hook_uninstalled"):
        if needed not in events:
            problems.append(f"no {needed}")
    if problems:
        return problems
    at = events.index
    if not at("shutdown_sent") < at("shutdown_received") < at("worker_exit"):
        problems.append("worker exited before it was told to")
    if not at("worker_exit") < at("joined"):
        problems.append("joined before the worker exited")
    if not at("joined") < at("hook_uninstalled"):
        problems.append("hook uninstalled before the join")
    if events[-1] != "shutdown_returned":
        problems.append("shutdown_returned is not last")
    return problems


def session(runtime: Runtime) -> None:
    runtime.init()
    assert runtime.run_on_worker(lambda: runtime.call_on_main(lambda: 20) + 1) == 21
    runtime.shutdown()


def test_protocol_events_follow_the_protocol_order() -> None:
    backend = Recording()
    with sync.using_backend(backend):
        session(Runtime())
    events = backend.events
    assert events[:3] == ["worker_started", "hook_installed", "init"]
    assert events[3:11] == [
        "job_sent",
        "job_started",
        "main_call_requested",
        "main_call_started",
        "main_call_responded",
        "main_call_returned",
        "job_done",
        "job_returned",
    ]
    assert events[11:13] == ["shutdown_requested", "shutdown_sent"]
    assert shutdown_order_problems(events) == []


class HookBeforeJoin(Runtime):
    """Historical bug 1: the hook is removed before the worker is joined."""

    def _shutdown_steps(self, deferred: list[BaseException]) -> None:
        self._send_shutdown(deferred)
        self._close_channel()
        self._uninstall_hook()
        self._join_worker(deferred)


class ReturnsWithoutJoin(Runtime):
    """Historical bug 3: shutdown returns without joining the worker."""

    def _join_worker(self, deferred: list[BaseException]) -> None:
        pass


def test_event_order_check_catches_the_hook_removed_before_join_bug() -> None:
    backend = Recording()
    with sync.using_backend(backend):
        session(HookBeforeJoin())
    assert "hook uninstalled before the join" in shutdown_order_problems(backend.events)


def test_event_order_check_catches_the_return_without_join_bug() -> None:
    backend = Recording()
    runtime = ReturnsWithoutJoin()
    with sync.using_backend(backend):
        session(runtime)
    assert "no joined" in shutdown_order_problems(backend.events)
    assert runtime._worker is not None
    runtime._worker.join()  # clean up the thread the buggy shutdown left behind


def test_main_thread_only_after_shutdown_says_why_on_main() -> None:
    runtime = Runtime()
    runtime.init()
    calls: list[int] = []

    @runtime.main_thread_only
    def paint(n: int) -> None:
        calls.append(n)

    paint(1)
    runtime.shutdown()
    with pytest.raises(RuntimeClosedError, match=r"@main_thread_only function .*paint\(\)") as info:
        paint(2)
    assert "after Runtime.shutdown()" in str(info.value)
    assert calls == [1]
