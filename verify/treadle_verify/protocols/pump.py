"""WorkerPump: the real ``run`` explored exhaustively, conforming to the ``pump`` spec.

Each scenario runs ``WorkerPump(capacity).run(worker, pump)`` once under the
model. The worker sends ``0, 1, ..., items - 1`` and returns ``"done"``; a
scenario may make ``pump`` raise :class:`PumpFailed` on one item, make the
worker raise :class:`WorkerFailed` after some items, make the worker leak a
clone of its sender, have it log a record per item, or run with
``interrupt_main=True`` (a ``KeyboardInterrupt`` at each scheduling point of
the calling thread in turn) or with spurious wake-ups. A worker whose send
fails with ``Disconnected`` (the pump failed and closed the receiver) stops
and returns ``"stopped"``.

Each body asserts, on the real code, once ``run`` has returned or raised:

* every worker thread is joined (``treadle_model.unload()`` right there);
* the items pumped are exactly a FIFO prefix ``0, 1, ..., k`` of what was
  sent, and, unless ``pump`` raised or ``run`` was interrupted, exactly
  everything the worker sent;
* the outcome is the right one: the worker's result, the pump's own
  exception unchanged (``PumpFailed`` for the item it failed on), a
  ``WorkerError`` whose ``__cause__`` is the worker's ``WorkerFailed``, or
  the ``KeyboardInterrupt``;
* nothing is duplicated, each item the worker tried to send either went
  through or failed with ``Disconnected`` carrying that item, and at most
  ``capacity`` items (plus, for an interrupt, the one just received) were
  sent but never pumped;
* a leaked sender does not keep ``run`` waiting, and sending through it
  afterwards raises ``Disconnected``;
* with log forwarding, every record the worker logged was handled on the
  calling thread, in order, before ``run`` returned.

The explorer adds: no deadlock, no lost wakeup, no leaked thread, no
exception; and the conformance monitor replays every execution's events
through the ``pump`` spec built with the scenario's constants (see
:func:`mapping`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from treadle import sync
from treadle._events import EVENTS as EVENT_NAMES
from treadle._events import Channel, Pump
from treadle.channel import Disconnected, Sender
from treadle.pump import END, WorkerError, WorkerPump
from treadle_model import unload
from treadle_spec import pump as pump_spec
from treadle_verify.conformance import ActionMatch, Mapping, any_of, match, never
from treadle_verify.protocols import EventTable, Preset, ProtocolCheck, Scenario

__all__ = [
    "CHECK",
    "CHANNEL",
    "EVENTS",
    "Config",
    "PumpFailed",
    "WorkerFailed",
    "body",
    "mapping",
    "scenarios",
    "spec_sizes",
]

CHANNEL = "pump"
"""The name of the item channel ``run`` makes (its events carry ``channel="pump"``)."""

LOGGER = "treadle.exhaustive.pump"
"""The logger a logging scenario's worker uses."""

Impl = type[WorkerPump]


class PumpFailed(Exception):
    """Raised by a scenario's ``pump`` on its configured item."""

    def __init__(self, item: int) -> None:
        super().__init__(f"pump failed on item {item}")
        self.item = item


class WorkerFailed(Exception):
    """Raised by a scenario's worker after its configured number of items."""

    def __init__(self, after: int) -> None:
        super().__init__(f"worker failed after sending {after} items")
        self.after = after


# -- the mapping -------------------------------------------------------------------------


# Spec actions the impl does not announce: a rendezvous offer is only seen
# when it is taken, the worker thread's end only through the join, pump
# returning only through main's next step, and (with interrupts) the
# start-up steps on the calling thread.
_INTERNAL = frozenset(
    {
        "Offer",
        "OfferEnd",
        "WorkerExits",
        "Pump",
        "Spawn",
        "InterruptedAtStart",
        "SpawnInterrupted",
        "NothingToJoin",
    }
)


def _internal(action: Any) -> bool:
    return action.name in _INTERNAL


_CHANNEL_EVENTS = frozenset(EVENT_NAMES["channel"])

EVENTS = EventTable(
    protocol="pump",
    modules=("channel", "pump"),
    mapped=frozenset(
        {
            Channel.SEND,
            Channel.RECV,
            Channel.SEND_FAILED,
            Channel.CLOSE_TX,
            Channel.CLOSE_RX,
            Channel.DISCONNECTED,
            Pump.ITEM,
            Pump.PUMP_RAISED,
            Pump.WORKER_RETURNED,
            Pump.WORKER_RAISED,
            Pump.WORKER_JOINED,
        }
    ),
    quiet=frozenset(
        {
            Channel.CLONE_TX,  # sender clones: treadle's END sender, a leaked clone
            Channel.RECV_BLOCKED,  # waiting is not a step; the recv that ends it is
            Channel.SEND_BLOCKED,
            Pump.WORKER_STARTED,
            Pump.RX_CLOSED,  # channel.close_rx is the step
            Pump.RUN_RETURNED,  # the spec is final once joined
            Pump.RUN_RAISED,
        }
    ),
)
"""The events a pump execution sees, and which of them are spec steps (see :func:`mapping`)."""


def mapping(constants: dict[str, Any]) -> Mapping:
    """How ``run``'s events map onto the ``pump`` spec built with ``constants``.

    ==========================================  ====================================
    impl event                                  spec action
    ==========================================  ====================================
    ``channel.send`` on ``pump`` (capacity>0)   ``Send(item)``, ``SendEnd`` for END
    ``channel.send`` (capacity 0)               nothing: the rendezvous is the
                                                ``channel.recv`` right after it
    ``channel.recv``                            ``Recv(item)``, ``RecvEnd`` for END
    ``channel.send_failed``                     ``SendFails(item)``, ``EndFails``
    ``channel.close_tx``                        ``CloseTx`` or ``CloseEndTx`` (the
                                                spec knows which sender is next)
    ``channel.close_rx``                        ``CloseRx``
    ``channel.disconnected``                    nothing: ``run`` ends on END, never
                                                on a disconnect
    ``pump.item``                               ``Call(item)``
    ``pump.pump_raised``                        ``PumpRaises`` or ``Interrupted``
    ``pump.worker_returned`` / ``_raised``      ``WorkerReturns`` / ``WorkerRaises``
    ``pump.worker_joined``                      ``Join``
    ==========================================  ====================================

    Internal (taken freely between events): ``Offer``, ``OfferEnd``,
    ``WorkerExits``, ``Pump`` (pump returned), and with ``interrupts`` the
    start-up steps ``Spawn``, ``InterruptedAtStart``, ``SpawnInterrupted``,
    ``NothingToJoin``. Ignored: other channels (``pump.logs``), sender clones
    (treadle's END sender, a clone the worker leaks), a failed send of an
    item that is not one of the protocol's ints (a scenario's send through a
    leaked sender after ``run`` returned), ``pump.worker_started``,
    ``pump.rx_closed`` (``channel.close_rx`` is the step), and
    ``pump.run_returned`` / ``run_raised`` (the spec is final once joined),
    blocked sends and receives (the step is the one that completes). Those
    are the quiet events of :data:`EVENTS`; any event in neither of its sets
    fails conformance, naming the event.
    """
    spec_constants = dict(constants)
    rendezvous = spec_constants.get("capacity", 1) == 0

    def translate(event: str, fields: dict[str, Any]) -> Sequence[ActionMatch] | None:
        if event in _CHANNEL_EVENTS:
            if fields.get("channel") != CHANNEL:
                return None
            item = fields.get("item")
            if event == Channel.SEND:
                if rendezvous:
                    return []
                if item is END:
                    return [match("SendEnd")]
                return [match("Send", item=item)]
            if event == Channel.RECV:
                if item is END:
                    return [match("RecvEnd")]
                return [match("Recv", item=item)]
            if event == Channel.SEND_FAILED:
                if item is END:
                    return [match("EndFails")]
                if isinstance(item, int):
                    return [match("SendFails", item=item)]
                return None
            if event == Channel.CLOSE_TX:
                return [any_of(match("CloseTx"), match("CloseEndTx"))]
            if event == Channel.CLOSE_RX:
                return [match("CloseRx")]
            if event == Channel.DISCONNECTED:
                return [never("the receiver saw every sender closed")]
        elif event == Pump.ITEM:
            return [match("Call", item=fields["item"])]
        elif event == Pump.PUMP_RAISED:
            return [any_of(match("PumpRaises"), match("Interrupted"))]
        elif event == Pump.WORKER_RETURNED:
            return [match("WorkerReturns")]
        elif event == Pump.WORKER_RAISED:
            return [match("WorkerRaises")]
        elif event == Pump.WORKER_JOINED:
            return [match("Join")]
        return EVENTS.rest(event, fields)

    shown = ", ".join(f"{k}={v}" for k, v in spec_constants.items())
    spec = pump_spec.build(**spec_constants)  # immutable: one per scenario
    return Mapping(
        spec=lambda: spec,
        translate=translate,
        internal=_internal,
        name=f"pump({shown})",
    )


# -- scenario bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One scenario's configuration.

    capacity / items: as in the spec. pump_fails_at: ``pump`` raises
    :class:`PumpFailed` on this item. worker_fails_after: the worker raises
    :class:`WorkerFailed` after sending this many items. leak: the worker
    leaks a clone of its sender (never closes it). log: the worker logs one
    record per item (forwarded to the calling thread). interrupts /
    spurious: explore with ``interrupt_main=True`` / ``spurious_wakeups=True``.
    """

    capacity: int
    items: int
    pump_fails_at: int | None = None
    worker_fails_after: int | None = None
    leak: bool = False
    log: bool = False
    interrupts: bool = False
    spurious: bool = False
    proves: str = field(default="", compare=False)

    def spec_constants(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "items": self.items,
            "pump_may_fail": self.pump_fails_at is not None,
            "worker_may_fail": self.worker_fails_after is not None,
            "interrupts": self.interrupts,
        }

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.interrupts:
            out["interrupt_main"] = True
        if self.spurious:
            out["spurious_wakeups"] = True
        return out

    def describe(self) -> str:
        parts = [f"capacity={self.capacity}", f"items={self.items}"]
        if self.pump_fails_at is not None:
            parts.append(f"pump raises at {self.pump_fails_at}")
        if self.worker_fails_after is not None:
            parts.append(f"worker raises after {self.worker_fails_after}")
        if self.leak:
            parts.append("worker leaks its sender")
        if self.log:
            parts.append("worker logs")
        if self.interrupts:
            parts.append("Ctrl-C at run's scheduling points")
        if self.spurious:
            parts.append("spurious wakeups")
        return " ".join(parts)


class _Capture(logging.Handler):
    """Records (thread, message) of each record it handles."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[sync.Thread, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((sync.current_thread(), record.getMessage()))


def body(config: Config, impl: Impl = WorkerPump) -> Callable[[], None]:
    """Run ``impl(capacity).run(worker, pump)`` once and check what happened."""
    n = config.items

    def run() -> None:
        sent: list[int] = []  # sends that returned (worker; read after the join)
        failed: list[int] = []  # sends that raised Disconnected, with that item
        pumped: list[int] = []
        leaked: list[Sender[Any]] = []
        capture = _Capture() if config.log else None
        logger = logging.getLogger(LOGGER)
        me = sync.current_thread()

        def worker(tx: Sender[int]) -> str:
            if config.leak:
                leaked.append(tx.clone())
            for i in range(n):
                if config.worker_fails_after == i:
                    raise WorkerFailed(i)
                if capture is not None:
                    logger.info("sending %d", i)
                try:
                    tx.send(i)
                except Disconnected as exc:
                    assert exc.item == i, f"Disconnected carries {exc.item!r}, not {i}"
                    failed.append(i)
                    return "stopped"
                sent.append(i)
            if config.worker_fails_after == n:
                raise WorkerFailed(n)
            return "done"

        def pump(item: int) -> None:
            pumped.append(item)
            if item == config.pump_fails_at:
                raise PumpFailed(item)

        if capture is not None:
            logger.addHandler(capture)
            logger.setLevel(logging.INFO)
            logger.propagate = False
        result: object = None
        error: BaseException | None = None
        try:
            result = impl(config.capacity, forward_logs=True).run(worker, pump)
        except (PumpFailed, WorkerError, KeyboardInterrupt) as exc:
            error = exc
        finally:
            if capture is not None:
                logger.removeHandler(capture)
                logger.propagate = True
        unload("run returned or raised")

        # FIFO, no duplicates, every attempted send accounted for.
        assert pumped == list(range(len(pumped))), f"pumped {pumped}: not a FIFO prefix"
        assert sent + failed == list(range(len(sent) + len(failed))), (sent, failed)
        assert len(failed) <= 1, f"the worker stops at its first failed send: {failed}"
        # Only a taken item is pumped, and a send returns once its item is taken
        # (rendezvous) or queued: everything pumped was sent.
        assert len(pumped) <= len(sent), (pumped, sent)
        interrupted = isinstance(error, KeyboardInterrupt)
        if interrupted:
            assert config.interrupts, "KeyboardInterrupt without interrupt_main"
        if isinstance(error, PumpFailed) or interrupted:
            # Items still buffered (or just received) when run gave up are lost:
            # never more than the channel holds, plus the item in hand.
            lost = len(sent) - len(pumped)
            assert lost <= config.capacity + (1 if interrupted else 0), (sent, pumped)
        if isinstance(error, PumpFailed):
            assert config.pump_fails_at is not None
            assert error.item == config.pump_fails_at, error
            assert pumped == list(range(config.pump_fails_at + 1)), pumped
        elif isinstance(error, WorkerError):
            cause = error.__cause__
            assert isinstance(cause, WorkerFailed), f"WorkerError caused by {cause!r}"
            assert cause.after == config.worker_fails_after, cause
            assert pumped == sent == list(range(cause.after)), (pumped, sent)
            assert not failed
        elif not interrupted:
            assert error is None
            assert config.pump_fails_at is None or config.pump_fails_at >= n
            assert config.worker_fails_after is None or config.worker_fails_after > n
            assert result == "done", f"run returned {result!r}"
            assert pumped == sent == list(range(n)), (pumped, sent)
        if config.leak and leaked:
            try:
                leaked[0].send("late")  # not a protocol item: run is over
            except Disconnected:
                pass
            else:
                raise AssertionError("a send through the leaked sender after run succeeded")
        if capture is not None:
            # Every record was logged before its send, hence before the worker
            # ended, and forwarded: handled on this thread, in order.
            expected = [(me, f"sending {i}") for i in range(len(sent) + len(failed))]
            assert capture.seen == expected, capture.seen

    run.__qualname__ = f"pump body [{config.describe()}]"
    return run


# -- the scenarios -----------------------------------------------------------------------

_CORE = "items pumped exactly once in FIFO order; worker joined before run returns"


def _configs(preset: Preset) -> list[Config]:
    quick = [
        Config(0, 1, proves="rendezvous hand-off: " + _CORE),
        Config(1, 2, proves="a send blocks on the full channel and is woken: " + _CORE),
        Config(
            1,
            2,
            pump_fails_at=0,
            proves="pump raising closes the receiver, so the worker's next send fails "
            "and the join completes; the pump's exception propagates",
        ),
        Config(
            0,
            1,
            interrupts=True,
            proves="Ctrl-C at any scheduling point in run propagates after the worker is joined",
        ),
    ]
    plain = [
        Config(cap, n, proves=_CORE)
        for cap, n in ((0, 0), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2))
    ]
    default = (
        quick
        + plain
        + [
            Config(
                1,
                3,
                pump_fails_at=0,
                proves="pump raising while the worker is blocked on the full channel: the "
                "receiver's close wakes it with Disconnected; no deadlock",
            ),
            Config(
                0,
                2,
                pump_fails_at=1,
                proves="pump raising on a rendezvous channel: the next offer is withdrawn "
                "and fails; nothing else is pumped",
            ),
            Config(
                2,
                2,
                pump_fails_at=0,
                proves="pump raising with an item still buffered: it is discarded, never "
                "pumped; at most capacity items lost",
            ),
            Config(
                1,
                2,
                worker_fails_after=1,
                proves="a raising worker: what it sent is pumped first, then WorkerError "
                "from its exception, after the join",
            ),
            Config(
                0,
                1,
                worker_fails_after=0,
                proves="a worker raising before sending on a rendezvous channel: WorkerError",
            ),
            Config(
                1,
                1,
                leak=True,
                proves="a leaked clone of the sender cannot keep run waiting (END marker); "
                "sending through it afterwards raises Disconnected",
            ),
            Config(
                1,
                1,
                log=True,
                proves="the worker's log records are handled on the calling thread, in order",
            ),
            Config(
                1,
                1,
                interrupts=True,
                proves="Ctrl-C at any scheduling point in run (also in the clean-up) propagates "
                "only after the receiver is closed and the worker joined",
            ),
            Config(
                2,
                1,
                pump_fails_at=0,
                interrupts=True,
                proves="Ctrl-C during the clean-up after a pump failure still joins",
            ),
            Config(0, 1, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
            Config(1, 1, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
        ]
    )
    if preset == "quick":
        return quick
    if preset == "default":
        return default
    return [
        *default,
        Config(0, 3, proves=_CORE),
        Config(1, 3, proves=_CORE),
        Config(2, 3, proves=_CORE),
        Config(1, 2, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
        Config(2, 4, proves=_CORE),
        Config(
            2,
            4,
            pump_fails_at=1,
            proves="pump raising with a full buffer and a blocked worker: " + _CORE,
        ),
        Config(
            1, 2, interrupts=True, proves="Ctrl-C at any scheduling point, two items: joined first"
        ),
        Config(
            0, 2, interrupts=True, proves="Ctrl-C at any scheduling point, rendezvous: joined first"
        ),
        Config(0, 2, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
        Config(
            1,
            2,
            log=True,
            pump_fails_at=1,
            proves="log records are forwarded also when pump raises",
        ),
    ]


def scenario(config: Config, impl: Any = None, *, spec: dict[str, Any] | None = None) -> Scenario:
    """The scenario for ``config`` against ``impl``; ``spec`` overrides spec constants."""
    cls: Impl = impl if impl is not None else WorkerPump
    constants = config.spec_constants()
    constants.update(spec or {})
    return Scenario(
        name=config.describe(),
        body=body(config, cls),
        options=config.options(),
        mapping=mapping(constants),
        proves=config.proves,
    )


def scenarios(preset: Preset, impl: Any = None) -> list[Scenario]:
    """The pump scenarios explored at ``preset`` against ``impl`` (default: WorkerPump)."""
    return [scenario(config, impl) for config in _configs(preset)]


def spec_sizes(preset: Preset) -> list[dict[str, Any]]:
    """The ``pump`` spec sizes checked at ``preset``."""
    quick = [
        {"capacity": 0, "items": 2},
        {"capacity": 1, "items": 2},
        {"capacity": 1, "items": 2, "interrupts": True},
    ]
    if preset == "quick":
        return quick
    default = [
        {"capacity": c.capacity, "items": c.items, "interrupts": c.interrupts}
        for c in pump_spec.DEFAULT_SIZES
    ]
    if preset == "default":
        return default
    return default + [
        {"capacity": cap, "items": n, "interrupts": intr}
        for cap in (0, 1, 2, 3)
        for n in (4, 5)
        for intr in (False, True)
    ]


CHECK = ProtocolCheck(
    name="pump",
    spec="pump",
    spec_sizes=spec_sizes,
    scenarios=scenarios,
    summary="WorkerPump: FIFO, nothing lost; close the receiver, then join, on any error",
    events=EVENTS,
)
