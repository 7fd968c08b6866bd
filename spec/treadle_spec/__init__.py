"""treadle_spec: a TLA+-style spec language, its checker, and treadle's specs.

Standalone: importing it loads neither greenlet nor the :mod:`treadle`
library. :mod:`treadle_spec.lang` is the language (``Spec``, ``@action``,
``Property``), :mod:`treadle_spec.checker` the explicit-state checker
(``check_spec``: BFS with fingerprints, shortest counterexamples, liveness
under weak fairness). The bundled specs are one module per protocol, small
enough to review. A spec module has:

* ``Constants`` - a frozen dataclass of sizes, failure points and documented
  ``bug_*`` switches that reintroduce historical mistakes;
* ``State`` - the variables, a NamedTuple;
* the spec class (actions, properties), and ``build(**constants)``;
* ``DEFAULT_SIZES`` - the constants ``treadle check`` / ``treadle spec check``
  run by default (small: all specs together check in seconds).

``SPECS`` maps each bundled spec's name to its module: ``pump``,
``pool_drain``, ``shutdown``, ``task`` and ``executor``.
"""

from __future__ import annotations

from types import MappingProxyType

from treadle_spec import executor, pool_drain, pump, shutdown, task
from treadle_spec.checker import SpecReport, Violation, check_spec, explore_graph
from treadle_spec.lang import Action, Property, Spec, action, fast_replace, state_variables

__all__ = [
    "SPECS",
    "Action",
    "Property",
    "Spec",
    "SpecReport",
    "Violation",
    "action",
    "check_spec",
    "explore_graph",
    "fast_replace",
    "state_variables",
    "executor",
    "pool_drain",
    "pump",
    "shutdown",
    "task",
]

SPECS = MappingProxyType(
    {
        "pump": pump,
        "pool_drain": pool_drain,
        "shutdown": shutdown,
        "task": task,
        "executor": executor,
    }
)
