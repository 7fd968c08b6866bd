"""WorkerPool.stop: tell every worker to stop, drain the up channel, then join.

The protocol of ``WorkerPool.stop_and_join`` (``treadle.pool``) at the
level of its synchronisation steps. ``workers`` workers each send ``items``
messages up to the manager over one bounded up channel of ``capacity``
(0 = rendezvous); a send blocks while the channel is full. Each worker has an
unbounded down channel, so sending ``Stop`` never blocks. Between sends a
worker may look at its down channel (``try_recv``) and stop early - also
while the up channel is full, as long as it has not called ``send`` yet;
once it has sent everything it blocks on the down channel until ``Stop``.
It may raise at any point in its own code (not while blocked in a send).
When it ends its clone of the up sender is closed.

The manager, while running, may receive messages; ``stop`` sends ``Stop`` to
every worker (in order), then drains: receives every up message until all
senders are closed and the channel is empty, then joins the workers (in
order). Draining *before* joining is what lets a worker blocked on the full
up channel finish. A later ``stop()`` or ``close()`` of the same pool (the
``with`` block ending after ``stop_and_join``) finds the channel already
disconnected and has nothing to send or join.

Action vocabulary (what the conformance check matches impl events against).
Events are ``pool.*`` unless named otherwise; ``channel.*`` events are on
the up channel (``<name>.up``) or w's down channel (``<name>.down<w>``):

=====================  ========  ===========================================
action                 thread    impl event
=====================  ========  ===========================================
``Send(w)``            worker w  ``channel.send`` on the up channel
``Block(w)``           worker w  none (a send that waits for room emits
                                 nothing until ``Send``)
``Offer(w)``           worker w  none (rendezvous: observed at ``Recv``)
``SeeStop(w)``         worker w  ``channel.recv`` of STOP on its down
                                 channel, then ``stop_received``
``Raise(w)``           worker w  none of its own (``worker_ended`` says
                                 ``failed=True``)
``Exit(w)``            worker w  ``channel.close_tx`` (up), then
                                 ``worker_ended`` (and ``idle`` for the last)
``Recv(w, k)``         manager   ``channel.recv`` of w's k-th message (during
                                 stop also ``message_drained``)
``IdleWhileRunning``   manager   ``channel.disconnected`` on the up channel
                                 before ``stop()``: every worker started so
                                 far has ended (raised); ``execute()``
                                 replaces the channel, ``recv()`` raises
                                 ``NoWorkers``
``BeginStop``          manager   none (``stop()`` is called)
``SendStop(w)``        manager   ``stop_sent``, then ``channel.send`` of STOP
                                 on w's down channel (or ``send_failed`` if w
                                 has ended)
``RecvDisconnected``   manager   ``channel.disconnected`` on the up channel:
                                 the drain's ``recv`` finds no running worker
                                 (``NoWorkers``)
``Join(w)``            manager   ``worker_joined``; after the last, ``stop_returned``
``StopAgain``          manager   ``channel.disconnected`` on the up channel
                                 (then ``stop_returned``) after ``done``
=====================  ========  ===========================================

BUG SWITCH:

* ``bug_join_before_drain``: after sending Stop, join the workers first and
  drain afterwards. A worker blocked on the full up channel never sees Stop
  and never ends, so the join deadlocks (draining first is what makes the
  stop deadlock-free).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from treadle_spec.lang import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "Constants", "PoolDrain", "State", "build"]

T = TypeVar("T")


@dataclass(frozen=True)
class Constants:
    """Sizes, failure points and bug switches of the pool spec.

    workers: number of workers. items: messages each worker sends up.
    capacity: the up channel's capacity (0 = rendezvous).
    worker_may_fail: a worker may raise. recv_while_running: the manager may
    receive before it calls stop. bug_join_before_drain: see the module docs.
    """

    workers: int = 2
    items: int = 1
    capacity: int = 1
    worker_may_fail: bool = True
    recv_while_running: bool = True
    bug_join_before_drain: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1 or self.items < 0 or self.capacity < 0:
            raise ValueError("workers must be >= 1; items and capacity >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the pool spec.

    mgr: ``run`` | ``stop`` (sending Stop) | ``drain`` | ``join`` | ``done``.
    stops: Stop was sent to workers ``0 .. stops-1``. joined: workers
    ``0 .. joined-1`` are joined. buf: up messages ``(w, k)``, oldest first
    (rendezvous: pending offers). wk: per worker, ``work`` (in its own code,
    or - when it sent everything - blocked on its down channel) |
    ``sending`` (called ``send`` on the full up channel and waits for room) |
    ``offered`` (blocked in a rendezvous send) | ``exit`` (its function
    ended) | ``dead`` (sender closed, thread ended). sent: per
    worker, messages sent. got: messages the manager received, in order.
    raised: per worker, whether it raised.
    """

    mgr: str
    stops: int
    joined: int
    buf: tuple[tuple[int, int], ...]
    wk: tuple[str, ...]
    sent: tuple[int, ...]
    got: tuple[tuple[int, int], ...]
    raised: tuple[bool, ...]


def _workers(c: Constants) -> range:
    return range(c.workers)


def _items(c: Constants) -> range:
    return range(c.items)


# Speed hints (see ``action(candidates=...)``): the bindings worth trying.
def _head(spec: PoolDrain, s: State) -> tuple[tuple[int, int], ...]:
    return (s.buf[0],) if s.buf else ()


def _working(spec: PoolDrain, s: State) -> list[tuple[int]]:
    return [(w,) for w, pc in enumerate(s.wk) if pc == "work"]


def _sendable(spec: PoolDrain, s: State) -> list[tuple[int]]:
    return [(w,) for w, pc in enumerate(s.wk) if pc in ("work", "sending")]


def _exiting(spec: PoolDrain, s: State) -> list[tuple[int]]:
    return [(w,) for w, pc in enumerate(s.wk) if pc == "exit"]


def _next_stop(spec: PoolDrain, s: State) -> tuple[tuple[int]]:
    return ((s.stops,),)


def _next_join(spec: PoolDrain, s: State) -> tuple[tuple[int]]:
    return ((s.joined,),)


def _set(t: tuple[T, ...], i: int, v: T) -> tuple[T, ...]:
    return (*t[:i], v, *t[i + 1 :])


class PoolDrain(Spec[State, Constants]):
    """WorkerPool.stop_and_join: Stop to all, drain the up channel, then join."""

    constants_type = Constants
    state_type = State

    def init_states(self) -> list[State]:
        n = self.c.workers
        return [
            State(
                mgr="run",
                stops=0,
                joined=0,
                buf=(),
                wk=("work",) * n,
                sent=(0,) * n,
                got=(),
                raised=(False,) * n,
            )
        ]

    def blocked_in_send(self, s: State, w: int) -> bool:
        """Worker w is blocked sending up: waiting for room, or an untaken offer."""
        return s.wk[w] in ("sending", "offered")

    # -- workers ---------------------------------------------------------------

    @action(fair=True, w=_workers, candidates=_sendable)
    def Send(self, s: State, w: int) -> State | None:
        """Worker w has a message to send (or waits to), capacity > 0, room: append (w, k)."""
        c = self.c
        k = s.sent[w]
        if (
            s.wk[w] not in ("work", "sending")
            or c.capacity == 0
            or k >= c.items
            or len(s.buf) >= c.capacity
        ):
            return None
        return s._replace(
            buf=(*s.buf, (w, k)), sent=_set(s.sent, w, k + 1), wk=_set(s.wk, w, "work")
        )

    @action(fair=True, w=_workers, candidates=_working)
    def Block(self, s: State, w: int) -> State | None:
        """Worker w calls send on the full up channel (capacity > 0): it waits for room."""
        c = self.c
        if s.wk[w] != "work" or c.capacity == 0 or s.sent[w] >= c.items or len(s.buf) < c.capacity:
            return None
        return s._replace(wk=_set(s.wk, w, "sending"))

    @action(fair=True, w=_workers, candidates=_working)
    def Offer(self, s: State, w: int) -> State | None:
        """Worker w has a message to send on a rendezvous channel: offer it and wait."""
        k = s.sent[w]
        if s.wk[w] != "work" or self.c.capacity != 0 or k >= self.c.items:
            return None
        return s._replace(buf=(*s.buf, (w, k)), wk=_set(s.wk, w, "offered"))

    @action(fair=True, w=_workers, candidates=_working)
    def SeeStop(self, s: State, w: int) -> State | None:
        """Stop is in w's down channel and w is not blocked sending: it takes Stop, ends."""
        if s.wk[w] != "work" or w >= s.stops:
            return None
        return s._replace(wk=_set(s.wk, w, "exit"))

    @action(fair=True, w=_workers, candidates=_working)
    def Raise(self, s: State, w: int) -> State | None:
        """worker_may_fail; w is in its own code (has a message left to send): it raises."""
        if not self.c.worker_may_fail or s.wk[w] != "work" or s.sent[w] >= self.c.items:
            return None
        return s._replace(wk=_set(s.wk, w, "exit"), raised=_set(s.raised, w, True))

    @action(fair=True, w=_workers, candidates=_exiting)
    def Exit(self, s: State, w: int) -> State | None:
        """Worker w's function ended: its up sender is closed and the thread ends."""
        if s.wk[w] != "exit":
            return None
        return s._replace(wk=_set(s.wk, w, "dead"))

    # -- manager ---------------------------------------------------------------

    @action(fair=True, w=_workers, k=_items, candidates=_head, when={"mgr": ("run", "drain")})
    def Recv(self, s: State, w: int, k: int) -> State | None:
        """Manager receives (w, k), the oldest up message (completes a rendezvous send)."""
        if not s.buf or s.buf[0] != (w, k):
            return None
        if s.mgr == "run" and not self.c.recv_while_running:
            return None
        if self.c.capacity == 0:
            return s._replace(
                buf=s.buf[1:],
                got=(*s.got, (w, k)),
                wk=_set(s.wk, w, "work"),
                sent=_set(s.sent, w, k + 1),
            )
        return s._replace(buf=s.buf[1:], got=(*s.got, (w, k)))

    @action(fair=False, when={"mgr": "run"})
    def IdleWhileRunning(self, s: State) -> State | None:
        """Before stop, the manager finds the up channel empty with no sender left.

        The impl starts workers one at a time, so every worker started so far
        may have ended (raised) before the next one starts; the spec's later
        workers are then still in ``work`` (they have not begun). Nothing changes.
        """
        if s.buf or not any(x == "dead" for x in s.wk):
            return None
        return s

    @action(fair=True, when={"mgr": "run"})
    def BeginStop(self, s: State) -> State | None:
        """The manager calls stop_and_join()."""
        return s._replace(mgr="stop")

    @action(fair=True, w=_workers, candidates=_next_stop, when={"mgr": "stop"})
    def SendStop(self, s: State, w: int) -> State | None:
        """Send Stop down to worker w (never blocks); after the last, drain (bug: join)."""
        if s.stops != w:
            return None
        if w + 1 < self.c.workers:
            return s._replace(stops=w + 1)
        return s._replace(stops=w + 1, mgr="join" if self.c.bug_join_before_drain else "drain")

    @action(fair=True, when={"mgr": "drain"})
    def RecvDisconnected(self, s: State) -> State | None:
        """Up channel empty and every worker's sender closed: draining is over."""
        if s.buf or any(x != "dead" for x in s.wk):
            return None
        return s._replace(mgr="done" if self.c.bug_join_before_drain else "join")

    @action(fair=True, w=_workers, candidates=_next_join, when={"mgr": "join"})
    def Join(self, s: State, w: int) -> State | None:
        """Join worker w (in order); completes once its thread ended."""
        if s.joined != w or s.wk[w] != "dead":
            return None
        if w + 1 < self.c.workers:
            return s._replace(joined=w + 1)
        return s._replace(joined=w + 1, mgr="drain" if self.c.bug_join_before_drain else "done")

    @action(fair=False, when={"mgr": "done"})
    def StopAgain(self, s: State) -> State | None:
        """stop()/close() again after done: the up channel is disconnected, nothing to join."""
        return s

    # -- properties ------------------------------------------------------------

    def is_final(self, s: State) -> bool:
        return s.mgr == "done"

    def attempted(self, s: State) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for w in range(self.c.workers):
            n = s.sent[w] + (1 if s.wk[w] == "offered" else 0)
            out.extend((w, k) for k in range(n))
        return out

    def nothing_lost(self, s: State) -> bool:
        """Every message sent is received or still in the channel; none at the end."""
        if sorted(s.got + s.buf) != self.attempted(s):
            return False
        return not (s.mgr == "done" and s.buf)

    def per_worker_fifo(self, s: State) -> bool:
        nxt = [0] * self.c.workers
        for w, k in s.got:
            if k != nxt[w]:
                return False
            nxt[w] += 1
        return True

    def properties(self) -> list[Property[State]]:
        c = self.c
        n = c.workers
        props: list[Property[State]] = [
            Property.always(
                "drain_before_join",
                lambda s: s.mgr != "join" or (not s.buf and all(x == "dead" for x in s.wk)),
                "the manager joins only after every worker ended and the up channel is drained",
            ),
            Property.always(
                "join_before_return",
                lambda s: s.mgr != "done" or (s.joined == n and all(x == "dead" for x in s.wk)),
                "stop_and_join returns only after joining every worker, even those that raised",
            ),
            Property.always(
                "nothing_lost",
                self.nothing_lost,
                "every message a worker sent is received by the manager before stop returns",
            ),
            Property.always(
                "per_worker_fifo",
                self.per_worker_fifo,
                "each worker's messages arrive in the order it sent them",
            ),
            Property.eventually(
                "stop_returns",
                lambda s: s.mgr == "done",
                "stop_and_join eventually returns (weak fairness of every step)",
            ),
            Property.sometimes(
                "all_messages_received",
                lambda s: s.mgr == "done" and len(s.got) == n * c.items,
            ),
        ]
        if c.items >= c.capacity + 1:
            props.append(
                Property.sometimes(
                    "stop_while_worker_blocked",
                    lambda s: (
                        s.mgr in ("stop", "drain", "join")
                        and any(self.blocked_in_send(s, w) for w in range(n))
                    ),
                    "a worker is blocked on the full up channel while the manager stops",
                )
            )
        if c.items >= 2:
            props.append(
                Property.sometimes(
                    "worker_stops_early",
                    lambda s: (
                        s.mgr == "done"
                        and any(s.sent[w] < c.items and not s.raised[w] for w in range(n))
                    ),
                    "a worker sees Stop before it sent everything",
                )
            )
        if c.worker_may_fail and n >= 2 and c.items >= 1:
            props.append(
                Property.sometimes(
                    "several_workers_raise",
                    lambda s: s.mgr == "done" and sum(s.raised) >= 2,
                )
            )
        return props


def build(**constants: object) -> PoolDrain:
    """The pool spec with these constants (the rest default)."""
    return PoolDrain(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    Constants(workers=1, items=2, capacity=0),
    Constants(workers=1, items=2, capacity=1),
    Constants(workers=2, items=1, capacity=0),
    Constants(workers=2, items=2, capacity=1),
    Constants(workers=2, items=2, capacity=2),
    Constants(workers=3, items=1, capacity=1),
]
