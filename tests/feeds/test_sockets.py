"""Live feeds over real sockets on 127.0.0.1: a TCP peer that vanishes and comes back, UDP, broadcast."""

from __future__ import annotations

import asyncio
import math
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commonsky.feeds import Backoff, FeedCounters, LineFramer, TcpBroadcastServer, UdpSender, paced, tcp_chunks
from commonsky.feeds import udp_datagrams as open_udp
from tests.feeds.conftest import WAIT_S, TcpPeer, until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tcp_client_survives_the_peer_disappearing_and_coming_back() -> None:
    async def scenario() -> tuple[list[tuple[int, bytes]], FeedCounters]:
        port = _free_port()
        counters = FeedCounters()
        received: list[tuple[int, bytes]] = []
        framer = LineFramer()
        connection = 0

        async def consume() -> None:
            nonlocal connection
            async for chunk in tcp_chunks("127.0.0.1", port, Backoff(0.05, 0.2), counters):
                if chunk.connection != connection:
                    framer.reset()
                    connection = chunk.connection
                received.extend((chunk.connection, line) for line in framer.feed(chunk.data))
                if len(received) >= 4:
                    return

        task = asyncio.create_task(consume())
        await until(lambda: counters.failed_attempts >= 1)  # nobody listens yet: the client retries with back-off
        sent = [b"MSG,1\n", b"MSG,2\nMSG,3-partial"]
        first = TcpPeer(sent)
        await first.start(port)
        await until(lambda: counters.bytes_in == sum(map(len, sent)))  # the partial line is held
        failed = counters.failed_attempts
        await first.vanish()
        await until(lambda: counters.failed_attempts > failed)  # the peer is gone: the client retries
        second = TcpPeer([b"MSG,4\n", b"MSG,5\n"])
        await second.start(port)
        await asyncio.wait_for(task, WAIT_S)
        await second.vanish()
        return received, counters

    received, counters = asyncio.run(scenario())
    assert counters.failed_attempts >= 2
    assert counters.connects >= 2
    # The partial line of the first connection is not glued to the second connection's data.
    assert [line for _, line in received] == [b"MSG,1", b"MSG,2", b"MSG,4", b"MSG,5"]
    assert received[0][0] < received[2][0]


def test_udp_unicast_receives_every_datagram_in_order() -> None:
    async def scenario() -> list[bytes]:
        feed = await open_udp("127.0.0.1", 0)
        sender = UdpSender("127.0.0.1", feed.port)
        for i in range(200):
            sender.send(b"block %d" % i)
        out = []
        async for datagram in feed.datagrams():
            out.append(datagram.data)
            if len(out) == 200:
                break
        sender.close()
        feed.close()
        return out

    assert asyncio.run(scenario()) == [b"block %d" % i for i in range(200)]


def test_udp_multicast_on_loopback() -> None:
    group = "239.255.77.1"

    async def scenario() -> bytes:
        port = _free_port()
        feed = await open_udp(port=port, group=group, interface="127.0.0.1")
        sender = UdpSender(group, port, interface="127.0.0.1")
        sender.send(b"cat048")
        try:
            datagram = await asyncio.wait_for(anext(feed.datagrams()), WAIT_S)
        finally:
            sender.close()
            feed.close()
        return datagram.data

    try:
        data = asyncio.run(scenario())
    except OSError as exc:  # no multicast route in this network namespace
        pytest.skip(f"multicast not available here: {exc}")
    assert data == b"cat048"


def test_broadcast_server_reaches_every_client_and_drops_a_stalled_one() -> None:
    async def scenario() -> tuple[bytes, bytes, int]:
        server = TcpBroadcastServer(max_buffer_bytes=64 * 1024)
        port = await server.start()
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await until(lambda: len(server.clients) == 3)
        server.broadcast(b"MSG,3,hello\n")
        got1 = await r1.readline()
        got2 = await r2.readline()
        block = b"x" * 65536
        for _ in range(400):  # the stalled client never reads: its buffer fills and it is dropped
            server.broadcast(block)
            await r1.readexactly(len(block))
            await r2.readexactly(len(block))
            if server.dropped:
                break
        dropped = server.dropped
        for w in (w1, w2):
            w.close()
        stalled.close()
        await server.close()
        return got1, got2, dropped

    got1, got2, dropped = asyncio.run(scenario())
    assert got1 == got2 == b"MSG,3,hello\n"
    assert dropped == 1


def test_paced_replay_waits_for_recorded_time_scaled_by_speed() -> None:
    clock = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    async def collect(speed: float) -> list[float]:
        return [
            t
            async for t, _ in paced(
                [(10.0, "a"), (12.0, "b"), (11.0, "c"), (16.0, "d")], speed, lambda: clock[0], sleep
            )
        ]

    assert asyncio.run(collect(2.0)) == [10.0, 12.0, 11.0, 16.0]
    assert waits == pytest.approx([1.0, 2.0])
    waits.clear()
    assert asyncio.run(collect(math.inf)) == [10.0, 12.0, 11.0, 16.0]
    assert waits == []


@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 7))
def test_line_framer_gives_the_same_lines_however_the_stream_is_cut(pieces: list[bytes], cut: int) -> None:
    stream = b"".join(pieces)
    framer = LineFramer()
    lines = []
    for i in range(0, len(stream), cut):
        lines.extend(framer.feed(stream[i : i + cut]))
    expected = [line.rstrip(b"\r") for line in stream.split(b"\n")[:-1]]
    assert lines == expected


def test_line_framer_drops_an_endless_line_and_recovers() -> None:
    framer = LineFramer(max_line_bytes=10)
    assert framer.feed(b"x" * 25) == []
    assert framer.feed(b"yyyy\nok\n") == [b"ok"]
    assert framer.oversized == 1
    assert framer.feed(b"half") == []
    framer.reset()
    assert framer.feed(b"a\r\nb\n") == [b"a", b"b"]
