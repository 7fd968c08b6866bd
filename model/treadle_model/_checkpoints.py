"""Where CPython can run a signal handler: the model's ``interrupt_main="anywhere"``.

CPython runs Python-level signal handlers (and so raises KeyboardInterrupt for
Ctrl-C) only on the main thread, and only where the interpreter loop checks
its "eval breaker": on entering a function or resuming a generator
(``RESUME``), on a loop's back-edge (``JUMP_BACKWARD``), and right after a
call returns (the ``CALL`` family) - which includes every call into C, such as
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

Offsets are computed once per code object with :mod:`dis`, so the rule follows
the running interpreter's bytecode on 3.11, 3.12 and 3.13.
"""

from __future__ import annotations

import dis
import os
import signal
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

__all__ = ["CheckPoints"]

_CALLS = frozenset(name for name in ("CALL", "CALL_FUNCTION_EX", "CALL_KW") if name in dis.opmap)
_BACK_EDGES = frozenset(name for name in ("JUMP_BACKWARD",) if name in dis.opmap)

_OFFSETS: dict[CodeType, frozenset[int]] = {}

_MODEL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _handler(table: list[Any], offset: int) -> int | None:
    """The exception handler that covers ``offset`` (its target), if any."""
    for entry in table:
        if entry.start <= offset < entry.end:
            return int(entry.target)
    return None


def _offsets(code: CodeType) -> frozenset[int]:
    """The instruction offsets in ``code`` where the eval breaker is checked.

    CPython checks after a call returns while the frame is still at the
    ``CALL``, so the ``CALL``'s exception handler applies. The trace function
    can only raise at the next instruction, which is the same only when both
    have the same handler: at the end of a ``try`` body (``return f()``
    inside a ``try``, say) they differ, and raising there would let the
    interrupt skip an ``except`` that CPython runs - a failure that cannot
    happen. Those points are left out (the call's callee has its own points
    just before it returns).
    """
    found = _OFFSETS.get(code)
    if found is None:
        table = dis._parse_exception_table(code)  # type: ignore[attr-defined]
        points: set[int] = set()
        call: dis.Instruction | None = None
        for ins in dis.get_instructions(code):
            if call is not None and _handler(table, call.offset) == _handler(table, ins.offset):
                points.add(ins.offset)
            if ins.opname in _BACK_EDGES:
                points.add(ins.offset)
            call = ins if ins.opname in _CALLS else None
        found = _OFFSETS[code] = frozenset(points)
    return found


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

    __slots__ = ("_injected", "_is_main", "_local", "_on_point", "_runner", "_sync_file", "_was",
                 "frames")  # fmt: skip

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
        self.frames = 0

    def install(self) -> None:
        self._was = sys.gettrace()
        sys.settrace(self._call)

    def uninstall(self) -> None:
        sys.settrace(self._was)
        self._was = None

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
        if _opaque(code.co_filename, self._sync_file) or code.co_name == "__del__":
            # A finaliser runs wherever the collector happens to run: its
            # points would make the numbering depend on gc timing (and the
            # same schedule replay differently). CPython prints and drops an
            # exception raised in one ("Exception ignored in"), so a Ctrl-C
            # landing there is lost, not raised - for every finaliser.
            return None
        self.frames += 1
        frame.f_trace_lines = False
        frame.f_trace_opcodes = True
        frame.f_trace = self._local
        if self._on_point():  # function entry / generator resumption
            self._interrupt(frame)
        return self._local

    def _trace_local(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode" and frame.f_lasti in _offsets(frame.f_code) and self._on_point():
            self._interrupt(frame)
        return self._local
