"""Suite-wide guard: no test may leave a thread running.

Every treadle operation joins the threads it starts before it returns; a test
that finishes with a new live thread has found a leak (or leaked one itself).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


def pytest_unconfigure(config: pytest.Config) -> None:
    # A leaked non-daemon thread would make the interpreter wait for it at
    # exit - forever, if it is blocked - and turn a failure into a hang.
    # Fail at once instead, naming the threads.
    alive = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if alive:
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.write(
            "\nthreads still running when the tests finished (leaked; not waiting for them): "
            f"{[t.name for t in alive]}\n"
        )
        sys.stderr.flush()
        os._exit(3)
