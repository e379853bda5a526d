"""Live and replayed inputs: a URL names the socket or file and its format; out come `Plots` batches.

`InputSpec.parse` reads the URL (`udp://`, `tcp://`, `file://`, see its docstring); the stream
decoder of its format (`formats.streams`, found through `formats.registry`) turns bytes into plots
as they arrive; `FeedInput` drives the socket or the file. Bad input is counted in the decoder's
`DecodeReport` and logged with its source and offset (at most one warning per input every few
seconds); it never stops a feed.

A live input runs for months: `FeedInput.run` supervises it (a crash is logged, counted, shown as
`failed` in `status()` and the input reopened with back-off), and what it holds grows with nothing
but `FeedLimits` (identity sets and maps keep the most recently seen, the UDP queue the newest
datagrams; what is forgotten is counted).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from commonsky.core.batches import Plots, TrackReports
from commonsky.core.errors import ConfigError
from commonsky.feeds.pacing import paced
from commonsky.feeds.sockets import UDP_QUEUE_BYTES, Backoff, FeedCounters, tcp_chunks, udp_datagrams
from commonsky.feeds.urls import split_url
from commonsky.formats.asterix import decode_recording
from commonsky.formats.containers import PCAP, PCAPNG, detect_format
from commonsky.formats.files import FORMATS, read_bytes, sniff_format
from commonsky.formats.nmea_targets import NmeaTargetStream
from commonsky.formats.registry import BY_NAME, live_formats
from commonsky.formats.report import DecodeReport
from commonsky.formats.streams import (
    MAX_IDENTITIES,
    AisStream,
    AsterixStream,
    BeastStream,
    ModeSTextStream,
    SbsStream,
    StreamDecoder,
    StreamReport,
    StreamSource,
)

__all__ = [
    "FILE_BATCH_S",
    "FILE_FORMATS",
    "MAX_IDENTITIES",
    "STREAM_FORMATS",
    "AisStream",
    "AsterixStream",
    "BeastStream",
    "FeedInput",
    "FeedLimits",
    "InputSpec",
    "ModeSTextStream",
    "SbsStream",
    "StreamDecoder",
    "StreamReport",
    "stream_decoder",
]

log = logging.getLogger(__name__)

STREAM_FORMATS: Final = live_formats("tcp")
"""Formats a TCP input accepts (ASTERIX comes over UDP)."""
DATAGRAM_FORMATS: Final = live_formats("udp")
"""Formats a UDP input accepts."""
FILE_FORMATS: Final = FORMATS
FILE_BATCH_S: Final = 0.25
"""Recorded seconds per batch of a file replay; a batch is released when its newest plot is due."""
RESTART_BACKOFF: Final = Backoff(1.0, 60.0)
"""Waits before reopening an input that crashed: 1 s, doubling up to 60 s."""
RESTART_RESET_S: Final = 60.0
"""A run that lasted this long before crashing was healthy: the next restart waits the shortest time again."""
_PARAMS: Final = {
    "udp": {"format", "group", "interface", "day", "sensor", "ref"},
    "tcp": {"format", "sensor", "ref"},
    "file": {"format", "sensor", "ref", "day", "speed"},
}


@dataclass(frozen=True)
class InputSpec:
    """Where an input comes from and how to decode it (see `parse`)."""

    url: str
    scheme: str
    format: str
    host: str = ""
    port: int = 0
    path: str = ""
    sensor_id: str = ""
    reference: tuple[float, float] | None = None
    day_start_s: float | None = None
    speed: float = 1.0
    group: str | None = None
    interface: str = "0.0.0.0"

    @classmethod
    def parse(cls, url: str) -> InputSpec:
        """Read an input URL; raises `ConfigError` naming the parameter at fault.

        - `udp://HOST:PORT?format=asterix[&group=239.1.2.3&interface=127.0.0.1][&day=YYYY-MM-DD]`, or
          `format=nmea-targets` (a marine radar's tracked targets, a track source: `&sensor=ID&ref=LAT,LON`,
          the radar's id and position)
        - `tcp://HOST:PORT?format=beast|sbs|modes|ais[&sensor=ID][&ref=LAT,LON]` (reconnects with back-off)
        - `file://PATH?format=auto|asterix|pcap|final|beast|sbs|modes|ais[&speed=1|10|inf]` plus
          `sensor`, `ref` and `day`; the path may be relative, and `.gz` files are read decompressed.

        `sensor` names the receiver of formats without sensor ids of their own (default: the host
        and port, or the file name); `ref` is its position for local CPR decoding; `day` is the UTC
        day of ASTERIX times of day (default: the day of arrival live, the capture times of a pcap,
        today for other files).
        """
        parts, params = split_url(url, _PARAMS)
        scheme = parts.scheme
        if scheme == "tcp" and "format" not in params:
            raise ConfigError(url, "format", f"required for tcp:// (one of {', '.join(STREAM_FORMATS)})")
        fmt = params.get("format", "auto" if scheme == "file" else DATAGRAM_FORMATS[0])
        allowed = {"udp": DATAGRAM_FORMATS, "tcp": STREAM_FORMATS, "file": FILE_FORMATS}[scheme]
        if fmt not in allowed:
            raise ConfigError(url, "format", f"{fmt!r} is not one of {', '.join(allowed)}")
        common: dict[str, Any] = {
            "reference": _reference(url, params["ref"]) if "ref" in params else None,
            "day_start_s": _day(url, params["day"]) if "day" in params else None,
        }
        if scheme == "file":
            path = parts.netloc + parts.path
            if not path:
                raise ConfigError(url, "path", "no file named (file://PATH or file:///ABSOLUTE/PATH)")
            speed = _speed(url, params.get("speed", "1"))
            sensor = params.get("sensor") or Path(path).name
            return cls(url, scheme, fmt, path=path, sensor_id=_sensor(url, sensor), speed=speed, **common)
        host, port = _address(url, parts.netloc)
        group = params.get("group") or None
        if group is not None:
            _ipv4(url, "group", group)
        interface = _ipv4(url, "interface", params.get("interface", "0.0.0.0"))
        sensor = params.get("sensor") or f"{host}:{port}"
        return cls(
            url, scheme, fmt, host, port, sensor_id=_sensor(url, sensor), group=group, interface=interface, **common
        )


def _address(url: str, netloc: str) -> tuple[str, int]:
    host, sep, port_text = netloc.rpartition(":")
    if not sep or not host:
        raise ConfigError(url, "address", "expected HOST:PORT")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(url, "port", f"{port_text!r} is not a port number (1-65535)")
    return host.strip("[]"), int(port_text)


def _ipv4(url: str, key: str, value: str) -> str:
    octets = value.split(".")
    if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        raise ConfigError(url, key, f"{value!r} is not an IPv4 address")
    return value


def _reference(url: str, value: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(url, "ref", f"{value!r} is not LAT,LON in degrees") from None
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        raise ConfigError(url, "ref", f"{value!r} is outside -90..90, -180..180")
    return lat, lon


def _day(url: str, value: str) -> float:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(url, "day", f"{value!r} is not a date YYYY-MM-DD") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _speed(url: str, value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        speed = math.nan
    if not speed > 0:
        raise ConfigError(url, "speed", f"{value!r} is not a positive number or inf")
    return speed


def _sensor(url: str, value: str) -> str:
    if len(value) > 24:
        raise ConfigError(url, "sensor", f"{value!r} is longer than 24 characters")
    return value


# --- decoding ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLimits:
    """What one live input may hold in memory; past a cap the oldest entry goes and is counted.

    `identities`: entries per identity set or map (the report's addresses and callsigns, SBS
    callsigns and squawks per hex ident, AIS static data per MMSI; the least recently updated go).
    `udp_queue_bytes`: datagrams received and not yet decoded (the oldest are dropped).
    """

    identities: int = MAX_IDENTITIES
    udp_queue_bytes: int = UDP_QUEUE_BYTES


def stream_decoder(spec: InputSpec, fmt: str | None = None, *, max_identities: int = MAX_IDENTITIES) -> StreamDecoder:
    """The stream decoder of an input (`fmt` overrides the spec's format, e.g. once a file was sniffed)."""
    fmt = fmt or spec.format
    entry = BY_NAME.get(fmt)
    if entry is None or entry.stream is None:
        raise ConfigError(spec.url, "format", f"{fmt!r} has no stream decoder")
    live = spec.scheme != "file"
    return entry.stream(
        StreamSource(spec.url, spec.sensor_id, spec.reference, spec.day_start_s, live, max_identities=max_identities)
    )


# --- driving the transport ---------------------------------------------------------------------------


class FeedInput:
    """One input: opens its socket or file, decodes what arrives, yields `Plots` batches (never empty).

    `clock` gives the UTC arrival time of what is read (Beast times and lines without their own
    time use it); `backoff` paces TCP reconnections. `as_live` replays a file as if it were live:
    every plot's time moves by one offset so that the first batch is stamped with the clock's time
    when it is released (a node, whose clock is the wall clock, can then track an old recording).
    `limits` caps what it holds; `restart`, `restart_reset_s` and `sleep` pace `run`'s restarts.
    """

    def __init__(
        self,
        spec: InputSpec,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        as_live: bool = False,
        limits: FeedLimits = FeedLimits(),
        restart: Backoff = RESTART_BACKOFF,
        restart_reset_s: float = RESTART_RESET_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.backoff = backoff
        self.as_live = as_live
        self.limits = limits
        self.restart = restart
        self.restart_reset_s = restart_reset_s
        self.sleep = sleep
        self.counters = FeedCounters()
        self.report: DecodeReport = DecodeReport(spec.url)
        """The decoder's report of the current run, once reading has started."""
        self._earlier = DecodeReport(spec.url, max_identities=limits.identities)
        """The decoders' reports of the runs before a restart, merged."""
        self.plots = 0
        self.ready = asyncio.Event()
        """Set while the input is open: UDP socket bound, first TCP bytes received, file decoded."""
        self.failures = 0
        self.last_failure: str | None = None
        """Why the latest crash happened (exception type and message), kept after recovery."""
        self._failed = False
        self._ended = False

    @property
    def state(self) -> str:
        """`starting` (not open yet), `running`, `failed` (waiting to restart) or `ended` (a file read through)."""
        if self._ended:
            return "ended"
        if self._failed:
            return "failed"
        return "running" if self.ready.is_set() else "starting"

    def status(self) -> dict[str, Any]:
        """For status displays: state (`reason` when failed), failures, connections, bytes, messages, errors, plots,
        datagrams dropped from a full queue and identities evicted by the caps."""
        report, earlier = self.report, self._earlier
        evicted = sum(r.addresses.evicted + r.callsigns.evicted for r in (report, earlier))
        return {
            "url": self.spec.url,
            "sensor": self.spec.sensor_id or None,
            "state": self.state,
            "reason": self.last_failure if self._failed else None,
            "failures": self.failures,
            "last_failure": self.last_failure,
            "connects": self.counters.connects,
            "disconnects": self.counters.disconnects,
            "failed_attempts": self.counters.failed_attempts,
            "bytes_in": self.counters.bytes_in,
            "dropped": self.counters.dropped,
            "messages": earlier.messages + report.messages,
            "errors": earlier.errors + report.errors,
            "evicted": evicted,
            "plots": self.plots,
            "last_error": self.counters.last_error,
        }

    async def batches(self) -> AsyncIterator[Plots | TrackReports]:
        """Plots as they are decoded, or a track source's reports (marine radars' targets over UDP or TCP): for
        ever from a socket, until the end of a file."""
        source = {"udp": self._udp, "tcp": self._tcp, "file": self._file}[self.spec.scheme]()
        async for batch in source:
            if len(batch):
                if isinstance(batch, Plots):
                    self.plots += len(batch)
                yield batch

    async def run(self, queue: asyncio.Queue[Plots | TrackReports]) -> None:
        """Put every batch on `queue` (a node's intake), until the input ends or the task is cancelled.

        Supervised, since nobody watches the task: a crash (any exception) is logged with its cause,
        counted, shown as `failed` in `status()`, and the input reopened (a file from its start) after
        `restart`'s back-off, which starts again from its shortest wait once a run lasted `restart_reset_s`.
        """
        delays = self.restart.delays()
        streak = 0
        while True:
            started = time.monotonic()
            try:
                async for plots in self.batches():
                    await queue.put(plots)
            except Exception as exc:
                if time.monotonic() - started >= self.restart_reset_s:
                    delays, streak = self.restart.delays(), 0
                delay = next(delays)
                streak += 1
                self._fail(exc, delay, streak)
                await self.sleep(delay)
                self._earlier.merge(self.report)
                self.report = DecodeReport(self.spec.url)
                self._failed = False
                continue
            self._ended = True
            return

    def _fail(self, exc: Exception, delay_s: float, streak: int) -> None:
        """Count, show and log a crash; only the first of a streak with a traceback (a steady fault must not flood)."""
        self.failures += 1
        self.last_failure = f"{type(exc).__name__}: {exc}"
        self._failed = True
        self.ready.clear()
        log.error(
            "%s: input failed (%s); restarting in %.1f s (failure %d in a row)",
            self.spec.url,
            self.last_failure,
            delay_s,
            streak,
            exc_info=exc if streak == 1 else None,
        )

    async def _udp(self) -> AsyncIterator[Plots | TrackReports]:
        spec = self.spec
        decoder = stream_decoder(spec, max_identities=self.limits.identities)
        self.report = decoder.report
        feed = await udp_datagrams(
            spec.host, spec.port, spec.group, spec.interface, self.limits.udp_queue_bytes, self.counters
        )
        self.ready.set()
        try:
            async for datagram in feed.datagrams():
                yield decoder.feed(datagram.data, datagram.time_s)
                if isinstance(decoder, NmeaTargetStream):
                    yield decoder.take_targets().to_track_reports(owner=spec.sensor_id)
        finally:
            feed.close()

    async def _tcp(self) -> AsyncIterator[Plots | TrackReports]:
        decoder = stream_decoder(self.spec, max_identities=self.limits.identities)
        self.report = decoder.report
        connection = 0
        async for chunk in tcp_chunks(self.spec.host, self.spec.port, self.backoff, self.counters):
            if chunk.connection != connection:
                if connection:
                    decoder.reset()
                connection = chunk.connection
                self.ready.set()
            yield decoder.feed(chunk.data, self.clock())
            if isinstance(decoder, NmeaTargetStream):
                yield decoder.take_targets().to_track_reports(owner=self.spec.sensor_id)

    async def _file(self) -> AsyncIterator[Plots]:
        plots = await asyncio.to_thread(self._decode_file)
        self.ready.set()
        offset: float | None = None
        async for recorded_s, batch in paced(_time_batches(plots, FILE_BATCH_S), self.spec.speed):
            if self.as_live:
                offset = self.clock() - recorded_s if offset is None else offset
                batch = batch.replace(time_s=batch.time_s + offset)
            yield batch

    def _decode_file(self) -> Plots:
        """The whole file decoded (ASTERIX containers per record or datagram, others through their stream decoder)."""
        spec = self.spec
        try:
            data = read_bytes(spec.path)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ConfigError(spec.url, "path", f"cannot read {spec.path}: {exc}") from None
        self.counters.bytes_in = len(data)
        fmt = sniff_format(data) if spec.format == "auto" else spec.format
        if fmt == "unknown":
            raise ConfigError(spec.url, "format", "not recognised: give format=")
        container = BY_NAME[fmt].container
        if container is not None:
            if container == PCAP and detect_format(data) == PCAPNG:
                container = PCAPNG
            day = spec.day_start_s
            if day is None and container not in (PCAP, PCAPNG):
                day = _day(spec.url, dt.datetime.now(dt.UTC).date().isoformat())
            decoded = decode_recording(data, spec.path, day, fmt=container)
            self.report = decoded.report
            return decoded.plots
        decoder = stream_decoder(spec, fmt, max_identities=self.limits.identities)
        self.report = decoder.report
        return Plots.concat([decoder.feed(data, self.clock()), decoder.finish()])


def _time_batches(plots: Plots, batch_s: float) -> Iterator[tuple[float, Plots]]:
    """(time of the newest plot, batch) per `batch_s` of recorded time, in recording order.

    Plots without a time join the batch before them; a time stepping back starts a new batch.
    """
    n = len(plots)
    if not n:
        return
    bins = np.floor(plots.time_s / batch_s)
    known = np.isfinite(bins)
    last_known = np.maximum.accumulate(np.where(known, np.arange(n), -1))
    bins = np.where(last_known >= 0, bins[np.maximum(last_known, 0)], -math.inf)
    cuts = np.flatnonzero(bins[1:] != bins[:-1]) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        batch = plots.take(np.arange(lo, hi))
        times = batch.time_s[np.isfinite(batch.time_s)]
        yield (float(times.max()) if len(times) else 0.0), batch
