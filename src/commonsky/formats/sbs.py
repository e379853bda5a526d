"""SBS-1 BaseStation text (port 30003 of dump1090/readsb, Virtual Radar Server, tar1090 feeders), in and out.

A line is `MSG,<type>,<session>,<aircraft id>,<hex ident>,<flight id>,<date gen>,<time gen>,<date
logged>,<time logged>,<callsign>,<altitude ft>,<ground speed kt>,<track deg>,<lat>,<lon>,<vertical
rate ft/min>,<squawk>,<alert>,<emergency>,<spi>,<on ground>`: 22 fields, empty when not carried.

In (`decode_sbs`): MSG,2 (surface) and MSG,3 (airborne) lines with a position become `Plots` rows,
carrying the latest callsign and squawk any line gave for that hex ident, `on_ground` for a MSG,2
or an "on ground" field of -1 (BaseStation's true; dump1090 and readsb write -1 or 0); MSG,4 (and the speed of
MSG,2) become `Velocities`; MSG,5/6/7 become `Replies` with `df` -1 (SBS does not say which
downlink format the value came from). The time is the "generated" date and time (the "logged"
one when that is empty), read as UTC plus `utc_offset_s` (some feeders write local time). A hex
ident starting with `~` (readsb's non-ICAO addresses) gives `mode_s` -1. Other record types
(SEL, ID, AIR, STA, CLK) are counted by type and skipped; malformed lines are errors.

Out (`encode_sbs`): per `Tracks` row a MSG,3 (position, altitude; a MSG,2 with "on ground" -1 for a
track on the ground) and, when the velocity is known,
a MSG,4 (ground speed, track, vertical rate), plus a MSG,1 (callsign) and MSG,6 (squawk) whenever
a track's callsign or squawk first appears or changes. Tracks without a Mode S address get the hex
ident `~` + the low 24 bits of the track id, as readsb marks non-ICAO targets. Lines end in CRLF.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Final

import numpy as np

from commonsky.core.batches import CALLSIGN_DTYPE, SENSOR_ID_DTYPE, Plots, Tracks
from commonsky.core.errors import DecodeError
from commonsky.formats.modes import FPM_MPS, FT_M, KT_MPS, ModeSBatch, Replies, Velocities
from commonsky.formats.report import DecodeReport

SBS_FIELDS = 22
GROUND_TRUE: Final = ("-1", "1")
"""Values of the "on ground" field that mean on the ground (BaseStation writes -1 for true)."""
OTHER_RECORDS: Final = ("SEL", "ID", "AIR", "STA", "CLK")
"""Record types besides MSG: counted by type, carry nothing decoded."""
RECORD_TYPES: Final = ("MSG", *OTHER_RECORDS)
"""The first field of every SBS-1 line (what sniffing a recording looks for)."""
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _day_seconds(date: str, cache: dict[str, float]) -> float:
    """UTC seconds at the start of a `YYYY/MM/DD` day."""
    value = cache.get(date)
    if value is None:
        y, m, d = (int(p) for p in date.split("/"))
        value = (dt.date(y, m, d).toordinal() - _EPOCH_ORDINAL) * 86400.0
        cache[date] = value
    return value


def _clock_seconds(clock: str) -> float:
    """Seconds since midnight of `HH:MM:SS[.fff]`."""
    h, m, s = clock.split(":")
    hours, minutes, seconds = int(h), int(m), float(s)
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        raise ValueError(f"clock {clock!r} out of range")
    return hours * 3600.0 + minutes * 60.0 + seconds


def _number(value: str) -> float:
    """A numeric field, NaN when empty; raises ValueError when it is not a finite number."""
    if not value:
        return math.nan
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{value!r} is not finite")
    return x


def decode_sbs(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    utc_offset_s: float = 0.0,
    report: DecodeReport | None = None,
) -> ModeSBatch:
    """Plots, velocities and replies from SBS-1 lines (`offset` of errors: 1-based line number)."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    it = lines.splitlines() if isinstance(lines, str) else lines
    days: dict[str, float] = {}
    callsigns: dict[str, str] = {}
    squawks: dict[str, int] = {}
    plot_rows: list[tuple[float, float, float, float, int, int, str, bool]] = []
    vel_rows: list[tuple[float, int, float, float, float]] = []
    reply_rows: list[tuple[float, int, float, int]] = []
    for lineno, raw in enumerate(it, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            f = line.split(",")
            kind = f[0]
            if kind != "MSG":
                if kind not in OTHER_RECORDS:
                    raise DecodeError(report.source, lineno, f"unknown record type {kind[:16]!r}")
                report.messages += 1
                report.by_category[kind] += 1
                continue
            if len(f) != SBS_FIELDS:
                raise DecodeError(report.source, lineno, f"{len(f)} fields ({SBS_FIELDS} expected)")
            msg_type = f[1]
            if msg_type not in ("1", "2", "3", "4", "5", "6", "7", "8"):
                raise DecodeError(report.source, lineno, f"unknown MSG type {msg_type[:8]!r}")
            ident = f[4].strip().upper()
            hex_part = ident[1:] if ident.startswith("~") else ident
            if len(hex_part) != 6:
                raise DecodeError(report.source, lineno, f"hex ident {ident[:16]!r} is not 6 hex digits")
            addr = int(hex_part, 16) if not ident.startswith("~") else -1
            date, clock = (f[6], f[7]) if f[6] else (f[8], f[9])
            t = _day_seconds(date, days) + _clock_seconds(clock) - utc_offset_s
            alt, gs, trk, lat, lon, vr = (_number(f[k]) for k in (11, 12, 13, 14, 15, 16))
            squawk = int(f[17], 8) if f[17].strip() else -1
            callsign = f[10].strip()
        except DecodeError as err:
            report.error(err.offset, err.problem)
            continue
        except (ValueError, IndexError, OverflowError) as exc:
            report.error(lineno, f"malformed field: {exc}")
            continue
        if squawk > 0o7777 or len(callsign) > 8 or (math.isfinite(lat) and abs(lat) > 90) or (abs(lon) > 180):
            report.error(lineno, "squawk, callsign or position out of range")
            continue
        report.messages += 1
        report.by_category[f"MSG{msg_type}"] += 1
        report.saw_times(t)
        if addr >= 0:
            report.addresses.add(f"{addr:06X}")
        if callsign:
            callsigns[ident] = callsign
            report.callsigns.add(callsign)
        if squawk >= 0:
            squawks[ident] = int(f"{squawk:o}")
        if msg_type in ("2", "3") and math.isfinite(lat) and math.isfinite(lon):
            on_ground = msg_type == "2" or f[21].strip() in GROUND_TRUE
            plot_rows.append((t, alt, lat, lon, addr, squawks.get(ident, -1), callsigns.get(ident, ""), on_ground))
        if msg_type == "4" or (msg_type == "2" and math.isfinite(gs)):
            vel_rows.append((t, addr, gs, trk, vr))
        if msg_type in ("5", "6", "7"):
            reply_rows.append((t, addr, alt, int(f"{squawk:o}") if squawk >= 0 else -1))
    return ModeSBatch(_plots(plot_rows, sensor_id), _velocities(vel_rows, sensor_id), _replies(reply_rows, sensor_id))


def _plots(rows: list[tuple[float, float, float, float, int, int, str, bool]], sensor_id: str) -> Plots:
    n = len(rows)
    t, alt, lat, lon, addr, sq, cs, ground = zip(*rows, strict=True) if rows else ((),) * 8
    return Plots.build(
        n,
        time_s=np.array(t, dtype=np.float64),
        sensor_id=np.full(n, sensor_id, dtype=SENSOR_ID_DTYPE),
        altitude_m=np.array(alt, dtype=np.float64) * FT_M,
        lat_deg=np.array(lat, dtype=np.float64),
        lon_deg=np.array(lon, dtype=np.float64),
        mode_s=np.array(addr, dtype=np.int32),
        squawk=np.array(sq, dtype=np.int16),
        callsign=np.array(cs, dtype=CALLSIGN_DTYPE),
        on_ground=np.array(ground, dtype=bool),
    )


def _velocities(rows: list[tuple[float, int, float, float, float]], sensor_id: str) -> Velocities:
    n = len(rows)
    t, addr, gs_kt, trk_deg, vr = zip(*rows, strict=True) if rows else ((),) * 5
    gs = np.array(gs_kt, dtype=np.float64) * KT_MPS
    trk = np.array(trk_deg, dtype=np.float64)
    return Velocities.build(
        n,
        time_s=np.array(t, dtype=np.float64),
        sensor_id=np.full(n, sensor_id, dtype=SENSOR_ID_DTYPE),
        mode_s=np.array(addr, dtype=np.int32),
        groundspeed_mps=gs,
        track_deg=trk,
        v_east_mps=gs * np.sin(np.radians(trk)),
        v_north_mps=gs * np.cos(np.radians(trk)),
        vertical_rate_mps=np.array(vr, dtype=np.float64) * FPM_MPS,
    )


def _replies(rows: list[tuple[float, int, float, int]], sensor_id: str) -> Replies:
    n = len(rows)
    t, addr, alt, sq = zip(*rows, strict=True) if rows else ((),) * 4
    return Replies.build(
        n,
        time_s=np.array(t, dtype=np.float64),
        sensor_id=np.full(n, sensor_id, dtype=SENSOR_ID_DTYPE),
        mode_s=np.array(addr, dtype=np.int32),
        df=np.full(n, -1, dtype=np.int8),
        altitude_m=np.array(alt, dtype=np.float64) * FT_M,
        squawk=np.array(sq, dtype=np.int16),
    )


def _field(value: float, digits: int) -> str:
    """A number with fixed digits, or an empty field for NaN."""
    return f"{value:.{digits}f}" if math.isfinite(value) else ""


def encode_sbs(tracks: Tracks, *, session_id: int = 1) -> str:
    """SBS-1 lines for a picture (see the module docstring), in row order; times to the millisecond."""
    out: list[str] = []
    last_callsign: dict[int, str] = {}
    last_squawk: dict[int, int] = {}
    speed = np.hypot(tracks.v_east_mps, tracks.v_north_mps) / KT_MPS
    track_deg = np.degrees(np.arctan2(tracks.v_east_mps, tracks.v_north_mps)) % 360.0
    vrate = tracks.v_up_mps / FPM_MPS
    alt_ft = tracks.alt_m / FT_M
    for r in range(len(tracks)):
        tid = int(tracks.track_id[r])
        mode_s = int(tracks.mode_s[r])
        ident = f"{mode_s:06X}" if mode_s >= 0 else f"~{tid & 0xFFFFFF:06X}"
        when = dt.datetime.fromtimestamp(round(float(tracks.time_s[r]), 3), tz=dt.UTC)
        stamp = f"{when:%Y/%m/%d},{when:%H:%M:%S}.{when.microsecond // 1000:03d}"
        head = f"{session_id},{tid},{ident},{tid},{stamp},{stamp}"
        callsign = str(tracks.callsign[r]).strip()
        if callsign and last_callsign.get(tid) != callsign:
            last_callsign[tid] = callsign
            out.append(f"MSG,1,{head},{callsign},,,,,,,,,,,0")
        squawk = int(tracks.squawk[r])
        if squawk >= 0 and last_squawk.get(tid) != squawk:
            last_squawk[tid] = squawk
            out.append(f"MSG,6,{head},,,,,,,,{squawk:04d},0,0,0,0")
        lat, lon = float(tracks.lat_deg[r]), float(tracks.lon_deg[r])
        if math.isfinite(lat) and math.isfinite(lon) and tracks.on_ground[r] == 1:
            out.append(f"MSG,2,{head},,,,,{lat:.6f},{lon:.6f},,,,,,-1")
        elif math.isfinite(lat) and math.isfinite(lon):
            out.append(f"MSG,3,{head},,{_field(alt_ft[r], 0)},,,{lat:.6f},{lon:.6f},,,0,0,0,0")
        if math.isfinite(speed[r]):
            out.append(f"MSG,4,{head},,,{_field(speed[r], 1)},{_field(track_deg[r], 1)},,,{_field(vrate[r], 0)},,,,,0")
    return "".join(line + "\r\n" for line in out)
