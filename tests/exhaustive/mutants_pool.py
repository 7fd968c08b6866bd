"""Deliberately broken WorkerPools: each reintroduces one historical mistake.

Test-only subclasses (never shipped) that the exhaustive tests run through the
same scenarios as the real pool, to show that each check bites: the explorer
must fail each one with the right kind, on a schedule ``replay`` reproduces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from treadle import sync
from treadle.pool import UpMsg, WorkerPool

U = TypeVar("U")
D = TypeVar("D")


class JoinBeforeDrainPool(WorkerPool[U, D]):
    """The historical deadlock: stop joins every worker first and drains afterwards.

    A worker blocked in ``tx.send`` on the full up channel never takes
    ``STOP``, so the join waits for it and it waits for the manager.
    Expected: ``deadlock``.
    """

    def _stop_step(self) -> UpMsg[U] | None:
        self._join_workers()
        return self._drain_one()


class EagerJoinPool(WorkerPool[U, D]):
    """Joins each worker as soon as it has ended, while the drain is still going.

    It never blocks on a running worker, so it neither deadlocks nor loses
    anything, and it joins everyone before returning: only the protocol order
    is broken (a ``worker_joined`` before the drain found the channel
    disconnected). Expected: ``conformance`` (the spec has no ``Join`` while
    draining).
    """

    def _stop_step(self) -> UpMsg[U] | None:
        msg = self._drain_one()
        core = self._core
        with core.lock:
            ended = [w for w in core.workers if not w.running and not w.joined]
        for worker in ended:
            assert worker.thread is not None
            worker.thread.join()
            with core.lock:
                worker.joined = True
            if core.traced:
                sync.emit("pool.worker_joined", pool=core.name, worker=worker.index)
        if msg is None:
            self._join_workers()
        return msg


class SkipFailedJoinPool(WorkerPool[U, D]):
    """The seed's gap: a worker that raised is not joined (only reported).

    Expected: ``leaked_thread`` at the ``unload()`` right after stop returns.
    """

    def _join_workers(self) -> None:
        core = self._core
        with core.lock:
            workers = [w for w in core.workers if w.error is None]
        for worker in workers:
            if worker.thread is None or worker.joined:
                continue
            worker.thread.join()
            with core.lock:
                worker.joined = True
            if core.traced:
                sync.emit("pool.worker_joined", pool=core.name, worker=worker.index)


class FirstErrorOnlyPool(WorkerPool[U, D]):
    """Reports only the first worker error (the others are silently dropped).

    Expected: ``exception`` (the scenario asserts every failing worker is named).
    """

    def _stop_finished(self) -> list[tuple[int, BaseException]]:
        return super()._stop_finished()[:1]


class BurstDropsLaterPool(WorkerPool[U, D]):
    """A burst that drops the first later message instead of keeping it back.

    Expected: ``exception`` (the scenario asserts the stop delivers it).
    """

    def _burst(self, start: float, bound: int) -> Iterator[UpMsg[U]]:
        for _ in range(bound):
            msg = self._take_nowait()
            if msg is None or msg.sent_at > start:
                return
            yield msg


MUTANTS: dict[str, type[WorkerPool[Any, Any]]] = {
    "join_before_drain": JoinBeforeDrainPool,
    "eager_join": EagerJoinPool,
    "skip_failed_join": SkipFailedJoinPool,
    "first_error_only": FirstErrorOnlyPool,
    "burst_drops_later": BurstDropsLaterPool,
}
