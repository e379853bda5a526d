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

Bounds on import (the receiver protects itself; a partner cannot exhaust its memory or CPU): a
token bucket per sender caps messages and bytes per second across fetches (see `natsinbox`); a
sender over its quota is not read until its bucket refills (its messages wait in its own stream at
the receiver, and once that is full its publishes are refused).

This module is the link itself (connection, reconnects, the inbound streams, status); the outbox
and its publishers are `natsoutbox`'s, fetching, quotas and the checks on import `natsinbox`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
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
from commonsky.network.transport.base import Kind, PartnerMonitor, SeqTracker, Sequencer, check_partner_id, subject
from commonsky.network.transport.messages import (
    HeartbeatStatus,
    Message,
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
from commonsky.network.transport.natsinbox import FETCH_MAX_BYTES, THROTTLE_SHOWN_S, Inbox, TokenBucket
from commonsky.network.transport.natsoutbox import (
    PUBLISH_RETRY_MAX_S,
    PUBLISH_WINDOW,
    Outbox,
    Outgoing,
    ReceiverUnavailableError,
)
from commonsky.network.transport.seal import OVERHEAD_BYTES as SEAL_OVERHEAD_BYTES
from commonsky.network.transport.seal import SEAL_HEADER, SEAL_SCHEME, Sealer

__all__ = [
    "FETCH_MAX_BYTES",
    "PUBLISH_RETRY_MAX_S",
    "PUBLISH_WINDOW",
    "RECONNECT_MAX_S",
    "THROTTLE_SHOWN_S",
    "LinkState",
    "LinkStatus",
    "NatsTransport",
    "ReceiverUnavailableError",
    "Storage",
    "TokenBucket",
]

log = logging.getLogger(__name__)


Storage = Literal["file", "memory"]
LinkState = Literal["connecting", "up", "down"]
RECONNECT_MAX_S = 30.0
"""Longest pause between two connection attempts (exponential back-off from 0.25 s)."""


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
        self._tasks: list[asyncio.Task[None]] = []
        self._resetup: asyncio.Task[None] | None = None
        self._ever_connected = False
        self.outbox = Outbox(self.receivers, outbox_bytes, outbox_age_s)
        self.inbox = Inbox(
            self,
            self.partner,
            self.senders,
            self.limits,
            api=self._api,
            sealer=self._sealer,
            applied=applied if applied is not None else SeqTracker(),
        )

    # -- the link ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, creds: Credentials | str | Path, **options: Any) -> NatsTransport:
        """A transport whose link comes up in the background (never raises for an unreachable server)."""
        transport = cls(creds if isinstance(creds, Credentials) else Credentials.read(creds), **options)
        transport._tasks.append(asyncio.create_task(transport._connect_loop()))
        for receiver in transport.receivers:
            publisher = transport.outbox.publisher(
                receiver, transport._publish, lambda: transport.connected, transport.note_error
            )
            transport._tasks.append(asyncio.create_task(publisher))
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

    @property
    def applied(self) -> SeqTracker:
        """(sender, kind, seq) of every message applied: a redelivery of one is dropped."""
        return self.inbox.applied

    @property
    def monitor(self) -> PartnerMonitor:
        """Each sender's status from the messages fetched."""
        return self.inbox.monitor

    @property
    def rejected(self) -> list[DecodeError]:
        """Messages refused on fetch (undecodable, not on the sender's subject, too many rows); terminated."""
        return self.inbox.rejected

    @property
    def duplicates(self) -> int:
        """Redelivered messages dropped because they were already applied."""
        return self.inbox.duplicates

    def note_error(self, error: str) -> None:
        """Keep `error` as the link's last error (shown in `status`)."""
        self._last_error = error

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
                self.inbox.forget_pulls()
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
        self.outbox.wake_all()

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
        return LinkStatus(
            state="up" if self.connected else "connecting" if not self._ready.is_set() else "down",
            since_s=self._since,
            reconnects=self._reconnects,
            outbox=self.outbox.waiting(),
            dropped=dict(self.outbox.dropped),
            throttled=self.inbox.throttled(),
            last_error=self._last_error,
        )

    def throttled(self, sender: str) -> str | None:
        """Why `sender` is held back by its quota now, or None."""
        return self.status().throttled.get(sender)

    def unsent(self, kind: Kind) -> list[tuple[str, bytes]]:
        """The `kind` messages not yet stored by their receiver's stream, oldest first, as (receiver, payload):
        what a checkpoint keeps so a node killed while its link is down sends them after the restart."""
        return self.outbox.unsent(kind)

    async def drain_outbox(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until every queued message is published; whether all were."""
        return await self.outbox.drain(timeout_s)

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
            await self.inbox.give_back()
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
        self.inbox.reset()
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
            self.outbox.put(item)

    def _addressed(self, kind: Kind, payload: bytes, seq: int, sent_s: float, receiver: str | None) -> list[Outgoing]:
        """One outgoing message per addressee (`receiver`, or each receiver); ValueError for a message
        over the coalition's size limit or a partner that does not receive from us."""
        if len(payload) > self.limits.max_batch_bytes:
            raise ValueError(
                f"{kind} message of {len(payload)} bytes exceeds the coalition's {self.limits.max_batch_bytes}"
            )
        targets = self.receivers if receiver is None else (receiver,)
        unknown = [r for r in targets if r not in self.outbox.queues]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not among {self.partner}'s receivers {self.receivers}")
        return [Outgoing(kind, r, seq, sent_s, payload) for r in targets]

    async def _publish(self, item: Outgoing) -> None:
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

    async def fetch(self, sender: str, batch: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `batch` new messages from `sender`, oldest first; [] if none came within `timeout_s`,
        if the link is down, or if `sender` is over its quota.

        Duplicates of applied messages are acked and left out; undecodable ones, ones not on the
        sender's own subjects and oversized batches are terminated (never redelivered) and kept in
        `rejected`. Returned messages stay unacked until `ack`: a crash before then means redelivery.
        """
        return await self.inbox.fetch(sender, batch, timeout_s)

    async def ack(self, messages: Iterable[Message]) -> None:
        """Mark `messages` processed: applied, and acked on the server. Not waited for: an ack lost
        with the connection only means a redelivery, which `applied` then drops."""
        await self.inbox.ack(messages)

    async def nak(self, messages: Iterable[Message], delay_s: float | None = None) -> None:
        """Give `messages` back unprocessed: the server redelivers them (after `delay_s`)."""
        await self.inbox.nak(messages, delay_s)
