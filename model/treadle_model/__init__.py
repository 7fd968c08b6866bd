"""treadle_model: the checking machinery for treadle.

A deterministic scheduler that runs real code written against
:mod:`treadle.sync` under every distinct interleaving, an explicit-state
checker for the specs in :mod:`treadle_spec`, and the bridge that checks each
explored execution against its spec.
"""

from __future__ import annotations

__all__: list[str] = []
