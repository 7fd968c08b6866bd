"""Main-thread runtime: init, jobs on the worker, and a shutdown that joins before unload.

The protocol of the runtime (``treadle.runtime``) at the level of its
synchronisation steps. ``init`` starts the worker thread and installs the
thread-exception hook. The main thread then runs ``jobs`` jobs with
``run_on_worker``: it sends the job over the rendezvous job channel and waits
for the result, meanwhile serving the worker's ``calls`` requests to run code
on the main thread (``call_on_main``). ``shutdown`` takes the runtime, sends
``Shutdown`` (which waits for an in-flight job: the worker takes it only
between jobs), closes the channel, joins the worker with no timeout, and
*then* uninstalls the hook. After the main thread's ``shutdown`` returns, the
library is unloaded: from then on no runtime code may run ("join before
unload"). Optionally a second thread also calls ``shutdown`` at any time
(``other_shutdown``); a call that finds a shutdown in progress waits for it
to finish. When the worker ends it closes its receiver, so a job offered
after ``Shutdown`` fails instead of blocking. The worker may crash while
exiting (``worker_may_fail``); the hook must still be installed to handle it.

With ``interrupts``, a ``KeyboardInterrupt`` may hit the main thread at any of
its steps. In ``run_on_worker`` it *abandons* the job: run_on_worker raises at
once; a job still being offered is withdrawn; a job the worker already took
runs to its end (skipped if it had not started, its pending or later
``call_on_main`` failing with ``JobAbandoned``) and its result is discarded.
An interrupt before run_on_worker's check, or after the result is there,
only ends that call. Inside ``shutdown`` interrupts are held back until the
worker is joined and the hook restored, so they change no step here. An
interrupt in ``init`` (before it starts anything) ends the program.

Action vocabulary (what the conformance check matches impl events against);
``t`` is the thread calling ``shutdown``, ``"main"`` or ``"other"``. Events
are ``runtime.*`` unless named otherwise; ``channel.*`` events are on the job
channel (``<name>.jobs``):

======================  ======  ============================================
action                  thread  impl event
======================  ======  ============================================
``StartWorker``         main    ``worker_started``
``InstallHook``         main    ``hook_installed``, then ``init``
``SubmitJob``           main    none (the state check under the lock)
``OfferJob``            main    ``job_sent`` (just before the send)
``Offer``               main    none: the send offers the job on the channel
                                (if it is open), seen only when taken
``JobRejected``         main    none: ``RuntimeClosedError`` at the check
``JobFails``            main    ``job_refused``
``ServeCall``           main    ``main_call_started`` (takes the request)
``Respond``             main    ``main_call_responded``
``JobResult``           main    ``job_returned``
``Abandon``             main    ``job_abandoned`` (interrupts only)
``Interrupt``           main    none (interrupts only; see above)
``InitUndone``          main    ``channel.close_rx`` by init (interrupts only)
``ShutdownBegin(t)``    t       ``shutdown_requested`` (the caller that takes
                                the runtime), ``shutdown_waits`` (one that
                                finds a shutdown in progress) or
                                ``shutdown_noop``; each with ``on_main``
``ShutdownAgain(t)``    t       ``shutdown_noop`` (called again after it returned)
``SendStop(t)``         t       ``shutdown_sent`` (just before the send)
``OfferStop(t)``        t       none: the send offers Shutdown on the channel
                                (``shutdown_undeliverable`` if the worker is gone)
``CloseTx(t)``          t       ``channel_closed``
``JoinWorker(t)``       t       ``joined``
``Unhook(t)``           t       ``hook_uninstalled``
``ShutdownEnds(t)``     t       ``shutdown_returned``
``AwaitStopped(t)``     t       ``shutdown_waited`` (a waiting caller returns)
``Unload``              main    the model's unload point
``OtherCallsShutdown``  other   none (the first event of its shutdown call)
``TakeJob``             worker  ``channel.send`` + ``channel.recv`` of the job
``StartJob``            worker  ``job_started``
``SkipJob``             worker  ``job_skipped`` (the job was abandoned)
``TakeStop``            worker  ``channel.send`` + ``channel.recv`` of
                                Shutdown, then ``shutdown_received``
``PollTimeout``         worker  (bug_poll only) a ``recv`` timeout
``CallMain``            worker  ``main_call_requested``
``CallAbandoned``       worker  ``main_call_returned(ok=None)``; with a
                                response it is ``main_call_returned(ok)``,
                                part of ``Respond``
``JobEnds``             worker  ``job_done``
``WorkerExits``         worker  ``channel.close_rx`` (then ``worker_exit``)
``WorkerCrashes``       worker  the thread-exception hook runs
======================  ======  ============================================

Out of scope: calls from the wrong thread (errors before any protocol step).

BUG SWITCHES:

* ``bug_poll``: the historical design. The worker polls the channel with a
  timeout and checks a stop flag; ``shutdown`` sets the flag, uninstalls the
  hook and returns without joining. The worker can be mid-poll (asleep) at
  unload and resume in unmapped code.
* ``bug_unhook_before_join``: ``shutdown`` uninstalls the hook (and lets the
  unload proceed) before the join: a worker that crashes while exiting finds
  no hook.
* ``bug_early_return``: a ``shutdown`` that finds another one in progress
  returns at once (it finds the worker already taken by the other)
  instead of waiting for it, so its caller can unload while the worker is
  still alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from treadle_spec.lang import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "Constants", "Shutdown", "State", "build"]


@dataclass(frozen=True)
class Constants:
    """Sizes, failure points and bug switches of the shutdown spec.

    jobs: jobs the main thread runs before shutdown. calls: call_on_main
    requests per job. other_shutdown: a second thread also calls shutdown.
    worker_may_fail: the worker may crash while exiting. interrupts: the
    main thread may be interrupted (see the module docs). bug_*: see the
    module docs.
    """

    jobs: int = 1
    calls: int = 1
    other_shutdown: bool = True
    worker_may_fail: bool = True
    interrupts: bool = False
    bug_poll: bool = False
    bug_unhook_before_join: bool = False
    bug_early_return: bool = False

    def __post_init__(self) -> None:
        if self.jobs < 0 or self.calls < 0:
            raise ValueError("jobs and calls must be >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the shutdown spec.

    main: ``init`` | ``hook`` | ``idle`` | ``submit`` (runtime found running)
    | ``offering`` (job announced, not yet on the channel) | ``send`` (job
    offered, or its send about to fail) | ``await`` (waiting for the result) |
    ``serving`` (running a call_on_main request) | ``sd_*`` (inside shutdown) |
    ``returned`` (shutdown returned) | ``unloaded``. other: ``idle`` |
    ``sd_*`` | ``returned``. rt: the runtime, ``none`` | ``starting`` (init
    holds the runtime lock) | ``running`` | ``stopping`` | ``stopped``.
    worker: ``none`` | ``recv`` (blocked in recv; polling under bug_poll) |
    ``taken`` (has the job, not yet started) | ``job`` | ``call`` (waiting
    for the main thread) | ``exit`` | ``dead``.
    offers: messages offered on the job channel, oldest first. tx_open /
    rx_open: the job channel's ends. hook: ``none`` | ``installed`` |
    ``removed``. done: jobs finished (including rejected ones). calls_left:
    calls the running job still makes. result: a job result waits for main.
    flag: the stop flag (bug_poll). crash: ``none`` | ``handled`` |
    ``unhandled`` (crashed with no hook). abandoned: main stopped waiting for
    the job the worker holds.
    """

    main: str
    other: str
    rt: str
    worker: str
    offers: tuple[str, ...]
    tx_open: bool
    rx_open: bool
    hook: str
    done: int
    calls_left: int
    result: bool
    flag: bool
    crash: str
    abandoned: bool


_CALLERS = ("main", "other")


def _callers(c: Constants) -> tuple[str, ...]:
    return _CALLERS if c.other_shutdown else ("main",)


def _pc(s: State, t: str) -> str:
    return s.main if t == "main" else s.other


def _go(s: State, t: str, pc: str, **changes: object) -> State:
    if t == "main":
        return s._replace(main=pc, **changes)  # type: ignore[arg-type]
    return s._replace(other=pc, **changes)  # type: ignore[arg-type]


class Shutdown(Spec[State, Constants]):
    """The runtime: init, run_on_worker with main-thread calls, shutdown, unload."""

    constants_type = Constants
    state_type = State

    def init_states(self) -> list[State]:
        return [
            State(
                main="init",
                other="idle",
                rt="none",
                worker="none",
                offers=(),
                tx_open=True,
                rx_open=True,
                hook="none",
                done=0,
                calls_left=0,
                result=False,
                flag=False,
                crash="none",
                abandoned=False,
            )
        ]

    # -- main thread: init and jobs -------------------------------------------

    @action(fair=True, when={"main": "init"})
    def StartWorker(self, s: State) -> State | None:
        """init() (holding the runtime lock): the worker thread starts, blocked in recv."""
        return s._replace(main="hook", rt="starting", worker="recv")

    @action(fair=True, when={"main": "hook"})
    def InstallHook(self, s: State) -> State | None:
        """init(): install the thread-exception hook; the runtime is running; init returns."""
        return s._replace(main="idle", rt="running", hook="installed")

    @action(fair=True, when={"main": "idle"})
    def SubmitJob(self, s: State) -> State | None:
        """run_on_worker(job) finds the runtime running (then releases the runtime lock)."""
        if s.done >= self.c.jobs or s.rt != "running":
            return None
        return s._replace(main="submit")

    @action(fair=True, when={"main": "submit"})
    def OfferJob(self, s: State) -> State | None:
        """Main announces the job and starts sending it."""
        return s._replace(main="offering")

    @action(fair=True, when={"main": "offering"})
    def Offer(self, s: State) -> State | None:
        """The send reaches the channel: the job is offered if both ends are still open
        (a shutdown may have begun meanwhile; then the send fails)."""
        if not s.rx_open or not s.tx_open:
            return s._replace(main="send")
        return s._replace(main="send", offers=(*s.offers, "job"))

    @action(fair=True, when={"main": "idle"})
    def JobRejected(self, s: State) -> State | None:
        """run_on_worker(job) after shutdown began: raises at once (no send)."""
        if s.done >= self.c.jobs or s.rt == "running":
            return None
        return s._replace(done=s.done + 1)

    @action(fair=True, when={"main": "send"})
    def JobFails(self, s: State) -> State | None:
        """The send fails: the worker ended and closed its receiver (discarding the
        offer), or shutdown closed the runtime's sender before the job was offered."""
        if "job" in s.offers or (s.rx_open and s.tx_open):
            return None
        return s._replace(main="idle", done=s.done + 1)

    @action(fair=True, when={"main": "await", "worker": "call"})
    def ServeCall(self, s: State) -> State | None:
        """Main, waiting for the job, takes the worker's call_on_main request and runs it."""
        return s._replace(main="serving")

    @action(fair=True, when={"main": "serving"})
    def Respond(self, s: State) -> State | None:
        """Main hands the request's response (value or exception) to the worker."""
        return s._replace(main="await", worker="job", calls_left=s.calls_left - 1)

    @action(fair=True, when={"main": "await"})
    def JobResult(self, s: State) -> State | None:
        """The job's result (value or exception) reaches main; run_on_worker returns."""
        if not s.result:
            return None
        return s._replace(main="idle", result=False, done=s.done + 1)

    @action(when={"main": ("offering", "send", "await", "serving")})
    def Abandon(self, s: State) -> State | None:
        """interrupts: run_on_worker is interrupted before the result is there; it raises.

        A job still being offered is withdrawn; a job the worker holds is
        marked abandoned (it runs on, and its result is discarded).
        """
        if not self.c.interrupts or s.result:
            return None
        if s.main == "offering":
            return s._replace(main="idle", done=s.done + 1)
        if s.main == "send":
            offers = list(s.offers)
            if "job" in offers:
                offers.remove("job")
            return s._replace(main="idle", offers=tuple(offers), done=s.done + 1)
        return s._replace(main="idle", abandoned=True, done=s.done + 1)

    @action(when={"main": "init"})
    def InitUndone(self, s: State) -> State | None:
        """interrupts: init interrupted as it started the worker; it closes the job
        channel it made (no worker took it) and raises; the program ends."""
        if not self.c.interrupts:
            return None
        return s._replace(main="returned", tx_open=False, rx_open=False)

    @action(when={"main": ("init", "idle", "await")})
    def Interrupt(self, s: State) -> State | None:
        """interrupts, with no protocol step: init interrupted before it started anything
        (the program ends); run_on_worker interrupted before its check, or after the
        result arrived (the result is lost to the caller)."""
        if not self.c.interrupts:
            return None
        if s.main == "init":
            return s._replace(main="returned")
        if s.main == "idle":
            if s.done >= self.c.jobs:
                return None
            return s._replace(done=s.done + 1)
        if not s.result:
            return None
        return s._replace(main="idle", result=False, done=s.done + 1)

    @action(fair=True, when={"main": "returned"})
    def Unload(self, s: State) -> State | None:
        """Main's shutdown returned: the library is unloaded (its code unmapped)."""
        return s._replace(main="unloaded")

    @action(fair=True, when={"other": "idle"})
    def OtherCallsShutdown(self, s: State) -> State | None:
        """other_shutdown: another thread calls shutdown() (after init began, before unload)."""
        if not self.c.other_shutdown or s.rt == "none" or s.main == "unloaded":
            return None
        return s._replace(other="sd_begin")

    # -- shutdown, by either caller --------------------------------------------

    @action(fair=True, t=_callers)
    def ShutdownBegin(self, s: State, t: str) -> State | None:
        """shutdown() by t: take a running runtime; else wait for (or skip) the other's.

        It takes the runtime lock, so it waits while init() holds it.
        """
        pc = _pc(s, t)
        if t == "main" and pc == "idle" and s.done >= self.c.jobs:
            pc = "sd_begin"  # main calls shutdown once its jobs are done
        if pc != "sd_begin" or s.rt == "starting":
            return None
        if s.rt == "running":
            if self.c.bug_poll:
                return _go(s, t, "sd_unhook", rt="stopping", flag=True)
            return _go(s, t, "sd_send", rt="stopping")
        if s.rt == "stopping":
            return _go(s, t, "returned" if self.c.bug_early_return else "sd_wait")
        return _go(s, t, "returned")  # never started, or already stopped

    @action(t=_callers)
    def ShutdownAgain(self, s: State, t: str) -> State | None:
        """shutdown() again after it returned: it returns at once (idempotent)."""
        if _pc(s, t) != "returned" or s.rt != "stopped":
            return None
        return s

    @action(fair=True, t=_callers)
    def SendStop(self, s: State, t: str) -> State | None:
        """Announce Shutdown and start sending it on the job channel."""
        if _pc(s, t) != "sd_send":
            return None
        return _go(s, t, "sd_offer")

    @action(fair=True, t=_callers)
    def OfferStop(self, s: State, t: str) -> State | None:
        """The send reaches the channel: Shutdown is offered (taken between jobs)."""
        if _pc(s, t) != "sd_offer":
            return None
        if not s.rx_open:
            return _go(s, t, "sd_close")  # the worker is gone: the send fails
        return _go(s, t, "sd_sent", offers=(*s.offers, "stop"))

    @action(fair=True, t=_callers)
    def CloseTx(self, s: State, t: str) -> State | None:
        """Close the job channel's sender.

        An older design relied on it as a second wake-up path; in this protocol the
        worker has always taken Shutdown (or ended) by now, which the checker
        confirms: a worker blocked in recv never sees the channel closed.
        """
        if _pc(s, t) != "sd_close":
            return None
        nxt = "sd_unhook" if self.c.bug_unhook_before_join else "sd_join"
        return _go(s, t, nxt, tx_open=False)

    @action(fair=True, t=_callers)
    def JoinWorker(self, s: State, t: str) -> State | None:
        """Join the worker, no timeout: completes once the worker thread ended."""
        if _pc(s, t) != "sd_join" or s.worker != "dead":
            return None
        if self.c.bug_unhook_before_join:
            return _go(s, t, "sd_end")
        return _go(s, t, "sd_unhook")

    @action(fair=True, t=_callers)
    def Unhook(self, s: State, t: str) -> State | None:
        """Uninstall the hook (restore the previous one)."""
        if _pc(s, t) != "sd_unhook":
            return None
        if self.c.bug_unhook_before_join:
            return _go(s, t, "sd_join", hook="removed")
        return _go(s, t, "sd_end", hook="removed")

    @action(fair=True, t=_callers)
    def ShutdownEnds(self, s: State, t: str) -> State | None:
        """The runtime is stopped (under the runtime lock); shutdown() returns."""
        if _pc(s, t) != "sd_end":
            return None
        return _go(s, t, "returned", rt="stopped")

    @action(fair=True, t=_callers)
    def AwaitStopped(self, s: State, t: str) -> State | None:
        """A shutdown that found another in progress returns once that one finished."""
        if _pc(s, t) != "sd_wait" or s.rt != "stopped":
            return None
        return _go(s, t, "returned")

    # -- worker ----------------------------------------------------------------

    @action(fair=True, when={"worker": "recv"})
    def TakeJob(self, s: State) -> State | None:
        """The worker takes the job offer (main's send completes; main awaits the result)."""
        if not s.offers or s.offers[0] != "job":
            return None
        return s._replace(offers=s.offers[1:], worker="taken", main="await", abandoned=False)

    @action(fair=True, when={"worker": "taken"})
    def StartJob(self, s: State) -> State | None:
        """The worker starts the job it took (it was not abandoned meanwhile)."""
        if s.abandoned:
            return None
        return s._replace(worker="job", calls_left=self.c.calls)

    @action(fair=True, when={"worker": "taken"})
    def SkipJob(self, s: State) -> State | None:
        """interrupts: the job was abandoned before it started; the worker skips it."""
        if not s.abandoned:
            return None
        return s._replace(worker="recv")

    @action(fair=True, when={"worker": "recv"})
    def TakeStop(self, s: State) -> State | None:
        """The worker takes Shutdown (the sender's send completes) and leaves its loop."""
        if not s.offers or s.offers[0] != "stop":
            return None
        if s.main == "sd_sent":
            return s._replace(offers=s.offers[1:], worker="exit", main="sd_close")
        return s._replace(offers=s.offers[1:], worker="exit", other="sd_close")

    @action(fair=True, when={"worker": "recv"})
    def PollTimeout(self, s: State) -> State | None:
        """bug_poll: recv timed out with nothing offered; exit if the flag is set."""
        if not self.c.bug_poll or s.offers:
            return None
        if s.flag:
            return s._replace(worker="exit")
        return s  # sleep and poll again

    @action(fair=True, when={"worker": "job"})
    def CallMain(self, s: State) -> State | None:
        """The job calls call_on_main: the request goes to main; the worker waits.

        (Once the job is abandoned, call_on_main fails at once with no step.)
        """
        if s.calls_left == 0 or s.abandoned:
            return None
        return s._replace(worker="call")

    @action(fair=True, when={"worker": "call"})
    def CallAbandoned(self, s: State) -> State | None:
        """interrupts: main abandoned the job before responding; the call fails."""
        if not s.abandoned:
            return None
        return s._replace(worker="job")

    @action(fair=True, when={"worker": "job"})
    def JobEnds(self, s: State) -> State | None:
        """The job returns or raises (an abandoned one at its first failed call):
        its result goes to main, unless main abandoned it; back to recv."""
        if s.calls_left and not s.abandoned:
            return None
        return s._replace(worker="recv", result=not s.abandoned)

    @action(fair=True, when={"worker": "exit"})
    def WorkerExits(self, s: State) -> State | None:
        """The worker closes its receiver (pending offers fail) and its thread ends."""
        return s._replace(worker="dead", rx_open=False, offers=())

    @action(fair=True, when={"worker": "exit"})
    def WorkerCrashes(self, s: State) -> State | None:
        """worker_may_fail: the worker raises while exiting; the hook handles it (if installed)."""
        if not self.c.worker_may_fail:
            return None
        crash = "handled" if s.hook == "installed" else "unhandled"
        return s._replace(worker="dead", rx_open=False, offers=(), crash=crash)

    # -- properties ------------------------------------------------------------

    def is_final(self, s: State) -> bool:
        return s.main == "unloaded" and s.other in ("idle", "returned")

    def properties(self) -> list[Property[State]]:
        c = self.c
        gone = ("none", "dead")
        props: list[Property[State]] = [
            Property.always(
                "join_before_unload",
                lambda s: s.main != "unloaded" or s.worker in gone,
                "no runtime thread is alive when the library is unloaded",
            ),
            Property.always(
                "shutdown_returns_after_join",
                lambda s: all(_pc(s, t) != "returned" for t in _CALLERS) or s.worker in gone,
                "after any shutdown() returns, the worker thread has ended",
            ),
            Property.always(
                "unhook_after_join",
                lambda s: s.hook != "removed" or s.worker in gone,
                "the hook is uninstalled only after the worker was joined",
            ),
            Property.always(
                "crash_handled",
                lambda s: s.crash != "unhandled",
                "a worker that crashes (even while exiting) finds the hook installed",
            ),
            Property.always(
                "hook_removed_at_unload",
                lambda s: s.main != "unloaded" or s.hook in ("removed", "none"),
                "no hook into unloaded code is left installed",
            ),
            Property.eventually(
                "shutdown_returns",
                lambda s: s.main == "unloaded",
                "main's jobs and shutdown complete (weak fairness of every step)",
            ),
            Property.leads_to(
                "worker_ends_after_shutdown",
                lambda s: s.rt == "stopping",
                lambda s: s.worker == "dead",
                "once shutdown begins, the worker eventually ends",
            ),
        ]
        if c.jobs >= 1 and c.calls >= 1:
            props.append(
                Property.sometimes(
                    "call_served_during_job", lambda s: s.worker == "call" and s.main == "await"
                )
            )
        if c.jobs >= 1 and c.other_shutdown and not c.bug_poll:
            props.append(
                Property.sometimes(
                    "shutdown_waits_for_job",
                    lambda s: s.worker in ("job", "call") and "stop" in s.offers,
                    "Shutdown is offered while a job runs; it is taken after the job",
                )
            )
            props.append(
                Property.sometimes(
                    "job_offered_after_stop",
                    lambda s: s.offers == ("stop", "job"),
                    "a job is offered after Shutdown: the worker exits, the job's send fails",
                )
            )
            props.append(
                Property.sometimes(
                    "job_submitted_after_shutdown_began",
                    lambda s: s.main == "idle" and s.done < c.jobs and s.rt != "running",
                    "run_on_worker is called after another thread began shutdown",
                )
            )
        if c.other_shutdown and not c.bug_poll and not c.bug_early_return:
            props.append(
                Property.sometimes(
                    "concurrent_shutdown_waits", lambda s: "sd_wait" in (s.main, s.other)
                )
            )
        if c.worker_may_fail:
            props.append(
                Property.sometimes("crash_handled_by_hook", lambda s: s.crash == "handled")
            )
        if c.interrupts:
            props.append(
                Property.always(
                    "abandoned_result_discarded",
                    lambda s: not (s.abandoned and s.result),
                    "the result of an abandoned job never reaches main",
                )
            )
        if c.interrupts and c.jobs >= 1:
            props.append(
                Property.sometimes(
                    "abandoned_job_skipped",
                    lambda s: s.abandoned and s.worker == "taken",
                    "a job abandoned between its hand-off and its start is skipped",
                )
            )
            props.append(
                Property.sometimes(
                    "shutdown_waits_for_abandoned_job",
                    lambda s: s.abandoned and s.worker in ("job", "call") and "stop" in s.offers,
                    "an abandoned job still runs; shutdown waits for it",
                )
            )
        if c.interrupts and c.jobs >= 1 and c.calls >= 1:
            props.append(
                Property.sometimes(
                    "abandoned_call_fails",
                    lambda s: s.abandoned and s.worker == "call",
                    "a call_on_main waiting when its job is abandoned gets JobAbandoned",
                )
            )
        return props


def build(**constants: object) -> Shutdown:
    """The shutdown spec with these constants (the rest default)."""
    return Shutdown(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    *(
        Constants(jobs=j, calls=k, other_shutdown=o)
        for o in (False, True)
        for j in (0, 1, 2)
        for k in ((0,) if j == 0 else (0, 1))
    ),
    *(
        Constants(jobs=j, calls=1, other_shutdown=o, interrupts=True)
        for o in (False, True)
        for j in (1, 2)
    ),
]
