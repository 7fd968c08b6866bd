"""The channel's contract (SEMANTICS section 1 and the module docstring)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.support import Background, recording, wait_until
from treadle import (
    ChannelStatistics,
    Closed,
    Disconnected,
    Empty,
    Full,
    Receiver,
    Sender,
    channel,
)

# Many of these older tests, for brevity, leave a Sender to the garbage collector
# unclosed; that ResourceWarning is silenced in this module only.
pytestmark = pytest.mark.filterwarnings("ignore:Sender .*garbage-collected:ResourceWarning")


def _sender_blocked(tx: Sender[Any], n: int = 1) -> None:
    wait_until(lambda: tx.statistics().senders_waiting >= n, what=f"{n} blocked sender(s)")


def _receiver_blocked(rx: Receiver[Any]) -> None:
    wait_until(lambda: rx.statistics().receiver_waiting, what="the receiver to block")


# --- ordering and capacity ----------------------------------------------------


@pytest.mark.parametrize("capacity", [None, 1, 3, 100])
def test_items_come_out_in_fifo_order(capacity: int | None) -> None:
    tx, rx = channel(capacity)
    items = list(range(50))

    def produce() -> None:
        with tx:
            for item in items:
                tx.send(item)

    producer = Background(produce)
    assert list(rx) == items
    producer.outcome()


def test_fifo_order_on_a_rendezvous_channel() -> None:
    tx, rx = channel(0)

    def produce() -> None:
        with tx:
            for item in range(20):
                tx.send(item)

    producer = Background(produce)
    assert list(rx) == list(range(20))
    producer.outcome()


def test_unbounded_send_never_blocks() -> None:
    tx, rx = channel(None)
    for item in range(10_000):
        tx.send_nowait(item)
    assert tx.statistics().buffered == 10_000
    assert [rx.recv_nowait() for _ in range(10_000)] == list(range(10_000))


def test_bounded_send_nowait_raises_full_at_capacity() -> None:
    tx, rx = channel(2)
    tx.send_nowait("a")
    tx.send_nowait("b")
    with pytest.raises(Full, match="full"):
        tx.send_nowait("c")
    assert rx.recv_nowait() == "a"
    tx.send_nowait("c")
    assert [rx.recv_nowait(), rx.recv_nowait()] == ["b", "c"]


def test_bounded_send_blocks_until_the_receiver_makes_room() -> None:
    tx, rx = channel(1)
    tx.send("first")
    sender = Background(tx.send, "second")
    _sender_blocked(tx)
    assert not sender.done
    assert rx.recv() == "first"
    sender.outcome()
    assert rx.recv() == "second"


def test_rendezvous_send_returns_only_after_recv_took_the_item() -> None:
    tx, rx = channel(0)
    sender = Background(tx.send, "x")
    _sender_blocked(tx)
    # The offer is visible but not taken: the send has not completed.
    assert tx.statistics().buffered == 1
    assert sender.still_running_after(0.02)
    assert rx.recv() == "x"
    sender.outcome()
    assert tx.statistics().buffered == 0


def test_rendezvous_send_nowait_needs_a_waiting_receiver() -> None:
    tx, rx = channel(0)
    with pytest.raises(Full, match="no receiver waiting"):
        tx.send_nowait("x")
    receiver = Background(rx.recv)
    _receiver_blocked(rx)
    tx.send_nowait("y")
    assert receiver.outcome() == "y"


def test_rendezvous_recv_nowait_takes_a_blocked_senders_item() -> None:
    tx, rx = channel(0)
    with pytest.raises(Empty):
        rx.recv_nowait()
    sender = Background(tx.send, "z")
    _sender_blocked(tx)
    assert rx.recv_nowait() == "z"
    sender.outcome()


# --- closing the receiver -----------------------------------------------------


def test_send_after_receiver_closed_raises_disconnected_with_the_item() -> None:
    tx, rx = channel(4)
    rx.close()
    item = object()
    with pytest.raises(Disconnected, match="receiver is closed") as info:
        tx.send(item)
    assert info.value.item is item
    with pytest.raises(Disconnected) as info:
        tx.send_nowait(item)
    assert info.value.item is item


@pytest.mark.parametrize("capacity", [0, 1])
def test_closing_the_receiver_wakes_a_blocked_sender(capacity: int) -> None:
    tx, rx = channel(capacity)
    if capacity:
        tx.send("filler")
    item = ["payload"]
    sender = Background(tx.send, item)
    _sender_blocked(tx)
    rx.close()
    error = sender.error()
    assert isinstance(error, Disconnected)
    assert error.item is item


def test_closing_the_receiver_wakes_every_blocked_sender() -> None:
    tx, rx = channel(1)
    tx.send(0)
    clones = [tx.clone() for _ in range(3)]
    senders = [Background(c.send, i) for i, c in enumerate(clones, 1)]
    _sender_blocked(tx, 3)
    rx.close()
    assert sorted(s.error().item for s in senders) == [1, 2, 3]  # type: ignore[union-attr]


def test_closing_the_receiver_discards_buffered_items() -> None:
    tx, rx = channel(None)
    for i in range(3):
        tx.send(i)
    rx.close()
    stats = tx.statistics()
    assert stats.buffered == 0
    assert stats.receiver_closed


def test_closing_the_receiver_withdraws_a_pending_rendezvous_offer() -> None:
    tx, rx = channel(0)
    sender = Background(tx.send, "offer")
    _sender_blocked(tx)
    rx.close()
    assert isinstance(sender.error(), Disconnected)
    assert tx.statistics().buffered == 0


# --- closing senders ----------------------------------------------------------


def test_recv_raises_disconnected_once_every_sender_is_closed_and_buffer_empty() -> None:
    tx, rx = channel(None)
    tx.send(1)
    tx.send(2)
    tx.close()
    # Nothing sent before close is lost.
    assert rx.recv() == 1
    assert rx.recv_nowait() == 2
    with pytest.raises(Disconnected, match="every sender is closed") as info:
        rx.recv()
    assert info.value.item is None
    with pytest.raises(Disconnected):
        rx.recv_nowait()


def test_closing_the_last_sender_wakes_a_blocked_receiver() -> None:
    tx, rx = channel(3)
    receiver = Background(rx.recv)
    _receiver_blocked(rx)
    tx.close()
    assert isinstance(receiver.error(), Disconnected)


def test_a_clone_keeps_the_channel_connected_until_it_is_closed_too() -> None:
    tx, rx = channel(3)
    clone = tx.clone()
    assert tx.statistics().senders == 2
    receiver = Background(rx.recv)
    _receiver_blocked(rx)
    tx.close()
    # One sender is still open: the receiver must stay blocked.
    assert receiver.still_running_after(0.05)
    assert rx.statistics().receiver_waiting
    clone.close()
    assert isinstance(receiver.error(), Disconnected)


def test_a_clone_can_still_send_after_the_original_closed() -> None:
    tx, rx = channel(None)
    clone = tx.clone()
    tx.close()
    clone.send("late")
    clone.close()
    assert list(rx) == ["late"]


def test_iteration_ends_at_disconnect_after_every_item() -> None:
    tx, rx = channel(None)
    clone = tx.clone()
    tx.send("a")
    clone.send("b")
    tx.close()
    clone.send("c")
    clone.close()
    assert list(rx) == ["a", "b", "c"]


# --- non-blocking and timed calls ---------------------------------------------


def test_recv_nowait_raises_empty_on_an_open_empty_channel() -> None:
    _, rx = channel(2)
    with pytest.raises(Empty, match="empty"):
        rx.recv_nowait()


def test_recv_timeout_raises_empty() -> None:
    tx, rx = channel(2)
    with pytest.raises(Empty, match="timed out"):
        rx.recv(timeout=0.01)
    with pytest.raises(Empty):
        rx.recv(timeout=0)
    tx.send(1)
    assert rx.recv(timeout=0) == 1


def test_bounded_send_timeout_raises_full_and_does_not_send() -> None:
    tx, rx = channel(1)
    tx.send("kept")
    with pytest.raises(Full, match="timed out"):
        tx.send("dropped", timeout=0.01)
    assert tx.statistics().buffered == 1
    assert rx.recv_nowait() == "kept"
    with pytest.raises(Empty):
        rx.recv_nowait()


def test_timed_out_rendezvous_send_is_not_delivered_later() -> None:
    tx, rx = channel(0)
    with pytest.raises(Full, match="no receiver took"):
        tx.send("late", timeout=0.01)
    assert tx.statistics().buffered == 0
    with pytest.raises(Empty):
        rx.recv_nowait()
    # A receiver that arrives now gets the next item, not the withdrawn one.
    receiver = Background(rx.recv)
    _receiver_blocked(rx)
    tx.send("next")
    assert receiver.outcome() == "next"


# --- misuse -------------------------------------------------------------------


def test_a_closed_sender_raises_closed() -> None:
    tx, _rx = channel(1)
    tx.close()
    tx.close()  # idempotent
    assert tx.closed
    with pytest.raises(Closed, match="closed Sender"):
        tx.send(1)
    with pytest.raises(Closed):
        tx.send_nowait(1)
    with pytest.raises(Closed):
        tx.clone()


def test_a_closed_rendezvous_sender_raises_closed() -> None:
    tx, _rx = channel(0)
    tx.close()
    with pytest.raises(Closed):
        tx.send(1)
    with pytest.raises(Closed):
        tx.send_nowait(1)


def test_a_closed_receiver_raises_closed() -> None:
    _tx, rx = channel(1)
    rx.close()
    rx.close()  # idempotent
    assert rx.closed
    with pytest.raises(Closed, match="closed Receiver"):
        rx.recv()
    with pytest.raises(Closed):
        rx.recv_nowait()
    with pytest.raises(Closed):
        list(rx)


def test_closing_a_sender_while_it_is_blocked_in_send_raises_closed() -> None:
    tx, rx = channel(1)
    tx.send(0)
    sender = Background(tx.send, 1)
    _sender_blocked(tx)
    tx.close()
    assert isinstance(sender.error(), Closed)
    # The blocked item was not sent; the first one is still there.
    assert list(rx) == [0]


@pytest.mark.parametrize(
    ("capacity", "error", "fragment"),
    [
        (-1, ValueError, "must be >= 0"),
        (1.5, TypeError, "int or None"),
        (True, TypeError, "int or None"),
        ("3", TypeError, "int or None"),
    ],
)
def test_bad_capacity_is_rejected_with_a_clear_error(
    capacity: object, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        channel(capacity)  # type: ignore[arg-type]


def test_bad_name_is_rejected() -> None:
    with pytest.raises(TypeError, match="name"):
        channel(1, name=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timeout", "error", "fragment"),
    [
        (-1, ValueError, "non-negative"),
        (math.nan, ValueError, "non-negative"),
        ("1", TypeError, "number of seconds"),
        (True, TypeError, "number of seconds"),
    ],
)
def test_bad_timeout_is_rejected_with_a_clear_error(
    timeout: object, error: type[Exception], fragment: str
) -> None:
    tx, rx = channel(1)
    with pytest.raises(error, match=fragment):
        tx.send(1, timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(error, match=fragment):
        rx.recv(timeout=timeout)  # type: ignore[arg-type]
    assert tx.statistics().buffered == 0


# --- statistics, context managers, repr ---------------------------------------


def test_statistics_is_a_snapshot_of_the_channel() -> None:
    tx, rx = channel(5)
    clone = tx.clone()
    tx.send(1)
    assert rx.statistics() == ChannelStatistics(
        capacity=5,
        buffered=1,
        senders=2,
        receiver_closed=False,
        senders_waiting=0,
        receiver_waiting=False,
    )
    clone.close()
    rx.close()
    assert tx.statistics() == ChannelStatistics(
        capacity=5,
        buffered=0,
        senders=1,
        receiver_closed=True,
        senders_waiting=0,
        receiver_waiting=False,
    )


def test_context_managers_close_both_handles() -> None:
    with channel(1)[0] as tx:
        pass
    assert tx.closed
    tx2, rx2 = channel(1)
    with rx2:
        pass
    assert rx2.closed
    with pytest.raises(Disconnected):
        tx2.send(1)


def test_context_managers_close_on_error_too() -> None:
    tx, rx = channel(1)
    with pytest.raises(KeyError), tx:
        raise KeyError
    assert tx.closed
    with pytest.raises(Disconnected):
        rx.recv()


def test_repr_names_the_channel_and_its_state() -> None:
    tx, rx = channel(2, name="jobs")
    assert repr(tx) == "<Sender jobs open capacity=2>"
    rx.close()
    assert repr(rx) == "<Receiver jobs closed capacity=2>"


# --- protocol events ----------------------------------------------------------


def test_protocol_events_are_emitted_in_the_order_the_steps_took_effect() -> None:
    with recording() as backend:
        tx, rx = channel(1, name="c")
        clone = tx.clone()
        tx.send("a")
        assert rx.recv() == "a"
        tx.close()
        clone.close()
        with pytest.raises(Disconnected):
            rx.recv()
        rx.close()
        tx2, rx2 = channel(0, name="r")
        rx2.close()
        with pytest.raises(Disconnected):
            tx2.send("x")
    assert backend.events == [
        ("channel.clone_tx", {"channel": "c", "senders": 2}),
        ("channel.send", {"channel": "c", "item": "a"}),
        ("channel.recv", {"channel": "c", "item": "a"}),
        ("channel.close_tx", {"channel": "c", "senders": 1}),
        ("channel.close_tx", {"channel": "c", "senders": 0}),
        ("channel.disconnected", {"channel": "c"}),
        ("channel.close_rx", {"channel": "c", "discarded": 0}),
        ("channel.close_rx", {"channel": "r", "discarded": 0}),
        ("channel.send_failed", {"channel": "r", "item": "x"}),
    ]


def test_close_rx_event_counts_the_discarded_items() -> None:
    with recording() as backend:
        tx, rx = channel(None, name="d")
        tx.send(1)
        tx.send(2)
        rx.close()
    assert backend.matching("channel.close_rx") == [{"channel": "d", "discarded": 2}]


def test_a_dropped_unclosed_sender_closes_itself_and_warns() -> None:
    import gc
    import threading
    import warnings

    gc.collect()  # earlier tests' garbage warns on its own, not here
    tx, rx = channel(1)
    got = Background(rx.recv)
    _receiver_blocked(rx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del tx
        gc.collect()
    assert [w.category for w in caught] == [ResourceWarning]
    assert "without close()" in str(caught[0].message)
    with pytest.raises(Disconnected):
        got.outcome()
    assert threading.active_count() >= 1
    rx.close()


def test_only_the_last_dropped_sender_ends_the_channel() -> None:
    import gc
    import warnings

    tx, rx = channel(None)
    other = tx.clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del tx
        gc.collect()
        assert rx.statistics().senders == 1
        other.send("still open")
        assert rx.recv(timeout=10) == "still open"
        del other
        gc.collect()
    assert [w.category for w in caught] == [ResourceWarning, ResourceWarning]
    with pytest.raises(Disconnected):
        rx.recv(timeout=10)
    rx.close()


def test_a_closed_sender_does_not_warn_when_dropped() -> None:
    import gc
    import warnings

    tx, rx = channel(1)
    tx.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del tx
        gc.collect()
    rx.close()


def test_a_second_thread_reading_the_receiver_is_refused() -> None:
    tx, rx = channel(1)
    first = Background(rx.recv, name="first-reader")
    _receiver_blocked(rx)
    second = Background(rx.recv, 10.0, name="second-reader")
    error = second.error()
    assert isinstance(error, RuntimeError)
    assert "Receiver is single-consumer" in str(error)
    assert "'first-reader'" in str(error)
    with pytest.raises(RuntimeError, match="single-consumer"):
        rx.recv_nowait()
    tx.send("for the first")
    assert first.outcome() == "for the first"
    # Handing the receiver to another thread once nobody reads it is fine.
    tx.send("handed over")
    assert Background(rx.recv, 10.0).outcome() == "handed over"
    tx.close()
    rx.close()
