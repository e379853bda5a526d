"""Sockets for live feeds: UDP receive (unicast or multicast) and send, a TCP client that reconnects
with back-off, and a TCP server that broadcasts to every connected client.

A feed's peer may vanish at any time (a radar front end restarts, a receiver's network drops):
the TCP client keeps trying with exponential back-off and tells its consumer when a new
connection starts, so a framer can drop the half message the old connection left. The server
drops a client that cannot keep up rather than let one slow display hold back the others. A UDP
input whose consumer falls behind holds at most `UDP_QUEUE_BYTES` of datagrams, dropping the oldest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

UDP_QUEUE_BYTES = 8 << 20
"""Default cap on the datagrams a UDP input holds before they are decoded (`DatagramQueue`)."""
DATAGRAM_OVERHEAD_BYTES = 128
"""What a held datagram costs besides its payload (object, time, sender): empty datagrams count too."""


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: `initial_s`, growing by `factor` up to `maximum_s`."""

    initial_s: float = 0.5
    maximum_s: float = 30.0
    factor: float = 2.0

    def delays(self) -> Iterator[float]:
        """The successive waits of one outage (restart it after a successful connection)."""
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.maximum_s)


@dataclass
class FeedCounters:
    """What a feed did, for status displays and tests."""

    connects: int = 0
    disconnects: int = 0
    failed_attempts: int = 0
    chunks: int = 0
    bytes_in: int = 0
    dropped: int = 0
    """Datagrams received but dropped unread, oldest first, because the queue was full."""
    last_error: str | None = None


@dataclass(frozen=True)
class TcpChunk:
    """Bytes read from a TCP feed; `connection` counts connections from 1, so a framer knows when to reset."""

    connection: int
    data: bytes


async def tcp_chunks(
    host: str,
    port: int,
    backoff: Backoff | None = None,
    counters: FeedCounters | None = None,
    read_size: int = 65536,
    connect_timeout_s: float = 5.0,
) -> AsyncIterator[TcpChunk]:
    """Read a TCP feed for ever: connect, yield what arrives, reconnect with back-off when it drops."""
    backoff = backoff or Backoff()
    counters = counters if counters is not None else FeedCounters()
    delays = backoff.delays()
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            counters.failed_attempts += 1
            counters.last_error = f"connect {host}:{port}: {exc}"
            delay = next(delays)
            log.info("%s; retrying in %.1f s", counters.last_error, delay)
            await asyncio.sleep(delay)
            continue
        counters.connects += 1
        delays = backoff.delays()
        log.info("connected to %s:%d (connection %d)", host, port, counters.connects)
        try:
            while chunk := await reader.read(read_size):
                counters.chunks += 1
                counters.bytes_in += len(chunk)
                yield TcpChunk(counters.connects, chunk)
        except OSError as exc:
            counters.last_error = f"read {host}:{port}: {exc}"
            log.info("%s", counters.last_error)
        finally:
            counters.disconnects += 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await asyncio.sleep(next(delays))


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram with its wall-clock UTC arrival time and sender."""

    time_s: float
    data: bytes
    sender: tuple[str, int]


class DatagramQueue(asyncio.DatagramProtocol):
    """Datagrams received and not yet taken, oldest first, holding at most `max_bytes` (payload plus
    `DATAGRAM_OVERHEAD_BYTES` each): past that the oldest are dropped (`counters.dropped`), since the
    newest data matters most to surveillance and a consumer that fell behind must not grow memory."""

    def __init__(self, counters: FeedCounters, max_bytes: int = UDP_QUEUE_BYTES) -> None:
        self.counters = counters
        self.max_bytes = max_bytes
        self.bytes = 0
        """What the held datagrams cost, as counted against `max_bytes`."""
        self._queue: asyncio.Queue[Datagram] = asyncio.Queue()

    def __len__(self) -> int:
        return self._queue.qsize()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Hold the datagram as the newest; drop the oldest while over the cap (the new one too, if alone too big)."""
        self.counters.chunks += 1
        self.counters.bytes_in += len(data)
        self._queue.put_nowait(Datagram(time.time(), data, (str(addr[0]), int(addr[1]))))
        self.bytes += len(data) + DATAGRAM_OVERHEAD_BYTES
        while self.bytes > self.max_bytes:
            self.bytes -= len(self._queue.get_nowait().data) + DATAGRAM_OVERHEAD_BYTES
            self.counters.dropped += 1

    def error_received(self, exc: Exception) -> None:
        self.counters.last_error = str(exc)

    async def get(self) -> Datagram:
        """The oldest datagram held, waiting for one if none is."""
        datagram = await self._queue.get()
        self.bytes -= len(datagram.data) + DATAGRAM_OVERHEAD_BYTES
        return datagram


def udp_socket(host: str, port: int, group: str | None = None, interface: str = "0.0.0.0") -> socket.socket:
    """A bound UDP socket; with `group`, joined to that multicast group on `interface` (closed if that fails)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((group or host, port) if group else (host, port))
        if group:
            membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class UdpFeed:
    """An open UDP input; iterate `datagrams()`, call `close()` when done."""

    transport: asyncio.DatagramTransport
    queue: DatagramQueue

    @property
    def counters(self) -> FeedCounters:
        """What the input received and dropped."""
        return self.queue.counters

    @property
    def port(self) -> int:
        """The local port (useful when bound to port 0)."""
        return int(self.transport.get_extra_info("sockname")[1])

    async def datagrams(self) -> AsyncIterator[Datagram]:
        """Datagrams as they arrive, for ever."""
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        """Stop receiving."""
        self.transport.close()


async def udp_datagrams(
    host: str = "0.0.0.0",
    port: int = 0,
    group: str | None = None,
    interface: str = "0.0.0.0",
    max_queue_bytes: int = UDP_QUEUE_BYTES,
    counters: FeedCounters | None = None,
) -> UdpFeed:
    """Open a UDP input (unicast on `host:port`, or multicast `group:port` on `interface`); `counters`
    (e.g. kept across reopenings) count what it receives, and `max_queue_bytes` caps what it holds."""
    loop = asyncio.get_running_loop()
    queue = DatagramQueue(counters if counters is not None else FeedCounters(), max_queue_bytes)
    sock = udp_socket(host, port, group, interface)
    transport, _ = await loop.create_datagram_endpoint(lambda: queue, sock=sock)
    return UdpFeed(transport, queue)


class UdpSender:
    """Sends datagrams to one address (unicast or multicast, with `ttl` hops for multicast)."""

    def __init__(self, host: str, port: int, ttl: int = 1, interface: str | None = None) -> None:
        self.address = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        if interface:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        self.sent = 0
        self.errors = 0

    def send(self, data: bytes) -> None:
        """Send one datagram; a send error (no route, peer gone) is counted, not raised: UDP is fire and forget."""
        try:
            self.sock.sendto(data, self.address)
            self.sent += 1
        except OSError as exc:
            self.errors += 1
            log.debug("udp send to %s failed: %s", self.address, exc)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class TcpBroadcastServer:
    """A TCP server that sends the same bytes to every connected client (SBS port 30003 style).

    A client whose unsent data exceeds `max_buffer_bytes` is disconnected (counted in `dropped`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_buffer_bytes: int = 4 << 20) -> None:
        self.host = host
        self.port = port
        self.max_buffer_bytes = max_buffer_bytes
        self.clients: set[asyncio.StreamWriter] = set()
        self.dropped = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.clients.add(writer)
        try:
            while await reader.read(4096):  # clients only listen; read until they close
                pass
        except OSError:
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def broadcast(self, data: bytes) -> None:
        """Queue `data` for every client; slow or broken clients are dropped."""
        for writer in list(self.clients):
            transport = writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > self.max_buffer_bytes:
                self.clients.discard(writer)
                self.dropped += 1
                writer.close()
                continue
            writer.write(data)

    async def close(self) -> None:
        """Stop listening and disconnect every client."""
        for writer in list(self.clients):
            writer.close()
        self.clients.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
