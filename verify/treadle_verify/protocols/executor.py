"""Executor and Tagged: the real code explored exhaustively, conforming to ``executor``.

Each scenario creates a real :class:`~treadle.Executor` (or the class passed
in) under the model and drives it from one to three threads:

* ``callers`` threads each submit ``jobs`` functions while a ``join`` races
  them (a submit that loses the race gets ``ExecutorClosed``), with one or
  two joiners;
* one thread submits a job that returns, one that raises, one that submits
  inline from the executor thread, one that calls ``join`` from it, then
  joins twice;
* a :class:`~treadle.Tagged` value is made, read and dropped on its
  executor, refused on the calling thread;
* a ``Tagged`` made on executor A is read, after A is joined, on a new
  executor B: it must be refused, because no two executors share a tag.

Each body asserts, on the real code: every accepted job ran exactly once, on
the executor thread, in the order its caller submitted it, and its submit
returned its result (or raised its exception, the same object); every
rejected submit raised ``ExecutorClosed`` and its job never ran; every job
accepted before ``join`` ran before ``join`` returned; the executor thread
has ended when ``join`` returns (``treadle_model.unload()`` once every
thread the body started is joined); the Tagged value is only ever handed out
on its own executor's thread.

The explorer adds: no deadlock, no lost wakeup, no leaked thread, no
exception; and the conformance monitor replays every execution's events
through the ``executor`` spec built with the scenario's sizes (see
:func:`mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from treadle import sync
from treadle._events import Executor as Ev
from treadle.executor import Executor, ExecutorClosed, Tagged, TaggedAccessError
from treadle_model import unload
from treadle_spec import executor as executor_spec
from treadle_verify.conformance import ActionMatch, Mapping, match, never
from treadle_verify.protocols import EventTable, Preset, ProtocolCheck, Scenario

__all__ = ["CHECK", "EVENTS", "JobFailed", "mapping", "scenarios", "spec_sizes"]

Impl = type[Executor]

FIRST_TAG = executor_spec.FIRST_TAG


class JobFailed(Exception):
    """Raised by a scenario's job that is meant to raise."""


# -- the mapping -------------------------------------------------------------------------


_INTERNAL = frozenset({"SubmitRejected", "Return", "JoinClosed"})


def _internal(action: Any) -> bool:
    return action.name in _INTERNAL


class _Events:
    """Translates one execution's ``executor.*`` events; see :func:`mapping`.

    Executor tags come from a process-wide counter, so which tag is the first
    executor's is only known when its ``started`` event arrives: the
    translation remembers it. The monitor builds its spec once at the start of
    every execution (``Mapping.spec``), which is where that memory is reset.
    """

    def __init__(self, constants: dict[str, Any]) -> None:
        self._spec = executor_spec.build(**constants)  # immutable: one per scenario
        self.first: int | None = None
        self.second: int | None = None

    def spec(self) -> executor_spec.ExecutorSpec:
        self.first = self.second = None
        return self._spec

    def translate(self, event: str, fields: dict[str, Any]) -> Sequence[ActionMatch] | None:
        tag = fields.get("tag")
        if event == Ev.STARTED:
            if self.first is None:
                self.first = tag
                return []
            if self.second is None:
                self.second = tag
                reused = tag == self.first
                return [match("StartSecond", tag=FIRST_TAG if reused else FIRST_TAG + 1)]
            return [never("a third executor")]
        if event == Ev.TAGGED_REFUSED:
            if self.second is not None and fields.get("here") == self.second:
                return [match("ReadOnSecond")]
            return None  # used off any executor thread: not a protocol step
        if event in _BY_TAG and tag != self.first:
            return None  # the second executor's own jobs are not part of the spec
        if event == Ev.SUBMIT:
            return [match("Submit", n=fields["job"])]
        if event == Ev.JOB_STARTED:
            return [match("Take", n=fields["job"])]
        if event == Ev.JOB_DONE:
            return [match("Run", n=fields["job"])]
        if event == Ev.CLOSING:
            return [match("Join")]
        if event == Ev.STOPPED:
            return [match("Stop")]
        if event == Ev.JOINED:
            return [match("JoinReturns")]
        if event == Ev.JOB_CANCELLED:
            return [never("a withdrawn job: no scenario interrupts a submit")]
        return EVENTS.rest(event, fields)  # inline, tagged_created, tagged_dropped


_MAPPED = frozenset(
    {
        Ev.STARTED,
        Ev.TAGGED_REFUSED,
        Ev.SUBMIT,
        Ev.JOB_STARTED,
        Ev.JOB_DONE,
        Ev.CLOSING,
        Ev.STOPPED,
        Ev.JOINED,
        Ev.JOB_CANCELLED,
    }
)
_BY_TAG = _MAPPED - {Ev.STARTED, Ev.TAGGED_REFUSED}

EVENTS = EventTable(
    protocol="executor",
    modules=("executor",),
    mapped=_MAPPED,
    quiet=frozenset(
        {
            Ev.INLINE,  # an inline submit is part of the running job
            Ev.TAGGED_CREATED,  # parts of a job
            Ev.TAGGED_DROPPED,
        }
    ),
)
"""The events an executor execution sees, and which are spec steps (see :func:`mapping`)."""


def mapping(constants: dict[str, Any]) -> Mapping:
    """How the executors' events map onto the ``executor`` spec built with ``constants``.

    =============================================  ======================================
    impl event                                     spec action
    =============================================  ======================================
    ``started`` (the first executor)               nothing: the spec starts there
    ``started`` (the second)                       ``StartSecond(tag=1)`` if its tag is
                                                   the first one's, else ``tag=2``
    ``submit(job=n)``                              ``Submit(c, n)`` (any caller c)
    ``job_started(job=n)`` / ``job_done(job=n)``   ``Take(n)`` / ``Run(n)``
    ``closing`` / ``stopped`` / ``joined``         ``Join`` / ``Stop`` / ``JoinReturns``
    ``tagged_refused(here=<second's tag>)``        ``ReadOnSecond``
    ``job_cancelled``                              nothing: the spec has no withdrawal
    =============================================  ======================================

    Internal: ``SubmitRejected`` (``ExecutorClosed`` has no event),
    ``Return`` (submit returning), ``JoinClosed`` (a join that finds the
    executor closed). Ignored: ``inline`` (an inline submit is part of the
    running job), ``tagged_created`` / ``tagged_dropped`` (parts of a job),
    a ``tagged_refused`` off any executor thread, and the second executor's
    own jobs. Those are the quiet events of :data:`EVENTS`; any event in
    neither of its sets fails conformance, naming the event.
    """
    events = _Events(dict(constants))
    shown = ", ".join(f"{k}={v}" for k, v in constants.items())
    return Mapping(
        spec=events.spec,
        translate=events.translate,
        internal=_internal,
        name=f"executor({shown})",
    )


# -- scenario bodies ---------------------------------------------------------------------


class _Resource:
    """A value only its executor thread may touch; records where it was closed."""

    def __init__(self) -> None:
        self.closed_on: sync.Thread | None = None

    def close(self) -> None:
        self.closed_on = sync.current_thread()


def racing_body(callers: int, jobs: int, joiners: int, impl: Impl = Executor) -> Callable[[], None]:
    """``callers`` threads submit ``jobs`` each while ``joiners`` joins race them.

    Main is joiner 0; joiners 1.. are threads. Every submit either runs (once,
    on the executor thread, in its caller's order) and returns its value, or
    raises ``ExecutorClosed`` - and then so does every later submit of that
    caller. Every job accepted ran before any ``join`` returned.
    """

    def body() -> None:
        ex = impl()
        ran: list[tuple[int, int]] = []  # appended on the executor thread only
        results: list[list[object]] = [[] for _ in range(callers)]
        ran_before_join: list[list[tuple[int, int]]] = []

        def job(c: int, k: int) -> tuple[int, int]:
            assert sync.current_thread().name.startswith("treadle-executor-")
            ran.append((c, k))
            return (c, k)

        def caller(c: int) -> None:
            for k in range(jobs):
                try:
                    results[c].append(ex.submit(job, c, k))
                except ExecutorClosed:
                    results[c].append(ExecutorClosed)

        def joiner() -> None:
            ex.join()
            ran_before_join.append(list(ran))

        threads = [sync.spawn(caller, c, name=f"caller-{c}") for c in range(callers)]
        threads += [sync.spawn(joiner, name=f"joiner-{j}") for j in range(1, joiners)]
        joiner()
        for t in threads:
            t.join()
        unload("every submit and join returned")

        accepted: list[object] = []
        for c in range(callers):
            got = results[c]
            assert len(got) == jobs, got
            taken = [r for r in got if r is not ExecutorClosed]
            # Once rejected, always rejected: accepted submits form a prefix.
            assert got[: len(taken)] == taken, got
            assert taken == [(c, k) for k in range(len(taken))], got
            accepted += taken
            assert [j for j in ran if j[0] == c] == taken, (ran, got)
        assert len(ran) == len(set(ran)) == len(accepted), (ran, accepted)
        assert set(ran) == set(accepted), (ran, accepted)
        # join drains: whatever ran had run before any join returned.
        for seen in ran_before_join:
            assert sorted(seen) == sorted(ran), (seen, ran)
        assert ex.closed and ex.statistics().queued == 0

    body.__qualname__ = f"executor racing body [{callers}x{jobs}, {joiners} joiners]"
    return body


def one_caller_body(impl: Impl = Executor) -> Callable[[], None]:
    """Return, raise, submit inline, join from inside; then join twice; submit after."""

    def body() -> None:
        ex = impl()
        boom = JobFailed("boom")
        threads: list[sync.Thread] = []

        def raising() -> None:
            raise boom

        def nested() -> tuple[str, bool]:
            me = sync.current_thread()
            # Inline: runs right here, on the executor thread, instead of deadlocking.
            return ex.submit(lambda: ("inner", sync.current_thread() is me))

        def join_inside() -> str:
            try:
                ex.join()
            except RuntimeError as exc:
                return str(exc)
            raise AssertionError("join() on the executor thread did not raise")

        threads.append(sync.current_thread())
        assert ex.submit(lambda: 7 * 6) == 42
        try:
            ex.submit(raising)
        except JobFailed as exc:
            assert exc is boom, exc
        else:
            raise AssertionError("the job's exception did not reach the submitter")
        assert ex.submit(nested) == ("inner", True)
        assert "own thread" in ex.submit(join_inside)
        ex.join()
        ex.join()  # idempotent
        unload("join returned")
        try:
            ex.submit(lambda: "too late")
        except ExecutorClosed:
            pass
        else:
            raise AssertionError("submit after join was accepted")

    body.__qualname__ = "executor one-caller body"
    return body


def tagged_body(impl: Impl = Executor) -> Callable[[], None]:
    """A Tagged value made, read and dropped on its executor; refused elsewhere."""

    def body() -> None:
        ex = impl()
        resource = _Resource()
        tagged = ex.submit(lambda: Tagged(resource))
        assert tagged.tag == ex.tag
        assert ex.submit(lambda: tagged.get() is resource)
        try:
            tagged.get()
        except TaggedAccessError:
            pass
        else:
            raise AssertionError("a Tagged value was read off its executor thread")
        ex.drop(tagged)
        try:
            ex.submit(tagged.get)
        except TaggedAccessError as exc:
            assert "dropped" in str(exc), exc
        else:
            raise AssertionError("a dropped Tagged value was still readable")
        ex.join()
        unload("join returned")
        assert resource.closed_on is not None
        assert resource.closed_on is not sync.current_thread()
        assert resource.closed_on.name == f"treadle-executor-{ex.tag}"

    body.__qualname__ = "executor tagged body"
    return body


def second_executor_body(impl: Impl = Executor) -> Callable[[], None]:
    """A Tagged made on executor A is refused on executor B created after A is joined."""

    def body() -> None:
        first = impl()
        tagged = first.submit(lambda: Tagged("first's"))
        first.join()
        unload("the first executor joined")
        second = impl()
        try:
            value = second.submit(tagged.get)
        except TaggedAccessError as exc:
            assert f"tag {first.tag}" in str(exc), exc
        else:
            raise AssertionError(
                f"executor {second.tag} read executor {first.tag}'s Tagged value: {value!r}"
            )
        try:
            second.drop(tagged)
        except TaggedAccessError:
            pass
        else:
            raise AssertionError("the second executor dropped the first one's Tagged value")
        second.join()
        unload("the second executor joined")
        assert second.tag != first.tag, f"two executors share tag {first.tag}"

    body.__qualname__ = "executor second-executor body"
    return body


# -- the scenarios -----------------------------------------------------------------------


def _constants(callers: int, jobs: int, joiners: int, *, tagged: bool = False) -> dict[str, Any]:
    return {"callers": callers, "jobs": jobs, "joiners": joiners, "tagged": tagged}


_CORE = (
    "every accepted job ran once, on the executor thread, in submit order; rejected ones "
    "never ran; join drains, then joins"
)


def scenarios(preset: Preset, impl: Any = None) -> list[Scenario]:
    """The executor scenarios explored at ``preset`` against ``impl`` (default: Executor)."""
    cls: Impl = impl if impl is not None else Executor

    def racing(callers: int, jobs: int, joiners: int, proves: str) -> Scenario:
        return Scenario(
            name=f"callers={callers} jobs={jobs} joiners={joiners} submit racing join",
            body=racing_body(callers, jobs, joiners, cls),
            mapping=mapping(_constants(callers, jobs, joiners)),
            proves=proves,
        )

    quick = [
        racing(1, 1, 1, "a submit racing join either runs or is rejected: " + _CORE),
        Scenario(
            name="tagged on a second executor",
            body=second_executor_body(cls),
            mapping=mapping(_constants(1, 1, 1, tagged=True)),
            proves="a Tagged made on a joined executor is refused on a later one: "
            "tags are never reused",
        ),
    ]
    default = [
        *quick,
        racing(2, 1, 1, "two callers racing join: " + _CORE),
        racing(1, 2, 1, "two submits from one caller racing join: " + _CORE),
        racing(1, 1, 2, "two joins racing a submit: both return after the thread ended"),
        racing(2, 1, 2, "two callers and two joiners: " + _CORE),
        Scenario(
            name="one caller: return, raise, inline, join inside, join twice",
            body=one_caller_body(cls),
            mapping=mapping(_constants(1, 5, 2)),
            proves="results and exceptions reach the submitter; an inline submit runs in "
            "place; join inside a job raises; join is idempotent; later submits rejected",
        ),
        Scenario(
            name="tagged made, read, dropped",
            body=tagged_body(cls),
            mapping=mapping(_constants(1, 4, 1)),
            proves="a Tagged value is readable only on its executor thread; drop closes it there",
        ),
    ]
    if preset == "quick":
        return quick
    if preset == "default":
        return default
    return [
        *default,
        racing(2, 2, 1, "two callers, two submits each, racing join: " + _CORE),
        racing(3, 1, 1, "three callers racing join: " + _CORE),
    ]


def spec_sizes(preset: Preset) -> list[dict[str, Any]]:
    """The ``executor`` spec sizes checked at ``preset``."""
    quick = [_constants(1, 1, 1, tagged=True), _constants(2, 1, 1)]
    if preset == "quick":
        return quick
    default = [
        _constants(c.callers, c.jobs, c.joiners, tagged=c.tagged)
        for c in executor_spec.DEFAULT_SIZES
    ] + [_constants(1, 5, 2), _constants(1, 4, 1)]
    if preset == "default":
        return default
    return [
        *default,
        _constants(2, 2, 2, tagged=True),
        _constants(3, 2, 1),
        _constants(3, 1, 2, tagged=True),
    ]


CHECK = ProtocolCheck(
    name="executor",
    spec="executor",
    spec_sizes=spec_sizes,
    scenarios=scenarios,
    summary="Executor: FIFO on one thread; join drains, then joins; tags never reused",
    events=EVENTS,
)
