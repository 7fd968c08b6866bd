"""Sweep KeyboardInterrupt over every signal check point of each public operation.

Prints, per operation, how many check points treadle's code passes on the
main thread, how the interrupted runs ended, and the check points it passed
but could not interrupt with CPython's exception handler ("lost": a call that
ends a try/with body). Usage::

    python scripts/ki_checkpoints.py [operation ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.interrupts.harness import sweep
from tests.interrupts.scenarios import SCENARIOS


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    bad = 0
    print(
        f"{'operation':<26}{'points':>8}{'interrupted':>13}{'completed':>11}"
        f"{'failures':>10}{'lost':>6}"
    )
    for name in names:
        result = sweep(name, SCENARIOS[name])
        print(
            f"{name:<26}{result.points:>8}{result.interrupted:>13}"
            f"{result.completed:>11}{len(result.failures):>10}{len(result.lost):>6}"
        )
        for failure in result.failures[:5]:
            print(f"    {failure}")
        for where in result.lost:
            print(f"    lost (a call ending a try/with body): {where}")
        bad += len(result.failures)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
