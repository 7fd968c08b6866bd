"""TaskHandle: the real spawn / poll / wait / cancel / close, conforming to the ``task`` spec.

Each scenario spawns one task (named ``"task"``) on its own thread under the
model, drives its handle from the model's main thread, and ends with
``close()``. The task is one of:

* ``returns``: returns :data:`VALUE` at once, never looking at its token;
* ``raises``: raises :class:`TaskFailed` at once;
* ``cooperative``: ``spins`` steps, each first checking the token; when it
  sees the cancellation it returns how many steps it did (``partial``) or
  raises :class:`~treadle.Cancelled` (``raise_if_cancelled``); otherwise it
  returns ``spins``;
* ``stubborn``: ``spins`` steps without ever looking at the token;
* ``sleeper``: ``spins`` naps of ``token.wait(0.01)``, which returns early
  when the task is cancelled; then it returns how many naps it completed
  (a timed wait: under the model it ends when nothing else can run, or at
  once on a cancel);
* ``until_cancelled``: waits on its token (no timeout) and returns
  :data:`VALUE` once cancelled (a spinning task, without the spin).

and the owner does one of:

* ``wait``: ``wait()``, then ``close()``;
* ``cancel``: ``cancel()`` at once (before or while the task runs), then
  ``wait()``, then ``close()``;
* ``close``: ``close()`` at once, on a task that may still be running;
* ``timeouts``: ``poll()``, then ``wait(timeout=...)`` (explored with
  ``timeouts="always"``, so the timeout may fire at any moment), then
  ``close()``;
* ``c_api``: the C-style surface of :func:`~treadle.export_task`: ``spawn``,
  ``poll``, ``cancel``, ``cancelled``, ``wait``, ``result_value``,
  ``result_destroy``, then ``close()`` of the exports.

Each body asserts, on the real code, after ``close()`` returns: the task's
thread is joined (``treadle_model.unload()``); every ``poll``/``wait`` saw
either ``PENDING`` (before the end) or the one outcome, the same value or
the same exception object every time, also after close; the outcome is the
one the task can produce given whether and when it was cancelled; a
``wait(timeout)`` that raised ``TimeoutError`` left a task that was still
running; the C surface frees what it issued.

The explorer adds: no deadlock, no lost wakeup, no leaked thread, no
exception; and the conformance monitor replays every execution's events
through the ``task`` spec built with the scenario's constants (see
:func:`mapping`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from treadle import sync
from treadle.task import (
    PENDING,
    CancellationToken,
    Cancelled,
    TaskHandle,
    clear_last_error,
    export_task,
    last_error_message,
)
from treadle_model import unload
from treadle_spec import task as task_spec
from treadle_verify.conformance import ActionMatch, Mapping, any_of, match
from treadle_verify.protocols import Preset, ProtocolCheck, Scenario

__all__ = [
    "CHECK",
    "NAME",
    "VALUE",
    "Config",
    "TaskFailed",
    "body",
    "mapping",
    "scenario",
    "scenarios",
    "spec_sizes",
]

NAME = "task"
"""The task's name (its thread's name too, and the ``task`` field of its events)."""

VALUE = 42
"""What a ``returns`` task returns."""

Impl = type[TaskHandle[Any]]
Kind = Literal["returns", "raises", "cooperative", "stubborn", "sleeper", "until_cancelled"]
Owner = Literal["wait", "cancel", "close", "timeouts", "c_api"]


class TaskFailed(Exception):
    """Raised by a ``raises`` task."""


# -- the mapping -------------------------------------------------------------------------

# Spec actions the impl does not announce: the task's own steps, and the
# owner blocking in wait() (its end is announced by the join, or not at all
# when the wait timed out or the C surface's wait left the join to close()).
_INTERNAL = frozenset({"Work", "Wait"})


def _internal(action: Any) -> bool:
    return action.name in _INTERNAL


def mapping(constants: dict[str, Any]) -> Mapping:
    """How one task's events map onto the ``task`` spec built with ``constants``.

    ========================================  =======================================
    impl event                                spec action
    ========================================  =======================================
    ``task.started``                          ``Start``
    ``task.done(ok=True)``                    ``Finish`` or ``SeeCancel``
    ``task.done(ok=False)``                   ``Fail`` or ``SeeCancel`` (``Cancelled``)
    ``threads.exited`` of the task's thread   ``ThreadEnds``
    ``task.cancel``                           ``Cancel`` or ``Close`` (close cancels)
    ``task.joined(by="wait")``                ``WaitJoins``
    ``task.closed``                           ``CloseJoins``
    ========================================  =======================================

    Internal (taken freely between events): ``Work`` and ``Wait``. Ignored:
    ``task.spawned`` (the spec starts there), ``task.joined(by="close")``
    (part of ``CloseJoins``), the C surface's handle bookkeeping
    (``handle_created``, ``handle_freed``, ``result_created``,
    ``result_freed``, ``misuse``), ``threads.spawned``, and events of other
    protocols. An unknown ``task.*`` event fails the execution. A scenario
    has one task, so events are not filtered by its name (the C surface
    names it ``task-<n>``).
    """
    spec_constants = dict(constants)

    def translate(event: str, fields: dict[str, Any]) -> Sequence[ActionMatch] | None:
        if event == "threads.exited":
            # The scenario's only thread besides main is the task's.
            return [match("ThreadEnds")]
        if not event.startswith("task."):
            return None
        if event in (
            "task.handle_created",
            "task.handle_freed",
            "task.result_created",
            "task.result_freed",
            "task.misuse",
        ):
            return None
        # One task per scenario: its label is NAME, or task-<n> for the C surface.
        if event == "task.spawned":
            return None
        if event == "task.started":
            return [match("Start")]
        if event == "task.done":
            if fields.get("ok"):
                return [any_of(match("Finish"), match("SeeCancel"))]
            return [any_of(match("Fail"), match("SeeCancel"))]
        if event == "task.cancel":
            return [any_of(match("Cancel"), match("Close"))]
        if event == "task.joined":
            return [match("WaitJoins")] if fields.get("by") == "wait" else None
        if event == "task.closed":
            return [match("CloseJoins")]
        raise AssertionError(f"task mapping: unknown task event {event!r}")

    shown = ", ".join(f"{k}={v}" for k, v in spec_constants.items())
    spec = task_spec.build(**spec_constants)  # immutable: one per scenario
    return Mapping(
        spec=lambda: spec,
        translate=translate,
        internal=_internal,
        name=f"task({shown})",
    )


# -- scenario bodies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One scenario's configuration.

    kind / spins: what the task does (see the module docs). raise_if_cancelled:
    a cooperative task raises :class:`~treadle.Cancelled` instead of returning
    its partial count. owner: what the owner does. spurious: explore with
    ``spurious_wakeups=True``.
    """

    kind: Kind
    owner: Owner
    spins: int = 0
    raise_if_cancelled: bool = False
    spurious: bool = False
    proves: str = field(default="", compare=False)

    def spec_constants(self) -> dict[str, Any]:
        return {
            "spins": self.spins,
            "cooperative": self.kind in ("cooperative", "sleeper", "until_cancelled"),
            "task_may_fail": self.kind == "raises",
        }

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.owner == "timeouts":
            out["timeouts"] = "always"
        if self.spurious:
            out["spurious_wakeups"] = True
        return out

    def describe(self) -> str:
        task: str = self.kind
        if self.kind in ("cooperative", "stubborn", "sleeper"):
            task += f" spins={self.spins}"
        if self.raise_if_cancelled:
            task += " raising Cancelled"
        owner = {
            "wait": "owner waits then closes",
            "cancel": "owner cancels at once, waits, closes",
            "close": "owner closes at once",
            "timeouts": "owner polls, waits with a timeout, closes",
            "c_api": "C surface: spawn poll cancel wait destroy",
        }[self.owner]
        parts = [task, owner]
        if self.spurious:
            parts.append("spurious wakeups")
        return ", ".join(parts)


class _Seen:
    """What the owner observed: each poll/wait, as ``("value", v)`` or ``("error", e)``."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, object]] = []

    def poll(self, handle: TaskHandle[Any]) -> None:
        try:
            value = handle.poll()
        except BaseException as exc:  # the task's own exception, re-raised by poll
            self.outcomes.append(("error", exc))
        else:
            if value is not PENDING:
                self.outcomes.append(("value", value))

    def wait(self, handle: TaskHandle[Any], timeout: float | None = None) -> bool:
        """True when wait returned or raised the task's outcome, False on TimeoutError."""
        try:
            value = handle.wait(timeout)
        except TimeoutError:
            return False
        except BaseException as exc:
            self.outcomes.append(("error", exc))
        else:
            self.outcomes.append(("value", value))
        return True


def _task_fn(config: Config) -> Callable[[CancellationToken], object]:
    spins = config.spins

    def returns(token: CancellationToken) -> object:
        return VALUE

    def raises(token: CancellationToken) -> object:
        raise TaskFailed("oops")

    def cooperative(token: CancellationToken) -> object:
        done = 0
        while done < spins:
            if config.raise_if_cancelled:
                token.raise_if_cancelled()
            elif token.cancelled():
                return done
            done += 1
        return done

    def stubborn(token: CancellationToken) -> object:
        work = sync.Cell(0)  # each step is a scheduling point, like real work
        for _ in range(spins):
            work.set(work.get() + 1)
        return work.get()

    def sleeper(token: CancellationToken) -> object:
        for naps in range(spins):
            if token.wait(0.01):
                return naps
        return spins

    def until_cancelled(token: CancellationToken) -> object:
        token.wait()
        return VALUE

    kinds: dict[str, Callable[[CancellationToken], object]] = {
        "returns": returns,
        "raises": raises,
        "cooperative": cooperative,
        "stubborn": stubborn,
        "sleeper": sleeper,
        "until_cancelled": until_cancelled,
    }
    return kinds[config.kind]


def body(config: Config, impl: Impl = TaskHandle) -> Callable[[], None]:
    """Spawn one ``impl`` task, drive it as configured, close it, check what happened."""
    fn = _task_fn(config)

    def check_outcomes(seen: _Seen) -> None:
        assert seen.outcomes, "the owner never saw the outcome"
        first = seen.outcomes[0]
        for later in seen.outcomes[1:]:
            # The same value, or the very same exception object, every time.
            assert later[0] == first[0] and (
                later[1] is first[1] if first[0] == "error" else later[1] == first[1]
            ), seen.outcomes
        kind, value = first
        if config.kind in ("returns", "until_cancelled"):
            assert first == ("value", VALUE), first
        elif config.kind == "raises":
            assert kind == "error" and isinstance(value, TaskFailed), first
        elif config.kind == "stubborn":
            assert first == ("value", config.spins), first
        elif config.raise_if_cancelled:
            if kind == "error":
                assert isinstance(value, Cancelled), first
            else:
                assert value == config.spins, first
        else:
            assert kind == "value" and isinstance(value, int), first
            assert 0 <= value <= config.spins, first

    def run_handle() -> None:
        seen = _Seen()
        handle = impl(fn, name=NAME)
        if config.owner == "wait":
            assert seen.wait(handle)
            handle.close()
        elif config.owner == "cancel":
            handle.cancel()
            assert handle.cancelled()
            assert seen.wait(handle)
            handle.close()
        elif config.owner == "close":
            handle.close()
        else:  # timeouts
            seen.poll(handle)
            if not seen.wait(handle, timeout=1.0):
                # Timed out: the task keeps running; waiting again gets its outcome.
                assert seen.wait(handle)
            handle.close()
        unload("close returned")
        assert handle.done(), "close() returned before the task finished"
        assert handle.cancelled(), "close() did not cancel the task"
        seen.poll(handle)  # after close: still the same outcome
        check_outcomes(seen)

    def run_c_api() -> None:
        class Job:
            def run(self, token: CancellationToken) -> object:
                return fn(token)

        # The model keeps one backend for a whole exploration, and treadle.task
        # one thread-local error slot per backend: start each execution clean.
        clear_last_error()
        exports = export_task(Job, name="job")
        handle = exports.spawn(Job())
        assert isinstance(handle, int), last_error_message()
        first = exports.poll(handle)  # a result handle, or None while pending
        assert first is not None or last_error_message() is None or config.kind == "raises"
        if first is not None:
            exports.result_destroy(first)
        exports.cancel(handle)
        assert exports.cancelled(handle) == 1
        result = exports.wait(handle)  # frees the task handle, joins its thread
        unload("wait returned")
        if config.kind == "raises":
            assert result is None and last_error_message() == "oops"
        else:
            assert result is not None, last_error_message()
            value = exports.result_value(result)
            if config.kind == "returns":
                assert value == VALUE, value
            else:
                assert isinstance(value, int) and 0 <= value <= config.spins, value
            exports.result_destroy(result)
        assert exports.poll(handle) is None  # freed by wait: misuse, reported
        assert "already freed" in (last_error_message() or "")
        stats = exports.statistics()
        assert stats.live_handles == 0 and stats.live_results == 0, stats
        exports.close()

    run = run_c_api if config.owner == "c_api" else run_handle
    run.__qualname__ = f"task body [{config.describe()}]"
    return run


# -- the scenarios -----------------------------------------------------------------------


def _configs(preset: Preset) -> list[Config]:
    quick = [
        Config(
            "returns",
            "wait",
            proves="wait returns the value after the thread is joined; poll after close "
            "returns the same value",
        ),
        Config(
            "cooperative",
            "close",
            spins=2,
            proves="close() on a running task cancels it and returns only after its thread "
            "ended; the task saw the cancel between its steps",
        ),
    ]
    default = [
        *quick,
        Config(
            "raises",
            "wait",
            proves="the task's exception is raised by wait and by every later poll: the same "
            "object each time; the thread is joined",
        ),
        Config(
            "cooperative",
            "cancel",
            spins=2,
            proves="cancelled before it starts or between any two steps: it returns what it "
            "did so far (or all of it); wait and close join",
        ),
        Config(
            "cooperative",
            "cancel",
            spins=2,
            raise_if_cancelled=True,
            proves="cancelled before or while it runs: Cancelled or its full result, never "
            "anything else; wait and close join",
        ),
        Config(
            "stubborn",
            "close",
            spins=2,
            proves="close() on a task that ignores its token waits for it to finish",
        ),
        Config(
            "sleeper",
            "close",
            spins=2,
            proves="close() wakes a task napping on its token at once; joined",
        ),
        Config(
            "until_cancelled",
            "close",
            proves="close() ends a task that runs until it is cancelled, and joins it",
        ),
        Config(
            "sleeper",
            "wait",
            spins=2,
            proves="a task whose naps time out runs to its end; wait returns its result",
        ),
        Config(
            "cooperative",
            "timeouts",
            spins=2,
            proves="poll never blocks; wait(timeout) may time out at any moment (the task "
            "keeps running; waiting again gets the outcome) or return it; close still joins",
        ),
        Config(
            "stubborn",
            "timeouts",
            spins=1,
            proves="timeouts anywhere against a task that ignores its token: close joins",
        ),
        Config(
            "cooperative",
            "c_api",
            spins=1,
            proves="the C surface: poll null while pending, cancel, wait frees the handle and "
            "joins, result freed; freed handles are reported, nothing leaks",
        ),
        Config(
            "raises",
            "c_api",
            proves="the C surface reports the task's error as the thread's last error",
        ),
        Config(
            "cooperative",
            "wait",
            spins=1,
            spurious=True,
            proves="spurious wakeups change nothing: wait returns the one outcome, joined",
        ),
        Config(
            "sleeper",
            "cancel",
            spins=1,
            spurious=True,
            proves="spurious wakeups change nothing: a cancelled nap still ends the task",
        ),
    ]
    if preset == "quick":
        return quick
    if preset == "default":
        return default
    return [
        *default,
        Config("cooperative", "cancel", spins=4, proves="cancel at any step of four"),
        Config(
            "cooperative",
            "cancel",
            spins=4,
            raise_if_cancelled=True,
            proves="cancel at any step of four: Cancelled or the full result",
        ),
        Config("cooperative", "close", spins=4, proves="close at any step of four"),
        Config("sleeper", "close", spins=3, proves="close during any nap of three"),
        Config("stubborn", "timeouts", spins=3, proves="timeouts anywhere, three steps"),
        Config("returns", "c_api", proves="the C surface delivers the value"),
        Config("raises", "cancel", spurious=True, proves="spurious wakeups change nothing"),
    ]


def scenario(config: Config, impl: Any = None, *, spec: dict[str, Any] | None = None) -> Scenario:
    """The scenario for ``config`` against ``impl``; ``spec`` overrides spec constants."""
    cls: Impl = impl if impl is not None else TaskHandle
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
    """The task scenarios explored at ``preset`` against ``impl`` (default: TaskHandle)."""
    return [scenario(c, impl) for c in _configs(preset)]


def spec_sizes(preset: Preset) -> list[dict[str, Any]]:
    """The ``task`` spec sizes checked at ``preset``."""
    sizes = [
        dict(spins=n, cooperative=coop, task_may_fail=fail)
        for n in (0, 1, 2)
        for coop in (True, False)
        for fail in (True, False)
    ]
    if preset == "quick":
        return [s for s in sizes if s["spins"] <= 1]
    if preset == "default":
        return sizes
    return [
        *sizes,
        *(
            dict(spins=n, cooperative=coop, task_may_fail=True)
            for n in (3, 4, 6)
            for coop in (True, False)
        ),
    ]


CHECK = ProtocolCheck(
    name="task",
    spec="task",
    spec_sizes=spec_sizes,
    scenarios=scenarios,
    summary="TaskHandle: poll / wait / cancel / close, with close joining the task's thread",
)
