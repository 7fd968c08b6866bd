"""Executor: one background thread runs submitted functions; join drains, then stops.

The protocol of :class:`Executor` (``treadle.executor``) at the level of its
synchronisation steps. ``callers`` threads each submit ``jobs`` functions;
``submit`` queues the job and blocks until the executor thread has run it
(FIFO, one at a time). ``joiners`` threads call ``join``: the first one
closes the executor (later submits raise ``ExecutorClosed``); the thread
runs what is still queued, then ends; every ``join`` returns once the thread
has ended. With ``tagged``, caller 0's first job creates a ``Tagged`` value
on the executor thread. After this executor is joined a second executor is
created, and a job on it tries to read that value: it must be refused, since
the value belongs to the first executor - which holds only if the tags of
the two executors differ.

Jobs are numbered ``n = 1, 2, ...`` in the order they were queued, as the
impl numbers them (``job=``), so the conformance check sees which job each
step is about.

Action vocabulary (what the conformance check matches impl events against;
events are ``executor.*``, each with the executor's ``tag=``):

======================  ========  ==============================================
action                  thread    impl event
======================  ========  ==============================================
``Submit(c, n)``        caller c  ``submit`` (``job=n``, queued under the lock)
``SubmitRejected(c)``   caller c  none: ``ExecutorClosed`` under the lock
``Take(n)``             executor  ``job_started`` (``job=n``)
``Run(n)``              executor  ``job_done`` (``job=n``; the job that makes
                                  the Tagged also emits ``tagged_created``)
``Return(c)``           caller c  none (submit returns the result)
``Stop``                executor  ``stopped`` (the queue is empty and closed)
``Join(j)``             joiner j  ``closing`` (the join that closes it)
``JoinClosed(j)``       joiner j  none: a join that finds it closed waits
``JoinReturns(j)``      joiner j  ``joined``
``StartSecond(tag)``    -         ``started`` of the second executor; ``tag``
                                  is 1 if it reuses the first one's tag, else 2
``ReadOnSecond``        executor  ``tagged_refused`` on the second executor's
                                  thread (an accepted read has no event)
======================  ========  ==============================================

BUG SWITCH:

* ``bug_tag_reuse``: the historical tag, the executor's memory address, which
  the second executor reuses once the first is gone: the second executor
  then accepts the first one's Tagged value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from treadle_spec.lang import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "Constants", "ExecutorSpec", "State", "build"]

T = TypeVar("T")


@dataclass(frozen=True)
class Constants:
    """Sizes and the bug switch of the executor spec.

    callers: threads that submit. jobs: submits per caller. joiners: threads
    that call join. tagged: include the Tagged/second-executor scenario.
    bug_tag_reuse: see the module docs.
    """

    callers: int = 2
    jobs: int = 1
    joiners: int = 1
    tagged: bool = True
    bug_tag_reuse: bool = False

    def __post_init__(self) -> None:
        if self.callers < 1 or self.jobs < 0 or self.joiners < 1:
            raise ValueError("callers and joiners must be >= 1, jobs >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the executor spec.

    ex: ``open`` | ``closing`` | ``stopped`` (thread ended). worker: ``idle``
    | ``run`` | ``dead``. queue: queued jobs ``(c, k)``, oldest first.
    running: the job being run. accepted: jobs in the order they were
    queued. ran: jobs in the order they ran. cpc: per caller ``ready`` |
    ``waiting`` | ``done``. sent: per caller, submits made. rejected: per
    caller, submits refused. jpc: per joiner ``ready`` | ``joining`` |
    ``joined``. second: the second executor's tag once it exists. owner: the
    tag of the executor that made the Tagged value. read: ``None`` |
    ``refused`` | ``accepted`` (the second executor's read of it).
    """

    ex: str
    worker: str
    queue: tuple[tuple[int, int], ...]
    running: tuple[int, int] | None
    accepted: tuple[tuple[int, int], ...]
    ran: tuple[tuple[int, int], ...]
    cpc: tuple[str, ...]
    sent: tuple[int, ...]
    rejected: tuple[int, ...]
    jpc: tuple[str, ...]
    second: int | None
    owner: int | None
    read: str | None


FIRST_TAG = 1  # the first executor's tag


def _set(t: tuple[T, ...], i: int, v: T) -> tuple[T, ...]:
    return (*t[:i], v, *t[i + 1 :])


def _callers(c: Constants) -> range:
    return range(c.callers)


def _joiners(c: Constants) -> range:
    return range(c.joiners)


def _numbers(c: Constants) -> range:
    return range(1, c.callers * c.jobs + 1)


def _number(s: State, job: tuple[int, int]) -> int:
    """The impl's number of a queued job: its place in the queue order, from 1."""
    return s.accepted.index(job) + 1


# Speed hints (see ``action(candidates=...)``): the only number each action can take.
def _next_number(spec: ExecutorSpec, s: State) -> list[tuple[int, int]]:
    n = len(s.accepted) + 1
    return [(c, n) for c in range(spec.c.callers)]


def _head_number(spec: ExecutorSpec, s: State) -> list[tuple[int]]:
    return [(_number(s, s.queue[0]),)] if s.queue else []


def _running_number(spec: ExecutorSpec, s: State) -> list[tuple[int]]:
    return [(_number(s, s.running),)] if s.running is not None else []


class ExecutorSpec(Spec[State, Constants]):
    """Executor: FIFO submits on one thread, join drains then stops, unique tags."""

    constants_type = Constants
    state_type = State

    def init_states(self) -> list[State]:
        c = self.c
        return [
            State(
                ex="open",
                worker="idle",
                queue=(),
                running=None,
                accepted=(),
                ran=(),
                cpc=("ready" if c.jobs else "done",) * c.callers,
                sent=(0,) * c.callers,
                rejected=(0,) * c.callers,
                jpc=("ready",) * c.joiners,
                second=None,
                owner=None,
                read=None,
            )
        ]

    # -- callers ---------------------------------------------------------------

    @action(fair=True, c=_callers, n=_numbers, candidates=_next_number)
    def Submit(self, s: State, c: int, n: int) -> State | None:
        """Executor open: queue (c, k) as job n and block until it has run."""
        if s.cpc[c] != "ready" or s.ex != "open" or n != len(s.accepted) + 1:
            return None
        job = (c, s.sent[c])
        return s._replace(
            queue=(*s.queue, job), accepted=(*s.accepted, job), cpc=_set(s.cpc, c, "waiting")
        )

    @action(fair=True, c=_callers)
    def SubmitRejected(self, s: State, c: int) -> State | None:
        """join() has begun: submit raises ExecutorClosed at once."""
        if s.cpc[c] != "ready" or s.ex == "open":
            return None
        k = s.sent[c] + 1
        return s._replace(
            sent=_set(s.sent, c, k),
            rejected=_set(s.rejected, c, s.rejected[c] + 1),
            cpc=_set(s.cpc, c, "done" if k >= self.c.jobs else "ready"),
        )

    @action(fair=True, c=_callers)
    def Return(self, s: State, c: int) -> State | None:
        """The caller's job has run: submit returns its result."""
        if s.cpc[c] != "waiting" or (c, s.sent[c]) not in s.ran:
            return None
        k = s.sent[c] + 1
        return s._replace(
            sent=_set(s.sent, c, k), cpc=_set(s.cpc, c, "done" if k >= self.c.jobs else "ready")
        )

    # -- the executor thread ---------------------------------------------------

    @action(fair=True, n=_numbers, candidates=_head_number, when={"worker": "idle"})
    def Take(self, s: State, n: int) -> State | None:
        """Take the oldest queued job (job n)."""
        if not s.queue or _number(s, s.queue[0]) != n:
            return None
        return s._replace(worker="run", running=s.queue[0], queue=s.queue[1:])

    @action(fair=True, n=_numbers, candidates=_running_number, when={"worker": "run"})
    def Run(self, s: State, n: int) -> State | None:
        """Run job n and publish the outcome (caller 0's first job makes the Tagged)."""
        job = s.running
        if job is None or _number(s, job) != n:
            return None
        owner = FIRST_TAG if self.c.tagged and job == (0, 0) else s.owner
        return s._replace(worker="idle", running=None, ran=(*s.ran, job), owner=owner)

    @action(fair=True, when={"worker": "idle"})
    def Stop(self, s: State) -> State | None:
        """Closed and nothing queued: the executor thread ends."""
        if s.queue or s.ex != "closing":
            return None
        return s._replace(worker="dead", ex="stopped")

    # -- joiners ---------------------------------------------------------------

    @action(fair=True, j=_joiners)
    def Join(self, s: State, j: int) -> State | None:
        """join() finds the executor open: close it, then wait for the thread."""
        if s.jpc[j] != "ready" or s.ex != "open":
            return None
        return s._replace(ex="closing", jpc=_set(s.jpc, j, "joining"))

    @action(fair=True, j=_joiners)
    def JoinClosed(self, s: State, j: int) -> State | None:
        """join() finds the executor already closed (by another join): just wait."""
        if s.jpc[j] != "ready" or s.ex == "open":
            return None
        return s._replace(jpc=_set(s.jpc, j, "joining"))

    @action(fair=True, j=_joiners)
    def JoinReturns(self, s: State, j: int) -> State | None:
        """The thread has ended: join returns."""
        if s.jpc[j] != "joining" or s.worker != "dead":
            return None
        return s._replace(jpc=_set(s.jpc, j, "joined"))

    # -- a second executor, and the first one's Tagged value --------------------

    @action(fair=True, tag=(FIRST_TAG, FIRST_TAG + 1))
    def StartSecond(self, s: State, tag: int) -> State | None:
        """tagged: after the first executor is gone, a second one starts with its own tag.

        bug_tag_reuse: its tag is the first one's (a reused memory address).
        """
        if not self.c.tagged or s.second is not None or s.ex != "stopped":
            return None
        if tag != (FIRST_TAG if self.c.bug_tag_reuse else FIRST_TAG + 1):
            return None
        return s._replace(second=tag)

    @action(fair=True)
    def ReadOnSecond(self, s: State) -> State | None:
        """A job on the second executor reads the Tagged value: allowed iff the tags match."""
        if s.second is None or s.owner is None or s.read is not None:
            return None
        return s._replace(read="accepted" if s.owner == s.second else "refused")

    # -- properties ------------------------------------------------------------

    def is_final(self, s: State) -> bool:
        done = all(x == "done" for x in s.cpc) and all(x == "joined" for x in s.jpc)
        if not done:
            return False
        if not self.c.tagged:
            return True
        return s.second is not None and (s.owner is None or s.read is not None)

    def properties(self) -> list[Property[State]]:
        c = self.c
        props: list[Property[State]] = [
            Property.always(
                "join_before_return",
                lambda s: all(x != "joined" for x in s.jpc) or s.worker == "dead",
                "join() returns only after the executor thread ended",
            ),
            Property.always(
                "join_drains",
                lambda s: s.ex != "stopped" or (not s.queue and len(s.ran) == len(s.accepted)),
                "every job accepted before join ran before the thread ended",
            ),
            Property.always(
                "fifo",
                lambda s: s.ran == s.accepted[: len(s.ran)],
                "jobs run one at a time in the order they were submitted",
            ),
            Property.always(
                "tags_unique",
                lambda s: s.read != "accepted",
                "a Tagged value is refused on any executor but the one that made it",
            ),
            Property.eventually(
                "everyone_returns",
                lambda s: all(x == "done" for x in s.cpc) and all(x == "joined" for x in s.jpc),
                "every submit and every join returns (weak fairness of every step)",
            ),
        ]
        if c.jobs >= 1:
            props.append(
                Property.sometimes(
                    "submit_after_join_rejected",
                    lambda s: sum(s.rejected) > 0,
                    "a submit after join began raises ExecutorClosed",
                )
            )
            props.append(
                Property.sometimes(
                    "join_waits_for_queued_work",
                    lambda s: s.ex == "closing" and bool(s.queue),
                    "join began while jobs were still queued; they still run",
                )
            )
        if c.tagged and c.jobs >= 1 and not c.bug_tag_reuse:
            props.append(
                Property.sometimes(
                    "foreign_tagged_refused",
                    lambda s: s.read == "refused",
                )
            )
        return props


def build(**constants: object) -> ExecutorSpec:
    """The executor spec with these constants (the rest default)."""
    return ExecutorSpec(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    Constants(callers=1, jobs=2, joiners=1),
    Constants(callers=2, jobs=1, joiners=1),
    Constants(callers=2, jobs=1, joiners=2),
    Constants(callers=2, jobs=2, joiners=1),
    Constants(callers=3, jobs=1, joiners=1, tagged=False),
]
