"""TaskHandle: a cancellable background task that is joined before its owner lets go.

The protocol of ``spawn(task)`` and its :class:`TaskHandle` (``treadle.task``)
at the level of its synchronisation steps. ``spawn`` starts the
task's thread; the task works in steps (at most ``spins``), looks at its
cancellation token between steps when it is ``cooperative``, and ends by
returning, raising (``task_may_fail``) or stopping because it saw the
token. Its outcome is published under the handle's lock, then its thread
ends. The owner may ``poll`` (never blocks; after the outcome is published
every poll returns that same outcome), ``cancel`` (sticky), ``wait`` (blocks
for the outcome, then joins the thread) and finally ``close`` (cancels and
joins), after which it may still poll.

Action vocabulary (what the conformance check matches impl events against;
events are ``task.*``):

=================  ======  ====================================================
action             thread  impl event
=================  ======  ====================================================
``Start``          task    ``started``
``Work``           task    none (the task's own code)
``SeeCancel``      task    ``done`` (ok or not: the task returns early or
                           raises ``Cancelled``)
``Finish``         task    ``done(ok=True)``
``Fail``           task    ``done(ok=False)``
``ThreadEnds``     task    ``threads.exited`` of the task's thread (its last act)
``Poll``           owner   none
``Cancel``         owner   ``cancel`` (also after close: a no-op)
``Wait``           owner   none (blocks for the outcome)
``WaitJoins``      owner   ``joined(by="wait")`` (wait joined first)
``Close``          owner   ``cancel``
``CloseJoins``     owner   ``closed`` (after ``joined(by="close")`` when
                           close joined first)
=================  ======  ====================================================

BUG SWITCH:

* ``bug_close_without_join``: a detached task thread (the historical design). ``wait`` and
  ``close`` return without joining, so the task's thread can outlive its
  handle's owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from treadle_spec.lang import Property, Spec, action, fast_replace

__all__ = ["DEFAULT_SIZES", "Constants", "State", "TaskSpec", "build"]


@dataclass(frozen=True)
class Constants:
    """Sizes, failure points and the bug switch of the task spec.

    spins: steps of work before the task returns on its own. cooperative:
    the task looks at its token between steps. task_may_fail: the task may
    raise. bug_close_without_join: see the module docs.
    """

    spins: int = 2
    cooperative: bool = True
    task_may_fail: bool = True
    bug_close_without_join: bool = False

    def __post_init__(self) -> None:
        if self.spins < 0:
            raise ValueError("spins must be >= 0")


@fast_replace
class State(NamedTuple):
    """The variables of the task spec.

    task: ``spawned`` | ``run`` | ``done`` (outcome published) | ``dead``
    (thread ended). work: steps done. token: cancel was requested. outcome:
    ``None`` | ``value`` | ``cancelled`` | ``error``. owner: ``active`` |
    ``waiting`` | ``wait_join`` | ``closing`` | ``closed``. waited: wait
    returned. seen: the outcome the owner first observed. mismatch: a later
    observation differed from ``seen``.
    """

    task: str
    work: int
    token: bool
    outcome: str | None
    owner: str
    waited: bool
    seen: str | None
    mismatch: bool


def _observe(s: State) -> State:
    if s.outcome is None:
        return s
    if s.seen is None:
        return s._replace(seen=s.outcome)
    if s.seen != s.outcome:
        return s._replace(mismatch=True)
    return s


class TaskSpec(Spec[State, Constants]):
    """TaskHandle: poll / cancel / wait / close, with close joining the task's thread."""

    constants_type = Constants
    state_type = State

    def init_states(self) -> list[State]:
        return [State("spawned", 0, False, None, "active", False, None, False)]

    # -- the task's thread -----------------------------------------------------

    @action(fair=True, when={"task": "spawned"})
    def Start(self, s: State) -> State | None:
        """The task's thread starts running ``run(token)``."""
        return s._replace(task="run")

    @action(fair=True, when={"task": "run"})
    def Work(self, s: State) -> State | None:
        """One step of work (a cooperative task first checks the token)."""
        if s.work >= self.c.spins or (self.c.cooperative and s.token):
            return None
        return s._replace(work=s.work + 1)

    @action(fair=True, when={"task": "run"})
    def SeeCancel(self, s: State) -> State | None:
        """cooperative, token set: the task stops; its outcome says it was cancelled."""
        if not (self.c.cooperative and s.token):
            return None
        return s._replace(task="done", outcome="cancelled")

    @action(fair=True, when={"task": "run"})
    def Finish(self, s: State) -> State | None:
        """All work done: the task returns; the outcome is published."""
        if s.work < self.c.spins:
            return None
        return s._replace(task="done", outcome="value")

    @action(fair=True, when={"task": "run"})
    def Fail(self, s: State) -> State | None:
        """task_may_fail: the task raises; the outcome is published."""
        if not self.c.task_may_fail:
            return None
        return s._replace(task="done", outcome="error")

    @action(fair=True, when={"task": "done"})
    def ThreadEnds(self, s: State) -> State | None:
        """The task's thread ends after publishing."""
        return s._replace(task="dead")

    # -- the owner -------------------------------------------------------------

    @action(when={"owner": ("active", "closed")})
    def Poll(self, s: State) -> State | None:
        """poll(): pending, or the published outcome (never blocks)."""
        return _observe(s)

    @action(when={"owner": ("active", "closed")})
    def Cancel(self, s: State) -> State | None:
        """cancel(): set the token (sticky, idempotent; after close() it changes nothing)."""
        return s._replace(token=True)

    @action(fair=True, when={"owner": "active"})
    def Wait(self, s: State) -> State | None:
        """wait(): block until the outcome is published (once per run of the spec)."""
        if s.waited:
            return None
        return s._replace(owner="waiting")

    @action(fair=True, when={"owner": "waiting"})
    def WaitJoins(self, s: State) -> State | None:
        """The outcome is there: join the thread (bug: skip the join), return it."""
        if s.outcome is None:
            return None
        if not self.c.bug_close_without_join and s.task != "dead":
            return None
        return _observe(s._replace(owner="active", waited=True))

    @action(fair=True, when={"owner": "active"})
    def Close(self, s: State) -> State | None:
        """close(): cancel, then join (bug: return at once)."""
        if self.c.bug_close_without_join:
            return s._replace(token=True, owner="closed")
        return s._replace(token=True, owner="closing")

    @action(fair=True, when={"owner": "closing"})
    def CloseJoins(self, s: State) -> State | None:
        """The join in close() completes once the thread has ended."""
        if s.task != "dead":
            return None
        return s._replace(owner="closed")

    # -- properties ------------------------------------------------------------

    def is_final(self, s: State) -> bool:
        return s.owner == "closed" and s.task == "dead"

    def properties(self) -> list[Property[State]]:
        c = self.c
        props: list[Property[State]] = [
            Property.always(
                "close_joins",
                lambda s: s.owner != "closed" or s.task == "dead",
                "once close() returned, the task's thread has ended",
            ),
            Property.always(
                "wait_joins",
                lambda s: not s.waited or s.task == "dead",
                "once wait() returned, the task's thread has ended",
            ),
            Property.always(
                "same_outcome_every_time",
                lambda s: not s.mismatch,
                "every poll/wait after the outcome is published sees the same outcome",
            ),
            Property.leads_to(
                "close_returns",
                lambda s: s.owner == "closing",
                lambda s: s.owner == "closed",
                "a close() that was called returns (weak fairness of the task's steps)",
            ),
            Property.eventually(
                "task_thread_ends",
                lambda s: s.task == "dead",
                "the task's thread always ends",
            ),
            Property.sometimes(
                "pending_then_result",
                lambda s: s.seen is not None and s.owner == "closed",
            ),
        ]
        if c.cooperative and c.spins >= 1:
            props.append(
                Property.sometimes(
                    "cancel_seen_by_task",
                    lambda s: s.outcome == "cancelled" and s.work < c.spins,
                    "a cancel stops the task before it finished its work",
                )
            )
        if c.spins >= 1 and not c.bug_close_without_join:
            props.append(
                Property.sometimes(
                    "close_while_running",
                    lambda s: s.owner == "closing" and s.task == "run",
                    "close() waits for a task that is still running",
                )
            )
        return props


def build(**constants: object) -> TaskSpec:
    """The task spec with these constants (the rest default)."""
    return TaskSpec(Constants(**constants))  # type: ignore[arg-type]


DEFAULT_SIZES: list[Constants] = [
    Constants(spins=n, cooperative=coop) for n in (0, 1, 2, 3) for coop in (True, False)
]
