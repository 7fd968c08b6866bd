"""The controlled runtime: one execution of a body on virtual threads.

Virtual threads are greenlets that run one at a time and switch only at
facade operations. Each operation goes through :meth:`Execution.op`, the
single entry point where the scheduler runs: it asks every thread whether its
pending operation can proceed (``PEEK``), lets the strategy pick one, records
the step as an event (accesses, vector clock, and, for the DPOR strategy, the
races it takes part in), performs it (``PERFORM``) and switches to the chosen
thread's greenlet. A scheduler decision that keeps the current thread costs
no switch.

Everything an execution touches lives on the :class:`Execution` (one store,
dropped afterwards) or on objects created during it; an object from an
earlier execution is refused. Leftover greenlets are killed with
``GreenletExit``, and while they unwind every facade operation raises again,
so their ``finally`` blocks cannot disturb the next execution.
"""

from __future__ import annotations

import contextlib
import os
import signal as _signal
import sys
from _thread import TIMEOUT_MAX
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from treadle import sync
from treadle_model._checkpoints import CheckPoints
from treadle_model._events import NO_SPAWN, Ev, Sym, clock_get, hb, join_into
from treadle_model._ops import (
    F_ERR,
    F_FAIL,
    F_INTR,
    F_INTR_WAIT,
    F_OK,
    F_REACQ,
    F_REG,
    F_SIGNALED,
    F_SPUR,
    F_TO,
    INTERRUPTIBLE,
    K_ACQ,
    K_ADVANCE,
    K_ALIVE,
    K_ECLEAR,
    K_EISSET,
    K_ESET,
    K_EWAIT,
    K_EWAKE,
    K_EXIT,
    K_GET,
    K_GETHOOK,
    K_JOIN,
    K_LOCKED,
    K_MONO,
    K_NOTIFY,
    K_REL,
    K_SACQ,
    K_SET,
    K_SETHOOK,
    K_SLEEP,
    K_SPAWN,
    K_SREL,
    K_UNLOAD,
    K_WAIT,
    K_WAKE,
    KIND_NAMES,
    NOW,
    S_WAITING,
    STATE_FREE_KINDS,
)
from treadle_model._primitives import PEEK, PERFORM, CCondition, CEvent, Slot

try:
    from greenlet import GreenletExit  # type: ignore[import-untyped,unused-ignore]
    from greenlet import getcurrent as _getcurrent  # type: ignore[import-untyped,unused-ignore]
    from greenlet import greenlet as _Greenlet  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - checked by explore()
    _Greenlet = None
    _getcurrent = None

    class GreenletExit(BaseException):  # type: ignore[no-redef]
        pass


if TYPE_CHECKING:
    from treadle_model._scheduler import Scheduler


# The execution that is running (operations on objects of any other are refused).
_running: list[Execution | None] = [None]


def greenlet_available() -> bool:
    """True when the greenlet package (needed for virtual threads) is installed."""
    return _Greenlet is not None


__all__ = [
    "CLOCK_TID",
    "MAIN_TID",
    "Context",
    "Execution",
    "GreenletExit",
    "Options",
    "PendingFailure",
    "VThread",
    "greenlet_available",
]

MAIN_TID = 0
CLOCK_TID = 1

WHEN_STUCK = 0
ALWAYS = 1
NEVER = 2
TIMEOUT_MODES = {"when_stuck": WHEN_STUCK, "always": ALWAYS, "never": NEVER}

_WAIT_POINT_FORMS = (F_TO, F_SPUR, F_INTR_WAIT)

_SIGINT = _signal.SIGINT
_DEFAULT_INT = _signal.default_int_handler
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_SYNC_FILE = os.path.abspath(sync.__file__)
if _SYNC_FILE.endswith((".pyc", ".pyo")):  # pragma: no cover
    _SYNC_FILE = _SYNC_FILE[:-1]


class Options(NamedTuple):
    """Per-exploration settings the runtime needs."""

    max_steps: int
    timeouts: int
    spurious: int
    invariant: Callable[[], object] | None
    detect_races: bool
    monitor: Callable[[], Any] | None
    interrupt: bool | str  # False, True (at scheduling points) or "anywhere"


class Context:
    """State shared by all executions of one exploration.

    Threads and objects are named by where they come from, not by when they
    were created: a thread by (its parent, the parent's spawn counter), an
    object by (the creating thread, that thread's creation counter). The names
    are interned to small ints so every execution uses the same ids for the
    same logical thread or object, whatever the interleaving.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.tids: dict[object, int] = {}
        self.oids: dict[object, int] = {}
        self.n = 0
        assert self.tid(("main",)) == MAIN_TID
        assert self.tid(("clock",)) == CLOCK_TID
        # Idle thread greenlets (see _pooled), reused across executions.
        self.pool: list[Any] = []
        self.clock_oid = self.oid(("clock",))
        self.hook_oid = self.oid(("excepthook",))
        self.budget_oid = self.oid(("spurious budget",))

    def tid(self, key: object) -> int:
        tid = self.tids.get(key)
        if tid is None:
            tid = self.tids[key] = len(self.tids)
            self.n = tid + 1
        return tid

    def close(self) -> None:
        """Let the pooled greenlets end."""
        pool = self.pool
        while pool:
            g = pool.pop()
            with contextlib.suppress(BaseException):
                g.throw(GreenletExit)

    def oid(self, key: object) -> int:
        oid = self.oids.get(key)
        if oid is None:
            oid = self.oids[key] = len(self.oids)
        return oid


class Hist:
    """The accesses to one object so far in this execution."""

    __slots__ = ("lw", "lw_snap", "obj", "rs", "snap", "sync", "ws")

    def __init__(self, obj: Any, snap: bool, walk: bool, is_sync: bool) -> None:
        self.obj = obj
        self.lw: Ev | None = None
        self.lw_snap: object = None
        self.rs: list[Ev] = []
        self.ws: list[tuple[Ev, object]] | None = [] if walk else None
        self.snap = snap
        self.sync = is_sync


class _Pseudo:
    """An object that is not a facade object but is accessed (clock, hook, budget)."""

    __slots__ = ("_label", "_oid", "_racc", "_wacc", "ex", "what")

    def __init__(self, ex: Execution, oid: int, label: str, what: str) -> None:
        self.ex = ex
        self._oid = oid
        self._label = label
        self._racc = (oid << 1,)
        self._wacc = (oid << 1 | 1,)
        self.what = what

    def snapshot(self) -> object:
        if self.what == "budget":
            return self.ex.spurious_left
        return None

    def restore(self, state: Any) -> None:
        if self.what == "budget":
            self.ex.spurious_left = state


class _Hists(dict[int, Hist]):
    """The per-object histories; the clock, hook and budget ones are made on first use."""

    __slots__ = ("ex",)
    ex: Execution

    def __missing__(self, oid: int) -> Hist:
        ex = self.ex
        ctx = ex.ctx
        if oid == ctx.clock_oid:
            h = Hist(_Pseudo(ex, oid, "clock", "clock"), False, False, False)
        elif oid == ctx.hook_oid:
            h = Hist(ex.hook_obj, False, False, True)
        elif oid == ctx.budget_oid:
            h = Hist(_Pseudo(ex, oid, "spurious-wakeup budget", "budget"), True, False, False)
        else:
            raise KeyError(oid)
        self[oid] = h
        return h


class _ExceptHookArgs(NamedTuple):
    exc_type: type[BaseException]
    exc_value: BaseException
    exc_traceback: Any
    thread: Any


def _default_excepthook(args: Any) -> None:
    """The model's stand-in for ``threading.excepthook`` (the model reports the error)."""


class PendingFailure:
    """A failure noticed during an execution, before its trace is built."""

    __slots__ = ("exception", "kind", "message", "step")

    def __init__(self, kind: str, step: int, message: str, exception: BaseException | None) -> None:
        self.kind = kind
        self.step = step
        self.message = message
        self.exception = exception


class VThread(sync.Thread):
    """A virtual thread: a greenlet plus its pending operation."""

    __slots__ = (
        "_ex",
        "_label",
        "_name",
        "_oid",
        "_racc",
        "_wacc",
        "acc",
        "alive",
        "arg",
        "arg2",
        "birth",
        "birth_sclock",
        "error",
        "exit_ev",
        "form",
        "glet",
        "held",
        "index",
        "intr",
        "intr_at",
        "intr_count",
        "kind",
        "last",
        "lidx",
        "loc",
        "n_children",
        "n_objects",
        "obj",
        "result",
        "saved",
        "slot",
        "spawn_ev",
        "spawn_tid",
        "start_args",
        "tid",
    )

    def __init__(self, ex: Execution, tid: int, index: int, name: str) -> None:
        self._ex = ex
        self.tid = tid
        self.index = index
        self._name = name
        self._label = name
        self.glet: Any = None
        self.kind = -1
        self.obj: Any = None
        self.arg: Any = None
        self.arg2 = 0.0
        self.form = F_OK
        self.acc: tuple[int, ...] = ()
        self.result: Any = None
        self.error: BaseException | None = None
        self.alive = True
        self.lidx = 0
        self.last: Ev | None = None
        self.birth: list[int] = []
        self.birth_sclock: list[int] = []
        self.held: list[Any] = []
        self.slot: Any = None
        self.saved = 0
        self.intr = False
        self.intr_at = -2
        self.intr_count = 0
        self.spawn_tid = NO_SPAWN
        self.spawn_ev: Ev | None = None
        self.exit_ev: Ev | None = None
        self.n_children = 0
        self.n_objects = 0
        self.start_args: Any = None
        self.loc = ""
        self._oid = -1
        self._racc: tuple[int, ...] = ()
        self._wacc: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self._name

    @property
    def ident(self) -> int:
        return self.tid

    def join(self, timeout: float | None = None) -> None:
        ex = self._ex
        if ex.current is self:
            raise RuntimeError("cannot join current thread")
        if timeout is not None and timeout > TIMEOUT_MAX:
            timeout = None  # math.inf (or more than threading can wait) is forever
        if timeout is None:
            ex.op(K_JOIN, self, None)
        elif timeout <= 0:
            ex.op(K_JOIN, self, NOW)
        else:
            ex.op(K_JOIN, self, ex.clock + timeout, timeout)

    def is_alive(self) -> bool:
        ex = self._ex
        if ex.callback or ex.current is None:
            return self.alive
        return ex.op(K_ALIVE, self, None)  # type: ignore[no-any-return]

    def snapshot(self) -> object:
        return self.alive

    def restore(self, state: Any) -> None:
        self.alive = state

    def __repr__(self) -> str:
        return f"<VThread {self._name!r} {'alive' if self.alive else 'finished'}>"


def _pooled(task: tuple[Execution, VThread]) -> None:
    """The body of every thread greenlet: run threads one after another.

    Creating a greenlet and letting it die costs several microseconds, more
    than a dozen scheduling steps, so greenlets are kept in the exploration's
    pool: when a virtual thread finishes (or is killed), its greenlet goes back
    to the pool and waits for the next thread to run.
    """
    while True:
        ex, th = task
        with contextlib.suppress(GreenletExit):
            ex._thread_main(th)
        if th.alive and not ex._killing and not ex._stop:
            # The thread's code raised GreenletExit itself: it ended without
            # its exit step, so nothing about it can be trusted any more.
            ex.live.remove(th)
            th.alive = False
            ex.abort(
                "exception",
                f"thread {th._name!r} raised GreenletExit, which the model uses to end threads; "
                "do not raise or swallow GreenletExit in explored code",
            )
        th.glet = None
        me = _getcurrent()
        ex.ctx.pool.append(me)
        task = ex.root.switch()


class ModelError(RuntimeError):
    """Misuse of the model: an object from another execution, blocking in an invariant..."""


class Execution:
    """One run of the body under the scheduler (the per-execution store)."""

    def __init__(
        self,
        ctx: Context,
        strategy: Scheduler,
        *,
        variant: int | None = None,
        dpor: bool = False,
        capture: bool = False,
    ) -> None:
        opts = ctx.options
        self.ctx = ctx
        self.strategy = strategy
        self.variant = variant
        self.dpor = dpor
        self.capture = capture
        self.max_steps = opts.max_steps
        self.mode = opts.timeouts
        self.always = opts.timeouts == ALWAYS
        self.spurious_left = opts.spurious
        self.invariant = opts.invariant
        self.detect_races = opts.detect_races
        self.count_points = opts.interrupt
        self.extras = opts.interrupt or capture or opts.invariant is not None
        self.events: list[Ev] = []
        self.schedule: list[int] = []
        self.threads: list[VThread] = []
        self.live: list[VThread] = []
        hist = _Hists()
        hist.ex = self
        self.hist: dict[int, Hist] = hist
        self.races: list[tuple[int, int, Sym | None]] = []
        self.failures: list[PendingFailure] = []
        self.unloads: list[tuple[Ev, str]] = []
        self.emits: list[tuple[int, str, str, dict[str, Any]]] = []
        # For lost-wakeup reports on channels: per channel lock, the last
        # item taken (step, taker, event fields); per thread, the channel
        # lock whose receive it last blocked in.
        self.chan_taken: dict[int, tuple[int, VThread, dict[str, Any]]] = {}
        self.recv_blocked: dict[VThread, int] = {}
        self.chan_sent: dict[int, tuple[int, VThread]] = {}
        self.advances: list[tuple[int, float]] = []
        self.clock_w = ctx.clock_oid << 1 | 1
        self.clock_r = ctx.clock_oid << 1
        self.budget_w = ctx.budget_oid << 1 | 1
        self.budget_r = ctx.budget_oid << 1
        self.spurious_on = opts.spurious > 0
        self.hook_obj = _Pseudo(self, ctx.hook_oid, "excepthook", "hook")
        self.by_tid: dict[int, VThread] = {}
        self.fast_pick: Callable[[Execution], VThread | None] | None = getattr(
            strategy, "fast_pick", None
        )

    # Defaults shared by every execution until an execution sets its own.
    clock = 0.0
    over = False
    # A step the strategy knows is the same as in the last execution (see
    # _record_again), and how many leading steps were recorded that way.
    again: Ev | None = None
    reused = 0

    # While any of these is set, operations are refused (see op/_refuse).
    @property
    def callback(self) -> bool:
        return self._callback

    @callback.setter
    def callback(self, value: bool) -> None:
        self._callback = value
        self.refusing = value or self._killing or self._stop

    @property
    def killing(self) -> bool:
        return self._killing

    @killing.setter
    def killing(self, value: bool) -> None:
        self._killing = value
        self.refusing = value or self._callback or self._stop

    @property
    def stop(self) -> bool:
        return self._stop

    @stop.setter
    def stop(self, value: bool) -> None:
        self._stop = value
        self.refusing = value or self._callback or self._killing

    _callback = False
    _killing = False
    _stop = False
    refusing = False
    redundant = False
    aborted = ""
    injected: BaseException | None = None
    interrupted = False
    # Where a KeyboardInterrupt raised at a signal check point landed ("file:line").
    intr_where = ""
    hook: Callable[[Any], object] = staticmethod(_default_excepthook)
    last_global: Ev | None = None
    current: VThread | None = None
    priming: VThread | None = None
    primer: Any = None
    root: Any = None
    n_labels = 0
    max_intr = 0
    race_reported = False
    preemptions = 0
    invariant_failed = False
    monitor: Any = None
    monitor_failed = False
    clock_th: VThread | None = None
    main: VThread | None = None

    # --- objects ------------------------------------------------------------

    def _creator(self) -> VThread:
        th = self.current
        if th is None or self.callback:
            raise ModelError(
                "treadle.sync objects can only be created by the explored code itself "
                "(not in an invariant or monitor, and not outside the exploration)"
            )
        return th

    def register(self, obj: Any, typename: str, *, snap: bool, walk: bool) -> None:
        th = self._creator()
        n = th.n_objects
        th.n_objects = n + 1
        oid = self.ctx.oid((th.tid, n))
        obj._oid = oid
        obj._racc = (oid << 1,)
        obj._wacc = (oid << 1 | 1,)
        self.n_labels += 1
        obj._label = f"{typename}#{self.n_labels}"
        self.hist[oid] = Hist(obj, snap, walk, typename != "Cell")

    def register_label(self, obj: Any, typename: str) -> None:
        th = self._creator()
        n = th.n_objects
        th.n_objects = n + 1
        obj._oid = self.ctx.oid((th.tid, n))
        self.n_labels += 1
        obj._label = f"{typename}#{self.n_labels}"

    def register_slot(self, slot: Slot, owner: Any, th: VThread) -> None:
        oid = self.ctx.oid((owner._oid, "waiter", th.tid))
        slot._oid = oid
        slot._racc = (oid << 1,)
        slot._wacc = (oid << 1 | 1,)
        slot._label = f"{owner._label} waiter {th._name}"
        self.hist[oid] = Hist(slot, True, False, True)

    # --- time ---------------------------------------------------------------

    def due(self, deadline: float) -> bool:
        if deadline < 0:
            return True
        mode = self.mode
        if mode == ALWAYS:
            return True
        if mode == NEVER:
            return False
        return deadline <= self.clock

    def monotonic(self) -> float:
        if self.always and self.current is not None and not self.callback and not self.killing:
            return self.op(K_MONO, None, None)  # type: ignore[no-any-return]
        return self.clock

    def sleep(self, seconds: float) -> None:
        self.op(K_SLEEP, None, self.clock + seconds, float(seconds))

    # --- threads ------------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
    ) -> VThread:
        th = self.current
        if th is None or self.callback:
            raise ModelError("sync.spawn() can only be called by the explored code")
        th.spawn_tid = self.ctx.tid((th.tid, th.n_children))
        try:
            return self.op(K_SPAWN, None, (fn, args, kwargs, name))  # type: ignore[no-any-return]
        finally:
            th.spawn_tid = NO_SPAWN

    def _new_thread(
        self,
        parent: VThread | None,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        spawn_ev: Ev | None,
    ) -> VThread:
        if parent is None:
            tid = MAIN_TID
        else:
            tid = self.ctx.tid((parent.tid, parent.n_children))
            parent.n_children += 1
        index = len(self.threads)
        if name is None:
            name = "main" if parent is None else f"Thread-{index}"
        th = VThread(self, tid, index, name)
        oid = self.ctx.oid(("thread", tid))
        th._oid = oid
        th._racc = (oid << 1,)
        th._wacc = (oid << 1 | 1,)
        self.hist[oid] = Hist(th, True, False, True)
        if spawn_ev is not None:
            th.birth = spawn_ev.clock
            th.spawn_ev = spawn_ev
            if spawn_ev.sclock is not None:
                th.birth_sclock = spawn_ev.sclock
        pool = self.ctx.pool
        th.glet = pool.pop() if pool else _Greenlet(_pooled, self.root)
        th.start_args = (fn, args, kwargs)
        self.threads.append(th)
        self.live.append(th)
        self.by_tid[tid] = th
        return th

    def _thread_main(self, th: VThread) -> None:
        fn, args, kwargs = th.start_args
        th.start_args = None
        try:
            fn(*args, **kwargs)
        except GreenletExit:
            raise
        except BaseException as exc:
            self._raised(th, exc)
        self.op(K_EXIT, th, None)

    def _raised(self, th: VThread, exc: BaseException) -> None:
        converted = ""
        if th.tid == MAIN_TID:
            injected = self.injected
            if injected is not None:
                if isinstance(exc, KeyboardInterrupt):
                    return  # the interrupt itself, or one delivered again after a deferral
                if _chains_to(exc, injected):
                    converted = "the injected KeyboardInterrupt was turned into another exception: "
            where = "the explored function"
        else:
            where = f"thread {th._name!r}"
        step = len(self.events) - 1
        at = _raised_at(exc)
        self.fail(
            "exception",
            step,
            f"{converted}{where} raised {type(exc).__name__}: {exc}"
            + (f" (at {at})" if at else ""),
            exc,
        )
        if th.tid != MAIN_TID:
            hook = self.op(K_GETHOOK, None, None)
            if hook is not _default_excepthook:
                try:
                    hook(_ExceptHookArgs(type(exc), exc, exc.__traceback__, th))
                except GreenletExit:
                    raise
                except BaseException as hook_exc:
                    self.fail(
                        "exception",
                        len(self.events) - 1,
                        f"the thread exception hook raised {type(hook_exc).__name__}: {hook_exc}",
                        hook_exc,
                    )

    def _check_point(self) -> bool:
        """A CPython signal check point in the main thread: is the interrupt due here?"""
        me = self.main
        assert me is not None
        hit = me.intr_count == me.intr_at
        me.intr_count += 1
        if me.intr_count > self.max_intr:
            self.max_intr = me.intr_count
        if hit:
            self.interrupted = True
        return hit

    def _set_injected(self, exc: BaseException, where: str) -> None:
        self.injected = exc
        self.intr_where = where

    def interrupt(self, th: VThread) -> BaseException:
        exc = KeyboardInterrupt()
        self.injected = exc
        return exc

    # --- the scheduling point -----------------------------------------------

    def op(self, kind: int, obj: Any, arg: Any, arg2: float = 0.0) -> Any:
        """Perform operation ``kind`` on ``obj`` as a scheduling point; return its result."""
        me = self.current
        if self is not _running[0] or self.refusing or me is None:
            self._refuse(kind, obj)
        me.kind = kind
        me.obj = obj
        me.arg = arg
        me.arg2 = arg2
        if self.extras:
            me.intr = me.intr_count == me.intr_at
            if me.intr and kind in INTERRUPTIBLE:
                handler = _signal.getsignal(_SIGINT)
                if handler is not _DEFAULT_INT and callable(handler):
                    # CPython runs the code's own SIGINT handler where the
                    # blocking call is interrupted; if it returns, the call
                    # carries on.
                    me.intr = False
                    self.interrupted = True
                    self.injected = KeyboardInterrupt()
                    handler(_SIGINT, None)
            if self.capture:
                me.loc = _user_location()
        if self.priming is me:
            # A thread just spawned reached its first operation: hand control
            # back to the spawner; we resume once that operation has run.
            self.priming = None
            self.primer.switch()
        else:
            th = self._advance()
            if th is None:
                self.over = True
                self.root.switch()
                raise GreenletExit
            if th is not me:
                self.current = th
                th.glet.switch()
        err = me.error
        if err is not None:
            me.error = None
            raise err
        return me.result

    def _refuse(self, kind: int, obj: Any) -> NoReturn:
        """Raise the error for an operation that must not run (see :meth:`op`)."""
        if self is not _running[0]:
            # An object from an earlier execution: its execution is over.
            raise ModelError(
                f"{obj!r} belongs to another execution; create treadle.sync objects inside the "
                "explored function (not at import time, and do not keep them between runs)"
            )
        if self.killing or self.stop:
            raise GreenletExit
        raise ModelError(
            f"{KIND_NAMES[kind]}() was called outside the explored threads (in an invariant, "
            "a monitor, or after the exploration ended); invariants may only read Cells"
        )

    def peek(self, th: VThread) -> bool:
        """Can ``th``'s pending operation run now? (Sets ``th.form`` and ``th.acc``.)"""
        if th.intr and th.kind in INTERRUPTIBLE:
            th.form = F_INTR
            th.acc = ()
            return True
        acc = PEEK[th.kind](self, th)  # type: ignore[misc]
        if acc is None:
            return False
        th.acc = acc
        return True

    def enabled(self) -> list[VThread]:
        """The threads whose pending operation can run now."""
        peek = self.peek
        return [th for th in self.live if peek(th)]

    def _clock_list(self) -> list[VThread]:
        th = self.clock_th
        if th is None:
            th = self.clock_th = VThread(self, CLOCK_TID, -1, "clock")
            th.kind = K_ADVANCE
        return [th]

    def _advance(self) -> VThread | None:
        """Pick and perform the next event; return the thread to run (None: over)."""
        events = self.events
        fast = self.fast_pick
        while True:
            if self._stop:
                return None
            if len(events) >= self.max_steps:
                self._step_limit()
                return None
            th = fast(self) if fast is not None else None
            if th is None:
                th = self._slow_pick()
                if th is None:
                    return None
                if th.tid == CLOCK_TID:
                    self.schedule.append(-1)
                    self._do_advance()
                    continue
            self.schedule.append(th.index)
            again = self.again
            if again is not None:
                self.again = None
                ev = self._record_again(th, again)
            else:
                ev = self._record(th)
            if th.form < F_INTR:
                PERFORM[th.kind](self, th, ev)  # type: ignore[misc]
            else:
                self.interrupted = True
                if th.form == F_INTR:
                    th.error = self.interrupt(th)
                else:
                    PERFORM[th.kind](self, th, ev)  # type: ignore[misc]
            if self.extras:
                self._after(th, ev)
            return th

    def _slow_pick(self) -> VThread | None:
        """Ask the strategy with the full list of runnable threads (or the clock)."""
        enabled = self.enabled()
        if not enabled:
            if self._next_deadline() is None:
                return None
            enabled = self._clock_list()
        th = self.strategy.next_thread(self, enabled)
        if th is None or self.stop:
            if th is None and not self.stop:
                self.redundant = True
            return None
        events = self.events
        if self.capture and events:
            last = events[-1].th
            if last is not th and last in enabled and last.tid != CLOCK_TID:
                self.preemptions += 1
        return th

    def _after(self, th: VThread, ev: Ev) -> None:
        """The per-step work that only some explorations need."""
        if (
            th.tid == MAIN_TID
            and self.count_points
            and (th.kind in INTERRUPTIBLE or th.form in _WAIT_POINT_FORMS)
        ):
            th.intr_count += 1
            if th.intr_count > self.max_intr:
                self.max_intr = th.intr_count
        if self.capture:
            ev.info = (_describe(self, th, ev), th.loc)
        if self.invariant is not None and not self.invariant_failed:
            self._check_invariant(ev)

    # --- recording ------------------------------------------------------------

    def _record(self, th: VThread) -> Ev:
        acc = th.acc
        events = self.events
        tid = th.tid
        lidx = th.lidx + 1
        th.lidx = lidx
        prev = th.last
        c = (prev.clock if prev is not None else th.birth).copy()
        n = self.ctx.n
        if len(c) < n:
            c.extend([0] * (n - len(c)))
        c[tid] = lidx
        kind = th.kind
        ev = Ev(
            tid,
            acc,
            th.spawn_tid if kind == K_SPAWN else NO_SPAWN,
            False,
            len(events),
            lidx,
            kind,
            th.form,
            th,
            th.obj,
        )
        if self.detect_races:
            self._sync_clock(th, ev, acc, prev)
        if acc:
            hist = self.hist
            cands: list[tuple[Ev, Hist, bool, object, int]] | None = None
            for a in acc:
                h = hist[a >> 1]
                lw = h.lw
                if lw is not None:
                    lt = lw.tid
                    if lt != tid and c[lt] < lw.lidx:
                        ws = h.ws
                        cand = (lw, h, True, h.lw_snap, -1 if ws is None else len(ws) - 1)
                        if cands is None:
                            cands = [cand]
                        else:
                            cands.append(cand)
                if a & 1:
                    rs = h.rs
                    if rs:
                        for r in rs:
                            rt = r.tid
                            if rt != tid and c[rt] < r.lidx:
                                if cands is None:
                                    cands = [(r, h, False, None, -1)]
                                else:
                                    cands.append((r, h, False, None, -1))
                        h.rs = []
                    h.lw = ev
                    if h.snap:
                        snap = h.obj.snapshot()
                        h.lw_snap = snap
                        ws = h.ws
                        if ws is not None:
                            ws.append((ev, snap))
                else:
                    h.rs.append(ev)
            if cands is not None:
                if self.dpor:
                    self._races(th, ev, cands, c)
                for cand in cands:
                    src = cand[0].clock
                    c[: len(src)] = map(max, c, src)
        # The clock step orders everything before it before everything after
        # it. It is joined only now: a thread blocked across a clock step can
        # still race with what happened before (see _races).
        g = self.last_global
        if g is not None and c[1] < g.lidx:
            join_into(c, g.clock)
        ev.clock = c
        events.append(ev)
        th.last = ev
        return ev

    def _record_again(self, th: VThread, ev: Ev) -> Ev:
        """Record a step that the last execution ran identically at this position.

        Its clock and races are the same as then, so the event record is
        reused; only the per-object histories of this execution are updated.
        """
        events = self.events
        if self.detect_races or ev.idx != len(events) or self.reused != ev.idx:
            return self._record(th)
        self.reused = ev.idx + 1
        ev.th = th
        ev.obj = th.obj
        ev.form = th.form
        th.lidx = ev.lidx
        hist = self.hist
        for a in ev.acc:
            h = hist[a >> 1]
            if a & 1:
                if h.rs:
                    h.rs = []
                h.lw = ev
                if h.snap:
                    snap = h.obj.snapshot()
                    h.lw_snap = snap
                    ws = h.ws
                    if ws is not None:
                        ws.append((ev, snap))
            else:
                h.rs.append(ev)
        events.append(ev)
        th.last = ev
        return ev

    def _sync_clock(self, th: VThread, ev: Ev, acc: tuple[int, ...], prev: Ev | None) -> None:
        base = prev.sclock if prev is not None else th.birth_sclock
        sc = (base or []).copy()
        n = self.ctx.n
        if len(sc) < n:
            sc.extend([0] * (n - len(sc)))
        sc[th.tid] = ev.lidx
        for a in acc:
            h = self.hist[a >> 1]
            if not h.sync:
                continue
            lw = h.lw
            if lw is not None and lw.sclock is not None:
                join_into(sc, lw.sclock)
            if a & 1:
                for r in h.rs:
                    if r.sclock is not None:
                        join_into(sc, r.sclock)
        ev.sclock = sc

    def _races(
        self,
        th: VThread,
        ev: Ev,
        cands: list[tuple[Ev, Hist, bool, object, int]],
        c0: list[int],
    ) -> None:
        """Record the races ``ev`` takes part in (``c0``: its clock from program order only).

        A race is a pair (earlier event, ev) that conflict and are not ordered
        by anything else. When ``ev`` could not have run before the earlier
        event (it was enabled by it: a release before an acquire), the race is
        moved to the event that took what ``ev`` needed (the acquire that the
        release ended), as Nidhugg does for mutexes, generalised to every
        object whose operations can block.
        """
        races = self.races
        state_free = ev.kind in STATE_FREE_KINDS or th.form == F_INTR or th.form == F_INTR_WAIT
        g = self.last_global
        barrier = g.idx if g is not None else -1
        seen = -1
        for k, (p, h, was_write, p_snap, ws_pos) in enumerate(cands):
            pt = p.tid
            pl = p.lidx
            immediate = True
            for k2 in range(len(cands)):
                if k2 != k:
                    q = cands[k2][0]
                    if q is not p and clock_get(q.clock, pt) >= pl:
                        immediate = False
                        break
            if not immediate or p.idx == seen:
                continue
            seen = p.idx
            crosses = p.idx < barrier
            if not crosses and (not was_write or state_free or not h.snap):
                races.append((p.idx, ev.idx, None))
                continue
            # What would ev do if it ran just before p? (p's object as it was,
            # and the clock as it was if a clock step came in between.)
            obj = h.obj if was_write and h.snap else None
            acc2 = self._peek_in(th, obj, p_snap, self._clock_at(p.idx) if crosses else None)
            if acc2 is not None:
                races.append((p.idx, ev.idx, None if acc2 == ev.acc else Sym(ev.tid, acc2)))
                continue
            ws = h.ws
            if ws is None or not was_write:
                continue
            d = self._disabler(th, h, ws, ws_pos - 1, c0, cands, p)
            if d is not None:
                races.append((d[0].idx, ev.idx, None if d[1] == ev.acc else Sym(ev.tid, d[1])))

    def _disabler(
        self,
        th: VThread,
        h: Hist,
        ws: list[tuple[Ev, object]],
        start: int,
        c0: list[int],
        cands: list[tuple[Ev, Hist, bool, object, int]],
        p: Ev | None,
    ) -> tuple[Ev, tuple[int, ...]] | None:
        """The latest earlier write on ``h`` before which ``th``'s operation could run."""
        g = self.last_global
        barrier = g.idx if g is not None else -1
        for w in range(start, -1, -1):
            d, dsnap = ws[w]
            clock = self._clock_at(d.idx) if d.idx < barrier else None
            acc = self._peek_in(th, h.obj, dsnap, clock)
            if acc is None:
                continue
            dt = d.tid
            dl = d.lidx
            if dt == th.tid or clock_get(c0, dt) >= dl:
                return None
            for cand in cands:
                q = cand[0]
                if q is not p and clock_get(q.clock, dt) >= dl:
                    return None
            return d, acc
        return None

    def _clock_at(self, idx: int) -> float:
        """The virtual time when event ``idx`` ran."""
        before = self.clock
        for a_idx, a_before in reversed(self.advances):
            if a_idx <= idx:
                break
            before = a_before
        return before

    def _peek_in(
        self, th: VThread, obj: Any, snap: object, clock: float | None = None
    ) -> tuple[int, ...] | None:
        """What ``th``'s pending operation would do with ``obj`` in state ``snap``, at ``clock``."""
        form = th.form
        now = self.clock
        current = obj.snapshot() if obj is not None else None
        if obj is not None:
            obj.restore(snap)
        if clock is not None:
            self.clock = clock
        try:
            if th.intr and th.kind in INTERRUPTIBLE:
                return ()
            return PEEK[th.kind](self, th)  # type: ignore[misc]
        finally:
            th.form = form
            self.clock = now
            if obj is not None:
                obj.restore(current)

    def _pending_races(self) -> None:
        """Races of the operations that blocked forever (they never became events)."""
        g = self.last_global
        barrier = g.idx if g is not None else -1
        for th in self.live:
            kind = th.kind
            if kind in (K_ACQ, K_SACQ):
                acc = th.obj._wacc
            elif kind == K_WAKE and th.slot is not None:
                if th.slot.state != S_WAITING:
                    acc = th.slot._reacq_acc
                elif self.ctx.options.spurious:
                    acc = th.slot._spur_acc
                else:
                    continue
            else:
                continue
            prev = th.last
            c0 = (prev.clock if prev is not None else th.birth).copy()
            n = self.ctx.n
            if len(c0) < n:
                c0.extend([0] * (n - len(c0)))
            cands: list[tuple[Ev, Hist, bool, object, int]] = []
            for a in acc:
                h = self.hist[a >> 1]
                lw = h.lw
                if lw is not None and lw.tid != th.tid and c0[lw.tid] < lw.lidx:
                    ws = h.ws
                    cands.append((lw, h, True, h.lw_snap, -1 if ws is None else len(ws) - 1))
            for k, (p, h, _w, p_snap, ws_pos) in enumerate(cands):
                if any(
                    k2 != k and clock_get(cands[k2][0].clock, p.tid) >= p.lidx
                    for k2 in range(len(cands))
                ):
                    continue
                clock = self._clock_at(p.idx) if p.idx < barrier else None
                acc2 = self._peek_in(th, h.obj if h.snap else None, p_snap, clock)
                if acc2 is not None:
                    self.races.append((p.idx, -1, Sym(th.tid, acc2)))
                    continue
                if h.ws is None:
                    continue
                d = self._disabler(th, h, h.ws, ws_pos - 1, c0, cands, p)
                if d is not None:
                    self.races.append((d[0].idx, -1, Sym(th.tid, d[1])))

    # --- time ---------------------------------------------------------------

    def _next_deadline(self) -> float | None:
        """The earliest future deadline a blocked thread waits for (None: nothing to wait for)."""
        mode = self.mode
        best: float | None = None
        clock = self.clock
        for th in self.live:
            kind = th.kind
            d: float | None = None
            if kind == K_SLEEP:
                if mode != ALWAYS:
                    d = th.arg
            elif mode == WHEN_STUCK:
                if kind in (K_ACQ, K_SACQ, K_JOIN):
                    d = th.arg
                elif kind in (K_WAKE, K_EWAKE) and th.slot.state == S_WAITING:
                    d = th.slot.deadline
            if d is not None and d > clock and (best is None or d < best):
                best = d
        return best

    def _do_advance(self) -> None:
        deadline = self._next_deadline()
        assert deadline is not None
        events = self.events
        th = self._clock_list()[0]
        th.lidx += 1
        ev = Ev(CLOCK_TID, (), NO_SPAWN, True, len(events), th.lidx, K_ADVANCE, F_OK, th, None)
        n = self.ctx.n
        c = [0] * n
        for t in self.threads:
            if t.last is not None:
                join_into(c, t.last.clock)
        if self.last_global is not None:
            join_into(c, self.last_global.clock)
        c[CLOCK_TID] = th.lidx
        ev.clock = c
        events.append(ev)
        th.last = ev
        self.last_global = ev
        self.advances.append((ev.idx, self.clock))
        self.clock = deadline
        if self.capture:
            ev.info = (f"advance clock to {deadline:g}s (every thread was blocked)", "")

    # --- checks ---------------------------------------------------------------

    def fail(self, kind: str, step: int, message: str, exc: BaseException | None = None) -> None:
        self.failures.append(PendingFailure(kind, step, message, exc))

    def abort(self, kind: str, message: str) -> None:
        """Stop this execution at once (nondeterminism, a real blocking call...)."""
        if not self.stop:
            self.fail(kind, len(self.events), message)
            self.stop = True
            self.aborted = kind

    def _step_limit(self) -> None:
        running = [th._name for th in self.live]
        self.fail(
            "step_limit",
            len(self.events),
            f"the execution took more than {self.max_steps} steps (threads still running: "
            f"{', '.join(running) or 'none'}); this is often caused by a spin loop or a "
            "livelock: a thread polling shared state without blocking. Wait on a "
            "Condition/Event instead, or raise max_steps if the program is just long",
        )
        self.stop = True

    def _check_invariant(self, ev: Ev) -> None:
        inv = self.invariant
        assert inv is not None
        self.callback = True
        try:
            ok = inv()
        except GreenletExit:
            raise
        except BaseException as exc:
            self.invariant_failed = True
            self.fail(
                "invariant",
                ev.idx,
                f"the invariant raised {type(exc).__name__}: {exc} after step {ev.idx}",
                exc,
            )
            return
        finally:
            self.callback = False
        if ok is False:
            self.invariant_failed = True
            self.fail("invariant", ev.idx, f"the invariant returned False after step {ev.idx}")

    def race_check(self, cell: Any, th: VThread, ev: Ev, write: bool) -> None:
        sc = ev.sclock
        assert sc is not None
        st = cell._race
        if st is None:
            st = cell._race = [None, {}]
        if not self.race_reported:
            lw = st[0]
            if lw is not None and lw.tid != th.tid and clock_get(sc, lw.tid) < lw.lidx:
                self._report_race(cell, lw, ev, write)
            elif write:
                for r in st[1].values():
                    if r.tid != th.tid and clock_get(sc, r.tid) < r.lidx:
                        self._report_race(cell, r, ev, write)
                        break
        if write:
            st[0] = ev
            st[1] = {}
        else:
            st[1][th.tid] = ev

    def _report_race(self, cell: Any, first: Ev, second: Ev, write: bool) -> None:
        self.race_reported = True
        a = "write" if first.kind == K_SET else "read"
        b = "write" if write else "read"
        self.fail(
            "data_race",
            second.idx,
            f"data race on {cell._label}: {a} by {first.th._name!r} at step {first.idx} and "
            f"{b} by {second.th._name!r} at step {second.idx} are not ordered by any "
            "synchronisation (lock, event, join...)",
        )

    def emit(self, name: str, fields: dict[str, Any]) -> None:
        th = self.current
        if th is None:
            return
        step = len(self.events) - 1
        if self.capture:
            self.emits.append((step, th._name, name, fields))
        if name == "channel.recv":
            for lock in th.held:
                self.chan_taken[lock._oid] = (step, th, fields)
        elif name == "channel.send":
            for lock in th.held:
                self.chan_sent[lock._oid] = (step, th)
        elif name == "channel.recv_blocked":
            for lock in th.held:
                self.recv_blocked[th] = lock._oid
        monitor = self.monitor
        if monitor is not None and not self.monitor_failed:
            self._monitor_call(monitor.on_event, name, fields, th._name)

    def _monitor_call(self, fn: Callable[..., object], *args: Any) -> None:
        from treadle_model._report import MonitorViolation

        was = self.callback
        self.callback = True
        try:
            fn(*args)
        except MonitorViolation as v:
            self.monitor_failed = True
            self.fail(v.kind, max(len(self.events) - 1, 0), v.message)
        except GreenletExit:
            raise
        except Exception as exc:
            self.monitor_failed = True
            self.fail(
                "exception",
                max(len(self.events) - 1, 0),
                f"the monitor raised {type(exc).__name__}: {exc}",
                exc,
            )
        finally:
            self.callback = was

    # --- running --------------------------------------------------------------

    def run(self, body: Callable[[], object]) -> None:
        """Run one execution of ``body`` to its end (or until the strategy stops it)."""
        self.root = _getcurrent()
        factory = self.ctx.options.monitor
        if factory is not None:
            self.callback = True
            try:
                self.monitor = factory()
            finally:
                self.callback = False
        main = self._new_thread(None, body, (), {}, "main", None)
        main.intr_at = -2 if self.variant is None else self.variant
        self.main = main
        self.current = main
        _running[0] = self
        points = None
        if self.ctx.options.interrupt == "anywhere":
            points = CheckPoints(
                Execution._thread_main.__code__,
                _SYNC_FILE,
                lambda: self.current is main,
                self._check_point,
                self._set_injected,
            )
            points.install()
        try:
            main.glet.switch((self, main))
            while not self.over:
                th = self._advance()
                if th is None:
                    break
                self.current = th
                th.glet.switch()
            self.current = None
            if points is not None:
                points.uninstall()
                points = None
            self._finish()
        finally:
            if points is not None:
                points.uninstall()
            _running[0] = None

    def _finish(self) -> None:
        if not self.stop and not self.redundant and self.live:
            self._deadlock()
        if not self.stop:
            self._check_leaks()
        if self.dpor and not self.stop and not self.redundant:
            self._pending_races()
        self._kill()
        monitor = self.monitor
        if monitor is not None and not self.monitor_failed:
            on_end = getattr(monitor, "on_end", None)
            if on_end is not None:
                self._monitor_call(on_end, not self.failures)

    def _kill(self) -> None:
        self.killing = True
        for th in self.threads:
            g = th.glet
            if g is not None and not g.dead:
                with contextlib.suppress(BaseException):
                    g.throw(GreenletExit)
        self.current = None

    # --- end-of-execution checks ---------------------------------------------

    def _check_leaks(self) -> None:
        points = list(self.unloads)
        main = self.main
        if main is not None and main.exit_ev is not None:
            points.append((main.exit_ev, "the explored function returned"))
        for u, label in points:
            leaked = []
            for c in self.threads:
                if c is u.th:
                    continue
                if c.exit_ev is not None and hb(c.exit_ev, u.clock):
                    continue
                if c.spawn_ev is not None and hb(u, c.spawn_ev.clock):
                    continue
                leaked.append(c)
            if leaked:
                names = ", ".join(repr(c._name) for c in leaked)
                self.fail(
                    "leaked_thread",
                    u.idx,
                    f"{names} {'was' if len(leaked) == 1 else 'were'} still alive (not joined) "
                    f"when {label} at step {u.idx}: join every thread before returning "
                    "(join before unload)",
                )
                return

    def _deadlock(self) -> None:
        step = len(self.events)
        lines = []
        lost = None
        for th in self.live:
            lines.append(f"{th._name!r} {_blocked_on(self, th)}")
            if lost is None:
                lost = _lost_wakeup(self, th)
        if lost is not None:
            self.fail("lost_wakeup", step, lost + "; blocked: " + "; ".join(lines))
        else:
            self.fail(
                "deadlock",
                step,
                "every thread is blocked: " + "; ".join(lines),
            )


def _raised_at(exc: BaseException) -> str:
    """file:line where ``exc`` was raised, in the explored code (not the model's)."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if not fn.startswith(_PKG_DIR):
            try:
                rel = os.path.relpath(fn)
            except ValueError:  # pragma: no cover - other drive on Windows
                rel = fn
            where = f"{fn if rel.startswith('..') else rel}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _chains_to(exc: BaseException, target: BaseException) -> bool:
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 100:
        if e is target:
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _lock_state(lock: Any) -> str:
    holder = lock._holder
    if holder is None:
        return "free"
    return f"held by {holder._name!r}"


def _blocked_on(ex: Execution, th: VThread) -> str:
    kind = th.kind
    obj = th.obj
    if kind == K_ACQ:
        return f"waits to acquire {obj._label} ({_lock_state(obj)})"
    if kind == K_SACQ:
        return f"waits to acquire {obj._label} (value 0)"
    if kind == K_JOIN:
        return f"waits to join {obj._name!r}"
    if kind == K_WAKE:
        slot = th.slot
        if slot is not None and slot.state == S_WAITING:
            return f"waits on {obj._label} (never notified)"
        lock = obj._lock
        return (
            f"was woken from {obj._label} and waits to reacquire {lock._label} "
            f"({_lock_state(lock)})"
        )
    if kind == K_EWAKE:
        return f"waits on {obj._label} (never set)"
    if kind == K_SLEEP:
        return "sleeps"
    return f"is blocked in {KIND_NAMES[kind]}"


def _lost_wakeup(ex: Execution, th: VThread) -> str | None:
    slot = th.slot
    if slot is None or slot.state != S_WAITING:
        return None
    start = slot.start
    obj = th.obj
    if isinstance(obj, CCondition):
        lock_oid = obj._lock._oid
        taken = ex.chan_taken.get(lock_oid)
        if ex.recv_blocked.get(th) == lock_oid and taken is not None and taken[1] is not th:
            step, taker, fields = taken
            sent = ex.chan_sent.get(lock_oid)
            by = "" if sent is None else f" (channel.send at step {sent[0]} by {sent[1]._name!r})"
            return (
                f"lost wakeup: {th._name!r} waits forever to receive on channel "
                f"{fields.get('channel')!r} (it started waiting at step {start}), but the item "
                f"{fields.get('item')!r}{by} was taken (channel.recv) at step {step} by "
                f"{taker._name!r}; a channel "
                "has one receiver - give each consumer its own channel, or send one item per "
                "consumer"
            )
        earlier = [n for n in obj._notifies if n[0] < start]
        if earlier:
            step, who = earlier[-1]
            return (
                f"lost wakeup: {th._name!r} waits forever on {obj._label} (it started waiting "
                f"at step {start}), but the notify it needed was sent at step {step} by "
                f"{who._name!r}, before it started waiting, and woke nobody; check the "
                "condition under the lock "
                "in a loop (`while not ready: cond.wait()`)"
            )
    elif isinstance(obj, CEvent):
        earlier_sets = [s for s in obj._sets if s[0] < start]
        if earlier_sets:
            step, who = earlier_sets[-1]
            return (
                f"lost wakeup: {th._name!r} waits forever on {obj._label} (it started waiting "
                f"at step {start}), but the set() at step {step} by {who._name!r} happened "
                "before it started waiting, woke nobody, and the event was cleared again"
            )
    return None


def _user_location() -> str:
    f = sys._getframe(2)
    pkg = _PKG_DIR
    while f is not None:
        fn = f.f_code.co_filename
        if fn != _SYNC_FILE and not fn.startswith(pkg):
            try:
                rel = os.path.relpath(fn)
            except ValueError:  # pragma: no cover - other drive on Windows
                rel = fn
            if rel.startswith(".."):
                rel = fn
            return f"{rel}:{f.f_lineno}"
        f = f.f_back  # type: ignore[assignment]
    return ""


def _describe(ex: Execution, th: VThread, ev: Ev) -> str:
    kind = ev.kind
    form = ev.form
    obj = ev.obj
    label = getattr(obj, "_label", "")
    if form == F_INTR:
        return f"KeyboardInterrupt raised before {KIND_NAMES[kind]} {label}".rstrip()
    if form == F_INTR_WAIT:
        return f"KeyboardInterrupt raised while waiting on {label}"
    if form == F_ERR:
        return f"{KIND_NAMES[kind]} {label} -> error: {th.error}"
    if kind == K_GET:
        return f"get {label} -> {th.result!r}"
    if kind == K_SET:
        return f"set {label} = {th.arg!r}"
    if kind == K_ACQ:
        if form == F_FAIL:
            return f"acquire {label} -> failed (held)"
        return f"acquire {label}"
    if kind == K_REL:
        return f"release {label}"
    if kind == K_LOCKED:
        return f"locked {label} -> {th.result!r}"
    if kind == K_WAIT:
        return f"wait on {label} (releases {obj._lock._label})"
    if kind == K_WAKE:
        if form == F_TO:
            return f"wait on {label} times out"
        if form == F_SPUR:
            return f"spurious wakeup from {label}"
        if form == F_REACQ:
            return f"wakes from {label}, reacquires {obj._lock._label} -> {th.result!r}"
    if kind == K_NOTIFY:
        n = "all" if th.arg < 0 else str(th.arg)
        return f"notify({n}) {label}"
    if kind == K_ESET:
        return f"set {label}"
    if kind == K_ECLEAR:
        return f"clear {label}"
    if kind == K_EISSET:
        return f"is_set {label} -> {th.result!r}"
    if kind == K_EWAIT:
        if form == F_REG:
            return f"wait on {label} (not set: blocks)"
        return f"wait on {label} -> True (already set)"
    if kind == K_EWAKE:
        if form == F_SIGNALED:
            return f"woken by set of {label} -> True"
        return f"wait on {label} times out -> False"
    if kind == K_SACQ:
        return f"acquire {label}" + (" -> failed" if form == F_FAIL else "")
    if kind == K_SREL:
        return f"release {label} (+{th.arg})"
    if kind == K_SPAWN:
        child = th.result
        return f"spawn {child._name!r}" if isinstance(child, VThread) else "spawn"
    if kind == K_JOIN:
        return f"join {obj._name!r}" + (" -> timed out" if form == F_FAIL else "")
    if kind == K_ALIVE:
        return f"is_alive {obj._name!r} -> {th.result!r}"
    if kind == K_EXIT:
        return "exit"
    if kind == K_GETHOOK:
        return "get_excepthook"
    if kind == K_SETHOOK:
        return "set_excepthook"
    if kind == K_SLEEP:
        return f"sleep({th.arg2:g}) -> clock {ex.clock:g}s"
    if kind == K_MONO:
        return f"monotonic -> {th.result:g}"
    if kind == K_UNLOAD:
        return f"unload({th.arg!r})"
    return KIND_NAMES[kind]


# --- thread, hook, time and unload operations ---------------------------------


def _p_spawn(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return ()


def _x_spawn(ex: Execution, th: VThread, ev: Ev) -> None:
    fn, args, kwargs, name = th.arg
    child = ex._new_thread(th, fn, args, kwargs, name, ev)
    th.result = child
    ex.primer = _getcurrent()
    ex.priming = child
    ex.current = child
    try:
        child.glet.switch((ex, child))
    finally:
        ex.current = th
        ex.priming = None


def _p_join(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    target: VThread = th.obj
    if not target.alive:
        th.form = F_OK
        return target._racc
    deadline = th.arg
    if deadline is not None and ex.due(deadline):
        th.form = F_FAIL
        if ex.always and deadline >= 0:
            return (target._racc[0], ex.clock_w)
        return target._racc
    return None


def _x_join(ex: Execution, th: VThread, ev: Ev) -> None:
    if th.form == F_FAIL and ex.always and th.arg >= 0:
        ex.clock += th.arg2
    th.result = None


def _p_alive(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._racc  # type: ignore[no-any-return]


def _x_alive(ex: Execution, th: VThread, ev: Ev) -> None:
    th.result = th.obj.alive


def _p_exit(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th._wacc


def _x_exit(ex: Execution, th: VThread, ev: Ev) -> None:
    th.alive = False
    th.exit_ev = ev
    ex.live.remove(th)
    if th.held:
        # A plain Lock held by a finished thread stays locked (threading does
        # the same); forget the bookkeeping only.
        th.held = []


def _p_gethook(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return ex.hook_obj._racc


def _x_gethook(ex: Execution, th: VThread, ev: Ev) -> None:
    th.result = ex.hook


def _p_sethook(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return ex.hook_obj._wacc


def _x_sethook(ex: Execution, th: VThread, ev: Ev) -> None:
    ex.hook = th.arg


def _p_sleep(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    if ex.always:
        th.form = F_OK
        return (ex.clock_w,)
    if th.arg <= ex.clock:
        th.form = F_OK
        return ()
    return None


def _x_sleep(ex: Execution, th: VThread, ev: Ev) -> None:
    if ex.always:
        ex.clock += th.arg2
    th.result = None


def _p_mono(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return (ex.clock_r,)


def _x_mono(ex: Execution, th: VThread, ev: Ev) -> None:
    th.result = ex.clock


def _p_unload(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return ()


def _x_unload(ex: Execution, th: VThread, ev: Ev) -> None:
    ex.unloads.append((ev, f"unload({th.arg!r}) was called by {th._name!r}"))
    th.result = None


for _kind, _peek, _perform in (
    (K_SPAWN, _p_spawn, _x_spawn),
    (K_JOIN, _p_join, _x_join),
    (K_ALIVE, _p_alive, _x_alive),
    (K_EXIT, _p_exit, _x_exit),
    (K_GETHOOK, _p_gethook, _x_gethook),
    (K_SETHOOK, _p_sethook, _x_sethook),
    (K_SLEEP, _p_sleep, _x_sleep),
    (K_MONO, _p_mono, _x_mono),
    (K_UNLOAD, _p_unload, _x_unload),
):
    PEEK[_kind] = _peek
    PERFORM[_kind] = _perform
