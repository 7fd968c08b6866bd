"""WorkerPool: the real pool's stop explored exhaustively, conforming to ``pool_drain``.

Each scenario starts ``workers`` workers on a pool whose up channel holds
``capacity`` messages; worker ``w`` sends ``(w, 0), (w, 1), ...`` up (at most
``items`` of them), then iterates its down channel until ``STOP``. The
manager then stops the pool one way or another (``stop_and_join``, the
``stop()`` iterator closed early, ``close``, after a ``recv`` or a
``recv_burst``), or pauses and continues workers first. Some workers raise
part-way, some look at their down channel between sends and stop early.

Each body asserts, on the real code:

* every message a worker's ``tx.send`` accepted is received by the manager
  exactly once, in that worker's order, and nothing else is;
* every worker thread is joined when the stopping call returns or raises
  (``treadle_model.unload()`` right after it);
* the worker errors come back together, after the joins, as one
  ``PoolWorkerError`` naming exactly the workers that raised.

The explorer adds: no deadlock, no lost wakeup, no leaked thread, no
exception; and the conformance monitor replays every execution's events
through the ``pool_drain`` spec built with the scenario's sizes (see
:func:`mapping` for how events become spec actions).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from treadle import sync
from treadle._events import EVENTS as EVENT_NAMES
from treadle._events import Channel, Pool
from treadle.channel import Empty
from treadle.pool import CONTINUE, PAUSE, PoolWorkerError, UpMsg, WorkerPool
from treadle_model import unload
from treadle_spec import pool_drain
from treadle_verify.conformance import ActionMatch, Mapping, any_of, match, never
from treadle_verify.protocols import EventTable, Preset, ProtocolCheck, Scenario

__all__ = [
    "CHECK",
    "EVENTS",
    "NAME",
    "Config",
    "WorkerFailed",
    "mapping",
    "scenarios",
    "spec_sizes",
]

NAME = "pool"
"""The pool's name in every scenario (its up channel is ``pool.up``)."""

Impl = type[WorkerPool[Any, Any]]


class WorkerFailed(Exception):
    """Raised by a scenario's worker at its configured failure point."""

    def __init__(self, worker: int, k: int) -> None:
        super().__init__(f"worker {worker} failed before sending message {k}")
        self.worker = worker
        self.k = k


# -- the mapping -------------------------------------------------------------------------


def _recv_match(item: object) -> ActionMatch:
    if not isinstance(item, UpMsg):
        return never(f"an up message that is not an UpMsg: {item!r}")
    value = item.value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return match("Recv", w=item.worker, k=value[1])
    return match("Recv", w=item.worker)


_CHANNEL_EVENTS = frozenset(EVENT_NAMES["channel"])
_POOL_EVENTS = frozenset(EVENT_NAMES["pool"])

EVENTS = EventTable(
    protocol="pool",
    modules=("channel", "pool"),
    mapped=frozenset(
        {
            Channel.SEND,
            Channel.RECV,
            Channel.DISCONNECTED,
            Channel.SEND_FAILED,
            Pool.STOP_SENT,
            Pool.STOP_RECEIVED,
            Pool.WORKER_ENDED,
            Pool.WORKER_JOINED,
        }
    ),
    quiet=frozenset(
        {
            Channel.CLONE_TX,  # the up channel's sender clones: worker_ended follows each
            Channel.CLOSE_TX,
            Channel.CLOSE_RX,
            Channel.RECV_BLOCKED,  # waiting is not a step; the recv or send that ends it is
            Channel.SEND_BLOCKED,  # Block(w) is internal
            Pool.WORKER_STARTED,
            Pool.PAUSE_RECEIVED,
            Pool.CONTINUE_RECEIVED,
            Pool.MESSAGE_DRAINED,  # its channel.recv is the step
            Pool.IDLE,
            Pool.STOP_RETURNED,
            Pool.BURST_STARTED,  # a kept message was already received
            Pool.BURST_KEPT,
        }
    ),
)
"""The events a pool execution sees, and which of them are spec steps (see :func:`mapping`)."""


def mapping(constants: dict[str, Any], *, name: str = NAME) -> Mapping:
    """How pool ``name``'s events map onto ``pool_drain`` built with ``constants``.

    ======================================  ==========================================
    impl event                              spec action(s)
    ======================================  ==========================================
    ``channel.send`` on ``<name>.up``       ``Send(w)`` (w = the UpMsg's worker)
    ``channel.recv`` on ``<name>.up``       ``Recv(w, k)`` (k from the value ``(w, k)``)
    ``channel.disconnected`` on the up      ``RecvDisconnected`` (the drain ends),
    channel                                 ``IdleWhileRunning`` (before stop: all
                                            workers started so far have ended),
                                            or ``StopAgain`` (a later stop/close)
    ``pool.stop_sent(worker=0)``            ``BeginStop`` then ``SendStop(0)``
    ``pool.stop_sent(worker=w)``            ``SendStop(w)``
    ``pool.stop_received(worker=w)``        ``SeeStop(w)``
    ``pool.worker_ended(w, failed=True)``   ``Raise(w)`` then ``Exit(w)``
    ``pool.worker_ended(w, failed=False)``  ``Exit(w)``
    ``pool.worker_joined(worker=w)``        ``Join(w)``
    ``channel.send_failed`` on the up       nothing: the spec has no such step
    channel
    ======================================  ==========================================

    ``Block(w)`` (a send waiting for room) is internal: the impl announces
    only the send that completes. Everything else is ignored: the down
    channels' events (``stop_received`` stands for them), ``worker_started``,
    pause/continue, ``message_drained`` (its ``channel.recv`` is the step),
    ``idle``, ``stop_returned``, the burst events (a kept message was already
    received; handing it over later is not a protocol step), and the up
    channel's sender clones and closes (``worker_ended`` follows each), and
    blocked sends and receives. Those are the quiet events of :data:`EVENTS`;
    any event in neither of its sets fails conformance, naming the event.
    """
    up = f"{name}.up"
    spec_constants = dict(constants)

    def translate(event: str, fields: dict[str, Any]) -> Sequence[ActionMatch] | None:
        if event in _CHANNEL_EVENTS:
            if fields.get("channel") != up:
                return None
            if event == Channel.SEND:
                item = fields["item"]
                if not isinstance(item, UpMsg):
                    return [never(f"an up message that is not an UpMsg: {item!r}")]
                return [match("Send", w=item.worker)]
            if event == Channel.RECV:
                return [_recv_match(fields["item"])]
            if event == Channel.DISCONNECTED:
                return [
                    any_of(
                        match("RecvDisconnected"),
                        match("IdleWhileRunning"),
                        match("StopAgain"),
                    )
                ]
            if event == Channel.SEND_FAILED:
                return [never("a worker's send on the up channel failed")]
        elif event in _POOL_EVENTS:
            if fields.get("pool") != name:
                return None
            if event == Pool.STOP_SENT:
                w = fields["worker"]
                if w == 0:
                    return [match("BeginStop"), match("SendStop", w=0)]
                return [match("SendStop", w=w)]
            if event == Pool.STOP_RECEIVED:
                return [match("SeeStop", w=fields["worker"])]
            if event == Pool.WORKER_ENDED:
                w = fields["worker"]
                if fields["failed"]:
                    return [match("Raise", w=w), match("Exit", w=w)]
                return [match("Exit", w=w)]
            if event == Pool.WORKER_JOINED:
                return [match("Join", w=fields["worker"])]
        return EVENTS.rest(event, fields)

    shown = ", ".join(f"{k}={v}" for k, v in spec_constants.items())
    # A spec is an immutable value once built; build it once, not per execution.
    spec = pool_drain.build(**spec_constants)
    return Mapping(
        spec=lambda: spec,
        translate=translate,
        internal=match("Block"),
        name=f"pool_drain({shown})",
    )


# -- scenario bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One scenario's sizes and behaviour.

    workers / items / capacity: as in the spec. fails: ``(w, k)`` pairs -
    worker w raises :class:`WorkerFailed` instead of sending its k-th
    message. peek: workers ``try_recv`` their down channel before each send
    and end early if ``STOP`` is there. manager: what the manager does before
    it stops (``"none"``, ``"recv"``: one ``recv()``, ``"burst"``: drain one
    ``recv_burst()``). stop: how it stops (``"stop_and_join"``,
    ``"stop_iter"``: take one message from ``stop()`` then ``close()`` the
    iterator, ``"close"``: ``pool.close()``).
    """

    workers: int
    items: int
    capacity: int
    fails: tuple[tuple[int, int], ...] = ()
    peek: bool = False
    manager: str = "none"
    stop: str = "stop_and_join"

    def spec_constants(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "items": self.items,
            "capacity": self.capacity,
            "worker_may_fail": bool(self.fails),
            # execute() takes a raised worker's messages off the channel when
            # it replaces the channel of an idle pool: a receive while running.
            "recv_while_running": self.manager != "none" or bool(self.fails),
        }

    def describe(self) -> str:
        parts = [
            f"workers={self.workers}",
            f"items={self.items}",
            f"capacity={self.capacity}",
        ]
        if self.fails:
            parts.append("fails=" + ",".join(f"w{w}@{k}" for w, k in self.fails))
        if self.peek:
            parts.append("peek")
        if self.manager != "none":
            parts.append(f"{self.manager} first")
        parts.append(self.stop)
        return " ".join(parts)


class _Record:
    """What one execution's workers did (plain lists: written by a worker before
    it ends, read by the manager after joining it)."""

    def __init__(self, workers: int) -> None:
        self.sent: list[list[tuple[int, int]]] = [[] for _ in range(workers)]
        self.echoed: list[list[object]] = [[] for _ in range(workers)]


def _sender(config: Config, rec: _Record) -> Callable[[Any, Any], None]:
    fails = dict(config.fails)

    def work(tx: Any, rx: Any) -> None:
        w = tx.index
        for k in range(config.items):
            if config.peek:
                with contextlib.suppress(Empty):
                    rx.try_recv()  # raises StopRequested once STOP is queued
            if fails.get(w) == k:
                raise WorkerFailed(w, k)
            tx.send((w, k))
            rec.sent[w].append((w, k))
        for _ in rx:
            pass

    return work


def _check_received(rec: _Record, msgs: Iterable[UpMsg[Any]]) -> None:
    got = [(m.worker, m.value) for m in msgs]
    for w, sent in enumerate(rec.sent):
        mine = [value for worker, value in got if worker == w]
        assert mine == sent, f"worker {w} sent {sent} but the manager received {mine}"
    assert len(got) == sum(len(s) for s in rec.sent), f"received {got}, sent {rec.sent}"


def _check_errors(config: Config, error: PoolWorkerError | None) -> None:
    failing = sorted(w for w, _ in config.fails)
    if not failing:
        assert error is None, f"no worker should fail, got {error!r}"
        return
    assert error is not None, f"workers {failing} raised but stop reported no error"
    assert list(error.workers) == failing, (error.workers, failing)
    for exc, w in zip(error.exceptions, error.workers, strict=True):
        assert isinstance(exc, WorkerFailed) and exc.worker == w, (exc, w)


def stop_body(config: Config, impl: Impl = WorkerPool) -> Callable[[], None]:
    """Start the workers, optionally receive first, stop, and check everything."""

    def body() -> None:
        rec = _Record(config.workers)
        pool = impl(config.capacity, name=NAME)
        pool.execute_many(config.workers, _sender(config, rec))
        early: list[UpMsg[Any]] = []
        if config.manager == "recv":
            early.append(pool.recv(with_envelope=True))
        elif config.manager == "burst":
            early.extend(pool.recv_burst(with_envelope=True))
        error: PoolWorkerError | None = None
        out: list[UpMsg[Any]] = []
        if config.stop == "stop_and_join":
            try:
                out = pool.stop_and_join(with_envelope=True)
            except PoolWorkerError as exc:
                error, out = exc, exc.messages
            unload("stop_and_join returned")
        elif config.stop == "stop_iter":
            it = pool.stop(with_envelope=True)
            try:
                with it:
                    for msg in it:
                        out.append(msg)
                        break
                    out.extend(it.close())
            except PoolWorkerError as exc:
                error = exc
                out.extend(exc.messages)
            unload("the stop iterator closed")
            assert it.done
        elif config.stop == "close":
            try:
                out = pool.close(with_envelope=True)
            except PoolWorkerError as exc:
                error, out = exc, exc.messages
            unload("close returned")
        else:  # pragma: no cover - a bad Config
            raise ValueError(f"unknown stop {config.stop!r}")
        _check_errors(config, error)
        _check_received(rec, early + out)
        # Closing after a stop (what a ``with`` block does) drains nothing more.
        assert pool.close() == []

    return body


def burst_keep_body(impl: Impl = WorkerPool) -> Callable[[], None]:
    """A burst keeps back a message sent after it started; the stop delivers it first.

    One worker sends ``(0, 0)``, then ``(0, 1)`` for each down message. The
    manager starts a burst at time 0, lets virtual time pass (the sleep ends
    once the worker waits on its down channel), asks for the second message,
    then takes the burst: ``(0, 0)`` only - ``(0, 1)``, stamped after the
    burst began, is kept back (when it is already queued) and comes out of
    the stop.
    """
    config = Config(workers=1, items=2, capacity=1, manager="burst")

    def body() -> None:
        rec = _Record(1)

        def work(tx: Any, rx: Any) -> None:
            tx.send((0, 0))
            rec.sent[0].append((0, 0))
            for _ in rx:
                tx.send((0, 1))
                rec.sent[0].append((0, 1))

        pool = impl(config.capacity, name=NAME)
        pool.execute(work)
        burst = pool.recv_burst(with_envelope=True)
        sync.sleep(1.0)
        pool.send_one("again")
        taken = list(burst)
        assert [m.value for m in taken] == [(0, 0)], taken
        out = pool.stop_and_join(with_envelope=True)
        unload("stop_and_join returned")
        assert [m.value for m in out] == [(0, 1)], out
        _check_received(rec, taken + out)
        assert pool.close() == []

    return body


def pause_body(release: bool, impl: Impl = WorkerPool) -> Callable[[], None]:
    """A paused worker holds user messages and still ends at STOP.

    One worker echoes every user message it gets up. The manager sends
    ``PAUSE`` and ``"a"`` (and, if ``release``, ``CONTINUE``), then stops:
    with ``CONTINUE`` the held ``"a"`` is echoed exactly once; without it the
    worker is still paused when ``STOP`` comes, drops ``"a"`` and ends (so
    the stop's join returns).
    """

    def body() -> None:
        rec = _Record(1)

        def work(tx: Any, rx: Any) -> None:
            for msg in rx:
                assert not rx.paused
                rec.echoed[0].append(msg)
                k = len(rec.sent[0])
                tx.send((0, k))
                rec.sent[0].append((0, k))

        pool = impl(1, name=NAME)
        pool.execute(work)
        pool.send_to(0, PAUSE)
        pool.send_to(0, "a")
        if release:
            pool.send_to(0, CONTINUE)
        out = pool.stop_and_join(with_envelope=True)
        unload("stop_and_join returned")
        assert rec.echoed == ([["a"]] if release else [[]]), rec.echoed
        _check_received(rec, out)
        assert pool.close() == []

    return body


# -- the scenarios -----------------------------------------------------------------------


def _stop_scenario(config: Config, impl: Impl, proves: str) -> Scenario:
    return Scenario(
        name=config.describe(),
        body=stop_body(config, impl),
        mapping=mapping(config.spec_constants()),
        proves=proves,
    )


def _burst_keep_scenario(impl: Impl) -> Scenario:
    return Scenario(
        name="workers=1 items=2 capacity=1 burst keeps a later message",
        body=burst_keep_body(impl),
        mapping=mapping({"workers": 1, "items": 2, "capacity": 1, "worker_may_fail": False}),
        proves="a burst yields only messages sent before it began; the stop delivers the "
        "kept one first; nothing lost",
    )


def _pause_scenario(release: bool, impl: Impl) -> Scenario:
    what = "PAUSE a CONTINUE" if release else "PAUSE a"
    return Scenario(
        name=f"workers=1 items=1 capacity=1 {what} stop_and_join",
        body=pause_body(release, impl),
        mapping=mapping({"workers": 1, "items": 1, "capacity": 1, "worker_may_fail": False}),
        proves=(
            "a message held by PAUSE is delivered once after CONTINUE; the worker is joined"
            if release
            else "a paused worker still ends at STOP, dropping what it held; the stop joins it"
        ),
    )


_ONCE = "every accepted message received exactly once, in order; all workers joined"

# (preset that first includes it, config, what a pass proves). The pool takes
# its lock often, so every extra worker multiplies the interleavings: one
# worker with two messages is a few hundred executions, two workers with one
# message each tens of thousands. The default preset keeps to the small ones.
_CONFIGS: list[tuple[Preset, Config, str]] = [
    (
        "quick",
        Config(workers=1, items=2, capacity=1),
        "a worker blocked on the full up channel when STOP is sent still ends "
        "(drain before join); " + _ONCE,
    ),
    (
        "quick",
        Config(workers=1, items=2, capacity=1, fails=((0, 1),)),
        "a worker that raises after sending is joined, its message delivered, its "
        "error raised after the join",
    ),
    (
        "quick",
        Config(workers=2, items=1, capacity=1, fails=((0, 0), (1, 0))),
        "two workers raise: both joined, both errors raised together after all joins",
    ),
    (
        "default",
        Config(workers=1, items=3, capacity=2),
        "capacity 2, three messages: the worker blocks on the third; " + _ONCE,
    ),
    (
        "default",
        Config(workers=1, items=2, capacity=1, peek=True),
        "a worker that sees STOP between sends ends early; " + _ONCE,
    ),
    (
        "default",
        Config(workers=1, items=2, capacity=1, manager="recv"),
        "recv() while running, then stop_and_join; " + _ONCE,
    ),
    (
        "default",
        Config(workers=1, items=2, capacity=1, manager="burst"),
        "recv_burst() while running, then stop_and_join; " + _ONCE,
    ),
    (
        "default",
        Config(workers=1, items=2, capacity=1, stop="stop_iter"),
        "the stop() iterator closed after one message still drains and joins; " + _ONCE,
    ),
    (
        "default",
        Config(workers=1, items=2, capacity=1, fails=((0, 1),), stop="close"),
        "close() drains, joins, and raises the worker error carrying the drained messages",
    ),
    (
        "default",
        Config(workers=2, items=1, capacity=1, fails=((0, 0),)),
        "worker 0 raises (maybe before worker 1 starts: the pool idles and renews its "
        "channel); worker 1's message delivered, both joined, the error raised after",
    ),
    (
        "thorough",
        Config(workers=2, items=1, capacity=1, fails=((1, 0),)),
        "worker 1 raises while worker 0 may be blocked on the full channel; " + _ONCE,
    ),
    (
        "thorough",
        Config(workers=2, items=1, capacity=1),
        "two workers on capacity 1, one blocked when STOP is sent: " + _ONCE,
    ),
]

_ORDER: dict[Preset, int] = {"quick": 0, "default": 1, "thorough": 2}


def scenarios(preset: Preset, impl: Any = None) -> list[Scenario]:
    """The pool scenarios explored at ``preset`` against ``impl`` (default: WorkerPool)."""
    cls: Impl = impl if impl is not None else WorkerPool
    level = _ORDER[preset]
    out = [
        _stop_scenario(config, cls, proves)
        for first, config, proves in _CONFIGS
        if _ORDER[first] <= level
    ]
    if level >= 1:
        out.append(_burst_keep_scenario(cls))
        out.append(_pause_scenario(False, cls))
    if level >= 2:
        out.append(_pause_scenario(True, cls))
    return out


def spec_sizes(preset: Preset) -> list[dict[str, Any]]:
    """The ``pool_drain`` sizes checked at ``preset``."""
    small = [
        {"workers": 1, "items": 2, "capacity": 1},
        {"workers": 2, "items": 1, "capacity": 1},
    ]
    if preset == "quick":
        return small
    default = [
        {"workers": c.workers, "items": c.items, "capacity": c.capacity}
        for c in pool_drain.DEFAULT_SIZES
    ]
    if preset == "default":
        return default
    return [
        *default,
        {"workers": 2, "items": 3, "capacity": 1},
        {"workers": 3, "items": 2, "capacity": 1},
        {"workers": 3, "items": 2, "capacity": 2},
    ]


CHECK = ProtocolCheck(
    name="pool",
    spec="pool_drain",
    spec_sizes=spec_sizes,
    scenarios=scenarios,
    summary="WorkerPool: stop drains before it joins; nothing lost; every worker joined",
    events=EVENTS,
)
