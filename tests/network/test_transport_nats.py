"""NATS JetStream transport against a real nats-server (see the `nats_server` fixture).

Each test resets what it uses (north's stream, east's durable on it), so the tests also pass
against a long-lived server started by `scripts/nats_server.sh start .nats`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
import numpy as np
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from commonsky.core.batches import TrackReports
from commonsky.network.transport.base import SeqTracker
from commonsky.network.transport.messages import Heartbeat, Message, TrackBatch, encode_tracks
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import Credentials, stream_name
from commonsky.network.transport.natsserver import ServerInfo

TIMEOUT_S = 20.0


_open: list[NatsTransport | Client] = []


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run one async scenario with a hard time limit (each test must finish within 20 s),
    closing every connection it opened, pass or fail."""

    async def bounded() -> None:
        try:
            await asyncio.wait_for(scenario(), TIMEOUT_S)
        finally:
            while _open:
                await _open.pop().close()

    asyncio.run(bounded())


async def login(server: ServerInfo, partner: str, **options: Any) -> NatsTransport:
    transport = await NatsTransport.from_creds(server.creds(partner), **options)
    _open.append(transport)
    return transport


async def fresh_pair(
    server: ServerInfo, north_options: dict[str, Any] | None = None, **east_options: Any
) -> tuple[NatsTransport, NatsTransport]:
    """north (sender) with an empty stream and fresh durables for its receivers, and east (importer)."""
    north = await login(server, "north", **(north_options or {}))
    east = await login(server, "east", **east_options)
    await north.reset_stream()
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


def test_partner_cannot_publish_as_another(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server, request_timeout_s=1.0)
        west_creds = Credentials.read(nats_server.creds("west"))
        west = await nats.connect(
            west_creds.url, user=west_creds.user, password=west_creds.password, inbox_prefix=west_creds.inbox_prefix
        )
        _open.append(west)
        heard: list[str] = []

        async def on_msg(msg: Msg) -> None:
            heard.append(msg.subject)

        await west.subscribe("commonsky.north.*.west", cb=on_msg)
        await west.subscribe("commonsky.north.*", cb=on_msg)
        await west.flush()
        before = (await north.js.stream_info(north.stream)).state.last_seq

        forged = encode_tracks(batch(0), "north", 999, time.time())
        await east.nc.publish("commonsky.north.tracks.west", forged)
        await east.nc.flush()
        with pytest.raises(nats.errors.TimeoutError):  # no JetStream ack: the server never took it
            await east.js.publish("commonsky.north.tracks.west", forged, timeout=1.0)
        await asyncio.sleep(0.3)
        assert any(
            'permissions violation for publish to "commonsky.north.tracks.west"' in e.lower() for e in east.errors
        )
        assert heard == []
        assert (await north.js.stream_info(north.stream)).state.last_seq == before
        assert west.is_connected  # a violation is reported, not a disconnect

        # control: the real north does get through, to west and into its stream
        await north.publish_tracks(batch(1), batch_time_s=1.0, receiver="west")
        await north.publish_heartbeat("up", 20, 1.0)
        await asyncio.sleep(0.3)
        assert heard == ["commonsky.north.tracks.west", "commonsky.north.heartbeat"]
        assert (await north.js.stream_info(north.stream)).state.last_seq == before + 2
        assert north.errors == []

    run(scenario)


def test_partner_reads_only_what_was_meant_for_it(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server, request_timeout_s=1.0)
        await north.publish_tracks(batch(1), batch_time_s=1.0, receiver="west")
        await north.publish_tracks(batch(2), batch_time_s=2.0, receiver="east")
        await north.publish_heartbeat("up", 20, 2.0)
        got = await drain(east, "north")
        assert [(m.KIND, m.seq) for m in got] == [("tracks", 1), ("heartbeat", 1)]  # not west's batch
        first = got[0]
        assert isinstance(first, TrackBatch)
        assert first.batch_time_s == 2.0

        # the live subject addressed to west, west's durable, and north's inbox are all closed to east
        await east.nc.subscribe("commonsky.north.tracks.west")
        await east.nc.subscribe("_INBOX_north.>")
        await east.nc.flush()
        with pytest.raises(nats.errors.TimeoutError):
            await east.js.add_consumer(
                stream_name("north"), ConsumerConfig(name="east-from-north", durable_name="east-from-north")
            )  # not even its own: the filter is north's to set
        with pytest.raises(nats.errors.TimeoutError):
            await east.js.consumer_info(stream_name("north"), "west-from-north")
        spy = await east.js.pull_subscribe_bind(durable="west-from-north", stream=stream_name("north"))
        with pytest.raises(nats.errors.TimeoutError):
            await spy.fetch(1, timeout=1.0)
        errors = " ".join(east.errors).lower()
        assert 'permissions violation for subscription to "commonsky.north.tracks.west"' in errors
        assert 'permissions violation for subscription to "_inbox_north.>"' in errors
        assert (
            'permissions violation for publish to "$js.api.consumer.msg.next.commonsky_north.west-from-north"' in errors
        )

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
        info = await east.js.consumer_info(stream_name("north"), "east-from-north")
        assert (info.num_pending, info.num_ack_pending) == (0, 0)

    run(scenario)


def test_redelivery_after_crash_before_ack_is_not_applied_twice(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server, {"ack_wait_s": 1.0})
        for i in range(10):
            await north.publish_tracks(batch(i), batch_time_s=float(i), receiver="east")
        got = await fetch_until(east, "north", 10)
        for m in got:  # applied (and the node saved its state) ... then crashed before acking
            east.applied.mark(m.sender, m.KIND, m.seq, m.sent_s)
        saved = east.applied.snapshot()
        await east.nc.close()  # crash: the connection drops, nothing is acked or handed back

        east = await login(nats_server, "east", applied=SeqTracker.restore(saved))
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


def test_sender_narrows_a_consumer_left_too_wide(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        await north.js.delete_consumer(north.stream, "east-from-north")
        await north.js.add_consumer(  # what an unfiltered consumer would leak: everything north sends
            north.stream, ConsumerConfig(name="east-from-north", durable_name="east-from-north")
        )
        await north.setup()  # on (re)connect the sender puts the filter back
        info = await north.js.consumer_info(north.stream, "east-from-north")
        assert sorted(info.config.filter_subjects or []) == ["commonsky.north.*", "commonsky.north.*.east"]
        await north.publish_tracks(batch(1), batch_time_s=1.0, receiver="west")
        await north.publish_tracks(batch(2), batch_time_s=2.0, receiver="east")
        assert [m.KIND for m in await drain(east, "north")] == ["tracks"]

    run(scenario)


def test_restarted_sender_continues_its_numbering(nats_server: ServerInfo) -> None:
    async def scenario() -> None:
        north, east = await fresh_pair(nats_server)
        await north.publish_tracks(batch(0), batch_time_s=0.0, receiver="east")
        await north.publish_heartbeat("up", 20, 0.0)
        await north.close()
        north = await login(nats_server, "north")  # restart: numbering resumes from the stream
        assert await north.publish_tracks(batch(1), batch_time_s=1.0, receiver="east") == 2
        assert await north.publish_heartbeat("degraded", 20, 1.0) == 2
        got = await drain(east, "north")
        assert [(m.KIND, m.seq) for m in got] == [("tracks", 1), ("heartbeat", 1), ("tracks", 2), ("heartbeat", 2)]
        assert isinstance(got[-1], Heartbeat)
        assert east.monitor.status("north", time.time()) == "degraded"  # reported by the heartbeat

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
