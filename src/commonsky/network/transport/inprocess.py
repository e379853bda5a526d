"""In-process message bus: the embedded default transport, deterministic, on simulated time.

Same subject layout as NATS (`commonsky.<sender>.<kind>[.<receiver>]`, see `base`), same bytes
(the msgpack messages of `messages`), so a node cannot tell which transport it runs on. Nothing is threaded
or timed by the wall clock: a message published at simulated time `at_s` becomes deliverable to
a subscriber at `at_s + latency_s`, and `deliver(subscriber, until_s)` hands over everything
deliverable by `until_s`, in publish order.

Link outages are (partner_a, partner_b, start_s, end_s) windows, symmetric, judged at the send
time: a message between a and b sent in [start_s, end_s) is either

- held ("hold", the default) and becomes deliverable at `end_s + latency_s`, after which the
  receiver sees the backlog in publish order, as a JetStream durable consumer catching up
  after a reconnect does; or
- dropped ("drop"), as plain NATS core pub/sub would lose it.

Overlapping or back-to-back windows chain: a message held until the end of one window that
falls inside another is held to the end of that one too. Per sender, order is always kept.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from commonsky.core.batches import TrackReports
from commonsky.core.errors import DecodeError
from commonsky.network.transport.base import (
    PartnerMonitor,
    SeqTracker,
    Sequencer,
    check_partner_id,
    inbound_patterns,
    parse_subject,
    split_subject,
    subject,
    subject_matches,
)
from commonsky.network.transport.messages import (
    HeartbeatStatus,
    Message,
    decode,
    encode_heartbeat,
    encode_policy,
    encode_tracks,
)

OutageMode = Literal["hold", "drop"]


class LinkOutage(NamedTuple):
    """Partners a and b cannot exchange messages sent in [start_s, end_s) (either direction)."""

    partner_a: str
    partner_b: str
    start_s: float
    end_s: float


@dataclass
class BusStats:
    """Counters of what the bus did, per subscriber where it matters."""

    published: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    """Messages delayed by an outage (delivered later, in "hold" mode)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Messages lost to an outage ("drop" mode)."""


class InProcessBus:
    """Publish/subscribe between partners in one process, on simulated time.

    Subscribers are partner ids (the outage windows are between partners); a subscriber only
    receives what is published after it subscribed, on subjects matching one of its patterns
    (NATS wildcards `*` and `>`). A partner's own messages reach it only if it subscribed to them.
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        outages: Iterable[tuple[str, str, float, float]] = (),
        on_outage: OutageMode = "hold",
    ) -> None:
        if latency_s < 0 or not math.isfinite(latency_s):
            raise ValueError(f"latency_s must be finite and >= 0, got {latency_s}")
        if on_outage not in ("hold", "drop"):
            raise ValueError(f"on_outage must be 'hold' or 'drop', got {on_outage!r}")
        self.latency_s = latency_s
        self.on_outage: OutageMode = on_outage
        self.outages: list[LinkOutage] = []
        for o in outages:
            outage = LinkOutage(check_partner_id(o[0]), check_partner_id(o[1]), float(o[2]), float(o[3]))
            if not outage.end_s >= outage.start_s:
                raise ValueError(f"outage {outage}: end_s before start_s")
            self.outages.append(outage)
        self.stats = BusStats()
        self._patterns: dict[str, list[str]] = {}
        self._queues: dict[str, list[tuple[float, int, str, bytes]]] = {}
        self._index = 0
        self._last_at: dict[str, float] = {}

    def subscribe(self, subscriber: str, pattern: str) -> None:
        """Deliver to `subscriber` what is published from now on on subjects matching `pattern`."""
        check_partner_id(subscriber)
        patterns = self._patterns.setdefault(subscriber, [])
        if pattern not in patterns:
            patterns.append(pattern)
        self._queues.setdefault(subscriber, [])

    def subscribers(self) -> list[str]:
        """Partners subscribed to anything, in subscription order."""
        return list(self._patterns)

    def _release_time(self, sender: str, receiver: str, at_s: float) -> float | None:
        """When a message sent at `at_s` may leave, or None if an outage drops it."""
        t = at_s
        moved = True
        while moved:
            moved = False
            for o in self.outages:
                if {o.partner_a, o.partner_b} == {sender, receiver} and o.start_s <= t < o.end_s:
                    if self.on_outage == "drop":
                        return None
                    t = o.end_s
                    moved = True
        return t

    def publish(self, subj: str, payload: bytes, at_s: float) -> None:
        """Publish `payload` on `subj` at simulated time `at_s` (non-decreasing per sender)."""
        sender, _ = parse_subject(subj)
        if not math.isfinite(at_s):
            raise ValueError(f"at_s must be finite, got {at_s}")
        if at_s < self._last_at.get(sender, -math.inf):
            raise ValueError(f"{sender} published at {at_s} after {self._last_at[sender]}: time runs forward")
        self._last_at[sender] = at_s
        self.stats.published += 1
        index = self._index
        self._index += 1
        for receiver, patterns in self._patterns.items():
            if not any(subject_matches(p, subj) for p in patterns):
                continue
            release = self._release_time(sender, receiver, at_s)
            if release is None:
                self.stats.dropped[receiver] = self.stats.dropped.get(receiver, 0) + 1
                continue
            if release > at_s:
                self.stats.held[receiver] = self.stats.held.get(receiver, 0) + 1
            heapq.heappush(self._queues[receiver], (release + self.latency_s, index, subj, bytes(payload)))

    def deliver(self, subscriber: str, until_s: float) -> list[tuple[str, bytes]]:
        """(subject, payload) of everything deliverable to `subscriber` by `until_s`, in publish order."""
        queue = self._queues.get(subscriber)
        if not queue:
            return []
        ready: list[tuple[int, str, bytes]] = []
        while queue and queue[0][0] <= until_s:
            _, index, subj, payload = heapq.heappop(queue)
            ready.append((index, subj, payload))
        ready.sort()
        self.stats.delivered[subscriber] = self.stats.delivered.get(subscriber, 0) + len(ready)
        return [(subj, payload) for _, subj, payload in ready]

    def pending(self, subscriber: str) -> int:
        """Messages queued for `subscriber` and not yet delivered (including held ones)."""
        return len(self._queues.get(subscriber, []))


class InProcessEndpoint:
    """One partner's side of an `InProcessBus`, with the same message API as `NatsTransport`.

    Publishing assigns sequence numbers (per subject) and encodes; track batches and policies
    may be addressed to one receiver. `receive` decodes what arrived from the partners this one
    listens to (their broadcasts and what they addressed to it), drops duplicates and keeps
    undecodable or misaddressed messages in `rejected` (skipped, never raised). In-process
    delivery is exactly once, so `receive` marks messages applied at once (no ack step).
    All calls take the simulated time explicitly.
    """

    def __init__(self, bus: InProcessBus, partner: str, receive_from: Iterable[str] = ()) -> None:
        self.bus = bus
        self.partner = check_partner_id(partner)
        self.sequencer = Sequencer()
        self.applied = SeqTracker()
        self.monitor = PartnerMonitor()
        self.rejected: list[DecodeError] = []
        self.peers: list[str] = []
        for peer in receive_from:
            self.listen_to(peer)

    def listen_to(self, peer: str) -> None:
        """Receive what `peer` broadcasts or addresses to this partner, from now on."""
        if peer not in self.peers:
            self.peers.append(check_partner_id(peer))
            for pattern in inbound_patterns(peer, self.partner):
                self.bus.subscribe(self.partner, pattern)

    def publish_tracks(
        self, reports: TrackReports, batch_time_s: float, at_s: float, receiver: str | None = None
    ) -> int:
        """Publish a TrackBatch (to `receiver`, or to every listener) at `at_s`; returns its seq."""
        seq = self.sequencer.next("tracks", receiver)
        payload = encode_tracks(reports, self.partner, seq, at_s, batch_time_s)
        self.bus.publish(subject(self.partner, "tracks", receiver), payload, at_s)
        return seq

    def publish_heartbeat(
        self,
        status: HeartbeatStatus,
        tracks_held: int,
        last_batch_time_s: float | None,
        at_s: float,
        interval_s: float = 1.0,
    ) -> int:
        """Publish a Heartbeat to every listener at `at_s`; returns its sequence number."""
        seq = self.sequencer.next("heartbeat")
        payload = encode_heartbeat(self.partner, seq, at_s, status, tracks_held, last_batch_time_s, interval_s)
        self.bus.publish(subject(self.partner, "heartbeat"), payload, at_s)
        return seq

    def publish_policy(self, policy_json: str, digest: str, at_s: float, receiver: str | None = None) -> int:
        """Publish a PolicyAnnouncement (to `receiver`, or to every listener) at `at_s`; returns its seq."""
        seq = self.sequencer.next("policy", receiver)
        payload = encode_policy(self.partner, seq, at_s, policy_json, digest)
        self.bus.publish(subject(self.partner, "policy", receiver), payload, at_s)
        return seq

    def receive(self, until_s: float) -> list[Message]:
        """Decoded, new messages deliverable by `until_s`, in publish order (marked applied)."""
        out: list[Message] = []
        for subj, payload in self.bus.deliver(self.partner, until_s):
            try:
                sender, kind, receiver = split_subject(subj)
                message = decode(payload, source=subj)
                if message.sender != sender or kind != message.KIND or receiver not in (None, self.partner):
                    raise DecodeError(subj, 0, f"{message.KIND} from {message.sender!r} on this subject")
            except (DecodeError, ValueError) as exc:
                self.rejected.append(exc if isinstance(exc, DecodeError) else DecodeError(subj, 0, str(exc)))
                continue
            if self.applied.check(sender, kind, message.seq, message.sent_s) == "duplicate":
                continue
            self.applied.mark(sender, kind, message.seq, message.sent_s)
            self.monitor.observe_message(message)
            out.append(message)
        return out
