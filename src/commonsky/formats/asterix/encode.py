"""Encode columnar batches to ASTERIX data blocks with libasterix: CAT048, CAT021, CAT062, CAT034, CAT063, CAT065.

Records are built by libasterix from the generated specification (scale factors and layouts are
never written here); this module maps columns to items, checks that every value fits its item
(libasterix would silently wrap it), and packs records into blocks of at most `max_block_bytes`.
The time of day is `time_s` modulo one day (UTC). A missing value leaves its item out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from asterix import base
from numpy.typing import NDArray

from commonsky.core.batches import Plots, Tracks
from commonsky.core.errors import SchemaError
from commonsky.formats.asterix.decode import DAY_S, FPM_MPS, FT_M, NM_M, ServiceMessages, parse_sensor_id
from commonsky.formats.asterix.specs import Field, resolve, spec_for

MAX_BLOCK_BYTES: Final = 1400
"""Default data block size limit: one block fits an unfragmented UDP datagram on Ethernet."""
_ICAO_CHARSET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")


def _raw_in_range(spec: Any, path: tuple[str, ...], values: NDArray[np.float64], column: str) -> None:
    """Raise `SchemaError` when a present value does not fit its item (bit size and sign from the spec)."""
    leaf = resolve(spec, Field(column, path))
    if leaf is None:
        raise SchemaError(f"CAT{spec.cv_category:03d} edition has no item {'/'.join(path)}")
    raw = np.round(values[np.isfinite(values)] / leaf.lsb)
    low, high = (
        (-(2 ** (leaf.bit_size - 1)), 2 ** (leaf.bit_size - 1) - 1) if leaf.signed else (0, 2**leaf.bit_size - 1)
    )
    bad = (raw < low) | (raw > high)
    if bad.any():
        value = values[np.isfinite(values)][bad][0]
        raise SchemaError(f"{column}: {value!r} does not fit I{spec.cv_category:03d}/{'/'.join(path)}")


def _check_codes(squawk: NDArray[np.int16], mode_s: NDArray[np.int32], callsign: NDArray[np.str_]) -> None:
    """Squawks of 4 octal digits, 24-bit addresses, ICAO-charset callsigns."""
    sq = squawk[squawk >= 0].astype(np.int64)
    digits = np.stack([(sq // 10**k) % 10 for k in range(4)]) if len(sq) else np.zeros((4, 0), np.int64)
    if (sq > 7777).any() or (digits > 7).any():
        raise SchemaError(f"squawk: {sq[(sq > 7777) | (digits > 7).any(axis=0)][0]} is not 4 octal digits")
    if (mode_s > 0xFFFFFF).any():
        raise SchemaError("mode_s: address over 24 bits")
    for text in np.unique(callsign).tolist():
        if not set(text) <= _ICAO_CHARSET:
            raise SchemaError(f"callsign: {text!r} has characters outside A-Z, 0-9 and space")


def _time_of_day(time_s: NDArray[np.float64]) -> NDArray[np.float64]:
    if not np.isfinite(time_s).all():
        raise SchemaError("time_s: every record needs a finite time")
    tod = np.mod(time_s, DAY_S)
    return np.where(np.round(tod * 128.0) >= DAY_S * 128.0, 0.0, tod)


def _group(spec: Any, item: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """Argument for a group item: the named values, zero for every other subitem and spare."""
    variation = spec.cv_record.spec(item).cv_rule.cv_variation
    return tuple(
        (it.cv_non_spare.cv_name, values.get(it.cv_non_spare.cv_name, 0)) if issubclass(it, base.Item) else 0
        for it, _size in variation.cv_items_list
    )


def _extended(spec: Any, item: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """Argument for an extended item: groups up to the last one holding a named value, zeros elsewhere."""
    groups = spec.cv_record.spec(item).cv_rule.cv_variation.cv_items_list

    def names(group: list[Any]) -> set[str]:
        return {e[0].cv_non_spare.cv_name for e in group if e is not None and issubclass(e[0], base.Item)}

    last = max([i for i, g in enumerate(groups) if names(g) & set(values)], default=0)
    return tuple(
        tuple(
            None
            if e is None
            else (e[0].cv_non_spare.cv_name, values.get(e[0].cv_non_spare.cv_name, 0))
            if issubclass(e[0], base.Item)
            else 0
            for e in group
        )
        for group in groups[: last + 1]
    )


def _pack(spec: Any, records: list[Any], max_block_bytes: int) -> bytes:
    """Records into data blocks of at most `max_block_bytes` (a record too big for one goes alone)."""
    if not 4 <= max_block_bytes <= 0xFFFF:
        raise ValueError(f"max_block_bytes must be in 4..65535, got {max_block_bytes}")
    blocks: list[bytes] = []
    current: list[Any] = []
    size = 3
    for rec in records:
        n = len(rec.unparse()) // 8
        if current and size + n > max_block_bytes:
            blocks.append(spec.create(current).unparse().to_bytes())
            current, size = [], 3
        current.append(rec)
        size += n
    if current:
        blocks.append(spec.create(current).unparse().to_bytes())
    return b"".join(blocks)


def _present(codes: NDArray[np.integer]) -> NDArray[np.float64]:
    """Integer codes with their missing value (-1) as NaN, for `_raw_in_range`."""
    return np.where(codes >= 0, codes, np.nan)


@dataclass(frozen=True)
class _Records:
    """What every record of an encoding call holds: the data source (I010) and the time of day (in `time_item`),
    checked once with the edition's spec; `pack` adds them to each row's own items."""

    spec: Any
    sac: int
    sic: int
    time_item: str
    tod: NDArray[np.float64]

    @classmethod
    def start(
        cls, category: int, time_item: str, edition: str | None, sac: int, sic: int, time_s: NDArray[np.float64]
    ) -> _Records:
        """The edition's spec (default: `DEFAULT_EDITIONS`) and each row's time of day, SAC and SIC checked."""
        spec = spec_for(category, edition)
        if not (0 <= sac <= 255 and 0 <= sic <= 255):
            raise ValueError(f"SAC and SIC must be in 0..255, got {sac}, {sic}")
        return cls(spec, sac, sic, time_item, _time_of_day(time_s))

    def pack(self, items_of: Callable[[int], dict[str, Any]], max_block_bytes: int) -> bytes:
        """One record per row (I010, the time and `items_of(row)`), packed into data blocks."""
        source = (("SAC", self.sac), ("SIC", self.sic))
        records = [
            self.spec.cv_record.create({"010": source, self.time_item: (float(self.tod[i]), "s")} | items_of(i))
            for i in range(len(self.tod))
        ]
        return _pack(self.spec, records, max_block_bytes)


def encode_cat048(
    plots: Plots, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """Radar plots as CAT048 target reports: I010, I140, I020, I040, I070, I090, I220, I240 where present.

    I020 TYP is 5 (Mode S roll-call) with an address, 2 (SSR) with a code or altitude, else 1 (PSR).
    """
    records = _Records.start(48, "140", edition, sac, sic, plots.time_s)
    spec = records.spec
    rho_nm = plots.range_m / NM_M
    theta = np.mod(plots.azimuth_deg, 360.0)
    fl = plots.altitude_m / FT_M / 100.0
    _raw_in_range(spec, ("040", "RHO"), rho_nm, "range_m")
    _raw_in_range(spec, ("090", "FL"), fl, "altitude_m")
    _check_codes(plots.squawk, plots.mode_s, plots.callsign)
    polar = np.isfinite(rho_nm) & np.isfinite(theta)
    theta = np.where(np.round(theta / 360.0 * 65536.0) >= 65536, 0.0, theta)

    def items(i: int) -> dict[str, Any]:
        ssr = plots.squawk[i] >= 0 or np.isfinite(fl[i])
        typ = 5 if plots.mode_s[i] >= 0 else 2 if ssr else 1
        rec: dict[str, Any] = {"020": _extended(spec, "020", {"TYP": typ})}
        if polar[i]:
            rec["040"] = (("RHO", (float(rho_nm[i]), "NM")), ("THETA", (float(theta[i]), "°")))
        if plots.squawk[i] >= 0:
            rec["070"] = _group(spec, "070", {"MODE3A": f"{plots.squawk[i]:04d}"})
        if np.isfinite(fl[i]):
            rec["090"] = _group(spec, "090", {"FL": (float(fl[i]), "FL")})
        if plots.mode_s[i] >= 0:
            rec["220"] = int(plots.mode_s[i])
        if plots.callsign[i]:
            rec["240"] = str(plots.callsign[i])
        return rec

    return records.pack(items, max_block_bytes)


def encode_cat021(
    plots: Plots, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """ADS-B plots as CAT021 (a 2.x edition) reports: I010, I040, I073, I131, I145, I080, I070, I170, I090/NACP."""
    records = _Records.start(21, "073", edition, sac, sic, plots.time_s)
    spec = records.spec
    fl = plots.altitude_m / FT_M / 100.0
    _raw_in_range(spec, ("131", "LAT"), plots.lat_deg, "lat_deg")
    _raw_in_range(spec, ("131", "LON"), plots.lon_deg, "lon_deg")
    _raw_in_range(spec, ("145",), fl, "altitude_m")
    _raw_in_range(spec, ("090", "NACP"), _present(plots.nacp), "nacp")
    _check_codes(plots.squawk, plots.mode_s, plots.callsign)
    position = np.isfinite(plots.lat_deg) & np.isfinite(plots.lon_deg)

    def items(i: int) -> dict[str, Any]:
        rec: dict[str, Any] = {"040": _extended(spec, "040", {"ATP": 1, "ARC": 1})}
        if position[i]:
            rec["131"] = (("LAT", (float(plots.lat_deg[i]), "°")), ("LON", (float(plots.lon_deg[i]), "°")))
        if np.isfinite(fl[i]):
            rec["145"] = (float(fl[i]), "FL")
        if plots.mode_s[i] >= 0:
            rec["080"] = int(plots.mode_s[i])
        if plots.squawk[i] >= 0:
            rec["070"] = _group(spec, "070", {"MODE3A": f"{plots.squawk[i]:04d}"})
        if plots.callsign[i]:
            rec["170"] = str(plots.callsign[i])
        if plots.nacp[i] >= 0:
            rec["090"] = _extended(spec, "090", {"NACP": int(plots.nacp[i])})
        return rec

    return records.pack(items, max_block_bytes)


def encode_cat062(
    tracks: Tracks, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """System tracks as CAT062: I010, I070, I105, I185, I220, I135 (barometric), I040, I060, I080, I380 ADR/ID.

    I080 CNF=1 marks tentative tracks and CST=1 coasting ones.
    """
    records = _Records.start(62, "070", edition, sac, sic, tracks.time_s)
    spec = records.spec
    fl = tracks.alt_m / FT_M / 100.0
    rocd = tracks.v_up_mps / FPM_MPS
    _raw_in_range(spec, ("105", "LAT"), tracks.lat_deg, "lat_deg")
    _raw_in_range(spec, ("105", "LON"), tracks.lon_deg, "lon_deg")
    _raw_in_range(spec, ("185", "VX"), tracks.v_east_mps, "v_east_mps")
    _raw_in_range(spec, ("185", "VY"), tracks.v_north_mps, "v_north_mps")
    _raw_in_range(spec, ("220",), rocd, "v_up_mps")
    _raw_in_range(spec, ("135", "CTB"), fl, "alt_m")
    _raw_in_range(spec, ("040",), _present(tracks.track_id), "track_id")
    _check_codes(tracks.squawk, tracks.mode_s, tracks.callsign)
    position = np.isfinite(tracks.lat_deg) & np.isfinite(tracks.lon_deg)
    velocity = np.isfinite(tracks.v_east_mps) & np.isfinite(tracks.v_north_mps)

    def items(i: int) -> dict[str, Any]:
        status = str(tracks.status[i])
        flags = {"CNF": int(status == "tentative")} | ({"CST": 1} if status == "coasting" else {})
        rec: dict[str, Any] = {"080": _extended(spec, "080", flags)}
        if position[i]:
            rec["105"] = (("LAT", (float(tracks.lat_deg[i]), "°")), ("LON", (float(tracks.lon_deg[i]), "°")))
        if velocity[i]:
            rec["185"] = (("VX", (float(tracks.v_east_mps[i]), "m/s")), ("VY", (float(tracks.v_north_mps[i]), "m/s")))
        if np.isfinite(rocd[i]):
            rec["220"] = (float(rocd[i]), "ft/min")
        if np.isfinite(fl[i]):
            rec["135"] = _group(spec, "135", {"CTB": (float(fl[i]), "FL")})
        if tracks.track_id[i] >= 0:
            rec["040"] = int(tracks.track_id[i])
        if tracks.squawk[i] >= 0:
            rec["060"] = _group(spec, "060", {"MODE3A": f"{tracks.squawk[i]:04d}"})
        aircraft: dict[str, Any] = {}
        if tracks.mode_s[i] >= 0:
            aircraft["ADR"] = int(tracks.mode_s[i])
        if tracks.callsign[i]:
            aircraft["ID"] = str(tracks.callsign[i])
        if aircraft:
            rec["380"] = aircraft
        return rec

    return records.pack(items, max_block_bytes)


def _sac_sic(sensor_id: str) -> tuple[int, int]:
    parsed = parse_sensor_id(sensor_id)
    if parsed is None:
        raise SchemaError(f"subject_id: {sensor_id!r} is not 'SAC-SIC' with both in 0..255")
    return parsed


def encode_cat034(
    messages: ServiceMessages, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """Radar service messages as CAT034: I010, I000 (message type, required), I030, I020 sector, I041 period."""
    records = _Records.start(34, "030", edition, sac, sic, messages.time_s)
    spec = records.spec
    if (messages.message_type < 0).any():
        raise SchemaError("message_type: CAT034 needs a message type on every row")
    _raw_in_range(spec, ("020",), messages.sector_deg, "sector_deg")
    _raw_in_range(spec, ("041",), messages.period_s, "period_s")

    def items(i: int) -> dict[str, Any]:
        rec: dict[str, Any] = {"000": int(messages.message_type[i])}
        if np.isfinite(messages.sector_deg[i]):
            rec["020"] = (float(messages.sector_deg[i]), "°")
        if np.isfinite(messages.period_s[i]):
            rec["041"] = (float(messages.period_s[i]), "s")
        return rec

    return records.pack(items, max_block_bytes)


def encode_cat063(
    messages: ServiceMessages, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """Sensor status as CAT063: I010, I015 service, I030, I050 (the sensor, from `subject_id`), I060 CON."""
    records = _Records.start(63, "030", edition, sac, sic, messages.time_s)
    spec = records.spec
    subjects = [_sac_sic(s) if s else None for s in messages.subject_id.tolist()]
    _raw_in_range(spec, ("015",), _present(messages.service_id), "service_id")
    _raw_in_range(spec, ("060", "CON"), _present(messages.status), "status")

    def items(i: int) -> dict[str, Any]:
        rec: dict[str, Any] = {}
        if messages.service_id[i] >= 0:
            rec["015"] = int(messages.service_id[i])
        subject = subjects[i]
        if subject is not None:
            rec["050"] = (("SAC", subject[0]), ("SIC", subject[1]))
        if messages.status[i] >= 0:
            rec["060"] = _extended(spec, "060", {"CON": int(messages.status[i])})
        return rec

    return records.pack(items, max_block_bytes)


def encode_cat065(
    messages: ServiceMessages, sac: int, sic: int, *, edition: str | None = None, max_block_bytes: int = MAX_BLOCK_BYTES
) -> bytes:
    """SDPS status as CAT065: I010, I000 (message type, required), I015, I030, I020 batch, I040 NOGO."""
    records = _Records.start(65, "030", edition, sac, sic, messages.time_s)
    spec = records.spec
    if (messages.message_type < 0).any():
        raise SchemaError("message_type: CAT065 needs a message type on every row")
    _raw_in_range(spec, ("015",), _present(messages.service_id), "service_id")
    _raw_in_range(spec, ("020",), _present(messages.batch), "batch")
    _raw_in_range(spec, ("040", "NOGO"), _present(messages.status), "status")

    def items(i: int) -> dict[str, Any]:
        rec: dict[str, Any] = {"000": int(messages.message_type[i])}
        if messages.service_id[i] >= 0:
            rec["015"] = int(messages.service_id[i])
        if messages.batch[i] >= 0:
            rec["020"] = int(messages.batch[i])
        if messages.status[i] >= 0:
            rec["040"] = _group(spec, "040", {"NOGO": int(messages.status[i])})
        return rec

    return records.pack(items, max_block_bytes)
