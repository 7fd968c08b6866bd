"""Unmodified ``threading``, ``queue``, ``time`` and ``concurrent.futures`` code under the model.

While an exploration runs (:func:`patched`), the stdlib entry points that make
or use synchronisation objects are replaced by *dispatchers*: called from a
virtual thread of the running execution they hand out the model's controlled
primitives (the same ones :mod:`treadle.sync` hands out, so DPOR counts are the
same as for the equivalent ``treadle.sync`` program); called from anywhere else
(another real thread, the explorer itself, an invariant) they call the
original. Everything is put back when the exploration ends, however it ends.

What is replaced:

* ``threading.Lock/RLock/Condition/Event/Semaphore/BoundedSemaphore/local``,
  ``current_thread/main_thread/get_ident/get_native_id/enumerate/active_count``
  and the ``_thread`` functions behind them; ``threading.Thread`` stays the real
  class (so subclasses defined at import time work) but its ``__init__``,
  ``start``, ``join``, ``is_alive`` and ``__repr__`` run the thread as a virtual
  thread. ``Barrier`` and ``Timer`` are CPython's own pure-Python code on top.
* ``time.sleep/monotonic/perf_counter/time`` (and the ``_ns`` forms) read the
  virtual clock (``time.time()`` is ``EPOCH`` plus the virtual clock).
* ``queue.SimpleQueue`` (a C type) becomes CPython's pure-Python version on a
  controlled semaphore; ``Queue/LifoQueue/PriorityQueue`` pick up the patched
  ``threading`` names by themselves.
* ``concurrent.futures.ThreadPoolExecutor``, ``wait`` and ``as_completed`` are
  controlled re-implementations with deterministic ordering (CPython orders
  futures by ``id()`` there, which differs between executions); ``Future`` is
  CPython's, on a patched ``Condition``.

Names bound with ``from threading import Lock`` (in any loaded module) are
replaced too: every module global that *is* one of the originals is swapped for
its dispatcher for the duration.

Blocking on something the model does not control fails the execution with kind
``uncontrolled`` (see :func:`uncontrolled`): waiting on a ``Condition``/``Event``/
``Queue`` created before the exploration, joining a real thread, socket reads,
``select``, waiting for a subprocess, running an asyncio loop, ``os.read`` on a
pipe. A real lock contended between virtual threads is caught by the
exploration's watchdog (see ``_explore._Watchdog``).
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import concurrent.futures._base as _fbase
import concurrent.futures.thread as _fthread
import contextlib
import os
import queue
import select
import socket
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from treadle_model import _primitives as P
from treadle_model._ops import F_ERR, F_OK, K_BSREL
from treadle_model._runtime import _PKG_DIR, _SYNC_FILE, Execution, GreenletExit, VThread, _running

__all__ = ["EPOCH", "patched", "uncontrolled"]

# time.time() under the model: this instant plus the virtual clock.
EPOCH = 1_704_067_200.0  # 2024-01-01T00:00:00Z

# Fake thread identifiers: IDENT_BASE + the virtual thread's id.
IDENT_BASE = 1 << 40

_O_allocate_lock = _thread.allocate_lock
_O_get_ident = _thread.get_ident
_O_count = _thread._count
_O_Thread_init = threading.Thread.__init__
_O_Thread_start = threading.Thread.start
_O_Thread_join = threading.Thread.join
_O_Thread_is_alive = threading.Thread.is_alive
_O_Thread_repr = threading.Thread.__repr__
_O_Condition = threading.Condition
_O_Condition_wait = threading.Condition.wait
_O_TPE = _fthread.ThreadPoolExecutor
_ExceptHookArgs: Any = threading.ExceptHookArgs
_REAL_LOCK_TYPES: tuple[type, ...] = tuple({type(_thread.allocate_lock()), type(threading.RLock())})

_STDLIB_DIRS = tuple(
    {
        os.path.abspath(p) + os.sep
        for p in (sysconfig.get_paths()["stdlib"], os.path.dirname(os.__file__))
    }
)

# Code here reads the clock without a scheduling point (a gc callback or a
# library's timing code can run inside a virtual thread at any moment).
_LIBRARY_DIRS = tuple(
    {
        *_STDLIB_DIRS,
        *(
            os.path.abspath(sysconfig.get_paths()[k]) + os.sep
            for k in ("purelib", "platlib")
            if k in sysconfig.get_paths()
        ),
        _PKG_DIR + os.sep,
    }
)

_owner_ident = [0]


# --- where are we -------------------------------------------------------------


def _vex() -> Execution | None:
    """The running execution when called from one of its virtual threads, else None."""
    ex = _running[0]
    if ex is None or ex.current is None or ex._callback or _O_get_ident() != _owner_ident[0]:
        return None
    return ex


def _live(ex: Execution | None) -> bool:
    return ex is not None and not ex.refusing


def _user_line() -> str:
    """file:line of the nearest caller outside treadle and the stdlib."""
    f: Any = sys._getframe(1)
    first = ""
    while f is not None:
        if not first and not os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
            first = f"{f.f_code.co_filename}:{f.f_lineno}"
        fn = os.path.abspath(f.f_code.co_filename)
        if not fn.startswith(_PKG_DIR) and fn != _SYNC_FILE and not fn.startswith(_STDLIB_DIRS):
            try:
                rel = os.path.relpath(fn)
            except ValueError:  # pragma: no cover - other drive on Windows
                rel = fn
            return f"{fn if rel.startswith('..') else rel}:{f.f_lineno}"
        f = f.f_back
    return first or "?"


ADVICE = (
    "create it inside the explored function, or name its module in instrument= so the "
    "model controls it"
)


def uncontrolled(ex: Execution, what: str, where: str | None = None) -> GreenletExit:
    """Fail ``ex`` with kind ``uncontrolled`` and return the exception that ends the thread."""
    th = ex.current
    who = f"thread {th._name!r}" if th is not None else "the explored code"
    at = where if where is not None else _user_line()
    ex.abort(
        "uncontrolled",
        f"{who} blocks on {what} at {at}, which the model does not control "
        f"(it would hang or run outside the explored interleavings); {ADVICE}",
    )
    return GreenletExit()


# --- per-execution state ----------------------------------------------------------


class _State:
    __slots__ = ("by_tid", "names", "pools")

    def __init__(self) -> None:
        self.by_tid: dict[int, threading.Thread] = {}
        self.names = 0
        self.pools = 0


def _state(ex: Execution) -> _State:
    st: _State | None = ex.__dict__.get("_tm_std")
    if st is None:
        st = ex.__dict__["_tm_std"] = _State()
    return st


class _Flag:
    """Stand-in for a virtual Thread's ``_started`` event (never a scheduling point)."""

    __slots__ = ("flag",)

    def __init__(self, flag: bool = False) -> None:
        self.flag = flag

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True

    def wait(self, timeout: float | None = None) -> bool:
        return self.flag


def _standin(ex: Execution, vt: VThread) -> threading.Thread:
    """The ``threading.Thread`` object for a virtual thread not started by ``Thread.start``."""
    st = _state(ex)
    t = st.by_tid.get(vt.tid)
    if t is None:
        t = threading.Thread.__new__(threading.Thread)
        d = t.__dict__
        d["_name"] = "MainThread" if vt is ex.main else vt._name
        d["_ident"] = d["_native_id"] = IDENT_BASE + vt.tid
        d["_daemonic"] = False
        d["_initialized"] = True
        d["_started"] = _Flag(True)
        d["_target"] = None
        d["_args"] = ()
        d["_kwargs"] = {}
        d["_tm_vt"] = vt
        st.by_tid[vt.tid] = t
    return t


# --- threading functions ------------------------------------------------------------


def _lock() -> Any:
    ex = _vex()
    if not _live(ex):
        return _O_allocate_lock()
    assert ex is not None
    return P.CLock(ex)


def _rlock(*args: Any, **kwargs: Any) -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.RLock"](*args, **kwargs)
    assert ex is not None
    return P.CRLock(ex)


def _condition(lock: Any = None) -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.Condition"](lock)
    assert ex is not None
    if lock is not None and not isinstance(lock, P.CLock | P.CRLock):
        raise uncontrolled(ex, f"a Condition over {lock!r}, a lock created outside the exploration")
    return P.CCondition(ex, lock)


def _event() -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.Event"]()
    assert ex is not None
    return P.CEvent(ex)


def _semaphore(value: int = 1) -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.Semaphore"](value)
    assert ex is not None
    return P.CSemaphore(ex, value)


def _bounded_semaphore(value: int = 1) -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.BoundedSemaphore"](value)
    assert ex is not None
    return CBoundedSemaphore(ex, value)


def _local() -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["threading.local"]()
    assert ex is not None
    return P.CLocal(ex)


def _current_thread() -> Any:
    ex = _vex()
    if ex is None or ex.current is None:
        return _O["threading.current_thread"]()
    return _standin(ex, ex.current)


def _main_thread() -> Any:
    ex = _vex()
    if ex is None or ex.main is None:
        return _O["threading.main_thread"]()
    return _standin(ex, ex.main)


def _get_ident() -> int:
    ex = _vex()
    if ex is None or ex.current is None:
        return _O_get_ident()
    return IDENT_BASE + ex.current.tid


def _get_native_id() -> int:
    ex = _vex()
    if ex is None or ex.current is None:
        return _O["_thread.get_native_id"]()  # type: ignore[no-any-return]
    return IDENT_BASE + ex.current.tid


def _enumerate() -> list[Any]:
    ex = _vex()
    if not _live(ex):
        return _O["threading.enumerate"]()  # type: ignore[no-any-return]
    assert ex is not None
    return [_standin(ex, vt) for vt in list(ex.threads) if vt.is_alive()]


def _active_count() -> int:
    ex = _vex()
    if not _live(ex):
        return _O["threading.active_count"]()  # type: ignore[no-any-return]
    return len(_enumerate())


def _newname(name_template: str = "Thread-%d") -> str:
    ex = _vex()
    if ex is None:
        return _O["threading._newname"](name_template)  # type: ignore[no-any-return]
    st = _state(ex)
    st.names += 1
    return name_template % st.names


def _start_new_thread(
    function: Callable[..., object], args: tuple[Any, ...], kwargs: Any = None
) -> int:
    ex = _vex()
    if not _live(ex):
        ident: int = _O["_thread.start_new_thread"](
            function, args, *(() if kwargs is None else (kwargs,))
        )
        return ident
    assert ex is not None
    vt = ex.spawn(function, tuple(args), dict(kwargs or {}), None)
    return IDENT_BASE + vt.tid


def _default_excepthook(args: Any) -> None:
    """``threading.excepthook`` under the model: the exception fails the execution."""


# --- threading.Thread methods ---------------------------------------------------------


def _t_init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    _O_Thread_init(self, *args, **kwargs)
    if _vex() is not None:
        self.__dict__["_started"] = _Flag()


def _bootstrap(t: threading.Thread, ex: Execution) -> None:
    vt = ex.current
    assert vt is not None
    d = t.__dict__
    d["_ident"] = d["_native_id"] = IDENT_BASE + vt.tid
    d["_tm_vt"] = vt
    _state(ex).by_tid[vt.tid] = t
    try:
        t.run()
    except SystemExit:
        pass
    except GreenletExit:
        raise
    except BaseException as exc:
        hook = threading.excepthook
        if hook is _default_excepthook or hook is _O["threading.excepthook"]:
            raise
        hook(_ExceptHookArgs((type(exc), exc, exc.__traceback__, t)))


def _t_start(self: threading.Thread) -> None:
    ex = _vex()
    if ex is None:
        return _O_Thread_start(self)
    if not self._initialized:  # type: ignore[attr-defined]
        raise RuntimeError("thread.__init__() not called")
    started = self._started  # type: ignore[attr-defined]
    if started.is_set():
        raise RuntimeError("threads can only be started once")
    if not isinstance(started, _Flag):
        raise uncontrolled(ex, f"starting {self!r}, a Thread created outside the exploration")
    started.set()
    ex.spawn(_bootstrap, (self, ex), {}, self._name)  # type: ignore[attr-defined]
    return None


def _t_join(self: threading.Thread, timeout: float | None = None) -> None:
    vt: VThread | None = self.__dict__.get("_tm_vt")
    if vt is not None:
        if _vex() is None:
            return None
        vt.join(timeout)
        return None
    ex = _vex()
    if ex is not None:
        if isinstance(self.__dict__.get("_started"), _Flag):
            raise RuntimeError("cannot join thread before it is started")
        raise uncontrolled(ex, f"joining {self!r}, a real thread the model does not run")
    return _O_Thread_join(self, timeout)


def _t_is_alive(self: threading.Thread) -> bool:
    vt: VThread | None = self.__dict__.get("_tm_vt")
    if vt is not None:
        return vt.is_alive()
    if isinstance(self.__dict__.get("_started"), _Flag):
        return False
    return _O_Thread_is_alive(self)


def _t_repr(self: threading.Thread) -> str:
    d = self.__dict__
    vt: VThread | None = d.get("_tm_vt")
    if vt is not None:
        state = "started" if vt.alive else "stopped"
        return f"<{type(self).__name__}({d['_name']}, {state} {d['_ident']})>"
    if isinstance(d.get("_started"), _Flag):
        return f"<{type(self).__name__}({d.get('_name')}, initial)>"
    return _O_Thread_repr(self)


def _c_wait(self: Any, timeout: float | None = None) -> bool:
    ex = _vex()
    if ex is not None and not isinstance(self._lock, P.CLock | P.CRLock):
        owner = sys._getframe(1).f_locals.get("self")
        what = (
            f"a threading.{type(owner).__name__}"
            if owner is not None and owner is not self
            else "a threading.Condition"
        )
        raise uncontrolled(ex, f"{what} created before the exploration started ({owner or self!r})")
    return _O_Condition_wait(self, timeout)


# --- BoundedSemaphore ---------------------------------------------------------------


class CBoundedSemaphore(P.CSemaphore):
    """``threading.BoundedSemaphore`` under the model: releasing above the initial value raises."""

    __slots__ = ("_bound",)

    def __init__(self, ex: Execution, value: int = 1) -> None:
        super().__init__(ex, value)
        self._bound = value
        self._label = self._label.replace("Semaphore", "BoundedSemaphore", 1)

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        self._ex.op(K_BSREL, self, n)


def _p_bsrel(ex: Execution, th: VThread) -> tuple[int, ...]:
    sem: CBoundedSemaphore = th.obj
    if sem._value + th.arg > sem._bound:
        th.form = F_ERR
        return sem._racc
    th.form = F_OK
    return sem._wacc


def _x_bsrel(ex: Execution, th: VThread, ev: Any) -> None:
    sem: CBoundedSemaphore = th.obj
    if th.form == F_ERR:
        th.error = ValueError("Semaphore released too many times")
        return
    sem._value += th.arg


P.PEEK[K_BSREL] = _p_bsrel
P.PERFORM[K_BSREL] = _x_bsrel


# --- time ---------------------------------------------------------------------------


def _sleep(secs: float) -> None:
    ex = _vex()
    if ex is None:
        return _O["time.sleep"](secs)  # type: ignore[no-any-return]
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    ex.sleep(float(secs))
    return None


def _clock(name: str) -> Callable[[], float]:
    orig = getattr(time, name)

    def read() -> float:
        ex = _vex()
        if ex is None:
            return orig()  # type: ignore[no-any-return]
        return _read_clock(ex)

    read.__name__ = name
    return read


def _read_clock(ex: Execution) -> float:
    """The virtual clock; a scheduling point (with timeouts="always") only for user code."""
    if not ex.always or sys._getframe(2).f_code.co_filename.startswith(_LIBRARY_DIRS):
        return ex.clock
    return ex.monotonic()


def _time() -> float:
    ex = _vex()
    if ex is None:
        return _O["time.time"]()  # type: ignore[no-any-return]
    return EPOCH + _read_clock(ex)


def _ns(fn: Callable[[], float], name: str) -> Callable[[], int]:
    orig = getattr(time, name)

    def read() -> int:
        if _vex() is None:
            return orig()  # type: ignore[no-any-return]
        return int(fn() * 1_000_000_000)

    read.__name__ = name
    return read


# --- queue.SimpleQueue ----------------------------------------------------------------


def _simple_queue() -> Any:
    ex = _vex()
    if not _live(ex):
        return _O["queue.SimpleQueue"]()
    return queue._PySimpleQueue()  # type: ignore[attr-defined]


# --- concurrent.futures ---------------------------------------------------------------


def _cworker(
    executor: CThreadPoolExecutor,
    work_queue: Any,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
) -> None:
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            executor._initializer_failed()
            return
    while True:
        item = work_queue.get(block=True)
        if item is not None:
            item.run()
            del item
            executor._idle_semaphore.release()
            continue
        if executor._shutdown:
            work_queue.put(None)
            return


class CThreadPoolExecutor(_O_TPE):
    """``ThreadPoolExecutor`` under the model: the same policy, on virtual threads.

    Workers start on demand up to ``max_workers`` (an idle worker is reused
    first), as in CPython, without the interpreter-exit machinery.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not _live(_vex()):
            return _O_TPE(*args, **kwargs)  # not an instance of cls: __init__ is skipped
        return object.__new__(cls)

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        ex = _vex()
        assert ex is not None
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        st = _state(ex)
        n = st.pools
        st.pools += 1
        self._max_workers = max_workers
        self._work_queue = queue._PySimpleQueue()  # type: ignore[attr-defined]
        self._idle_semaphore = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []  # type: ignore[assignment]
        self._broken = False
        self._shutdown = False
        self._shutdown_lock = threading.Lock()
        self._thread_name_prefix = thread_name_prefix or f"ThreadPoolExecutor-{n}"
        self._initializer = initializer  # type: ignore[assignment]
        self._initargs = initargs

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        with self._shutdown_lock:
            if self._broken:
                raise _fthread.BrokenThreadPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            f: _fbase.Future[Any] = _fbase.Future()
            self._work_queue.put(_fthread._WorkItem(f, fn, args, kwargs))
            self._adjust_thread_count()
            return f

    def _adjust_thread_count(self) -> None:
        if self._idle_semaphore.acquire(timeout=0):
            return
        n = len(self._threads)
        if n < self._max_workers:
            t = threading.Thread(
                name=f"{self._thread_name_prefix}_{n}",
                target=_cworker,
                args=(self, self._work_queue, self._initializer, self._initargs),
            )
            t.start()
            self._threads.append(t)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._shutdown_lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._work_queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item.future.cancel()
            self._work_queue.put(None)  # type: ignore[arg-type]
        if wait:
            for t in self._threads:
                t.join()


class _OrderedSet(set[Any]):
    """A set that iterates in a fixed order (CPython's futures sets iterate by id)."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        order = list(items)
        super().__init__(order)
        self._order = order

    def __iter__(self) -> Iterator[Any]:
        seen = [x for x in self._order if set.__contains__(self, x)]
        ids = {id(x) for x in seen}
        return iter(seen + [x for x in set.__iter__(self) if id(x) not in ids])


def _fkey(f: Any) -> tuple[int, int]:
    oid = getattr(getattr(getattr(f, "_condition", None), "_lock", None), "_oid", None)
    return (0, oid) if isinstance(oid, int) else (1, id(f))


def _ordered(fs: Iterable[Any]) -> list[Any]:
    seq = list(dict.fromkeys(fs))
    if not isinstance(fs, list | tuple) or isinstance(fs, _OrderedSet):
        seq.sort(key=_fkey)
    return seq


_DONE = (_fbase.CANCELLED_AND_NOTIFIED, _fbase.FINISHED)


@contextlib.contextmanager
def _acquired(fs: list[Any]) -> Iterator[None]:
    for f in fs:
        f._condition.acquire()
    try:
        yield
    finally:
        for f in fs:
            f._condition.release()


def _wait(
    fs: Iterable[Any], timeout: float | None = None, return_when: str = _fbase.ALL_COMPLETED
) -> Any:
    if _vex() is None:
        return _O["concurrent.futures.wait"](fs, timeout, return_when)
    seq = _ordered(fs)
    result = _fbase.DoneAndNotDoneFutures
    with _acquired(seq):
        done = [f for f in seq if f._state in _DONE]
        not_done = [f for f in seq if f._state not in _DONE]
        if (return_when == _fbase.FIRST_COMPLETED) and done:
            return result(_OrderedSet(done), _OrderedSet(not_done))
        if (
            return_when == _fbase.FIRST_EXCEPTION
            and done
            and any(not f.cancelled() and f.exception() is not None for f in done)
        ):
            return result(_OrderedSet(done), _OrderedSet(not_done))
        if len(done) == len(seq):
            return result(_OrderedSet(done), _OrderedSet(not_done))
        waiter = _fbase._create_and_install_waiters(  # type: ignore[attr-defined]
            seq, return_when
        )
    waiter.event.wait(timeout)
    for f in seq:
        with f._condition:
            f._waiters.remove(waiter)
    for f in waiter.finished_futures:
        if f not in done:
            done.append(f)
    return result(_OrderedSet(done), _OrderedSet([f for f in seq if f not in done]))


def _as_completed(fs: Iterable[Any], timeout: float | None = None) -> Iterator[Any]:
    if _vex() is None:
        return _O["concurrent.futures.as_completed"](fs, timeout)  # type: ignore[no-any-return]
    return _as_completed_gen(fs, timeout)


def _as_completed_gen(fs: Iterable[Any], timeout: float | None) -> Iterator[Any]:
    end = None if timeout is None else timeout + time.monotonic()
    seq = _ordered(fs)
    total = len(seq)
    with _acquired(seq):
        finished = [f for f in seq if f._state in _DONE]
        pending = [f for f in seq if f._state not in _DONE]
        waiter = _fbase._create_and_install_waiters(  # type: ignore[attr-defined]
            seq,
            _fbase._AS_COMPLETED,  # type: ignore[attr-defined]
        )
    try:
        yield from finished
        while pending:
            if end is None:
                wait_timeout = None
            else:
                wait_timeout = end - time.monotonic()
                if wait_timeout < 0:
                    raise _fbase.TimeoutError(f"{len(pending)} (of {total}) futures unfinished")
            waiter.event.wait(wait_timeout)
            with waiter.lock:
                got = waiter.finished_futures
                waiter.finished_futures = []
                waiter.event.clear()
            for f in got:
                if f in pending:
                    pending.remove(f)
                    yield f
    finally:
        for f in seq:
            with f._condition:
                f._waiters.remove(waiter)


# --- things the model does not control --------------------------------------------------


def _blocking(what: str, orig: Callable[..., Any], *, method: bool = False) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        ex = _vex()
        if ex is not None:
            target = f"{what} {args[0]!r}" if method and args else what
            for a in args:
                if asyncio.iscoroutine(a):
                    a.close()  # it will never run: no "never awaited" warning
            raise uncontrolled(ex, target)
        return orig(*args, **kwargs)

    call.__name__ = getattr(orig, "__name__", what)
    call.__doc__ = getattr(orig, "__doc__", None)
    return call


def _os_read(fd: int, n: int) -> bytes:
    ex = _vex()
    if ex is not None:
        with contextlib.suppress(OSError):
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode):
                raise uncontrolled(
                    ex, f"os.read of file descriptor {fd} (a pipe, socket or terminal)"
                )
    return _O["os.read"](fd, n)  # type: ignore[no-any-return]


# --- installing -----------------------------------------------------------------------

# (module, attribute) -> replacement; the originals are kept in _O.
_O: dict[str, Any] = {}


def _table() -> list[tuple[Any, str, Any]]:
    mono = _clock("monotonic")
    perf = _clock("perf_counter")
    rows: list[tuple[Any, str, Any]] = [
        (threading, "Lock", _lock),
        (threading, "_allocate_lock", _lock),
        (_thread, "allocate_lock", _lock),
        (threading, "RLock", _rlock),
        (threading, "Condition", _condition),
        (threading, "Event", _event),
        (threading, "Semaphore", _semaphore),
        (threading, "BoundedSemaphore", _bounded_semaphore),
        (threading, "local", _local),
        (threading, "current_thread", _current_thread),
        (threading, "currentThread", _current_thread),
        (threading, "main_thread", _main_thread),
        (threading, "get_ident", _get_ident),
        (_thread, "get_ident", _get_ident),
        (threading, "get_native_id", _get_native_id),
        (_thread, "get_native_id", _get_native_id),
        (threading, "enumerate", _enumerate),
        (threading, "active_count", _active_count),
        (threading, "activeCount", _active_count),
        (threading, "_newname", _newname),
        (threading, "excepthook", _default_excepthook),
        (_thread, "start_new_thread", _start_new_thread),
        (_thread, "start_new", _start_new_thread),
        (threading, "_start_new_thread", _start_new_thread),
        (time, "sleep", _sleep),
        (time, "monotonic", mono),
        (time, "perf_counter", perf),
        (time, "time", _time),
        (time, "monotonic_ns", _ns(mono, "monotonic_ns")),
        (time, "perf_counter_ns", _ns(perf, "perf_counter_ns")),
        (time, "time_ns", _ns(_time, "time_ns")),
        (queue, "SimpleQueue", _simple_queue),
        (concurrent.futures, "ThreadPoolExecutor", CThreadPoolExecutor),
        (_fthread, "ThreadPoolExecutor", CThreadPoolExecutor),
        (concurrent.futures, "wait", _wait),
        (_fbase, "wait", _wait),
        (concurrent.futures, "as_completed", _as_completed),
        (_fbase, "as_completed", _as_completed),
        (os, "read", _os_read),
        (select, "select", _blocking("select.select", select.select)),
        (subprocess, "run", _blocking("subprocess.run", subprocess.run)),
        (subprocess, "call", _blocking("subprocess.call", subprocess.call)),
        (subprocess, "check_call", _blocking("subprocess.check_call", subprocess.check_call)),
        (subprocess, "check_output", _blocking("subprocess.check_output", subprocess.check_output)),
        (asyncio, "run", _blocking("asyncio.run", asyncio.run)),
    ]
    return [r for r in rows if hasattr(r[0], r[1])]


def _class_table() -> list[tuple[Any, str, Any]]:
    rows: list[tuple[Any, str, Any]] = [
        (threading.Thread, "__init__", _t_init),
        (threading.Thread, "start", _t_start),
        (threading.Thread, "join", _t_join),
        (threading.Thread, "is_alive", _t_is_alive),
        (threading.Thread, "__repr__", _t_repr),
        (_O_Condition, "wait", _c_wait),
        (
            subprocess.Popen,
            "wait",
            _blocking("waiting for subprocess", subprocess.Popen.wait, method=True),
        ),
        (
            subprocess.Popen,
            "communicate",
            _blocking("communicating with subprocess", subprocess.Popen.communicate, method=True),
        ),
        (
            asyncio.BaseEventLoop,
            "run_until_complete",
            _blocking(
                "running asyncio loop", asyncio.BaseEventLoop.run_until_complete, method=True
            ),
        ),
        (
            asyncio.BaseEventLoop,
            "run_forever",
            _blocking("running asyncio loop", asyncio.BaseEventLoop.run_forever, method=True),
        ),
    ]
    for name in (
        "accept",
        "recv",
        "recv_into",
        "recvfrom",
        "recvfrom_into",
        "recvmsg",
        "connect",
        "makefile",
    ):
        if hasattr(socket.socket, name):
            rows.append(
                (
                    socket.socket,
                    name,
                    _blocking(f"socket.{name} on", getattr(socket.socket, name), method=True),
                )
            )
    return rows


# Modules whose globals are never rewritten (ours, and the C modules whose
# types happen to be originals: isinstance checks there must keep working).
_SKIP_PREFIXES = ("treadle_model", "greenlet", "_thread", "_queue", "builtins")


# Per module name: (the module, its size when scanned, the names that held an
# original). A module is scanned again only when it is new or its globals
# changed in number; otherwise only the remembered names are checked.
_scan_cache: dict[str, tuple[Any, int, tuple[str, ...]]] = {}


def _scan_targets(
    originals: dict[int, tuple[Any, Any]],
) -> list[tuple[dict[str, Any], str, Any, Any]]:
    found = []
    cache = _scan_cache
    for name, mod in list(sys.modules.items()):
        if name.startswith(_SKIP_PREFIXES) or mod is None:
            continue
        d = getattr(mod, "__dict__", None)
        if not isinstance(d, dict):
            continue
        entry = cache.get(name)
        if entry is not None and entry[0] is mod and entry[1] == len(d):
            keys: Iterable[str] = entry[2]
        else:
            keys = [k for k, v in list(d.items()) if id(v) in originals]
            cache[name] = (mod, len(d), tuple(keys))
        for k in keys:
            v = d.get(k)
            hit = originals.get(id(v))
            if hit is not None and hit[0] is v:
                found.append((d, k, v, hit[1]))
    return found


_depth = [0]


def active() -> bool:
    """True while :func:`patched` is in effect."""
    return _depth[0] > 0


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Replace the stdlib entry points for the duration (see the module docstring)."""
    if _depth[0]:
        raise RuntimeError("the stdlib is already patched for another exploration")
    _owner_ident[0] = _O_get_ident()
    undo: list[tuple[Any, str, bool, Any]] = []
    undo_dicts: list[tuple[dict[str, Any], str, Any, Any]] = []
    try:
        originals: dict[int, tuple[Any, Any]] = {}
        for mod, attr, repl in _table():
            orig = mod.__dict__.get(attr, _MISSING)
            key = f"{mod.__name__}.{attr}"
            if orig is not _MISSING:
                _O.setdefault(key, orig)
            if orig is _MISSING and mod is concurrent.futures:
                orig = getattr(_fthread if attr == "ThreadPoolExecutor" else _fbase, attr)
                _O.setdefault(key, orig)
            undo.append((mod, attr, attr in mod.__dict__, mod.__dict__.get(attr)))
            setattr(mod, attr, repl)
            if (orig is not _MISSING and not isinstance(orig, type)) or orig is _O_TPE:
                originals.setdefault(id(orig), (orig, repl))
        for cls, attr, repl in _class_table():
            undo.append((cls, attr, attr in cls.__dict__, cls.__dict__.get(attr)))
            setattr(cls, attr, repl)
        # Types are only rewritten where they are bound by name in user code
        # (a module's `from threading import Event`); see _SKIP_PREFIXES.
        for key, repl in (
            ("threading.Lock", _lock),  # a type since 3.13
            ("threading.Event", _event),
            ("threading.Condition", _condition),
            ("threading.Semaphore", _semaphore),
            ("threading.BoundedSemaphore", _bounded_semaphore),
            ("threading.local", _local),
            ("queue.SimpleQueue", _simple_queue),
        ):
            orig = _O.get(key)
            if orig is not None:
                originals.setdefault(id(orig), (orig, repl))
        for d, k, v, repl in _scan_targets(originals):
            undo_dicts.append((d, k, v, repl))
            d[k] = repl
        _depth[0] = 1
        yield
    finally:
        _depth[0] = 0
        for d, k, v, repl in reversed(undo_dicts):
            if d.get(k) is repl:
                d[k] = v
        for target, attr, had, old in reversed(undo):
            if had:
                setattr(target, attr, old)
            else:
                with contextlib.suppress(AttributeError):
                    delattr(target, attr)


_MISSING: Any = object()


def real_thread_count() -> int:
    """The number of real OS threads Python started (unaffected by the patches)."""
    return _O_count() + len(threading._limbo)  # type: ignore[attr-defined]
