"""Partner-to-partner message transport: wire messages, the in-process bus, NATS JetStream.

- `messages`: the versioned msgpack wire format (TrackBatch, Heartbeat, PolicyAnnouncement).
- `base`: partner ids, the subject layout `commonsky.<sender>.<kind>`, sequence numbers and
  duplicate detection, partner status from message age.
- `inprocess`: `InProcessBus` / `InProcessEndpoint`, deterministic, on simulated time (the default).
- `nats`: `NatsTransport`, asyncio: a partner's link in its own account, over mutual TLS, that comes
  up and back in the background (import it explicitly: it needs nats-py); its halves are
  `natsoutbox` (bounded outboxes published in order) and `natsinbox` (pulls from durable consumers
  within quotas, checked and de-duplicated).
- `natsconfig`: one NATS account per partner with exports/imports of exactly the agreed subjects,
  join requests and grants, creds files; `natshub`: keygen / hub / join; `natsprocess`: a
  `nats-server` process (binary, ports, launch, readiness, stop); `natsserver`: starting one server
  or a three-server cluster, and partners' own servers as leaf nodes.
- `keys`, `seal`: partners' NKeys and TLS certificates; end-to-end sealing of every message for its receiver.
"""

import logging

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


class _QuietTlsClose(logging.Filter):
    """asyncio warns on every TLS connection nats-py closes ("returning true from eof_received()"): noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received()" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_QuietTlsClose())

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
