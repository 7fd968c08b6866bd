"""Operation kinds, forms and states shared by the runtime and the primitives.

A *kind* is what a thread asked for (``K_ACQ``: acquire a lock). A *form* is
what that request does in the current state (``F_OK``: it takes the lock;
``F_FAIL``: it times out). The form of a pending operation depends only on the
state of the objects it accesses, which is what lets the explorer treat the
operation as one event whatever it ends up doing.

An *access* is an int ``oid << 1 | write``; two events conflict when they
access the same object and at least one of them writes it.
"""

from __future__ import annotations

# --- kinds ------------------------------------------------------------------
K_GET = 0
K_SET = 1
K_ACQ = 2  # Lock/RLock acquire; arg = deadline (None forever, NOW non-blocking)
K_REL = 3
K_LOCKED = 4
K_WAIT = 5  # Condition.wait: release the lock and join the wait set
K_WAKE = 6  # Condition.wait: time out / spurious wake / reacquire
K_NOTIFY = 7  # arg = n (-1: all)
K_ESET = 8
K_ECLEAR = 9
K_EISSET = 10
K_EWAIT = 11  # Event.wait: return at once if set, else join the waiters
K_EWAKE = 12  # Event.wait: woken by set() or timed out
K_SACQ = 13
K_SREL = 14  # arg = n
K_SPAWN = 15
K_JOIN = 16
K_ALIVE = 17
K_EXIT = 18
K_GETHOOK = 19
K_SETHOOK = 20
K_SLEEP = 21
K_MONO = 22
K_UNLOAD = 23
K_ADVANCE = 24
K_BSREL = 25  # BoundedSemaphore.release: arg = n (over-release raises)
N_KINDS = 26

KIND_NAMES: tuple[str, ...] = (
    "get",
    "set",
    "acquire",
    "release",
    "locked",
    "wait",
    "wake",
    "notify",
    "set",
    "clear",
    "is_set",
    "wait",
    "wake",
    "acquire",
    "release",
    "spawn",
    "join",
    "is_alive",
    "exit",
    "get_excepthook",
    "set_excepthook",
    "sleep",
    "monotonic",
    "unload",
    "advance clock",
    "release",
)

# Kinds where a KeyboardInterrupt may be injected into the main thread (the
# wait/wake kinds decide for themselves from their state). Releases are left
# out: an interrupt there would be blamed on every `with lock:` block.
INTERRUPTIBLE: frozenset[int] = frozenset(
    {
        K_GET,
        K_SET,
        K_ACQ,
        K_LOCKED,
        K_WAIT,
        K_NOTIFY,
        K_ESET,
        K_ECLEAR,
        K_EISSET,
        K_EWAIT,
        K_SACQ,
        K_SPAWN,
        K_JOIN,
        K_ALIVE,
        K_SLEEP,
    }
)

# --- forms ------------------------------------------------------------------
F_OK = 0
F_FAIL = 1  # timed out / non-blocking attempt failed
F_ERR = 2  # misuse: the operation raises (release of an unheld lock...)
F_TO = 3  # a waiter's timeout fires (it still has to reacquire the lock)
F_SPUR = 4  # spurious wakeup
F_REACQ = 5  # a woken waiter reacquires the lock and returns
F_REG = 6  # Event.wait found the flag clear and joined the waiters
F_SIGNALED = 7  # Event waiter woken by set()
# The interrupt forms come last: every form below F_INTR is "just perform it".
F_INTR = 8  # KeyboardInterrupt injected before the operation
F_INTR_WAIT = 9  # KeyboardInterrupt injected while blocked in a wait

# Forms whose accesses never depend on the state (reversing a race cannot
# change what they do).
STATE_FREE_KINDS: frozenset[int] = frozenset(
    {K_GET, K_SET, K_SPAWN, K_EXIT, K_GETHOOK, K_SETHOOK, K_MONO, K_UNLOAD, K_ALIVE, K_SREL}
)

# --- waiter slot states -----------------------------------------------------
S_IDLE = 0
S_WAITING = 1
S_NOTIFIED = 2
S_TIMEDOUT = 3
S_SPURIOUS = 4
S_INTERRUPTED = 5
S_SIGNALED = 6

# Deadline meaning "do not block at all".
NOW = -1.0

# Marker returned by the wait kinds when the wait is not over yet.
AGAIN: object = object()
