"""Small programs for the integration tests (importable by `treadle explore`)."""

from __future__ import annotations

from treadle import sync


def racy_counter() -> None:
    """Two threads do ``x += 1`` without a lock: an update can be lost."""
    x = sync.Cell(0)

    def bump() -> None:
        x.set(x.get() + 1)

    threads = [sync.spawn(bump) for _ in range(2)]
    for t in threads:
        t.join()
    assert x.get() == 2, f"lost update: x == {x.get()}"


def locked_counter() -> None:
    """The same with a lock: always 2."""
    x = sync.Cell(0)
    lock = sync.Lock()

    def bump() -> None:
        with lock:
            x.set(x.get() + 1)

    threads = [sync.spawn(bump) for _ in range(2)]
    for t in threads:
        t.join()
    assert x.get() == 2


NOT_CALLABLE = 42
