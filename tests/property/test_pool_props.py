"""WorkerPool: random sequences of operations lose and duplicate nothing and leak no thread.

Each worker is scripted: it acts only on commands the test sends down
(``("send", k)``, ``("try_send",)``, ``("raise",)``, ``("quit",)``) and logs
every value whose ``tx.send``/``tx.try_send`` returned. The test keeps a
model of each worker (paused or not, held commands, ended or not) that
follows the down channel's FIFO order, so it knows which commands a worker
will act on, and uses a blocking ``recv`` only when the model says a message
is certain to come. At the end:

* every value a worker logged as sent was received exactly once, by
  ``recv``/``try_recv``/``recv_burst``/``stop``/``close`` (or is on a
  ``PoolWorkerError``'s ``messages``), in that worker's order, and nothing
  else was received;
* every worker that raised was reported exactly once, by the stop or close
  that joined it (or, for an abandoned stop, by the next one);
* a burst never yields a message sent after it started;
* every worker thread has ended after each stop.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from treadle import (
    Disconnected,
    Empty,
    Full,
    NoWorkers,
    PoolWorkerError,
    WorkerPool,
    WorkerReceiver,
    WorkerSender,
)
from treadle.pool import CONTINUE, PAUSE, STOP

WAIT = 10.0  # a hang guard; never reached unless something is broken

Value = tuple[str, int, int, int]  # (kind, generation, worker index, sequence number)


@dataclass
class Log:
    """What the worker threads did, as they tell it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[Value] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)


def scripted_worker(gen: int, log: Log) -> Any:
    def worker(tx: WorkerSender[Value], rx: WorkerReceiver[Any]) -> None:
        with log.lock:
            log.threads.append(threading.current_thread())
        seq = 0
        for cmd in rx:
            kind = cmd[0]
            if kind == "send":
                for _ in range(cmd[1]):
                    value: Value = ("send", gen, tx.index, seq)
                    seq += 1
                    tx.send(value)
                    with log.lock:
                        log.sent.append(value)
            elif kind == "try_send":
                value = ("try", gen, tx.index, seq)
                seq += 1
                try:
                    tx.try_send(value)
                except Full:
                    continue
                with log.lock:
                    log.sent.append(value)
            elif kind == "raise":
                raise ValueError(f"{gen}:{tx.index}")
            elif kind == "quit":
                return

    return worker


@dataclass
class ModelWorker:
    """What one worker will do with the commands it was sent, in FIFO order."""

    paused: bool = False
    held: list[Any] = field(default_factory=list)
    ended: bool = False
    raised: bool = False
    sends: int = 0  # values its "send" commands will certainly send

    def deliver(self, cmd: Any) -> None:
        if self.ended:
            return
        if cmd is STOP:
            self.ended = True
            self.held = []
        elif cmd is PAUSE:
            self.paused = True
        elif cmd is CONTINUE:
            self.paused = False
            held, self.held = self.held, []
            for c in held:
                self._act(c)
        elif self.paused:
            self.held.append(cmd)
        else:
            self._act(cmd)

    def _act(self, cmd: Any) -> None:
        if self.ended:
            return
        if cmd[0] == "send":
            self.sends += cmd[1]
        elif cmd[0] == "raise":
            self.raised = True
            self.ended = True
        elif cmd[0] == "quit":
            self.ended = True


worker_ix = st.integers(0, 7)
ops = st.one_of(
    # Listed more than once to weigh the draw towards them.
    st.just(("execute",)),
    st.just(("execute",)),
    st.tuples(st.just("send_to"), worker_ix, st.integers(0, 4)),
    st.tuples(st.just("send_to"), worker_ix, st.integers(0, 4)),
    st.tuples(st.just("send_one"), st.integers(0, 4)),
    st.tuples(st.just("broadcast"), st.integers(0, 3)),
    st.tuples(st.just("try_send"), worker_ix),
    st.tuples(st.just("raise"), worker_ix),
    st.tuples(st.just("quit"), worker_ix),
    st.tuples(st.just("pause"), worker_ix),
    st.tuples(st.just("continue"), worker_ix),
    st.just(("pause_all",)),
    st.just(("continue_all",)),
    st.just(("recv",)),
    st.just(("try_recv",)),
    st.just(("burst",)),
    st.just(("stop",)),
    st.tuples(st.just("stop_partial"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("burst_racing"), worker_ix, st.integers(1, 6)),
)


class Run:
    def __init__(self, capacity: int) -> None:
        self.pool: WorkerPool[Value, Any] = WorkerPool(capacity, name="prop")
        self.log = Log()
        self.gen = 0
        self.model: list[ModelWorker] = []
        self.all_models: list[ModelWorker] = []
        self.received: list[Value] = []
        self.reported: list[str] = []  # "gen:index" of every worker error raised to us
        self.raised_expected: list[str] = []

    # -- bookkeeping -------------------------------------------------------------------------

    def take(self, values: list[Value]) -> None:
        self.received.extend(values)

    def outstanding(self) -> int:
        certain = sum(m.sends for m in self.all_models)
        return certain - sum(1 for v in self.received if v[0] == "send")

    def command(self, w: int, cmd: Any) -> None:
        if not self.model:
            return
        i = w % len(self.model)
        try:
            self.pool.send_to(i, cmd)
        except Disconnected:
            assert self.model[i].ended, f"send_to({i}) refused but worker {i} should be running"
        self.model[i].deliver(cmd)

    def end_generation(self, errors: PoolWorkerError | None) -> None:
        if errors is not None:
            self.reported.extend(str(e) for e in errors.exceptions)
        with self.log.lock:
            threads = list(self.log.threads)
        assert not any(t.is_alive() for t in threads), "a worker outlived stop()"
        for m in self.model:
            m.deliver(STOP)
        self.raised_expected.extend(f"{self.gen}:{i}" for i, m in enumerate(self.model) if m.raised)
        self.model = []
        self.gen += 1

    # -- operations --------------------------------------------------------------------------

    def step(self, op: tuple[Any, ...]) -> None:
        pool = self.pool
        kind = op[0]
        if kind == "execute":
            if len(self.model) < 4:
                assert pool.execute(scripted_worker(self.gen, self.log)) == len(self.model)
                self.model.append(ModelWorker())
                self.all_models.append(self.model[-1])
        elif kind == "send_to":
            self.command(op[1], ("send", op[2]))
        elif kind in ("try_send", "raise", "quit"):
            self.command(op[1], (kind,))
        elif kind == "pause":
            self.command(op[1], PAUSE)
        elif kind == "continue":
            self.command(op[1], CONTINUE)
        elif kind == "send_one":
            try:
                i = pool.send_one(("send", op[1]))
            except NoWorkers:
                assert all(m.ended for m in self.model), "send_one found no worker but one runs"
            else:
                self.model[i].deliver(("send", op[1]))
        elif kind in ("broadcast", "pause_all", "continue_all"):
            cmd = {"broadcast": ("send", op[-1]), "pause_all": PAUSE, "continue_all": CONTINUE}[
                kind
            ]
            reached = pool.broadcast(cmd)
            assert reached >= sum(not m.ended for m in self.model)
            for m in self.model:
                m.deliver(cmd)
        elif kind == "recv":
            if self.outstanding() > 0:
                self.take([pool.recv(timeout=WAIT)])
            else:
                self.try_recv()
        elif kind == "try_recv":
            self.try_recv()
        elif kind == "burst":
            before = time.monotonic()
            burst = pool.recv_burst(with_envelope=True)
            after = time.monotonic()
            got = list(burst)
            assert all(m.sent_at <= after for m in got), "a burst yielded a later message"
            assert before <= after
            self.take([m.value for m in got])
        elif kind == "burst_racing":
            self.burst_racing(op[1], op[2])
        elif kind == "stop":
            try:
                self.take(pool.stop_and_join())
            except PoolWorkerError as exc:
                self.take(exc.messages)
                self.end_generation(exc)
            else:
                self.end_generation(None)
        elif kind == "stop_partial":
            self.stop_partial(op[1], op[2])

    def burst_racing(self, w: int, k: int) -> None:
        """Start a burst, then have a worker send; read the burst only once one is queued.

        Messages stamped after the burst started must be cut off and kept.
        """
        burst = self.pool.recv_burst(with_envelope=True)
        after = time.monotonic()
        self.command(w, ("send", k))
        if self.outstanding() > 0:
            deadline = time.monotonic() + WAIT
            while self.pool.statistics().queued == 0:
                assert time.monotonic() < deadline, "a certain message never arrived"
                time.sleep(0.0005)
        got = list(burst)
        assert all(m.sent_at <= after for m in got), "a burst yielded a later message"
        self.take([m.value for m in got])

    def try_recv(self) -> None:
        try:
            self.take([self.pool.try_recv()])
        except NoWorkers:
            assert all(m.ended for m in self.model)
        except Empty:
            pass

    def stop_partial(self, n: int, close: bool) -> None:
        it = self.pool.stop()
        got: list[Value] = []
        errors: PoolWorkerError | None = None
        try:
            while len(got) < n:
                got.append(next(it))
        except StopIteration:
            pass
        except PoolWorkerError as exc:  # it ran to the end
            errors = exc
        self.take(got)
        if close:
            try:
                self.take(it.close())
            except PoolWorkerError as exc:
                self.take(exc.messages)
                errors = exc
        else:
            # Dropped: it drains and joins now; its messages go back to the
            # pool and its errors to the next stop/close.
            del it
        self.end_generation(errors)

    def finish(self) -> None:
        try:
            self.take(self.pool.close())
        except PoolWorkerError as exc:
            self.take(exc.messages)
            self.end_generation(exc)
        else:
            self.end_generation(None)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 3),
    workers=st.integers(0, 4),
    script=st.lists(ops, min_size=5, max_size=40),
)
def test_pool_loses_and_duplicates_nothing_and_joins_everything(
    capacity: int, workers: int, script: list[tuple[Any, ...]]
) -> None:
    run = Run(capacity)
    try:
        for op in [("execute",)] * workers + script:
            run.step(op)
    finally:
        run.finish()

    with run.log.lock:
        sent = list(run.log.sent)
        threads = list(run.log.threads)
    assert not any(t.is_alive() for t in threads)
    counts = Counter(run.received)
    duplicated = [v for v, n in counts.items() if n > 1]
    assert not duplicated, f"received more than once: {duplicated}"
    assert set(run.received) == set(sent), (
        f"lost: {sorted(set(sent) - set(run.received))}; "
        f"never sent: {sorted(set(run.received) - set(sent))}"
    )
    for gen, index in {(v[1], v[2]) for v in run.received}:
        seqs = [v[3] for v in run.received if (v[1], v[2]) == (gen, index)]
        assert seqs == sorted(seqs), f"worker {gen}:{index} out of order: {seqs}"
    assert sorted(run.reported) == sorted(run.raised_expected)
