"""Multi-producer, single-consumer channels.

``tx, rx = channel(capacity)`` gives a :class:`Sender` and a :class:`Receiver`.

* ``capacity=None``: unbounded; ``send`` never blocks.
* ``capacity=0``: rendezvous; ``send`` returns only once ``recv`` took the item.
* ``capacity=n > 0``: bounded; ``send`` blocks while ``n`` items are buffered.

Closing is explicit (``close()`` or a ``with`` block) and each handle closes
once; a Sender garbage-collected unclosed closes itself with a
``ResourceWarning``. ``tx.clone()`` makes another sender; the channel is disconnected for the
receiver when *every* sender is closed and the buffer is empty. Closing the
receiver wakes every blocked sender with :class:`Disconnected`, which carries
the item that was not delivered; items still buffered at that moment are
discarded (the receiver chose not to take them).

Errors say whose fault it is:

* :class:`Disconnected` - the *other* side went away.
* :class:`Closed` - *you* closed this handle and then used it.
* :class:`Full` / :class:`Empty` - a ``*_nowait`` call (or a timeout) could not
  complete without blocking, as in :mod:`queue`.

Everything here goes through :mod:`treadle.sync`, so the model checker runs
this exact code under every interleaving.
"""

from __future__ import annotations

import _thread
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from treadle import sync

_PRODUCTION = sync.get_backend()


def _absorb_later(ch: _Channel) -> None:
    with ch.lock:
        ch.absorb_drops()


__all__ = [
    "ChannelStatistics",
    "Closed",
    "Disconnected",
    "Empty",
    "Full",
    "Receiver",
    "Sender",
    "channel",
]

T = TypeVar("T")


class Disconnected(Exception):
    """The other side of the channel is gone.

    Raised by ``send`` when the receiver was closed (``item`` is the value that
    was not delivered) and by ``recv`` when every sender is closed and nothing
    is left in the buffer (``item`` is ``None``).
    """

    def __init__(self, message: str, item: Any = None) -> None:
        super().__init__(message)
        self.item = item


class Closed(RuntimeError):
    """This handle was closed by its owner and then used again."""


class Full(Exception):
    """``send_nowait`` (or a timed-out ``send``) found no room."""


class Empty(Exception):
    """``recv_nowait`` (or a timed-out ``recv``) found nothing to take."""


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    """A snapshot of a channel, for tests and monitoring."""

    capacity: int | None
    buffered: int
    senders: int
    receiver_closed: bool
    senders_waiting: int
    receiver_waiting: bool


_NOTHING: Any = object()  # no item pending on a Receiver


class _Offer:
    """A rendezvous sender's item, waiting to be taken."""

    __slots__ = ("item", "taken")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.taken = False


class _Channel:
    """State shared by the handles. Every field is guarded by ``lock``."""

    __slots__ = (
        "buf",
        "capacity",
        "drops",
        "limit",
        "lock",
        "name",
        "not_empty",
        "not_full",
        "offers",
        "production",
        "rx_closed",
        "rx_signalled",
        "rx_waiting",
        "senders",
        "traced",
        "tx_signalled",
        "tx_waiting",
    )

    def __init__(self, capacity: int | None, name: str | None) -> None:
        self.capacity = capacity
        self.name = name
        # Events are emitted under the lock, so their order is the order in
        # which the steps took effect. Decided once: production never pays.
        self.traced = sync.observing()
        # Fast-path bound: unbounded channels compare against an int that no
        # deque reaches; rendezvous channels (limit 0) never use ``buf``.
        self.limit = (1 << 62) if capacity is None else capacity
        self.lock = sync.Lock()
        self.not_empty = sync.Condition(self.lock)
        self.not_full = sync.Condition(self.lock)
        self.buf: deque[Any] = deque()
        self.offers: deque[_Offer] = deque()
        self.senders = 1
        # One entry per Sender garbage-collected unclosed whose finaliser
        # could not take the lock; whoever holds it next counts them closed.
        self.drops: deque[None] = deque()
        # Made by the threading backend (its lock is a real lock)?
        self.production = sync.get_backend() is _PRODUCTION
        self.rx_closed = False
        # Waiter counts let send/recv skip notify() when nobody waits, and
        # the signalled counts skip it when every waiter was already notified
        # but has not run yet (on a busy channel that is most calls). A woken
        # waiter always re-checks its condition, so an extra notify is
        # harmless; the counts only ever err towards notifying.
        self.rx_waiting = 0
        self.rx_signalled = 0
        self.tx_waiting = 0
        self.tx_signalled = 0

    def absorb_drops(self) -> None:
        # Caller holds the lock. deque.popleft is atomic, so a finaliser may
        # append concurrently without the lock.
        while self.drops:
            self.drops.popleft()
            self.senders -= 1
            if self.traced:
                sync.emit("channel.close_tx", channel=self.name, senders=self.senders)
        if self.senders == 0 and self.rx_waiting:
            self.not_empty.notify_all()

    def failed_send(self, item: Any) -> None:
        if self.traced:
            sync.emit("channel.send_failed", channel=self.name, item=item)

    # Notify first, then count: an interrupt between the two must leave the
    # count erring towards notifying. Counted first, a notify() that raised
    # would be remembered as done, and every later send would skip it.
    def wake_receiver(self) -> None:
        if self.rx_waiting > self.rx_signalled:
            self.not_empty.notify()
            self.rx_signalled += 1

    def wake_sender(self) -> None:
        if self.tx_waiting > self.tx_signalled:
            self.not_full.notify()
            self.tx_signalled += 1

    def wait_receiver(self, timeout: float | None) -> None:
        if self.traced:
            # Tells the model this wait is a receive, so a receiver that
            # missed an item another thread took is reported as a lost wakeup.
            sync.emit("channel.recv_blocked", channel=self.name)
        self.rx_waiting += 1
        try:
            self.not_empty.wait(timeout)
        finally:
            self.rx_waiting -= 1
            if self.rx_signalled:
                self.rx_signalled -= 1

    def wait_sender(self, timeout: float | None) -> None:
        if self.traced:
            sync.emit("channel.send_blocked", channel=self.name)
        self.tx_waiting += 1
        try:
            self.not_full.wait(timeout)
        finally:
            self.tx_waiting -= 1
            if self.tx_signalled:
                self.tx_signalled -= 1


def channel(
    capacity: int | None = None, *, name: str | None = None
) -> tuple[Sender[Any], Receiver[Any]]:
    """Create a channel and return ``(sender, receiver)``.

    Args:
        capacity: ``None`` for unbounded, ``0`` for rendezvous, ``n > 0`` to
            make ``send`` block while ``n`` items are buffered.
        name: shown in ``repr`` and carried by the protocol events the channel
            emits under the model (``channel.send``, ``channel.recv``,
            ``channel.send_failed``, ``channel.close_tx``, ``channel.close_rx``,
            each with ``channel=name``; and ``channel.recv_blocked`` /
            ``channel.send_blocked`` just before a receive or send waits).

    Raises:
        TypeError: ``capacity`` is not an int or None.
        ValueError: ``capacity`` is negative.
    """
    if capacity is not None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"channel capacity must be an int or None, not {capacity!r}")
        if capacity < 0:
            raise ValueError(
                f"channel capacity must be >= 0 (0 = rendezvous, None = unbounded), got {capacity}"
            )
    if name is not None and not isinstance(name, str):
        raise TypeError(f"channel name must be a str or None, not {name!r}")
    return _open(capacity, name, None)


def _open(
    capacity: int | None, name: str | None, into: list[Sender[Any]] | None
) -> tuple[Any, Any]:
    """``channel()`` without the argument checks; the sender goes into ``into``.

    ``into`` is for the library's own channels: the sender is in it before
    ``channel()`` returns, so an interrupt anywhere in between still leaves
    the owner a sender to close.
    """
    ch = _Channel(capacity, name)
    return Sender(ch, into), Receiver(ch)


class Sender(Generic[T]):
    """The sending half. Clone it to give each producer its own handle."""

    __slots__ = ("_ch", "_closed")

    def __init__(
        self, ch: _Channel, into: list[Sender[Any]] | None = None, closed: bool = False
    ) -> None:
        self._ch = ch
        self._closed = closed
        if into is not None:
            into.append(self)

    def send(self, item: T, timeout: float | None = None) -> None:
        """Send ``item``, blocking while the channel is full.

        On a rendezvous channel this returns once the receiver took the item.

        Raises:
            Disconnected: the receiver is closed (``exc.item is item``).
            Full: ``timeout`` elapsed first (the item was not sent).
            Closed: this sender was closed.
        """
        timeout = sync.check_timeout(timeout)
        ch = self._ch
        with ch.lock:
            if self._closed:
                raise Closed(
                    "send() on a closed Sender; clone() it before closing if you need another"
                )
            if ch.rx_closed:
                ch.failed_send(item)
                raise Disconnected("send() failed: the receiver is closed", item)
            if len(ch.buf) < ch.limit:
                ch.buf.append(item)
                if ch.traced:
                    sync.emit("channel.send", channel=ch.name, item=item)
                if ch.rx_waiting > ch.rx_signalled:
                    ch.wake_receiver()
                return
        if ch.capacity == 0:
            self._rendezvous(item, timeout, blocking=True)
        else:
            self._send_blocking(item, timeout)

    def _send_blocking(self, item: T, timeout: float | None) -> None:
        ch = self._ch
        deadline = None if timeout is None else sync.monotonic() + timeout
        with ch.lock:
            while True:
                if self._closed:
                    # Sending after our own close could slip an item in after
                    # the receiver saw the channel disconnected; refuse it.
                    raise Closed("Sender was closed while blocked in send(); the item was not sent")
                if ch.rx_closed:
                    ch.failed_send(item)
                    raise Disconnected("send() failed: the receiver is closed", item)
                # Room is checked before the deadline so a timed-out waiter
                # that was also notified still uses the slot it was given.
                if len(ch.buf) < ch.limit:
                    ch.buf.append(item)
                    if ch.traced:
                        sync.emit("channel.send", channel=ch.name, item=item)
                    ch.wake_receiver()
                    return
                if deadline is None:
                    remaining = None
                else:
                    remaining = deadline - sync.monotonic()
                    if remaining <= 0:
                        raise Full(f"send() timed out after {timeout}s: channel full")
                ch.wait_sender(remaining)

    def _rendezvous(self, item: T, timeout: float | None, *, blocking: bool) -> None:
        ch = self._ch
        deadline = None if timeout is None else sync.monotonic() + timeout
        with ch.lock:
            if self._closed:
                raise Closed("send() on a closed Sender")
            if ch.rx_closed:
                ch.failed_send(item)
                raise Disconnected("send() failed: the receiver is closed", item)
            if not blocking and ch.rx_waiting <= len(ch.offers):
                raise Full("send_nowait() on a rendezvous channel with no receiver waiting")
            offer = _Offer(item)
            ch.offers.append(offer)
            try:
                # Inside the try: an interrupt in the wake-up withdraws the
                # offer like any other (the send raised, so it must not be
                # delivered later).
                ch.wake_receiver()
                if not blocking:
                    # A waiting receiver is committed to take it (recv checks for
                    # offers before it gives up), so the hand-off is done.
                    return
                while True:  # not `while not offer.taken:` (see task._close_all)
                    if offer.taken:
                        break
                    if ch.rx_closed:
                        # close() discarded the offer; it was never delivered.
                        ch.failed_send(item)
                        raise Disconnected("send() failed: the receiver is closed", item)
                    if deadline is None:
                        remaining = None
                    else:
                        remaining = deadline - sync.monotonic()
                        if remaining <= 0:
                            raise Full(
                                f"send() timed out after {timeout}s: no receiver took the item"
                            )
                    ch.wait_sender(remaining)
            except BaseException:
                # Timeout, KeyboardInterrupt or anything else: a send that
                # raised must not be delivered later, so withdraw the offer.
                if not offer.taken and offer in ch.offers:
                    ch.offers.remove(offer)
                raise

    def send_nowait(self, item: T) -> None:
        """Send ``item`` if that needs no waiting.

        On a rendezvous channel this succeeds only when the receiver is
        already blocked in ``recv``.

        Raises:
            Full: no room (or no receiver waiting, for a rendezvous channel).
            Disconnected: the receiver is closed.
            Closed: this sender was closed.
        """
        ch = self._ch
        if ch.capacity == 0:
            self._rendezvous(item, None, blocking=False)
            return
        with ch.lock:
            if self._closed:
                raise Closed("send_nowait() on a closed Sender")
            if ch.rx_closed:
                ch.failed_send(item)
                raise Disconnected("send_nowait() failed: the receiver is closed", item)
            if len(ch.buf) >= ch.limit:
                raise Full(f"channel is full ({ch.capacity} buffered)")
            ch.buf.append(item)
            if ch.traced:
                sync.emit("channel.send", channel=ch.name, item=item)
            if ch.rx_waiting > ch.rx_signalled:
                ch.wake_receiver()

    def clone(self, *, _into: list[Sender[Any]] | None = None) -> Sender[T]:
        """Return a new sender for the same channel; it must be closed too.

        Raises:
            Closed: this sender was closed.
        """
        ch = self._ch
        with ch.lock:
            if self._closed:
                raise Closed("clone() of a closed Sender")
            # Made closed, counted, then opened, with no call (no signal
            # check point) between the count and the flag: an interrupt
            # leaves either an uncounted closed sender or a counted open one
            # (which closes itself when collected), never a count no sender
            # will ever give back (the receiver would wait forever).
            new: Sender[T] = Sender(ch, _into, True)
            ch.senders += 1
            new._closed = False
            if ch.traced:
                sync.emit("channel.clone_tx", channel=ch.name, senders=ch.senders)
        return new

    def close(self) -> None:
        """Close this handle (idempotent). The last close disconnects the receiver.

        Closing again changes nothing but repeats the wake-ups, so a close
        that was interrupted (``KeyboardInterrupt``) can simply be retried.
        """
        ch = self._ch
        with ch.lock:
            ch.absorb_drops()
            if not self._closed:
                self._closed = True
                ch.senders -= 1
                if ch.traced:
                    sync.emit("channel.close_tx", channel=ch.name, senders=ch.senders)
            # Wake-ups come after the state change and are repeated by a second
            # close: an interrupt between the two must not leave a waiter asleep.
            if ch.senders == 0 and ch.rx_waiting:
                ch.not_empty.notify_all()
            if ch.tx_waiting:
                # A thread blocked in send() on this very handle must learn
                # that its handle is gone.
                ch.not_full.notify_all()

    def _forget(self) -> None:
        """Mark closed without a close: for a sender that never left its maker.

        The library's clean-up uses it when an interrupt lands while a
        channel is being set up, before any other thread could have seen
        it: there is nobody to wake or tell, and nothing to warn about.
        """
        self._closed = True

    def __del__(self) -> None:
        # A Sender whose last reference dies unclosed closes itself (the
        # receiver then sees the channel end instead of waiting forever) and
        # warns, like an unclosed file. A finaliser can run on any thread at
        # any allocation, possibly one that holds ch.lock, so it never blocks:
        # it takes the lock only if that is free at once, and otherwise
        # records the drop lock-free for the next lock holder.
        try:
            if self._closed:
                return
            ch = self._ch
        except AttributeError:  # __init__ did not finish
            return
        self._closed = True
        ch.drops.append(None)
        if not ch.production or sync.get_backend() is not _PRODUCTION:
            # Under the model (or for a channel the model made) a lock
            # operation is a scheduling point, which a finaliser must not be,
            # and an exploration would warn once per execution; the next
            # send/recv/close/statistics counts the drop.
            return
        warnings.warn(
            f"Sender {ch.name or ''} was garbage-collected without close(); "
            "it was closed now (close it, or use it in a with block)",
            ResourceWarning,
            stacklevel=2,
        )
        if ch.lock.acquire(blocking=False):
            try:
                ch.absorb_drops()
            finally:
                ch.lock.release()
        else:
            # Busy (perhaps by this very thread): a bare thread, which takes
            # none of threading's module locks, counts it once the lock frees.
            _thread.start_new_thread(_absorb_later, (ch,))

    @property
    def closed(self) -> bool:
        """True once this handle was closed."""
        return self._closed

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel's state."""
        return _statistics(self._ch)

    def __enter__(self) -> Sender[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Sender {self._ch.name or ''} {state} capacity={self._ch.capacity}>"


class Receiver(Generic[T]):
    """The receiving half. There is exactly one per channel.

    It is single-consumer: a ``recv``/``recv_nowait`` while another thread is
    blocked in ``recv`` on the same receiver raises :class:`RuntimeError`
    naming that thread. Handing the receiver from one thread to another
    between calls is allowed.
    """

    __slots__ = ("_ch", "_closed", "_pending", "_reader")

    def __init__(self, ch: _Channel) -> None:
        self._ch = ch
        self._closed = False
        # An item a receive took out of the channel but an interrupt kept
        # from returning; the next receive returns it (see _take).
        self._pending: Any = _NOTHING
        # The thread blocked in recv(), if any; guarded by the channel lock.
        self._reader: sync.Thread | None = None

    def _refuse_second_reader(self, op: str) -> None:
        # Caller holds the lock and saw _reader set.
        reader = self._reader
        assert reader is not None
        raise RuntimeError(
            f"{op}: Receiver is single-consumer; it is being read by thread "
            f"{reader.name!r} (blocked in recv()), so another thread may not read it now"
        )

    # Ctrl-C and the receive path. CPython can raise KeyboardInterrupt after
    # every call returns - the lock's release at the end of a ``with``
    # included - so an item cannot be taken out of the channel and handed to
    # the caller with no check point in between. Instead the item is moved,
    # with no call in between (subscript, attribute store, ``del``), from
    # the channel into ``_pending`` on this receiver, and every receive
    # first hands over a pending item: an interrupted receive loses nothing,
    # the next one returns it. Wake-ups are sent before the item is taken,
    # so an interrupt cannot strand a blocked sender either (a sender woken
    # early re-checks, finds no room, and waits again).

    def _take(self) -> None:
        # Caller holds the lock, has checked that something is there and
        # that nothing is pending. Leaves the item in _pending.
        ch = self._ch
        if ch.capacity == 0:
            if ch.tx_waiting:
                ch.not_full.notify_all()
            offer = ch.offers[0]
            self._pending = offer.item
            del ch.offers[0]
            offer.taken = True
            if ch.traced:
                # A rendezvous send takes effect when the receiver takes it.
                sync.emit("channel.send", channel=ch.name, item=offer.item)
                sync.emit("channel.recv", channel=ch.name, item=offer.item)
            return
        if ch.tx_waiting > ch.tx_signalled:
            ch.wake_sender()
        item = ch.buf[0]
        self._pending = item
        del ch.buf[0]
        if ch.traced:
            sync.emit("channel.recv", channel=ch.name, item=item)

    def recv(self, timeout: float | None = None) -> T:
        """Take the oldest item, blocking while the channel is empty.

        Raises:
            RuntimeError: another thread is blocked in ``recv`` on this
                receiver (it is single-consumer).
            Disconnected: every sender is closed and nothing is buffered.
            Empty: ``timeout`` elapsed first.
            Closed: this receiver was closed.
        """
        self._receive(timeout, "recv()")
        # No call from here to the return: no check point.
        item: T = self._pending
        self._pending = _NOTHING
        return item

    def _receive(self, timeout: float | None, op: str) -> None:
        """Leave the next item in ``_pending`` (if none is there yet) or raise."""
        timeout = sync.check_timeout(timeout)
        ch = self._ch
        with ch.lock:
            if self._reader is not None:
                self._refuse_second_reader(op)
            if self._pending is not _NOTHING:
                return  # taken by a receive an interrupt cut short
            if ch.buf:
                self._take()
                return
        deadline = None if timeout is None else sync.monotonic() + timeout
        with ch.lock:
            while True:
                if self._closed:
                    raise Closed(f"{op} on a closed Receiver")
                if self._pending is not _NOTHING:
                    return
                if ch.buf or ch.offers:
                    self._take()
                    return
                ch.absorb_drops()
                if ch.senders == 0:
                    if ch.traced:
                        sync.emit("channel.disconnected", channel=ch.name)
                    raise Disconnected(
                        f"{op} failed: every sender is closed and the channel is empty"
                    )
                if deadline is None:
                    remaining = None
                else:
                    remaining = deadline - sync.monotonic()
                    if remaining <= 0:
                        raise Empty(f"{op} timed out after {timeout}s: channel empty")
                if self._reader is not None:
                    self._refuse_second_reader(op)
                self._reader = sync.current_thread()
                try:
                    ch.wait_receiver(remaining)
                finally:
                    self._reader = None

    def recv_nowait(self) -> T:
        """Take the oldest item if one is there now.

        Raises:
            Empty: nothing buffered (and, for rendezvous, no sender waiting).
            Disconnected: every sender is closed and nothing is buffered.
            Closed: this receiver was closed.
        """
        self._receive_nowait()
        item: T = self._pending
        self._pending = _NOTHING
        return item

    def _receive_nowait(self) -> None:
        ch = self._ch
        with ch.lock:
            if self._reader is not None:
                self._refuse_second_reader("recv_nowait()")
            if self._closed:
                raise Closed("recv_nowait() on a closed Receiver")
            if self._pending is not _NOTHING:
                return
            if ch.buf or ch.offers:
                self._take()
                return
            ch.absorb_drops()
            if ch.senders == 0:
                if ch.traced:
                    sync.emit("channel.disconnected", channel=ch.name)
                raise Disconnected(
                    "recv_nowait() failed: every sender is closed and the channel is empty"
                )
            raise Empty("channel is empty")

    def close(self) -> None:
        """Close the receiver (idempotent).

        Blocked and later sends raise :class:`Disconnected`; buffered items are
        discarded. Closing again changes nothing but repeats the wake-ups, so
        a close that was interrupted (``KeyboardInterrupt``) can be retried.
        """
        ch = self._ch
        with ch.lock:
            if not self._closed:
                self._closed = True
                ch.rx_closed = True
                discarded = len(ch.buf) + len(ch.offers)
                if self._pending is not _NOTHING:
                    discarded += 1
                    self._pending = _NOTHING
                ch.buf.clear()
                ch.offers.clear()
                if ch.traced:
                    sync.emit("channel.close_rx", channel=ch.name, discarded=discarded)
            # See Sender.close: the wake-ups are repeated by a second close.
            if ch.tx_waiting:
                ch.not_full.notify_all()
            if ch.rx_waiting:
                ch.not_empty.notify_all()

    @property
    def closed(self) -> bool:
        """True once this receiver was closed."""
        return self._closed

    def statistics(self) -> ChannelStatistics:
        """A snapshot of the channel's state."""
        return _statistics(self._ch)

    def __iter__(self) -> Iterator[T]:
        """Yield items until every sender is closed and the buffer is empty."""
        while True:
            try:
                self._receive(None, "recv()")
            except Disconnected:
                return
            item: T = self._pending
            self._pending = _NOTHING
            yield item

    def __enter__(self) -> Receiver[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Receiver {self._ch.name or ''} {state} capacity={self._ch.capacity}>"


def _statistics(ch: _Channel) -> ChannelStatistics:
    with ch.lock:
        ch.absorb_drops()
        return ChannelStatistics(
            capacity=ch.capacity,
            buffered=len(ch.buf) + len(ch.offers),
            senders=ch.senders,
            receiver_closed=ch.rx_closed,
            senders_waiting=ch.tx_waiting,
            receiver_waiting=ch.rx_waiting > 0,
        )
