"""A rendezvous send interrupted in its wake-up, explored under every interleaving.

Found by the runtime's interrupt scenarios (``treadle_verify.protocols.runtime``):
``Runtime.run_on_worker`` sends each job on a rendezvous channel, and a
``KeyboardInterrupt`` landing on the sender's ``notify()`` of the waiting
receiver used to (1) leave the channel counting a wake-up that never
happened, so the next send skipped its notify and both threads slept forever,
and (2) leave the interrupted offer in the channel, delivered later although
its ``send`` raised.
"""

from __future__ import annotations

import contextlib

from treadle import Disconnected, channel, sync
from treadle_model import explore


def _send_two_then_close() -> None:
    tx, rx = channel(0, name="jobs")
    got: list[int] = []

    def receiver() -> None:
        while True:
            try:
                got.append(rx.recv())
            except Disconnected:
                return

    thread = sync.spawn(receiver, name="receiver")
    for item in (1, 2):
        # A send that raised may or may not have been taken.
        with contextlib.suppress(KeyboardInterrupt):
            tx.send(item)
    while True:
        try:
            tx.close()
            thread.join()
            break
        except KeyboardInterrupt:
            pass  # retry: close() and join() are idempotent
    assert got in ([1, 2], [1], [2], []), got


def test_rendezvous_send_interrupted_at_its_wakeup_neither_deadlocks_nor_loses_the_next() -> None:
    report = explore(_send_two_then_close, interrupt_main=True)
    print(f"\nchannel interrupted send: {report.executions} executions, {report.elapsed:.2f}s")
    report.assert_ok()
    assert report.exhaustive


def test_rendezvous_send_that_raised_leaves_no_offer_behind() -> None:
    # White-box: once send() has raised, its offer is either taken already or
    # withdrawn; it can never be delivered later.
    def body() -> None:
        tx, rx = channel(0)

        def receiver() -> None:
            # Disconnected: the send was withdrawn, then the sender closed.
            with contextlib.suppress(Disconnected):
                rx.recv()

        thread = sync.spawn(receiver, name="receiver")
        try:
            tx.send(1)
        except KeyboardInterrupt:
            assert all(offer.taken for offer in tx._ch.offers)
        while True:
            try:
                tx.close()
                thread.join()
                break
            except KeyboardInterrupt:
                pass
        rx.close()

    report = explore(body, interrupt_main=True)
    report.assert_ok()
    assert report.exhaustive
