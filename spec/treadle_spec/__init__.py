"""treadle_spec: TLA+-style state machines of treadle's protocols.

Each module is one protocol, small enough to review, checked exhaustively by
``treadle_model.check_spec``. A spec module has:

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

__all__ = ["SPECS", "executor", "pool_drain", "pump", "shutdown", "task"]

SPECS = MappingProxyType(
    {
        "pump": pump,
        "pool_drain": pool_drain,
        "shutdown": shutdown,
        "task": task,
        "executor": executor,
    }
)
