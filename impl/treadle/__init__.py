"""treadle: thread-coordination primitives that are proven, not just tested.

The library is stdlib-only. Every blocking or shared-state operation goes
through :mod:`treadle.sync`, so the same code can be explored under every
interleaving by ``treadle_model``.
"""

from __future__ import annotations

from treadle import sync, task
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
from treadle.runtime import (
    JobAbandoned,
    MainThreadCallError,
    NotInitializedError,
    Runtime,
    RuntimeClosedError,
    RuntimeStatistics,
    WrongThreadError,
)
from treadle.task import (
    PENDING,
    CancellationToken,
    Cancelled,
    Task,
    TaskHandle,
    export_task,
)
from treadle.threads import (
    DEFAULT_STACK_SIZE,
    ScopedSetting,
    ThreadHandle,
    spawn_thread,
)

__version__ = "0.1.0"

__all__ = [
    "CancellationToken",
    "Cancelled",
    "ChannelStatistics",
    "Closed",
    "Control",
    "DEFAULT_STACK_SIZE",
    "Disconnected",
    "Empty",
    "Executor",
    "ExecutorClosed",
    "ExecutorStatistics",
    "Full",
    "JobAbandoned",
    "MainThreadCallError",
    "NoWorkers",
    "NotInitializedError",
    "PENDING",
    "PoolStatistics",
    "PoolStop",
    "PoolWorkerError",
    "Receiver",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeStatistics",
    "ScopedSetting",
    "Sender",
    "StopRequested",
    "Tagged",
    "TaggedAccessError",
    "Task",
    "TaskHandle",
    "ThreadHandle",
    "UpMsg",
    "WorkerError",
    "WorkerPaused",
    "WorkerPool",
    "WorkerPump",
    "WorkerReceiver",
    "WorkerSender",
    "WrongThreadError",
    "__version__",
    "channel",
    "export_task",
    "spawn_thread",
    "sync",
    "task",
]
