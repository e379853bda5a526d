"""Decode ASTERIX to columnar batches: CAT048/021/001 -> `Plots`, CAT062 -> `Tracks`, CAT034/063/065/002 -> services.

Data blocks are split on their headers; every block of a decoded category is walked by the fast path
(`fast.py`) and any block it does not accept goes through libasterix, whose verdict is final. A bad
block is one `DecodeError`, counted in the `DecodeReport` and logged; decoding goes on with the next
block. A block whose records decode to an impossible latitude, longitude or time of day (another
edition of the category, read under the configured one) is one such error too. A block header that
cannot be right (category 0, length under 3 or past the end of its frame, or not followed by a
plausible header) is resynchronised on: the damaged span is one error, and the decoder resumes at the
next offset where three well-formed headers of known categories follow each other (or fewer that end
the frame exactly), see `commonsky.formats.resync`.

Conventions: `sensor_id` is `"SAC-SIC"` in decimal (`"25-201"`) of the I010 data source (for CAT021
the ADS-B ground station); Mode A codes and Mode C flight levels flagged garbled (G=1) are dropped;
CAT062 `alt_m` is the calculated barometric altitude (I135), else the measured flight level (I136),
else the geometric altitude (I130); its `status` is "tentative" when I080 CNF=1, "coasting" when
CST=1, else "confirmed".

Times: ASTERIX carries the time of day (UTC). With `day_start_utc_s` given, a record's time is that
day start plus its time of day, unwrapped along the recording so that it runs on past midnight.
Without it, pcap captures put each record at the instant nearest its packet's capture time with
that time of day; other containers count from day 0 (1970-01-01), unwrapped the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
from asterix.base import Bits, ParsingMode
from numpy.typing import NDArray

from commonsky.core.batches import SENSOR_ID_DTYPE, Col, Columns, Plots, Tracks
from commonsky.core.errors import DecodeError
from commonsky.formats.asterix import fast
from commonsky.formats.asterix.specs import (
    CATEGORIES,
    KIND_ASCII,
    KIND_ICAO,
    KIND_INT,
    KIND_OCTAL,
    KIND_QUANTITY,
    Leaf,
    leaves,
    resolve_editions,
    single_uap,
)
from commonsky.formats.containers import PCAP, PCAPNG, Frame, read_recording, strip_oradis
from commonsky.formats.report import DecodeReport
from commonsky.formats.resync import known_categories, walk_blocks

C = TypeVar("C", bound=Columns)

FT_M: Final = 0.3048
NM_M: Final = 1852.0
DAY_S: Final = 86400.0
FPM_MPS: Final = FT_M / 60.0
PLOT_CATEGORIES: Final = (48, 21, 1)
SERVICE_CATEGORIES: Final = (34, 63, 65, 2)
TRUNCATED_TOD_S: Final = 512.0
"""I001/141 keeps the time of day modulo 512 s."""
_PHYSICAL_LIMITS: Final = {"lat": 90.0, "lon": 180.0, "tod": DAY_S}
"""Largest magnitude a decoded field can have, by its name's first part (`lat_hr`, `tod_073`, ...)."""


@dataclass(frozen=True, eq=False)
class ServiceMessages(Columns):
    """CAT034 and CAT002 (radar service: north marker, sector crossing), CAT063 (sensor status), CAT065 (SDPS status).

    `message_type` is I034/000 or I065/000; `sector_deg` is I034/020, `period_s` the antenna rotation
    period I034/041; `subject_id` is the sensor a CAT063 record reports on (I063/050, "SAC-SIC");
    `status` is I063/060 CON or I065/040 NOGO (0 operational, 1 degraded, ...); `service_id` is
    I063/015 or I065/015 and `batch` I065/020. Missing: NaN, -1, "".
    """

    time_s: Col.F64
    sensor_id: Col.SensorId
    category: Col.I16
    message_type: Col.I16
    sector_deg: Col.F64
    period_s: Col.F64
    subject_id: Col.SensorId
    status: Col.I16
    service_id: Col.I16
    batch: Col.I16


@dataclass
class AsterixDecoded:
    """Everything decoded from one source, in recording order."""

    plots: Plots
    """CAT048 (and older CAT001) radar target reports and CAT021 ADS-B reports."""
    tracks: Tracks
    """CAT062 system tracks; `track_id` is the I062/040 track number."""
    track_source: NDArray[np.str_]
    """Per track row: "SAC-SIC" of the tracker that sent it (track numbers are unique per source only)."""
    services: ServiceMessages
    report: DecodeReport
    """Counts, including `not_decoded`: blocks of categories commonsky does not decode ("001")."""


def sensor_ids(sac: NDArray[np.int64], sic: NDArray[np.int64]) -> NDArray[np.str_]:
    """ "SAC-SIC" per row ("" where either is missing), built once per distinct pair."""
    key = np.where((sac >= 0) & (sic >= 0), sac * 256 + sic, -1)
    unique, inverse = np.unique(key, return_inverse=True)
    names = np.array([f"{k >> 8}-{k & 255}" if k >= 0 else "" for k in unique.tolist()], dtype=SENSOR_ID_DTYPE)
    return names[inverse.ravel()] if len(key) else np.array([], dtype=SENSOR_ID_DTYPE)


def parse_sensor_id(sensor_id: str) -> tuple[int, int] | None:
    """(SAC, SIC) of a "SAC-SIC" sensor id as `sensor_ids` writes them, None for any other id."""
    parts = sensor_id.split("-")
    try:
        sac, sic = (int(v) for v in parts) if len(parts) == 2 else (-1, -1)
    except ValueError:
        return None
    return (sac, sic) if 0 <= sac <= 255 and 0 <= sic <= 255 else None


@cache
def _scanner(spec: Any) -> fast.Scanner:
    return fast.Scanner.build(spec, leaves(spec, spec.cv_category))


@cache
def _leaves(spec: Any) -> tuple[Leaf, ...]:
    return tuple(leaves(spec, spec.cv_category))


def _lib_value(record: Any, leaf: Leaf) -> Any:
    """One field of a libasterix record through its own accessors (None when absent)."""
    path = leaf.field.path
    item = record.get_item(path[0])
    if item is None:
        return None
    variation = item.variation
    for name in path[1:]:
        sub = variation.get_item(name)
        if sub is None:
            return None
        variation = sub.variation
    content = variation.content
    if leaf.kind == KIND_QUANTITY:
        return content.as_quantity(leaf.unit)
    if leaf.kind in (KIND_ICAO, KIND_ASCII):
        return str(content.as_string()).replace("\0", "").strip()
    if leaf.kind == KIND_OCTAL:
        return int(content.as_string())
    if leaf.kind == KIND_INT:
        return content.as_integer()
    return content.as_uint()


def lib_fields(spec: Any, records: Sequence[Any]) -> dict[str, NDArray[Any]]:
    """The decoded fields of libasterix records, as the fast path gives them (NaN / -1 / "" when absent)."""
    out: dict[str, NDArray[Any]] = {}
    for leaf in _leaves(spec):
        values = [_lib_value(r, leaf) for r in records]
        if leaf.kind == KIND_QUANTITY:
            out[leaf.field.name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif leaf.kind in (KIND_ICAO, KIND_ASCII):
            out[leaf.field.name] = np.array(["" if v is None else v for v in values], dtype=str)
        else:
            out[leaf.field.name] = np.array([-1 if v is None else v for v in values], dtype=np.int64)
    return out


def lib_records(spec: Any, block: bytes) -> list[Any]:
    """libasterix's strict parse of one data block's records; raises `ValueError` naming the problem."""
    try:
        if single_uap(spec):
            result = spec.cv_uap.parse(Bits.from_bytes(block[3:]))
        else:
            result = _selected_uap_records(spec, Bits.from_bytes(block[3:]))
    except Exception as exc:  # libasterix returns ValueError for bad input, but some input trips its internals
        raise ValueError(f"libasterix failed ({type(exc).__name__}: {exc})") from None
    if isinstance(result, ValueError):
        raise ValueError(", ".join(str(a) for a in result.args) or "malformed")
    return list(result)


def _selected_uap_records(spec: Any, bits: Bits) -> list[Any] | ValueError:
    """Records of a multiple-UAP category (CAT001), each read with the layout its selector item names.

    Both layouts begin with the selector (I001/020 TYP): a record is kept under the layout whose
    parse carries that layout's own TYP value, so the choice is the specification's, never a guess.
    """
    (item, sub), choices = spec.cv_uap.cv_selector
    records: list[Any] = []
    remaining = bits
    while len(remaining):
        for value, name in choices.items():
            parsed = spec.cv_uap.cv_uaps[name].parse(ParsingMode.StrictParsing, remaining)
            if isinstance(parsed, ValueError):
                continue
            record, rest = parsed
            selector = record.get_item(item)
            chosen = selector.variation.get_item(sub) if selector is not None else None
            if chosen is not None and chosen.variation.content.as_uint() == value:
                records.append(record)
                remaining = rest
                break
        else:
            return ValueError(f"no record layout of CAT{spec.cv_category:03d} reads the record at its {item} {sub}")
    return records


@dataclass
class _Blocks:
    """The data blocks of all frames: category, start and end in the joined buffer, frame index."""

    category: NDArray[np.int64]
    start: NDArray[np.int64]
    end: NDArray[np.int64]
    frame: NDArray[np.int64]


class _Decoder:
    """One decoding run: frames joined into one buffer, blocks found, categories decoded."""

    def __init__(
        self, frames: Sequence[Frame], report: DecodeReport, editions: Mapping[int, str] | None, packets: bool
    ) -> None:
        self.frames = frames
        self.report = report
        self.specs = resolve_editions(editions)
        self.packets = packets
        self.data = b"".join(f.payload for f in frames)
        self.buf = np.frombuffer(self.data, dtype=np.uint8)
        sizes = np.array([len(f.payload) for f in frames], dtype=np.int64)
        self.frame_end = np.cumsum(sizes)
        self.frame_start = self.frame_end - sizes

    def error(self, pos: int, frame: int, problem: str) -> DecodeError:
        """Count a problem at joined-buffer position `pos` of `frame`, located as the container counts."""
        f = self.frames[frame]
        within = pos - int(self.frame_start[frame])
        if self.packets:
            return self.report.error(f.offset, f"packet {f.offset}, byte {within}: {problem}")
        return self.report.error(f.offset + within, problem)

    def split(self) -> _Blocks:
        """Every plausible block of every frame, resynchronising after damage (`resync.walk_blocks`)."""
        walk = walk_blocks(self.buf, self.frame_start, self.frame_end, known_categories(CATEGORIES))
        data = self.data
        for pos, stop, fi in walk.damaged.tolist():
            end = int(self.frame_end[fi])
            if stop == end and end - pos < 3:
                self.error(pos, fi, f"{end - pos} trailing bytes, too short for a data block header")
                continue
            length = (data[pos + 1] << 8) | data[pos + 2]
            after = f"{stop - pos} bytes skipped" if stop < end else f"rest of the frame ({end - pos} bytes) skipped"
            self.error(pos, fi, f"bad data block header (category {data[pos]}, length {length}); {after}")
        kept = walk.kept
        return _Blocks(self.buf[kept[:, 0]].astype(np.int64), kept[:, 0], kept[:, 1], kept[:, 2])

    def category(self, blocks: _Blocks, cat: int, use_fast: bool) -> dict[str, NDArray[Any]]:
        """Fields of every record of category `cat`, with the global block index of each record."""
        spec = self.specs[cat]
        index = np.flatnonzero(blocks.category == cat)
        parts: list[dict[str, NDArray[Any]]] = []
        todo = index
        if use_fast and len(index) and single_uap(spec):
            status, fields, block_of = _scanner(spec).scan(self.buf, blocks.start[index], blocks.end[index])
            parts.append({**fields, "block": index[block_of]})
            todo = index[status != fast.OK]
        for bi in todo.tolist():
            start, end = int(blocks.start[bi]), int(blocks.end[bi])
            try:
                records = self._lib_block(spec, start, end, int(blocks.frame[bi]))
            except DecodeError:
                continue
            parts.append({**lib_fields(spec, records), "block": np.full(len(records), bi, dtype=np.int64)})
        if not parts:
            return {"block": np.zeros(0, dtype=np.int64)}
        names = set.intersection(*(set(p) for p in parts))
        joined = {name: np.concatenate([p[name] for p in parts]) for name in names}
        order = np.argsort(joined["block"], kind="stable")
        return self._plausible({name: values[order] for name, values in joined.items()}, blocks, cat)

    def _plausible(self, raw: dict[str, NDArray[Any]], blocks: _Blocks, cat: int) -> dict[str, NDArray[Any]]:
        """Drop blocks with a record whose values cannot be (a latitude beyond 90°, a time of day past 24 h).

        A block of another edition of the category often parses under the configured one, into
        values like these: the whole block is then misread, so it is one error and none of its
        records is kept."""
        bad = np.zeros(len(raw["block"]), dtype=bool)
        for name, values in raw.items():
            limit = _PHYSICAL_LIMITS.get(name.split("_")[0])
            if limit is not None:
                bad |= np.abs(values) > limit
        if not bad.any():
            return raw
        misread = np.unique(raw["block"][bad])
        for bi in misread.tolist():
            start, end = int(blocks.start[bi]), int(blocks.end[bi])
            self.error(
                start,
                int(blocks.frame[bi]),
                f"CAT{cat:03d} block of {end - start} bytes: a record decodes to an impossible latitude, "
                "longitude or time of day (is the category's edition right?); block dropped",
            )
        keep = ~np.isin(raw["block"], misread)
        return {name: values[keep] for name, values in raw.items()}

    def _lib_block(self, spec: Any, start: int, end: int, frame: int) -> list[Any]:
        """Records of one block by libasterix; a malformed block raises the counted `DecodeError`."""
        try:
            return lib_records(spec, self.data[start:end])
        except ValueError as exc:
            raise self.error(start, frame, f"CAT{spec.cv_category:03d} block of {end - start} bytes: {exc}") from None


def _column(raw: Mapping[str, NDArray[Any]], name: str, n: int, kind: str = "int") -> NDArray[Any]:
    """A decoded field, or all-missing when the edition has no such item."""
    if name in raw:
        return raw[name]
    if kind == "float":
        return np.full(n, np.nan)
    if kind == "str":
        return np.full(n, "", dtype=str)
    return np.full(n, -1, dtype=np.int64)


def _first(raw: Mapping[str, NDArray[Any]], names: Sequence[str], n: int, kind: str) -> NDArray[Any]:
    """Per row, the first present of several alternative fields."""
    out = _column(raw, names[0], n, kind)
    for name in names[1:]:
        other = _column(raw, name, n, kind)
        missing = np.isnan(out) if kind == "float" else (out == "") if kind == "str" else (out < 0)
        out = np.where(missing, other, out)
    return out


def _ungarbled(values: NDArray[Any], garbled: NDArray[np.int64], missing: Any) -> NDArray[Any]:
    return np.where(garbled == 1, missing, values)


def _radar_plots(raw: Mapping[str, NDArray[Any]], n: int) -> dict[str, NDArray[Any]]:
    """The columns monoradar reports share (CAT048 and CAT001 name these fields alike): source, polar
    position, Mode C altitude and Mode A code, garbled ones dropped."""
    fl = _ungarbled(_column(raw, "fl", n, "float"), _column(raw, "fl_g", n), np.nan)
    return {
        "sensor_id": sensor_ids(_column(raw, "sac", n), _column(raw, "sic", n)),
        "range_m": _column(raw, "rho", n, "float") * NM_M,
        "azimuth_deg": _column(raw, "theta", n, "float"),
        "altitude_m": fl * 100.0 * FT_M,
        "squawk": _ungarbled(_column(raw, "mode3a", n), _column(raw, "mode3a_g", n), -1),
    }


def _plots_048(raw: Mapping[str, NDArray[Any]], n: int) -> dict[str, NDArray[Any]]:
    return {
        **_radar_plots(raw, n),
        "tod": _column(raw, "tod", n, "float"),
        "mode_s": _column(raw, "address", n),
        "callsign": _column(raw, "callsign", n, "str"),
    }


def _plots_001(raw: Mapping[str, NDArray[Any]], n: int, reference_tod: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
    """CAT001 plots and track updates (both carry the measured polar position I040) as radar plots.

    I141 is the time of day truncated to 512 s: it is completed from `reference_tod` (a CAT002
    time of the same radar, or the capture time; NaN without either) to the nearest time.
    """
    truncated = _column(raw, "tod_truncated", n, "float")
    tod = reference_tod + np.mod(truncated - reference_tod + TRUNCATED_TOD_S / 2, TRUNCATED_TOD_S) - TRUNCATED_TOD_S / 2
    return {**_radar_plots(raw, n), "tod": tod}


def _reference_tod_001(
    raws: Mapping[int, Mapping[str, NDArray[Any]]], frame_tod: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per CAT001 record: the time of day of its radar's last CAT002 message before it (the first one
    after it for records before any), else `frame_tod` (the capture's, NaN when there is none)."""
    cat001, cat002 = raws[1], raws[2]
    n1, n2 = len(cat001["block"]), len(cat002["block"])
    sensor1 = sensor_ids(_column(cat001, "sac", n1), _column(cat001, "sic", n1))
    sensor2 = sensor_ids(_column(cat002, "sac", n2), _column(cat002, "sic", n2))
    tod2 = _column(cat002, "tod", n2, "float")
    out = np.array(frame_tod, dtype=np.float64)
    for sensor in np.unique(sensor2[np.isfinite(tod2)]).tolist():
        mine2 = np.flatnonzero((sensor2 == sensor) & np.isfinite(tod2))
        mine1 = np.flatnonzero(sensor1 == sensor)
        last = np.searchsorted(cat002["block"][mine2], cat001["block"][mine1], side="right") - 1
        out[mine1] = tod2[mine2[np.maximum(last, 0)]]
    return out


def _plots_021(raw: Mapping[str, NDArray[Any]], n: int) -> dict[str, NDArray[Any]]:
    return {
        "tod": _first(raw, ["tod_073", "tod_071", "tod_075", "tod_030"], n, "float"),
        "sensor_id": sensor_ids(_column(raw, "sac", n), _column(raw, "sic", n)),
        "lat_deg": _first(raw, ["lat_hr", "lat"], n, "float"),
        "lon_deg": _first(raw, ["lon_hr", "lon"], n, "float"),
        "altitude_m": _column(raw, "fl", n, "float") * 100.0 * FT_M,
        "mode_s": _column(raw, "address", n),
        "squawk": _column(raw, "mode3a", n),
        "callsign": _column(raw, "callsign", n, "str"),
        "nacp": _column(raw, "nacp", n),
    }


def _tracks_062(raw: Mapping[str, NDArray[Any]], n: int) -> dict[str, NDArray[Any]]:
    alt_fl = _first(raw, ["baro_fl", "measured_fl"], n, "float")
    alt = np.where(np.isnan(alt_fl), _column(raw, "geo_alt_ft", n, "float") * FT_M, alt_fl * 100.0 * FT_M)
    cnf, cst = _column(raw, "cnf", n), _column(raw, "cst", n)
    return {
        "tod": _column(raw, "tod", n, "float"),
        "source": sensor_ids(_column(raw, "sac", n), _column(raw, "sic", n)),
        "track_id": _column(raw, "track_number", n),
        "lat_deg": _column(raw, "lat", n, "float"),
        "lon_deg": _column(raw, "lon", n, "float"),
        "alt_m": alt,
        "v_east_mps": _column(raw, "vx", n, "float"),
        "v_north_mps": _column(raw, "vy", n, "float"),
        "v_up_mps": _column(raw, "rocd", n, "float") * FPM_MPS,
        "status": np.where(cnf == 1, "tentative", np.where(cst == 1, "coasting", "confirmed")),
        "mode_s": _column(raw, "address", n),
        "squawk": _ungarbled(_column(raw, "mode3a", n), _column(raw, "mode3a_g", n), -1),
        "callsign": _first(raw, ["callsign_380", "callsign_245", "callsign_390"], n, "str"),
    }


def _services(raw: Mapping[str, NDArray[Any]], n: int, cat: int) -> dict[str, NDArray[Any]]:
    subject = sensor_ids(_column(raw, "subject_sac", n), _column(raw, "subject_sic", n))
    return {
        "tod": _column(raw, "tod", n, "float"),
        "sensor_id": sensor_ids(_column(raw, "sac", n), _column(raw, "sic", n)),
        "category": np.full(n, cat),
        "message_type": _column(raw, "message_type", n),
        "sector_deg": _column(raw, "sector", n, "float"),
        "period_s": _column(raw, "period", n, "float"),
        "subject_id": subject,
        "status": _column(raw, "status", n),
        "service_id": _column(raw, "service_id", n),
        "batch": _column(raw, "batch", n),
    }


def _times(
    tod: NDArray[np.float64],
    block: NDArray[np.int64],
    frame_time: NDArray[np.float64],
    utc_frames: bool,
    day_start_utc_s: float | None,
) -> NDArray[np.float64]:
    """UTC seconds of every record from its time of day (see the module docstring)."""
    if day_start_utc_s is None and utc_frames:
        ref = frame_time
        return ref + np.mod(tod - np.mod(ref, DAY_S) + DAY_S / 2, DAY_S) - DAY_S / 2
    order = np.argsort(block, kind="stable")
    t = tod[order]
    finite = np.isfinite(t)
    t[finite] = np.unwrap(t[finite], period=DAY_S)
    out = np.empty_like(tod)
    out[order] = t
    return (day_start_utc_s or 0.0) + out


def _decode_frames(
    frames: Sequence[Frame],
    report: DecodeReport,
    day_start_utc_s: float | None,
    editions: Mapping[int, str] | None,
    use_fast: bool,
    utc_frames: bool,
    packets: bool,
) -> AsterixDecoded:
    frames = strip_oradis(frames, report, packets)
    dec = _Decoder(frames, report, editions, packets)
    blocks = dec.split()
    for cat in np.unique(blocks.category).tolist():
        if cat not in dec.specs:
            report.not_decoded[f"{cat:03d}"] += int(np.count_nonzero(blocks.category == cat))
    raws = {cat: dec.category(blocks, cat, use_fast) for cat in CATEGORIES}
    sizes = {cat: len(raw["block"]) for cat, raw in raws.items()}
    frame_time = np.array([f.time_s for f in frames], dtype=np.float64)
    frame_tod = np.mod(frame_time, DAY_S) if utc_frames else np.full(len(frames), np.nan)
    built: dict[int, dict[str, NDArray[Any]]] = {
        1: _plots_001(raws[1], sizes[1], _reference_tod_001(raws, frame_tod[blocks.frame[raws[1]["block"]]])),
        48: _plots_048(raws[48], sizes[48]),
        21: _plots_021(raws[21], sizes[21]),
        62: _tracks_062(raws[62], sizes[62]),
        **{cat: _services(raws[cat], sizes[cat], cat) for cat in SERVICE_CATEGORIES},
    }
    all_blocks = np.concatenate([raws[cat]["block"] for cat in CATEGORIES])
    all_tod = np.concatenate([built[cat]["tod"] for cat in CATEGORIES])
    times = _times(all_tod, all_blocks, frame_time[blocks.frame[all_blocks]], utc_frames, day_start_utc_s)
    bounds = np.cumsum([0, *(sizes[cat] for cat in CATEGORIES)])
    for cat, lo, hi in zip(CATEGORIES, bounds[:-1], bounds[1:], strict=True):
        built[cat]["time_s"] = times[lo:hi]
        report.by_category[f"{cat:03d}"] += sizes[cat]
    plots = _in_block_order(
        [Plots.build(sizes[c], **_without(built[c], "tod")) for c in PLOT_CATEGORIES],
        [raws[c]["block"] for c in PLOT_CATEGORIES],
    )
    track_cols = _without(built[62], "tod", "source")
    tracks = Tracks.build(sizes[62], **track_cols)
    services = _in_block_order(
        [ServiceMessages.build(sizes[c], **_without(built[c], "tod")) for c in SERVICE_CATEGORIES],
        [raws[c]["block"] for c in SERVICE_CATEGORIES],
    )
    _account(report, plots, tracks, services)
    return AsterixDecoded(plots, tracks, built[62]["source"], services, report)


def _without(columns: Mapping[str, NDArray[Any]], *names: str) -> dict[str, NDArray[Any]]:
    return {k: v for k, v in columns.items() if k not in names}


def _in_block_order(parts: list[C], blocks: list[NDArray[np.int64]]) -> C:
    """Batches of several categories merged into recording order."""
    merged = type(parts[0]).concat(parts)
    order = np.concatenate(blocks)
    return merged if (np.diff(order) >= 0).all() else merged.take(np.argsort(order, kind="stable"))


def _account(report: DecodeReport, plots: Plots, tracks: Tracks, services: ServiceMessages) -> None:
    """Messages, identities and time span into the report."""
    report.messages += len(plots) + len(tracks) + len(services)
    for mode_s, callsign in ((plots.mode_s, plots.callsign), (tracks.mode_s, tracks.callsign)):
        report.addresses.update(f"{a:06X}" for a in np.unique(mode_s[mode_s >= 0]).tolist())
        report.callsigns.update(c for c in np.unique(callsign).tolist() if c)
    for times in (plots.time_s, tracks.time_s, services.time_s):
        report.saw_times(times)


def decode_asterix(
    data: bytes,
    source: str = "asterix",
    day_start_utc_s: float | None = None,
    *,
    editions: Mapping[int, str] | None = None,
    use_fast: bool = True,
    received_utc_s: float | None = None,
    log_key: str = "",
) -> AsterixDecoded:
    """Decode ASTERIX data blocks back to back (one datagram, or a raw file read whole).

    `source` names the input in errors; `editions` overrides `DEFAULT_EDITIONS` per category;
    `use_fast=False` decodes every block with libasterix alone (the reference path);
    `received_utc_s` is when a datagram arrived, used like a pcap's capture time; `log_key` rate-limits
    error warnings together with other datagrams of the same input (`DecodeReport.log_key`).
    """
    report = DecodeReport(source, log_key=log_key)
    received = math.nan if received_utc_s is None else received_utc_s
    frame = [Frame(0, data, received)] if data else []
    utc = received_utc_s is not None
    return _decode_frames(frame, report, day_start_utc_s, editions, use_fast, utc_frames=utc, packets=False)


def decode_recording(
    source: str | Path | bytes,
    name: str | None = None,
    day_start_utc_s: float | None = None,
    *,
    fmt: str | None = None,
    editions: Mapping[int, str] | None = None,
    use_fast: bool = True,
) -> AsterixDecoded:
    """Decode a recording file (or its bytes): raw blocks, pcap/pcapng, Final Format or GPS (`fmt` forces one).

    Each UDP datagram or container record is decoded on its own, so damage never spreads past it.
    """
    label = name or ("asterix" if isinstance(source, bytes) else str(source))
    report = DecodeReport(label)
    recording = read_recording(source, report, fmt)
    packets = recording.format in (PCAP, PCAPNG)
    return _decode_frames(
        recording.frames, report, day_start_utc_s, editions, use_fast, recording.utc_times, packets=packets
    )
