"""WorkerPool soak: 10^5+ messages through a small channel, counted exactly.

Several workers outpace a manager that alternates bursts and single receives
on a capacity-4 channel, and stop() arrives while they are still sending. Every
message a worker sent must arrive exactly once and in that worker's order.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from treadle import Empty, StopRequested, WorkerPool, WorkerReceiver, WorkerSender

WORKERS = 6
PER_WORKER = 20_000  # 120,000 messages in the first phase
CAPACITY = 4


@pytest.mark.slow
def test_pool_soak_exact_counts_through_a_small_channel() -> None:
    sent = [0] * WORKERS  # each slot written only by its own worker
    finished = threading.Barrier(WORKERS + 1)

    def worker(tx: WorkerSender[int], rx: WorkerReceiver[Any]) -> None:
        n = 0
        # Phase 1: a fixed number of messages, as fast as the channel allows.
        while n < PER_WORKER:
            tx.send(n)
            n += 1
        sent[tx.index] = n
        finished.wait(60)
        # Phase 2: keep sending until STOP, so stop() must drain a flood.
        while True:
            try:
                rx.try_recv()
            except StopRequested:
                sent[tx.index] = n
                return
            except Empty:
                pass
            tx.send(n)
            n += 1

    received: list[list[int]] = [[] for _ in range(WORKERS)]
    started = time.monotonic()
    with WorkerPool[int, Any](CAPACITY, name="soak") as pool:
        pool.execute_many(WORKERS, worker)
        total = 0
        bursts = 0
        while total < WORKERS * PER_WORKER:
            if bursts % 2 == 0:
                for msg in pool.recv_burst(with_envelope=True):
                    received[msg.worker].append(msg.value)
                    total += 1
            else:
                msg = pool.recv(timeout=60, with_envelope=True)
                received[msg.worker].append(msg.value)
                total += 1
            bursts += 1
        finished.wait(60)
        # Let the flood fill the channel, so stop() has blocked senders to drain.
        deadline = time.monotonic() + 60
        while pool.statistics().senders_waiting < WORKERS // 2:
            assert time.monotonic() < deadline, "phase-2 senders never blocked"
            time.sleep(0.001)
        for msg in pool.stop(with_envelope=True):
            received[msg.worker].append(msg.value)
    elapsed = time.monotonic() - started

    assert sum(sent) > WORKERS * PER_WORKER  # phase 2 sent something too
    for w in range(WORKERS):
        assert received[w] == list(range(sent[w])), f"worker {w}: lost, repeated or reordered"
    messages = sum(sent)
    print(f"\npool soak: {messages} messages, {elapsed:.2f}s, {messages / elapsed:,.0f} msg/s")
