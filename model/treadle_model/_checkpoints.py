"""Where CPython can run a signal handler: the model's ``interrupt_main="anywhere"``.

CPython runs Python-level signal handlers (and so raises KeyboardInterrupt for
Ctrl-C) only on the main thread, and only where the interpreter loop checks
its "eval breaker": on entering a function or resuming a generator
(``RESUME``), on a loop's back-edge (``JUMP_BACKWARD``; on 3.11 also the
conditional backward jumps), and right after a call returns (the ``CALL``
family) - which includes every call into C, such as
a lock acquire or a queue put that returns. Blocking calls that are
interruptible (a timed lock acquire, ``sleep``) are the explorer's own
scheduling points and are interrupted there, as in the cheap mode.

The cheap mode (``interrupt_main=True``) interrupts only at scheduling points.
This module finds the other check points while an execution runs: a trace
function follows the frames the main (virtual) thread runs - the explored
function and everything it calls, except the model's own code and the
:mod:`treadle.sync` facade, which stand for C code in production - and counts
each check point, in the same numbering as the scheduling points. When the
count reaches the execution's interrupt point, it does what CPython does
there: calls the Python-level SIGINT handler (the default one raises
KeyboardInterrupt; a handler the code under test installed to defer the
interrupt runs instead), from inside the frame, so the exception appears
exactly where CPython would raise it.

The rules are computed once per code object with :mod:`dis` (see
:func:`check_rules`), so they follow the running interpreter's bytecode and
its version's quirks: 3.11 and 3.12 check a back-edge after jumping, 3.13
before (CPython issue #130279), and 3.12 ignores the first
``f_trace_opcodes`` a process sets until the next ``sys.settrace``
(``REARM_OPCODE_TRACE``). A check point the tracer cannot raise at with
CPython's exception handler is counted in ``lost`` and never interrupted.
"""

from __future__ import annotations

import dis
import gc
import os
import signal
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

__all__ = ["LOST", "POINT", "CheckPoints", "Rules", "check_rules", "misrouted_back_edges", "step"]

_CALLS = frozenset(name for name in ("CALL", "CALL_FUNCTION_EX", "CALL_KW") if name in dis.opmap)
# Backward jumps that check the eval breaker (not JUMP_BACKWARD_NO_INTERRUPT,
# which closes ``yield from``/``await`` loops). 3.11 also has conditional
# backward jumps: a ``while`` condition at the bottom of the loop.
_BACK_EDGES = frozenset(
    name
    for name in (
        "JUMP_BACKWARD",
        "POP_JUMP_BACKWARD_IF_FALSE",
        "POP_JUMP_BACKWARD_IF_TRUE",
        "POP_JUMP_BACKWARD_IF_NONE",
        "POP_JUMP_BACKWARD_IF_NOT_NONE",
    )
    if name in dis.opmap
)
# Up to 3.12 a back-edge jumps first and checks after, so the interrupt is
# raised with the frame just before the jump's target and the handler that
# covers that spot applies. 3.13 checks before the jump, at the jump itself -
# which a ``while`` condition's back-edge inside a ``try`` lies outside of on
# 3.13 (CPython issue #130279: the ``except`` does not run).
_CHECK_AFTER_JUMP = sys.version_info < (3, 13)


class Rules:
    """Where CPython checks the eval breaker in one code object, as tracer events.

    ``at``: raise at the ``opcode`` event of these offsets (the state and the
    exception handler there are the ones CPython's check sees).
    ``after``: raise at the ``opcode`` event of offset X only when the same
    frame's previous instruction was one of ``after[X]`` (X is also reached
    another way: a loop's first instruction after a taken back-edge).
    ``lost``: check points CPython has where the tracer cannot raise with
    CPython's exception handler (a call that ends a ``try``/``with`` body:
    the next instruction is outside it). They are counted and reported,
    never interrupted: raising at the next instruction would skip an
    ``except`` CPython runs, a failure that cannot happen.
    """

    __slots__ = ("after", "at", "lost")

    def __init__(
        self, at: frozenset[int], after: dict[int, frozenset[int]], lost: dict[int, frozenset[int]]
    ) -> None:
        self.at = at
        self.after = after
        self.lost = lost


_RULES: dict[CodeType, Rules] = {}


def _handler(table: list[Any], offset: int) -> int | None:
    """The exception handler that covers ``offset`` (its target), if any."""
    for entry in table:
        if entry.start <= offset < entry.end:
            return int(entry.target)
    return None


def check_rules(code: CodeType) -> Rules:
    """The eval-breaker check points of ``code`` on the running interpreter.

    A call: CPython checks after it returns, with the frame still at the
    ``CALL``, so the call's handler applies; the tracer raises at the next
    instruction, which is exact when that has the same handler. A back-edge:
    see ``_CHECK_AFTER_JUMP``; the tracer raises at the jump (before it runs:
    the same state, for an unconditional jump) or on arriving at its target.
    """
    found = _RULES.get(code)
    if found is not None:
        return found
    table = dis._parse_exception_table(code)  # type: ignore[attr-defined]
    instructions = list(dis.get_instructions(code))
    at: set[int] = set()
    after: dict[int, set[int]] = {}
    lost: dict[int, set[int]] = {}
    for i, ins in enumerate(instructions):
        if ins.opname in _CALLS and i + 1 < len(instructions):
            nxt = instructions[i + 1]
            if _handler(table, nxt.offset) != _handler(table, ins.offset):
                lost.setdefault(nxt.offset, set()).add(ins.offset)
            elif nxt.is_jump_target:
                after.setdefault(nxt.offset, set()).add(ins.offset)
            else:
                at.add(nxt.offset)
        elif ins.opname in _BACK_EDGES:
            target = int(ins.argval)
            if not _CHECK_AFTER_JUMP:
                at.add(ins.offset)
                continue
            wanted = _handler(table, target - 2)  # the code unit before the target
            if ins.opname == "JUMP_BACKWARD" and _handler(table, ins.offset) == wanted:
                at.add(ins.offset)
            elif _handler(table, target) == wanted:
                after.setdefault(target, set()).add(ins.offset)
            else:
                lost.setdefault(target, set()).add(ins.offset)
    found = _RULES[code] = Rules(
        frozenset(at),
        {x: frozenset(p) for x, p in after.items()},
        {x: frozenset(p) for x, p in lost.items()},
    )
    return found


POINT, LOST = 1, 2


def step(frame: FrameType, last: dict[FrameType, int]) -> int:
    """At an ``opcode`` event: POINT, LOST (see :class:`Rules`) or 0.

    ``last`` maps each traced frame to its previous instruction; this
    updates it (drop a frame from it at its ``return`` event)."""
    offset = frame.f_lasti
    prev = last.get(frame)
    last[frame] = offset
    rules = check_rules(frame.f_code)
    if offset in rules.at or prev in rules.after.get(offset, ()):
        return POINT
    if prev in rules.lost.get(offset, ()):
        return LOST
    return 0


def _effective(table: list[Any], opnames: dict[int, str], handler: int | None) -> int | None:
    """The first handler on the way out that is written in the source.

    The compiler also emits handlers of its own: a comprehension's (restores
    the iteration variable), a generator's (turns StopIteration into
    RuntimeError) and an ``except`` block's clean-up. They re-raise at once;
    what matters is the ``except``/``finally``/``with`` handler they lead to,
    which is the one whose first instruction is ``PUSH_EXC_INFO``."""
    seen: set[int] = set()
    while handler is not None and opnames.get(handler) != "PUSH_EXC_INFO":
        if handler in seen:
            return handler
        seen.add(handler)
        handler = _handler(table, handler)
    return handler


def misrouted_back_edges(code: CodeType) -> list[tuple[int, int | None, int | None]]:
    """Loop back-edges where a Ctrl-C skips a handler that covers the loop.

    A loop inside a ``try``/``with`` looks covered by it, but CPython raises
    an interrupt at a back-edge with the exception handler of a spot the
    compiler does not always put inside the try: 3.13 uses the jump's own
    (CPython issue #130279: the back-edge of ``while cond:`` and of a
    comprehension's ``if`` lies outside the try, so neither ``except``,
    ``finally`` nor a ``with``'s exit runs), 3.11 and 3.12 the code unit
    before the jump's target (CPython issue #108214). Returns ``(line, used,
    expected)`` for each back-edge where the handler CPython uses is not the
    one that covers the loop body (handler offsets, None for "none"). Write
    such a loop as ``while True: if not cond: break`` or a ``for`` loop.

    (The opposite case is not reported: a back-edge whose target no handler
    covers but whose interrupt CPython raises inside a ``try`` - the jump
    out of an ``except`` block on 3.12, a loop body that ends in a ``try`` on
    3.13 - runs a handler the source did not put there, once more. That is
    CPython's behaviour; the model and the interrupt sweep raise there with
    that handler, so the code is checked against it.)
    """
    table = dis._parse_exception_table(code)  # type: ignore[attr-defined]
    instructions = list(dis.get_instructions(code))
    opnames = {ins.offset: ins.opname for ins in instructions}
    found: list[tuple[int, int | None, int | None]] = []
    line = code.co_firstlineno
    for ins in instructions:
        if ins.starts_line and ins.positions is not None and ins.positions.lineno is not None:
            line = ins.positions.lineno
        if ins.opname not in _BACK_EDGES:
            continue
        target = int(ins.argval)
        spot = target - 2 if _CHECK_AFTER_JUMP else ins.offset
        used = _effective(table, opnames, _handler(table, spot))
        expected = _effective(table, opnames, _handler(table, target))
        if expected is not None and used != expected:
            found.append((line, used, expected))
    return found


# On 3.12 the first frame in a process to switch on ``f_trace_opcodes``
# (from its ``call`` event) gets no ``opcode`` events until sys.settrace
# runs again: the interpreter instruments code for opcode events at
# sys.settrace time, and only once it has seen a frame ask for them. So the
# first traced run in a fresh process saw only function entries (on CI:
# export.close counted 25 check points, not 65). Re-installing the same
# trace function once per new code object applies it at once. 3.11 and
# 3.13 do not need it (tests/interrupts: test_the_tracer_counts_a_first_run_fully).
REARM_OPCODE_TRACE = sys.version_info[:2] == (3, 12)


_MODEL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_OPAQUE: dict[str, bool] = {}


def _opaque(filename: str, sync_file: str) -> bool:
    """Code that stands for C in production: the engine's own modules and the facade.

    (Only the modules directly in the engine's package: code below it, such
    as scenario bodies, is explored code.)"""
    known = _OPAQUE.get(filename)
    if known is None:
        path = os.path.abspath(filename)
        known = _OPAQUE[filename] = (
            (path.startswith(_MODEL_DIR) and os.sep not in path[len(_MODEL_DIR) :])
            or path == sync_file
            or "greenlet" in path.split(os.sep)
            or filename.startswith("<frozen")
        )
    return known


def _where(frame: FrameType) -> str:
    filename = frame.f_code.co_filename
    try:
        shown = os.path.relpath(filename)
    except ValueError:
        shown = filename
    if shown.startswith(".."):
        shown = filename
    return f"{shown}:{frame.f_lineno} (in {frame.f_code.co_name})"


class CheckPoints:
    """Counts (and at one of them interrupts) the main thread's check points.

    ``on_point()`` is called at each one, in the main thread's frame; it
    returns True when the interrupt is due there. ``runner`` is the code of
    the model function that calls the main thread's body: frames it calls
    directly are where tracing starts.
    """

    __slots__ = ("_armed", "_injected", "_is_main", "_local", "_on_point", "_prev", "_runner",
                 "_sync_file", "_was", "frames", "lost")  # fmt: skip

    def __init__(
        self,
        runner: CodeType,
        sync_file: str,
        is_main: Callable[[], bool],
        on_point: Callable[[], bool],
        injected: Callable[[BaseException, str], None],
    ) -> None:
        self._local = self._trace_local  # one bound method: compared by identity below
        self._injected = injected
        self._runner = runner
        self._sync_file = sync_file
        self._is_main = is_main
        self._on_point = on_point
        self._was: Any = None
        self._prev: dict[FrameType, int] = {}  # each traced frame's last instruction
        self._armed: set[CodeType] = set()
        self.frames = 0
        self.lost: set[str] = set()  # check points passed that could not be interrupted

    def install(self) -> None:
        self._was = sys.gettrace()
        sys.settrace(self._call)

    def uninstall(self) -> None:
        sys.settrace(self._was)
        self._was = None
        self._prev.clear()

    def _interrupt(self, frame: FrameType) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if handler is signal.default_int_handler or handler is None:
            exc = KeyboardInterrupt()
            self._injected(exc, _where(frame))
            raise exc
        if callable(handler):
            # the code's own handler decides (it may defer the interrupt and
            # raise KeyboardInterrupt later, or raise now)
            self._injected(KeyboardInterrupt(), _where(frame))
            handler(signal.SIGINT, frame)
        # SIG_IGN / SIG_DFL: a Ctrl-C then does not raise in Python at all

    def _call(self, frame: FrameType, event: str, arg: object) -> Any:
        if event != "call":
            return None
        back = frame.f_back
        if back is None:
            return None
        if back.f_code is self._runner:
            if not self._is_main():
                return None
        elif back.f_trace is not self._local:
            return None  # called from code we do not follow (the model, another thread)
        code = frame.f_code
        if (
            _opaque(code.co_filename, self._sync_file)
            or code.co_name == "__del__"
            or any(getattr(cb, "__code__", None) is code for cb in gc.callbacks)
        ):
            # A finaliser (or a gc.callbacks hook, such as hypothesis's) runs
            # wherever the collector happens to run: its points would make
            # the numbering depend on gc timing (and the same schedule replay
            # differently). CPython prints and drops an exception raised in
            # one ("Exception ignored in"), so a Ctrl-C landing there is
            # lost, not raised - for every finaliser.
            return None
        self.frames += 1
        frame.f_trace_lines = False
        frame.f_trace_opcodes = True
        frame.f_trace = self._local
        if REARM_OPCODE_TRACE and code not in self._armed:
            self._armed.add(code)
            sys.settrace(self._call)
        if self._on_point():  # function entry / generator resumption
            self._interrupt(frame)
        return self._local

    def _trace_local(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            found = step(frame, self._prev)
            if found == POINT:
                if self._on_point():
                    self._interrupt(frame)
            elif found == LOST:
                self.lost.add(_where(frame))
        elif event == "return":
            self._prev.pop(frame, None)
        return self._local
