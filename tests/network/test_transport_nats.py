"""NATS JetStream transport against a real nats-server (see the `nats_server` fixture).

Each test resets what it uses (north's stream, east's durable on it), so the tests also pass
against a long-lived server started by `scripts/nats_server.sh start .nats`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from nats.aio.client import Client

from commonsky.core.batches import TrackReports
from commonsky.network.transport.base import SeqTracker
from commonsky.network.transport.messages import Message, TrackBatch, encode_tracks
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import Credentials, Limits, inbound_stream
from commonsky.network.transport.natsserver import ServerInfo
from tests.network.conftest import run_closing

TIMEOUT_S = 20.0


_open: list[NatsTransport | Client] = []


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run one async scenario with a hard time limit (each test must finish within 20 s),
    closing every connection it opened, pass or fail."""
    run_closing(scenario, TIMEOUT_S, _open)


async def login(server: ServerInfo, partner: str, **options: Any) -> NatsTransport:
    transport = await NatsTransport.from_creds(server.creds(partner), **options)
    _open.append(transport)
    return transport


async def fresh_pair(
    server: ServerInfo, north_options: dict[str, Any] | None = None, **east_options: Any
) -> tuple[NatsTransport, NatsTransport]:
    """north (sender) and east (importer), east's stream from north emptied of earlier tests' messages."""
    north = await login(server, "north", **(north_options or {}))
    east = await login(server, "east", **east_options)
    await east.purge_inbound("north")
    return north, east


def batch(i: int, n: int = 20) -> TrackReports:
    t = 1.78e9 + i
    return TrackReports.build(
        n, time_s=np.full(n, t), owner=["north"] * n, track_id=np.arange(n) + 1000 * i, lat_deg=np.full(n, 47.0)
    )


async def fetch_until(t: NatsTransport, sender: str, want: int, timeout_s: float = 5.0) -> list[Message]:
    """Fetch (without acking) until `want` messages arrived."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got += await t.fetch(sender, want - len(got), timeout_s=1.0)
    return got


async def drain(t: NatsTransport, sender: str) -> list[Message]:
    """Fetch and ack everything until a fetch comes back empty."""
    got: list[Message] = []
    while batch_ := await t.fetch(sender, 50, timeout_s=0.5):
        await t.ack(batch_)
        got += batch_
    return got


def test_partner_reads_only_what_was_meant_for_it(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        await north.publish_tracks(batch(1), batch_time_s=1.0, receiver="west")
        await north.publish_tracks(batch(2), batch_time_s=2.0, receiver="east")
        await north.publish_heartbeat("up", 20, 2.0)  # a broadcast: one copy on each receiver's subject
        got = await drain(east, "north")
        assert [(m.KIND, m.seq) for m in got] == [("tracks", 1), ("heartbeat", 1)]  # not west's batch
        first = got[0]
        assert isinstance(first, TrackBatch)
        assert first.batch_time_s == 2.0

    run(scenario)


def test_sender_keeps_messages_until_the_receiver_has_a_stream(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        await east.js.delete_stream(inbound_stream("north"))  # as if east had never connected
        await east.close()
        payload = encode_tracks(batch(7), "north", 1, time.time(), 7.0)
        north.send("tracks", payload, seq=1, sent_s=time.time(), receiver="east")  # never blocks
        deadline = time.monotonic() + 5.0
        while "no stream" not in (north.status().last_error or "") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert north.status().outbox["east"] == 1
        assert "east has no stream for north" in (north.status().last_error or "")
        east = await login(nats_server, "east")  # connecting makes the stream; north's retry lands in it
        got = await fetch_until(east, "north", 1, timeout_s=10.0)
        assert [m.seq for m in got] == [1]
        await east.ack(got)
        deadline = time.monotonic() + 5.0  # north takes it off its outbox once the acknowledgement is in
        while north.status().outbox["east"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert north.status().outbox["east"] == 0
        assert north.status().dropped["east"] == 0

    run(scenario)


def test_outbox_is_bounded_and_counts_what_it_drops(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        creds = Credentials.read(nats_server.creds("north"))
        unreachable = replace(creds, urls=("tls://127.0.0.1:1",))  # nothing listens there
        north = await NatsTransport.open(unreachable, outbox_bytes=10_000)
        _open.append(north)
        payload = encode_tracks(batch(1), "north", 1, time.time(), 1.0)
        for seq in range(1, 101):
            north.send("tracks", payload, seq=seq, sent_s=float(seq), receiver="east")
        status = north.status()
        assert status.state in ("connecting", "down")
        assert status.outbox["east"] == 10_000 // len(payload)
        assert status.dropped["east"] == 100 - status.outbox["east"]
        assert await north.fetch("east", timeout_s=0.05) == []  # no link: nothing, and no exception

    run(scenario)


def test_receiver_refuses_a_batch_over_the_row_limit(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        strict = replace(Credentials.read(nats_server.creds("east")), limits=Limits(max_rows_per_batch=10))
        await east.close()
        east = await NatsTransport.open(strict)
        _open.append(east)
        await east.wait_ready(10.0)
        await north.publish_tracks(batch(1, n=11), batch_time_s=1.0, receiver="east")
        await north.publish_tracks(batch(2, n=10), batch_time_s=2.0, receiver="east")
        got = await drain(east, "north")
        assert [m.seq for m in got] == [2]
        assert "11 rows, more than the coalition's 10" in str(east.rejected[-1])

    run(scenario)


def test_durable_consumer_replays_exactly_what_was_missed(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        for i in range(100):
            assert await north.publish_tracks(batch(i), batch_time_s=float(i), receiver="east") == i + 1

        first = await fetch_until(east, "north", 40)
        assert len(first) == 40
        await east.ack(first)
        await east.nc.close()  # the importer "crashes" (drops its connection) after acking 40

        east = await login(nats_server, "east")  # same durable, fresh process state
        second = await drain(east, "north")
        assert len(second) == 60
        seqs = [m.seq for m in first + second]
        assert seqs == list(range(1, 101))  # every seq exactly once, in order, across both sessions
        last = second[-1]
        assert isinstance(last, TrackBatch)
        np.testing.assert_array_equal(last.reports().track_id, batch(99).track_id)
        assert last.batch_time_s == 99.0
        info = await east.js.consumer_info(inbound_stream("north"), "east-from-north")
        assert (info.num_pending, info.num_ack_pending) == (0, 0)

    run(scenario)


def test_redelivery_after_crash_before_ack_is_not_applied_twice(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server, ack_wait_s=1.0)
        for i in range(10):
            await north.publish_tracks(batch(i), batch_time_s=float(i), receiver="east")
        got = await fetch_until(east, "north", 10)
        for m in got:  # applied (and the node saved its state) ... then crashed before acking
            east.applied.mark(m.sender, m.KIND, m.seq, m.sent_s)
        saved = east.applied.snapshot()
        await east.nc.close()  # crash: the connection drops, nothing is acked or handed back

        east = await login(nats_server, "east", applied=SeqTracker.restore(saved), ack_wait_s=1.0)
        await asyncio.sleep(1.2)  # ack wait expires: the server redelivers all 10
        assert await drain(east, "north") == []
        assert east.duplicates == 10
        for i in range(10, 15):
            await north.publish_tracks(batch(i), batch_time_s=float(i), receiver="east")
        assert [m.seq for m in await drain(east, "north")] == [11, 12, 13, 14, 15]

    run(scenario)


def test_graceful_close_hands_back_unacked_messages_at_once(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)  # default ack wait: 30 s
        for i in range(5):
            await north.publish_tracks(batch(i), batch_time_s=float(i), receiver="east")
        assert len(await fetch_until(east, "north", 5)) == 5
        await east.close()  # not acked: naked, so no 30 s wait for the redelivery
        east = await login(nats_server, "east")
        assert [m.seq for m in await drain(east, "north")] == [1, 2, 3, 4, 5]

    run(scenario)


def test_publish_to_fetch_latency_on_loopback(nats_server: ServerInfo, capsys: pytest.CaptureFixture[str]) -> None:
    rounds = 200
    latencies: list[float] = []

    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        await east.fetch("north", 1, timeout_s=0.1)  # create the durable outside the timing
        reports = batch(0, n=100)
        for i in range(rounds):
            t0 = time.perf_counter()
            await north.publish_tracks(reports, batch_time_s=float(i), receiver="east")
            got = await fetch_until(east, "north", 1)
            await east.ack(got)
            latencies.append(time.perf_counter() - t0)
            assert [m.seq for m in got] == [i + 1]

    run(scenario)
    ms = np.array(latencies) * 1e3
    with capsys.disabled():
        print(
            f"\nNATS publish(ack) -> fetch -> ack, 100-track batch, {rounds} rounds on loopback: "
            f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms"
        )
