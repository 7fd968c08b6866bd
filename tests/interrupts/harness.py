"""Raise KeyboardInterrupt at every signal check point treadle's code has.

CPython runs a pending signal handler on the main thread only where its
interpreter loop checks the "eval breaker": a function's entry (``RESUME``),
a loop's back-edge, right after a call returns (the end of the ``CALL``
family), and inside a blocking call that gets ``EINTR``. The tracer below
counts, on the main thread and in treadle's own modules only (not in
finalisers), the same places, with the rules of the running interpreter
(``treadle_model._checkpoints.check_rules``, shared with the model's
``interrupt_main="anywhere"``):

* ``call`` events of non-generator code (function entry);
* back-edges: ``JUMP_BACKWARD`` and, on 3.11, the conditional backward
  jumps that close a ``while`` loop (when taken). Up to 3.12 CPython checks
  after jumping, so the handler that covers the loop's head applies; 3.13
  checks at the jump, where a ``while`` loop in a ``try`` is outside the
  ``try`` (CPython issue #130279), and the tracer follows suit;
* the instruction right after a ``CALL`` (the call has returned; counted
  after Python calls too, which is stricter than CPython), when that
  instruction has the CALL's exception handler. At the end of a
  ``try``/``with`` body it does not: raising there would skip an ``except``
  CPython runs, so such a point is *lost* - reported in ``Sweep.lost``,
  never interrupted.

Run ``op`` twice without interrupts to learn the number of points
``total`` (the larger count: real threads may take a slightly different
path); then for each ``n`` in ``1..total`` run it again and raise
:class:`Injected` (a ``KeyboardInterrupt``) at the ``n``-th point. On 3.12
the tracer re-installs itself once per new code object
(``REARM_OPCODE_TRACE``), or a fresh process's first count would miss every
opcode event. A blocking call interrupted by a real signal is not swept
here: the tests that send real SIGINTs (``tests/unit/_signals.py``'s users,
``test_loop_handlers.py``) cover it.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

import treadle
from treadle_model._checkpoints import LOST, POINT, REARM_OPCODE_TRACE, step

TREADLE_DIR = os.path.dirname(os.path.abspath(treadle.__file__)) + os.sep
_GENERATOR_FLAGS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coro, async gen


class Injected(KeyboardInterrupt):
    """The interrupt the harness raises (a real KeyboardInterrupt)."""


def _in_finaliser(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (at a garbage collection).

    A finaliser runs wherever the collector happens to run, so its check
    points are not the operation's: counting them would make the sweep
    depend on gc timing. CPython also never propagates an exception out of
    a finaliser (it prints "Exception ignored in"), so a KeyboardInterrupt
    delivered there is lost, not raised; that is CPython's behaviour for
    every finaliser, and the README says so.
    """
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


@dataclass
class _Counter:
    raise_at: int  # 0: never
    seen: int = 0
    where: list[str] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)
    prev: dict[FrameType, int] = field(default_factory=dict)
    armed: set[CodeType] = field(default_factory=set)

    def _hit(self, frame: FrameType) -> None:
        self.seen += 1
        if self.seen == self.raise_at:
            self.where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            raise Injected(f"injected at check point {self.seen}")

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if not code.co_filename.startswith(TREADLE_DIR) or _in_finaliser(frame):
            return None
        frame.f_trace_opcodes = True
        frame.f_trace = self.local_trace
        if REARM_OPCODE_TRACE and code not in self.armed:
            self.armed.add(code)
            sys.settrace(self.global_trace)
        if event == "call" and not code.co_flags & _GENERATOR_FLAGS:
            self._hit(frame)
        return self.local_trace

    def local_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            found = step(frame, self.prev)
            if found == POINT:
                self._hit(frame)
            elif found == LOST:
                self.lost.add(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}")
        elif event == "return":
            self.prev.pop(frame, None)
        return self.local_trace


def run_traced(
    op: Callable[[], Any], raise_at: int, lost: set[str] | None = None
) -> tuple[int, BaseException | None, Any]:
    """Run ``op`` with the tracer; return (points seen, exception, result).

    Check points the tracer passed but cannot interrupt with CPython's
    exception handler (see ``treadle_model._checkpoints.Rules``) are added
    to ``lost``."""
    assert threading.current_thread() is threading.main_thread()
    counter = _Counter(raise_at)
    if lost is not None:
        counter.lost = lost
    error: BaseException | None = None
    result: Any = None
    sys.settrace(counter.global_trace)
    try:
        result = op()
    except BaseException as exc:
        error = exc
    finally:
        sys.settrace(None)
    return counter.seen, error, result


class ThreadErrors:
    """Collect exceptions that escape threads (threading.excepthook)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._previous: Any = None

    def __enter__(self) -> ThreadErrors:
        self._previous = threading.excepthook

        def hook(args: Any) -> None:
            self.errors.append(f"{args.thread.name}: {args.exc_type.__name__}: {args.exc_value}")

        threading.excepthook = hook
        return self

    def __exit__(self, *exc: object) -> None:
        threading.excepthook = self._previous


def alive_new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


def _globals() -> dict[str, Any]:
    """Process-global settings treadle changes for a while and must restore."""
    import logging

    return {
        "threading.stack_size()": threading.stack_size(),
        "threading.excepthook": threading.excepthook,
        "logging.Logger.handle": logging.Logger.handle,
    }


def _globals_changed(before: dict[str, Any]) -> list[str]:
    now = _globals()
    changed = [
        name for name, value in before.items() if now[name] is not value and now[name] != value
    ]
    for name in changed:  # put it back, so one failure does not cascade
        if name == "threading.stack_size()":
            threading.stack_size(before[name])
        elif name == "threading.excepthook":
            threading.excepthook = before[name]
        else:
            import logging

            logging.Logger.handle = before[name]  # type: ignore[method-assign]
    return changed


@dataclass
class Sweep:
    """Outcome of sweeping one operation: how many points, how runs ended."""

    name: str
    points: int
    interrupted: int = 0
    completed: int = 0
    failures: list[str] = field(default_factory=list)
    # Check points passed that cannot be interrupted with CPython's handler
    # (a call that ends a try/with body): file:line, reported, not swept.
    lost: list[str] = field(default_factory=list)


Scenario = Callable[[], tuple[Callable[[], Any], Callable[[BaseException | None, Any], None]]]
"""Returns (op, after): ``op`` is traced; ``after(error, result)`` runs
untraced, joins what the API allows and asserts the promises."""


def sweep(name: str, scenario: Scenario, *, stride: int = 1, leak_grace: float = 5.0) -> Sweep:
    # Threads are counted from before the scenario's set-up: after() must
    # leave nothing of what the scenario started, interrupted or not.
    before = set(threading.enumerate())
    op, after = scenario()
    lost: set[str] = set()
    total, error, result = run_traced(op, 0, lost)
    if error is not None:
        raise AssertionError(f"{name}: the run without interrupts raised {error!r}") from error
    after(None, result)
    # A second run without interrupts: on real threads a scenario may take
    # a slightly different path (a task already finished, or not yet), so
    # the sweep covers the larger count; points a run does not reach count
    # as completed. (That the tracer sees a code object's first run fully,
    # which a single count could hide, is tested on its own:
    # test_the_tracer_counts_a_first_run_fully.)
    op, after = scenario()
    again, error, result = run_traced(op, 0)
    if error is not None:
        raise AssertionError(f"{name}: the run without interrupts raised {error!r}") from error
    after(None, result)
    total = max(total, again)
    leaked = alive_new_threads(before)
    if leaked:
        raise AssertionError(f"{name}: threads alive after the run without interrupts: {leaked}")
    result_sweep = Sweep(name, total)
    for n in range(1, total + 1, stride):
        before = set(threading.enumerate())
        globals_before = _globals()
        with ThreadErrors() as escaped, warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always", ResourceWarning)
            op, after = scenario()
            _, error, result = run_traced(op, n, lost)
            problem: str | None = None
            if error is not None and not isinstance(error, KeyboardInterrupt):
                problem = f"raised {type(error).__name__}: {error} (not KeyboardInterrupt)"
            try:
                after(error, result)
            except BaseException as exc:
                problem = problem or f"after(): {type(exc).__name__}: {exc}"
            leaked = alive_new_threads(before)
            interrupted = error is not None
            # Whatever the operation made and did not close shows up as a
            # ResourceWarning once the last reference (often the traceback)
            # is gone: an interrupt must not leave a Sender unclosed.
            op = after = error = result = None  # type: ignore[assignment]
            gc.collect()
        unclosed = [str(w.message) for w in warned if issubclass(w.category, ResourceWarning)]
        if unclosed and problem is None:
            problem = f"left unclosed: {unclosed}"
        changed = _globals_changed(globals_before)
        if changed and problem is None:
            problem = f"process-global state left changed: {changed}"
        if leaked and problem is None:
            problem = f"threads alive after the operation: {leaked}"
        if escaped.errors and problem is None:
            problem = f"exceptions escaped threads: {escaped.errors}"
        if problem is not None:
            result_sweep.failures.append(f"point {n}: {problem}")
            # Do not let one leak poison the next runs' thread checks.
            for t in threading.enumerate():
                if t not in before and t.is_alive():
                    t.join(leak_grace)
        if not interrupted:
            result_sweep.completed += 1
        else:
            result_sweep.interrupted += 1
    result_sweep.lost = sorted(lost)
    return result_sweep
