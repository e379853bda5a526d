"""AIS over NMEA 0183 (`!AIVDM`/`!AIVDO`, with or without NMEA 4.10 tag blocks) to columnar reports.

Output is `AisReports`, one row per message that carries a position (types 1, 2, 3 class A,
4 base station, 9 SAR aircraft, 18, 19 class B, 21 aid to navigation, 27 long range), with the
static data of that MMSI as last seen in the input attached to all its rows: name (types 5, 19, 21,
24), call sign (5, 24), ship type (5, 19, 24), destination (5), dimensions (5, 19, 24: metres from
the position reference to bow, stern, port and starboard; all four 0 means unknown and does not
replace known ones) and class (A from types 1, 2, 3, 5; B from 18, 19, 24; a row of another type
takes its MMSI's).
MMSIs are kept in their own `mmsi` column and **not** put in `Plots.mode_s`: that column holds
24-bit ICAO addresses. `AisReports.to_plots()` gives the tracker-ready `Plots` of moving platforms
(vessels in the surface domain at altitude 0 m, SAR aircraft in the air domain at their reported
altitude; no base stations or aids to navigation), with `mmsi` set, `mode_s` -1, the AIS call sign
as `callsign` and the position accuracy flag as `nacp` (`ACCURACY_NACP`).

Times, first found wins: the tag block's `c:` (UNIX seconds, or milliseconds when above 1e11),
a trailing UNIX time after the checksum (the US Coast Guard `,b<station>,<time>` layout), the
latest `$..RMC` fix in the same stream, else the caller's `time_s`. Multi-sentence messages are
assembled by sequence id and channel. A sentence with a wrong checksum, a fragment that does not
fit, a group left incomplete and a payload pyais rejects are each one `DecodeReport.error`
(offset: 1-based line number); other NMEA sentences (`$GPGSA`, …) are skipped.
Unavailable values (lat 91, lon 181, speed 102.3 kn, course 360, heading 511) become NaN.

Two paths give the same result: `ais_fast` checks the framing of every line and decodes messages
1-5, 18, 19, 24 and 27 in Numba kernels; every other line and message goes through pyais here, the
reference (`fast=False` sends everything through it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import numpy as np
import pyais
from numpy.typing import NDArray
from pyais.bit_vector import bit_vector
from pyais.constants import ShipType
from pyais.messages import MSG_CLASS

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import CALLSIGN_DTYPE, SENSOR_ID_DTYPE, Col, Columns, Plots
from commonsky.core.errors import DecodeError
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE
from commonsky.formats import ais_fast
from commonsky.formats.ais_fast import ARMOUR, FAST, PART, POSITION_FAST_TYPES, PY, RMC, SENTENCE, STATIC_FAST_TYPES
from commonsky.formats.modes import KT_MPS
from commonsky.formats.report import DecodeReport

POSITION_TYPES = frozenset({1, 2, 3, 4, 9, 18, 19, 21, 27})
MOVING_TYPES = frozenset({1, 2, 3, 9, 18, 19, 27})
"""Message types of vessels and aircraft, the ones `to_plots` keeps."""
STATIC_TYPES = frozenset({5, 19, 21, 24})
"""Message types whose name, call sign, ship type, destination and dimensions describe the sender."""
CLASS_A_TYPES = frozenset({1, 2, 3, 5})
CLASS_B_TYPES = frozenset({18, 19, 24})
NAME_DTYPE = "<U20"
CLASS_DTYPE = "<U1"
ACCURACY_NACP: Final = {1: 10, 0: 9}
"""Position accuracy flag -> NACp for the tracker's noise: 1 is better than 10 m (NACp 10, EPU < 10 m);
0 is 'worse than 10 m', a GNSS fix without differential correction: NACp 9 (EPU < 30 m)."""
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_SHIP_TYPE = np.array([int(ShipType(v)) for v in range(256)], dtype=np.int16)
"""pyais's ship type of each raw code in types 5 and 19 (its enum: undefined codes of a group to the group's
'reserved' code, codes outside every group to 0); type 24 keeps the raw code, as pyais does."""
_DIMENSIONS = ("to_bow", "to_stern", "to_port", "to_starboard")
_ARMOUR_CHARS = bytes(np.flatnonzero(ARMOUR >= 0).tolist())


@dataclass(frozen=True, eq=False)
class AisReports(Columns):
    """AIS position reports, one row per message; speeds in m/s, angles in degrees, NaN / -1 / "" when unknown.

    `accuracy` is the position accuracy flag (1: better than 10 m, 0: worse); `ais_class` "A" or "B";
    `to_*_m` place the position reference in the hull (`length_m`, `beam_m` add them up).
    """

    time_s: Col.F64
    sensor_id: Col.SensorId
    mmsi: Col.I32
    msg_type: Col.I8
    lat_deg: Col.F64
    lon_deg: Col.F64
    sog_mps: Col.F64
    cog_deg: Col.F64
    heading_deg: Col.F64
    nav_status: Col.I8
    altitude_m: Col.F64
    name: Annotated[NDArray[np.str_], NAME_DTYPE]
    callsign: Col.Callsign
    ship_type: Col.I16
    accuracy: Col.I8
    ais_class: Annotated[NDArray[np.str_], CLASS_DTYPE]
    destination: Annotated[NDArray[np.str_], NAME_DTYPE]
    to_bow_m: Col.I16
    to_stern_m: Col.I16
    to_port_m: Col.I16
    to_starboard_m: Col.I16

    @property
    def length_m(self) -> F64:
        """Length overall (bow + stern), NaN when unknown."""
        return _span(self.to_bow_m, self.to_stern_m)

    @property
    def beam_m(self) -> F64:
        """Beam (port + starboard), NaN when unknown."""
        return _span(self.to_port_m, self.to_starboard_m)

    def to_plots(self) -> Plots:
        """Plots of the moving platforms with a position (see the module docstring)."""
        keep = np.isin(self.msg_type, list(MOVING_TYPES)) & np.isfinite(self.lat_deg) & np.isfinite(self.lon_deg)
        r = self.take(keep)
        aircraft = r.msg_type == 9
        altitude = np.where(aircraft, r.altitude_m, 0.0)
        nacp = np.full(len(r), -1, dtype=np.int8)
        for flag, value in ACCURACY_NACP.items():
            nacp[r.accuracy == flag] = value
        return Plots.build(
            len(r),
            time_s=r.time_s,
            sensor_id=r.sensor_id,
            lat_deg=r.lat_deg,
            lon_deg=r.lon_deg,
            altitude_m=altitude,
            callsign=r.callsign,
            nacp=nacp,
            mmsi=r.mmsi,
            domain=np.where(aircraft, DOMAIN_AIR, DOMAIN_SURFACE),
        )


def _span(a: NDArray[np.int16], b: NDArray[np.int16]) -> F64:
    total = a.astype(np.float64) + b
    return np.where((a >= 0) & (b >= 0) & (total > 0), total, np.nan)


def _checksum_ok(body: str, given: str) -> bool:
    """NMEA checksum: XOR of the characters between the start character and '*', as two hex digits."""
    value = 0
    for ch in body:
        value ^= ord(ch)
    return f"{value:02X}" == given.upper()


def _tag_time(tag: str, source: str, lineno: int) -> float:
    """The `c:` time of an NMEA 4.10 tag block `key:value,...*hh` (NaN if absent); checks the tag checksum."""
    body, star, given = tag.rpartition("*")
    if not star or not _checksum_ok(body, given):
        raise DecodeError(source, lineno, "tag block checksum mismatch")
    for item in body.split(","):
        key, _, value = item.partition(":")
        if key == "c":
            t = float(value)
            return t / 1000.0 if t > 1e11 else t
    return math.nan


def _rmc_time(fields: list[str]) -> float:
    """UTC seconds of an RMC sentence (`hhmmss.ss` in field 1, `ddmmyy` in field 9), NaN if it has none."""
    clock, date = fields[1], fields[9] if len(fields) > 9 else ""
    if len(clock) < 6 or len(date) != 6:
        return math.nan
    day = dt.date(2000 + int(date[4:6]), int(date[2:4]), int(date[0:2])).toordinal() - _EPOCH_ORDINAL
    return day * 86400.0 + int(clock[0:2]) * 3600.0 + int(clock[2:4]) * 60.0 + float(clock[4:])


def _value(x: Any, unavailable: float) -> float:
    """A float field, NaN when missing or at its 'not available' value."""
    if x is None:
        return math.nan
    v = float(x)
    return math.nan if v == unavailable else v


def _ais_class(msg_type: int) -> str:
    return "A" if msg_type in CLASS_A_TYPES else "B" if msg_type in CLASS_B_TYPES else ""


Table = dict[str, NDArray[Any]]
"""Columns by name: the messages, position rows or static data of one path, before they become `AisReports`."""


@dataclass
class _Rows:
    """Columns gathered one message at a time on the reference path."""

    dtypes: dict[str, Any]
    values: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, **row: Any) -> None:
        for key, value in row.items():
            self.values.setdefault(key, []).append(value)

    def table(self) -> Table:
        return {k: np.array(self.values.get(k, []), dtype=dtype) for k, dtype in self.dtypes.items()}


_MESSAGE_DTYPES: dict[str, Any] = {"line": np.int64, "time_s": np.float64, "mmsi": np.int32, "msg_type": np.int8}
_ROW_DTYPES: dict[str, Any] = {
    **_MESSAGE_DTYPES,
    "lat_deg": np.float64,
    "lon_deg": np.float64,
    "sog_kn": np.float64,
    "cog_deg": np.float64,
    "heading_deg": np.float64,
    "nav_status": np.int8,
    "altitude_m": np.float64,
    "accuracy": np.int8,
}
_STATIC_DTYPES: dict[str, Any] = {
    "line": np.int64,
    "mmsi": np.int32,
    "name": NAME_DTYPE,
    "callsign": CALLSIGN_DTYPE,
    "destination": NAME_DTYPE,
    "ship_type": np.int16,
    **{f"{key}_m": np.int16 for key in _DIMENSIONS},
}
_Group = tuple[int, list[str], float, list[int]]
"""A multi-sentence message being assembled: first line number, sentences, time, line indices."""


class _Reader:
    """The reference path: lines through the NMEA checks and pyais, in order, keeping the clock and open groups."""

    def __init__(self, report: DecodeReport, time_s: float, fast: _Fast | None) -> None:
        self.report = report
        self.time_s = time_s
        self.fast = fast
        self.clock = math.nan
        self.clock_lines: list[int] = []
        self.clock_values: list[float] = []
        self.groups: dict[tuple[str, str], _Group] = {}
        """(sequence id, channel) -> (first line number, sentences so far, time, their line indices)."""
        self.messages = _Rows(_MESSAGE_DTYPES)
        self.rows = _Rows(_ROW_DTYPES)
        self.statics = _Rows(_STATIC_DTYPES)

    def line(self, index: int, raw: str) -> None:
        """One input line (0-based `index`) from the start: skipped, counted as an error, held as a part, or decoded."""
        line = raw.strip()
        if line and not line.startswith("#"):
            self._guarded(index, self._line, line)

    def checked(self, index: int, kind: int, sentence: str, t: float) -> None:
        """A line the scan found well formed: its sentence up to the checksum and its tag or trailing time."""
        if kind == RMC:
            self._guarded(index, self._rmc, sentence)
        else:
            self._guarded(index, self._sentence, sentence, t)

    def _guarded(self, index: int, step: Callable[..., _Group | None], *args: Any) -> None:
        """Run one line's step; its error is counted, a message it completes is decoded."""
        try:
            complete = step(index, *args)
        except DecodeError as err:
            self.report.error(err.offset, err.problem)
            return
        except (ValueError, IndexError, OverflowError) as exc:
            self.report.error(index + 1, f"malformed sentence: {exc}")
            return
        if complete is not None:
            self._message(complete, index)

    def _message(self, complete: _Group, index: int) -> None:
        """A complete message: left to the kernels, or decoded by pyais from its checked payload or its sentences."""
        _, parts, t, indices = complete
        if self.fast is not None and (checked := self.fast.payload(indices)) is not None:
            payload, fill = checked
            if len(indices) > 1 and ais_fast.decodable(np.frombuffer(payload, dtype=np.uint8), 0, len(payload), fill):
                self.fast.deferred.append((index, t, payload, fill))
            else:
                self._decode(parts, t, index, _from_payload(payload, fill))
        else:
            self._decode(parts, t, index, None)

    def _line(self, index: int, line: str) -> _Group | None:
        """The NMEA checks of a stripped line (tag block, checksum, trailing time), then its sentence."""
        lineno = index + 1
        t = math.nan
        if line.startswith("\\"):
            tag, sep, rest = line[1:].partition("\\")
            if not sep:
                raise DecodeError(self.report.source, lineno, "tag block without its closing backslash")
            t = _tag_time(tag, self.report.source, lineno)
            line = rest
        sentence, trailing_time = _split_sentence(line, self.report.source, lineno)
        if sentence.startswith("$"):
            self._rmc(index, sentence)
            return None
        return self._sentence(index, sentence, t if math.isfinite(t) else trailing_time)

    def _rmc(self, index: int, sentence: str) -> None:
        """Set the clock from a valid `$..RMC` fix; other `$` sentences are skipped."""
        fields = sentence.split("*")[0].split(",")
        if fields[0][3:] == "RMC" and len(fields) > 9 and fields[2] == "A":
            self.clock = _rmc_time(fields)
            self.clock_lines.append(index)
            self.clock_values.append(self.clock)

    def _sentence(self, index: int, sentence: str, t: float) -> _Group | None:
        """An AIS sentence at time `t` (NaN: the clock, else the caller's time) into its message."""
        t = t if math.isfinite(t) else self.clock
        return self._collect(sentence, t if math.isfinite(t) else self.time_s, index)

    def finish(self) -> None:
        """End of input: each group still open is one error."""
        for first_line, parts, _, _ in self.groups.values():
            self.report.error(first_line, f"multi-sentence message incomplete at end of input ({len(parts)} parts)")

    def _collect(self, sentence: str, t: float, index: int) -> _Group | None:
        """Add one AIS fragment; returns (first line, sentences, time, line indices) when its message is complete."""
        lineno, source = index + 1, self.report.source
        fields = sentence.split(",")
        if len(fields) != 7 or fields[0][3:] not in ("VDM", "VDO"):
            raise DecodeError(source, lineno, f"not an AIVDM/AIVDO sentence: {sentence[:20]!r}")
        count, number = int(fields[1]), int(fields[2])
        if not 1 <= number <= count <= 9:
            raise DecodeError(source, lineno, f"fragment {number} of {count}")
        if count == 1:
            return lineno, [sentence], t, [index]
        key = (fields[3], fields[4])
        held = self.groups.get(key)
        if number == 1:
            if held is not None:
                self.groups.pop(key)
                self.report.error(held[0], f"multi-sentence message incomplete ({len(held[1])} parts)")
            self.groups[key] = (lineno, [sentence], t, [index])
            return None
        if held is None or len(held[1]) != number - 1:
            if held is not None:
                self.groups.pop(key)
            raise DecodeError(source, lineno, f"fragment {number} of {count} out of sequence")
        held[1].append(sentence)
        held[3].append(index)
        if number == count:
            self.groups.pop(key)
            return held
        return None

    def _decode(self, parts: list[str], t: float, index: int, msg: Any) -> None:
        """One message through pyais (`msg` if already decoded): its row if it has a position, its static data."""
        try:
            msg = pyais.decode(*parts) if msg is None else msg
            msg_type, mmsi = int(msg.msg_type), int(msg.mmsi)
        except Exception as exc:  # pyais raises many exception types for bad payloads
            self.report.error(index + 1, f"pyais: {type(exc).__name__}: {exc}"[:200])
            return
        self.messages.add(line=index, time_s=t, mmsi=mmsi, msg_type=msg_type)
        if msg_type in STATIC_TYPES:
            self.statics.add(line=index, mmsi=mmsi, **_static_fields(msg))
        if msg_type in POSITION_TYPES:
            self.rows.add(line=index, time_s=t, mmsi=mmsi, msg_type=msg_type, **_position_fields(msg))


def _static_fields(msg: Any) -> dict[str, Any]:
    """Name, call sign, destination ("" unknown), ship type and dimensions (-1 unknown) of a pyais message."""
    out: dict[str, Any] = {"name": "", "callsign": "", "destination": ""}
    for key, column in (
        ("shipname", "name"),
        ("name", "name"),
        ("callsign", "callsign"),
        ("destination", "destination"),
    ):
        value = getattr(msg, key, None)
        if isinstance(value, str) and value.strip("@ "):
            out[column] = value.strip("@ ")
    ship_type = getattr(msg, "ship_type", None)
    out["ship_type"] = -1 if ship_type is None else int(ship_type)
    dims = [int(v) for key in _DIMENSIONS if (v := getattr(msg, key, None)) is not None]
    for key, value in zip(_DIMENSIONS, dims if len(dims) == 4 else [-1] * 4, strict=True):
        out[f"{key}_m"] = value
    return out


def _position_fields(msg: Any) -> dict[str, Any]:
    """The position row's fields of a pyais message (speed in knots, NaN where unavailable)."""
    lat, lon, speed, course, heading, alt, status, accuracy = (
        getattr(msg, name, None) for name in ("lat", "lon", "speed", "course", "heading", "alt", "status", "accuracy")
    )
    msg_type = int(msg.msg_type)
    if msg_type == 27:
        sog, cog, heading_deg, alt_m = _value(speed, 63.0), _value(course, 511.0), math.nan, math.nan
    else:
        sog, cog = _value(speed, 1023.0 if msg_type == 9 else 102.3), _value(course, 360.0)
        heading_deg, alt_m = _value(heading, 511.0), _value(alt, 4095.0)
    return {
        "lat_deg": _value(lat, 91.0),
        "lon_deg": _value(lon, 181.0),
        "sog_kn": sog,
        "cog_deg": cog,
        "heading_deg": heading_deg,
        "nav_status": -1 if status is None else int(status),
        "altitude_m": alt_m,
        "accuracy": -1 if accuracy is None else int(accuracy),
    }


def _split_sentence(line: str, source: str, lineno: int) -> tuple[str, float]:
    """The sentence up to its checksum (checked) and a trailing UNIX time after it (NaN if none)."""
    if not line or line[0] not in "!$":
        raise DecodeError(source, lineno, f"not an NMEA sentence: {line[:20]!r}")
    star = line.find("*")
    if star < 0 or len(line) < star + 3:
        raise DecodeError(source, lineno, "sentence without checksum")
    if not _checksum_ok(line[1:star], line[star + 1 : star + 3]):
        raise DecodeError(source, lineno, "NMEA checksum mismatch")
    trailing = [f for f in line[star + 3 :].split(",") if f]
    t = math.nan
    if trailing and trailing[-1].isdigit():
        value = float(trailing[-1])
        t = value if value > 1e8 else math.nan
    return line[: star + 3], t


class _Fast:
    """The kernels' view of the input: every line scanned; single-sentence messages and well-formed
    multi-sentence ones of the fast types decoded in bulk after the reference path has run."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(self.buf == 10)
        starts = np.concatenate([[0], ends + 1])
        ends = np.concatenate([ends, [len(self.buf)]])
        self.kind, self.time, self.s0, self.s1, self.p0, self.p1, self.fill = ais_fast.scan_lines(
            self.buf, starts, ends
        )
        self.lists = (self.kind.tolist(), self.p0.tolist(), self.p1.tolist())
        """Kinds and payload spans as Python lists, for the reference path's look-ups one message at a time."""
        self.deferred: list[tuple[int, float, bytes, int]] = []
        """(line index, time, payload, fill bits) of the assembled multi-sentence messages left to the kernels."""

    def read(self, reader: _Reader, texts: list[str]) -> None:
        """The lines the reference path must see, in order: from the start (`PY`) or from their sentence."""
        todo = np.flatnonzero(self.kind >= PART)
        for index, kind, t, s0, s1 in zip(
            todo.tolist(),
            self.kind[todo].tolist(),
            self.time[todo].tolist(),
            self.s0[todo].tolist(),
            self.s1[todo].tolist(),
            strict=True,
        ):
            if kind == PY:
                reader.line(index, texts[index])
            else:
                reader.checked(index, kind, self.data[s0:s1].decode("ascii"), t)

    def payload(self, indices: list[int]) -> tuple[bytes, int] | None:
        """The payload and fill bits of a message whose sentences all passed the scan, if it is all armour
        characters and its first sentence carries some (pyais reads the type there); else None."""
        kind, p0, p1 = self.lists
        if not all(kind[i] in (PART, SENTENCE) for i in indices) or p1[indices[0]] == p0[indices[0]]:
            return None
        payload = b"".join(self.data[p0[i] : p1[i]] for i in indices)
        if payload.translate(None, _ARMOUR_CHARS):
            return None
        return payload, int(self.fill[indices[-1]])

    def decode(self, reader: _Reader) -> tuple[Table, Table, Table]:
        """Messages, position rows and static data of the single-sentence lines and the deferred messages."""
        single = np.flatnonzero(self.kind == FAST)
        t = self.time[single]
        if reader.clock_lines:
            at = np.searchsorted(np.array(reader.clock_lines), single) - 1
            clock = np.where(at >= 0, np.array(reader.clock_values)[np.maximum(at, 0)], math.nan)
            t = np.where(np.isfinite(t), t, clock)
        t = np.where(np.isfinite(t), t, reader.time_s)
        buf, p0 = self.buf, self.p0[single]
        line = single.astype(np.int64)
        if self.deferred:
            aux = b"".join(d[2] for d in self.deferred)
            buf = np.concatenate([self.buf, np.frombuffer(aux, dtype=np.uint8)])
            sizes = np.array([len(d[2]) for d in self.deferred], dtype=np.int64)
            p0 = np.concatenate([p0, len(self.buf) + np.cumsum(sizes) - sizes])
            line = np.concatenate([line, np.array([d[0] for d in self.deferred], dtype=np.int64)])
            t = np.concatenate([t, np.array([d[1] for d in self.deferred])])
        msg_type, mmsi = ais_fast.decode_headers(buf, p0)
        messages: Table = {"line": line, "time_s": t, "mmsi": mmsi, "msg_type": msg_type}
        pos = np.isin(msg_type, POSITION_FAST_TYPES)
        lat, lon, sog, cog, heading, status, accuracy = ais_fast.decode_positions(buf, p0[pos])
        rows: Table = {k: v[pos] for k, v in messages.items()}
        rows |= {"lat_deg": lat, "lon_deg": lon, "sog_kn": sog, "cog_deg": cog, "heading_deg": heading}
        rows |= {"nav_status": status, "altitude_m": np.full(len(lat), np.nan), "accuracy": accuracy}
        stat = np.isin(msg_type, STATIC_FAST_TYPES)
        name, callsign, destination, ship_type, dims = ais_fast.decode_statics(buf, p0[stat])
        mapped = np.isin(msg_type[stat], (5, 19)) & (ship_type >= 0)
        ship_type[mapped] = _SHIP_TYPE[ship_type[mapped]]
        statics: Table = {
            "line": line[stat],
            "mmsi": mmsi[stat],
            "name": _text(name, NAME_DTYPE),
            "callsign": _text(callsign, CALLSIGN_DTYPE),
            "destination": _text(destination, NAME_DTYPE),
            "ship_type": ship_type,
        }
        statics |= {f"{key}_m": dims[:, k] for k, key in enumerate(_DIMENSIONS)}
        return messages, rows, statics


def _from_payload(payload: bytes, fill: int) -> Any:
    """pyais's message from a payload whose sentences the scan checked: what `AISSentence.decode` does once
    it has parsed them; None where pyais fails, so that `pyais.decode` of the sentences gives its error."""
    vector = bit_vector(payload, fill)
    cls = MSG_CLASS.get(vector.get(0, 6))
    try:
        return None if cls is None else cls.from_vector(vector)
    except Exception:  # pyais raises many exception types for bad payloads
        return None


def _text(chars: NDArray[np.uint8], dtype: str) -> NDArray[np.str_]:
    """ASCII rows to strings without their padding ('@' and spaces at both ends), as `_static_fields` cleans them."""
    raw = np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel()
    return np.char.strip(raw, b"@ ").astype(dtype)


def decode_ais(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    time_s: float = math.nan,
    report: DecodeReport | None = None,
    fast: bool = True,
) -> AisReports:
    """AIS reports from NMEA lines (see the module docstring); `fast=False` decodes everything with pyais."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    texts = lines.splitlines() if isinstance(lines, str) else list(lines)
    scan: _Fast | None = None
    if fast and texts:
        joined = "\n".join(texts)
        if joined.count("\n") == len(texts) - 1:  # no line breaks inside the lines given
            scan = _Fast(joined.encode("utf-8", "surrogatepass"))
    reader = _Reader(report, time_s, scan)
    if scan is None:
        for index, text in enumerate(texts):
            reader.line(index, text)
    else:
        scan.read(reader, texts)
    reader.finish()
    parts = [(reader.messages.table(), reader.rows.table(), reader.statics.table())]
    if scan is not None:
        parts.append(scan.decode(reader))
    messages, rows, statics = ({k: np.concatenate([p[j][k] for p in parts]) for k in parts[0][j]} for j in range(3))
    _count(report, messages)
    return _columns(rows, statics, messages, sensor_id)


def _in_order(table: Table) -> Table:
    order = np.argsort(table["line"], kind="stable")
    return {k: v[order] for k, v in table.items()}


def _count(report: DecodeReport, messages: Table) -> None:
    """Message counts, types, MMSIs (in the order last seen) and time span into the report."""
    m = _in_order(messages)
    report.messages += len(m["line"])
    types, counts = np.unique(m["msg_type"], return_counts=True)
    report.by_category.update({f"AIS{t}": int(c) for t, c in zip(types.tolist(), counts.tolist(), strict=True)})
    report.saw_times(m["time_s"])
    mmsi = m["mmsi"]
    cap = report.addresses.maxlen
    if cap is not None and len(report.addresses) + len(np.unique(mmsi)) > cap:
        ordered = mmsi.tolist()  # some may be forgotten on the way: add them as they came
    else:
        _, last = np.unique(mmsi[::-1], return_index=True)
        ordered = mmsi[np.sort(len(mmsi) - 1 - last)].tolist()
    report.addresses.update(f"{a:09d}" for a in ordered)


def _latest(line: I64, mmsi: NDArray[np.int32], valid: NDArray[np.bool_], rows: NDArray[np.int32]) -> I64:
    """Per row MMSI, the index of its MMSI's last valid entry by line (-1 if none)."""
    idx = np.flatnonzero(valid)
    if not len(idx):
        return np.full(len(rows), -1, dtype=np.int64)
    idx = idx[np.lexsort((line[idx], mmsi[idx]))]
    keys = mmsi[idx]
    last = np.concatenate([keys[1:] != keys[:-1], [True]])
    keys, idx = keys[last], idx[last]
    at = np.minimum(np.searchsorted(keys, rows), len(keys) - 1)
    return np.where(keys[at] == rows, idx[at], -1)


def _attach(values: NDArray[Any], at: I64, missing: Any) -> NDArray[Any]:
    """values[at] where at >= 0, else `missing` (appended last, where index -1 reads it: one gather)."""
    return np.append(values, np.array([missing], dtype=values.dtype))[at]


def _columns(rows: Table, statics: Table, messages: Table, sensor_id: str) -> AisReports:
    """The position rows in input order with each MMSI's latest static data and class."""
    r = _in_order(rows)
    mmsi, s = r["mmsi"], statics
    static: dict[str, Any] = {}
    for name, missing in (("name", ""), ("callsign", ""), ("destination", ""), ("ship_type", -1)):
        static[name] = _attach(s[name], _latest(s["line"], s["mmsi"], s[name] != missing, mmsi), missing)
    known = np.zeros(len(s["line"]), dtype=bool)
    for key in _DIMENSIONS:
        known |= s[f"{key}_m"] > 0  # all four 0: not available
    at = _latest(s["line"], s["mmsi"], known, mmsi)
    static |= {f"{key}_m": _attach(s[f"{key}_m"], at, -1) for key in _DIMENSIONS}
    classes = np.array([_ais_class(t) for t in range(64)], dtype=CLASS_DTYPE)
    tells = np.array([_ais_class(t) != "" for t in range(64)])
    at = _latest(messages["line"], messages["mmsi"], tells[messages["msg_type"]], mmsi)
    mmsi_class = _attach(classes[messages["msg_type"]], at, "")
    return AisReports(
        time_s=r["time_s"],
        sensor_id=np.full(len(mmsi), sensor_id, dtype=SENSOR_ID_DTYPE),
        mmsi=mmsi,
        msg_type=r["msg_type"],
        lat_deg=r["lat_deg"],
        lon_deg=r["lon_deg"],
        sog_mps=r["sog_kn"] * KT_MPS,
        cog_deg=r["cog_deg"],
        heading_deg=r["heading_deg"],
        nav_status=r["nav_status"],
        altitude_m=r["altitude_m"],
        accuracy=r["accuracy"],
        ais_class=np.where(tells[r["msg_type"]], classes[r["msg_type"]], mmsi_class),
        **static,
    )
