"""Marine radar tracked targets: NMEA 0183 `$--TTM` / `$--TLL` sentences to columnar `RadarTargets`, and on to
`TrackReports`, so that a node fuses a radar's own tracker output as it fuses a partner's tracks.

A radar's target tracker (ARPA, "TT") publishes each target as `TTM` (number, range and bearing from
the radar, speed, course, CPA, TCPA, units, name, status, reference flag, UTC time, acquisition type)
and/or `TLL` (number, latitude, longitude, name, UTC time, status, reference flag).

Sentences are split and checksum-checked by pynmea2 (MIT), which also names the fields; the values are
converted and range-checked here, because pynmea2 hands back a field it cannot convert as raw text
(and an empty latitude as 0). Rules:

- A TTM is placed from the radar's position: the configured one (a shore radar's surveyed site), else
  the latest valid `RMC`/`GGA`/`GLL` fix of the same stream, at most `OWN_DATA_MAX_AGE_S` old. The range
  is a distance along the WGS-84 ellipsoid from there (Vincenty's direct problem; the antenna height
  changes it by centimetres at radar ranges). A relative bearing (R) is made true with the latest `HDT`
  heading. A relative course (R) leaves speed and course unknown (NaN): the sentence does not say
  whether it is relative motion or an angle from the bow.
- Units K / N / S (km and km/h, nautical miles and knots, statute miles and mph) become m and m/s.
- Times, first found wins: an NMEA 4.10 / IEC 61162-450 tag block's `c:` (UNIX seconds, or ms above
  1e11); the sentence's UTC time of day at the instant nearest the stream clock (the latest valid `RMC`
  or `ZDA`), else nearest the caller's `time_s`; a sentence without a time takes the stream clock,
  else `time_s`. Without either, a time of day has no date and the row's time is NaN.
- Status T (tracking), Q (acquiring), L (lost). A lost target may come without range or bearing: its
  row keeps a NaN position. `to_track_reports` leaves lost targets out (fusion ages them out), and
  reference targets (fixed objects, not vessels).
- Bad input is one `DecodeReport.error` at its 1-based line, then skipped: a line that is not an NMEA
  sentence, a wrong checksum, a sentence type pynmea2 does not know, a malformed or out-of-range field,
  a TTM that cannot be placed (no radar position, a stale fix, a relative bearing without a heading).
  Well-formed sentences of other types (`$GPGSV`, `!AIVDM`, ...) are counted by type in `not_decoded`.
  IEC 61162-450 datagrams (`UdPbC\\0` header and tag block) are read like plain lines.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Self

import numpy as np
import pynmea2
from numpy.typing import NDArray

from commonsky.core.arrays import F64
from commonsky.core.batches import (
    OWNER_DTYPE,
    SENSOR_ID_DTYPE,
    SENSOR_SURFACE_RADAR,
    Col,
    Columns,
    Plots,
    TrackReports,
    Tracks,
)
from commonsky.core.geodesy import WGS84_A, WGS84_E2, WGS84_F
from commonsky.core.sensors import DOMAIN_SURFACE
from commonsky.formats.modes import KT_MPS
from commonsky.formats.report import DecodeReport
from commonsky.formats.streams import MAX_IDENTITIES, StreamSource, _LineStream

NM_M: Final = 1852.0
UNITS_M: Final = {"N": NM_M, "K": 1000.0, "S": 1609.344}
"""Metres per distance unit of a TTM (nautical mile, kilometre, statute mile); speeds are the same per hour."""
STATUS: Final = {"T": "tracking", "Q": "acquiring", "L": "lost"}
"""TTM/TLL target status letters and the words `RadarTargets.status` holds."""
LOST: Final = "lost"
OWN_DATA_MAX_AGE_S: Final = 10.0
"""An own position fix or heading older than this (by the stream's times) does not place a TTM."""
PREFER_VELOCITY_S: Final = 5.0
"""`to_track_reports`: a report with a velocity (TTM) beats a newer one without (TLL) unless that is this much newer."""
MAX_PENDING_ROWS: Final = 100_000
"""Rows a stream decoder holds for `take_targets`; past this the oldest batches go and are counted."""
IEC_450_HEADER: Final = "UdPbC\x00"
"""The header of an IEC 61162-450 sentence datagram."""
NAME_DTYPE: Final = "<U20"
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_DAY_S: Final = 86400.0


@dataclass(frozen=True)
class RadarErrorModel:
    """1-sigma errors of a marine radar's tracked targets, for `RadarTargets.to_track_reports`.

    Defaults are half the 95 % limits of IMO MSC.192(79), annex §5.25.4.7.1 (3 min of steady tracking):
    range 50 m or 1 % of the range, bearing 2°, true course 5°, true speed 0.5 kn or 1 %. Cross-range and
    cross-course errors are floored at the along errors, so a target at the radar or a stopped vessel
    keeps a proper (positive definite) covariance.
    """

    range_sigma_m: float = 25.0
    range_sigma_fraction: float = 0.005
    bearing_sigma_deg: float = 1.0
    speed_sigma_mps: float = 0.25 * KT_MPS
    speed_sigma_fraction: float = 0.005
    course_sigma_deg: float = 2.5
    unplaced_sigma_m: float = 100.0
    """A TLL target whose geometry from the radar is unknown: about 1° of bearing at 5 km."""
    unknown_speed_sigma_mps: float = 10.0
    """A target without speed or course (TLL, relative course): about 20 kn, a small fast craft."""


@dataclass(frozen=True, eq=False)
class RadarTargets(Columns):
    """Radar tracked targets, one row per TTM or TLL sentence; SI units, angles in degrees true, NaN / "" when unknown.

    `target` is the radar's target number; `radar_lat_deg`/`radar_lon_deg` the radar position a TTM was
    placed from (a TLL's when known); `range_m`/`bearing_deg` a TTM's measurement (bearing made true);
    `tcpa_s` is negative while the range opens; `acquisition` A (automatic), M (manual), R (reported).
    """

    time_s: Col.F64
    sensor_id: Col.SensorId
    target: Col.I32
    lat_deg: Col.F64
    lon_deg: Col.F64
    speed_mps: Col.F64
    course_deg: Col.F64
    status: Col.Status
    name: Annotated[NDArray[np.str_], NAME_DTYPE]
    radar_lat_deg: Col.F64
    radar_lon_deg: Col.F64
    range_m: Col.F64
    bearing_deg: Col.F64
    cpa_m: Col.F64
    tcpa_s: Col.F64
    reference: Col.Bool
    acquisition: Annotated[NDArray[np.str_], "<U1"]
    sentence: Annotated[NDArray[np.str_], "<U3"]

    def velocity(self) -> tuple[F64, F64]:
        """East and north velocity (m/s) from speed and course (NaN where either is unknown)."""
        course = np.radians(self.course_deg)
        return self.speed_mps * np.sin(course), self.speed_mps * np.cos(course)

    def to_tracks(self) -> Tracks:
        """Every placed row of a target not lost, as `tracks.csv` rows (track id: the target number)."""
        r = self.take((self.status != LOST) & np.isfinite(self.lat_deg) & np.isfinite(self.lon_deg))
        v_east, v_north = r.velocity()
        return Tracks.build(
            len(r),
            time_s=r.time_s,
            track_id=r.target.astype(np.int64),
            lat_deg=r.lat_deg,
            lon_deg=r.lon_deg,
            v_east_mps=v_east,
            v_north_mps=v_north,
            status=_track_status(r.status),
        )

    def to_track_reports(
        self,
        model: RadarErrorModel | None = None,
        owner: str | None = None,
        prefer_velocity_s: float = PREFER_VELOCITY_S,
    ) -> TrackReports:
        """The latest state of each target, as a track source's `TrackReports` (see `RadarErrorModel`).

        Owner: each radar's `sensor_id` (a radar is a source of its own, as a partner is), or `owner`
        for a batch of one radar; track id: the target number. Per target the newest row wins, except
        that a row with a velocity (TTM) wins over one without (TLL) up to `prefer_velocity_s` newer.
        Vessel names stay in `RadarTargets`: an operator's label is not an identity, so `callsign` stays
        empty. A target's unknown velocity is reported as 0 with `unknown_speed_sigma_mps`. Lost targets
        and reference targets (fixed objects the radar steadies its own ship's motion by) are left out.
        """
        model = model if model is not None else RadarErrorModel()
        placed = np.isfinite(self.time_s) & np.isfinite(self.lat_deg) & np.isfinite(self.lon_deg)
        r = self.take(placed & (self.status != LOST) & ~self.reference)
        owners = _owners(r.sensor_id, owner)
        if len(r) == 0:
            return TrackReports.empty()
        has_v = np.isfinite(r.speed_mps) & np.isfinite(r.course_deg)
        order = np.lexsort((r.time_s + prefer_velocity_s * has_v, r.target, owners))
        key_owner, key_target = owners[order], r.target[order]
        last = np.r_[(key_owner[1:] != key_owner[:-1]) | (key_target[1:] != key_target[:-1]), True]
        keep = order[last]
        r, owners, has_v = r.take(keep), owners[keep], has_v[keep]
        rng, brg = _geometry(r)
        sigma_range = np.maximum(model.range_sigma_m, model.range_sigma_fraction * rng)
        sigma_cross = np.maximum(rng * math.radians(model.bearing_sigma_deg), sigma_range)
        unplaced = ~np.isfinite(rng)
        sigma_range[unplaced] = sigma_cross[unplaced] = model.unplaced_sigma_m
        speed = np.where(has_v, r.speed_mps, 0.0)
        sigma_speed = np.maximum(model.speed_sigma_mps, model.speed_sigma_fraction * speed)
        sigma_turn = np.maximum(speed * math.radians(model.course_sigma_deg), sigma_speed)
        sigma_speed[~has_v] = sigma_turn[~has_v] = model.unknown_speed_sigma_mps
        cov = np.zeros((len(r), 4, 4))
        cov[:, :2, :2] = _polar_covariance(np.where(unplaced, 0.0, brg), sigma_range, sigma_cross)
        cov[:, 2:, 2:] = _polar_covariance(np.where(has_v, r.course_deg, 0.0), sigma_speed, sigma_turn)
        v_east, v_north = r.velocity()
        sigma = np.sqrt(0.5 * (cov[:, 0, 0] + cov[:, 1, 1]))
        return TrackReports.build(
            len(r),
            time_s=r.time_s,
            owner=owners,
            track_id=r.target.astype(np.int64),
            lat_deg=r.lat_deg,
            lon_deg=r.lon_deg,
            v_east_mps=np.where(has_v, v_east, 0.0),
            v_north_mps=np.where(has_v, v_north, 0.0),
            **TrackReports.covariance_columns(cov),
            status=_track_status(r.status),
            quality=1.0 / (1.0 + sigma / 250.0),  # as `tracking.report` rates its own tracks
            sensor_kinds=np.full(len(r), SENSOR_SURFACE_RADAR, dtype=np.int8),
            domain=np.full(len(r), DOMAIN_SURFACE),
        )


def _track_status(status: NDArray[np.str_]) -> NDArray[np.str_]:
    """A radar target's status as a track's: tracking is confirmed, acquiring tentative."""
    return np.where(status == "tracking", "confirmed", "tentative")


def _owners(sensor_id: NDArray[np.str_], owner: str | None) -> NDArray[np.str_]:
    """The owner of each row: its sensor id, or `owner` for a batch of one radar; never silently truncated."""
    limit = np.dtype(OWNER_DTYPE).itemsize // 4
    if owner is None:
        too_long = sorted({s for s in sensor_id.tolist() if len(s) > limit})
        if too_long:
            raise ValueError(f"sensor ids {too_long} are longer than an owner's {limit} characters: give owner=")
        return sensor_id.astype(OWNER_DTYPE)
    if len(owner) > limit:
        raise ValueError(f"owner {owner!r} is longer than {limit} characters")
    if len(np.unique(sensor_id)) > 1:
        raise ValueError("one owner for several radars would mix their target numbers")
    return np.full(len(sensor_id), owner, dtype=OWNER_DTYPE)


def _geometry(r: RadarTargets) -> tuple[F64, F64]:
    """Range (m) and bearing (deg) of each target from its radar: a TTM's own, a TLL's from the radar position.

    A TLL's comes from a local tangent plane at the radar (metres off at tens of km), enough for a covariance.
    """
    rng, brg = r.range_m.copy(), r.bearing_deg.copy()
    todo = ~np.isfinite(rng) & np.isfinite(r.radar_lat_deg) & np.isfinite(r.radar_lon_deg)
    lat0 = np.radians(r.radar_lat_deg[todo])
    w = 1.0 - WGS84_E2 * np.sin(lat0) ** 2
    north = np.radians(r.lat_deg[todo] - r.radar_lat_deg[todo]) * WGS84_A * (1.0 - WGS84_E2) / w**1.5
    dlon = np.mod(r.lon_deg[todo] - r.radar_lon_deg[todo] + 180.0, 360.0) - 180.0
    east = np.radians(dlon) * WGS84_A / np.sqrt(w) * np.cos(lat0)
    rng[todo] = np.hypot(east, north)
    brg[todo] = np.degrees(np.arctan2(east, north))
    return rng, brg


def _polar_covariance(angle_deg: F64, sigma_along: F64, sigma_across: F64) -> F64:
    """(K,2,2) east/north covariance of errors `sigma_along` the direction `angle_deg` (from north) and across it."""
    a = np.radians(angle_deg)
    u = np.stack([np.sin(a), np.cos(a)], axis=-1)
    w = np.stack([np.cos(a), -np.sin(a)], axis=-1)
    return (sigma_along**2)[:, None, None] * u[:, :, None] * u[:, None, :] + (sigma_across**2)[:, None, None] * w[
        :, :, None
    ] * w[:, None, :]


def direct_geodesic(lat_deg: F64, lon_deg: F64, azimuth_deg: F64, distance_m: F64) -> tuple[F64, F64]:
    """The point `distance_m` along the WGS-84 geodesic leaving (lat, lon) at `azimuth_deg`: Vincenty's direct
    problem, vectorised (sub-millimetre at radar ranges; not for near-antipodal distances)."""
    f, b = WGS84_F, WGS84_A * (1.0 - WGS84_F)
    alpha1 = np.radians(azimuth_deg)
    sin_a1, cos_a1 = np.sin(alpha1), np.cos(alpha1)
    tan_u1 = (1.0 - f) * np.tan(np.radians(lat_deg))
    cos_u1 = 1.0 / np.sqrt(1.0 + tan_u1**2)
    sin_u1 = tan_u1 * cos_u1
    sigma1 = np.arctan2(tan_u1, cos_a1)
    sin_alpha = cos_u1 * sin_a1
    cos2_alpha = 1.0 - sin_alpha**2
    u2 = cos2_alpha * (WGS84_A**2 - b**2) / b**2
    big_a = 1.0 + u2 / 16384.0 * (4096.0 + u2 * (-768.0 + u2 * (320.0 - 175.0 * u2)))
    big_b = u2 / 1024.0 * (256.0 + u2 * (-128.0 + u2 * (74.0 - 47.0 * u2)))
    sigma = distance_m / (b * big_a)
    for _ in range(20):  # converges to 1e-12 rad in three or four rounds at radar ranges
        cos_2sm = np.cos(2.0 * sigma1 + sigma)
        sin_s, cos_s = np.sin(sigma), np.cos(sigma)
        d_sigma = (
            big_b
            * sin_s
            * (
                cos_2sm
                + big_b
                / 4.0
                * (
                    cos_s * (2.0 * cos_2sm**2 - 1.0)
                    - big_b / 6.0 * cos_2sm * (4.0 * sin_s**2 - 3.0) * (4.0 * cos_2sm**2 - 3.0)
                )
            )
        )
        previous, sigma = sigma, distance_m / (b * big_a) + d_sigma
        if np.all(np.abs(sigma - previous) < 1e-12):
            break
    cos_2sm = np.cos(2.0 * sigma1 + sigma)
    sin_s, cos_s = np.sin(sigma), np.cos(sigma)
    x = sin_u1 * sin_s - cos_u1 * cos_s * cos_a1
    lat2 = np.arctan2(sin_u1 * cos_s + cos_u1 * sin_s * cos_a1, (1.0 - f) * np.sqrt(sin_alpha**2 + x**2))
    lam = np.arctan2(sin_s * sin_a1, cos_u1 * cos_s - sin_u1 * sin_s * cos_a1)
    c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
    big_l = lam - (1.0 - c) * f * sin_alpha * (sigma + c * sin_s * (cos_2sm + c * cos_s * (2.0 * cos_2sm**2 - 1.0)))
    lon2 = np.mod(lon_deg + np.degrees(big_l) + 180.0, 360.0) - 180.0
    return np.degrees(lat2), lon2


# --- decoding ----------------------------------------------------------------------------------------

_Row = tuple[float, int, float, float, float, float, str, str, float, float, float, float, float, float, bool, str, str]
"""time, target, lat, lon, speed, course, status, name, radar lat, lon, range, bearing, cpa, tcpa, reference,
acquisition, sentence: one `RadarTargets` row before its columns are built."""


_Fields = dict[str, str]
"""A parsed sentence's fields by their pynmea2 names, stripped; a field the sentence lacks is absent (read as "")."""


def _fields(msg: pynmea2.NMEASentence) -> _Fields:
    return dict(zip(msg.name_to_idx, map(str.strip, msg.data), strict=False))


def _number(text: str, what: str, low: float, high: float) -> float:
    """A decimal field within [low, high]; NaN when empty."""
    if not text:
        return math.nan
    value = float(text)
    if not low <= value <= high:
        raise ValueError(f"{what} {text!r} out of range")
    return value


def _choice(text: str, what: str, allowed: str) -> str:
    """A one-letter field that must be one of `allowed` (or empty)."""
    if text and (len(text) != 1 or text not in allowed):
        raise ValueError(f"{what} {text!r} is not one of {', '.join(allowed)}")
    return text


def _target_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 999:
        raise ValueError(f"target number {text!r} is not 0-999")
    return int(text)


def _angle(text: str, hemisphere: str, what: str, positive: str, negative: str) -> float:
    """`ddmm.mmm` / `dddmm.mmm` with its hemisphere letter to signed degrees; NaN when empty."""
    if not text and not hemisphere:
        return math.nan
    value = _number(text, what, 0.0, 18000.0)
    degrees, minutes = divmod(value, 100.0)
    limit = 90.0 if positive == "N" else 180.0
    if (
        math.isnan(value)
        or minutes >= 60.0
        or degrees + minutes / 60.0 > limit
        or hemisphere not in (positive, negative)
    ):
        raise ValueError(f"{what} {text!r},{hemisphere!r}")
    return (degrees + minutes / 60.0) * (1.0 if hemisphere == positive else -1.0)


def _time_of_day(text: str) -> float:
    """`hhmmss[.ss]` to seconds after midnight; NaN when empty."""
    if not text:
        return math.nan
    if len(text) < 6 or not (text[:6].isascii() and text[:6].isdigit()):
        raise ValueError(f"UTC time {text!r}")
    hours, minutes, seconds = int(text[0:2]), int(text[2:4]), float(text[4:])
    if hours > 23 or minutes > 59 or not 0.0 <= seconds < 61.0:
        raise ValueError(f"UTC time {text!r} out of range")
    return hours * 3600.0 + minutes * 60.0 + seconds


def _day_s(year: int, month: int, day: int) -> float:
    return (dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * _DAY_S


def _nearest_instant(tod: float, reference_s: float) -> float:
    """The UTC instant nearest `reference_s` whose time of day is `tod`."""
    return reference_s + ((tod - reference_s % _DAY_S + _DAY_S / 2) % _DAY_S) - _DAY_S / 2


def _checksum_ok(body: str, given: str) -> bool:
    """NMEA checksum: the XOR of `body`'s characters as the two hex digits `given` starts with."""
    return f"{pynmea2.NMEASentence.checksum(body):02X}" == given[:2].upper()


def _tag_time(tag: str) -> float:
    """The `c:` time of a tag block `key:value,...*hh` (NaN if it has none); checks the tag's checksum."""
    body, star, given = tag.rpartition("*")
    if not star or not _checksum_ok(body, given):
        raise ValueError("tag block checksum mismatch")
    for item in body.split(","):
        key, _, value = item.partition(":")
        if key == "c":
            t = _number(value, "tag block time", 0.0, 1e14)
            return t / 1000.0 if t > 1e11 else t
    return math.nan


class NmeaTargetDecoder:
    """What one NMEA stream carries from line to line: the clock, the latest own fix and heading; lines to rows.

    `radar_position` (lat, lon), when given, places every TTM (a shore radar's surveyed site) and the
    stream's fixes are not used for it.
    """

    def __init__(self, sensor_id: str, report: DecodeReport, radar_position: tuple[float, float] | None = None) -> None:
        self.sensor_id = sensor_id
        self.report = report
        self.radar_position = radar_position
        self.clock = math.nan
        """UTC seconds of the latest valid RMC or ZDA."""
        self.fix: tuple[float, float, float] | None = None
        """(lat, lon, time) of the latest valid own position."""
        self.heading: tuple[float, float] | None = None
        """(degrees true, time) of the latest HDT."""

    def decode(self, lines: Iterable[str], time_s: float = math.nan) -> RadarTargets:
        """The targets of `lines`, numbered from 1 in the report; `time_s` is the caller's time (see the module)."""
        rows: list[_Row] = []
        for lineno, raw in enumerate(lines, start=1):
            line = raw.strip().removeprefix(IEC_450_HEADER).strip()
            if not line or line.startswith("#"):
                continue
            try:
                row = self._line(line, time_s)
            except pynmea2.ChecksumError:
                self.report.error(lineno, "NMEA checksum mismatch")
                continue
            except pynmea2.SentenceTypeError:
                self.report.error(lineno, f"unknown NMEA sentence: {line[:20]!r}")
                continue
            except pynmea2.ParseError:
                self.report.error(lineno, f"not an NMEA sentence: {line[:20]!r}")
                continue
            except (ValueError, ArithmeticError) as exc:  # a field out of range, or a target that cannot be placed
                self.report.error(lineno, str(exc)[:200])
                continue
            if row is not None:
                rows.append(row)
        targets = self._columns(rows)
        self.report.saw_times(targets.time_s)
        return targets

    def _line(self, line: str, time_s: float) -> _Row | None:
        """One line: updates the stream state; a row for a TTM or TLL."""
        tag_time = math.nan
        if line.startswith("\\"):
            tag, closed, line = line[1:].partition("\\")
            if not closed:
                raise ValueError("tag block without its closing backslash")
            tag_time = _tag_time(tag)
        if line.startswith("!"):  # encapsulated (AIS) sentences are not ours: checked, then counted by type
            body, star, given = line[1:].partition("*")
            if not (star and _checksum_ok(body, given)):
                raise pynmea2.ChecksumError("encapsulated sentence", line)
            if not body[2:5].isalpha():
                raise ValueError(f"not an NMEA sentence: {line[:20]!r}")
            self.report.not_decoded[body[2:5].upper()] += 1
            return None
        if not line.startswith("$"):
            raise ValueError(f"not an NMEA sentence: {line[:20]!r}")
        msg = pynmea2.parse(line, check=True)
        kind = str(getattr(msg, "sentence_type", "")) if isinstance(msg, pynmea2.TalkerSentence) else ""
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.report.not_decoded[kind or type(msg).__name__] += 1
            return None
        row = handler(self, _fields(msg), tag_time, time_s)
        self.report.messages += 1
        self.report.by_category[kind] += 1
        return row

    def _time(self, tag_time: float, tod: float, time_s: float) -> float:
        """A sentence's time: its tag block's, else its time of day near the clock or `time_s` (see the module)."""
        if math.isfinite(tag_time):
            return tag_time
        reference = self.clock if math.isfinite(self.clock) else time_s
        if math.isnan(tod):
            return reference
        return _nearest_instant(tod, reference) if math.isfinite(reference) else math.nan

    def _radar(self, t: float) -> tuple[float, float] | None:
        """The radar position at time `t`: the configured one, or the latest fix unless it is stale."""
        if self.radar_position is not None:
            return self.radar_position
        if self.fix is None or abs(t - self.fix[2]) > OWN_DATA_MAX_AGE_S:  # NaN times compare False: fix kept
            return None
        return self.fix[0], self.fix[1]

    def _ttm(self, f: _Fields, tag_time: float, time_s: float) -> _Row:
        number = _target_number(f.get("target_number", ""))
        status = STATUS.get(f.get("status", ""))
        if status is None:
            raise ValueError(f"TTM target status {f.get('status', '')!r} is not L, Q or T")
        unit_text = _choice(f.get("dist_unit", ""), "TTM units", "KNS")
        distance = _number(f.get("distance", ""), "TTM distance", 0.0, 1000.0)
        bearing = _number(f.get("bearing", ""), "TTM bearing", 0.0, 360.0)
        bearing_ref = _choice(f.get("brg_ref", ""), "TTM bearing reference", "TR")
        speed = _number(f.get("speed", ""), "TTM speed", 0.0, 1000.0)
        course = _number(f.get("cog", ""), "TTM course", 0.0, 360.0)
        course_ref = _choice(f.get("cog_unit", ""), "TTM course reference", "TR")
        cpa = _number(f.get("dist_cpa", ""), "TTM CPA", 0.0, 1000.0)
        tcpa = _number(f.get("time_cpa", ""), "TTM TCPA", -1e4, 1e4)
        reference = _choice(f.get("reference", ""), "TTM reference target", "R") == "R"
        acquisition = _choice(f.get("acquisition", ""), "TTM acquisition type", "AMR")
        t = self._time(tag_time, _time_of_day(f.get("timestamp", "")), time_s)
        measured = not (math.isnan(distance) or math.isnan(bearing))
        if not unit_text and not (math.isnan(distance) and math.isnan(speed) and math.isnan(cpa)):
            raise ValueError("TTM values without their units")
        unit = UNITS_M.get(unit_text, NM_M)
        if measured and bearing_ref != "T":
            if self.heading is None or abs(t - self.heading[1]) > OWN_DATA_MAX_AGE_S:
                raise ValueError("TTM relative bearing without a recent HDT heading")
            bearing = (bearing + self.heading[0]) % 360.0
        radar = self._radar(t)
        if status != LOST:
            if not measured:
                raise ValueError("TTM of a tracked target without distance or bearing")
            if radar is None:
                raise ValueError("TTM without a recent radar position (configure it, or send RMC, GGA or GLL)")
        if course_ref != "T":
            speed = course = math.nan
        radar_lat, radar_lon = radar if radar is not None and measured else (math.nan, math.nan)
        return (
            t,
            number,
            math.nan,
            math.nan,
            speed * unit / 3600.0,
            course % 360.0,
            status,
            f.get("name", ""),
            radar_lat,
            radar_lon,
            distance * unit,
            bearing,
            cpa * unit,
            tcpa * 60.0,
            reference,
            acquisition,
            "TTM",
        )

    def _tll(self, f: _Fields, tag_time: float, time_s: float) -> _Row:
        number = _target_number(f.get("target_number", ""))
        status = STATUS.get(f.get("target_status", ""))
        if status is None:
            raise ValueError(f"TLL target status {f.get('target_status', '')!r} is not L, Q or T")
        lat = _angle(f.get("lat", ""), f.get("lat_dir", ""), "TLL latitude", "N", "S")
        lon = _angle(f.get("lon", ""), f.get("lon_dir", ""), "TLL longitude", "E", "W")
        if status != LOST and (math.isnan(lat) or math.isnan(lon)):
            raise ValueError("TLL of a tracked target without a position")
        reference = _choice(f.get("reference", ""), "TLL reference target", "R") == "R"
        t = self._time(tag_time, _time_of_day(f.get("timestamp", "")), time_s)
        radar = self._radar(t) or (math.nan, math.nan)
        nan = math.nan
        name = f.get("target_name", "")
        return (t, number, lat, lon, nan, nan, status, name, *radar, nan, nan, nan, nan, reference, "", "TLL")

    def _rmc(self, f: _Fields, tag_time: float, time_s: float) -> None:
        tod = _time_of_day(f.get("timestamp", ""))
        date = f.get("datestamp", "")
        lat = _angle(f.get("lat", ""), f.get("lat_dir", ""), "RMC latitude", "N", "S")
        lon = _angle(f.get("lon", ""), f.get("lon_dir", ""), "RMC longitude", "E", "W")
        if _choice(f.get("status", ""), "RMC status", "AV") != "A":
            return
        if len(date) != 6 or not (date.isascii() and date.isdigit()):
            raise ValueError(f"RMC date {date!r}")
        if math.isfinite(tod):
            year = int(date[4:6])
            self.clock = _day_s(year + (1900 if year >= 80 else 2000), int(date[2:4]), int(date[0:2])) + tod
        self._own_fix(lat, lon, self._time(tag_time, tod, time_s))

    def _zda(self, f: _Fields, tag_time: float, time_s: float) -> None:
        tod = _time_of_day(f.get("timestamp", ""))
        day, month, year = (f.get(name, "") for name in ("day", "month", "year"))
        if math.isnan(tod) or not all(p.isascii() and p.isdigit() for p in (day, month, year)):
            raise ValueError(f"ZDA time {f.get('timestamp', '')!r} {day!r} {month!r} {year!r}")
        self.clock = _day_s(int(year), int(month), int(day)) + tod

    def _gga(self, f: _Fields, tag_time: float, time_s: float) -> None:
        quality = _number(f.get("gps_qual", ""), "GGA quality", 0.0, 9.0)
        lat = _angle(f.get("lat", ""), f.get("lat_dir", ""), "GGA latitude", "N", "S")
        lon = _angle(f.get("lon", ""), f.get("lon_dir", ""), "GGA longitude", "E", "W")
        if quality >= 1.0:
            self._own_fix(lat, lon, self._time(tag_time, _time_of_day(f.get("timestamp", "")), time_s))

    def _gll(self, f: _Fields, tag_time: float, time_s: float) -> None:
        lat = _angle(f.get("lat", ""), f.get("lat_dir", ""), "GLL latitude", "N", "S")
        lon = _angle(f.get("lon", ""), f.get("lon_dir", ""), "GLL longitude", "E", "W")
        if _choice(f.get("status", ""), "GLL status", "AV") == "A":
            self._own_fix(lat, lon, self._time(tag_time, _time_of_day(f.get("timestamp", "")), time_s))

    def _hdt(self, f: _Fields, tag_time: float, time_s: float) -> None:
        heading = _number(f.get("heading", ""), "HDT heading", 0.0, 360.0)
        if math.isfinite(heading):
            self.heading = (heading % 360.0, self._time(tag_time, math.nan, time_s))

    def _own_fix(self, lat: float, lon: float, t: float) -> None:
        if math.isnan(lat) or math.isnan(lon):
            raise ValueError("a valid own-position fix without its position")
        self.fix = (lat, lon, t)

    def _columns(self, rows: list[_Row]) -> RadarTargets:
        """Rows to columns; TTM targets placed from their radar in one vectorised step."""
        n = len(rows)
        cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 17
        f64 = [np.array(cols[i], dtype=np.float64) for i in (0, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)]
        t, lat, lon, speed, course, radar_lat, radar_lon, rng, brg, cpa, tcpa = f64
        placed = np.isfinite(rng) & np.isfinite(brg) & np.isfinite(radar_lat)
        lat[placed], lon[placed] = direct_geodesic(radar_lat[placed], radar_lon[placed], brg[placed], rng[placed])
        return RadarTargets(
            time_s=t,
            sensor_id=np.full(n, self.sensor_id, dtype=SENSOR_ID_DTYPE),
            target=np.array(cols[1], dtype=np.int32),
            lat_deg=lat,
            lon_deg=lon,
            speed_mps=speed,
            course_deg=course,
            status=np.array(cols[6], dtype=RadarTargets.DTYPES["status"]),
            name=np.array(cols[7], dtype=NAME_DTYPE),
            radar_lat_deg=radar_lat,
            radar_lon_deg=radar_lon,
            range_m=rng,
            bearing_deg=brg,
            cpa_m=cpa,
            tcpa_s=tcpa,
            reference=np.array(cols[14], dtype=bool),
            acquisition=np.array(cols[15], dtype="<U1"),
            sentence=np.array(cols[16], dtype="<U3"),
        )


_Handler = Callable[[NmeaTargetDecoder, _Fields, float, float], "_Row | None"]
_HANDLERS: Final[dict[str, _Handler]] = {
    "TTM": NmeaTargetDecoder._ttm,
    "TLL": NmeaTargetDecoder._tll,
    "RMC": NmeaTargetDecoder._rmc,
    "ZDA": NmeaTargetDecoder._zda,
    "GGA": NmeaTargetDecoder._gga,
    "GLL": NmeaTargetDecoder._gll,
    "HDT": NmeaTargetDecoder._hdt,
}
"""The sentence types read, by type; TTM and TLL give rows, the others the stream's clock, fix and heading."""


def decode_nmea_targets(
    lines: str | Iterable[str],
    sensor_id: str,
    *,
    radar_position: tuple[float, float] | None = None,
    time_s: float = math.nan,
    report: DecodeReport | None = None,
) -> RadarTargets:
    """Radar targets from NMEA lines (see the module docstring); bad lines are counted in `report`."""
    report = report if report is not None else DecodeReport(source=sensor_id)
    it = lines.splitlines() if isinstance(lines, str) else lines
    return NmeaTargetDecoder(sensor_id, report, radar_position).decode(it, time_s)


# --- live ------------------------------------------------------------------------------------------


class NmeaTargetStream(_LineStream):
    """TTM/TLL as they arrive over TCP (lines) or UDP (datagrams of whole sentences, IEC 61162-450 or plain).

    Its output is tracks, not plots: `feed` returns no plots, and `take_targets()` hands over the
    targets decoded since its last call (at most `MAX_PENDING_ROWS` are held; older batches are
    dropped and counted in `rows_dropped`). The clock, fix and heading carry over from call to call.
    """

    def __init__(
        self,
        sensor_id: str,
        radar_position: tuple[float, float] | None = None,
        *,
        datagrams: bool = False,
        max_identities: int = MAX_IDENTITIES,
    ) -> None:
        super().__init__(sensor_id, max_identities)
        self.decoder = NmeaTargetDecoder(sensor_id, self.report, radar_position)
        self.datagrams = datagrams
        """Each chunk is a datagram of whole sentences: its last line needs no newline."""
        self.pending: deque[RadarTargets] = deque()
        self.pending_rows = 0
        self.rows_dropped = 0

    @classmethod
    def from_source(cls, source: StreamSource) -> Self:
        """The decoder of a UDP or TCP feed or a file of TTM/TLL lines (`reference`: the radar's position)."""
        datagrams = source.url.startswith("udp://")
        return cls(source.sensor_id, source.reference, datagrams=datagrams, max_identities=source.max_identities)

    def feed(self, data: bytes, arrival_s: float) -> Plots:
        """Decode the sentences completed by `data` (a datagram is complete); no plots (see `take_targets`)."""
        if self.datagrams and not data.endswith(b"\n"):
            data += b"\n"
        return super().feed(data, arrival_s)

    def take_targets(self) -> RadarTargets:
        """The targets decoded since the last call, in arrival order."""
        batches, self.pending, self.pending_rows = list(self.pending), deque(), 0
        return RadarTargets.concat(batches)

    def _decode(self, lines: list[str], arrival_s: float) -> Plots:
        self.report.begin(self.lines_done)
        self.lines_done += len(lines)
        targets = self.decoder.decode(lines, arrival_s)
        if len(targets):
            self.pending.append(targets)
            self.pending_rows += len(targets)
        while self.pending_rows > MAX_PENDING_ROWS:
            dropped = self.pending.popleft()
            self.pending_rows -= len(dropped)
            self.rows_dropped += len(dropped)
        return Plots.empty()


# --- out ------------------------------------------------------------------------------------------


def _checksummed(body: str) -> str:
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}\r\n"


def _tod_text(t: float) -> str:
    if not math.isfinite(t):
        return ""
    seconds = round(t % _DAY_S, 2)
    return f"{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:05.2f}"


def _latlon_text(value: float, width: int, positive: str, negative: str) -> str:
    degrees, minutes = divmod(abs(value) * 60.0, 60.0)
    return f"{int(degrees):0{width}d}{minutes:09.6f},{positive if value >= 0 else negative}"


def _value_text(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else ""


def encode_nmea_targets(targets: RadarTargets, talker: str = "RA") -> str:
    """Targets as NMEA: a TTM for a row with range and bearing, else a TLL; nautical units, true angles.

    Before the rows of each new time a `$GPZDA` gives the date, and before a TTM whose radar position
    changed a `$GPGLL` fix gives it, so that `decode_nmea_targets` reads the same rows back (to the
    precision of the text: 1 cm, 0.001°, 0.01 s). Lines end in CRLF.
    """
    out: list[str] = []
    last_time, last_radar = math.nan, (math.nan, math.nan)
    status_letter = {word: letter for letter, word in STATUS.items()}
    for i in range(len(targets)):
        r = {name: column[i].item() for name, column in targets.as_dict().items()}
        t = r["time_s"]
        if math.isfinite(t) and t != last_time:
            day = dt.date.fromordinal(_EPOCH_ORDINAL + int(t // _DAY_S))
            out.append(_checksummed(f"GPZDA,{_tod_text(t)},{day.day:02d},{day.month:02d},{day.year:04d},00,00"))
            last_time = t
        measured = math.isfinite(r["range_m"]) and math.isfinite(r["bearing_deg"])
        radar = (r["radar_lat_deg"], r["radar_lon_deg"])
        if measured and math.isfinite(radar[0]) and radar != last_radar:
            lat, lon = _latlon_text(radar[0], 2, "N", "S"), _latlon_text(radar[1], 3, "E", "W")
            out.append(_checksummed(f"GPGLL,{lat},{lon},{_tod_text(t)},A,A"))
            last_radar = radar
        status = status_letter[r["status"]]
        reference = "R" if r["reference"] else ""
        if measured:
            fields = [
                f"{r['target']:02d}",
                _value_text(r["range_m"] / NM_M, 6),
                _value_text(r["bearing_deg"], 3),
                "T",
                _value_text(r["speed_mps"] * 3600.0 / NM_M, 3),
                _value_text(r["course_deg"], 3),
                "T",
                _value_text(r["cpa_m"] / NM_M, 4),
                _value_text(r["tcpa_s"] / 60.0, 3),
                "N",
                r["name"],
                status,
                reference,
                _tod_text(t),
                r["acquisition"],
            ]
            out.append(_checksummed(f"{talker}TTM," + ",".join(fields)))
        else:
            has_position = math.isfinite(r["lat_deg"]) and math.isfinite(r["lon_deg"])
            lat = _latlon_text(r["lat_deg"], 2, "N", "S") if has_position else ","
            lon = _latlon_text(r["lon_deg"], 3, "E", "W") if has_position else ","
            out.append(
                _checksummed(
                    f"{talker}TLL,{r['target']:02d},{lat},{lon},{r['name']},{_tod_text(t)},{status},{reference}"
                )
            )
    return "".join(out)
