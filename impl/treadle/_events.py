"""The protocol events treadle emits, one namespace per module.

Every ``sync.emit(name, ...)`` in treadle uses a name declared here, and the
conformance mappings (``treadle_verify.protocols``) read the names from here,
so an event cannot be renamed on one side only, and a new event is either
mapped to a spec step or explicitly marked quiet by each protocol that can
see it (the tests scan every ``sync.emit`` call against :data:`EVENTS`).
In production ``sync.emit`` is a no-op; under the model the events go to the
explorer's monitor.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ALL", "EVENTS", "Channel", "Pump", "Pool", "Executor", "Runtime", "Task", "Threads"]


class Channel:
    """Events of ``treadle.channel``."""

    CLONE_TX: Final = "channel.clone_tx"
    CLOSE_RX: Final = "channel.close_rx"
    CLOSE_TX: Final = "channel.close_tx"
    DISCONNECTED: Final = "channel.disconnected"
    RECV: Final = "channel.recv"
    RECV_BLOCKED: Final = "channel.recv_blocked"
    SEND: Final = "channel.send"
    SEND_BLOCKED: Final = "channel.send_blocked"
    SEND_FAILED: Final = "channel.send_failed"


class Pump:
    """Events of ``treadle.pump``."""

    ITEM: Final = "pump.item"
    PUMP_RAISED: Final = "pump.pump_raised"
    RUN_RAISED: Final = "pump.run_raised"
    RUN_RETURNED: Final = "pump.run_returned"
    RX_CLOSED: Final = "pump.rx_closed"
    WORKER_JOINED: Final = "pump.worker_joined"
    WORKER_RAISED: Final = "pump.worker_raised"
    WORKER_RETURNED: Final = "pump.worker_returned"
    WORKER_STARTED: Final = "pump.worker_started"


class Pool:
    """Events of ``treadle.pool``."""

    BURST_KEPT: Final = "pool.burst_kept"
    BURST_STARTED: Final = "pool.burst_started"
    CONTINUE_RECEIVED: Final = "pool.continue_received"
    IDLE: Final = "pool.idle"
    MESSAGE_DRAINED: Final = "pool.message_drained"
    PAUSE_RECEIVED: Final = "pool.pause_received"
    STOP_RECEIVED: Final = "pool.stop_received"
    STOP_RETURNED: Final = "pool.stop_returned"
    STOP_SENT: Final = "pool.stop_sent"
    WORKER_ENDED: Final = "pool.worker_ended"
    WORKER_JOINED: Final = "pool.worker_joined"
    WORKER_STARTED: Final = "pool.worker_started"


class Executor:
    """Events of ``treadle.executor``."""

    CLOSING: Final = "executor.closing"
    INLINE: Final = "executor.inline"
    JOB_CANCELLED: Final = "executor.job_cancelled"
    JOB_DONE: Final = "executor.job_done"
    JOB_STARTED: Final = "executor.job_started"
    JOINED: Final = "executor.joined"
    STARTED: Final = "executor.started"
    STOPPED: Final = "executor.stopped"
    SUBMIT: Final = "executor.submit"
    TAGGED_CREATED: Final = "executor.tagged_created"
    TAGGED_DROPPED: Final = "executor.tagged_dropped"
    TAGGED_REFUSED: Final = "executor.tagged_refused"


class Runtime:
    """Events of ``treadle.runtime``."""

    CHANNEL_CLOSED: Final = "runtime.channel_closed"
    HOOK_INSTALLED: Final = "runtime.hook_installed"
    HOOK_UNINSTALLED: Final = "runtime.hook_uninstalled"
    INIT: Final = "runtime.init"
    JOB_ABANDONED: Final = "runtime.job_abandoned"
    JOB_DONE: Final = "runtime.job_done"
    JOB_REFUSED: Final = "runtime.job_refused"
    JOB_RETURNED: Final = "runtime.job_returned"
    JOB_SENT: Final = "runtime.job_sent"
    JOB_SKIPPED: Final = "runtime.job_skipped"
    JOB_STARTED: Final = "runtime.job_started"
    JOINED: Final = "runtime.joined"
    MAIN_CALL_REQUESTED: Final = "runtime.main_call_requested"
    MAIN_CALL_RESPONDED: Final = "runtime.main_call_responded"
    MAIN_CALL_RETURNED: Final = "runtime.main_call_returned"
    MAIN_CALL_STARTED: Final = "runtime.main_call_started"
    SHUTDOWN_NOOP: Final = "runtime.shutdown_noop"
    SHUTDOWN_RECEIVED: Final = "runtime.shutdown_received"
    SHUTDOWN_REQUESTED: Final = "runtime.shutdown_requested"
    SHUTDOWN_RETURNED: Final = "runtime.shutdown_returned"
    SHUTDOWN_SENT: Final = "runtime.shutdown_sent"
    SHUTDOWN_UNDELIVERABLE: Final = "runtime.shutdown_undeliverable"
    SHUTDOWN_WAITED: Final = "runtime.shutdown_waited"
    SHUTDOWN_WAITS: Final = "runtime.shutdown_waits"
    WORKER_EXIT: Final = "runtime.worker_exit"
    WORKER_STARTED: Final = "runtime.worker_started"


class Task:
    """Events of ``treadle.task``."""

    CANCEL: Final = "task.cancel"
    CLOSED: Final = "task.closed"
    DONE: Final = "task.done"
    HANDLE_CREATED: Final = "task.handle_created"
    HANDLE_FREED: Final = "task.handle_freed"
    JOINED: Final = "task.joined"
    MISUSE: Final = "task.misuse"
    RESULT_CREATED: Final = "task.result_created"
    RESULT_FREED: Final = "task.result_freed"
    SPAWNED: Final = "task.spawned"
    STARTED: Final = "task.started"


class Threads:
    """Events of ``treadle.threads``."""

    EXITED: Final = "threads.exited"
    SETTING_APPLIED: Final = "threads.setting_applied"
    SETTING_ENTERED: Final = "threads.setting_entered"
    SETTING_EXITED: Final = "threads.setting_exited"
    SETTING_RESTORED: Final = "threads.setting_restored"
    SPAWNED: Final = "threads.spawned"


def _names(namespace: type) -> tuple[str, ...]:
    return tuple(v for k, v in vars(namespace).items() if k.isupper() and isinstance(v, str))


EVENTS: Final[dict[str, tuple[str, ...]]] = {
    "channel": _names(Channel),
    "pump": _names(Pump),
    "pool": _names(Pool),
    "executor": _names(Executor),
    "runtime": _names(Runtime),
    "task": _names(Task),
    "threads": _names(Threads),
}
"""Module name (``treadle.<module>``) -> the events it emits."""

ALL: Final[frozenset[str]] = frozenset(name for names in EVENTS.values() for name in names)
"""Every event name treadle emits."""
