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
