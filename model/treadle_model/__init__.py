"""treadle_model: the explorer.

A deterministic scheduler that runs real code written against
:mod:`treadle.sync` under every distinct interleaving, with optimal DPOR, and
reports each failure with a replayable schedule. It knows nothing of specs:
the spec language and checker are :mod:`treadle_spec`; the bridge between the
two (conformance), treadle's own protocols and the ``treadle`` command line
are :mod:`treadle_verify`.
"""

from __future__ import annotations

from treadle_model._explore import check, explore, replay, unload
from treadle_model._report import FAILURE_KINDS, Failure, MonitorViolation, Report

__all__: list[str] = [
    "FAILURE_KINDS",
    "Failure",
    "MonitorViolation",
    "Report",
    "check",
    "explore",
    "replay",
    "unload",
]
