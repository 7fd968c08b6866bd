"""WorkerPump: a worker thread sends items, the calling (main) thread pumps them.

The protocol of ``WorkerPump.run(worker, pump)`` (SEMANTICS.md section 2) at
the level of its synchronisation steps. ``run`` makes a channel of
``capacity`` (0 = rendezvous), starts the worker thread, and loops: receive an
item, call ``pump(item)``. The worker sends items ``0 .. items-1`` in order;
after a failed send it may stop or go on; it may raise at any point in its
own code. When the worker function returns or raises, treadle closes the
worker's sender and then sends an END marker on a sender of its own (so a
clone of the sender that the worker leaked cannot keep ``run`` waiting),
closes that too, and the thread ends. On END, ``run`` closes the receiver,
joins the worker and returns (or raises the worker's error). When ``pump``
raises, ``run`` closes the receiver - a blocked or later ``send`` (END's
too) then fails with ``Disconnected`` and buffered items are discarded -
joins the worker, and lets the error propagate.

Action vocabulary (what the conformance check matches impl events against;
``channel.*`` events are on the channel named ``pump``):

=====================  ======  ==============================================
action                 thread  impl event
=====================  ======  ==============================================
``Send(item)``         worker  ``channel.send`` (capacity > 0)
``Offer(item)``        worker  none: a rendezvous offer is only observed when
                               it is taken (``Recv``)
``SendFails(item)``    worker  ``channel.send_failed``
``WorkerReturns``      worker  ``pump.worker_returned``
``WorkerRaises``       worker  ``pump.worker_raised``
``CloseTx``            worker  ``channel.close_tx`` (the worker's sender)
``SendEnd``            worker  ``channel.send`` of END (capacity > 0)
``OfferEnd``           worker  none (rendezvous; observed at ``RecvEnd``)
``EndFails``           worker  ``channel.send_failed`` of END
``CloseEndTx``         worker  ``channel.close_tx`` (treadle's END sender)
``WorkerExits``        worker  none: the thread ends (``Join`` can complete)
``Recv(item)``         main    ``channel.recv`` (rendezvous: ``channel.send``
                               and ``channel.recv`` together)
``Pump(item)``         main    ``pump.item`` is emitted as the call starts;
                               the call returning has no event of its own
``PumpRaises(item)``   main    ``pump.pump_raised``
``RecvEnd``            main    ``channel.recv`` of END
``CloseRx``            main    ``channel.close_rx`` then ``pump.rx_closed``
                               (the impl's ``discarded`` also counts a
                               withdrawn rendezvous offer, which the spec
                               books as ``SendFails`` / ``EndFails``)
``Join``               main    ``pump.worker_joined``, then
                               ``pump.run_returned`` / ``pump.run_raised``
=====================  ======  ==============================================

BUG SWITCHES (constants that reintroduce historical mistakes):

* ``bug_keep_rx_open``: when the pump raises, go straight to the join without
  closing the receiver - the seed's hazard when ``run`` is not wrapped so the
  receiver's drop runs first. A worker blocked on a full channel then never
  wakes and the join deadlocks.
* ``bug_leak_sender``: the seed's design - no END marker, the loop ends when
  every sender is closed - with a worker that leaked a clone of its sender:
  the channel never disconnects and ``run`` waits forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from treadle_model.spec import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "END", "Constants", "Pump", "State", "build"]

END = "END"  # the marker treadle sends after the worker function finished


@dataclass(frozen=True)
class Constants:
    """Sizes, failure points and bug switches of the pump spec.

    capacity: channel capacity (0 = rendezvous). items: how many items the
    worker sends. pump_may_fail: ``pump`` may raise on any item.
    worker_may_fail: the worker may raise at any point. bug_*: see the module
    docs.
    """

    capacity: int = 1
    items: int = 2
    pump_may_fail: bool = True
    worker_may_fail: bool = True
    bug_keep_rx_open: bool = False
    bug_leak_sender: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 0 or self.items < 0:
            raise ValueError("capacity and items must be >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the pump spec.

    main: ``recv`` (blocked in or about to call recv) | ``pump`` (inside
    ``pump(held)``) | ``close_rx`` (END received, or pump raised) | ``join``
    | ``done``. held: the item main is pumping. buf: the channel's items and
    END, oldest first (for a rendezvous channel: the pending offer).
    rx_closed: the receiver is closed. tx_open: the worker's sender is open.
    worker: ``run`` (in user code; at ``send(next)`` if ``next < items``) |
    ``offered`` (blocked in a rendezvous send of ``next``) | ``closing``
    (worker function finished) | ``end`` (treadle sends END) |
    ``end_offered`` | ``ending`` (END sent or failed) | ``exiting`` |
    ``exited`` (thread ended). next: the next item the worker sends. pumped,
    failed, discarded: items given to ``pump``, items whose send failed,
    items thrown away by ``close_rx``. worker_error / pump_error: which side
    raised.
    """

    main: str
    held: int | None
    buf: tuple[int | str, ...]
    rx_closed: bool
    tx_open: bool
    worker: str
    next: int
    pumped: tuple[int, ...]
    failed: tuple[int, ...]
    discarded: tuple[int, ...]
    worker_error: bool
    pump_error: bool


def _items(c: Constants) -> range:
    return range(c.items)


# Speed hints (see ``action(candidates=...)``): the only item each action can
# take in a state.
def _next(spec: Pump, s: State) -> tuple[tuple[int], ...]:
    return ((s.next,),)


def _head(spec: Pump, s: State) -> tuple[tuple[int | str], ...]:
    return ((s.buf[0],),) if s.buf else ()


def _held(spec: Pump, s: State) -> tuple[tuple[int | None], ...]:
    return ((s.held,),)


class Pump(Spec[State, Constants]):
    """WorkerPump.run: worker sends, main pumps, close-receive-then-join on error."""

    constants_type = Constants
    state_type = State

    def init_states(self) -> list[State]:
        return [
            State(
                main="recv",
                held=None,
                buf=(),
                rx_closed=False,
                tx_open=True,
                worker="run",
                next=0,
                pumped=(),
                failed=(),
                discarded=(),
                worker_error=False,
                pump_error=False,
            )
        ]

    # -- worker ----------------------------------------------------------------

    @action(fair=True, item=_items, candidates=_next, when={"worker": "run"})
    def Send(self, s: State, item: int) -> State | None:
        """Worker at send(item), capacity > 0, receiver open, room: append to buf."""
        if (
            s.worker != "run"
            or s.next != item
            or self.c.capacity == 0
            or s.rx_closed
            or len(s.buf) >= self.c.capacity
        ):
            return None
        return s._replace(buf=(*s.buf, item), next=item + 1)

    @action(fair=True, item=_items, candidates=_next, when={"worker": "run"})
    def Offer(self, s: State, item: int) -> State | None:
        """Worker at send(item) on a rendezvous channel, receiver open: offer it, wait."""
        if s.worker != "run" or s.next != item or self.c.capacity != 0 or s.rx_closed:
            return None
        return s._replace(buf=(item,), worker="offered")

    @action(fair=True, item=_items, candidates=_next, when={"worker": ("run", "offered")})
    def SendFails(self, s: State, item: int) -> State | None:
        """Worker at send(item) (or blocked offering it), receiver closed: Disconnected."""
        if s.next != item or not s.rx_closed:
            return None
        if s.worker == "run":
            return s._replace(failed=(*s.failed, item), next=item + 1)
        if s.worker == "offered":
            # The receiver's close withdrew the offer (buf is already empty).
            return s._replace(failed=(*s.failed, item), next=item + 1, worker="run")
        return None

    @action(fair=True, when={"worker": "run"})
    def WorkerReturns(self, s: State) -> State | None:
        """Worker sent everything, or saw Disconnected and stops: the function returns."""
        if s.worker != "run" or not (s.next == self.c.items or s.failed):
            return None
        return s._replace(worker="closing")

    @action(fair=True, when={"worker": "run"})
    def WorkerRaises(self, s: State) -> State | None:
        """worker_may_fail, worker in user code (not blocked in send): the function raises."""
        if not self.c.worker_may_fail or s.worker != "run" or self.worker_blocked(s):
            return None
        return s._replace(worker="closing", worker_error=True)

    @action(fair=True, when={"worker": "closing"})
    def CloseTx(self, s: State) -> State | None:
        """Worker function finished: treadle closes the worker's sender.

        bug_leak_sender: a leaked clone keeps the channel connected; the seed
        sends no END, and the thread just ends.
        """
        if self.c.bug_leak_sender:
            return s._replace(worker="exited")
        return s._replace(tx_open=False, worker="end")

    @action(fair=True, when={"worker": "end"})
    def SendEnd(self, s: State) -> State | None:
        """Capacity > 0, receiver open, room: append END."""
        if self.c.capacity == 0 or s.rx_closed or len(s.buf) >= self.c.capacity:
            return None
        return s._replace(buf=(*s.buf, END), worker="ending")

    @action(fair=True, when={"worker": "end"})
    def OfferEnd(self, s: State) -> State | None:
        """Rendezvous, receiver open: offer END and wait for it to be taken."""
        if self.c.capacity != 0 or s.rx_closed:
            return None
        return s._replace(buf=(END,), worker="end_offered")

    @action(fair=True, when={"worker": ("end", "end_offered")})
    def EndFails(self, s: State) -> State | None:
        """The receiver is closed (the pump failed): sending END fails; that is fine."""
        if not s.rx_closed:
            return None
        return s._replace(worker="ending")

    @action(fair=True, when={"worker": "ending"})
    def CloseEndTx(self, s: State) -> State | None:
        """treadle closes its END sender."""
        return s._replace(worker="exiting")

    @action(fair=True, when={"worker": "exiting"})
    def WorkerExits(self, s: State) -> State | None:
        """The worker thread ends (join can complete)."""
        return s._replace(worker="exited")

    # -- main ------------------------------------------------------------------

    @action(fair=True, item=_items, candidates=_head, when={"main": "recv"})
    def Recv(self, s: State, item: int) -> State | None:
        """Main in recv, item first in the channel: take it (completes a rendezvous send)."""
        if s.main != "recv" or not s.buf or s.buf[0] != item:
            return None
        if self.c.capacity == 0:
            return s._replace(main="pump", held=item, buf=(), worker="run", next=item + 1)
        return s._replace(main="pump", held=item, buf=s.buf[1:])

    @action(fair=True, when={"main": "recv"})
    def RecvEnd(self, s: State) -> State | None:
        """Main in recv, END first in the channel: the loop ends; close the receiver next."""
        if not s.buf or s.buf[0] != END:
            return None
        if self.c.capacity == 0:
            return s._replace(main="close_rx", buf=(), worker="ending")
        return s._replace(main="close_rx", buf=s.buf[1:])

    @action(fair=True, item=_items, candidates=_held, when={"main": "pump"})
    def Pump(self, s: State, item: int) -> State | None:
        """Main calls pump(item), which returns."""
        if s.main != "pump" or s.held != item:
            return None
        return s._replace(main="recv", held=None, pumped=(*s.pumped, item))

    @action(fair=True, item=_items, candidates=_held, when={"main": "pump"})
    def PumpRaises(self, s: State, item: int) -> State | None:
        """pump_may_fail: pump(item) raises; next, close the receiver (bug: join at once)."""
        if not self.c.pump_may_fail or s.main != "pump" or s.held != item:
            return None
        return s._replace(
            main="join" if self.c.bug_keep_rx_open else "close_rx",
            held=None,
            pumped=(*s.pumped, item),
            pump_error=True,
        )

    @action(fair=True, when={"main": "close_rx"})
    def CloseRx(self, s: State) -> State | None:
        """Main closes the receiver: buffered items are discarded, senders wake and fail."""
        lost = tuple(x for x in s.buf if isinstance(x, int)) if self.c.capacity else ()
        discarded = s.discarded + lost
        return s._replace(main="join", rx_closed=True, buf=(), discarded=discarded)

    @action(fair=True, when={"main": "join"})
    def Join(self, s: State) -> State | None:
        """Main joins the worker: completes once the worker thread has ended."""
        if s.worker != "exited":
            return None
        return s._replace(main="done")

    # -- properties ------------------------------------------------------------

    def is_final(self, s: State) -> bool:
        return s.main == "done"

    @cached_property
    def _range(self) -> list[list[int]]:
        return [list(range(n)) for n in range(self.c.items + 2)]

    def worker_blocked(self, s: State) -> bool:
        """The worker is blocked in send: a full channel, or an untaken rendezvous offer."""
        if s.rx_closed:
            return False
        if self.c.capacity == 0:
            return s.worker == "offered"
        return s.worker == "run" and s.next < self.c.items and len(s.buf) >= self.c.capacity

    def nothing_lost(self, s: State) -> bool:
        """Every item the worker tried to send is in exactly one place."""
        ledger: tuple[int, ...] = s.pumped + s.failed + s.discarded
        ledger += tuple(x for x in s.buf if isinstance(x, int))
        if s.held is not None:
            ledger += (s.held,)
        attempted = s.next + (1 if s.worker == "offered" and s.buf else 0)
        if len(ledger) != attempted or sorted(ledger) != self._range[attempted]:
            return False
        if s.discarded and not s.pump_error:
            return False  # only a pump failure may discard items
        if s.main == "done":
            if s.buf:
                return False  # sent, never pumped, never discarded
            if not s.pump_error and s.pumped != tuple(range(s.next)):
                return False
        return True

    def properties(self) -> list[Property[State]]:
        c = self.c
        props: list[Property[State]] = [
            Property.always(
                "join_before_return",
                lambda s: s.main != "done" or s.worker == "exited",
                "run returns or raises only after the worker thread ended",
            ),
            Property.always(
                "nothing_lost",
                self.nothing_lost,
                "every item sent is pumped, or its send failed with Disconnected, or "
                "it was buffered when the receiver closed after a pump failure",
            ),
            Property.always(
                "end_marker_last",
                lambda s: END not in s.buf[:-1],
                "nothing is sent after END, so END means every item was received",
            ),
            Property.always(
                "fifo",
                lambda s: s.pumped == tuple(range(len(s.pumped))),
                "items are pumped in the order they were sent",
            ),
            Property.always(
                "all_pumped_on_success",
                lambda s: s.main != "done" or s.pump_error or s.pumped == tuple(range(s.next)),
                "when pump never raised, every item sent was pumped before run returned",
            ),
            Property.eventually(
                "run_returns",
                lambda s: s.main == "done",
                "run eventually returns or raises (weak fairness of every step)",
            ),
            Property.sometimes(
                "returns_normally",
                lambda s: s.main == "done" and not s.pump_error and not s.worker_error,
            ),
        ]
        if c.items >= c.capacity + 1:
            props.append(
                Property.sometimes(
                    "send_blocks", self.worker_blocked, "a send blocks on a full channel"
                )
            )
        if c.pump_may_fail and c.items >= c.capacity + 2:
            props.append(
                Property.sometimes(
                    "pump_fails_while_worker_blocked",
                    lambda s: s.pump_error and s.main != "done" and self.worker_blocked(s),
                )
            )
        if c.pump_may_fail and c.items >= 2 and not c.bug_keep_rx_open:
            props.append(Property.sometimes("send_fails_after_close", lambda s: bool(s.failed)))
        if c.pump_may_fail and c.items >= 2 and c.capacity >= 1 and not c.bug_keep_rx_open:
            props.append(Property.sometimes("items_discarded", lambda s: bool(s.discarded)))
        if c.capacity >= 1 and c.items >= c.capacity:
            props.append(
                Property.sometimes(
                    "end_waits_for_room",
                    lambda s: s.worker == "end" and not s.rx_closed and len(s.buf) >= c.capacity,
                    "END is sent on a full channel and waits for main to make room",
                )
            )
        if c.pump_may_fail and c.items >= 1 and not c.bug_keep_rx_open:
            props.append(
                Property.sometimes(
                    "end_fails_after_pump_error",
                    lambda s: s.worker in ("end", "end_offered") and s.rx_closed,
                )
            )
        if c.worker_may_fail:
            props.append(
                Property.sometimes(
                    "worker_error_reported", lambda s: s.main == "done" and s.worker_error
                )
            )
        return props


def build(**constants: object) -> Pump:
    """The pump spec with these constants (the rest default)."""
    return Pump(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    Constants(capacity=cap, items=n) for cap in (0, 1, 2) for n in (0, 1, 2, 3)
]
