"""Stream decoders: bytes of one input, as they arrive, to plots, with the decoder state of the whole input.

A stream decoder per format holds partial messages and the decoder state (CPR pairs, identities,
multi-sentence AIS) for the whole life of an input, so a feed cut into any chunks decodes as the
same feed read whole. Bad input is counted in its `StreamReport` at stream offsets (bytes received
for Beast, lines received for text, datagram number and byte offset in it for ASTERIX). Identity
sets and maps are capped (`max_identities`): a live input runs for months.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, Self

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Plots
from commonsky.core.bounded import BoundedDict
from commonsky.core.errors import DecodeError
from commonsky.formats.ais import decode_ais
from commonsky.formats.asterix import decode_asterix
from commonsky.formats.beast import MODE_S_KINDS, BeastReader
from commonsky.formats.framing import LineFramer
from commonsky.formats.modes import ModeSDecoder, read_modes_text
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import decode_sbs

log = logging.getLogger(__name__)

DAY_S: Final = 86400.0
BEAST_COUNTER_BACK_S: Final = 2.0
"""A live Beast counter running back by more than this (not a wrap) was restarted: anchor it again."""
BEAST_COUNTER_AHEAD_S: Final = 60.0
"""A live Beast counter time this far ahead of the arrival counts at another rate: anchor it again."""
AIS_HOLD_LINES: Final = 64
"""A multi-sentence AIS message still incomplete this many lines after its first part is given up."""
MAX_IDENTITIES: Final = 50_000
"""Default entries per identity set or map of a live input (about 100 bytes each): days of a busy receiver."""


@dataclass(frozen=True)
class StreamSource:
    """What a stream decoder is told of its input: its name, receiver, position, day, and whether it is live."""

    url: str
    sensor_id: str
    reference: tuple[float, float] | None = None
    day_start_s: float | None = None
    live: bool = True
    """Arrival times are the present (a socket), not the time a file was read."""
    max_identities: int = MAX_IDENTITIES


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

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a datagram input (errors are named by its URL)."""
        return cls(source.url, source.day_start_s, max_identities=source.max_identities)

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

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a TCP feed or a file of Beast frames."""
        return cls(source.sensor_id, source.reference, live=source.live, max_identities=source.max_identities)

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

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a TCP feed or a file of Mode S lines."""
        return cls(source.sensor_id, source.reference, max_identities=source.max_identities)

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

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a TCP feed or a file of SBS-1 lines."""
        return cls(source.sensor_id, max_identities=source.max_identities)

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

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a TCP feed or a file of AIS NMEA."""
        return cls(source.sensor_id, max_identities=source.max_identities)

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
