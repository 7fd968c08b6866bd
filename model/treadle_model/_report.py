"""What an exploration returns: :class:`Report`, :class:`Failure`, :class:`MonitorViolation`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FAILURE_KINDS", "Failure", "FailureKind", "MonitorViolation", "Report"]

FailureKind = Literal[
    "deadlock",
    "lost_wakeup",
    "leaked_thread",
    "exception",
    "invariant",
    "data_race",
    "step_limit",
    "nondeterminism",
    "uncontrolled",
    "conformance",
]

FAILURE_KINDS: tuple[str, ...] = (
    "deadlock",
    "lost_wakeup",
    "leaked_thread",
    "exception",
    "invariant",
    "data_race",
    "step_limit",
    "nondeterminism",
    "uncontrolled",
    "conformance",
)


def shell_quote(text: str) -> str:
    """``text`` as one shell word, always in quotes (``'0*2,1'``) so it reads the same."""
    import shlex

    return f"'{text}'" if "'" not in text else shlex.quote(text)


class MonitorViolation(Exception):
    """Raised by a monitor (``explore(monitor=...)``) to fail the current execution.

    ``kind`` becomes the :attr:`Failure.kind` (for example ``"conformance"``)
    and ``message`` its message; the failure also carries the schedule and the
    trace of the execution, like any other.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"MonitorViolation kind must be one of {FAILURE_KINDS}, got {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Failure:
    """One failing execution.

    Attributes:
        kind: what went wrong (see :data:`FAILURE_KINDS`).
        message: what happened, in words, naming threads, objects and steps.
        schedule: the short string that :func:`treadle_model.replay` takes to
            run exactly this execution again.
        trace: readable lines, one per step: step number, thread, operation,
            object, and the source line of the user code that called the
            facade (shown with the fewest preemptions found).
        exception: the exception, for ``kind == "exception"`` (else ``None``).
        replay_call: what replays this failure: a Python call naming the
            function by its module (``treadle_model.replay(mod.fn, '...')``,
            run after ``import treadle_model, mod``), or for code in
            ``__main__`` the ``treadle explore`` command; empty when neither
            can be written out.
        replay_exact: False when ``replay_call`` leaves out something it
            cannot name (a closure as the body, an ``invariant=`` or
            ``monitor=`` defined inside a function): then it is printed as a
            template, not as a line to paste.
    """

    kind: str
    message: str
    schedule: str
    trace: tuple[str, ...] = ()
    exception: BaseException | None = None
    replay_call: str = ""
    replay_exact: bool = True

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.message}"]
        if self.trace:
            lines.append("trace:")
            lines.extend(f"  {line}" for line in self.trace)
        lines.append(f"schedule: {self.schedule}")
        if self.replay_call and self.replay_exact:
            lines.append(f"replay with: {self.replay_call}")
        elif self.replay_call:
            lines.append(
                f"replay by calling: {self.replay_call}  (with the same function and "
                "options in place of the names it cannot spell out)"
            )
        return "\n".join(lines)


@dataclass
class Report:
    """The result of :func:`treadle_model.explore`.

    Attributes:
        executions: complete executions run (deadlocked ones included).
        redundant: partial executions abandoned by the reduction (for the
            optimal DPOR this is 0 on programs without blocking; blocking
            operations can force a few).
        exhaustive: True when every distinct interleaving (every Mazurkiewicz
            trace, for ``strategy="dpor"``) was covered.
        failures: the failing executions found (at most one per execution).
        elapsed: wall-clock seconds.
        strategy: the strategy that ran.
        failed_executions: how many executions failed (``failures`` keeps the
            first :data:`MAX_KEPT_FAILURES` of them).
        nothing_to_interleave: the body never ran a second thread the model
            controls (so "exhaustive" would say nothing): start threads inside
            the explored function, with ``threading`` or ``treadle.sync``.
    """

    executions: int = 0
    redundant: int = 0
    exhaustive: bool = False
    failures: list[Failure] = field(default_factory=list)
    elapsed: float = 0.0
    strategy: str = "dpor"
    failed_executions: int = 0
    steps: int = 0
    nothing_to_interleave: bool = False

    @property
    def ok(self) -> bool:
        """True when no execution failed."""
        return not self.failures

    def assert_ok(self) -> None:
        """Raise :class:`AssertionError` describing the first failure, if any.

        The message holds the failure's trace and the call that replays it.
        """
        if self.failures:
            raise AssertionError(self._describe(limit=1))

    def _describe(self, limit: int | None = None) -> str:
        head = self._summary()
        shown: Sequence[Failure] = self.failures if limit is None else self.failures[:limit]
        parts = [head]
        for failure in shown:
            parts.append(str(failure))
        if limit is not None and len(self.failures) > limit:
            parts.append(f"({len(self.failures) - limit} more failures not shown)")
        return "\n\n".join(parts)

    def _summary(self) -> str:
        rate = self.executions / self.elapsed if self.elapsed > 0 else 0.0
        if self.nothing_to_interleave:
            cover = "nothing to interleave (the body ran a single thread)"
        else:
            cover = "exhaustive" if self.exhaustive else "not exhaustive"
        verdict = "ok" if self.ok else f"{self.failed_executions} failing"
        return (
            f"treadle_model ({self.strategy}): {self.executions} executions, "
            f"{self.redundant} redundant, {cover}, {verdict}, "
            f"{self.elapsed:.3f}s ({rate:,.0f} executions/s)"
        )

    def __str__(self) -> str:
        return self._describe(limit=3)


MAX_KEPT_FAILURES = 50
