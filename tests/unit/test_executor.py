"""Executor and Tagged (SEMANTICS section 6): the seed's tests and the gaps treadle closes."""

from __future__ import annotations

import os
import threading
import traceback
from typing import Any

import pytest

from tests.support import Background, interrupt_main_when, recording, wait_until
from treadle import (
    Executor,
    ExecutorClosed,
    ExecutorStatistics,
    Tagged,
    TaggedAccessError,
    sync,
)

# --- ported seed tests --------------------------------------------------------


def test_submit_mutates_the_callers_variable_n_plus_10_gives_20() -> None:
    n = 10

    def add() -> None:
        nonlocal n
        n += 10

    with Executor() as ex:
        ex.submit(add)
    assert n == 20


def test_ten_submits_from_ten_threads_sum_to_45() -> None:
    total = 0

    def add(i: int) -> None:
        nonlocal total
        total += i  # only the executor thread ever touches total

    with Executor() as ex:
        threads = [threading.Thread(target=ex.submit, args=(add, i)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert total == 45


def test_100_rounds_of_10_raising_submits_then_the_executor_still_works() -> None:
    class Boom(Exception):
        pass

    def boom(i: int) -> None:
        raise Boom(i)

    ex = Executor()
    for _ in range(100):
        for i in range(10):
            with pytest.raises(Boom) as info:
                ex.submit(boom, i)
            assert info.value.args == (i,)
    assert ex.submit(lambda: "still here") == "still here"
    ex.join()
    assert ex.statistics() == ExecutorStatistics(tag=ex.tag, queued=0, running=False, closed=True)


def test_off_thread_access_to_a_tagged_value_raises() -> None:
    with Executor() as ex:
        tagged = ex.submit(lambda: Tagged({"secret": 1}))
        with pytest.raises(TaggedAccessError, match="not an executor"):
            tagged.get()
        assert ex.submit(tagged.get) == {"secret": 1}


# --- submit -------------------------------------------------------------------


def test_submit_runs_on_the_executor_thread_and_passes_arguments() -> None:
    with Executor(name="audio") as ex:
        thread, args = ex.submit(lambda *a, **k: (sync.current_thread(), (a, k)), 1, b=2)
    assert thread.name == "audio"
    assert thread is not sync.current_thread()
    assert args == ((1,), {"b": 2})


def test_exception_is_the_same_object_with_its_traceback() -> None:
    raised: list[BaseException] = []

    def fail() -> None:
        error = ValueError("from the executor")
        raised.append(error)
        raise error

    with Executor() as ex, pytest.raises(ValueError) as info:
        ex.submit(fail)
    assert info.value is raised[0]
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "fail" in frames  # the frame where it was raised, on the executor thread


def test_base_exceptions_propagate_and_the_executor_keeps_working() -> None:
    def leave() -> None:
        raise SystemExit(4)

    with Executor() as ex:
        with pytest.raises(SystemExit):
            ex.submit(leave)
        assert ex.submit(lambda: 1) == 1


def test_jobs_run_in_fifo_order() -> None:
    order: list[int] = []
    gate = threading.Event()
    with Executor() as ex:
        # Hold the executor so the next submits queue up behind it.
        first = Background(ex.submit, gate.wait)
        wait_until(lambda: ex.statistics().running, what="the first job to start")
        submitters = []
        for i in range(5):
            submitters.append(Background(ex.submit, order.append, i))
            wait_until(lambda i=i: ex.statistics().queued == i + 1, what=f"job {i} queued")
        gate.set()
        first.outcome()
        for s in submitters:
            s.outcome()
    assert order == [0, 1, 2, 3, 4]


def test_submit_from_the_executor_thread_runs_inline() -> None:
    with Executor() as ex:

        def outer() -> tuple[Any, Any]:
            inner_thread = ex.submit(sync.current_thread)
            return sync.current_thread(), inner_thread

        outer_thread, inner_thread = ex.submit(outer)
    assert outer_thread is inner_thread


def test_submit_after_join_raises_a_clear_error() -> None:
    ex = Executor()
    ex.join()
    with pytest.raises(ExecutorClosed, match="joined") as info:
        ex.submit(print)
    assert isinstance(info.value, RuntimeError)
    assert ex.closed


def test_join_is_idempotent_and_runs_queued_work_first() -> None:
    ran: list[int] = []
    gate = threading.Event()
    ex = Executor()
    blocker = Background(ex.submit, gate.wait)
    wait_until(lambda: ex.statistics().running, what="the blocking job to start")
    queued = Background(ex.submit, ran.append, 1)
    wait_until(lambda: ex.statistics().queued == 1, what="the second job to queue")
    joiner = Background(ex.join)
    wait_until(lambda: ex.closed, what="join to close the executor")
    with pytest.raises(ExecutorClosed):
        ex.submit(ran.append, 2)
    gate.set()
    joiner.outcome()
    blocker.outcome()
    queued.outcome()
    assert ran == [1]
    ex.join()
    ex.join()


def test_join_from_the_executor_thread_is_an_error_not_a_deadlock() -> None:
    with Executor() as ex, pytest.raises(RuntimeError, match="own thread"):
        ex.submit(ex.join)


def test_context_manager_joins_the_thread() -> None:
    with Executor() as ex:
        thread = ex.submit(sync.current_thread)
    assert not thread.is_alive()
    assert ex.closed


def test_submit_rejects_a_non_callable() -> None:
    with Executor() as ex, pytest.raises(TypeError, match="callable"):
        ex.submit(5)  # type: ignore[arg-type]


def test_bad_name_is_rejected() -> None:
    with pytest.raises(TypeError, match="name"):
        Executor(name=5)  # type: ignore[arg-type]


def test_many_threads_submitting_at_once_all_get_their_own_results() -> None:
    with Executor() as ex:
        results: dict[int, list[int]] = {}

        def client(k: int) -> None:
            results[k] = [ex.submit(lambda i=i: i * k) for i in range(200)]

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {k: [i * k for i in range(200)] for k in range(8)}


def test_protocol_events() -> None:
    with recording() as backend:
        ex = Executor()
        ex.submit(lambda: None)
        with pytest.raises(KeyError):
            ex.submit(lambda: {}["x"])
        ex.submit(lambda: ex.submit(lambda: None))
        ex.join()
    assert backend.names("executor.") == [
        "executor.started",
        "executor.submit",
        "executor.job_started",
        "executor.job_done",
        "executor.submit",
        "executor.job_started",
        "executor.job_done",
        "executor.submit",
        "executor.job_started",
        "executor.inline",
        "executor.job_done",
        "executor.closing",
        "executor.stopped",
        "executor.joined",
    ]
    assert [f["raised"] for f in backend.matching("executor.job_done")] == [False, True, False]


# --- Ctrl-C in a submitting thread --------------------------------------------


needs_signals = pytest.mark.skipif(
    os.name != "posix" or threading.current_thread() is not threading.main_thread(),
    reason="needs POSIX signals delivered to the main thread",
)


@needs_signals
def test_interrupted_submitter_withdraws_a_job_that_had_not_started() -> None:
    ran: list[str] = []
    gate = threading.Event()
    with Executor() as ex:
        blocker = Background(ex.submit, gate.wait)
        wait_until(lambda: ex.statistics().running, what="the blocking job to start")
        with (
            interrupt_main_when(lambda: ex.statistics().queued == 1) as fired,
            pytest.raises(KeyboardInterrupt),
        ):
            ex.submit(ran.append, "withdrawn")
        assert fired.is_set()
        assert ex.statistics().queued == 0
        gate.set()
        blocker.outcome()
        # Not wedged: later work runs, the withdrawn job never does.
        ex.submit(ran.append, "later")
    assert ran == ["later"]


@needs_signals
def test_interrupted_submitter_leaves_a_running_job_to_finish() -> None:
    ran: list[str] = []
    started = threading.Event()
    gate = threading.Event()

    def job() -> str:
        started.set()
        gate.wait()
        ran.append("finished")
        return "discarded"

    with Executor() as ex:
        with interrupt_main_when(started.is_set), pytest.raises(KeyboardInterrupt):
            ex.submit(job)
        gate.set()
        assert ex.submit(lambda: "next") == "next"
    assert ran == ["finished"]


@needs_signals
def test_ctrl_c_during_join_is_raised_only_once_the_thread_has_ended() -> None:
    gate = threading.Event()
    ex = Executor()
    thread = ex.submit(sync.current_thread)
    blocker = Background(ex.submit, gate.wait)
    wait_until(lambda: ex.statistics().running, what="the blocking job to start")
    with interrupt_main_when(lambda: ex.closed) as fired:
        # The job can only finish after the interrupt arrived.
        releaser = Background(lambda: fired.wait(10) and gate.set())
        with pytest.raises(KeyboardInterrupt):
            ex.join()
    assert not thread.is_alive()
    releaser.outcome()
    blocker.outcome()


# --- Tagged -------------------------------------------------------------------


def test_tagged_can_only_be_created_on_an_executor_thread() -> None:
    with pytest.raises(TaggedAccessError, match="only be created on an Executor thread"):
        Tagged(1)


def test_tagged_is_readable_by_its_own_executor_only() -> None:
    with Executor() as a, Executor() as b:
        tagged = a.submit(lambda: Tagged("a's"))
        assert tagged.tag == a.tag
        assert a.submit(tagged.get) == "a's"
        with pytest.raises(TaggedAccessError, match=f"another executor \\(tag {b.tag}\\)"):
            b.submit(tagged.get)
        with pytest.raises(TaggedAccessError, match=f"tag {a.tag}"):
            tagged.get()


def test_tagged_repr_never_shows_the_value() -> None:
    with Executor() as ex:
        tagged = ex.submit(lambda: Tagged("password"))
        assert "password" not in repr(tagged)
        assert repr(tagged) == f"<Tagged tag={ex.tag}>"


def test_drop_closes_and_releases_the_value_on_the_executor_thread() -> None:
    events: list[tuple[str, Any]] = []

    class Resource:
        def close(self) -> None:
            events.append(("close", sync.current_thread()))

        def __del__(self) -> None:
            events.append(("del", sync.current_thread()))

    with Executor() as ex:
        tagged = ex.submit(lambda: Tagged(Resource()))
        executor_thread = ex.submit(sync.current_thread)
        ex.drop(tagged)
        assert events == [("close", executor_thread), ("del", executor_thread)]
        with pytest.raises(TaggedAccessError, match="dropped"):
            ex.submit(tagged.get)
        with pytest.raises(TaggedAccessError, match="dropped"):
            ex.drop(tagged)


def test_drop_of_a_value_without_close_just_releases_it() -> None:
    with Executor() as ex:
        tagged = ex.submit(lambda: Tagged([1, 2]))
        ex.drop(tagged)
        with pytest.raises(TaggedAccessError):
            ex.submit(tagged.get)


def test_drop_through_the_wrong_executor_is_refused() -> None:
    with Executor() as a, Executor() as b:
        tagged = a.submit(lambda: Tagged(1))
        with pytest.raises(TaggedAccessError, match="drop it through the executor"):
            b.drop(tagged)
        assert a.submit(tagged.get) == 1


def test_drop_rejects_a_non_tagged() -> None:
    with Executor() as ex, pytest.raises(TypeError, match="Tagged"):
        ex.drop(3)  # type: ignore[arg-type]


def test_drop_after_join_raises_executor_closed() -> None:
    ex = Executor()
    tagged = ex.submit(lambda: Tagged(1))
    ex.join()
    with pytest.raises(ExecutorClosed):
        ex.drop(tagged)


def test_tags_are_unique_across_executors_created_and_joined_in_sequence() -> None:
    tags = []
    for _ in range(50):
        with Executor() as ex:
            tags.append(ex.tag)
    assert len(set(tags)) == 50
    assert tags == sorted(tags)


def test_a_value_from_a_joined_executor_is_not_readable_on_a_later_one() -> None:
    old = Executor()
    tagged = old.submit(lambda: Tagged("old"))
    old.join()
    with Executor() as new, pytest.raises(TaggedAccessError):
        new.submit(tagged.get)


class _ReusingExecutor(Executor):
    """The seed's bug: every executor gets the same tag (an address reused)."""

    def _allocate_tag(self) -> int:
        return -1


def test_the_uniqueness_check_catches_the_seeds_tag_reuse() -> None:
    # Shows the test above can fail: with reused tags a later executor reads
    # a value that belonged to an earlier one.
    old = _ReusingExecutor()
    tagged = old.submit(lambda: Tagged("old"))
    old.join()
    with _ReusingExecutor() as new:
        assert new.submit(tagged.get) == "old"


def test_drop_after_join_names_drop_not_submit() -> None:
    ex = Executor()
    tagged = ex.submit(lambda: Tagged([1]))
    ex.join()
    with pytest.raises(ExecutorClosed, match=r"^drop\(\) on an executor that was joined") as info:
        ex.drop(tagged)
    assert "submit()" not in str(info.value)
