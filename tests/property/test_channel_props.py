"""Nothing sent is lost or duplicated, whatever the capacity, producers and closing.

Several producer threads send on clones of one sender, the receiver takes a
random number of items and may close early. Every item a producer tried to
send must end up in exactly one place:

* received, exactly once, in that producer's order; or
* its ``send`` raised ``Disconnected`` carrying it; or
* it was buffered when the receiver closed (the ``channel.close_rx`` event
  reports how many items were discarded, counted under the channel's lock).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import recording
from treadle import Disconnected, Sender, channel


@dataclass
class _Producer:
    index: int
    count: int
    sent: list[tuple[int, int]] = field(default_factory=list)
    refused: list[tuple[int, int]] = field(default_factory=list)
    carried_right_item: bool = True

    def run(self, tx: Sender[tuple[int, int]]) -> None:
        with tx:
            for n in range(self.count):
                item = (self.index, n)
                try:
                    tx.send(item)
                except Disconnected as exc:
                    self.refused.append(item)
                    self.carried_right_item &= exc.item is item
                else:
                    self.sent.append(item)


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.one_of(st.none(), st.integers(0, 4)),
    counts=st.lists(st.integers(0, 25), min_size=1, max_size=4),
    close_original_first=st.booleans(),
    stop_after=st.one_of(st.none(), st.integers(0, 60)),
)
def test_every_item_is_received_once_refused_or_discarded(
    capacity: int | None,
    counts: list[int],
    close_original_first: bool,
    stop_after: int | None,
) -> None:
    with recording() as backend:
        tx, rx = channel(capacity, name="prop")
        producers = [_Producer(i, n) for i, n in enumerate(counts)]
        clones = [tx.clone() for _ in producers]
        if close_original_first:
            tx.close()
        threads = [
            threading.Thread(target=p.run, args=(c,), name=f"producer-{p.index}")
            for p, c in zip(producers, clones, strict=True)
        ]
        for t in threads:
            t.start()
        if not close_original_first:
            tx.close()

        received: list[tuple[int, int]] = []
        if stop_after is None:
            received.extend(rx)  # until every producer has closed its clone
        else:
            for _ in range(stop_after):
                try:
                    received.append(rx.recv())
                except Disconnected:
                    break
        rx.close()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a producer is stuck"

    [discarded] = [fields["discarded"] for fields in backend.matching("channel.close_rx")]
    assert all(p.carried_right_item for p in producers)
    assert len(received) == len(set(received)), "an item was received twice"
    total_unreceived_sent = 0
    for p in producers:
        attempted = [(p.index, n) for n in range(p.count)]
        # Each attempt either returned or raised, and the first refusal ends
        # the successful ones (once the receiver is closed it stays closed).
        assert sorted(p.sent + p.refused) == attempted
        assert p.sent == attempted[: len(p.sent)]
        mine = [item for item in received if item[0] == p.index]
        assert mine == p.sent[: len(mine)], "per-producer FIFO order broken or item lost"
        assert not set(mine) & set(p.refused), "a refused item was delivered"
        total_unreceived_sent += len(p.sent) - len(mine)
    if capacity == 0:
        # A rendezvous send returns only once the item was taken; offers that
        # close discarded made their sends raise instead.
        assert total_unreceived_sent == 0, "a rendezvous send returned but was not received"
        assert discarded <= sum(len(p.refused) for p in producers)
    else:
        # Items whose send succeeded but that were never received are exactly
        # the ones the receiver's close discarded.
        assert total_unreceived_sent == discarded
    if stop_after is None:
        assert discarded == 0
        assert all(not p.refused for p in producers)
