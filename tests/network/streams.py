"""What a partner's inbound streams still hold, read with its own credentials (for tests and benchmarks that
count every batch: recorded by the receiver, or still waiting for it on the server)."""

from __future__ import annotations

from pathlib import Path

from commonsky.network.live import ACK_WAIT_S
from commonsky.network.transport.nats import NatsTransport


async def left_on_server(creds: Path) -> dict[str, set[int]]:
    """Track batch seqs per sender still waiting in the receiver's streams (`creds` is the receiver's; read,
    not acked)."""
    transport = await NatsTransport.from_creds(creds, timeout_s=30.0, ack_wait_s=ACK_WAIT_S)
    left: dict[str, set[int]] = {}
    try:
        for sender in transport.senders:
            seqs = left.setdefault(sender, set())
            empty = 0
            while empty < 3:  # three empty pulls in a row: nothing left
                messages = await transport.fetch(sender, batch=1000, timeout_s=0.5)
                empty = 0 if messages else empty + 1
                seqs.update(m.seq for m in messages if m.KIND == "tracks")
    finally:
        await transport.close()
    return left
