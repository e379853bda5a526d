"""AIS over NMEA 0183 (`!AIVDM`/`!AIVDO`, with or without NMEA 4.10 tag blocks) to columnar reports, via pyais.

Output is `AisReports`, one row per message that carries a position (types 1, 2, 3 class A,
4 base station, 9 SAR aircraft, 18, 19 class B, 21 aid to navigation, 27 long range), with the
static data of that MMSI as last seen in the input (name, call sign, ship type from types 5, 19,
21 and 24) attached to all its rows.
MMSIs are kept in their own `mmsi` column and **not** put in `Plots.mode_s`: that column holds
24-bit ICAO addresses, and a 9-digit MMSI would collide with them. `AisReports.to_plots()` gives
the tracker-ready `Plots` of moving platforms (vessels at altitude 0 m, SAR aircraft at their
reported altitude; no base stations or aids to navigation), with `mode_s` -1 and the AIS call
sign as `callsign`.

Times, first found wins: the tag block's `c:` (UNIX seconds, or milliseconds when above 1e11),
a trailing UNIX time after the checksum (the US Coast Guard `,b<station>,<time>` layout), the
latest `$..RMC` fix in the same stream, else the caller's `time_s`. Multi-sentence messages are
assembled by sequence id and channel. A sentence with a wrong checksum, a fragment that does not
fit, a group left incomplete and a payload pyais rejects are each one `DecodeReport.error`
(offset: 1-based line number); other NMEA sentences (`$GPGSA`, …) are skipped.
Unavailable values (lat 91, lon 181, speed 102.3 kn, course 360, heading 511) become NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pyais
from numpy.typing import NDArray

from commonsky.core.batches import CALLSIGN_DTYPE, SENSOR_ID_DTYPE, Col, Columns, Plots
from commonsky.core.errors import DecodeError
from commonsky.formats.modes import KT_MPS
from commonsky.formats.report import DecodeReport

POSITION_TYPES = frozenset({1, 2, 3, 4, 9, 18, 19, 21, 27})
MOVING_TYPES = frozenset({1, 2, 3, 9, 18, 19, 27})
"""Message types of vessels and aircraft, the ones `to_plots` keeps."""
NAME_DTYPE = "<U20"
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True, eq=False)
class AisReports(Columns):
    """AIS position reports, one row per message; speeds in m/s, angles in degrees, NaN / -1 / "" when unknown."""

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

    def to_plots(self) -> Plots:
        """Plots of the moving platforms with a position (see the module docstring)."""
        keep = np.isin(self.msg_type, list(MOVING_TYPES)) & np.isfinite(self.lat_deg) & np.isfinite(self.lon_deg)
        r = self.take(keep)
        altitude = np.where(r.msg_type == 9, r.altitude_m, 0.0)
        return Plots.build(
            len(r),
            time_s=r.time_s,
            sensor_id=r.sensor_id,
            lat_deg=r.lat_deg,
            lon_deg=r.lon_deg,
            altitude_m=altitude,
            callsign=r.callsign,
        )


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


class _Static:
    """Latest name, call sign and ship type per MMSI."""

    def __init__(self) -> None:
        self.name: dict[int, str] = {}
        self.callsign: dict[int, str] = {}
        self.ship_type: dict[int, int] = {}

    def update(self, mmsi: int, msg: dict[str, Any]) -> None:
        for key, store in (("shipname", self.name), ("name", self.name), ("callsign", self.callsign)):
            value = msg.get(key)
            if isinstance(value, str) and value.strip("@ "):
                store[mmsi] = value.strip("@ ")
        ship_type = msg.get("ship_type")
        if ship_type is not None:
            self.ship_type[mmsi] = int(ship_type)


def decode_ais(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    time_s: float = math.nan,
    report: DecodeReport | None = None,
) -> AisReports:
    """AIS reports from NMEA lines (see the module docstring)."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    it = lines.splitlines() if isinstance(lines, str) else lines
    static = _Static()
    rows: list[tuple[float, int, int, float, float, float, float, float, int, float]] = []
    groups: dict[tuple[str, str], tuple[int, list[str], float]] = {}
    """(sequence id, channel) -> (first line number, sentences so far, time)."""
    clock = math.nan
    for lineno, raw in enumerate(it, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            t = math.nan
            if line.startswith("\\"):
                tag, sep, rest = line[1:].partition("\\")
                if not sep:
                    raise DecodeError(report.source, lineno, "tag block without its closing backslash")
                t = _tag_time(tag, report.source, lineno)
                line = rest
            sentence, trailing_time = _split_sentence(line, report.source, lineno)
            if sentence.startswith("$"):
                fields = sentence.split("*")[0].split(",")
                if fields[0][3:] == "RMC" and len(fields) > 9:
                    clock = _rmc_time(fields) if fields[2] == "A" else clock
                continue
            t = t if math.isfinite(t) else trailing_time if math.isfinite(trailing_time) else clock
            t = t if math.isfinite(t) else time_s
            complete = _collect(sentence, t, groups, report, lineno)
        except DecodeError as err:
            report.error(err.offset, err.problem)
            continue
        except (ValueError, IndexError, OverflowError) as exc:
            report.error(lineno, f"malformed sentence: {exc}")
            continue
        if complete is None:
            continue
        first_line, parts, t_msg = complete
        row = _decode_message(parts, t_msg, static, report, lineno)
        if row is not None:
            rows.append(row)
    for first_line, parts, _ in groups.values():
        report.error(first_line, f"multi-sentence message incomplete at end of input ({len(parts)} parts)")
    return _columns(rows, static, sensor_id)


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


def _collect(
    sentence: str,
    t: float,
    groups: dict[tuple[str, str], tuple[int, list[str], float]],
    report: DecodeReport,
    lineno: int,
) -> tuple[int, list[str], float] | None:
    """Add one AIS fragment; returns (first line, sentences, time) when its message is complete."""
    fields = sentence.split(",")
    if len(fields) != 7 or fields[0][3:] not in ("VDM", "VDO"):
        raise DecodeError(report.source, lineno, f"not an AIVDM/AIVDO sentence: {sentence[:20]!r}")
    count, number = int(fields[1]), int(fields[2])
    if not 1 <= number <= count <= 9:
        raise DecodeError(report.source, lineno, f"fragment {number} of {count}")
    if count == 1:
        return lineno, [sentence], t
    key = (fields[3], fields[4])
    held = groups.get(key)
    if number == 1:
        if held is not None:
            groups.pop(key)
            report.error(held[0], f"multi-sentence message incomplete ({len(held[1])} parts)")
        groups[key] = (lineno, [sentence], t)
        return None
    if held is None or len(held[1]) != number - 1:
        if held is not None:
            groups.pop(key)
        raise DecodeError(report.source, lineno, f"fragment {number} of {count} out of sequence")
    held[1].append(sentence)
    if number == count:
        groups.pop(key)
        return held
    return None


def _decode_message(
    parts: list[str], t: float, static: _Static, report: DecodeReport, lineno: int
) -> tuple[float, int, int, float, float, float, float, float, int, float] | None:
    """One assembled message through pyais: a row if it has a position; updates the static data."""
    try:
        msg: dict[str, Any] = pyais.decode(*parts).asdict()
        msg_type, mmsi = int(msg["msg_type"]), int(msg["mmsi"])
    except Exception as exc:  # pyais raises many exception types for bad payloads
        report.error(lineno, f"pyais: {type(exc).__name__}: {exc}"[:200])
        return None
    report.messages += 1
    report.by_category[f"AIS{msg_type}"] += 1
    report.addresses.add(f"{mmsi:09d}")
    report.saw_times(t)
    static.update(mmsi, msg)
    if msg_type not in POSITION_TYPES:
        return None
    lat, lon = _value(msg.get("lat"), 91.0), _value(msg.get("lon"), 181.0)
    if msg_type == 27:
        sog, cog, heading, alt = _value(msg.get("speed"), 63.0), _value(msg.get("course"), 511.0), math.nan, math.nan
    else:
        sog, cog = _value(msg.get("speed"), 102.3), _value(msg.get("course"), 360.0)
        heading = _value(msg.get("heading"), 511.0)
        alt = _value(msg.get("alt"), 4095.0)
    if msg_type == 9:
        sog = _value(msg.get("speed"), 1023.0)  # SAR aircraft report whole knots
    status = msg.get("status")
    return t, mmsi, msg_type, lat, lon, sog * KT_MPS, cog, heading, -1 if status is None else int(status), alt


def _columns(
    rows: list[tuple[float, int, int, float, float, float, float, float, int, float]], static: _Static, sensor_id: str
) -> AisReports:
    n = len(rows)
    t, mmsi, msg_type, lat, lon, sog, cog, heading, status, alt = zip(*rows, strict=True) if rows else ((),) * 10
    mmsis = list(mmsi)
    return AisReports(
        time_s=np.array(t, dtype=np.float64),
        sensor_id=np.full(n, sensor_id, dtype=SENSOR_ID_DTYPE),
        mmsi=np.array(mmsis, dtype=np.int32),
        msg_type=np.array(msg_type, dtype=np.int8),
        lat_deg=np.array(lat, dtype=np.float64),
        lon_deg=np.array(lon, dtype=np.float64),
        sog_mps=np.array(sog, dtype=np.float64),
        cog_deg=np.array(cog, dtype=np.float64),
        heading_deg=np.array(heading, dtype=np.float64),
        nav_status=np.array(status, dtype=np.int8),
        altitude_m=np.array(alt, dtype=np.float64),
        name=np.array([static.name.get(m, "") for m in mmsis], dtype=NAME_DTYPE),
        callsign=np.array([static.callsign.get(m, "") for m in mmsis], dtype=CALLSIGN_DTYPE),
        ship_type=np.array([static.ship_type.get(m, -1) for m in mmsis], dtype=np.int16),
    )
