"""NATS JetStream transport: each partner publishes to its own stream, peers read through durables.

Layout on the server (names from `natsconfig`, subjects from `base`):

    subjects   commonsky.<sender>.tracks.<receiver>, commonsky.<sender>.heartbeat,
               commonsky.<sender>.policy[.<receiver>]       msgpack messages of `messages`
    stream     COMMONSKY_<sender>        subjects commonsky.<sender>.>, created by the sender on
                                         connect; limits retention (max age `retention_s`, 6 h by
                                         default), file or memory storage, a 2 min duplicate
                                         window on the Nats-Msg-Id header (publish retries)
    consumer   <receiver>-from-<sender>  durable pull consumer, explicit acks, created by the sender
                                         for each of its `receivers`, filtered to what that receiver
                                         may see (commonsky.<sender>.* and commonsky.<sender>.*.<receiver>)
    inbox      _INBOX_<partner>.*        replies and pulled messages for this partner only

The sender creates its receivers' consumers (rather than each receiver its own) because the
consumer's filter decides what is read: it must be the data owner's choice, not the reader's;
the server's permissions let a receiver only pull from and ack on its own durable.

Delivery guarantee: at least once from the server, at most once into the node. A message is
acked only when the caller says it has been processed (`ack`), so a node that crashes or
disconnects gets everything it had not acked again from its durable consumer (no loss); the
`SeqTracker` (`applied`) drops anything whose (sender, kind, seq) was already applied, so a
redelivery is never applied twice. Persist `applied.snapshot()` with the node's state to keep
that promise across a process restart too.

A sender resumes its sequence numbers from the last message on each of its subjects in its own
stream, so a restarted node continues at seq + 1 instead of being mistaken for a duplicate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
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
    KINDS,
    Kind,
    PartnerMonitor,
    SeqTracker,
    Sequencer,
    check_partner_id,
    inbound_patterns,
    sender_wildcard,
    split_subject,
    subject,
)
from commonsky.network.transport.messages import (
    HeartbeatStatus,
    Message,
    decode,
    encode_heartbeat,
    encode_policy,
    encode_tracks,
)
from commonsky.network.transport.natsconfig import (
    MAX_PAYLOAD_BYTES,
    Credentials,
    durable_name,
    inbox_prefix,
    stream_name,
)

Storage = Literal["file", "memory"]
FirstStart = Literal["all", "last_per_subject", "new"]
_DELIVER = {
    "all": DeliverPolicy.ALL,
    "last_per_subject": DeliverPolicy.LAST_PER_SUBJECT,
    "new": DeliverPolicy.NEW,
}


def _key(message: Message) -> tuple[str, str, int]:
    return (message.sender, message.KIND, message.seq)


class NatsTransport:
    """One partner's connection to the coalition's NATS server (asyncio).

    Make one with `await NatsTransport.connect(url, user, password, partner, receivers=[...])`
    or `await NatsTransport.from_creds(path)` (the creds file lists the receivers).

    Sending: `publish_tracks(reports, batch_time_s, receiver=...)`, `publish_heartbeat(...)`,
    `publish_policy(...)` assign the sequence number and wait for the JetStream ack.
    Receiving: `fetch(sender, batch)` returns new messages from `sender`; call `ack(messages)`
    once they are processed (or deliberately ignored), `nak(messages)` to get them again.

    Options for this partner's own stream and the consumers it makes for its `receivers`:
    `storage` and `retention_s` (applied when the stream is created), `ack_wait_s` (how long a
    fetched, unacked message waits before redelivery) and `first_start` (where a *new* durable
    starts: "all" of the stream, "last_per_subject" the latest of each subject, or "new"),
    both applied when a consumer is created. `applied`: a restored `SeqTracker`. `domain`: the coalition's
    JetStream domain, for a partner whose node talks to its own leaf-node server.
    """

    def __init__(
        self,
        nc: Client,
        partner: str,
        *,
        receivers: Iterable[str] = (),
        storage: Storage = "file",
        retention_s: float = 6 * 3600.0,
        ack_wait_s: float = 30.0,
        first_start: FirstStart = "all",
        applied: SeqTracker | None = None,
        request_timeout_s: float = 5.0,
        publish_retries: int = 2,
        domain: str | None = None,
    ) -> None:
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        if first_start not in _DELIVER:
            raise ValueError(f"first_start must be one of {sorted(_DELIVER)}, got {first_start!r}")
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=request_timeout_s, domain=domain)
        self.partner = check_partner_id(partner)
        self.receivers = tuple(check_partner_id(r) for r in receivers)
        self.storage: Storage = storage
        self.retention_s = retention_s
        self.ack_wait_s = ack_wait_s
        self.first_start: FirstStart = first_start
        self.publish_retries = publish_retries
        self.sequencer = Sequencer()
        self.applied = applied if applied is not None else SeqTracker()
        self.monitor = PartnerMonitor()
        self.rejected: list[DecodeError] = []
        """Messages refused on fetch (undecodable, or not on the sender's subject); terminated."""
        self.duplicates = 0
        """Redelivered messages dropped because they were already applied."""
        self.errors: list[str] = []
        """Asynchronous errors the server reported (e.g. 'Permissions Violation for Publish ...')."""
        self._subs: dict[str, JetStreamContext.PullSubscription] = {}
        self._pending: dict[tuple[str, str, int], Msg] = {}

    # -- connection -------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        user: str,
        password: str,
        partner: str,
        *,
        connect_timeout_s: float = 5.0,
        setup: bool = True,
        **options: Any,
    ) -> NatsTransport:
        """Log in as `user`; with `setup`, create (or find) this partner's stream and its
        receivers' consumers and resume its numbering. Reconnects forever after a connection
        loss (nats-py buffers publishes meanwhile). `options`: the constructor's keywords."""
        check_partner_id(partner)
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            url,
            user=user,
            password=password,
            name=f"commonsky-{partner}",
            inbox_prefix=inbox_prefix(partner),
            connect_timeout=connect_timeout_s,
            max_reconnect_attempts=-1,
            error_cb=on_error,
        )
        try:
            transport = cls(nc, partner, **options)
            transport.errors = errors
            if setup:
                await transport.setup()
        except BaseException:
            await nc.close()
            raise
        return transport

    @classmethod
    async def from_creds(cls, path: str | Path, url: str | None = None, **options: Any) -> NatsTransport:
        """Connect with a creds file written by `natsconfig` (its server and receivers unless given)."""
        creds = Credentials.read(path)
        options.setdefault("receivers", creds.receivers)
        options.setdefault("domain", creds.domain)
        return await cls.connect(url or creds.url, creds.user, creds.password, creds.partner, **options)

    async def close(self) -> None:
        """Hand back fetched but unacked messages (nak: redelivered at once on the next fetch,
        instead of after the ack wait), then close the connection. A crash, which skips this,
        loses nothing either: the server redelivers once the ack wait has passed."""
        if not self.nc.is_closed and self.nc.is_connected:
            for m in self._pending.values():
                await m.nak()
        self._subs.clear()
        self._pending.clear()
        if not self.nc.is_closed:
            await self.nc.close()

    async def __aenter__(self) -> NatsTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the partner's own stream -----------------------------------------------------------

    @property
    def stream(self) -> str:
        """This partner's stream name."""
        return stream_name(self.partner)

    async def setup(self) -> None:
        """Create this partner's stream and its receivers' consumers if missing; resume numbering."""
        try:
            await self.js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[sender_wildcard(self.partner)],
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE if self.storage == "file" else StorageType.MEMORY,
                    max_age=self.retention_s,
                    discard=DiscardPolicy.OLD,
                    max_msg_size=MAX_PAYLOAD_BYTES,
                    duplicate_window=120.0,
                )
            )
        for receiver in self.receivers:
            await self._ensure_consumer(receiver)
        await self.resume_sequence()

    async def _ensure_consumer(self, receiver: str) -> None:
        """Create `receiver`'s durable on our stream; narrow its filter back if it was changed
        (e.g. made by an older version), keeping its position so nothing is replayed or lost."""
        durable = durable_name(receiver, self.partner)
        want = sorted(inbound_patterns(self.partner, receiver))
        try:
            info = await self.js.consumer_info(self.stream, durable)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None:
            cfg = info.config
            have = sorted(cfg.filter_subjects or ([cfg.filter_subject] if cfg.filter_subject else []))
            if have == want:
                return
        config = ConsumerConfig(
            name=durable,
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=_DELIVER[self.first_start] if info is None else info.config.deliver_policy,
            ack_wait=self.ack_wait_s if info is None else info.config.ack_wait,
            filter_subjects=want,
        )
        await self.js.add_consumer(self.stream, config)  # create, or update the existing one in place

    async def resume_sequence(self) -> None:
        """Continue each subject's numbering after the last message this partner has stored."""
        for kind in KINDS:
            for receiver in (None, *self.receivers):
                subj = subject(self.partner, kind, receiver)
                try:
                    raw = await self.js.get_last_msg(self.stream, subj)
                except nats.js.errors.NotFoundError:
                    continue
                try:
                    last = decode(raw.data or b"", source=subj, offset=raw.seq or 0)
                except DecodeError:
                    continue
                self.sequencer.resume(kind, last.seq, receiver)

    async def reset_stream(self) -> None:
        """Operator reset: purge this partner's stream, recreate its receivers' consumers, and
        number from 1 again (receivers see a restart, see `SeqTracker`)."""
        await self.js.purge_stream(self.stream)
        for receiver in self.receivers:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_consumer(self.stream, durable_name(receiver, self.partner))
            await self._ensure_consumer(receiver)
        self.sequencer = Sequencer()

    # -- publishing -------------------------------------------------------------------------

    async def _publish(self, kind: Kind, receiver: str | None, seq: int, sent_s: float, payload: bytes) -> None:
        if receiver is not None and receiver not in self.receivers:
            raise ValueError(f"{receiver!r} is not among {self.partner}'s receivers {self.receivers}")
        limit = min(self.nc.max_payload or MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES)
        if len(payload) > limit:
            raise ValueError(f"{kind} message of {len(payload)} bytes exceeds the server limit of {limit}")
        subj = subject(self.partner, kind, receiver)
        # Same id on a retry, so a publish whose ack was lost is stored once (duplicate window).
        headers = {"Nats-Msg-Id": f"{subj}:{seq}:{sent_s!r}"}
        for attempt in range(self.publish_retries + 1):
            try:
                await self.js.publish(subj, payload, stream=self.stream, headers=headers)
                return
            except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError):
                if attempt == self.publish_retries:
                    raise

    async def publish_encoded(
        self, kind: Kind, payload: bytes, *, seq: int, sent_s: float, receiver: str | None = None
    ) -> None:
        """Publish a message encoded elsewhere (a node numbers its own messages), wait for the ack."""
        await self._publish(kind, receiver, seq, sent_s, payload)

    async def publish_tracks(
        self,
        reports: TrackReports,
        batch_time_s: float,
        *,
        receiver: str | None = None,
        sent_s: float | None = None,
    ) -> int:
        """Publish a TrackBatch to `receiver` (or to all receivers), wait for the ack; returns its seq."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("tracks", receiver)
        payload = encode_tracks(reports, self.partner, seq, sent, batch_time_s)
        await self._publish("tracks", receiver, seq, sent, payload)
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
        """Publish a Heartbeat to all receivers, wait for the ack; returns its sequence number."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("heartbeat")
        payload = encode_heartbeat(self.partner, seq, sent, status, tracks_held, last_batch_time_s, interval_s)
        await self._publish("heartbeat", None, seq, sent, payload)
        return seq

    async def publish_policy(
        self, policy_json: str, digest: str, *, receiver: str | None = None, sent_s: float | None = None
    ) -> int:
        """Publish a PolicyAnnouncement (on connect and on every change); returns its seq."""
        sent = time.time() if sent_s is None else sent_s
        seq = self.sequencer.next("policy", receiver)
        payload = encode_policy(self.partner, seq, sent, policy_json, digest)
        await self._publish("policy", receiver, seq, sent, payload)
        return seq

    # -- receiving --------------------------------------------------------------------------

    async def _subscription(self, sender: str) -> JetStreamContext.PullSubscription | None:
        """The pull subscription on our durable at `sender`; None while the sender has not
        created it yet (it never connected): the next fetch looks again."""
        sub = self._subs.get(sender)
        if sub is not None:
            return sub
        stream, durable = stream_name(sender), durable_name(self.partner, sender)
        try:
            await self.js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            return None
        sub = await self.js.pull_subscribe_bind(durable=durable, stream=stream)
        self._subs[sender] = sub
        return sub

    async def fetch(self, sender: str, batch: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `batch` new messages from `sender`, oldest first; [] if none came within `timeout_s`.

        Duplicates of applied messages are acked and left out; undecodable ones, or ones not on
        the sender's own subjects, are terminated (never redelivered) and kept in `rejected`.
        Returned messages stay unacked until `ack`: a crash before then means redelivery.
        """
        check_partner_id(sender)
        sub = await self._subscription(sender)
        if sub is None:
            return []
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0.01:
            try:
                msgs = await sub.fetch(batch, timeout=remaining)
            except (nats.errors.TimeoutError, TimeoutError):
                return []
            out = await self._accept(sender, msgs)
            if out or not msgs:
                return out
            # everything fetched was a duplicate or refused: look again while time is left
        return []

    async def _accept(self, sender: str, msgs: list[Msg]) -> list[Message]:
        """Decode, check and de-duplicate fetched messages; the new ones are held for `ack`."""
        out: list[Message] = []
        for m in msgs:
            offset = m.metadata.sequence.stream if m.reply else 0
            try:
                subj_sender, kind, receiver = split_subject(m.subject)
                message = decode(m.data, source=m.subject, offset=offset)
                if (
                    message.sender != subj_sender
                    or subj_sender != sender
                    or kind != message.KIND
                    or receiver not in (None, self.partner)
                ):
                    raise DecodeError(m.subject, offset, f"{message.KIND} from {message.sender!r} on this subject")
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

    async def ack(self, messages: Iterable[Message]) -> None:
        """Mark `messages` processed: acked on the server (confirmed by a flush) and applied."""
        acked = False
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                await m.ack()
                acked = True
            self.applied.mark(message.sender, message.KIND, message.seq, message.sent_s)
        if acked:
            await self.nc.flush()

    async def nak(self, messages: Iterable[Message], delay_s: float | None = None) -> None:
        """Give `messages` back unprocessed: the server redelivers them (after `delay_s`)."""
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                await m.nak(delay=delay_s)
