"""Schedules as short strings.

A schedule is the thread run at each step: ``0`` is the main thread (the
explored function), ``1, 2, ...`` the threads in the order they were created
in that execution, ``t`` the clock advancing when every thread was blocked.
Runs are compressed: ``0*3,1,2*2,t,0`` is main three times, thread 1, thread
2 twice, a clock step, main. A run with an injected KeyboardInterrupt starts
with ``i<k>:`` (the interrupt hits the main thread's k-th interruptible
operation, counting from 0), or ``a<k>:`` when it was explored with
``interrupt_main="anywhere"`` (k counts every CPython signal check point of
the main thread too).
"""

from __future__ import annotations

import re

__all__ = ["decode", "decode_mode", "encode"]

_TOKEN = re.compile(r"^(t|\d+)(?:\*(\d+))?$")


def encode(steps: list[int], variant: int | None = None, anywhere: bool = False) -> str:
    parts: list[str] = []
    i = 0
    n = len(steps)
    while i < n:
        s = steps[i]
        j = i + 1
        while j < n and steps[j] == s:
            j += 1
        name = "t" if s < 0 else str(s)
        parts.append(name if j - i == 1 else f"{name}*{j - i}")
        i = j
    body = ",".join(parts) or "-"
    if variant is None:
        return body
    return f"{'a' if anywhere else 'i'}{variant}:{body}"


def decode(schedule: str) -> tuple[list[int], int | None]:
    """Parse a schedule string into (steps, interrupt point).

    Raises:
        ValueError: the string is not a schedule.
    """
    steps, variant, _ = decode_mode(schedule)
    return steps, variant


def decode_mode(schedule: str) -> tuple[list[int], int | None, bool]:
    """Parse a schedule string into (steps, interrupt point, interrupted "anywhere")."""
    if not isinstance(schedule, str):
        raise TypeError(f"a schedule is a string like '0*3,1,0', not {schedule!r}")
    text = schedule.strip()
    variant: int | None = None
    anywhere = False
    m = re.match(r"^([ia])(\d+):", text)
    if m:
        anywhere = m.group(1) == "a"
        variant = int(m.group(2))
        text = text[m.end() :]
    steps: list[int] = []
    if text in ("", "-"):
        return steps, variant, anywhere
    for token in text.split(","):
        tm = _TOKEN.match(token.strip())
        if tm is None:
            raise ValueError(
                f"bad schedule {schedule!r}: {token!r} is not a thread number, 't', or 'N*count'"
            )
        who = -1 if tm.group(1) == "t" else int(tm.group(1))
        count = int(tm.group(2)) if tm.group(2) else 1
        if count < 1:
            raise ValueError(f"bad schedule {schedule!r}: a repeat count must be at least 1")
        steps.extend([who] * count)
    return steps, variant, anywhere
