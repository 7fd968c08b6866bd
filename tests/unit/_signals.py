"""Helpers for tests that interrupt the main thread or wait for another thread."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from treadle.runtime import JobAbandoned, Runtime

TIMEOUT = 10.0


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` (1 ms apart) until true; fail after ``TIMEOUT`` seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def interrupt_main_while_it_waits(rt: Runtime, job_body: Callable[[], object]) -> list[str]:
    """Run a job, deliver SIGINT to main while it waits, return what the job saw.

    CPython has a window in which a signal that arrives just as the main
    thread starts blocking on a lock is only acted on once the lock is
    released. If main has not reacted within a second, the job pokes it with
    a main-side request, which wakes it; the pending interrupt then fires.
    Either way main raises KeyboardInterrupt while the job is still running,
    and the job's main-side call is refused with JobAbandoned.
    """
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert threading.current_thread() is threading.main_thread()
    main_ident = threading.main_thread().ident
    assert main_ident is not None
    started = threading.Event()
    poke = threading.Event()
    interrupted = threading.Event()
    job_saw: list[str] = []

    def job() -> str:
        started.set()
        assert poke.wait(TIMEOUT)
        try:
            rt.call_on_main(lambda: None)
            job_saw.append("served")
        except JobAbandoned:
            job_saw.append("abandoned")
        job_body()
        return "discarded"

    def interrupter() -> None:
        assert started.wait(TIMEOUT)
        wait_until(lambda: rt.statistics().job_running, "the job to run")
        signal.pthread_kill(main_ident, signal.SIGINT)
        if not interrupted.wait(1.0):
            poke.set()

    t = threading.Thread(target=interrupter, name="interrupter")
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            rt.run_on_worker(job)
        interrupted.set()
        poke.set()
    finally:
        t.join(TIMEOUT)
    wait_until(lambda: job_saw, "the job's main-side call to be answered")
    return job_saw
