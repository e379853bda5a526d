"""Live inputs and outputs at the edge: UDP (unicast, multicast), TCP clients that reconnect, TCP
servers that broadcast, and file replay at recorded or accelerated pace. Bytes in, bytes out: the
decoders and encoders of `commonsky.formats` turn them into columnar batches and back."""

from commonsky.feeds.inputs import FeedInput, FeedLimits, InputSpec, stream_decoder
from commonsky.feeds.outputs import OutputSpec, PictureOutput
from commonsky.feeds.pacing import paced
from commonsky.feeds.sockets import (
    Backoff,
    Datagram,
    DatagramQueue,
    FeedCounters,
    TcpBroadcastServer,
    TcpChunk,
    UdpFeed,
    UdpSender,
    tcp_chunks,
    udp_datagrams,
)
from commonsky.formats.framing import LineFramer

__all__ = [
    "Backoff",
    "Datagram",
    "DatagramQueue",
    "FeedCounters",
    "FeedInput",
    "FeedLimits",
    "InputSpec",
    "LineFramer",
    "OutputSpec",
    "PictureOutput",
    "TcpBroadcastServer",
    "TcpChunk",
    "UdpFeed",
    "UdpSender",
    "paced",
    "stream_decoder",
    "tcp_chunks",
    "udp_datagrams",
]
