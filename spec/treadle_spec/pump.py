"""WorkerPump: a worker thread sends items, the calling (main) thread pumps them.

The protocol of ``WorkerPump.run(worker, pump)`` (``treadle.pump``) at
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

With ``interrupts`` the calling thread may also be interrupted
(``KeyboardInterrupt``, as ``explore(interrupt_main=True)`` does at each of
its blocking steps). Before the worker is started, ``run`` just raises: if
its END sender already exists it closes the receiver and both senders
itself, and there is no thread to join. While it receives (or between
receiving an item and calling ``pump``) the interrupt is handled like a pump
failure: close the receiver, join, raise. During the clean-up it is held
back until the worker is joined, so those steps are the same as without it.

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
``Call(item)``         main    ``pump.item`` (emitted as ``pump(item)`` is
                               called)
``Pump(item)``         main    none: ``pump(item)`` returns
``PumpRaises(item)``   main    ``pump.pump_raised``
``RecvEnd``            main    ``channel.recv`` of END
``CloseRx``            main    ``channel.close_rx`` then ``pump.rx_closed``
                               (the impl's ``discarded`` also counts a
                               withdrawn rendezvous offer, which the spec
                               books as ``SendFails`` / ``EndFails``)
``Join``               main    ``pump.worker_joined``, then
                               ``pump.run_returned`` / ``pump.run_raised``
=====================  ======  ==============================================

With ``interrupts``:

=======================  ====  ==============================================
action                   thr.  impl event
=======================  ====  ==============================================
``Spawn``                main  none (the worker's ``pump.worker_started``
                               may come much later)
``Interrupted``          main  ``pump.pump_raised`` (in ``recv``, or before
                               ``pump`` was called on the held item)
``InterruptedAtStart``   main  none: ``run`` raises before it has an END
                               sender; nothing was started
``SpawnInterrupted``     main  none; then ``CloseRx`` as usual and
                               ``CloseTx`` / ``CloseEndTx`` on the calling
                               thread (``channel.close_tx`` twice)
``NothingToJoin``        main  none (``pump.run_raised`` follows)
=======================  ====  ==============================================

BUG SWITCHES (constants that reintroduce historical mistakes):

* ``bug_keep_rx_open``: when the pump raises, go straight to the join without
  closing the receiver - the historical hazard of a ``run`` whose clean-up
  does not close the receiver first. A worker blocked on a full channel then never
  wakes and the join deadlocks.
* ``bug_leak_sender``: the historical design - no END marker, the loop ends when
  every sender is closed - with a worker that leaked a clone of its sender:
  the channel never disconnects and ``run`` waits forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from treadle_spec.lang import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "END", "Constants", "Pump", "State", "build"]

END = "END"  # the marker treadle sends after the worker function finished


@dataclass(frozen=True)
class Constants:
    """Sizes, failure points and bug switches of the pump spec.

    capacity: channel capacity (0 = rendezvous). items: how many items the
    worker sends. pump_may_fail: ``pump`` may raise on any item.
    worker_may_fail: the worker may raise at any point. interrupts: the
    calling thread may be interrupted at any blocking step (see the module
    docs). bug_*: see the module docs.
    """

    capacity: int = 1
    items: int = 2
    pump_may_fail: bool = True
    worker_may_fail: bool = True
    interrupts: bool = False
    bug_keep_rx_open: bool = False
    bug_leak_sender: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 0 or self.items < 0:
            raise ValueError("capacity and items must be >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the pump spec.

    main: ``start`` (interrupts only: the worker is not started yet) |
    ``recv`` (blocked in or about to call recv) | ``pump`` (received
    ``held``, about to call ``pump``) | ``pumping`` (inside ``pump(held)``) |
    ``close_rx`` (END received, or pump raised, or interrupted) | ``join`` |
    ``done``. held: the item main received and is about to pump or pumping.
    buf: the channel's items and END, oldest first (for a rendezvous
    channel: the pending offer).
    rx_closed: the receiver is closed. tx_open: the worker's sender is open.
    worker: ``run`` (in user code; at ``send(next)`` if ``next < items``) |
    ``offered`` (blocked in a rendezvous send of ``next``) | ``closing``
    (worker function finished) | ``end`` (treadle sends END) |
    ``end_offered`` | ``ending`` (END sent or failed) | ``exiting`` |
    ``exited`` (thread ended) | with interrupts, ``unstarted`` (not yet
    spawned) | ``never`` (the spawn was interrupted; main closes the senders)
    | ``never_closed`` (and has closed them). next: the next item the worker sends. pumped,
    failed, discarded: items given to ``pump``, items whose send failed,
    items thrown away by ``close_rx`` (or received and dropped by an
    interrupt). worker_error / pump_error: which side raised (an interrupt
    of the calling thread counts as a pump error).
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
        start = self.c.interrupts
        return [
            State(
                main="start" if start else "recv",
                held=None,
                buf=(),
                rx_closed=False,
                tx_open=True,
                worker="unstarted" if start else "run",
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
        """worker_may_fail, worker in user code: the function raises.

        ``run`` is also the state of a worker about to call ``send`` on a full
        channel (capacity > 0 has no separate blocked state), so this stays
        enabled there: it raises before it calls ``send``.
        """
        if not self.c.worker_may_fail or s.worker != "run":
            return None
        return s._replace(worker="closing", worker_error=True)

    @action(fair=True, when={"worker": ("closing", "never")})
    def CloseTx(self, s: State) -> State | None:
        """Worker function finished: treadle closes the worker's sender.

        bug_leak_sender: a leaked clone keeps the channel connected; the old
        design sends no END, and the thread just ends. (Spawn interrupted: the
        calling thread closes it, after the receiver.)
        """
        if s.worker == "never":
            if s.main != "join" or not s.tx_open:
                return None
            return s._replace(tx_open=False)
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

    @action(fair=True, when={"worker": ("ending", "never")})
    def CloseEndTx(self, s: State) -> State | None:
        """treadle closes its END sender (spawn interrupted: the calling thread, last)."""
        if s.worker == "never":
            if s.main != "join" or s.tx_open:
                return None
            return s._replace(worker="never_closed")
        return s._replace(worker="exiting")

    @action(fair=True, when={"worker": "exiting"})
    def WorkerExits(self, s: State) -> State | None:
        """The worker thread ends (join can complete)."""
        return s._replace(worker="exited")

    # -- main ------------------------------------------------------------------

    @action(fair=True, when={"main": "start"})
    def Spawn(self, s: State) -> State | None:
        """interrupts: run has its channel and END sender and starts the worker thread."""
        return s._replace(main="recv", worker="run")

    @action(when={"main": "start"})
    def InterruptedAtStart(self, s: State) -> State | None:
        """interrupts: run is interrupted before it has an END sender: it just raises."""
        return s._replace(main="done", worker="never_closed", pump_error=True)

    @action(when={"main": "start"})
    def SpawnInterrupted(self, s: State) -> State | None:
        """interrupts: starting the worker is interrupted; no thread: close everything."""
        return s._replace(main="close_rx", worker="never", pump_error=True)

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
    def Call(self, s: State, item: int) -> State | None:
        """Main calls pump(item)."""
        if s.held != item:
            return None
        return s._replace(main="pumping")

    @action(fair=True, item=_items, candidates=_held, when={"main": "pumping"})
    def Pump(self, s: State, item: int) -> State | None:
        """pump(item) returns; main receives again."""
        if s.held != item:
            return None
        return s._replace(main="recv", held=None, pumped=(*s.pumped, item))

    @action(fair=True, item=_items, candidates=_held, when={"main": "pumping"})
    def PumpRaises(self, s: State, item: int) -> State | None:
        """pump_may_fail (or interrupts): pump(item) raises; next, close the receiver.

        bug_keep_rx_open: go straight to the join.
        """
        if not (self.c.pump_may_fail or self.c.interrupts) or s.held != item:
            return None
        return s._replace(
            main="join" if self.c.bug_keep_rx_open else "close_rx",
            held=None,
            pumped=(*s.pumped, item),
            pump_error=True,
        )

    @action(when={"main": ("recv", "pump", "close_rx")})
    def Interrupted(self, s: State) -> State | None:
        """interrupts: main is interrupted in recv, or before it called pump on ``held``.

        Handled like a pump failure; an item received but not yet pumped is
        dropped with the rest (booked as discarded). The recv that took END
        can be interrupted on its way out too (``close_rx`` without an error).
        """
        if not self.c.interrupts or s.pump_error:
            return None
        dropped = () if s.held is None else (s.held,)
        return s._replace(
            main="join" if self.c.bug_keep_rx_open else "close_rx",
            held=None,
            discarded=s.discarded + dropped,
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

    @action(fair=True, when={"main": "join", "worker": "never_closed"})
    def NothingToJoin(self, s: State) -> State | None:
        """interrupts: the spawn was interrupted and the senders are closed: run raises."""
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
                lambda s: s.main != "done" or s.worker in ("exited", "never_closed"),
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
        if c.interrupts:
            props.append(
                Property.sometimes(
                    "spawn_interrupted",
                    lambda s: s.main == "done" and s.worker == "never_closed" and s.rx_closed,
                    "an interrupt while starting the worker closes everything; no thread",
                )
            )
            if c.items >= 1:
                props.append(
                    Property.sometimes(
                        "interrupt_drops_received_item",
                        lambda s: s.pump_error and bool(s.discarded) and not s.pumped,
                        "an item received but not yet pumped is dropped by an interrupt",
                    )
                )
        return props


def build(**constants: object) -> Pump:
    """The pump spec with these constants (the rest default)."""
    return Pump(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    Constants(capacity=cap, items=n) for cap in (0, 1, 2) for n in (0, 1, 2, 3)
] + [Constants(capacity=cap, items=2, interrupts=True) for cap in (0, 1, 2)]
