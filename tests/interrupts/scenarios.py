"""The public operations swept by ``test_every_check_point`` and ``scripts/ki_checkpoints.py``.

Each scenario builds what the operation needs (untraced), and returns
``(op, after)``: ``op`` is what the harness traces and interrupts;
``after(error, result)`` joins what the API lets a user join and asserts the
promises: nothing accepted lost or duplicated, the object still usable or
cleanly closed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from treadle import Empty, Executor, Runtime, WorkerPump, channel
from treadle import task as task_mod
from treadle.task import CancellationToken

Op = tuple[Callable[[], Any], Callable[[BaseException | None, Any], None]]

ITEMS = [0, 1, 2]
_ORIGINAL_HANDLE = logging.Logger.handle


def pump_run() -> Op:
    pumped: list[int] = []

    def worker(tx: Any) -> str:
        for n in ITEMS:
            tx.send(n)
        return "done"

    def op() -> Any:
        return WorkerPump(capacity=1).run(worker, pumped.append)

    def after(error: BaseException | None, result: Any) -> None:
        assert logging.Logger.handle is _ORIGINAL_HANDLE, "logging left patched"
        assert pumped == ITEMS[: len(pumped)], f"pumped {pumped}: lost or duplicated"
        if error is None:
            assert result == "done" and pumped == ITEMS, (result, pumped)

    return op, after


def _channel_recv(capacity: int, *, via_iter: bool = False) -> Op:
    # A sender blocked on the channel (on the full buffer, or on its
    # rendezvous offer): recv takes the oldest item and wakes the sender.
    # Interrupted, nothing may be lost, duplicated or left blocked.
    tx, rx = channel(capacity=capacity)
    expected = list(range(capacity + 1))
    for n in expected[:-1]:
        tx.send(n)
    sent = threading.Event()

    def blocked_sender() -> None:
        tx.send(expected[-1])
        sent.set()

    sender = threading.Thread(target=blocked_sender, name="blocked-sender")
    sender.start()
    while rx._ch.tx_waiting == 0:  # until it is blocked in send()
        if sent.wait(0.001):
            raise AssertionError("send() into a full channel did not block")

    items = iter(rx)

    def op() -> Any:
        return next(items) if via_iter else rx.recv()

    def after(error: BaseException | None, result: Any) -> None:
        got = [] if error is not None else [result]
        deadline = time.monotonic() + 30
        while sender.is_alive():  # it finishes once its item is taken
            if time.monotonic() > deadline:
                rx.close()  # frees it, so the failure does not hang
                sender.join()
                raise AssertionError(f"the sender stayed blocked (got {got}): a lost wake-up")
            with contextlib.suppress(Empty):
                got.append(rx.recv(timeout=0.5))
        sender.join()
        while True:
            try:
                got.append(rx.recv_nowait())
            except Empty:
                break
        assert got == expected, f"received {got}: an item was lost or duplicated"
        tx.close()
        rx.close()

    return op, after


def channel_recv() -> Op:
    return _channel_recv(1)


def channel_recv_rendezvous() -> Op:
    return _channel_recv(0)


def channel_iter() -> Op:
    return _channel_recv(1, via_iter=True)


def _job(n: int, ran: list[int]) -> int:
    ran.append(n)
    return n * 10


def executor_construct() -> Op:
    def op() -> Any:
        return Executor()

    def after(error: BaseException | None, result: Any) -> None:
        if result is not None:
            ran: list[int] = []
            assert result.submit(_job, 1, ran) == 10 and ran == [1]
            result.join()

    return op, after


def executor_submit() -> Op:
    ex = Executor()
    ran: list[int] = []

    def op() -> Any:
        return ex.submit(_job, 1, ran)

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert result == 10
        # Still usable after an interrupted submit.
        assert ex.submit(_job, 2, ran) == 20
        ex.join()
        assert ran in ([2], [1, 2]) if error is not None else ran == [1, 2], ran

    return op, after


def executor_join() -> Op:
    ex = Executor()
    ran: list[int] = []
    ex.submit(_job, 1, ran)

    def op() -> Any:
        ex.join()

    def after(error: BaseException | None, result: Any) -> None:
        if error is not None:
            ex.join()  # joining again must finish the job
        assert ex.closed and ran == [1]

    return op, after


def _spin(token: CancellationToken) -> str:
    token.wait()
    return "cancelled"


def _quick(token: CancellationToken) -> str:
    return "ok"


def task_spawn() -> Op:
    def op() -> Any:
        return task_mod.spawn(_spin)

    def after(error: BaseException | None, result: Any) -> None:
        if result is not None:
            result.close()
            assert result.wait() == "cancelled"

    return op, after


def task_wait() -> Op:
    handle = task_mod.spawn(_quick)

    def op() -> Any:
        return handle.wait()

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert result == "ok"
        handle.close()
        assert handle.wait() == "ok"

    return op, after


def task_poll() -> Op:
    handle = task_mod.spawn(_quick)
    handle.wait()

    def op() -> Any:
        return handle.poll()

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert result == "ok"
        handle.close()

    return op, after


def task_close() -> Op:
    handle = task_mod.spawn(_spin)

    def op() -> Any:
        handle.close()

    def after(error: BaseException | None, result: Any) -> None:
        if error is not None:
            handle.close()
        assert handle.wait() == "cancelled"

    return op, after


class Spinner:
    def run(self, token: CancellationToken) -> str:
        token.wait()
        return "cancelled"


def export_spawn() -> Op:
    api = task_mod.export_task(Spinner)

    def op() -> Any:
        return api.spawn(Spinner())

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert isinstance(result, int)
        api.close()
        assert (
            api.statistics().live_handles == 0
            if hasattr(api.statistics(), "live_handles")
            else True
        )

    return op, after


def export_wait() -> Op:
    api = task_mod.export_task(Spinner)
    h = api.spawn(Spinner())
    api.cancel(h)

    def op() -> Any:
        return api.wait(h)

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert api.result_value(result) == "cancelled"
        api.close()

    return op, after


def export_close() -> Op:
    api = task_mod.export_task(Spinner)
    api.spawn(Spinner())
    api.spawn(Spinner())

    def op() -> Any:
        api.close()

    def after(error: BaseException | None, result: Any) -> None:
        if error is not None:
            api.close()

    return op, after


def _shut_down(rt: Runtime) -> None:
    while True:
        try:
            rt.shutdown()
            return
        except KeyboardInterrupt:  # pragma: no cover - not injected here
            continue


def runtime_init() -> Op:
    rt = Runtime()

    def op() -> Any:
        rt.init()

    def after(error: BaseException | None, result: Any) -> None:
        stats = rt.statistics()
        if error is None or stats.state == "running":
            # Completed (perhaps interrupted right after): usable, then shut down.
            assert rt.run_on_worker(lambda: 7) == 7
        else:
            # Raised: nothing behind it, and init() can run again.
            rt.init()
            assert rt.run_on_worker(lambda: 7) == 7
        _shut_down(rt)

    return op, after


def runtime_run_on_worker() -> Op:
    rt = Runtime()
    rt.init()
    ran: list[int] = []

    def op() -> Any:
        return rt.run_on_worker(lambda: ran.append(1) or 5)

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert result == 5 and ran == [1]
        assert rt.run_on_worker(lambda: 6) == 6  # still usable
        _shut_down(rt)

    return op, after


def runtime_call_on_main() -> Op:
    rt = Runtime()
    rt.init()
    on_main: list[int] = []

    def op() -> Any:
        return rt.run_on_worker(lambda: rt.call_on_main(lambda: on_main.append(1) or 3))

    def after(error: BaseException | None, result: Any) -> None:
        if error is None:
            assert result == 3 and on_main == [1]
        assert len(on_main) <= 1, on_main
        assert rt.run_on_worker(lambda: 6) == 6
        _shut_down(rt)

    return op, after


def runtime_shutdown() -> Op:
    rt = Runtime()
    rt.init()

    def op() -> Any:
        rt.shutdown()

    def after(error: BaseException | None, result: Any) -> None:
        _shut_down(rt)  # again after an interrupt: finishes, idempotent
        assert rt.statistics().state == "shut_down", rt.statistics()

    return op, after


SCENARIOS: dict[str, Callable[[], Op]] = {
    "pump.run": pump_run,
    "channel.recv": channel_recv,
    "channel.recv(rendezvous)": channel_recv_rendezvous,
    "channel.__iter__": channel_iter,
    "executor()": executor_construct,
    "executor.submit": executor_submit,
    "executor.join": executor_join,
    "task.spawn": task_spawn,
    "task.wait": task_wait,
    "task.poll": task_poll,
    "task.close": task_close,
    "export.spawn": export_spawn,
    "export.wait": export_wait,
    "export.close": export_close,
    "runtime.init": runtime_init,
    "runtime.run_on_worker": runtime_run_on_worker,
    "runtime.call_on_main": runtime_call_on_main,
    "runtime.shutdown": runtime_shutdown,
}
