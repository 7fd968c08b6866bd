"""A Ctrl-C at a loop's back-edge reaches the handler that covers the loop.

CPython checks for signals at every loop back-edge, and raises the
KeyboardInterrupt with the exception handler of a spot the compiler does not
always put inside the surrounding ``try``/``with``: on 3.13 the back-edge of
``while cond:`` and of a loop or comprehension ending in an ``if`` lies
outside it (CPython issue #130279), so the ``except``, the ``finally`` and a
``with``'s exit are all skipped - a lock stays held, an interrupt meant to be
held back escapes. :func:`misrouted_back_edges` predicts this from the
bytecode; the tests here check the prediction against real SIGINTs, on the
running interpreter, and then check every loop in treadle with it.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import CodeType

import pytest

import treadle
from treadle_model._checkpoints import misrouted_back_edges

# Each shape spins until a real SIGINT arrives; the spin's back-edge is its
# only check point (no call in the loop), so that is where CPython raises.
SHAPES = {
    "while_cond_in_try": """
        def shape(a, lock):
            try:
                while not a.stop:
                    a.spins += 1
            except KeyboardInterrupt:
                return "caught"
    """,
    "while_true_break_in_try": """
        def shape(a, lock):
            try:
                while True:
                    if a.stop:
                        break
                    a.spins += 1
            except KeyboardInterrupt:
                return "caught"
    """,
    "for_ending_in_if_in_with": """
        def shape(a, lock):
            try:
                with lock:
                    for _ in a.forever:
                        a.spins += 1
                        if a.stop:
                            a.found.append(1)
            finally:
                return "caught" if not lock.locked() else "lock held"
    """,
}

CHILD = """
import itertools, json, os, signal, sys, threading
from treadle_model._checkpoints import misrouted_back_edges

class A:
    stop = False
    spins = 0
    forever = itertools.repeat(None)
    found = []

a = A()
lock = threading.Lock()
namespace = {}
exec(compile(sys.argv[1], "<shape>", "exec"), namespace)
shape = namespace["shape"]

def kick():
    while a.spins < 20000:  # the main thread is in the loop, not before it
        pass
    os.kill(os.getpid(), signal.SIGINT)

predicted = bool(misrouted_back_edges(shape.__code__))
threading.Thread(target=kick, daemon=True).start()
try:
    outcome = shape(a, lock)
except KeyboardInterrupt:
    outcome = "escaped" + (" with the lock held" if lock.locked() else "")
print(json.dumps({"predicted_misrouted": predicted, "outcome": outcome}))
"""


def _run(shape: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, textwrap.dedent(SHAPES[shape])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_prediction_matches_a_real_sigint(shape: str) -> None:
    result = _run(shape)
    if result["predicted_misrouted"]:
        assert str(result["outcome"]).startswith("escaped"), result
    else:
        assert result["outcome"] == "caught", result


def test_the_checker_flags_the_shape_cpython_misroutes() -> None:
    # The deliberately broken input: on 3.13 `while cond:` in a try is
    # misrouted, and a comprehension ending in `if` inside `with` leaves the
    # lock held. On 3.11 and 3.12 neither is; the checker must say so too.
    namespace: dict[str, object] = {}
    exec(textwrap.dedent(SHAPES["while_cond_in_try"]), namespace)
    code = namespace["shape"].__code__  # type: ignore[attr-defined]
    assert bool(misrouted_back_edges(code)) == (sys.version_info >= (3, 13))
    if sys.version_info >= (3, 13):
        assert _run("for_ending_in_if_in_with")["outcome"] == "escaped with the lock held"


def _codes(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def test_no_loop_in_treadle_lets_a_ctrl_c_skip_its_handler() -> None:
    found = []
    modules = 0
    for info in pkgutil.walk_packages(treadle.__path__, "treadle."):
        module = importlib.import_module(info.name)
        path = Path(str(module.__file__))
        modules += 1
        for code in _codes(compile(path.read_text(), str(path), "exec")):
            for line, used, expected in misrouted_back_edges(code):
                found.append(
                    f"{path.name}:{line} in {code.co_name}: a Ctrl-C at this back-edge "
                    f"goes to handler {used}, not {expected}, which covers the loop"
                )
    assert modules > 5, "walked no treadle modules"
    assert found == [], (
        "loops whose back-edge a Ctrl-C leaves through the wrong handler; write them as "
        "`while True: if not cond: break` and end loop bodies with no `if`:\n" + "\n".join(found)
    )
