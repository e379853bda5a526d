"""NATS JetStream transport: a partner's link to the coalition servers, in its own account.

Layout on the servers (names from `natsconfig`, subjects from `base`; see `natsconfig` for why):

    subjects   commonsky.<sender>.<kind>.<receiver>   every message addressed: a broadcast
                                                      (heartbeat, policy) is sent once per receiver
    stream     FROM_<sender>            in the receiver's account, made by the receiver on connect:
                                        work queue, discard new at `inbound_store_bytes`,
                                        `max_batch_bytes` per message, `replicas` copies, a 2 min
                                        duplicate window on the Nats-Msg-Id header (publish retries)
    consumer   <receiver>-from-<sender> the receiver's durable pull consumer, explicit acks
    inbox      _INBOX_<partner>.*       replies and pulled messages

Sovereign by design: `NatsTransport.open` returns at once, and the link comes up (and comes back)
in the background with exponential back-off, whether the servers are down at start-up or later.
Sending never blocks the caller: `send` puts a message in the receiver's outbox, which a
background task publishes in order, each publish acknowledged by the receiver's stream (so an
acknowledged message is stored, replicated, at the receiver); a publish that fails is retried
with back-off. An outbox keeps at most `outbox_bytes` and messages younger than `outbox_age_s`;
older ones are dropped and counted (`LinkStatus.dropped`). `fetch` returns [] while the link is down.

Delivery guarantee: at least once from the server, at most once into the node. A message is
acked only when the caller says it has been processed (`ack`), so a node that crashes or
disconnects gets everything it had not acked again from its durable consumer (no loss); the
`SeqTracker` (`applied`) drops anything whose (sender, kind, seq) was already applied, so a
redelivery is never applied twice.

Sealed end to end (`seal`): each message is sealed by its sender for its one receiver; the
servers store ciphertext, and a message that is not sealed by the sender its subject names is
refused like any malformed one.

Bounds on import (the receiver protects itself; a partner cannot exhaust its memory or CPU):
each pull asks for at most `batch` messages and at most `FETCH_MAX_BYTES` bytes (the server stops
there); a token bucket per sender caps messages per second and bytes per second across fetches
(`Limits.max_messages_per_s`, `burst_messages`, `max_bytes_per_s`): a sender over its quota is
not read until its bucket refills (its messages wait in its own stream at the receiver, and once
that is full its publishes are refused), and `throttled` names it with the reason; a track batch
of more than `max_rows_per_batch` rows is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from commonsky.core.batches import TrackReports
from commonsky.core.errors import DecodeError
from commonsky.network.transport.base import (
    Kind,
    PartnerMonitor,
    SeqTracker,
    Sequencer,
    check_partner_id,
    split_subject,
    subject,
)
from commonsky.network.transport.messages import (
    HeartbeatStatus,
    Message,
    TrackBatch,
    decode,
    encode_heartbeat,
    encode_policy,
    encode_tracks,
)
from commonsky.network.transport.natsconfig import (
    Credentials,
    Limits,
    durable_name,
    inbound_stream,
    inbound_subject,
)
from commonsky.network.transport.seal import OVERHEAD_BYTES as SEAL_OVERHEAD_BYTES
from commonsky.network.transport.seal import SEAL_HEADER, SEAL_SCHEME, Sealer, SealError

log = logging.getLogger(__name__)


Storage = Literal["file", "memory"]
LinkState = Literal["connecting", "up", "down"]
FETCH_MAX_BYTES = 32 * 1024 * 1024
"""Most bytes one pull asks for from one sender (the server stops there)."""
THROTTLE_SHOWN_S = 5.0
"""A sender stays `throttled` this long after its quota last held it back."""
RECONNECT_MAX_S = 30.0
"""Longest pause between two connection attempts (exponential back-off from 0.25 s)."""
PUBLISH_WINDOW = 32
"""Messages published to one receiver at once, each waiting for its acknowledgement (sent in order on
one connection, so stored in order unless one of them must be retried)."""
PUBLISH_RETRY_MAX_S = 1.0
"""Longest pause before publishing again to a receiver that refused (its stream not made yet, or full)."""


def _key(message: Message) -> tuple[str, str, int]:
    return (message.sender, message.KIND, message.seq)


class ReceiverUnavailableError(Exception):
    """A receiver's stream did not take a message (missing, full, or the link is down); retried later."""


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up; starts full."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def available(self) -> float:
        """Tokens available now (refilled for the time since the last look)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def take(self, amount: float) -> None:
        """Spend `amount` tokens (may go below zero: the next ones wait longer)."""
        self.available()
        self.tokens -= amount


@dataclass
class _Outgoing:
    kind: Kind
    receiver: str
    seq: int
    sent_s: float
    payload: bytes
    queued: float = field(default_factory=time.monotonic)


@dataclass
class LinkStatus:
    """The coalition link as the node and its display show it."""

    state: LinkState
    since_s: float
    """UTC time of the last change of state."""
    reconnects: int
    outbox: dict[str, int]
    """Messages waiting per receiver."""
    dropped: dict[str, int]
    """Messages dropped from each receiver's outbox (too old or too many bytes while it was unreachable)."""
    throttled: dict[str, str]
    """Senders held back by their quota just now, with the reason."""
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class NatsTransport:
    """One partner's link to the coalition's NATS servers (asyncio), logged in with its own NKey over mutual TLS.

    Make one with `await NatsTransport.open(creds)` (returns at once; the link comes up in the
    background) or `await NatsTransport.from_creds(path)` (waits until connected: for tests and tools).

    Sending: `send(kind, payload, seq=, sent_s=, receiver=)` queues an encoded message for one
    receiver (None: each of them); `publish_tracks` / `publish_heartbeat` / `publish_policy`
    number, encode, publish and wait for each receiver's acknowledgement (raising
    `ReceiverUnavailableError` if one refuses). Receiving: `fetch(sender, batch)` returns new messages
    from `sender`; call `ack(messages)` once they are processed (or deliberately ignored), `nak`
    to get them again.
    """

    def __init__(
        self,
        creds: Credentials,
        *,
        storage: Storage = "file",
        ack_wait_s: float = 30.0,
        applied: SeqTracker | None = None,
        request_timeout_s: float = 5.0,
        outbox_bytes: int = 64 * 1024 * 1024,
        outbox_age_s: float = 600.0,
    ) -> None:
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        self.creds = creds
        self.partner = check_partner_id(creds.partner)
        self.receivers = creds.receivers
        self.senders = creds.senders
        self.limits: Limits = creds.limits
        self.storage: Storage = storage
        self.ack_wait_s = ack_wait_s
        self.request_timeout_s = request_timeout_s
        self.outbox_bytes = outbox_bytes
        self.outbox_age_s = outbox_age_s
        self.sequencer = Sequencer()
        self.applied = applied if applied is not None else SeqTracker()
        self.monitor = PartnerMonitor()
        self.rejected: list[DecodeError] = []
        """Messages refused on fetch (undecodable, not on the sender's subject, too many rows); terminated."""
        self.duplicates = 0
        """Redelivered messages dropped because they were already applied."""
        self.errors: deque[str] = deque(maxlen=100)
        """The last asynchronous errors the server or the client reported (bounded: a node left
        without a hub for days hears one a second)."""
        self._sealer = Sealer(creds.seal_key_file, creds.peer_seal_keys) if creds.seal_key_file is not None else None
        """End-to-end sealing (`seal`): every message out sealed for its receiver, every one in must be sealed."""
        self.nc: Client = Client()
        self.js: JetStreamContext = self.nc.jetstream(timeout=request_timeout_s, domain=creds.domain)
        self._api = f"$JS.{creds.domain}.API" if creds.domain else "$JS.API"
        self._ready = asyncio.Event()
        self._closing = False
        self._state: LinkState = "connecting"
        self._since = time.time()
        self._reconnects = 0
        self._last_error: str | None = None
        self._pulls: dict[str, tuple[str, Subscription]] = {}
        self._pending: dict[tuple[str, str, int], Msg] = {}
        per_s, burst = self.limits.max_messages_per_s, float(self.limits.burst_messages)
        self._msg_quota = {s: TokenBucket(per_s, burst) for s in self.senders}
        self._byte_quota = {
            s: TokenBucket(self.limits.max_bytes_per_s, 10 * self.limits.max_bytes_per_s) for s in self.senders
        }
        self._throttled: dict[str, tuple[float, str]] = {}
        self._outbox: dict[str, deque[_Outgoing]] = {r: deque() for r in self.receivers}
        self._outbox_size: dict[str, int] = dict.fromkeys(self.receivers, 0)
        self._dropped: dict[str, int] = dict.fromkeys(self.receivers, 0)
        self._wake: dict[str, asyncio.Event] = {r: asyncio.Event() for r in self.receivers}
        self._tasks: list[asyncio.Task[None]] = []
        self._resetup: asyncio.Task[None] | None = None
        self._ever_connected = False

    # -- the link ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, creds: Credentials | str | Path, **options: Any) -> NatsTransport:
        """A transport whose link comes up in the background (never raises for an unreachable server)."""
        transport = cls(creds if isinstance(creds, Credentials) else Credentials.read(creds), **options)
        transport._tasks.append(asyncio.create_task(transport._connect_loop()))
        for receiver in transport.receivers:
            transport._tasks.append(asyncio.create_task(transport._publisher(receiver)))
        return transport

    @classmethod
    async def from_creds(cls, path: str | Path, *, timeout_s: float = 15.0, **options: Any) -> NatsTransport:
        """Open the link and wait until it is up and set up (TimeoutError, closed again, if it is not)."""
        transport = await cls.open(path, **options)
        try:
            await transport.wait_ready(timeout_s)
        except BaseException:
            await transport.close()
            raise
        return transport

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the link is up and this partner's inbound streams exist."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"{self.partner}: no link to {', '.join(self.creds.urls)} within {timeout_s} s ({self._last_error})"
            ) from None

    @property
    def connected(self) -> bool:
        """Whether the link is up now."""
        return self._ready.is_set() and self.nc.is_connected

    def _set_state(self, state: LinkState, error: str | None = None) -> None:
        if error is not None:
            self._last_error = error
        if state != self._state:
            self._state, self._since = state, time.time()
            log.info("%s: coalition link %s%s", self.partner, state, f" ({error})" if error else "")

    async def _connect_loop(self) -> None:
        """Connect with exponential back-off until it works, then set up; nats-py reconnects after that."""
        pause = 0.25
        while not self._closing:
            try:
                await self.nc.connect(
                    servers=list(self.creds.urls),
                    nkeys_seed_str=self.creds.seed(),
                    tls=self.creds.ssl_context(),
                    name=f"commonsky-{self.partner}",
                    inbox_prefix=self.creds.inbox_prefix,
                    connect_timeout=5,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    pending_size=4 * FETCH_MAX_BYTES,
                )
                self._ever_connected = True
                await self.setup()
                self._ready.set()
                self._set_state("up")
                return
            except Exception as exc:
                self._set_state("down", f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    await self.nc.close()
                self.nc = Client()
                self.js = self.nc.jetstream(timeout=self.request_timeout_s, domain=self.creds.domain)
                self._pulls.clear()
                await asyncio.sleep(pause)
                pause = min(RECONNECT_MAX_S, pause * 2)

    async def _on_error(self, exc: Exception) -> None:
        self.errors.append(str(exc))

    async def _on_disconnected(self) -> None:
        # nats-py leaves requests and flushes in flight waiting for their full timeout when the
        # connection drops; fail them now, so neither the outbox nor the node waits on a dead link.
        for waiting in [*getattr(self.nc, "_pongs", []), *getattr(self.nc, "_resp_map", {}).values()]:
            if isinstance(waiting, asyncio.Future) and not waiting.done():
                waiting.set_exception(nats.errors.ConnectionClosedError())
                waiting.exception()  # retrieved: nats-py's own PINGs have no one waiting on them
        if not self._closing:
            self._set_state("down", "disconnected")

    async def _on_reconnected(self) -> None:
        self._reconnects += 1
        self._set_state("up")
        if self._resetup is None or self._resetup.done():
            self._resetup = asyncio.create_task(self._setup_until_done())
        for event in self._wake.values():
            event.set()

    async def _setup_until_done(self) -> None:
        """After a reconnect: make the inbound streams again if a rebuilt server lost them (idempotent),
        retrying with back-off while the servers are still settling."""
        pause = 0.5
        while not self._closing and self.nc.is_connected:
            try:
                await self.setup()
                return
            except (nats.errors.Error, OSError) as exc:
                self._last_error = f"setup after reconnect: {exc}"
                await asyncio.sleep(pause)
                pause = min(RECONNECT_MAX_S, pause * 2)

    def status(self) -> LinkStatus:
        """The link now: state, outboxes, drops, throttled senders."""
        now = time.monotonic()
        return LinkStatus(
            state="up" if self.connected else "connecting" if not self._ready.is_set() else "down",
            since_s=self._since,
            reconnects=self._reconnects,
            outbox={r: len(q) for r, q in self._outbox.items()},
            dropped=dict(self._dropped),
            throttled={s: reason for s, (at, reason) in self._throttled.items() if now - at <= THROTTLE_SHOWN_S},
            last_error=self._last_error,
        )

    def throttled(self, sender: str) -> str | None:
        """Why `sender` is held back by its quota now, or None."""
        return self.status().throttled.get(sender)

    def unsent(self, kind: Kind) -> list[tuple[str, bytes]]:
        """The `kind` messages not yet stored by their receiver's stream, oldest first, as (receiver, payload):
        what a checkpoint keeps so a node killed while its link is down sends them after the restart."""
        return [(item.receiver, item.payload) for queue in self._outbox.values() for item in queue if item.kind == kind]

    async def drain_outbox(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until every queued message is published; whether all were."""
        deadline = time.monotonic() + timeout_s
        while any(self._outbox.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        """Hand back fetched but unacked messages (redelivered at once on the next fetch), stop
        the background tasks and close the connection. Queued outgoing messages are not sent."""
        self._closing = True
        tasks = [*self._tasks, *([self._resetup] if self._resetup is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.nc.is_connected:
            for m in self._pending.values():
                with contextlib.suppress(Exception):
                    await m.nak()
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
        self._pending.clear()
        self._pulls.clear()
        if self._ever_connected and not self.nc.is_closed:  # nats-py refuses to close what never connected
            await self.nc.close()

    async def __aenter__(self) -> NatsTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- this partner's inbound streams -----------------------------------------------------

    async def setup(self) -> None:
        """Create (or bring back to the wanted settings) one inbound stream and durable per sender."""
        for sender in self.senders:
            await self._ensure_inbound(sender)

    async def _ensure_inbound(self, sender: str) -> None:
        limits = self.limits
        name = inbound_stream(sender)
        config = StreamConfig(
            name=name,
            subjects=[inbound_subject(sender, self.partner)],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE if self.storage == "file" else StorageType.MEMORY,
            max_age=limits.retention_s,
            max_bytes=limits.inbound_store_bytes,
            max_msg_size=limits.max_batch_bytes + SEAL_OVERHEAD_BYTES,
            discard=DiscardPolicy.NEW,
            num_replicas=self.creds.replicas,
            duplicate_window=120.0,
        )
        try:
            info = await self.js.stream_info(name)
        except nats.js.errors.NotFoundError:
            await self.js.add_stream(config)
        else:
            have = info.config
            if (have.subjects, have.max_bytes, have.max_msg_size, have.max_age) != (
                config.subjects,
                config.max_bytes,
                config.max_msg_size,
                config.max_age,
            ):
                await self.js.update_stream(config)
        durable = durable_name(self.partner, sender)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            existing = await self.js.consumer_info(name, durable)
            if existing.config.ack_wait == self.ack_wait_s:
                return
        await self.js.add_consumer(  # create, or update the ack wait of the existing one in place
            name,
            ConsumerConfig(
                name=durable,
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_s,
                max_waiting=16,
                max_ack_pending=20_000,
            ),
        )

    async def purge_inbound(self, sender: str) -> None:
        """Operator reset: drop everything `sender` sent this partner that it has not read yet."""
        await self.js.purge_stream(inbound_stream(sender))

    # -- sending ----------------------------------------------------------------------------

    def send(self, kind: Kind, payload: bytes, *, seq: int, sent_s: float, receiver: str | None = None) -> None:
        """Queue an encoded message for `receiver` (None: each receiver); published in the background, in order."""
        for item in self._addressed(kind, payload, seq, sent_s, receiver):
            r = item.receiver
            self._outbox[r].append(item)
            self._outbox_size[r] += len(payload)
            self._trim(r)
            self._wake[r].set()

    def _addressed(self, kind: Kind, payload: bytes, seq: int, sent_s: float, receiver: str | None) -> list[_Outgoing]:
        """One outgoing message per addressee (`receiver`, or each receiver); ValueError for a message
        over the coalition's size limit or a partner that does not receive from us."""
        if len(payload) > self.limits.max_batch_bytes:
            raise ValueError(
                f"{kind} message of {len(payload)} bytes exceeds the coalition's {self.limits.max_batch_bytes}"
            )
        targets = self.receivers if receiver is None else (receiver,)
        unknown = [r for r in targets if r not in self._outbox]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not among {self.partner}'s receivers {self.receivers}")
        return [_Outgoing(kind, r, seq, sent_s, payload) for r in targets]

    def _trim(self, receiver: str) -> None:
        """Drop the oldest queued messages beyond the outbox's age and byte bounds (counted)."""
        queue, now = self._outbox[receiver], time.monotonic()
        while queue and (self._outbox_size[receiver] > self.outbox_bytes or now - queue[0].queued > self.outbox_age_s):
            gone = queue.popleft()
            self._outbox_size[receiver] -= len(gone.payload)
            self._dropped[receiver] += 1

    async def _publisher(self, receiver: str) -> None:
        """Publish `receiver`'s outbox in order, up to `PUBLISH_WINDOW` messages in flight (a backlog
        after an outage drains in seconds); a refused or failed publish is retried with back-off, under
        the same message id, so the receiver's stream stores it once."""
        queue, wake = self._outbox[receiver], self._wake[receiver]
        pause = 0.1
        while True:
            if not queue or not self.connected:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 1.0)
                continue
            window = list(itertools.islice(queue, PUBLISH_WINDOW))
            results = await asyncio.gather(*(self._publish(item) for item in window), return_exceptions=True)
            done = {id(item) for item, result in zip(window, results, strict=True) if result is None}
            if done:  # taken off wherever they stand (a trim may have moved the queue meanwhile)
                kept = [item for item in queue if id(item) not in done]
                self._outbox_size[receiver] = sum(len(item.payload) for item in kept)
                queue.clear()
                queue.extend(kept)
            failures = [r for r in results if r is not None]
            for failure in failures:
                if not isinstance(failure, ReceiverUnavailableError):
                    raise failure
            if failures:
                self._last_error = str(failures[0])
                self._trim(receiver)
                await asyncio.sleep(pause)
                pause = min(PUBLISH_RETRY_MAX_S, pause * 2)
            else:
                pause = 0.1

    async def _publish(self, item: _Outgoing) -> None:
        """Publish one message to its receiver's stream and wait for that stream's acknowledgement."""
        subj = subject(self.partner, item.kind, item.receiver)
        # Same id on a retry, so a publish whose ack was lost is stored once (duplicate window).
        headers = {"Nats-Msg-Id": f"{subj}:{item.seq}:{item.sent_s!r}"}
        payload = item.payload
        if self._sealer is not None:
            payload = self._sealer.seal(item.receiver, payload)
            headers[SEAL_HEADER] = SEAL_SCHEME
        try:
            await self.js.publish(
                subj, payload, stream=inbound_stream(self.partner), headers=headers, timeout=self.request_timeout_s
            )
        except nats.js.errors.NoStreamResponseError:
            raise ReceiverUnavailableError(
                f"{item.receiver} has no stream for {self.partner} answering (never connected, or electing a leader)"
            ) from None
        except nats.js.errors.APIError as exc:
            raise ReceiverUnavailableError(f"{item.receiver} refused: {exc.description}") from None
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise ReceiverUnavailableError(f"publish to {item.receiver}: {type(exc).__name__} {exc}") from None

    async def publish_encoded(
        self, kind: Kind, payload: bytes, *, seq: int, sent_s: float, receiver: str | None = None
    ) -> None:
        """Publish a message encoded elsewhere to `receiver` (None: each receiver) now, waiting for each ack
        (`ReceiverUnavailableError` if one refuses). A node uses `send` instead, which never waits."""
        for item in self._addressed(kind, payload, seq, sent_s, receiver):
            await self._publish(item)

    async def publish_tracks(
        self,
        reports: TrackReports,
        batch_time_s: float,
        *,
        receiver: str | None = None,
        sent_s: float | None = None,
    ) -> int:
        """Publish a TrackBatch to `receiver` (or to each receiver), wait for the acks; returns its seq."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("tracks", receiver)
        await self.publish_encoded(
            "tracks",
            encode_tracks(reports, self.partner, seq, sent, batch_time_s),
            seq=seq,
            sent_s=sent,
            receiver=receiver,
        )
        return seq

    async def publish_heartbeat(
        self,
        status: HeartbeatStatus,
        tracks_held: int,
        last_batch_time_s: float | None,
        *,
        sent_s: float | None = None,
        interval_s: float = 1.0,
    ) -> int:
        """Publish a Heartbeat to each receiver, wait for the acks; returns its sequence number."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("heartbeat")
        payload = encode_heartbeat(self.partner, seq, sent, status, tracks_held, last_batch_time_s, interval_s)
        await self.publish_encoded("heartbeat", payload, seq=seq, sent_s=sent)
        return seq

    async def publish_policy(
        self, policy_json: str, digest: str, *, receiver: str | None = None, sent_s: float | None = None
    ) -> int:
        """Publish a PolicyAnnouncement (on connect and on every change); returns its seq."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("policy", receiver)
        await self.publish_encoded(
            "policy",
            encode_policy(self.partner, seq, sent, policy_json, digest),
            seq=seq,
            sent_s=sent,
            receiver=receiver,
        )
        return seq

    # -- receiving --------------------------------------------------------------------------

    async def _pull(self, sender: str) -> tuple[str, Subscription]:
        """The request subject and reply subscription of pulls from `sender`'s inbound durable."""
        pull = self._pulls.get(sender)
        if pull is None:
            nms = f"{self._api}.CONSUMER.MSG.NEXT.{inbound_stream(sender)}.{durable_name(self.partner, sender)}"
            inbox = self.nc.new_inbox()
            sub = await self.nc.subscribe(inbox, pending_bytes_limit=2 * FETCH_MAX_BYTES)
            pull = self._pulls[sender] = (nms, sub)
        return pull

    def _quota(self, sender: str, batch: int) -> tuple[int, int]:
        """(messages, bytes) `sender`'s quota lets this fetch take; (0, 0) and `throttled` set when none."""
        messages = min(batch, math.floor(self._msg_quota[sender].available()))
        max_bytes = min(FETCH_MAX_BYTES, math.floor(self._byte_quota[sender].available()))
        if messages < 1 or max_bytes < self.limits.max_batch_bytes:
            limit = (
                f"{self.limits.max_messages_per_s:g} messages/s"
                if messages < 1
                else f"{self.limits.max_bytes_per_s / 1024**2:g} MiB/s"
            )
            self._throttled[sender] = (time.monotonic(), f"over quota: more than {limit}")
            return 0, 0
        return messages, max_bytes

    async def fetch(self, sender: str, batch: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `batch` new messages from `sender`, oldest first; [] if none came within `timeout_s`,
        if the link is down, or if `sender` is over its quota.

        Duplicates of applied messages are acked and left out; undecodable ones, ones not on the
        sender's own subjects and oversized batches are terminated (never redelivered) and kept in
        `rejected`. Returned messages stay unacked until `ack`: a crash before then means redelivery.
        """
        check_partner_id(sender)
        if sender not in self._msg_quota:
            raise ValueError(f"{sender!r} is not among the partners {self.partner} receives from {self.senders}")
        if not self.connected:
            await asyncio.sleep(timeout_s)
            return []
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0.005:
            count, max_bytes = self._quota(sender, batch)
            if count == 0:
                await asyncio.sleep(remaining)
                return []
            try:
                msgs = await self._fetch_raw(sender, count, max_bytes, remaining)
            except (nats.errors.Error, OSError) as exc:
                self._last_error = f"fetch from {sender}: {exc}"
                return []
            self._msg_quota[sender].take(len(msgs))
            self._byte_quota[sender].take(sum(len(m.data) for m in msgs))
            out = await self._accept(sender, msgs)
            if out or not msgs:
                return out
            # everything fetched was a duplicate or refused: look again while time is left
        return []

    async def _fetch_raw(self, sender: str, count: int, max_bytes: int, timeout_s: float) -> list[Msg]:
        """Up to `count` messages and `max_bytes` from `sender`'s durable, returned as soon as any are in.

        What is waiting is taken at once (a no-wait pull); when nothing is, one message is waited for
        (a pull of one, expiring within `timeout_s`), then whatever came behind it (no-wait again):
        a batch is passed on the moment it arrives, not when a long pull expires.
        """
        nms, sub = await self._pull(sender)
        got: list[Msg] = []
        while True:  # messages of an earlier pull that arrived after it gave up are still good
            try:
                m = sub._pending_queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            sub._pending_size -= len(m.data)
            if m.reply and not _status(m):
                got.append(m)
        deadline = time.monotonic() + timeout_s
        if len(got) < count:
            got += await self._pull_once(nms, sub, count - len(got), max_bytes, deadline, wait=False)
        if not got:
            got = await self._pull_once(nms, sub, 1, max_bytes, deadline, wait=True)
            if got and count > 1:
                got += await self._pull_once(nms, sub, count - 1, max_bytes - len(got[0].data), deadline, wait=False)
        return got

    async def _pull_once(
        self, nms: str, sub: Subscription, count: int, max_bytes: int, deadline: float, *, wait: bool
    ) -> list[Msg]:
        """One pull request and what came for it: no-wait (ends with the server's 404 when fewer are
        stored), or waiting (expires just before `deadline`)."""
        request: dict[str, Any] = {"batch": count, "max_bytes": max(1, max_bytes)}
        if wait:
            request["expires"] = max(1_000_000, int((deadline - time.monotonic() - 0.002) * 1e9))
        else:
            request["no_wait"] = True  # with `expires` the server would ignore it
        await self.nc.publish(nms, json.dumps(request).encode(), reply=sub.subject)
        got: list[Msg] = []
        while len(got) < count and (remaining := deadline - time.monotonic()) > 0:
            try:
                m = await sub.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                break
            status = _status(m)
            if status == "100":  # idle heartbeat
                continue
            if status is not None:  # 404 no messages, 408 expired, 409 max bytes or other end of this pull
                break
            got.append(m)
        return got

    async def _accept(self, sender: str, msgs: list[Msg]) -> list[Message]:
        """Decode, check and de-duplicate fetched messages; the new ones are held for `ack`."""
        out: list[Message] = []
        for m in msgs:
            offset = m.metadata.sequence.stream if m.reply else 0
            try:
                subj_sender, kind, receiver = split_subject(m.subject)
                message = decode(self._unseal(subj_sender, m, offset), source=m.subject, offset=offset)
                if (
                    message.sender != subj_sender
                    or subj_sender != sender
                    or kind != message.KIND
                    or receiver != self.partner
                ):
                    raise DecodeError(m.subject, offset, f"{message.KIND} from {message.sender!r} on this subject")
                if isinstance(message, TrackBatch) and message.rows > self.limits.max_rows_per_batch:
                    raise DecodeError(
                        m.subject,
                        offset,
                        f"{message.rows} rows, more than the coalition's {self.limits.max_rows_per_batch}",
                    )
            except (DecodeError, ValueError) as exc:
                self.rejected.append(exc if isinstance(exc, DecodeError) else DecodeError(m.subject, offset, str(exc)))
                await m.term()
                continue
            key = _key(message)
            if key in self._pending:
                self._pending[key] = m  # redelivered while we hold it: the caller already has it
                continue
            if self.applied.check(message.sender, kind, message.seq, message.sent_s) == "duplicate":
                self.duplicates += 1
                await m.ack()
                continue
            self._pending[key] = m
            self.monitor.observe_message(message)
            out.append(message)
        return out

    def _unseal(self, sender: str, m: Msg, offset: int) -> bytes:
        """The message `sender` sealed for us (unchanged when this link does not seal); DecodeError otherwise."""
        if self._sealer is None:
            return bytes(m.data)
        if (m.headers or {}).get(SEAL_HEADER) != SEAL_SCHEME:
            raise DecodeError(m.subject, offset, f"not sealed ({SEAL_HEADER}: {SEAL_SCHEME} missing)")
        try:
            return self._sealer.open(sender, m.data)
        except SealError as exc:
            raise DecodeError(m.subject, offset, str(exc)) from None

    async def ack(self, messages: Iterable[Message]) -> None:
        """Mark `messages` processed: applied, and acked on the server. Not waited for: an ack lost
        with the connection only means a redelivery, which `applied` then drops."""
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                with contextlib.suppress(nats.errors.Error, OSError):
                    await m.ack()
            self.applied.mark(message.sender, message.KIND, message.seq, message.sent_s)

    async def nak(self, messages: Iterable[Message], delay_s: float | None = None) -> None:
        """Give `messages` back unprocessed: the server redelivers them (after `delay_s`)."""
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                with contextlib.suppress(nats.errors.Error, OSError):
                    await m.nak(delay=delay_s)


def _status(m: Msg) -> str | None:
    """The JetStream status code of a pull reply (None for a stored message)."""
    if m.headers and "Status" in m.headers:
        return str(m.headers["Status"])
    return None
