"""treadle_model: the checking machinery for treadle.

A deterministic scheduler that runs real code written against
:mod:`treadle.sync` under every distinct interleaving, an explicit-state
checker for the specs in :mod:`treadle_spec`, and the bridge that checks each
explored execution against its spec.
"""

from __future__ import annotations

from treadle_model._explore import check, explore, replay, unload
from treadle_model._report import FAILURE_KINDS, Failure, MonitorViolation, Report
from treadle_model.checker import SpecReport, Violation, check_spec
from treadle_model.spec import Action, Property, Spec, action, fast_replace

__all__: list[str] = [
    "FAILURE_KINDS",
    "Failure",
    "MonitorViolation",
    "Report",
    "check",
    "explore",
    "replay",
    "unload",
    "Action",
    "Property",
    "Spec",
    "SpecReport",
    "Violation",
    "action",
    "check_spec",
    "fast_replace",
]
