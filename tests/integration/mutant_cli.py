"""``python -m tests.integration.mutant_cli ARGS``: the ``treadle`` command with a broken pump.

The same command line as ``treadle`` (:func:`treadle_verify.cli.main`), except
that the ``pump`` protocol's scenarios explore
:class:`tests.exhaustive.mutants_pump.KeepsReceiverOpen` instead of the
shipped ``WorkerPump``; so ``treadle check pump`` fails here and the tests can
paste the ``replay with:`` command it prints and see it fail the same way.
"""

from __future__ import annotations

import dataclasses
import sys

from tests.exhaustive.mutants_pump import KeepsReceiverOpen
from treadle_verify.cli import main
from treadle_verify.protocols import pump


def _install() -> None:
    shipped = pump.CHECK
    broken = dataclasses.replace(
        shipped, scenarios=lambda preset, impl: shipped.scenarios(preset, KeepsReceiverOpen)
    )
    pump.CHECK = broken  # type: ignore[misc]


if __name__ == "__main__":
    _install()
    sys.exit(main(sys.argv[1:]))
