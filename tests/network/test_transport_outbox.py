"""The NATS link's outbox without a server: bounds, drops, what is unsent, and the in-order publisher with retries."""

from __future__ import annotations

import asyncio
import time

import pytest

from commonsky.network.transport.base import Kind
from commonsky.network.transport.natsoutbox import Outbox, Outgoing, ReceiverUnavailableError


def _item(receiver: str, seq: int, kind: Kind = "tracks", queued: float | None = None) -> Outgoing:
    """A 10-byte message whose first byte is its seq; queued now unless told when."""
    item = Outgoing(kind, receiver, seq, float(seq), bytes([seq]) * 10)
    if queued is not None:
        item.queued = queued
    return item


def test_outbox_drops_the_oldest_beyond_its_byte_bound_and_counts_them() -> None:
    box = Outbox(("east", "west"), max_bytes=35, max_age_s=600.0)
    for seq in range(1, 6):
        box.put(_item("east", seq))
    box.put(_item("west", 1))
    assert box.waiting() == {"east": 3, "west": 1}
    assert box.dropped == {"east": 2, "west": 0}
    assert [payload[0] for r, payload in box.unsent("tracks") if r == "east"] == [3, 4, 5]


def test_outbox_drops_messages_older_than_its_age_bound() -> None:
    box = Outbox(("east",), max_bytes=1_000, max_age_s=60.0)
    box.put(_item("east", 1, queued=time.monotonic() - 61.0))
    box.put(_item("east", 2))
    assert box.waiting() == {"east": 1}
    assert box.dropped == {"east": 1}


def test_unsent_keeps_one_kind_oldest_first_per_receiver() -> None:
    box = Outbox(("east", "west"), max_bytes=1_000, max_age_s=600.0)
    box.put(_item("west", 1))
    box.put(_item("east", 2, kind="heartbeat"))
    box.put(_item("east", 3))
    box.put(_item("west", 4))
    assert [(r, p[0]) for r, p in box.unsent("tracks")] == [("east", 3), ("west", 1), ("west", 4)]
    assert [(r, p[0]) for r, p in box.unsent("heartbeat")] == [("east", 2)]


def test_publisher_sends_in_order_and_retries_a_refused_message() -> None:
    box = Outbox(("east",), max_bytes=1_000, max_age_s=600.0)
    stored: list[int] = []
    failures: list[str] = []
    refused = {3}

    async def publish(item: Outgoing) -> None:
        if item.seq in refused:
            refused.discard(item.seq)
            raise ReceiverUnavailableError("east refused: stream full")
        stored.append(item.seq)

    async def scenario() -> bool:
        task = asyncio.create_task(box.publisher("east", publish, lambda: True, failures.append))
        for seq in range(1, 6):
            box.put(_item("east", seq))
        try:
            return await box.drain(5.0)
        finally:
            task.cancel()

    assert asyncio.run(scenario())
    assert sorted(stored) == [1, 2, 3, 4, 5]
    assert stored.index(3) == 4  # the refused one went again after the rest of its window
    assert failures == ["east refused: stream full"]
    assert box.dropped == {"east": 0}


def test_publisher_waits_while_the_link_is_down() -> None:
    box = Outbox(("east",), max_bytes=1_000, max_age_s=600.0)
    stored: list[int] = []

    async def publish(item: Outgoing) -> None:
        stored.append(item.seq)

    async def scenario() -> bool:
        task = asyncio.create_task(box.publisher("east", publish, lambda: False, lambda _: None))
        box.put(_item("east", 1))
        try:
            return await box.drain(0.3)
        finally:
            task.cancel()

    assert not asyncio.run(scenario())
    assert stored == []
    assert box.waiting() == {"east": 1}


def test_publisher_stops_on_an_error_that_is_not_a_refusal() -> None:
    box = Outbox(("east",), max_bytes=1_000, max_age_s=600.0)

    async def publish(item: Outgoing) -> None:
        raise RuntimeError("bug")

    async def scenario() -> None:
        box.put(_item("east", 1))
        await asyncio.wait_for(box.publisher("east", publish, lambda: True, lambda _: None), 5.0)

    with pytest.raises(RuntimeError, match="bug"):
        asyncio.run(scenario())
