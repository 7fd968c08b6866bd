"""treadle: thread-coordination primitives that are proven, not just tested.

The library is stdlib-only. Every blocking or shared-state operation goes
through :mod:`treadle.sync`, so the same code can be explored under every
interleaving by ``treadle_model``.
"""

from __future__ import annotations

from treadle import sync
from treadle.channel import (
    ChannelStatistics,
    Closed,
    Disconnected,
    Empty,
    Full,
    Receiver,
    Sender,
    channel,
)
from treadle.executor import (
    Executor,
    ExecutorClosed,
    ExecutorStatistics,
    Tagged,
    TaggedAccessError,
)
from treadle.pool import (
    Control,
    NoWorkers,
    PoolStatistics,
    PoolStop,
    PoolWorkerError,
    StopRequested,
    UpMsg,
    WorkerPaused,
    WorkerPool,
    WorkerReceiver,
    WorkerSender,
)
from treadle.pump import WorkerError, WorkerPump

__version__ = "0.1.0"

__all__ = [
    "ChannelStatistics",
    "Closed",
    "Control",
    "Disconnected",
    "Empty",
    "Executor",
    "ExecutorClosed",
    "ExecutorStatistics",
    "Full",
    "NoWorkers",
    "PoolStatistics",
    "PoolStop",
    "PoolWorkerError",
    "Receiver",
    "Sender",
    "StopRequested",
    "Tagged",
    "TaggedAccessError",
    "UpMsg",
    "WorkerError",
    "WorkerPaused",
    "WorkerPool",
    "WorkerPump",
    "WorkerReceiver",
    "WorkerSender",
    "__version__",
    "channel",
    "sync",
]
