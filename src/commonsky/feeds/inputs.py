"""Live and replayed inputs: a URL names the socket or file and its format; out come `Plots` batches.

`InputSpec.parse` reads the URL (`udp://`, `tcp://`, `file://`, see its docstring); a stream
decoder per format turns bytes into plots as they arrive, holding partial messages and the decoder
state (CPR pairs, identities, multi-sentence AIS) for the whole life of the input, so a feed cut
into any chunks decodes as the same feed read whole; `FeedInput` drives the socket or the file.
Bad input is counted in the decoder's `DecodeReport` and logged with its source and offset (bytes
received for Beast, lines received for text, datagram number and byte offset in it for ASTERIX,
at most one warning per input every few seconds); it never stops a feed.

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
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Plots
from commonsky.core.bounded import BoundedDict
from commonsky.core.errors import ConfigError, DecodeError
from commonsky.feeds.framing import LineFramer
from commonsky.feeds.pacing import paced
from commonsky.feeds.sockets import UDP_QUEUE_BYTES, Backoff, FeedCounters, tcp_chunks, udp_datagrams
from commonsky.feeds.urls import split_url
from commonsky.formats.ais import decode_ais
from commonsky.formats.asterix import decode_asterix, decode_recording
from commonsky.formats.beast import MODE_S_KINDS, BeastReader
from commonsky.formats.containers import ASTERIX as RAW_ASTERIX
from commonsky.formats.containers import FINAL_FORMAT, FORMATS, PCAP, PCAPNG, detect_format
from commonsky.formats.files import read_bytes, sniff_format
from commonsky.formats.modes import ModeSDecoder, read_modes_text
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import decode_sbs

log = logging.getLogger(__name__)

DAY_S: Final = 86400.0
STREAM_FORMATS: Final = ("beast", "sbs", "modes", "ais")
"""Formats a TCP input accepts (ASTERIX comes over UDP)."""
FILE_FORMATS: Final = ("auto", "asterix", "pcap", "final", *STREAM_FORMATS)
FILE_BATCH_S: Final = 0.25
"""Recorded seconds per batch of a file replay; a batch is released when its newest plot is due."""
BEAST_COUNTER_BACK_S: Final = 2.0
"""A live Beast counter running back by more than this (not a wrap) was restarted: anchor it again."""
BEAST_COUNTER_AHEAD_S: Final = 60.0
"""A live Beast counter time this far ahead of the arrival counts at another rate: anchor it again."""
AIS_HOLD_LINES: Final = 64
"""A multi-sentence AIS message still incomplete this many lines after its first part is given up."""
MAX_IDENTITIES: Final = 50_000
"""Default entries per identity set or map of a live input (about 100 bytes each): days of a busy receiver."""
RESTART_BACKOFF: Final = Backoff(1.0, 60.0)
"""Waits before reopening an input that crashed: 1 s, doubling up to 60 s."""
RESTART_RESET_S: Final = 60.0
"""A run that lasted this long before crashing was healthy: the next restart waits the shortest time again."""
_SBS_RECORDS: Final = (b"MSG,", b"SEL,", b"ID,", b"AIR,", b"STA,", b"CLK,")
_PARAMS: Final = {
    "udp": {"format", "group", "interface", "day"},
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

        - `udp://HOST:PORT?format=asterix[&group=239.1.2.3&interface=127.0.0.1][&day=YYYY-MM-DD]`
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
        fmt = params.get("format", "auto" if scheme == "file" else "asterix")
        allowed = {"udp": ("asterix",), "tcp": STREAM_FORMATS, "file": FILE_FORMATS}[scheme]
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


# --- stream decoders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLimits:
    """What one live input may hold in memory; past a cap the oldest entry goes and is counted.

    `identities`: entries per identity set or map (the report's addresses and callsigns, SBS
    callsigns and squawks per hex ident, AIS static data per MMSI; the least recently updated go).
    `udp_queue_bytes`: datagrams received and not yet decoded (the oldest are dropped).
    """

    identities: int = MAX_IDENTITIES
    udp_queue_bytes: int = UDP_QUEUE_BYTES


@dataclass
class StreamReport(DecodeReport):
    """A `DecodeReport` whose error offsets count from the start of the stream, not of one decoder call.

    The format decoders number lines or bytes from each call's start; `begin(base)` says where
    that call starts in the stream, and `rejected` lists the call-relative offsets of its errors.
    Its identity sets are capped (`max_identities`, default `MAX_IDENTITIES`): a stream never ends.
    """

    max_identities: int | None = MAX_IDENTITIES

    offset_base: int = 0
    rejected: set[int] = field(default_factory=set)

    def begin(self, offset_base: int) -> None:
        """A decoder call starts whose offset 0 is stream offset `offset_base`."""
        self.offset_base = offset_base
        self.rejected.clear()

    def error(self, offset: int, problem: str) -> DecodeError:
        """Count and log one bad message (stream offset); remembers the call offset in `rejected`."""
        self.rejected.add(offset)
        return super().error(self.offset_base + offset, problem)


class StreamDecoder(Protocol):
    """Bytes of one input, as they arrive, to plots: complete messages only, partial ones held."""

    report: StreamReport

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        """Plots completed by `data`, which arrived at UTC `arrival_s`."""
        ...

    def reset(self) -> None:
        """The transport was replaced (TCP reconnect): drop a partial message, keep the decoder state."""
        ...

    def finish(self) -> Plots:
        """End of input (a file): decode what is held, count what stays incomplete."""
        ...


def _nearest_instant(tod: NDArray[np.float64], reference_s: float) -> NDArray[np.float64]:
    """The UTC instant nearest `reference_s` whose time of day is `tod` (NaN stays NaN)."""
    return reference_s + np.mod(tod - np.mod(reference_s, DAY_S) + DAY_S / 2, DAY_S) - DAY_S / 2


class AsterixStream:
    """ASTERIX datagrams: each decoded on its own; CAT048/021/001 become plots, CAT062 tracks are only counted.

    Times of day become UTC at the instant nearest the arrival, or with `day_start_s` continue from
    that day's start across midnights.
    """

    def __init__(self, source: str, day_start_s: float | None = None, *, max_identities: int = MAX_IDENTITIES) -> None:
        self.report = StreamReport(source, max_identities=max_identities)
        self.day_start_s = day_start_s
        self.datagrams = 0
        self._last_s = math.nan

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        """Plots of one datagram (a block or several back to back)."""
        self.datagrams += 1
        source = f"{self.report.source} datagram {self.datagrams}"
        decoded = decode_asterix(data, source, 0.0, received_utc_s=arrival_s, log_key=self.report.source)
        self.report.merge(decoded.report)
        plots = decoded.plots
        if self.day_start_s is None:
            times = _nearest_instant(plots.time_s, arrival_s)
        else:
            reference = self._last_s if math.isfinite(self._last_s) else self.day_start_s + DAY_S / 2
            times = _nearest_instant(plots.time_s, reference)
            finite = times[np.isfinite(times)]
            self._last_s = float(finite[-1]) if len(finite) else self._last_s
        return plots.replace(time_s=times)

    def reset(self) -> None:
        """Datagrams are whole: nothing is held."""

    def finish(self) -> Plots:
        """Datagrams are whole: nothing is held."""
        return Plots.empty()


class BeastStream:
    """Beast binary: `BeastReader` framing and one `ModeSDecoder` for the life of the input.

    Beast has no absolute time: each connection's first frame is stamped with its arrival time and
    later frames by the MLAT counter from there; frames without a counter get their arrival time.
    When the counter runs back by more than `BEAST_COUNTER_BACK_S` (the receiver restarted it, or a
    feeder loops a recording) or its time gets ahead of the arrival by more than `BEAST_COUNTER_AHEAD_S`
    (it counts at another rate, as GPS-stamping receivers do), that chunk's frames take their arrival
    time and the counter is anchored again at the next frame (`reanchors` counts it).
    """

    def __init__(
        self,
        sensor_id: str,
        reference: tuple[float, float] | None = None,
        *,
        live: bool = True,
        max_identities: int = MAX_IDENTITIES,
    ) -> None:
        self.report = StreamReport(sensor_id, max_identities=max_identities)
        self.decoder = ModeSDecoder(sensor_id, reference=reference, report=self.report)
        self.live = live
        """Arrival times are the present (a socket): check the counter against them. A file read whole is not."""
        self._latest_s = -math.inf
        self._reader: BeastReader | None = None
        self._connection_bytes = 0
        self.reanchors = 0

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        """Plots of the frames completed by `data`."""
        if self._reader is None:
            self._reader = BeastReader(start_time_s=arrival_s, report=self.report)
        self._connection_bytes += len(data)
        frames = self._reader.feed(data)
        # The Mode S decoder counts its frames itself; the reader counted them as Beast frames.
        self.report.messages -= int(np.isin(frames.kind, MODE_S_KINDS).sum())
        raw = frames.mode_s()
        times = raw.time_s[np.isfinite(raw.time_s)]
        if self.live and len(times):
            latest_before = np.maximum.accumulate(np.r_[self._latest_s, times])[:-1]
            back = bool(np.any(times < latest_before - BEAST_COUNTER_BACK_S))
            if back or times.max() > arrival_s + BEAST_COUNTER_AHEAD_S:
                self.reanchors += 1
                if self.reanchors in (1, 10) or self.reanchors % 1000 == 0:  # a steady fault must not flood the log
                    log.warning(
                        "%s: Beast counter out of step with the clock; anchored again (%d times)",
                        self.report.source,
                        self.reanchors,
                    )
                self._reader.reanchor(arrival_s)
                self._latest_s = -math.inf
                raw = raw.replace(time_s=np.full(len(raw), arrival_s))
            else:
                self._latest_s = max(self._latest_s, float(times.max()))
        raw = raw.replace(time_s=np.where(np.isfinite(raw.time_s), raw.time_s, arrival_s))
        return self.decoder.decode_raw(raw).plots

    def reset(self) -> None:
        """A new connection: the partial frame is an error, the next frame re-anchors the time."""
        if self._reader is not None:
            self._reader.finish()
        self.report.begin(self.report.offset_base + self._connection_bytes)
        self._reader = None
        self._connection_bytes = 0
        self._latest_s = -math.inf

    def finish(self) -> Plots:
        """End of a recording: a partial frame is an error."""
        self.reset()
        return Plots.empty()


class _LineStream(ABC):
    """Line-based formats: a `LineFramer` and stream line numbers shared by SBS, Mode S text and AIS."""

    def __init__(self, source: str, max_identities: int = MAX_IDENTITIES) -> None:
        self.report = StreamReport(source, max_identities=max_identities)
        self.framer = LineFramer()
        self.lines_done = 0
        """Lines handed to the decoder so far; the next one is line `lines_done + 1` of the stream."""
        self.last_arrival_s = math.nan

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        """Plots of the lines completed by `data`; a line too long to be one (its end lost) is dropped, an error."""
        self.last_arrival_s = arrival_s
        dropped = self.framer.oversized
        lines = [line.decode("utf-8", "replace") for line in self.framer.feed(data)]
        if self.framer.oversized > dropped:
            self.report.begin(self.lines_done)
            limit = self.framer.max_line_bytes
            self.report.error(1, f"{self.framer.oversized - dropped} line(s) over {limit} bytes dropped")
        return self._decode(lines, arrival_s) if lines else Plots.empty()

    def reset(self) -> None:
        """A new connection: a partial line is dropped."""
        self.framer.reset()

    def finish(self) -> Plots:
        """End of input: a last line without its newline still counts."""
        return self.feed(b"\n", self.last_arrival_s)

    @abstractmethod
    def _decode(self, lines: list[str], arrival_s: float) -> Plots:
        """Plots of complete lines."""


class ModeSTextStream(_LineStream):
    """Raw Mode S text (`*HEX;`, `HEX`, `TIME,HEX`): lines without a time get their arrival time."""

    def __init__(
        self, sensor_id: str, reference: tuple[float, float] | None = None, *, max_identities: int = MAX_IDENTITIES
    ) -> None:
        super().__init__(sensor_id, max_identities)
        self.decoder = ModeSDecoder(sensor_id, reference=reference, report=self.report)

    def _decode(self, lines: list[str], arrival_s: float) -> Plots:
        self.report.begin(self.lines_done)
        self.lines_done += len(lines)
        return self.decoder.decode_raw(read_modes_text(lines, time_s=arrival_s, report=self.report)).plots


class SbsStream(_LineStream):
    """SBS-1 lines; the latest callsign and squawk per hex ident carry over from earlier lines to later plots
    (kept for the `max_identities` idents most recently updated)."""

    def __init__(self, sensor_id: str, *, max_identities: int = MAX_IDENTITIES) -> None:
        super().__init__(sensor_id, max_identities)
        self.sensor_id = sensor_id
        self.callsigns: BoundedDict[str, str] = BoundedDict(max_identities)
        self.squawks: BoundedDict[str, int] = BoundedDict(max_identities)

    def _decode(self, lines: list[str], arrival_s: float) -> Plots:
        self.report.begin(self.lines_done)
        self.lines_done += len(lines)
        plots = decode_sbs(lines, self.sensor_id, report=self.report).plots
        # decode_sbs knows the identities of this call's lines only: a plot left without one takes
        # the latest from earlier calls; then the accepted lines of this call update that state.
        plot_idents: list[str] = []
        callsigns: dict[str, str] = {}
        squawks: dict[str, int] = {}
        for lineno, raw in enumerate(lines, start=1):
            f = raw.strip().split(",")
            if lineno in self.report.rejected or f[0] != "MSG":
                continue
            ident = f[4].strip().upper()
            if f[1] in ("2", "3") and f[14] and f[15]:
                plot_idents.append(ident)
            if f[10].strip():
                callsigns[ident] = f[10].strip()
            if f[17].strip():
                squawks[ident] = int(f"{int(f[17], 8):o}")
        known_callsign = np.array([self.callsigns.get(i, "") for i in plot_idents], dtype=plots.callsign.dtype)
        known_squawk = np.array([self.squawks.get(i, -1) for i in plot_idents], dtype=np.int16)
        self.callsigns.update(callsigns)
        self.squawks.update(squawks)
        return plots.replace(
            callsign=np.where(plots.callsign == "", known_callsign, plots.callsign),
            squawk=np.where(plots.squawk < 0, known_squawk, plots.squawk),
        )


class AisStream(_LineStream):
    """AIS NMEA: the parts of a multi-sentence message wait for its last part, lines after them do not;
    the RMC clock and each MMSI's latest name, call sign and ship type carry over to later calls.

    A row carries the static data known when it is decoded (`decode_ais` on a whole file gives
    every row of an MMSI the last static data of the file); it is kept for the `max_identities`
    MMSIs most recently updated.
    """

    def __init__(self, sensor_id: str, *, max_identities: int = MAX_IDENTITIES) -> None:
        super().__init__(sensor_id, max_identities)
        self.sensor_id = sensor_id
        self.held: list[tuple[int, str]] = []
        """(stream line number, line) of the parts of messages still incomplete, decoded with the next lines."""
        self.rmc: str | None = None
        """The latest valid RMC sentence, replayed before each call so lines without time use its clock."""
        self.static: dict[str, BoundedDict[int, Any]] = {
            name: BoundedDict(max_identities) for name in ("name", "callsign", "ship_type")
        }

    def reset(self) -> None:
        """A new connection: a partial line and the parts of unfinished messages are dropped."""
        super().reset()
        self.held = []

    def finish(self) -> Plots:
        """End of input: decode everything held; what is still incomplete is counted."""
        last = super().finish()
        held, self.held = self.held, []
        return Plots.concat([last, self._decode_numbered(held, self.last_arrival_s)]) if held else last

    def _decode(self, lines: list[str], arrival_s: float) -> Plots:
        numbered = self.held + [(self.lines_done + i, line) for i, line in enumerate(lines, start=1)]
        self.lines_done += len(lines)
        waiting = _open_ais_parts(numbered, self.lines_done - AIS_HOLD_LINES)
        self.held = [entry for i, entry in enumerate(numbered) if i in waiting]
        ready = [entry for i, entry in enumerate(numbered) if i not in waiting]
        return self._decode_numbered(ready, arrival_s) if ready else Plots.empty()

    def _decode_numbered(self, numbered: list[tuple[int, str]], arrival_s: float) -> Plots:
        """Decode lines at their stream line numbers (the gaps, lines decoded before, are blank)."""
        first = numbered[0][0]
        lines = [""] * (numbered[-1][0] - first + 1)
        for number, line in numbered:
            lines[number - first] = line
        prefix = [self.rmc] if self.rmc is not None else []
        self.report.begin(first - 1 - len(prefix))
        reports = decode_ais(prefix + lines, self.sensor_id, time_s=arrival_s, report=self.report)
        for lineno, line in enumerate(lines, start=len(prefix) + 1):
            if lineno not in self.report.rejected and _is_valid_rmc(line):
                self.rmc = line
        columns: dict[str, NDArray[Any]] = {}
        for name, missing in (("name", ""), ("callsign", ""), ("ship_type", -1)):
            values = getattr(reports, name)
            state = self.static[name]
            known = np.array([state.get(m, missing) for m in reports.mmsi.tolist()], dtype=values.dtype)
            columns[name] = np.where(values == missing, known, values)
            state.update((m, v) for m, v in zip(reports.mmsi.tolist(), columns[name].tolist(), strict=True))
        return reports.replace(**columns).to_plots()


def _nmea_fields(line: str) -> list[str]:
    """The comma-separated fields of an NMEA sentence before its checksum (tag block removed)."""
    line = line.strip()
    if line.startswith("\\"):
        line = line[1:].partition("\\")[2]
    return line.partition("*")[0].split(",")


def _is_valid_rmc(line: str) -> bool:
    f = _nmea_fields(line)
    return f[0].startswith("$") and f[0][3:] == "RMC" and len(f) > 9 and f[2] == "A"


def _open_ais_parts(numbered: list[tuple[int, str]], oldest: int) -> set[int]:
    """Indices of the parts of multi-sentence messages still open at the end whose first part is after `oldest`.

    Older open messages are given up: decoded as they are, they count as incomplete.
    """
    parts: dict[tuple[str, str], list[int]] = {}
    for i, (_, line) in enumerate(numbered):
        f = _nmea_fields(line)
        if len(f) != 7 or f[0][3:] not in ("VDM", "VDO") or not (f[1].isdigit() and f[2].isdigit()):
            continue
        key = (f[3], f[4])
        if f[2] == "1" and int(f[1]) > 1:
            parts[key] = [i]
        elif key in parts:
            parts[key].append(i)
            if f[1] == f[2]:
                del parts[key]
    return {i for group in parts.values() if numbered[group[0]][0] > oldest for i in group}


def stream_decoder(spec: InputSpec, fmt: str | None = None, *, max_identities: int = MAX_IDENTITIES) -> StreamDecoder:
    """The stream decoder of an input (`fmt` overrides the spec's format, e.g. once a file was sniffed)."""
    fmt = fmt or spec.format
    cap = max_identities
    if fmt == "asterix":
        return AsterixStream(spec.url, spec.day_start_s, max_identities=cap)
    if fmt == "beast":
        return BeastStream(spec.sensor_id, spec.reference, live=spec.scheme != "file", max_identities=cap)
    if fmt == "modes":
        return ModeSTextStream(spec.sensor_id, spec.reference, max_identities=cap)
    if fmt == "sbs":
        return SbsStream(spec.sensor_id, max_identities=cap)
    if fmt == "ais":
        return AisStream(spec.sensor_id, max_identities=cap)
    raise ConfigError(spec.url, "format", f"{fmt!r} has no stream decoder")


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

    async def batches(self) -> AsyncIterator[Plots]:
        """Plots as they are decoded: for ever from a socket, until the end of a file."""
        source = {"udp": self._udp, "tcp": self._tcp, "file": self._file}[self.spec.scheme]()
        async for plots in source:
            if len(plots):
                self.plots += len(plots)
                yield plots

    async def run(self, queue: asyncio.Queue[Plots]) -> None:
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

    async def _udp(self) -> AsyncIterator[Plots]:
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
        finally:
            feed.close()

    async def _tcp(self) -> AsyncIterator[Plots]:
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
        container = {"asterix": RAW_ASTERIX, "final": FINAL_FORMAT}.get(fmt, fmt)
        if fmt == "pcap":
            container = PCAPNG if detect_format(data) == PCAPNG else PCAP
        if container in FORMATS:
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
