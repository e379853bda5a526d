"""The sending half of a NATS link: one bounded outbox per receiver, published in order in the background.

`NatsTransport.send` never blocks the node: it queues the message here, and a task per receiver
publishes the queue in order (`PUBLISH_WINDOW` at once), each publish acknowledged by the
receiver's stream; a refused or failed publish is retried with back-off. An outbox keeps at most
`max_bytes` and messages younger than `max_age_s`; older ones are dropped and counted. Kept apart
from the connection so that what is queued, dropped or still unsent (`unsent`, for a checkpoint) is
one object's business, whatever publishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from commonsky.network.transport.base import Kind

PUBLISH_WINDOW = 32
"""Messages published to one receiver at once, each waiting for its acknowledgement (sent in order on
one connection, so stored in order unless one of them must be retried)."""
PUBLISH_RETRY_MAX_S = 1.0
"""Longest pause before publishing again to a receiver that refused (its stream not made yet, or full)."""


class ReceiverUnavailableError(Exception):
    """A receiver's stream did not take a message (missing, full, or the link is down); retried later."""


@dataclass
class Outgoing:
    """One encoded message for one receiver, as queued (`queued`: monotonic time, for the age bound)."""

    kind: Kind
    receiver: str
    seq: int
    sent_s: float
    payload: bytes
    queued: float = field(default_factory=time.monotonic)


class Outbox:
    """Per receiver, the messages not yet stored by its stream, oldest first, within the byte and age bounds."""

    def __init__(self, receivers: Iterable[str], max_bytes: int, max_age_s: float) -> None:
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.queues: dict[str, deque[Outgoing]] = {r: deque() for r in receivers}
        self._size: dict[str, int] = dict.fromkeys(self.queues, 0)
        self.dropped: dict[str, int] = dict.fromkeys(self.queues, 0)
        """Messages dropped from each receiver's outbox (too old or too many bytes while it was unreachable)."""
        self._wake: dict[str, asyncio.Event] = {r: asyncio.Event() for r in self.queues}

    def put(self, item: Outgoing) -> None:
        """Queue `item` for its receiver (the oldest beyond the bounds dropped) and wake its publisher."""
        r = item.receiver
        self.queues[r].append(item)
        self._size[r] += len(item.payload)
        self._trim(r)
        self._wake[r].set()

    def _trim(self, receiver: str) -> None:
        """Drop the oldest queued messages beyond the outbox's age and byte bounds (counted)."""
        queue, now = self.queues[receiver], time.monotonic()
        while queue and (self._size[receiver] > self.max_bytes or now - queue[0].queued > self.max_age_s):
            gone = queue.popleft()
            self._size[receiver] -= len(gone.payload)
            self.dropped[receiver] += 1

    def waiting(self) -> dict[str, int]:
        """Messages waiting per receiver."""
        return {r: len(q) for r, q in self.queues.items()}

    def unsent(self, kind: Kind) -> list[tuple[str, bytes]]:
        """The `kind` messages not yet stored by their receiver's stream, oldest first, as (receiver, payload)."""
        return [(item.receiver, item.payload) for queue in self.queues.values() for item in queue if item.kind == kind]

    def wake_all(self) -> None:
        """Let every publisher look at its queue now (the link came back)."""
        for event in self._wake.values():
            event.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until every queued message is published; whether all were."""
        deadline = time.monotonic() + timeout_s
        while any(self.queues.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def publisher(
        self,
        receiver: str,
        publish: Callable[[Outgoing], Awaitable[None]],
        connected: Callable[[], bool],
        failed: Callable[[str], None],
    ) -> None:
        """Publish `receiver`'s outbox in order, up to `PUBLISH_WINDOW` messages in flight (a backlog
        after an outage drains in seconds); a refused or failed publish (`ReceiverUnavailableError`)
        is retried with back-off, under the same message id, so the receiver's stream stores it once.
        `failed` hears why the first of a window failed."""
        queue, wake = self.queues[receiver], self._wake[receiver]
        pause = 0.1
        while True:
            if not queue or not connected():
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 1.0)
                continue
            window = list(itertools.islice(queue, PUBLISH_WINDOW))
            results = await asyncio.gather(*(publish(item) for item in window), return_exceptions=True)
            done = {id(item) for item, result in zip(window, results, strict=True) if result is None}
            if done:  # taken off wherever they stand (a trim may have moved the queue meanwhile)
                kept = [item for item in queue if id(item) not in done]
                self._size[receiver] = sum(len(item.payload) for item in kept)
                queue.clear()
                queue.extend(kept)
            failures = [r for r in results if r is not None]
            for failure in failures:
                if not isinstance(failure, ReceiverUnavailableError):
                    raise failure
            if failures:
                failed(str(failures[0]))
                self._trim(receiver)
                await asyncio.sleep(pause)
                pause = min(PUBLISH_RETRY_MAX_S, pause * 2)
            else:
                pause = 0.1
