"""treadle_verify: treadle's verification campaign.

Built on the explorer (:mod:`treadle_model`) and the spec checker
(:mod:`treadle_spec`): the conformance bridge that checks each explored
execution against its spec (:mod:`treadle_verify.conformance`), treadle's five
protocols declared as scenarios (:mod:`treadle_verify.protocols`), and the
``treadle`` command line (``treadle check``, ``treadle explore``,
``treadle spec``).
"""

from __future__ import annotations

from treadle_verify.conformance import monitor_factory

__all__ = ["monitor_factory"]
