"""Partner-to-partner message transport: wire messages, the in-process bus, NATS JetStream.

- `messages`: the versioned msgpack wire format (TrackBatch, Heartbeat, PolicyAnnouncement).
- `base`: partner ids, the subject layout `commonsky.<sender>.<kind>`, sequence numbers and
  duplicate detection, partner status from message age.
- `inprocess`: `InProcessBus` / `InProcessEndpoint`, deterministic, on simulated time (the default).
- `nats`: `NatsTransport`, asyncio, durable JetStream consumers (import it explicitly: it needs nats-py).
- `natsconfig`, `natsserver`: server config, per-partner users and permissions, creds files, and
  starting/stopping a local nats-server (stdlib only).
"""

from commonsky.network.transport.base import (
    KINDS,
    Kind,
    PartnerMonitor,
    PartnerStatus,
    SeqTracker,
    Sequencer,
    check_partner_id,
    parse_subject,
    partner_status,
    sender_wildcard,
    subject,
    subject_matches,
)
from commonsky.network.transport.inprocess import InProcessBus, InProcessEndpoint, LinkOutage
from commonsky.network.transport.messages import (
    SCHEMA_VERSION,
    Heartbeat,
    Message,
    PolicyAnnouncement,
    TrackBatch,
    decode,
    encode,
    encode_heartbeat,
    encode_policy,
    encode_tracks,
)

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "Heartbeat",
    "InProcessBus",
    "InProcessEndpoint",
    "Kind",
    "LinkOutage",
    "Message",
    "PartnerMonitor",
    "PartnerStatus",
    "PolicyAnnouncement",
    "SeqTracker",
    "Sequencer",
    "TrackBatch",
    "check_partner_id",
    "decode",
    "encode",
    "encode_heartbeat",
    "encode_policy",
    "encode_tracks",
    "parse_subject",
    "partner_status",
    "sender_wildcard",
    "subject",
    "subject_matches",
]
