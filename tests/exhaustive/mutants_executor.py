"""Deliberately broken Executors: historical bugs, brought back for the tests only.

* :class:`ReusesTags` - the seed's tag was the executor's memory address,
  which a later executor gets again once the earlier one is gone. This mutant
  hands a joined executor's tag to the next executor created, the way an
  address is reused, through the one method tags come from
  (``Executor._allocate_tag``). A Tagged value made on the first executor is
  then readable on the second.
* :class:`ReturnsBeforeTheThreadEnds` - ``join`` that closes the executor and
  returns without waiting for its thread (join before unload broken).

None of this is importable from ``treadle``.
"""

from __future__ import annotations

from typing import ClassVar

from treadle import sync
from treadle.executor import Executor

__all__ = ["ReturnsBeforeTheThreadEnds", "ReusesTags"]


class ReusesTags(Executor):
    """Mutant: a joined executor's tag is handed to the next one (address reuse)."""

    _free: ClassVar[list[int]] = []

    def _allocate_tag(self) -> int:
        if ReusesTags._free:
            return ReusesTags._free.pop()
        return super()._allocate_tag()

    def join(self) -> None:
        super().join()
        if self.tag not in ReusesTags._free:
            ReusesTags._free.append(self.tag)  # the "memory" is free again


class ReturnsBeforeTheThreadEnds(Executor):
    """Mutant: ``join`` closes the executor and wakes its thread, but does not wait for it."""

    def join(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                sync.emit("executor.closing", tag=self.tag)
            self._wake_idle_loop()
        sync.emit("executor.joined", tag=self.tag)  # BUG: the thread may still run
