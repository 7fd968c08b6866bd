"""The public entry points: :func:`explore`, :func:`replay`, :func:`check`, :func:`unload`."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from treadle import sync
from treadle_model import _stdlib
from treadle_model._backend import ModelBackend
from treadle_model._dfs import DFS
from treadle_model._dpor import DPOR
from treadle_model._pct import PCT
from treadle_model._random import RandomScheduler
from treadle_model._replay import Choices, Replay
from treadle_model._report import MAX_KEPT_FAILURES, Failure, Report
from treadle_model._runtime import (
    _PKG_DIR,
    TIMEOUT_MODES,
    Context,
    Execution,
    GreenletExit,
    Options,
    PendingFailure,
    greenlet_available,
)
from treadle_model._schedule import decode_mode, encode
from treadle_model._scheduler import Scheduler
from treadle_model._trace import format_trace, linearize

__all__ = ["STRATEGIES", "check", "explore", "replay", "unload"]

STRATEGIES = ("dpor", "dfs", "random", "pct")
DEFAULT_MAX_STEPS = 10_000
DEFAULT_SAMPLED_EXECUTIONS = 1000

# A body that blocks the real OS thread this long without reaching a facade
# operation is reported (it waits on something the model does not control).
STALL_SECONDS = 10.0
# ... or this long while it holds a real lock that is locked (a lock made before
# the exploration, contended between virtual threads: that never ends).
LOCK_STALL_SECONDS = 1.0

_active = False

# Test hook: called with every finished execution (the engine's own tests use
# it to compare strategies); None in normal use.
_observer: Callable[[Execution], None] | None = None


class _Stalled(GreenletExit):  # type: ignore[misc]
    """Raised by the watchdog inside a body stuck in a real blocking call."""


@dataclass(frozen=True)
class _Settings:
    max_executions: int | None
    preemption_bound: int | None
    max_steps: int
    stop_on_first: bool
    strategy: str
    seed: int | None
    # A scheduler instance passed as ``strategy=`` (then ``strategy`` is its name).
    scheduler: Scheduler | None
    interrupt_main: bool | str
    spurious: int
    timeouts: str
    invariant: Callable[[], object] | None
    detect_races: bool
    monitor: Callable[[], Any] | None
    progress: Callable[[int, float], object] | None

    def runtime(self) -> Options:
        return Options(
            max_steps=self.max_steps,
            timeouts=TIMEOUT_MODES[self.timeouts],
            spurious=self.spurious,
            invariant=self.invariant,
            detect_races=self.detect_races,
            monitor=self.monitor,
            interrupt=self.interrupt_main,
        )


def _int_option(name: str, value: object, *, minimum: int, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _settings(
    body: object,
    *,
    max_executions: object,
    preemption_bound: object,
    max_steps: object,
    stop_on_first: object,
    strategy: object,
    seed: object,
    interrupt_main: object,
    spurious_wakeups: object,
    timeouts: object,
    invariant: object,
    detect_races: object,
    monitor: object,
    progress: object,
) -> _Settings:
    if not callable(body):
        raise TypeError(f"explore() needs a zero-argument callable as the body, got {body!r}")
    scheduler: Scheduler | None = None
    if not isinstance(strategy, str):
        missing = [
            m
            for m in ("new_execution", "next_thread", "next_value", "end_execution", "exhaustive")
            if not callable(getattr(strategy, m, None))
        ]
        if missing:
            raise TypeError(
                f"strategy must be one of {', '.join(map(repr, STRATEGIES))} or a scheduler "
                f"object (see treadle_model._scheduler.Scheduler); {strategy!r} has no "
                + ", ".join(f"{m}()" for m in missing)
            )
        if interrupt_main:
            raise ValueError(
                "interrupt_main explores one scheduler run per interrupt point, so it needs a "
                "named strategy ('dpor', 'dfs', 'random', 'pct'), not a scheduler instance"
            )
        scheduler = strategy  # type: ignore[assignment]
        strategy = str(getattr(strategy, "name", type(strategy).__name__))
    elif strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, STRATEGIES))} or a scheduler "
            f"object, got {strategy!r}"
        )
    if timeouts not in TIMEOUT_MODES:
        raise ValueError(f"timeouts must be 'when_stuck', 'always' or 'never', got {timeouts!r}")
    mx = _int_option("max_executions", max_executions, minimum=1, allow_none=True)
    pb = _int_option("preemption_bound", preemption_bound, minimum=0, allow_none=True)
    if pb is not None and (scheduler is not None or strategy not in ("dfs", "pct")):
        raise ValueError(
            "preemption_bound applies to strategy='dfs' (and is the depth for 'pct'); "
            "'dpor' is exhaustive and 'random' has no bound"
        )
    ms = _int_option("max_steps", max_steps, minimum=1, allow_none=False)
    assert ms is not None
    sd = _int_option("seed", seed, minimum=0, allow_none=True)
    if isinstance(spurious_wakeups, bool):
        spur = 1 if spurious_wakeups else 0
    else:
        s = _int_option("spurious_wakeups", spurious_wakeups, minimum=0, allow_none=False)
        assert s is not None
        spur = s
    if interrupt_main != "anywhere" and not isinstance(interrupt_main, bool):
        raise TypeError(f"interrupt_main must be True, False or 'anywhere', not {interrupt_main!r}")
    for name, flag in (
        ("stop_on_first", stop_on_first),
        ("detect_races", detect_races),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, not {flag!r}")
    for name, fn in (("invariant", invariant), ("monitor", monitor), ("progress", progress)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a callable or None, not {fn!r}")
    return _Settings(
        max_executions=mx,
        preemption_bound=pb,
        max_steps=ms,
        stop_on_first=bool(stop_on_first),
        strategy=str(strategy),
        seed=sd,
        scheduler=scheduler,
        interrupt_main=interrupt_main if interrupt_main == "anywhere" else bool(interrupt_main),
        spurious=spur,
        timeouts=str(timeouts),
        invariant=invariant,  # type: ignore[arg-type]
        detect_races=bool(detect_races),
        monitor=monitor,  # type: ignore[arg-type]
        progress=progress,  # type: ignore[arg-type]
    )


def explore(
    body: Callable[[], object],
    *,
    max_executions: int | None = None,
    preemption_bound: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    stop_on_first: bool = True,
    strategy: str | Scheduler = "dpor",
    seed: int | None = None,
    interrupt_main: bool | str = False,
    spurious_wakeups: bool | int = False,
    timeouts: str = "when_stuck",
    invariant: Callable[[], object] | None = None,
    detect_races: bool = False,
    monitor: Callable[[], Any] | None = None,
    progress: Callable[[int, float], object] | None = None,
) -> Report:
    """Run ``body`` under every distinct interleaving and report what went wrong.

    ``body`` runs as the main virtual thread and starts others with
    :func:`treadle.sync.spawn` or plain :class:`threading.Thread`; every
    :mod:`treadle.sync` operation is a scheduling point, and so is every
    operation on the stdlib's ``threading``/``queue``/``time``/
    ``concurrent.futures`` objects created inside the body (see
    :mod:`treadle_model._stdlib`). Blocking on something the model does not
    control fails with kind ``uncontrolled``. ``explore`` never raises because the program failed:
    failures are in the returned :class:`Report`.

    Args:
        max_executions: stop after this many executions (default: no limit for
            ``"dpor"``/``"dfs"``, 1000 for ``"random"``/``"pct"``).
        preemption_bound: for ``"dfs"``, only schedules with at most this many
            preemptions; for ``"pct"``, the bug depth (default 3).
        max_steps: an execution longer than this fails with ``step_limit``.
        stop_on_first: stop at the first failing execution.
        strategy: ``"dpor"`` (exhaustive, one execution per Mazurkiewicz
            trace), ``"dfs"`` (every interleaving, optionally bounded),
            ``"random"`` or ``"pct"`` (seeded by ``seed``), or a scheduler
            object of your own (the ``treadle_model._scheduler.Scheduler``
            protocol: it is asked for each execution and each next thread).
        seed: for ``"random"``/``"pct"`` (default 0).
        interrupt_main: also explore a KeyboardInterrupt raised in the main
            thread at each of its scheduling points (one per execution);
            ``"anywhere"``: also at every other point where CPython checks for
            signals on the main thread (function entries, loop back-edges,
            returns from calls), as a real Ctrl-C can land.
        spurious_wakeups: let ``Condition.wait`` return without a notify (True:
            once per execution; an int: that many times).
        timeouts: ``"when_stuck"`` (a timed wait or sleep ends only when no
            thread can otherwise run), ``"always"`` (a timeout may fire at any
            time), ``"never"`` (timed waits wait forever; sleeps still end).
        invariant: called after every step (it may read Cells); returning
            False or raising fails the execution.
        detect_races: report Cell accesses not ordered by synchronisation.
        monitor: a factory called once per execution, returning an object with
            ``on_event(name, fields, thread)`` and ``on_end(ok)``; either may
            raise :class:`MonitorViolation`.
        progress: called now and then with (executions, seconds elapsed).

    Two things are checked on the explored interleaving of each equivalence
    class rather than on every interleaving: the ``invariant`` (it sees the
    states of that interleaving) and the order of protocol events a
    ``monitor`` receives when two threads emit without a lock ordering them.
    Emit protocol events under the lock that makes the step atomic (treadle
    does), and check invariants on state guarded by locks.

    Raises:
        TypeError / ValueError: a bad option or a body that is not callable.
        RuntimeError: called inside another exploration, or greenlet is missing.
    """
    settings = _settings(
        body,
        max_executions=max_executions,
        preemption_bound=preemption_bound,
        max_steps=max_steps,
        stop_on_first=stop_on_first,
        strategy=strategy,
        seed=seed,
        interrupt_main=interrupt_main,
        spurious_wakeups=spurious_wakeups,
        timeouts=timeouts,
        invariant=invariant,
        detect_races=detect_races,
        monitor=monitor,
        progress=progress,
    )
    return _Explorer(body, settings).run()


def check(body: Callable[[], object], **options: Any) -> Report:
    """:func:`explore` then :meth:`Report.assert_ok`; returns the report when it passed."""
    report = explore(body, **options)
    report.assert_ok()
    return report


def replay(
    body: Callable[[], object],
    schedule: str,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    spurious_wakeups: bool | int = False,
    timeouts: str = "when_stuck",
    invariant: Callable[[], object] | None = None,
    detect_races: bool = False,
    monitor: Callable[[], Any] | None = None,
    **ignored: Any,
) -> Report:
    """Run exactly the execution that ``schedule`` describes, with a full trace.

    Pass the same options as the exploration that printed the schedule
    (exploration-only options such as ``strategy`` are accepted and ignored).

    Raises:
        ValueError: ``schedule`` is not a schedule string, or a bad option.
    """
    steps, variant, anywhere = decode_mode(schedule)
    for name in ignored:
        if name not in (
            "max_executions",
            "preemption_bound",
            "stop_on_first",
            "strategy",
            "seed",
            "interrupt_main",
            "progress",
        ):
            raise TypeError(f"replay() got an unexpected keyword argument {name!r}")
    settings = _settings(
        body,
        max_executions=None,
        preemption_bound=None,
        max_steps=max_steps,
        stop_on_first=True,
        strategy="dpor",
        seed=None,
        interrupt_main="anywhere" if anywhere else variant is not None,
        spurious_wakeups=spurious_wakeups,
        timeouts=timeouts,
        invariant=invariant,
        detect_races=detect_races,
        monitor=monitor,
        progress=None,
    )
    return _Explorer(body, settings).run_replay(steps, variant)


def run_choices(body: Callable[[], object], choices: list[int], **options: Any) -> Report:
    """Run one execution choosing threads from a list of ints (see :class:`._replay.Choices`)."""
    settings = _settings(
        body,
        max_executions=None,
        preemption_bound=None,
        max_steps=options.pop("max_steps", DEFAULT_MAX_STEPS),
        stop_on_first=True,
        strategy="dpor",
        seed=None,
        interrupt_main=False,
        spurious_wakeups=options.pop("spurious_wakeups", False),
        timeouts=options.pop("timeouts", "when_stuck"),
        invariant=options.pop("invariant", None),
        detect_races=options.pop("detect_races", False),
        monitor=options.pop("monitor", None),
        progress=None,
    )
    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    return _Explorer(body, settings).run_one(Choices(list(choices)), "choices")


def unload(label: str = "unload") -> None:
    """Fail the execution if any thread other than the caller is still alive here.

    Call it inside an explored body at a point where every thread the code
    started must have been joined ("join before unload"). The check is on the
    happens-before order, so it fails when *some* interleaving of this
    execution would have a thread alive at that point.

    Raises:
        RuntimeError: called outside :func:`explore`.
    """
    backend = sync.get_backend()
    if not isinstance(backend, ModelBackend) or backend.ex is None:
        raise RuntimeError("treadle_model.unload() can only be called inside an explored function")
    backend.unload(label)


class _Watchdog:
    """Notices a body stuck in a real blocking call (SIGALRM, main thread only)."""

    interval = 0.5

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ex: Execution | None = None
        self.mark: tuple[int, int] = (0, -1)
        self.idle = 0.0
        self.installed = False
        self.prev_handler: Any = None

    def __enter__(self) -> _Watchdog:
        if (
            self.seconds > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
        ):
            self.prev_handler = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, self.prev_handler)
            self.installed = False

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        ex = self.ex
        if ex is None or ex.killing or ex.stop:
            self.idle = 0.0
            return
        mark = (id(ex), len(ex.events))
        if mark != self.mark:
            self.mark = mark
            self.idle = 0.0
            return
        self.idle += self.interval
        lock = _real_lock_in(frame)
        if self.idle >= (min(self.seconds, LOCK_STALL_SECONDS) if lock else self.seconds):
            self.idle = 0.0
            th = ex.current
            who = f"thread {th._name!r}" if th is not None else "the explored code"
            where = _frame_line(frame)
            what = (
                f"{lock}, a real lock the model does not control (created before the "
                "exploration started, e.g. at import time)"
                if lock
                else "something the model does not control (a real lock, a C extension, I/O)"
            )
            ex.abort(
                "uncontrolled",
                f"{who} blocked the real OS thread at {where} without reaching a "
                f"scheduling point: it waits on {what}; {_stdlib.ADVICE}",
            )
            raise _Stalled


def _frame_line(frame: FrameType | None) -> str:
    f = frame
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR):
            try:
                rel = os.path.relpath(fn)
            except ValueError:  # pragma: no cover - other drive on Windows
                rel = fn
            return f"{fn if rel.startswith('..') else rel}:{f.f_lineno}"
        f = f.f_back
    return "?"


def _real_lock_in(frame: FrameType | None) -> str:
    """Name a locked real lock the blocked frame refers to ('' if none)."""
    if frame is None:
        return ""
    found: list[str] = []

    def look(where: str, items: Any) -> None:
        for name, value in items:
            if isinstance(value, _stdlib._REAL_LOCK_TYPES) and repr(value).startswith("<locked"):
                kind = "RLock" if "RLock" in type(value).__name__ else "Lock"
                found.append(f"threading.{kind} {name!r}{where}")

    look("", frame.f_locals.items())
    me = frame.f_locals.get("self")
    if me is not None and hasattr(me, "__dict__"):
        look(f" of {type(me).__name__}", vars(me).items())
    look(f" (module {frame.f_globals.get('__name__')})", list(frame.f_globals.items()))
    return found[0] if found else ""


@contextmanager
def _exclusive() -> Iterator[None]:
    global _active
    if _active:
        raise RuntimeError(
            "treadle_model.explore()/replay() cannot be nested or run from inside an explored "
            "function"
        )
    if not greenlet_available():
        raise RuntimeError("treadle_model needs the greenlet package: pip install 'treadle[model]'")
    _active = True
    try:
        yield
    finally:
        _active = False


class _Explorer:
    def __init__(self, body: Callable[[], object], settings: _Settings) -> None:
        self.body = body
        self.s = settings
        self.backend = ModelBackend()
        self.watchdog = _Watchdog(STALL_SECONDS)

    # --- plumbing -------------------------------------------------------------

    def _scheduler(self) -> Scheduler:
        s = self.s
        if s.scheduler is not None:
            return s.scheduler
        if s.strategy == "dpor":
            return DPOR()
        if s.strategy == "dfs":
            return DFS(s.preemption_bound)
        count = s.max_executions or DEFAULT_SAMPLED_EXECUTIONS
        seed = s.seed or 0
        if s.strategy == "random":
            return RandomScheduler(seed, count)
        depth = 3 if s.preemption_bound is None else s.preemption_bound + 1
        return PCT(seed, count, depth)

    def _execute(
        self, ctx: Context, sched: Scheduler, variant: int | None, capture: bool
    ) -> Execution:
        ex = Execution(ctx, sched, variant=variant, dpor=sched.needs_races, capture=capture)
        self.backend.ex = ex
        self.watchdog.ex = ex
        try:
            ex.run(self.body)
        except _Stalled:
            ex.current = None
            ex._kill()
        finally:
            self.backend.ex = None
            self.watchdog.ex = None
        return ex

    @contextmanager
    def _installed(self) -> Iterator[None]:
        with _exclusive(), sync.using_backend(self.backend), _stdlib.patched(), self.watchdog:
            yield

    # --- exploring ------------------------------------------------------------

    def run(self) -> Report:
        with self._installed():
            return self._explore()

    def _explore(self) -> Report:
        ctx = Context(self.s.runtime())
        try:
            return self._explore_in(ctx)
        finally:
            ctx.close()

    def _explore_in(self, ctx: Context) -> Report:
        s = self.s
        report = Report(strategy=s.strategy)
        start = time.perf_counter()
        last_progress = start
        threads_before = _stdlib.real_thread_count()
        most_threads = 0
        variants: list[int | None] = [None]
        vi = 0
        stopped = False
        exhaustive = True
        max_points = 0
        while vi < len(variants) and not stopped:
            variant = variants[vi]
            vi += 1
            sched = self._scheduler()
            while True:
                if s.max_executions is not None and report.executions >= s.max_executions:
                    exhaustive = False
                    stopped = True
                    break
                if not sched.new_execution():
                    break
                ex = self._execute(ctx, sched, variant, capture=False)
                sched.end_execution(ex)
                if _observer is not None:
                    _observer(ex)
                report.steps += len(ex.events)
                most_threads = max(most_threads, len(ex.threads))
                if _stdlib.real_thread_count() > threads_before and not ex.aborted:
                    ex.abort(
                        "uncontrolled",
                        "the explored code started a real OS thread the model does not run "
                        f"({_new_threads(threads_before)}): threads started with "
                        "threading.Thread, _thread or treadle.sync.spawn inside the explored "
                        "function run as virtual threads, but this one was started some other "
                        f"way (a C extension, or a Thread method saved before the exploration); "
                        f"{_stdlib.ADVICE}",
                    )
                if not ex.aborted and (
                    ex.redundant or (variant is not None and not ex.interrupted)
                ):
                    # (An interrupt run whose main thread never reached the
                    # interrupt point repeats an execution without interrupt.)
                    report.redundant += 1
                    continue
                report.executions += 1
                if variant is None:
                    max_points = max(max_points, ex.max_intr)
                if ex.failures:
                    report.failed_executions += 1
                    if len(report.failures) < MAX_KEPT_FAILURES:
                        report.failures.append(self._failure(ex, variant))
                    if s.stop_on_first or ex.aborted:
                        stopped = True
                        break
                if s.progress is not None:
                    now = time.perf_counter()
                    if now - last_progress >= 0.5:
                        last_progress = now
                        s.progress(report.executions, now - start)
            if not sched.exhaustive():
                exhaustive = False
            if variant is None and s.interrupt_main and not stopped:
                variants.extend(range(max_points))
        report.exhaustive = exhaustive and not stopped
        report.nothing_to_interleave = (
            report.exhaustive and most_threads <= 1 and len(variants) == 1 and not report.failures
        )
        report.elapsed = time.perf_counter() - start
        if s.progress is not None:
            s.progress(report.executions, report.elapsed)
        return report

    def run_replay(self, steps: list[int], variant: int | None) -> Report:
        with self._installed():
            return self._one(Replay(steps, strict=True), "replay", variant)

    def run_one(self, sched: Scheduler, name: str) -> Report:
        with self._installed():
            return self._one(sched, name, None)

    def _one(self, sched: Scheduler, name: str, variant: int | None) -> Report:
        report = Report(strategy=name)
        start = time.perf_counter()
        ctx = Context(self.s.runtime())
        sched.new_execution()
        try:
            ex = self._execute(ctx, sched, variant, capture=True)
        finally:
            ctx.close()
        sched.end_execution(ex)
        report.executions = 1
        report.steps = len(ex.events)
        if ex.failures:
            report.failed_executions = 1
            pf = _first(ex.failures)
            report.failures.append(self._build(ex, pf, variant))
        report.elapsed = time.perf_counter() - start
        return report

    # --- failures -------------------------------------------------------------

    def _capture(
        self, steps: list[int], variant: int | None, kind: str
    ) -> tuple[Execution, PendingFailure] | None:
        ctx = Context(self.s.runtime())
        sched = Replay(steps, strict=True)
        sched.new_execution()
        try:
            ex = self._execute(ctx, sched, variant, capture=True)
        finally:
            ctx.close()
        if ex.aborted and kind != ex.aborted:
            return None
        matching = [f for f in ex.failures if f.kind == kind]
        if not matching:
            return None
        return ex, _first(matching)

    def _failure(self, ex: Execution, variant: int | None) -> Failure:
        pf = _first(ex.failures)
        if pf.kind == "nondeterminism" or ex.aborted:
            return Failure(
                kind=pf.kind,
                message=pf.message,
                schedule=self._encode(ex.schedule, variant),
                trace=(),
                exception=pf.exception,
                replay_call="",
            )
        best = self._capture(list(ex.schedule), variant, pf.kind)
        upto = min(pf.step, len(ex.events) - 1)
        if upto >= 0:
            shorter = linearize(ex.events, upto)
            if shorter != ex.schedule[: len(shorter)]:
                alt = self._capture(shorter, variant, pf.kind)
                if alt is not None and (
                    best is None or _preemptions(alt[0]) < _preemptions(best[0])
                ):
                    best = alt
        if best is None:
            schedule = self._encode(ex.schedule, variant)
            call, exact = replay_line(self.body, schedule, self.s)
            return Failure(
                kind=pf.kind,
                message=pf.message,
                schedule=schedule,
                trace=(),
                exception=pf.exception,
                replay_call=call,
                replay_exact=exact,
            )
        cex, cpf = best
        return self._build(cex, cpf, variant)

    def _build(self, ex: Execution, pf: PendingFailure, variant: int | None) -> Failure:
        schedule = self._encode(ex.schedule, variant)
        upto = None if pf.kind in ("deadlock", "lost_wakeup", "leaked_thread") else pf.step
        message = pf.message
        if ex.intr_where:
            message += (
                f" (after a KeyboardInterrupt in 'main' at {ex.intr_where}, a point where "
                "CPython checks for signals)"
            )
        call, exact = replay_line(self.body, schedule, self.s)
        return Failure(
            kind=pf.kind,
            message=message,
            schedule=schedule,
            trace=format_trace(ex, upto) if ex.capture else (),
            exception=pf.exception,
            replay_call=call,
            replay_exact=exact,
        )

    def _encode(self, steps: list[int], variant: int | None) -> str:
        return encode(steps, variant, self.s.interrupt_main == "anywhere")


def _qualified(obj: object) -> str | None:
    """``module.qualname`` of a module-level function (not ``__main__``), else None."""
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if not mod or not qual or "<" in qual or mod == "__main__":
        return None
    return f"{mod}.{qual}"


def _main_target(body: object) -> str | None:
    """The ``treadle explore`` target of a top-level function in ``__main__``."""
    import os
    import sys

    qual = getattr(body, "__qualname__", None)
    if getattr(body, "__module__", None) != "__main__" or not qual or "<" in qual:
        return None
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return f"{spec.name}:{qual}"  # run with `python -m`
    path = getattr(main, "__file__", None)
    if not path:
        return None  # an interactive session: nothing to import it from
    rel = os.path.relpath(os.path.abspath(path))
    return f"{rel if not rel.startswith('..') else os.path.abspath(path)}:{qual}"


def replay_line(body: object, schedule: str, s: _Settings) -> tuple[str, bool]:
    """What replays ``schedule`` of ``body`` under settings ``s``, and whether it is exact.

    A module-level function gives ``treadle_model.replay(module.function,
    'schedule', ...)``; a top-level function of ``__main__`` gives the
    ``treadle explore`` command (the module ``__main__`` names is gone once
    the script ends). Anything that cannot be named (a closure, a local
    invariant or monitor) is written as ``...`` and the line is marked
    inexact.
    """
    import shlex

    from treadle_model._report import shell_quote

    exact = True
    main_target = _main_target(body)
    if main_target is not None:
        flags = ""
        if s.max_steps != DEFAULT_MAX_STEPS:
            flags += f" --max-steps {s.max_steps}"
        if s.timeouts != "when_stuck":
            flags += f" --timeouts {s.timeouts}"
        if s.spurious:
            flags += " --spurious-wakeups"
        if s.detect_races:
            flags += " --detect-races"
        if s.invariant is not None or s.monitor is not None:
            exact = False  # the command line cannot pass them
        cmd = f"treadle explore {shlex.quote(main_target)}{flags} --replay {shell_quote(schedule)}"
        return cmd, exact
    target = _qualified(body)
    if target is None:
        target, exact = "body", False
    extra = ""
    if s.max_steps != DEFAULT_MAX_STEPS:
        extra += f", max_steps={s.max_steps}"
    if s.timeouts != "when_stuck":
        extra += f", timeouts={s.timeouts!r}"
    if s.spurious:
        extra += f", spurious_wakeups={s.spurious}"
    if s.detect_races:
        extra += ", detect_races=True"
    for name, fn in (("invariant", s.invariant), ("monitor", s.monitor)):
        if fn is not None:
            named = _qualified(fn)
            if named is None:
                exact = False
            extra += f", {name}={named or '...'}"
    return f"treadle_model.replay({target}, {schedule!r}{extra})", exact


def _new_threads(before: int) -> str:
    names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    return "threads now running: " + (", ".join(repr(n) for n in names) or "none named")


def _first(failures: list[PendingFailure]) -> PendingFailure:
    best = failures[0]
    for f in failures[1:]:
        if f.step < best.step:
            best = f
    return best


def _preemptions(ex: Execution) -> int:
    return ex.preemptions
