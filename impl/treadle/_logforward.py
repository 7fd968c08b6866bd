"""Route ``logging`` records made on chosen threads to another thread.

:class:`treadle.WorkerPump` uses this so a worker thread's log records are
handled on the thread that called ``run`` (the seed's "log-drain cadence").

How: while at least one route is open, ``logging.Logger.handle`` is replaced
by :func:`_routed_handle`. On a thread with an open route it sends
``(logger, record)`` down that route's unbounded channel instead of handling
the record; on every other thread it calls the original ``handle``. The
receiving side calls ``logger.handle(record)`` again on its own thread, so
logger filters, handlers, propagation and ``lastResort`` all behave as if the
record had been logged there. Patching ``Logger.handle`` (rather than adding
a filter to some handlers) catches every record exactly once, whichever
logger made it and whatever handlers exist now or are added later.

The patch is reference-counted: the first open route installs it, the last
closed route removes it, so overlapping pumps on different threads do not
undo each other. If something else replaced ``Logger.handle`` after us, we
leave its replacement in place rather than drop it (ours then just delegates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from treadle import sync
from treadle.channel import Closed, Disconnected, Empty, Receiver, Sender, _open

__all__ = ["LogRoute"]

_Handle = Callable[[logging.Logger, logging.LogRecord], Any]

# Guards the fields below. Created at import (a production lock even under the
# model): nothing inside its critical sections goes through the facade, so a
# virtual thread can never be switched out while holding it.
_lock = sync.Lock()
_users = 0
_original: _Handle = logging.Logger.handle
# thread -> where its records go. Each thread only reads its own entry, and
# only that thread (or the route's owner, before and after the thread runs)
# writes it, so the hot path reads without the lock.
_routes: dict[sync.Thread, Sender[tuple[logging.Logger, logging.LogRecord]]] = {}
_flags: dict[sync.Thread, sync.Cell[bool]] = {}


def _routed_handle(self: logging.Logger, record: logging.LogRecord) -> Any:
    if _routes:
        me = sync.current_thread()
        route = _routes.get(me)
        if route is not None:
            try:
                route.send((self, record))
            except (Disconnected, Closed):
                # The route's owner stopped listening; handle it here rather
                # than lose it.
                return _original(self, record)
            # Set after the send: a reader that sees the flag clear and then
            # drains cannot miss this record (see LogRoute.drain).
            _flags[me].set(True)
            return None
    return _original(self, record)


def _install(route: LogRoute) -> None:
    # The route's flag changes with the count, under the lock, with no
    # signal check point between them: an interrupt anywhere leaves the
    # flag telling whether this route holds a use of the patch.
    global _users, _original
    with _lock:
        if route._installed:
            return
        if _users == 0 and logging.Logger.handle is not _routed_handle:
            _original = logging.Logger.handle
            logging.Logger.handle = _routed_handle  # type: ignore[method-assign]
        _users += 1
        route._installed = True


def _uninstall(route: LogRoute) -> None:
    global _users
    with _lock:
        if not route._installed:
            return
        route._installed = False
        _users -= 1
        if _users == 0 and logging.Logger.handle is _routed_handle:
            logging.Logger.handle = _original  # type: ignore[method-assign, assignment]


class LogRoute:
    """One route: records logged on one thread, handled by :meth:`drain`.

    Lifecycle (owner thread unless noted)::

        route = LogRoute()        # installs the patch
        route.attach()            # ON the source thread, before it logs
        ...                       # owner calls route.drain() as it likes
        route.detach()            # ON the source thread, when it is done
        route.close()             # owner: final drain, removes the patch

    ``close`` is idempotent and must run even on error paths.
    """

    __slots__ = ("_closed", "_installed", "_made", "_pending", "_rx", "_tx")

    def __init__(self, *, into: list[LogRoute] | None = None) -> None:
        self._installed = False
        self._closed = False
        self._pending: sync.Cell[bool] = sync.Cell(False)
        # The sender goes into ``_made`` as it is made, and the route into
        # ``into`` before its channel exists or the patch goes in: an
        # interrupt anywhere in here still leaves the owner a route whose
        # close() closes what was made.
        self._made: list[Sender[Any]] = []
        if into is not None:
            into.append(self)
        self._tx, self._rx = _open(None, "pump.logs", self._made)
        _install(self)

    def attach(self) -> None:
        """Start routing the calling thread's records (call it on that thread)."""
        me = sync.current_thread()
        with _lock:
            _flags[me] = self._pending
            _routes[me] = self._tx

    def detach(self) -> None:
        """Stop routing the calling thread's records and close the route's sender."""
        me = sync.current_thread()
        with _lock:
            _routes.pop(me, None)
            _flags.pop(me, None)
        self._tx.close()

    def drain(self) -> None:
        """Handle, on the calling thread, every record routed so far, in order."""
        # Cheap test first: this runs before every pump call.
        if not self._pending.get():
            return
        self._pending.set(False)
        rx: Receiver[tuple[logging.Logger, logging.LogRecord]] = self._rx
        while True:
            try:
                logger, record = rx.recv_nowait()
            except (Empty, Disconnected):
                return
            logger.handle(record)

    def close(self, errors: list[BaseException] | None = None) -> KeyboardInterrupt | None:
        """Drain what is left, then remove the patch (if no other route needs it).

        Args:
            errors: if given, an exception raised while handling a record is
                appended here and draining goes on with the next record (used
                on error paths, where the caller's exception must win);
                otherwise the first one propagates, after the patch is removed.

        Returns:
            A ``KeyboardInterrupt`` raised while draining, held back so that
            draining finishes; the caller raises it.
        """
        if self._closed:
            return None
        self._closed = True
        held: KeyboardInterrupt | None = None
        try:
            while True:
                try:
                    if not hasattr(self, "_rx"):  # interrupted in __init__
                        break
                    self._pending.set(True)  # drain regardless of the flag
                    self.drain()
                    break
                except Exception as exc:
                    if errors is None:
                        raise
                    errors.append(exc)
                except KeyboardInterrupt as exc:
                    held = held or exc
        finally:
            # Each call's entry is a check point: run them all to the end.
            # The sender is normally closed by detach() on the source thread;
            # closing it here too covers a source that never ran (closing is
            # idempotent).
            step = 0
            while True:
                try:
                    if step == 0:
                        _uninstall(self)
                        step = 1
                    while True:  # not `while self._made:` (see _close_all)
                        if not self._made:
                            break
                        self._made[-1].close()
                        self._made.pop()
                    break
                except KeyboardInterrupt as exc:
                    held = held or exc
        return held
