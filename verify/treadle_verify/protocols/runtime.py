"""Runtime: the real init / run_on_worker / call_on_main / shutdown, conforming to ``shutdown``.

Each scenario runs one :class:`~treadle.Runtime` session under the model, on
the model's main thread: ``init()``, ``jobs`` calls of ``run_on_worker``
(job ``j`` makes ``calls`` ``call_on_main`` requests, ``(j, 0), (j, 1), ...``,
each served on the main thread), then ``shutdown()``. A scenario may make
every job raise :class:`JobFailed` after its calls, make the first main-side
call of every job raise :class:`CallFailed`, let a second thread call
``shutdown()`` concurrently with everything main does after ``init``
(``other``: while a job is offered or runs, while main serves a call, while
main shuts down too), or run with ``interrupt_main=True`` (a
``KeyboardInterrupt`` at each scheduling point of the main thread in turn)
or with spurious wake-ups.

Each body asserts, on the real code:

* after main's ``shutdown()`` returns, the worker thread has ended, the
  runtime says ``shut_down`` (checked without interrupts; with them, by the
  spec's ``ShutdownEnds``), and every thread is joined
  (``treadle_model.unload()``); the other thread's ``shutdown()`` returns only
  after the one that joined has finished (conformance: ``AwaitStopped``);
* every main-side call was served exactly once, on the main thread, in
  order; a job that returned got every response, its own call's
  :class:`CallFailed` as the ``__cause__`` of a ``MainThreadCallError``;
* ``run_on_worker`` returned the job's value, or raised the job's own
  :class:`JobFailed`, or ``RuntimeClosedError`` (only when another thread's
  shutdown won the race; the job then never ran), or ``KeyboardInterrupt``
  (only with interrupts: the job was abandoned; its calls that were served
  are a prefix of its calls, and its result is never delivered);
* with interrupts: ``init`` interrupted leaves nothing running; ``shutdown``
  interrupted either did not begin (the runtime still runs, and a second
  ``shutdown()`` finishes the job) or raised only after the worker was joined.

The explorer adds: no deadlock, no lost wakeup, no leaked thread, no
exception; and the conformance monitor replays every execution's events
through the ``shutdown`` spec built with the scenario's constants (see
:func:`mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from treadle import sync
from treadle.runtime import (
    JobAbandoned,
    MainThreadCallError,
    Runtime,
    RuntimeClosedError,
    _Job,
    _Shutdown,
)
from treadle_model import unload
from treadle_spec import shutdown as shutdown_spec
from treadle_verify.conformance import ActionMatch, Mapping, any_of, match
from treadle_verify.protocols import Preset, ProtocolCheck, Scenario

__all__ = [
    "CHECK",
    "CallFailed",
    "Config",
    "JobFailed",
    "body",
    "mapping",
    "scenario",
    "scenarios",
    "spec_sizes",
]

Impl = type[Runtime]
T = TypeVar("T")

ABANDONED = "abandoned"
"""What a scenario's job returns when its ``call_on_main`` raised ``JobAbandoned``."""


class JobFailed(Exception):
    """Raised by a scenario's job (after its calls) when the job is configured to raise."""

    def __init__(self, job: int) -> None:
        super().__init__(f"job {job} failed")
        self.job = job


class CallFailed(Exception):
    """Raised on the main thread by the first main-side call of a job, when configured."""

    def __init__(self, job: int, call: int) -> None:
        super().__init__(f"main-side call {call} of job {job} failed")
        self.job = job
        self.call = call


# -- the mapping -------------------------------------------------------------------------

# Spec actions the impl does not announce: run_on_worker's state check (it
# passes: job_sent follows; it fails: RuntimeClosedError, no event), a send
# reaching the channel (job_sent / shutdown_sent come just before it; the
# offer is seen when taken), the model's unload point, the interrupts that
# change no protocol state, and (enabled only with the spec's bug_poll
# switch) a polling worker's timeout.
_INTERNAL = frozenset(
    {"SubmitJob", "JobRejected", "Offer", "OfferStop", "Unload", "Interrupt", "PollTimeout"}
)


def _internal(action: Any) -> bool:
    return action.name in _INTERNAL


def _caller(on_main: object) -> list[ActionMatch]:
    """The steps of a shutdown call's first event: the other thread's call starts too;
    main may be calling it again (its first call was interrupted after it ended)."""
    if on_main:
        return [any_of(match("ShutdownBegin", t="main"), match("ShutdownAgain", t="main"))]
    return [match("OtherCallsShutdown"), match("ShutdownBegin", t="other")]


_STEPS: dict[str, list[ActionMatch]] = {
    "runtime.worker_started": [match("StartWorker")],
    "runtime.hook_installed": [match("InstallHook")],
    "runtime.job_sent": [match("OfferJob")],
    "runtime.job_refused": [match("JobFails")],
    "runtime.job_started": [match("StartJob")],
    "runtime.job_skipped": [match("SkipJob")],
    "runtime.main_call_requested": [match("CallMain")],
    "runtime.main_call_started": [match("ServeCall")],
    "runtime.main_call_responded": [match("Respond")],
    "runtime.job_done": [match("JobEnds")],
    "runtime.job_returned": [match("JobResult")],
    "runtime.job_abandoned": [match("Abandon")],
    "runtime.shutdown_sent": [match("SendStop")],
    "runtime.channel_closed": [match("CloseTx")],
    "runtime.joined": [match("JoinWorker")],
    "runtime.hook_uninstalled": [match("Unhook")],
    "runtime.shutdown_returned": [match("ShutdownEnds")],
}

# Events that are part of a step announced by another event (or not a step).
_QUIET = frozenset(
    {
        "runtime.init",  # init returns: InstallHook was the step
        "runtime.shutdown_undeliverable",  # SendStop found the worker gone
        "runtime.shutdown_received",  # TakeStop is the channel hand-off
        "runtime.worker_exit",  # WorkerExits is the receiver's close
    }
)


def _translate(event: str, fields: dict[str, Any]) -> Sequence[ActionMatch] | None:
    if event.startswith("channel."):
        if not str(fields.get("channel")).endswith(".jobs"):
            return None
        if event == "channel.recv":
            # A rendezvous hand-off: the receiver takes the offer.
            item = fields.get("item")
            if isinstance(item, _Job):
                return [match("TakeJob")]
            if isinstance(item, _Shutdown):
                return [match("TakeStop")]
            return None
        if event == "channel.close_rx":
            # The worker's last act; or init's clean-up when it was
            # interrupted starting the worker.
            return [any_of(match("WorkerExits"), match("InitUndone"))]
        return None  # send (part of the recv), close_tx (CloseTx), send_failed (JobFails)
    if not event.startswith("runtime."):
        return None
    steps = _STEPS.get(event)
    if steps is not None:
        return steps
    if event in ("runtime.shutdown_requested", "runtime.shutdown_waits", "runtime.shutdown_noop"):
        return _caller(fields.get("on_main"))
    if event == "runtime.shutdown_waited":
        return [match("AwaitStopped", t="main" if fields.get("on_main") else "other")]
    if event == "runtime.main_call_returned":
        # With a response it is part of Respond; without one the job was abandoned.
        return [match("CallAbandoned")] if fields.get("ok") is None else None
    if event in _QUIET:
        return None
    raise AssertionError(f"runtime mapping: unknown runtime event {event!r}")


def mapping(constants: dict[str, Any]) -> Mapping:
    """How a runtime session's events map onto the ``shutdown`` spec built with ``constants``.

    ================================================  ==================================
    impl event                                        spec action
    ================================================  ==================================
    ``runtime.worker_started`` / ``hook_installed``   ``StartWorker`` / ``InstallHook``
    ``runtime.job_sent`` / ``job_refused``            ``OfferJob`` / ``JobFails``
    ``channel.recv`` of a job on ``<name>.jobs``      ``TakeJob`` (the rendezvous)
    ``runtime.job_started`` / ``job_skipped``         ``StartJob`` / ``SkipJob``
    ``runtime.main_call_requested``                   ``CallMain``
    ``runtime.main_call_started`` / ``_responded``    ``ServeCall`` / ``Respond``
    ``runtime.main_call_returned(ok=None)``           ``CallAbandoned``
    ``runtime.job_done`` / ``job_returned``           ``JobEnds`` / ``JobResult``
    ``runtime.job_abandoned``                         ``Abandon``
    ``runtime.shutdown_requested`` / ``_waits`` /     ``ShutdownBegin(t)``, preceded by
    ``_noop`` (``on_main`` gives ``t``)               ``OtherCallsShutdown`` for other;
                                                      a repeated call: ``ShutdownAgain``
    ``runtime.shutdown_waited``                       ``AwaitStopped(t)``
    ``runtime.shutdown_sent``                         ``SendStop``
    ``channel.recv`` of Shutdown on ``<name>.jobs``   ``TakeStop``
    ``runtime.channel_closed``                        ``CloseTx``
    ``channel.close_rx`` on ``<name>.jobs``           ``WorkerExits`` (or ``InitUndone``:
                                                      init's clean-up, interrupted)
    ``runtime.joined`` / ``hook_uninstalled``         ``JoinWorker`` / ``Unhook``
    ``runtime.shutdown_returned``                     ``ShutdownEnds``
    ================================================  ==================================

    Internal (taken freely between events): ``SubmitJob`` and ``JobRejected``
    (run_on_worker's state check), ``Offer`` and ``OfferStop`` (a send reaching
    the channel), ``Unload``, ``Interrupt``, and
    ``PollTimeout`` (enabled only by the spec's ``bug_poll``). Ignored:
    ``runtime.init``, ``shutdown_undeliverable``, ``shutdown_received``,
    ``worker_exit``, ``main_call_returned`` with a
    response, the job channel's ``send`` / ``close_tx`` / ``send_failed``, and
    events of other protocols. An unknown ``runtime.*`` event fails the
    execution (the vocabulary must be complete).
    """
    spec_constants = dict(constants)
    shown = ", ".join(f"{k}={v}" for k, v in spec_constants.items())
    spec = shutdown_spec.build(**spec_constants)  # immutable: one per scenario
    return Mapping(
        spec=lambda: spec,
        translate=_translate,
        internal=_internal,
        name=f"shutdown({shown})",
    )


# -- scenario bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One scenario's configuration.

    jobs / calls: run_on_worker calls, and call_on_main requests per job.
    job_raises: every job raises :class:`JobFailed` after its calls.
    call_raises: the first main-side call of every job raises
    :class:`CallFailed`. other: a second thread calls ``shutdown()`` at any
    time after ``init``. interrupts /
    spurious: explore with ``interrupt_main=True`` / ``spurious_wakeups=True``.
    """

    jobs: int
    calls: int = 0
    job_raises: bool = False
    call_raises: bool = False
    other: bool = False
    interrupts: bool = False
    spurious: bool = False
    proves: str = field(default="", compare=False)

    def spec_constants(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "calls": self.calls,
            "other_shutdown": self.other,
            "worker_may_fail": False,
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
        parts = [f"jobs={self.jobs}", f"calls={self.calls}"]
        if self.job_raises:
            parts.append("jobs raise")
        if self.call_raises:
            parts.append("first main-side call raises")
        if self.other:
            parts.append("another thread shuts down at any time")
        if self.interrupts:
            parts.append("Ctrl-C at main's scheduling points")
        if self.spurious:
            parts.append("spurious wakeups")
        return " ".join(parts)


def body(config: Config, impl: Impl = Runtime) -> Callable[[], None]:
    """Run one ``impl()`` session (init, jobs, shutdown) and check what happened."""

    def uninterrupted(fn: Callable[[], T]) -> T:
        # The scenario's own facade operations (spawn, statistics, join) are
        # scheduling points too: an interrupt there is retried, it is not the
        # runtime's to handle.
        while True:
            try:
                return fn()
            except KeyboardInterrupt:
                assert config.interrupts, "KeyboardInterrupt without interrupt_main"

    def run() -> None:
        rt = impl()
        me = sync.current_thread()
        served: list[tuple[int, int]] = []  # main-side calls, as they ran (on main)

        def main_call(j: int, c: int) -> tuple[int, int]:
            assert sync.current_thread() is me, "a main-side call ran off the main thread"
            served.append((j, c))
            if config.call_raises and c == 0:
                raise CallFailed(j, c)
            return (j, c)

        def make_job(j: int) -> Callable[[], object]:
            def job() -> object:
                got: list[object] = []
                for c in range(config.calls):
                    try:
                        got.append(rt.call_on_main(main_call, j, c))
                    except MainThreadCallError as exc:
                        cause = exc.__cause__
                        assert isinstance(cause, CallFailed), f"caused by {cause!r}"
                        assert (cause.job, cause.call) == (j, c), cause
                        got.append("failed")
                    except JobAbandoned:
                        assert config.interrupts, "JobAbandoned without an interrupt"
                        return ABANDONED
                if config.job_raises:
                    raise JobFailed(j)
                return (j, got)

            return job

        def expected(j: int) -> tuple[int, list[object]]:
            return (
                j,
                [
                    "failed" if config.call_raises and c == 0 else (j, c)
                    for c in range(config.calls)
                ],
            )

        try:
            rt.init()
        except KeyboardInterrupt:
            assert config.interrupts, "KeyboardInterrupt without interrupt_main"
            unload("init was interrupted")
            assert uninterrupted(rt.statistics).state == "new"
            return

        other = None
        if config.other:

            def other_shutdown() -> None:
                rt.shutdown()

            other = uninterrupted(lambda: sync.spawn(other_shutdown, name="other"))

        outcomes: list[str] = []
        interrupts = 0
        for j in range(config.jobs):
            try:
                value = rt.run_on_worker(make_job(j))
            except JobFailed as exc:
                assert config.job_raises and exc.job == j, exc
                outcomes.append("raised")
            except RuntimeClosedError:
                assert config.other, "RuntimeClosedError with no other shutdown"
                outcomes.append("refused")
            except KeyboardInterrupt:
                assert config.interrupts, "KeyboardInterrupt without interrupt_main"
                interrupts += 1
                outcomes.append("interrupted")
            else:
                assert not config.job_raises, f"job {j} returned {value!r}, should raise"
                assert value == expected(j), f"job {j} returned {value!r}"
                outcomes.append("returned")
        try:
            rt.shutdown()
        except KeyboardInterrupt:
            assert config.interrupts, "KeyboardInterrupt without interrupt_main"
            interrupts += 1
            # Either it had not begun (the runtime still runs, or another
            # thread's shutdown is under way), or it had finished and held the
            # interrupt back until then. Shutting down again is always safe.
            state = uninterrupted(rt.statistics).state
            assert state in ("running", "shutting_down", "shut_down"), state
            rt.shutdown()
        if other is not None:
            # The other thread may still be inside its shutdown(), so no
            # unload() yet; but the worker must be gone whichever call won.
            stats = uninterrupted(rt.statistics)
            assert not stats.worker_alive, "shutdown returned while the worker is alive"
            uninterrupted(other.join)
        unload("shutdown returned")
        if not config.interrupts:
            # (With interrupts every extra step on main would be one more
            # interrupt point; conformance checks the same: ShutdownEnds.)
            stats = rt.statistics()
            assert not stats.worker_alive and stats.state == "shut_down", stats

        assert interrupts <= 1, "one interrupt per execution, yet two were raised"
        assert len(served) == len(set(served)), f"a main-side call ran twice: {served}"
        assert served == sorted(served), f"main-side calls out of order: {served}"
        for j, outcome in enumerate(outcomes):
            mine = [c for (jj, c) in served if jj == j]
            if outcome in ("returned", "raised"):
                assert mine == list(range(config.calls)), (j, served)
            elif outcome == "refused":
                assert not mine, f"a refused job {j} ran: {served}"
            else:
                assert mine == list(range(len(mine))), (j, served)

    run.__qualname__ = f"runtime body [{config.describe()}]"
    return run


# -- the scenarios -----------------------------------------------------------------------

_CORE = (
    "each call served once on main, the job's result delivered, "
    "worker joined before shutdown returns"
)


def _configs(preset: Preset) -> list[Config]:
    quick = [
        Config(1, 1, proves="a job with a main-side call: " + _CORE),
        Config(
            0,
            other=True,
            proves="two concurrent shutdowns: one joins, the other waits for it; neither returns "
            "before the worker ended",
        ),
        Config(
            0,
            interrupts=True,
            proves="Ctrl-C at any scheduling point in init/shutdown: shutdown holds it back "
            "until the worker is joined and the hook restored; a shutdown it pre-empts can be "
            "repeated",
        ),
    ]
    default = [
        *quick,
        Config(0, proves="init then shutdown: the worker is joined, the hook restored"),
        Config(1, 0, proves=_CORE),
        Config(
            1,
            0,
            job_raises=True,
            proves="a job's exception reaches run_on_worker unchanged; the worker stays usable "
            "and is joined",
        ),
        Config(
            1,
            1,
            call_raises=True,
            proves="a main-side call's exception goes back to the worker as the cause of "
            "MainThreadCallError; exactly one response per request",
        ),
        Config(1, 0, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
        Config(
            1,
            0,
            interrupts=True,
            proves="Ctrl-C at any main scheduling point: the job is abandoned (run_on_worker "
            "raises at once, the job runs to its end or is skipped), shutdown still joins before "
            "it returns",
        ),
    ]
    if preset == "quick":
        return quick
    if preset == "default":
        return default
    return [
        *default,
        Config(1, 2, proves="two calls in one job, served in order: " + _CORE),
        Config(2, 0, proves="two jobs in a row: " + _CORE),
        Config(1, 2, job_raises=True, call_raises=True, proves=_CORE),
        Config(
            1,
            0,
            other=True,
            proves="shutdown from another thread at any time, also while the job is offered or "
            "runs (it waits for the job, whose result is delivered): a job sent after it is "
            "refused (RuntimeClosedError) and never runs; otherwise " + _CORE,
        ),
        Config(1, 1, spurious=True, proves="spurious wakeups change nothing: " + _CORE),
        Config(
            1,
            1,
            interrupts=True,
            proves="Ctrl-C at any scheduling point, with a call in flight: the worker's call "
            "gets JobAbandoned; the runtime stays usable and shuts down cleanly",
        ),
        Config(
            0,
            other=True,
            interrupts=True,
            proves="Ctrl-C while main waits for another thread's shutdown is held back until "
            "that shutdown finished",
        ),
    ]


def scenario(config: Config, impl: Any = None, *, spec: dict[str, Any] | None = None) -> Scenario:
    """The scenario for ``config`` against ``impl``; ``spec`` overrides spec constants."""
    cls: Impl = impl if impl is not None else Runtime
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
    """The runtime scenarios explored at ``preset`` against ``impl`` (default: Runtime)."""
    return [scenario(c, impl) for c in _configs(preset)]


def spec_sizes(preset: Preset) -> list[dict[str, Any]]:
    """The ``shutdown`` spec sizes checked at ``preset``."""
    sizes = [
        dict(jobs=j, calls=k, other_shutdown=o, interrupts=i)
        for o in (False, True)
        for i in (False, True)
        for j in (0, 1, 2)
        for k in ((0,) if j == 0 else (0, 1))
    ]
    if preset == "quick":
        return [s for s in sizes if s["jobs"] <= 1]
    if preset == "default":
        return sizes
    return [
        *sizes,
        *(dict(jobs=j, calls=2, other_shutdown=True, interrupts=True) for j in (1, 2, 3)),
        dict(jobs=3, calls=1, other_shutdown=True, interrupts=False),
    ]


CHECK = ProtocolCheck(
    name="runtime",
    spec="shutdown",
    spec_sizes=spec_sizes,
    scenarios=scenarios,
    summary="Runtime: init, run_on_worker with call_on_main, shutdown from any thread; "
    "joined before shutdown returns",
)
