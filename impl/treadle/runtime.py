"""A runtime bound to one main thread, with one worker thread and a safe shutdown.

Some code may only run on one particular thread (an embedded interpreter's
API, a GUI toolkit, a C library with thread-local state). :class:`Runtime`
records that thread as *main*, runs jobs on a single worker thread, and lets
the worker hand calls back to main while main waits::

    rt = Runtime()
    rt.init()                          # on the main thread

    @rt.main_thread_only
    def make_object(n: int) -> str:    # must run on main
        return f"object {n}"

    def job() -> list[str]:            # runs on the worker
        return [make_object(i) for i in range(3)]   # each call is routed to main

    assert rt.run_on_worker(job) == ["object 0", "object 1", "object 2"]
    rt.shutdown()                      # joins the worker; from any thread

How it works. Jobs travel to the worker over a rendezvous channel
(``channel(0)``): ``send`` completes only when the idle worker takes the job,
so a ``Shutdown`` message sent while a job runs waits for that job. While the
main thread waits in :meth:`Runtime.run_on_worker` it services the worker's
requests (:meth:`Runtime.call_on_main`): each request gets exactly one
response, a value or an exception.

Shutdown (the protocol the spec checks; the seed's historical bugs were a
250 ms polling loop, an ``atexit`` hook, and uninstalling the thread-exception
hook before the worker had gone):

1. send ``Shutdown`` on the job channel (blocks while a job is in flight);
2. close the channel (a second wake-up path for the worker);
3. join the worker, with no timeout;
4. only then restore the thread-exception hook that was there before ``init``.

No ``atexit``, no polling, no timeouts anywhere. After :meth:`Runtime.shutdown`
returns no runtime thread is alive.

``KeyboardInterrupt`` (or any non-``Exception`` raised on main) while main
waits in ``run_on_worker`` - in the wait itself or in a main-side call -
*abandons* the job: the interrupt propagates to the caller at once, the job
keeps running on the worker to its end and its result is discarded, any
``call_on_main`` it makes from then on (including one that was waiting for
the interrupted call) raises :class:`JobAbandoned` instead of waiting for a
main thread that is no longer listening. The runtime stays usable: the next
``run_on_worker`` waits (rendezvous) for the abandoned job to finish, then
runs. ``shutdown`` likewise waits for it; an interrupt that arrives while
``shutdown`` waits or joins is held back until the worker is joined and then
re-raised, because returning with the worker alive is exactly the bug this
protocol exists to prevent. (CPython runs signal handlers between bytecodes;
a SIGINT that lands just as main starts blocking on a lock is acted on only
when main next wakes, i.e. at the worker's next request or the job's end.)

Protocol events (``sync.emit``; a no-op in production):

* ``runtime.worker_started``, ``runtime.hook_installed``, ``runtime.init(main)``
  - under the runtime lock, in ``init``.
* ``runtime.job_sent(job)`` - on main, just before the job is sent;
  ``runtime.job_refused(job)`` if the send failed because the worker was
  gone (shutdown won the race).
* ``runtime.job_started(job)`` / ``runtime.job_skipped(job)`` - worker, under
  the lock (skipped: the job was abandoned before it started).
* ``runtime.main_call_requested(job, call)`` - worker, under the lock.
* ``runtime.main_call_started(job, call)`` - main, under the lock, as it takes
  the request.
* ``runtime.main_call_responded(job, call, ok)`` - main, under the lock.
* ``runtime.main_call_returned(job, call, ok)`` - worker, under the lock, as it
  takes the response (``ok=None``: the job was abandoned instead).
* ``runtime.job_done(job, ok)`` - worker, under the lock.
* ``runtime.job_returned(job, ok)`` - main, under the lock, as it takes the result.
* ``runtime.job_abandoned(job)`` - main, under the lock (not for a job the
  worker never got because shutdown won the race: that is ``job_refused``).
* ``runtime.shutdown_requested(on_main)`` - under the lock, when ``shutdown``
  starts (``on_main``: called on the main thread).
* ``runtime.shutdown_waits(on_main)`` - under the lock, by a ``shutdown`` that
  found another in progress; ``runtime.shutdown_waited(on_main)`` when that
  one has finished and this call returns.
* ``runtime.shutdown_noop(on_main)`` - under the lock, by a ``shutdown``
  before ``init`` or after the runtime was shut down (it returns at once).
* ``runtime.shutdown_sent`` - before ``Shutdown`` is sent;
  ``runtime.shutdown_undeliverable`` if the worker had already exited.
* ``runtime.shutdown_received`` - worker, when it takes ``Shutdown``.
* ``runtime.channel_closed`` - after the job channel's sender is closed.
* ``runtime.worker_exit`` - worker, after closing its receiver, its last act.
* ``runtime.joined`` - after the worker was joined.
  (An interrupted shutdown repeats its remaining steps; each of these events
  is still emitted once.)
* ``runtime.hook_uninstalled(restored)`` - under the lock (``restored=False``:
  someone installed their own hook over ours, which we leave in place; ours
  then only forwards to the previous hook).
* ``runtime.shutdown_returned`` - under the lock, just before ``shutdown`` returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from treadle import sync
from treadle.channel import Closed, Disconnected, Receiver, Sender, _open
from treadle.threads import (
    DEFAULT_STACK_SIZE,
    ThreadHandle,
    join_through_interrupts,
    spawn_thread,
)

__all__ = [
    "JobAbandoned",
    "MainThreadCallError",
    "NotInitializedError",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeStatistics",
    "WrongThreadError",
]

P = ParamSpec("P")
R = TypeVar("R")


class WrongThreadError(RuntimeError):
    """Main-thread-only code was called from a thread that cannot reach main.

    Only the main thread (inline) and the runtime's worker while it runs a job
    (routed to main) may call it.
    """


class NotInitializedError(RuntimeError):
    """The runtime was used before :meth:`Runtime.init`."""


class RuntimeClosedError(RuntimeError):
    """The runtime was shut down (or is shutting down) and cannot take this call."""


class MainThreadCallError(RuntimeError):
    """A call routed to the main thread raised; ``__cause__`` is its exception."""


class JobAbandoned(RuntimeError):
    """The main thread stopped waiting for this job (it was interrupted).

    Raised on the worker by :meth:`Runtime.call_on_main` when no main thread
    will service the call any more. The job's eventual result is discarded.
    """


_NEW = "new"
_RUNNING = "running"
_SHUTTING_DOWN = "shutting_down"
_SHUT_DOWN = "shut_down"


class _Shutdown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "Shutdown"


_SHUTDOWN = _Shutdown()


class _Outcome:
    __slots__ = ("error", "ok", "value")

    def __init__(self, ok: bool, value: Any, error: BaseException | None) -> None:
        self.ok = ok
        self.value = value
        self.error = error


class _Request:
    """One ``call_on_main`` from the worker. Fields guarded by the runtime lock."""

    __slots__ = ("call_id", "fn", "outcome", "taken")

    def __init__(self, call_id: int, fn: Callable[[], Any]) -> None:
        self.call_id = call_id
        self.fn = fn
        self.taken = False
        self.outcome: _Outcome | None = None


class _Job:
    """One ``run_on_worker`` call. Fields guarded by the runtime lock."""

    __slots__ = ("abandoned", "fn", "job_id", "outcome", "request")

    def __init__(self, job_id: int, fn: Callable[[], Any]) -> None:
        self.job_id = job_id
        self.fn = fn
        self.abandoned = False
        self.request: _Request | None = None
        self.outcome: _Outcome | None = None


@dataclass(frozen=True, slots=True)
class RuntimeStatistics:
    """A snapshot of a :class:`Runtime`.

    ``state`` is ``"new"``, ``"running"``, ``"shutting_down"`` or ``"shut_down"``.
    ``waiting_for_job`` is true while the main thread is inside
    ``run_on_worker``; ``job_running`` while the worker runs a job.
    """

    state: str
    worker_alive: bool
    waiting_for_job: bool
    job_running: bool
    jobs_sent: int
    jobs_completed: int
    main_calls: int
    thread_exceptions: int


class Runtime:
    """A main thread, one worker thread, and the protocol between them.

    Args:
        name: used for the worker thread's name and the job channel's name.
        stack_size: the worker's stack in bytes (default 8 MiB; 32 KiB to
            1 GiB), or ``None``/``0`` for the platform default. Checked here,
            not when the worker starts.

    A runtime is used once: ``init()`` on the main thread, any number of
    ``run_on_worker`` calls, ``shutdown()`` from any thread. It is also a
    context manager (``with Runtime() as rt:`` inits and shuts down).

    Raises:
        TypeError / ValueError: bad ``name`` or ``stack_size``.
    """

    # Seams for the test-only "historical bug" subclasses. Each bug is one
    # override of one small method; the shipped code has none of them:
    #
    # * hook removed before join  -> override ``_shutdown_steps`` to call
    #   ``_uninstall_hook()`` before ``_join_worker()``;
    # * polling with a timeout    -> override ``_receive`` to loop on
    #   ``rx.recv(timeout=...)`` (and ``Empty``) instead of blocking;
    # * returning without join    -> override ``_join_worker`` to skip the
    #   join (or join with a timeout and return anyway).

    def __init__(
        self,
        *,
        name: str = "treadle-runtime",
        stack_size: int | None = DEFAULT_STACK_SIZE,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Runtime name must be a str, not {name!r}")
        self._name = name
        self._stack_size = sync.check_stack_size(stack_size)
        self._lock = sync.Lock()
        # Main waits on _to_main for a request or the job's end; the worker
        # waits on _to_worker for a response or the job's abandonment.
        self._to_main = sync.Condition(self._lock)
        self._to_worker = sync.Condition(self._lock)
        self._shut_down = sync.Event()
        # Everything below is guarded by _lock.
        self._state = _NEW
        self._main: sync.Thread | None = None
        self._worker: ThreadHandle[None] | None = None
        self._worker_thread: sync.Thread | None = None
        self._tx: Sender[_Job | _Shutdown] | None = None
        self._waiting_job: _Job | None = None
        self._running_job: _Job | None = None
        self._hook: sync.ExceptHook | None = None
        self._previous_hook: sync.ExceptHook | None = None
        self._next_job = 1
        # Shutdown events already emitted (owned by the thread running shutdown).
        self._announced: set[str] = set()
        self._next_call = 1
        self._jobs_completed = 0
        self._main_calls = 0
        self._thread_exceptions = 0

    # --- init -------------------------------------------------------------

    def init(self) -> None:
        """Bind the runtime to the calling thread (main) and start the worker.

        Idempotent on the main thread. Installs a thread-exception hook that
        counts exceptions escaping any thread and forwards each to the hook
        that was installed before (it is restored by :meth:`shutdown`).

        Raises:
            WrongThreadError: called again from a thread other than main.
            RuntimeClosedError: the runtime was shut down (make a new one).
        """
        me = sync.current_thread()
        with self._lock:
            if self._state == _RUNNING:
                if me is self._main:
                    return
                raise WrongThreadError(
                    f"Runtime.init() called from thread {me.name!r}, but the runtime is "
                    f"already bound to main thread {self._main_name()!r}; init() is "
                    "idempotent only on the main thread"
                )
            if self._state != _NEW:
                raise RuntimeClosedError(
                    "Runtime.init() after shutdown(): a runtime is used once; create a new Runtime"
                )
            # The senders go into ``made`` as they are made, and the worker's
            # handle goes into ``started`` before the worker can run
            # (spawn_thread(into=...)), so an interrupt at any check point
            # below finds it. init() either raises with nothing left behind
            # (worker joined, hook restored, state NEW), or completes: the
            # state becomes RUNNING right before the last emit, and an
            # interrupt after that leaves a running runtime that shutdown()
            # stops (call init() inside the try whose finally shuts down).
            started: list[ThreadHandle[None]] = []
            made: list[Sender[Any]] = []
            rx: Receiver[Any] | None = None
            try:
                tx, rx = _open(0, f"{self._name}.jobs", made)
                spawn_thread(
                    self._worker_main,
                    rx,
                    stack_size=self._stack_size,
                    name=f"{self._name}-worker",
                    into=started,
                )
                worker = started[0]
                self._main = me
                self._tx = tx
                self._worker = worker
                self._worker_thread = worker.thread
                sync.emit("runtime.worker_started")
                self._install_hook()
                self._state = _RUNNING
                sync.emit("runtime.init", main=me.name)
            except BaseException:
                if self._state == _RUNNING:
                    raise  # interrupted after init completed; see above
                # Closing the only sender ends the worker's recv(); it exits.
                held = _undo_quietly(_close_all, made)
                if started:
                    held = join_through_interrupts(started[0].thread) or held
                elif rx is not None:
                    held = _undo_quietly(rx.close) or held
                if self._hook is not None:
                    hook, self._hook = self._hook, None
                    if sync.get_excepthook() is hook:
                        held = _undo_quietly(sync.set_excepthook, self._previous_hook) or held
                    self._previous_hook = None
                self._main = self._tx = self._worker = self._worker_thread = None
                raise

    def _install_hook(self) -> None:
        # Caller holds _lock.
        previous = sync.get_excepthook()
        hook = self._excepthook
        self._previous_hook = previous
        self._hook = hook
        sync.set_excepthook(hook)
        sync.emit("runtime.hook_installed")

    def _excepthook(self, args: Any) -> object:
        """Count an exception that escaped some thread, then chain to the previous hook."""
        with self._lock:
            self._thread_exceptions += 1
            previous = self._previous_hook
        if previous is None:  # pragma: no cover - installed only after it is set
            return None
        return previous(args)

    # --- the main-thread side -------------------------------------------

    def run_on_worker(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` on the worker; block until it returns.

        While it waits, the main thread runs the worker's
        :meth:`call_on_main` requests, one at a time, in order.

        Returns:
            What ``fn`` returned.

        Raises:
            Whatever ``fn`` raised (the same exception object, its traceback
            starting on the worker); the worker stays usable.
            WrongThreadError: not called on the main thread.
            RuntimeError: called re-entrantly, from inside a job (on the
                worker, or on main in a main-side call); that would deadlock.
            NotInitializedError: before :meth:`init`.
            RuntimeClosedError: the runtime is shut down or shutting down
                (including when a concurrent shutdown won the race to the worker).
            KeyboardInterrupt: interrupted while waiting; the job is abandoned
                (see the module docstring).
        """
        me = sync.current_thread()
        job: _Job | None = None
        # The try starts before the job is registered so that an interrupt at
        # any point after that still unregisters it.
        try:
            with self._lock:
                self._require_initialized("run_on_worker")
                if me is self._worker_thread:
                    raise RuntimeError(
                        "run_on_worker() called re-entrantly from inside a job on the worker "
                        "thread; the worker is busy with this very job and would wait for "
                        "itself forever. Call the function directly instead"
                    )
                if me is not self._main:
                    raise WrongThreadError(
                        f"run_on_worker() called from thread {me.name!r}; only the main "
                        f"thread {self._main_name()!r} may send jobs to the worker"
                    )
                busy = self._busy_job()
                if busy is not None:
                    raise RuntimeError(
                        "run_on_worker() called re-entrantly on the main thread while it "
                        f"services job {busy.job_id} (from a call_on_main function); the "
                        "worker is busy with that job and would never take this one. "
                        "Return from the main-side call first"
                    )
                self._require_open("run_on_worker")
                job = _Job(self._next_job, functools.partial(fn, *args, **kwargs))
                self._next_job += 1
                self._waiting_job = job
            outcome = self._send_and_serve(job)
        finally:
            if job is not None:
                with self._lock:
                    if self._waiting_job is job:
                        self._waiting_job = None
        if outcome.ok:
            value: R = outcome.value
            return value
        assert outcome.error is not None
        raise outcome.error

    def _send_and_serve(self, job: _Job) -> _Outcome:
        tx = self._tx
        assert tx is not None
        try:
            sync.emit("runtime.job_sent", job=job.job_id)
            try:
                tx.send(job)
            except (Disconnected, Closed) as exc:
                sync.emit("runtime.job_refused", job=job.job_id)
                raise RuntimeClosedError(
                    "run_on_worker(): the runtime was shut down before the job could start"
                ) from exc
            # Stored, then returned: the check point after the call stays
            # inside the try (as CPython has it), where the sweep reaches it.
            outcome = self._serve(job)
            return outcome
        except BaseException as exc:
            # A refused job never reached the worker: it is marked (so its
            # registration cannot wedge the runtime) but not announced as
            # abandoned, which would say the worker might still run it.
            self._abandon(job, announce=not isinstance(exc, RuntimeClosedError))
            raise

    def _serve(self, job: _Job) -> _Outcome:
        """Run the job's main-side requests until the job's outcome arrives."""
        while True:
            with self._lock:
                while True:  # not `while cond:`, whose back-edge skips the lock's release
                    if job.outcome is not None or not (job.request is None or job.request.taken):
                        break
                    self._to_main.wait()
                if job.outcome is not None:
                    sync.emit("runtime.job_returned", job=job.job_id, ok=job.outcome.ok)
                    return job.outcome
                request = job.request
                assert request is not None
                request.taken = True
                sync.emit("runtime.main_call_started", job=job.job_id, call=request.call_id)
            # Outside the lock: main-side code may itself take a while, and
            # may call main-only code (inline, we are on main).
            try:
                response = _Outcome(True, request.fn(), None)
            except Exception as exc:
                response = _Outcome(False, None, exc)
            with self._lock:
                request.outcome = response
                self._main_calls += 1
                sync.emit(
                    "runtime.main_call_responded",
                    job=job.job_id,
                    call=request.call_id,
                    ok=response.ok,
                )
                self._to_worker.notify_all()

    def _abandon(self, job: _Job, *, announce: bool = True) -> None:
        with self._lock:
            if job.outcome is not None or job.abandoned:
                return
            job.abandoned = True
            if announce:
                sync.emit("runtime.job_abandoned", job=job.job_id)
            # A worker waiting for a response gets JobAbandoned instead: the
            # one answer it is owed.
            self._to_worker.notify_all()

    # --- the worker side --------------------------------------------------

    def _worker_main(self, rx: Receiver[_Job | _Shutdown]) -> None:
        try:
            while True:
                msg = self._receive(rx)
                if msg is None:
                    break
                if isinstance(msg, _Shutdown):
                    sync.emit("runtime.shutdown_received")
                    break
                self._execute(msg)
        finally:
            # A job sent after this point fails with Disconnected instead of
            # waiting for a worker that is gone.
            rx.close()
            sync.emit("runtime.worker_exit")

    def _receive(self, rx: Receiver[_Job | _Shutdown]) -> _Job | _Shutdown | None:
        """Block (no timeout) for the next message; ``None`` once the channel is closed."""
        try:
            return rx.recv()
        except Disconnected:
            return None

    def _execute(self, job: _Job) -> None:
        with self._lock:
            if job.abandoned:
                sync.emit("runtime.job_skipped", job=job.job_id)
                return
            self._running_job = job
            sync.emit("runtime.job_started", job=job.job_id)
        try:
            outcome = _Outcome(True, job.fn(), None)
        except BaseException as exc:
            outcome = _Outcome(False, None, exc)
        with self._lock:
            self._running_job = None
            job.outcome = outcome
            self._jobs_completed += 1
            sync.emit("runtime.job_done", job=job.job_id, ok=outcome.ok)
            self._to_main.notify_all()

    # --- calls that must run on main --------------------------------------

    def call_on_main(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` on the main thread and return its result.

        On the main thread it runs inline. On the worker thread during a job
        it is sent to the main thread (which is waiting in
        :meth:`run_on_worker`) and this blocks until main has run it.

        Raises:
            MainThreadCallError: ``fn`` raised on the main thread (routed
                case); the original exception is ``__cause__``. Inline, ``fn``'s
                exception propagates as is.
            WrongThreadError: called from any other thread.
            JobAbandoned: the main thread stopped waiting for this job.
            NotInitializedError: before :meth:`init`.
            RuntimeClosedError: after :meth:`shutdown`.
        """
        return self._call_on_main(fn, args, kwargs, decorated=False)

    def _call_on_main(
        self,
        fn: Callable[P, R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        decorated: bool,
    ) -> R:
        me = sync.current_thread()
        with self._lock:
            self._require_initialized("call_on_main")
            if self._state == _SHUT_DOWN:
                if decorated:
                    raise RuntimeClosedError(
                        f"@main_thread_only function {_describe(fn)}() called after "
                        "Runtime.shutdown(): it is refused even on the main thread, "
                        "because the runtime that checks and routes its calls is gone; "
                        "create a new Runtime (or call the function undecorated)"
                    )
                raise RuntimeClosedError(
                    f"call_on_main({_describe(fn)}) after shutdown(): the runtime is gone; "
                    "create a new Runtime"
                )
            if me is self._main:
                inline = True
            elif me is self._worker_thread and self._running_job is not None:
                inline = False
                response = self._request_from_worker(self._running_job, fn, args, kwargs)
            else:
                raise WrongThreadError(
                    f"main-thread-only code called from thread {me.name!r}, which is "
                    f"neither the main thread {self._main_name()!r} nor the runtime's "
                    "worker running a job. Call it from the main thread, or from a "
                    "function passed to run_on_worker()"
                )
        if inline:
            return fn(*args, **kwargs)
        if response.ok:
            value: R = response.value
            return value
        error = response.error
        raise MainThreadCallError(
            f"call_on_main({_describe(fn)}) raised on the main thread: "
            f"{type(error).__name__}: {error}"
        ) from error

    def _request_from_worker(
        self,
        job: _Job,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> _Outcome:
        # Caller holds _lock, on the worker thread.
        if job.abandoned:
            raise JobAbandoned(
                f"call_on_main({_describe(fn)}): the main thread stopped waiting for job "
                f"{job.job_id} (interrupted), so nothing will run this call"
            )
        request = _Request(self._next_call, functools.partial(fn, *args, **kwargs))
        self._next_call += 1
        job.request = request
        sync.emit("runtime.main_call_requested", job=job.job_id, call=request.call_id)
        self._to_main.notify_all()
        while request.outcome is None and not job.abandoned:
            self._to_worker.wait()
        job.request = None
        response = request.outcome
        sync.emit(
            "runtime.main_call_returned",
            job=job.job_id,
            call=request.call_id,
            ok=None if response is None else response.ok,
        )
        if response is None:
            raise JobAbandoned(
                f"call_on_main({_describe(fn)}): the main thread was interrupted while job "
                f"{job.job_id} waited for this call; it was not completed"
            )
        return response

    def main_thread_only(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorator: make ``fn`` a checked main-thread-only function.

        Calling the result runs ``fn`` inline on the main thread, routes it to
        main from the worker during a job, and raises
        :class:`WrongThreadError` anywhere else (see :meth:`call_on_main`).

        After :meth:`shutdown` every call raises :class:`RuntimeClosedError`,
        on the main thread too (it does not run inline): the message names the
        function and says the runtime is shut down. Refusing is the choice
        because a decorated function is promised to run under a live runtime;
        ``fn`` itself (``checked.__wrapped__``) stays callable directly.
        """
        if not callable(fn):
            raise TypeError(f"main_thread_only needs a callable, got {fn!r}")

        @functools.wraps(fn)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            return self._call_on_main(fn, args, kwargs, decorated=True)

        return checked

    def is_main_thread(self) -> bool:
        """True when called on the thread that called :meth:`init`.

        Raises:
            NotInitializedError: before :meth:`init`.
        """
        me = sync.current_thread()
        with self._lock:
            self._require_initialized("is_main_thread")
            return me is self._main

    # --- shutdown ---------------------------------------------------------

    def shutdown(self) -> None:
        """Stop and join the worker, then restore the previous exception hook.

        Callable from any thread except the worker itself. Waits for a job in
        flight to finish (its result still goes to its caller). Idempotent: once
        the runtime is shut down it returns at once; a call that overlaps a
        shutdown in progress on another thread waits for that one to finish
        (no polling), so no caller ever returns while the worker is alive.
        Before :meth:`init` it does nothing.

        Raises:
            RuntimeError: called on the worker thread (it cannot join itself),
                or on the main thread from inside a main-side call of a running
                job (the job can only finish once main gets back to serving it).
            KeyboardInterrupt: raised while shutting down; held back until the
                worker is joined and the hook restored, then re-raised.
        """
        me = sync.current_thread()
        # Claiming the shutdown (state SHUTTING_DOWN, owner = True) happens
        # inside the try with no signal check point between the two stores,
        # so an interrupt anywhere after the claim still reaches the clean-up
        # and the publish below; a claim nobody finishes would make every
        # later shutdown() wait forever.
        owner = False
        deferred: list[BaseException] = []
        try:
            with self._lock:
                on_main = me is self._main
                if self._state in (_NEW, _SHUT_DOWN):
                    sync.emit("runtime.shutdown_noop", on_main=on_main)
                    return
                if me is self._worker_thread:
                    raise RuntimeError(
                        "shutdown() called on the runtime's own worker thread (from inside a "
                        "job); the worker cannot join itself. Call shutdown() from the main "
                        "thread or another thread"
                    )
                busy = self._busy_job()
                if me is self._main and busy is not None:
                    raise RuntimeError(
                        f"shutdown() called on the main thread while it services job "
                        f"{busy.job_id}; the job can only finish once main gets back to "
                        "serving it. Call shutdown() after run_on_worker() returns"
                    )
                if self._state == _SHUTTING_DOWN:
                    sync.emit("runtime.shutdown_waits", on_main=on_main)
                else:
                    self._state = _SHUTTING_DOWN
                    owner = True
                    self._announced = set()
                    sync.emit("runtime.shutdown_requested", on_main=on_main)
            if owner:
                self._shutdown_steps(deferred)
        except BaseException as exc:
            if not owner:
                raise
            # Interrupted between steps (the steps themselves hold back
            # interrupts while they wait): still end with the worker joined
            # and the hook restored. Closing our sender ends the worker's
            # loop even if Shutdown was never sent.
            deferred.append(exc)
            self._finish_interrupted_shutdown(deferred)
        finally:
            if owner:
                # A function's entry is a check point too: retry the call.
                while True:
                    try:
                        self._publish_shut_down(deferred)
                        break
                    except KeyboardInterrupt as exc:
                        deferred.append(exc)
        if not owner:
            self._await_shut_down(on_main)
            return
        if deferred:
            raise deferred[0]

    def _await_shut_down(self, on_main: bool) -> None:
        # A caller that found a shutdown in progress returns once it is over;
        # an interrupt meanwhile is held back like the owner's (returning
        # early, even by raising, would let the caller unload too soon).
        interrupted: KeyboardInterrupt | None = None
        while True:
            try:
                self._shut_down.wait()
                break
            except KeyboardInterrupt as exc:
                if interrupted is None:
                    interrupted = exc
        sync.emit("runtime.shutdown_waited", on_main=on_main)
        if interrupted is not None:
            raise interrupted

    def _publish_shut_down(self, deferred: list[BaseException]) -> None:
        # Interrupts are held back here too: a runtime left "shutting down"
        # would make every later shutdown() wait forever. (Only
        # KeyboardInterrupt: see _send_shutdown.)
        while True:
            try:
                with self._lock:
                    self._state = _SHUT_DOWN
                    sync.emit("runtime.shutdown_returned")
                break
            except KeyboardInterrupt as exc:
                deferred.append(exc)
        while True:
            try:
                self._shut_down.set()
                return
            except KeyboardInterrupt as exc:
                deferred.append(exc)

    def _finish_interrupted_shutdown(self, deferred: list[BaseException]) -> None:
        # The same steps in the same order, each one idempotent.
        self._close_channel()
        self._join_worker(deferred)
        self._uninstall_hook()

    def _announce(self, event: str) -> None:
        # Each shutdown step's event once, though an interrupted shutdown
        # repeats the step. Only the owner of the shutdown touches the set.
        if event not in self._announced:
            self._announced.add(event)
            sync.emit(event)

    def _shutdown_steps(self, deferred: list[BaseException]) -> None:
        # The order is the protocol. The hook goes last: the worker could
        # still raise while it winds down, and the hook must be there for it.
        self._send_shutdown(deferred)
        self._close_channel()
        self._join_worker(deferred)
        self._uninstall_hook()

    def _send_shutdown(self, deferred: list[BaseException]) -> None:
        tx = self._tx
        assert tx is not None
        sync.emit("runtime.shutdown_sent")
        while True:
            try:
                tx.send(_SHUTDOWN)
                return
            except (Disconnected, Closed):
                # The worker is already gone (it closes its receiver on exit).
                sync.emit("runtime.shutdown_undeliverable")
                return
            except KeyboardInterrupt as exc:
                # Interrupted while a job is in flight: the send was withdrawn;
                # keep the interrupt for later and send again. Only
                # KeyboardInterrupt: an error every retry would raise again
                # (GreenletExit from the model) must not spin here.
                deferred.append(exc)

    def _close_channel(self) -> None:
        tx = self._tx
        assert tx is not None
        tx.close()
        self._announce("runtime.channel_closed")

    def _join_worker(self, deferred: list[BaseException]) -> None:
        worker = self._worker
        assert worker is not None
        interrupted = join_through_interrupts(worker.thread)
        if interrupted is not None:
            deferred.append(interrupted)
        self._announce("runtime.joined")
        try:
            worker.join()  # the thread has ended: returns at once or re-raises
        # Only the worker's own failure: an interrupt raised on this thread
        # here is not one (it goes up to shutdown(), which holds it back).
        except Exception as exc:  # pragma: no cover - the worker loop catches job errors
            deferred.append(
                RuntimeError(f"the runtime's worker thread failed: {type(exc).__name__}: {exc}")
            )
            deferred[-1].__cause__ = exc

    def _uninstall_hook(self) -> None:
        with self._lock:
            hook, previous = self._hook, self._previous_hook
            if hook is None or previous is None:
                return
            self._hook = None
            restored = sync.get_excepthook() is hook
            if restored:
                sync.set_excepthook(previous)
            sync.emit("runtime.hook_uninstalled", restored=restored)

    # --- helpers ----------------------------------------------------------

    def _require_initialized(self, what: str) -> None:
        # Caller holds _lock.
        if self._state == _NEW:
            raise NotInitializedError(
                f"Runtime.{what}() called before Runtime.init(); call init() on the main "
                "thread first"
            )

    def _require_open(self, what: str) -> None:
        # Caller holds _lock.
        if self._state != _RUNNING:
            raise RuntimeClosedError(
                f"Runtime.{what}() after shutdown() ({self._state.replace('_', ' ')}); "
                "create a new Runtime"
            )

    def _busy_job(self) -> _Job | None:
        # Caller holds _lock. The job main is serving, if any. A job that is
        # finished or abandoned does not count, so a registration left behind
        # by an interrupt in run_on_worker's clean-up cannot wedge the runtime.
        job = self._waiting_job
        if job is None or job.outcome is not None or job.abandoned:
            return None
        return job

    def _main_name(self) -> str:
        return "?" if self._main is None else self._main.name

    def statistics(self) -> RuntimeStatistics:
        """A snapshot of the runtime's state (never blocks for long)."""
        with self._lock:
            return RuntimeStatistics(
                state=self._state,
                worker_alive=self._worker is not None and self._worker.is_alive(),
                waiting_for_job=self._busy_job() is not None,
                job_running=self._running_job is not None,
                jobs_sent=self._next_job - 1,
                jobs_completed=self._jobs_completed,
                main_calls=self._main_calls,
                thread_exceptions=self._thread_exceptions,
            )

    def __enter__(self) -> Runtime:
        self.init()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<Runtime {self._name!r} {self._state}>"


def _describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _close_all(senders: list[Sender[Any]]) -> None:
    """Close each sender, popping it once closed (so a retry goes on from there)."""
    while senders:
        senders[-1].close()
        senders.pop()


def _undo_quietly(fn: Callable[..., object], *args: Any) -> BaseException | None:
    """Run one clean-up step to the end, holding back KeyboardInterrupt.

    Returns the interrupt held back (the caller is already raising one), or
    ``None``. The steps it runs are idempotent, so running one again after
    an interrupt is safe.
    """
    held: BaseException | None = None
    while True:
        try:
            fn(*args)
            return held
        except KeyboardInterrupt as exc:
            held = held or exc
