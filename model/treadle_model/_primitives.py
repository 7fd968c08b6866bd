"""The controlled primitives: what ``sync.Lock()`` & co. hand out under the model.

Each public method turns into one or more *operations* (``ex.op(kind, obj,
arg)``), and each operation is a scheduling point. What an operation does is
split in two functions per kind, collected in :data:`PEEK` and
:data:`PERFORM`:

* ``peek(ex, th)`` looks at the current state and returns the accesses the
  pending operation would make (setting ``th.form`` to what it would do), or
  ``None`` when it cannot proceed (the thread is blocked). It never changes
  anything, so the explorer can ask it again with one object's state replaced
  by an earlier snapshot (to learn whether a race can be reversed).
* ``perform(ex, th, ev)`` does it.

The semantics follow CPython's :mod:`threading` closely, including the corner
that a waiter whose timeout fired stays in the condition's wait queue until it
has reacquired the lock, so a ``notify()`` in between is used up on it.
"""

from __future__ import annotations

from _thread import TIMEOUT_MAX
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from treadle import sync
from treadle_model._ops import (
    AGAIN,
    F_ERR,
    F_FAIL,
    F_INTR_WAIT,
    F_OK,
    F_REACQ,
    F_REG,
    F_SIGNALED,
    F_SPUR,
    F_TO,
    K_ACQ,
    K_ECLEAR,
    K_EISSET,
    K_ESET,
    K_EWAIT,
    K_EWAKE,
    K_GET,
    K_LOCKED,
    K_NOTIFY,
    K_REL,
    K_SACQ,
    K_SET,
    K_SREL,
    K_WAIT,
    K_WAKE,
    N_KINDS,
    NOW,
    S_IDLE,
    S_INTERRUPTED,
    S_NOTIFIED,
    S_SIGNALED,
    S_SPURIOUS,
    S_TIMEDOUT,
    S_WAITING,
)

if TYPE_CHECKING:
    from treadle_model._events import Ev
    from treadle_model._runtime import Execution, VThread

T = TypeVar("T")

Peek = Callable[["Execution", "VThread"], "tuple[int, ...] | None"]
Perform = Callable[["Execution", "VThread", "Ev"], None]


def _check_lock_args(blocking: bool, timeout: float) -> None:
    if not blocking and timeout != -1:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if timeout < 0 and timeout != -1:
        raise ValueError("timeout value must be a non-negative number")


def _forever(timeout: float | None) -> float | None:
    # As in treadle.sync.check_timeout: math.inf, or any timeout threading
    # could not wait for (above TIMEOUT_MAX), never times out.
    if timeout is not None and timeout > TIMEOUT_MAX:
        return None
    return timeout


# --- cells ------------------------------------------------------------------


class CCell(sync.Cell[T]):
    """A :class:`treadle.sync.Cell` under the model: get/set are scheduling points."""

    __slots__ = ("_ex", "_label", "_oid", "_racc", "_race", "_value", "_wacc")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution, value: T) -> None:
        self._ex = ex
        self._value = value
        self._race: Any = None
        ex.register(self, "Cell", snap=False, walk=False)

    def get(self) -> T:
        ex = self._ex
        if ex._callback:
            return self._value
        return ex.op(K_GET, self, None)  # type: ignore[no-any-return]

    def set(self, value: T) -> None:
        self._ex.op(K_SET, self, value)

    def snapshot(self) -> object:
        return None

    def restore(self, state: object) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{self._label} {self._value!r}>"


def _p_get(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._racc  # type: ignore[no-any-return]


def _x_get(ex: Execution, th: VThread, ev: Ev) -> None:
    cell = th.obj
    if ex.detect_races:
        ex.race_check(cell, th, ev, False)
    th.result = cell._value


def _p_set(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._wacc  # type: ignore[no-any-return]


def _x_set(ex: Execution, th: VThread, ev: Ev) -> None:
    cell = th.obj
    if ex.detect_races:
        ex.race_check(cell, th, ev, True)
    cell._value = th.arg


# --- locks ------------------------------------------------------------------


class _LockOps:
    __slots__ = ()
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _ex: Execution
    _owner: int
    _count: int
    _rlock: bool
    _label: str

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _check_lock_args(blocking, timeout)
        ex = self._ex
        if not blocking or timeout == 0:
            return ex.op(K_ACQ, self, NOW)  # type: ignore[no-any-return]
        if timeout == -1:
            return ex.op(K_ACQ, self, None)  # type: ignore[no-any-return]
        return ex.op(K_ACQ, self, ex.clock + timeout, timeout)  # type: ignore[no-any-return]

    def release(self) -> None:
        self._ex.op(K_REL, self, None)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def snapshot(self) -> object:
        return (self._owner, self._count)

    def __repr__(self) -> str:
        state = "unlocked" if self._owner < 0 else f"held by t{self._owner}"
        return f"<{self._label} {state}>"


class CLock(_LockOps, sync.Lock):
    """A :class:`treadle.sync.Lock` under the model (any thread may release it)."""

    __slots__ = ("_count", "_ex", "_holder", "_label", "_oid", "_owner", "_racc", "_rlock", "_wacc")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution) -> None:
        self._ex = ex
        self._owner = -1
        self._count = 0
        self._rlock = False
        self._holder: VThread | None = None
        ex.register(self, "Lock", snap=True, walk=True)

    def restore(self, state: Any) -> None:
        self._owner, self._count = state

    def locked(self) -> bool:
        return self._ex.op(K_LOCKED, self, None)  # type: ignore[no-any-return]


class CRLock(_LockOps, sync.RLock):
    """A :class:`treadle.sync.RLock` under the model."""

    __slots__ = ("_count", "_ex", "_holder", "_label", "_oid", "_owner", "_racc", "_rlock", "_wacc")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution) -> None:
        self._ex = ex
        self._owner = -1
        self._count = 0
        self._rlock = True
        self._holder: VThread | None = None
        ex.register(self, "RLock", snap=True, walk=True)

    def restore(self, state: Any) -> None:
        self._owner, self._count = state


AnyLock = CLock | CRLock


def _take(lock: Any, th: VThread, count: int) -> None:
    lock._owner = th.tid
    lock._count = count
    lock._holder = th
    th.held.append(lock)


def _drop(lock: Any) -> None:
    holder = lock._holder
    lock._owner = -1
    lock._count = 0
    lock._holder = None
    if holder is not None:
        held = holder.held
        for i in range(len(held) - 1, -1, -1):
            if held[i] is lock:
                del held[i]
                break


def _p_acq(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    lock = th.obj
    owner = lock._owner
    if owner < 0 or (owner == th.tid and lock._rlock):
        th.form = F_OK
        return lock._wacc  # type: ignore[no-any-return]
    deadline = th.arg
    if deadline is not None and ex.due(deadline):
        th.form = F_FAIL
        if ex.always and deadline >= 0:
            return (lock._racc[0], ex.clock_w)
        return lock._racc  # type: ignore[no-any-return]
    return None


def _x_acq(ex: Execution, th: VThread, ev: Ev) -> None:
    lock = th.obj
    if th.form == F_OK:
        if lock._owner == th.tid:
            lock._count += 1
        else:
            _take(lock, th, 1)
        th.result = True
    else:
        if ex.always and th.arg >= 0:
            ex.clock += th.arg2
        th.result = False


def _p_rel(ex: Execution, th: VThread) -> tuple[int, ...]:
    lock = th.obj
    owner = lock._owner
    if owner < 0 or (lock._rlock and owner != th.tid):
        th.form = F_ERR
        return lock._racc  # type: ignore[no-any-return]
    th.form = F_OK
    return lock._wacc  # type: ignore[no-any-return]


def _x_rel(ex: Execution, th: VThread, ev: Ev) -> None:
    lock = th.obj
    if th.form == F_ERR:
        if lock._rlock:
            th.error = RuntimeError("cannot release un-acquired lock")
        else:
            th.error = RuntimeError("release unlocked lock")
        return
    if lock._rlock and lock._count > 1:
        lock._count -= 1
    else:
        _drop(lock)


def _p_locked(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._racc  # type: ignore[no-any-return]


def _x_locked(ex: Execution, th: VThread, ev: Ev) -> None:
    th.result = th.obj._owner >= 0


# --- conditions -------------------------------------------------------------


class Slot:
    """One thread's place in a condition's (or event's) wait set.

    It is an object of its own for the explorer: the thread that wakes a
    waiter writes its slot and the waiter reads it, which orders the two.
    """

    __slots__ = (
        "_label",
        "_oid",
        "_racc",
        "_reacq_acc",
        "_spur_acc",
        "_wacc",
        "deadline",
        "owner",
        "start",
        "state",
        "th",
        "timeout",
    )
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution, owner: Any, th: VThread) -> None:
        self.owner = owner
        self.th = th
        self.state = S_IDLE
        self.deadline: float | None = None
        self.timeout = 0.0
        self.start = -1
        ex.register_slot(self, owner, th)
        self._spur_acc = (self._wacc[0], ex.budget_w)
        lock = getattr(owner, "_lock", None)
        self._reacq_acc: tuple[int, ...] = (
            self._racc if lock is None else (self._racc[0], lock._wacc[0])
        )

    def snapshot(self) -> object:
        return self.state

    def restore(self, state: Any) -> None:
        self.state = state


class CCondition(sync.Condition):
    """A :class:`treadle.sync.Condition` under the model (optional spurious wakeups)."""

    __slots__ = ("_ex", "_label", "_lock", "_notifies", "_oid", "_slots", "_waiters")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution, lock: Any = None) -> None:
        self._ex = ex
        if lock is None:
            lock = CRLock(ex)
        elif not isinstance(lock, CLock | CRLock):
            raise TypeError(
                "Condition needs a Lock or RLock made by treadle.sync under the model, "
                f"got {lock!r}"
            )
        elif lock._ex is not ex:
            raise RuntimeError(
                f"{lock!r} belongs to an earlier execution; create facade objects inside the "
                "explored function, not at import time or in a previous run"
            )
        self._lock: AnyLock = lock
        self._waiters: list[Slot] = []
        self._slots: dict[int, Slot] = {}
        self._notifies: list[tuple[int, VThread]] = []
        ex.register_label(self, "Condition")

    def _slot(self, th: VThread) -> Slot:
        slot = self._slots.get(th.tid)
        if slot is None:
            slot = Slot(self._ex, self, th)
            self._slots[th.tid] = slot
        return slot

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        ex = self._ex
        timeout = _forever(timeout)
        if timeout is None:
            ex.op(K_WAIT, self, None)
        elif timeout <= 0:
            ex.op(K_WAIT, self, NOW)
        else:
            ex.op(K_WAIT, self, ex.clock + timeout, timeout)
        while True:
            result = ex.op(K_WAKE, self, None)
            if result is not AGAIN:
                return result  # type: ignore[no-any-return]

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        endtime: float | None = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = self._ex.monotonic() + waittime
                else:
                    waittime = endtime - self._ex.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        self._ex.op(K_NOTIFY, self, n)

    def notify_all(self) -> None:
        self._ex.op(K_NOTIFY, self, -1)

    def __repr__(self) -> str:
        return f"<{self._label} on {self._lock._label}, {len(self._waiters)} waiting>"


def _owned(lock: Any, th: VThread) -> bool:
    # threading.Condition._is_owned: an RLock must be held by the caller; a
    # plain Lock only has to be held (by anyone).
    if lock._rlock:
        return lock._owner == th.tid  # type: ignore[no-any-return]
    return lock._owner >= 0  # type: ignore[no-any-return]


def _p_wait(ex: Execution, th: VThread) -> tuple[int, ...]:
    cond: CCondition = th.obj
    lock = cond._lock
    if not _owned(lock, th):
        th.form = F_ERR
        return lock._racc
    th.form = F_OK
    slot = cond._slot(th)
    return (lock._wacc[0], slot._wacc[0])


def _x_wait(ex: Execution, th: VThread, ev: Ev) -> None:
    cond: CCondition = th.obj
    if th.form == F_ERR:
        th.error = RuntimeError("cannot wait on un-acquired lock")
        return
    lock = cond._lock
    slot = cond._slot(th)
    slot.state = S_WAITING
    slot.deadline = th.arg
    slot.timeout = th.arg2
    slot.start = ev.idx
    cond._waiters.append(slot)
    th.slot = slot
    th.saved = lock._count
    _drop(lock)


def _p_wake(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    slot: Slot = th.slot
    state = slot.state
    if state == S_WAITING:
        if th.intr:
            th.form = F_INTR_WAIT
            return slot._wacc
        deadline = slot.deadline
        if deadline is not None and ex.due(deadline):
            th.form = F_TO
            # With spurious wakeups on, whether this waiter could have woken
            # spuriously instead depends on the budget: read it.
            if ex.always and deadline >= 0:
                if ex.spurious_on:
                    return (slot._wacc[0], ex.clock_w, ex.budget_r)
                return (slot._wacc[0], ex.clock_w)
            if ex.spurious_on:
                return (slot._wacc[0], ex.budget_r)
            return slot._wacc
        if ex.spurious_left > 0:
            th.form = F_SPUR
            return slot._spur_acc
        return None
    if th.obj._lock._owner < 0:
        th.form = F_REACQ
        return slot._reacq_acc
    return None


def _x_wake(ex: Execution, th: VThread, ev: Ev) -> None:
    slot: Slot = th.slot
    form = th.form
    if form == F_REACQ:
        cond: CCondition = th.obj
        state = slot.state
        _take(cond._lock, th, th.saved)
        if state != S_NOTIFIED:
            waiters = cond._waiters
            for i, s in enumerate(waiters):
                if s is slot:
                    del waiters[i]
                    break
        slot.state = S_IDLE
        th.slot = None
        th.result = state in (S_NOTIFIED, S_SPURIOUS)
        if state == S_INTERRUPTED:
            th.error = ex.interrupt(th)
        return
    if form == F_TO:
        slot.state = S_TIMEDOUT
        if ex.always and slot.deadline is not None and slot.deadline >= 0:
            ex.clock += slot.timeout
    elif form == F_SPUR:
        slot.state = S_SPURIOUS
        ex.spurious_left -= 1
    else:  # F_INTR_WAIT
        slot.state = S_INTERRUPTED
    th.result = AGAIN


def _p_notify(ex: Execution, th: VThread) -> tuple[int, ...]:
    cond: CCondition = th.obj
    lock = cond._lock
    if not _owned(lock, th):
        th.form = F_ERR
        return lock._racc
    th.form = F_OK
    waiters = cond._waiters
    if not waiters:
        return ()
    n = th.arg
    k = len(waiters) if n < 0 else min(n, len(waiters))
    if k == 1:
        return waiters[0]._wacc
    return tuple(waiters[i]._wacc[0] for i in range(k))


def _x_notify(ex: Execution, th: VThread, ev: Ev) -> None:
    cond: CCondition = th.obj
    if th.form == F_ERR:
        th.error = RuntimeError("cannot notify on un-acquired lock")
        return
    waiters = cond._waiters
    if not waiters:
        # A notify that woke nobody is the only kind a later waiter can have
        # missed; one that was delivered was not lost (lost-wakeup reports).
        cond._notifies.append((ev.idx, th))
    n = th.arg
    k = len(waiters) if n < 0 else min(n, len(waiters))
    for i in range(k):
        slot = waiters[i]
        if slot.state == S_WAITING:
            slot.state = S_NOTIFIED
    del waiters[:k]


# --- events -----------------------------------------------------------------


class CEvent(sync.Event):
    """A :class:`treadle.sync.Event` under the model.

    As in CPython, a thread blocked in ``wait()`` when ``set()`` is called
    returns True even if the flag is cleared again before it runs.
    """

    __slots__ = ("_ex", "_flag", "_label", "_oid", "_racc", "_sets", "_slots", "_wacc", "_waiters")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution) -> None:
        self._ex = ex
        self._flag = False
        self._waiters: list[Slot] = []
        self._slots: dict[int, Slot] = {}
        self._sets: list[tuple[int, VThread]] = []
        ex.register(self, "Event", snap=True, walk=False)

    def _slot(self, th: VThread) -> Slot:
        slot = self._slots.get(th.tid)
        if slot is None:
            slot = Slot(self._ex, self, th)
            self._slots[th.tid] = slot
        return slot

    def is_set(self) -> bool:
        return self._ex.op(K_EISSET, self, None)  # type: ignore[no-any-return]

    def set(self) -> None:
        self._ex.op(K_ESET, self, None)

    def clear(self) -> None:
        self._ex.op(K_ECLEAR, self, None)

    def wait(self, timeout: float | None = None) -> bool:
        ex = self._ex
        timeout = _forever(timeout)
        if timeout is None:
            result = ex.op(K_EWAIT, self, None)
        elif timeout <= 0:
            result = ex.op(K_EWAIT, self, NOW)
        else:
            result = ex.op(K_EWAIT, self, ex.clock + timeout, timeout)
        if result is AGAIN:
            result = ex.op(K_EWAKE, self, None)
        return result  # type: ignore[no-any-return]

    def snapshot(self) -> object:
        return (self._flag, tuple(self._waiters))

    def restore(self, state: Any) -> None:
        self._flag = state[0]
        self._waiters[:] = state[1]

    def __repr__(self) -> str:
        return f"<{self._label} {'set' if self._flag else 'clear'}>"


def _p_eset(ex: Execution, th: VThread) -> tuple[int, ...]:
    event: CEvent = th.obj
    th.form = F_OK
    waiters = event._waiters
    if not waiters:
        return event._wacc
    return (event._wacc[0], *(s._wacc[0] for s in waiters))


def _x_eset(ex: Execution, th: VThread, ev: Ev) -> None:
    event: CEvent = th.obj
    event._flag = True
    if not event._waiters:
        # Only a set() that woke nobody can have been missed (see _x_notify).
        event._sets.append((ev.idx, th))
    for slot in event._waiters:
        slot.state = S_SIGNALED
    event._waiters.clear()


def _p_eclear(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._wacc  # type: ignore[no-any-return]


def _x_eclear(ex: Execution, th: VThread, ev: Ev) -> None:
    th.obj._flag = False


def _p_eisset(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._racc  # type: ignore[no-any-return]


def _x_eisset(ex: Execution, th: VThread, ev: Ev) -> None:
    th.result = th.obj._flag


def _p_ewait(ex: Execution, th: VThread) -> tuple[int, ...]:
    event: CEvent = th.obj
    if event._flag:
        th.form = F_OK
        return event._racc
    th.form = F_REG
    return (event._wacc[0], event._slot(th)._wacc[0])


def _x_ewait(ex: Execution, th: VThread, ev: Ev) -> None:
    event: CEvent = th.obj
    if th.form == F_OK:
        th.result = True
        return
    slot = event._slot(th)
    slot.state = S_WAITING
    slot.deadline = th.arg
    slot.timeout = th.arg2
    slot.start = ev.idx
    event._waiters.append(slot)
    th.slot = slot
    th.result = AGAIN


def _p_ewake(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    slot: Slot = th.slot
    state = slot.state
    if state == S_SIGNALED:
        th.form = F_SIGNALED
        return slot._racc
    if th.intr:
        th.form = F_INTR_WAIT
        return (slot._wacc[0], th.obj._wacc[0])
    deadline = slot.deadline
    if deadline is not None and ex.due(deadline):
        th.form = F_TO
        if ex.always and deadline >= 0:
            return (slot._wacc[0], th.obj._wacc[0], ex.clock_w)
        return (slot._wacc[0], th.obj._wacc[0])
    return None


def _x_ewake(ex: Execution, th: VThread, ev: Ev) -> None:
    slot: Slot = th.slot
    form = th.form
    th.slot = None
    if form == F_SIGNALED:
        slot.state = S_IDLE
        th.result = True
        return
    event: CEvent = th.obj
    waiters = event._waiters
    for i, s in enumerate(waiters):
        if s is slot:
            del waiters[i]
            break
    slot.state = S_IDLE
    if form == F_TO:
        if ex.always and slot.deadline is not None and slot.deadline >= 0:
            ex.clock += slot.timeout
        th.result = False
    else:  # F_INTR_WAIT
        th.error = ex.interrupt(th)


# --- semaphores -------------------------------------------------------------


class CSemaphore(sync.Semaphore):
    """A :class:`treadle.sync.Semaphore` under the model."""

    __slots__ = ("_ex", "_label", "_oid", "_racc", "_value", "_wacc")
    _oid: int
    _racc: tuple[int, ...]
    _wacc: tuple[int, ...]
    _label: str

    def __init__(self, ex: Execution, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._ex = ex
        self._value = value
        ex.register(self, "Semaphore", snap=True, walk=True)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        ex = self._ex
        timeout = _forever(timeout)
        if not blocking or (timeout is not None and timeout <= 0):
            return ex.op(K_SACQ, self, NOW)  # type: ignore[no-any-return]
        if timeout is None:
            return ex.op(K_SACQ, self, None)  # type: ignore[no-any-return]
        return ex.op(K_SACQ, self, ex.clock + timeout, timeout)  # type: ignore[no-any-return]

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        self._ex.op(K_SREL, self, n)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def snapshot(self) -> object:
        return self._value

    def restore(self, state: Any) -> None:
        self._value = state

    def __repr__(self) -> str:
        return f"<{self._label} value={self._value}>"


def _p_sacq(ex: Execution, th: VThread) -> tuple[int, ...] | None:
    sem: CSemaphore = th.obj
    if sem._value > 0:
        th.form = F_OK
        return sem._wacc
    deadline = th.arg
    if deadline is not None and ex.due(deadline):
        th.form = F_FAIL
        if ex.always and deadline >= 0:
            return (sem._racc[0], ex.clock_w)
        return sem._racc
    return None


def _x_sacq(ex: Execution, th: VThread, ev: Ev) -> None:
    sem: CSemaphore = th.obj
    if th.form == F_OK:
        sem._value -= 1
        th.result = True
    else:
        if ex.always and th.arg >= 0:
            ex.clock += th.arg2
        th.result = False


def _p_srel(ex: Execution, th: VThread) -> tuple[int, ...]:
    th.form = F_OK
    return th.obj._wacc  # type: ignore[no-any-return]


def _x_srel(ex: Execution, th: VThread, ev: Ev) -> None:
    th.obj._value += th.arg


# --- thread-locals ----------------------------------------------------------


class CLocal(sync.local):
    """Thread-local storage keyed by the virtual thread (not a scheduling point)."""

    def __init__(self, ex: Execution) -> None:
        object.__setattr__(self, "_tm_ex", ex)
        object.__setattr__(self, "_tm_dicts", {})

    def _tm_dict(self) -> dict[str, Any]:
        ex = object.__getattribute__(self, "_tm_ex")
        th = ex.current
        key = -1 if th is None else th.tid
        dicts: dict[int, dict[str, Any]] = object.__getattribute__(self, "_tm_dicts")
        d = dicts.get(key)
        if d is None:
            d = dicts[key] = {}
        return d

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_tm_") or (name.startswith("__") and name.endswith("__")):
            return object.__getattribute__(self, name)
        d = object.__getattribute__(self, "_tm_dict")()
        try:
            return d[name]
        except KeyError:
            pass
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"'local' object has no attribute {name!r} in this thread")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__") and name.endswith("__"):
            object.__setattr__(self, name, value)
            return
        self._tm_dict()[name] = value

    def __delattr__(self, name: str) -> None:
        d = self._tm_dict()
        try:
            del d[name]
        except KeyError:
            raise AttributeError(name) from None


# --- dispatch ---------------------------------------------------------------

PEEK: list[Peek | None] = [None] * N_KINDS
PERFORM: list[Perform | None] = [None] * N_KINDS

for _kind, _peek, _perform in (
    (K_GET, _p_get, _x_get),
    (K_SET, _p_set, _x_set),
    (K_ACQ, _p_acq, _x_acq),
    (K_REL, _p_rel, _x_rel),
    (K_LOCKED, _p_locked, _x_locked),
    (K_WAIT, _p_wait, _x_wait),
    (K_WAKE, _p_wake, _x_wake),
    (K_NOTIFY, _p_notify, _x_notify),
    (K_ESET, _p_eset, _x_eset),
    (K_ECLEAR, _p_eclear, _x_eclear),
    (K_EISSET, _p_eisset, _x_eisset),
    (K_EWAIT, _p_ewait, _x_ewait),
    (K_EWAKE, _p_ewake, _x_ewake),
    (K_SACQ, _p_sacq, _x_sacq),
    (K_SREL, _p_srel, _x_srel),
):
    PEEK[_kind] = _peek
    PERFORM[_kind] = _perform
