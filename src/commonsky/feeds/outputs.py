"""The common picture pushed out in real formats: ASTERIX CAT062 over UDP, SBS-1 lines to TCP clients.

`OutputSpec.parse` reads the URL; `PictureOutput` sends each picture (`Tracks`, e.g.
`SystemTracks.as_tracks()`). A picture that cannot be encoded whole (a value outside its ASTERIX
item) is sent without the offending tracks, which are counted and logged (at most once per output
every few seconds: the same track fails again every tick): one bad track never blanks a display.
Over UDP each picture's CAT062 blocks end with a CAT065 "end of batch" record, and every
`SDPS_STATUS_PERIOD_S` a CAT065 SDPS status record says the service is operational and a CAT063
record per sensor (those with "SAC-SIC" ids) says whether it is delivering plots, as an SDPS such
as ARTAS sends them: displays use them to tell a quiet sky from a dead feed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from commonsky.core.batches import Tracks
from commonsky.core.errors import ConfigError, SchemaError
from commonsky.core.logs import RateLimitedLog
from commonsky.feeds.sockets import TcpBroadcastServer, UdpSender
from commonsky.feeds.urls import split_url
from commonsky.formats.asterix import (
    MAX_BLOCK_BYTES,
    ServiceMessages,
    encode_cat062,
    encode_cat063,
    encode_cat065,
    parse_sensor_id,
)
from commonsky.formats.sbs import encode_sbs

log = logging.getLogger(__name__)
_dropped_log = RateLimitedLog(log)

MAX_DATAGRAM_BYTES: Final = MAX_BLOCK_BYTES
"""Largest UDP payload sent: whole data blocks only, never an IP fragment on Ethernet."""
_PARAMS: Final = {"udp": {"format", "sac", "sic", "service", "ttl", "interface"}, "tcp": {"format"}}
SDPS_STATUS_PERIOD_S: Final = 5.0
"""Seconds between CAT065 SDPS status records (one goes with the first picture)."""
SENSOR_SILENT_S: Final = 30.0
"""A sensor without a plot for this long is reported "not connected" in CAT063 (I060 CON 3)."""
CAT063_OPERATIONAL: Final = 0
CAT063_NOT_CONNECTED: Final = 3
CAT065_SDPS_STATUS: Final = 1
CAT065_END_OF_BATCH: Final = 2
_FORMATS: Final = {"udp": "asterix", "tcp": "sbs"}


@dataclass(frozen=True)
class OutputSpec:
    """Where the picture goes and in which format (see `parse`)."""

    url: str
    scheme: str
    format: str
    host: str
    port: int
    sac: int = 0
    sic: int = 0
    service: int = 1
    """CAT065 I015 service identification."""
    ttl: int = 1
    interface: str | None = None

    @classmethod
    def parse(cls, url: str) -> OutputSpec:
        """Read an output URL; raises `ConfigError` naming the parameter at fault.

        - `udp://HOST:PORT?format=asterix[&sac=0&sic=0][&service=1][&ttl=1][&interface=IP]`: CAT062
          datagrams with CAT065 service messages (unicast, or multicast with `ttl` hops out of `interface`);
        - `tcp://HOST:PORT?format=sbs`: a server listening on HOST:PORT (0: any free port), SBS-1
          lines to every connected client.
        """
        parts, params = split_url(url, _PARAMS)
        scheme = parts.scheme
        fmt = params.get("format", _FORMATS[scheme])
        if fmt != _FORMATS[scheme]:
            raise ConfigError(url, "format", f"{scheme}:// outputs {_FORMATS[scheme]}, not {fmt!r}")
        host, sep, port_text = parts.netloc.rpartition(":")
        if not sep or not host:
            raise ConfigError(url, "address", "expected HOST:PORT")
        if not port_text.isdigit() or int(port_text) > 65535 or (scheme == "udp" and int(port_text) == 0):
            raise ConfigError(url, "port", f"{port_text!r} is not a port number")
        numbers = {key: _integer(url, key, params[key], high) for key, high in _LIMITS.items() if key in params}
        return cls(url, scheme, fmt, host.strip("[]"), int(port_text), interface=params.get("interface"), **numbers)


_LIMITS: Final = {"sac": 255, "sic": 255, "service": 255, "ttl": 255}


def _integer(url: str, key: str, value: str, high: int) -> int:
    if not value.isdigit() or int(value) > high:
        raise ConfigError(url, key, f"{value!r} is not an integer in 0..{high}")
    return int(value)


def split_blocks(data: bytes) -> list[bytes]:
    """The ASTERIX data blocks of `data` (blocks back to back, each with its 3-byte header)."""
    blocks = []
    pos = 0
    while pos + 3 <= len(data):
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        if length < 3:
            raise ValueError(f"data block at byte {pos} has length {length}")
        blocks.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} bytes after the last whole data block")
    return blocks


def asterix_datagrams(data: bytes, max_bytes: int = MAX_DATAGRAM_BYTES) -> list[bytes]:
    """Whole data blocks packed into datagrams of at most `max_bytes` (a bigger block goes alone)."""
    datagrams: list[bytes] = []
    current = b""
    for block in split_blocks(data):
        if current and len(current) + len(block) > max_bytes:
            datagrams.append(current)
            current = b""
        current += block
    if current:
        datagrams.append(current)
    return datagrams


class PictureOutput:
    """Sends each picture to one output (see `OutputSpec`); counters in `status()`."""

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec
        self.pictures = 0
        self.datagrams = 0
        self.dropped_tracks = 0
        self._sender: UdpSender | None = None
        self._server: TcpBroadcastServer | None = None
        self._last_status_s = -math.inf

    async def start(self) -> None:
        """Open the socket (UDP) or start listening (TCP)."""
        if self.spec.scheme == "udp":
            self._sender = UdpSender(self.spec.host, self.spec.port, self.spec.ttl, self.spec.interface)
        else:
            self._server = TcpBroadcastServer(self.spec.host, self.spec.port)
            await self._server.start()

    @property
    def port(self) -> int:
        """The port sent to (UDP) or listened on (TCP, the bound one when the URL said 0)."""
        return self._server.port if self._server is not None else self.spec.port

    def send(self, tracks: Tracks, time_s: float, sensor_last_plot_s: Mapping[str, float | None] | None = None) -> None:
        """Send the picture of `time_s` (UTC) now: UDP datagrams, or lines queued to every TCP client.

        `sensor_last_plot_s` (sensor id -> time of its last plot, None for none yet) feeds CAT063."""
        if self._sender is not None:
            status = self._status(time_s, sensor_last_plot_s or {}) if self._status_due(time_s) else b""
            for datagram in asterix_datagrams(self._cat062(tracks) + status + self._end_of_batch(time_s)):
                self._sender.send(datagram)
                self.datagrams += 1
        elif self._server is not None:
            self._server.broadcast(encode_sbs(tracks).encode("ascii"))
        else:
            raise RuntimeError("PictureOutput.send before start()")
        self.pictures += 1

    def _cat062(self, tracks: Tracks) -> bytes:
        """CAT062 blocks of the picture; if it does not encode whole, of each track that does."""
        sac, sic = self.spec.sac, self.spec.sic
        try:
            return encode_cat062(tracks, sac, sic)
        except SchemaError:
            parts = []
            for r in range(len(tracks)):
                try:
                    parts.append(encode_cat062(tracks.take(np.array([r])), sac, sic))
                except SchemaError as exc:
                    self.dropped_tracks += 1
                    track = int(tracks.track_id[r])
                    _dropped_log.warning(self.spec.url, "%s: track %d not sent: %s", self.spec.url, track, exc)
            return b"".join(parts)

    def _status_due(self, time_s: float) -> bool:
        if time_s - self._last_status_s < SDPS_STATUS_PERIOD_S:
            return False
        self._last_status_s = time_s
        return True

    def _status(self, time_s: float, sensor_last_plot_s: Mapping[str, float | None]) -> bytes:
        """CAT065 SDPS status (operational: NOGO 0), then CAT063 per sensor: operational or not connected."""
        spec = self.spec
        sdps = ServiceMessages.build(
            1,
            time_s=[time_s],
            category=[65],
            message_type=[CAT065_SDPS_STATUS],
            service_id=[spec.service],
            status=[0],
        )
        named = {sid: last for sid, last in sensor_last_plot_s.items() if parse_sensor_id(sid) is not None}
        if not named:
            return encode_cat065(sdps, spec.sac, spec.sic)
        silent = [last is None or time_s - last > SENSOR_SILENT_S for last in named.values()]
        n = len(named)
        sensors = ServiceMessages.build(
            n,
            time_s=np.full(n, time_s),
            category=np.full(n, 63),
            subject_id=list(named),
            service_id=np.full(n, spec.service),
            status=np.where(silent, CAT063_NOT_CONNECTED, CAT063_OPERATIONAL),
        )
        return encode_cat065(sdps, spec.sac, spec.sic) + encode_cat063(sensors, spec.sac, spec.sic)

    def _end_of_batch(self, time_s: float) -> bytes:
        """The CAT065 record that closes this picture's batch (batch number = pictures sent, modulo 256)."""
        end = ServiceMessages.build(
            1,
            time_s=[time_s],
            category=[65],
            message_type=[CAT065_END_OF_BATCH],
            service_id=[self.spec.service],
            batch=[self.pictures % 256],
        )
        return encode_cat065(end, self.spec.sac, self.spec.sic)

    def status(self) -> dict[str, Any]:
        """Counters for status displays."""
        server = self._server
        return {
            "url": self.spec.url,
            "pictures": self.pictures,
            "datagrams": self.datagrams,
            "send_errors": self._sender.errors if self._sender is not None else 0,
            "dropped_tracks": self.dropped_tracks,
            "clients": len(server.clients) if server is not None else 0,
            "dropped_clients": server.dropped if server is not None else 0,
        }

    async def close(self) -> None:
        """Close the socket or stop the server (clients are disconnected)."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        if self._server is not None:
            await self._server.close()
            self._server = None
