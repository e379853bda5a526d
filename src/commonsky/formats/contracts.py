"""Readers and writers of the file contracts in docs/formats.md: sensors.json, plots, truth, tracks.

CSV and Parquet are both accepted on input (chosen by suffix: `.parquet`/`.pq` or anything else
as CSV); missing values are empty cells. Reading and writing go through pyarrow's C++ CSV and
Parquet engines, so millions of rows move in seconds and floats keep full precision. Mode S
addresses travel as 6 hex digits and squawks as 4 octal digits, so a file opened in a
spreadsheet reads as an engineer expects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from commonsky.core.batches import MISSING_INT, Columns, Plots, Tracks, Truth
from commonsky.core.errors import SchemaError
from commonsky.core.sensors import DOMAIN_AIR, DOMAINS, SensorSpec

PLOTS_COLUMNS = [
    "time_s", "sensor_id", "range_m", "azimuth_deg", "altitude_m", "lat_deg", "lon_deg",
    "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Required columns of plots.csv, in order; `nacp`, `on_ground`, `mmsi`, `domain` and `truth_id` are optional extras."""
PLOTS_EXTRAS = ["nacp", "on_ground", "mmsi", "domain"]
"""Optional columns of plots.csv written after the required ones (then `truth_id`)."""
TRUTH_COLUMNS = [
    "time_s", "target_id", "lat_deg", "lon_deg", "alt_m", "v_east_mps", "v_north_mps", "v_up_mps",
    "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Required columns of truth.csv, in order; `domain` and `mmsi` are optional extras."""
TRUTH_WRITTEN = [*TRUTH_COLUMNS, "domain", "mmsi"]
"""Columns written to truth.csv, in order."""
TRACKS_COLUMNS = [
    "time_s", "track_id", "lat_deg", "lon_deg", "alt_m", "v_east_mps", "v_north_mps", "v_up_mps",
    "status", "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Required columns of tracks.csv, in order; `quality`, `on_ground`, `domain` and `mmsi` are optional extras."""

TRACKS_WRITTEN = [*TRACKS_COLUMNS, "quality", "on_ground", "domain", "mmsi"]
"""Columns written to tracks.csv, in order."""

_HEX_COLUMNS = {"mode_s"}
_SQUAWK_COLUMNS = {"squawk"}
_TEXT_COLUMNS = {"sensor_id", "callsign", "status", "domain"}
_ID_COLUMNS = {"track_id", "target_id", "truth_id"}
"""Integer identifiers written as plain integers (-1 included) rather than empty-when-missing."""

C = TypeVar("C", bound=Columns)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def _read_table(path: Path, required: Sequence[str]) -> pa.Table:
    if _is_parquet(path):
        table = pq.read_table(path)
    else:
        text_types = {c: pa.string() for c in _TEXT_COLUMNS | _HEX_COLUMNS | _SQUAWK_COLUMNS}
        try:
            table = pv.read_csv(
                path, convert_options=pv.ConvertOptions(column_types=text_types, strings_can_be_null=True)
            )
        except pa.ArrowInvalid as exc:
            raise SchemaError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise SchemaError(f"{path}: missing columns {missing} (have {table.column_names})")
    return table


def _text(column: pa.ChunkedArray) -> NDArray[np.str_]:
    return np.asarray(pc.fill_null(column.cast(pa.string()), "").to_numpy(zero_copy_only=False), dtype=str)


def _parse_hex(column: pa.ChunkedArray, path: Path, name: str) -> NDArray[np.int32]:
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        values = np.where(np.isfinite(values), values, MISSING_INT)
        return values.astype(np.int32)
    text = np.char.strip(_text(column))
    out = np.full(len(text), MISSING_INT, dtype=np.int32)
    present = text != ""
    try:
        out[present] = [int(v, 16) for v in text[present]]
    except ValueError as exc:
        raise SchemaError(f"{path}: column {name}: not a hex Mode S address ({exc})") from None
    return out


def _parse_squawk(column: pa.ChunkedArray, path: Path, name: str) -> NDArray[np.int16]:
    text = np.char.strip(_text(column))
    out = np.full(len(text), MISSING_INT, dtype=np.int16)
    present = text != ""
    if present.any():
        digits = text[present]
        valid = (np.char.str_len(digits) <= 4) & np.char.isdigit(digits)
        valid &= ~(np.char.count(digits, "8") + np.char.count(digits, "9")).astype(bool)
        if not valid.all():
            raise SchemaError(f"{path}: column {name}: {digits[~valid][0]!r} is not a 4-digit octal squawk")
        out[present] = digits.astype(np.int16)
    return out


def _numeric(column: pa.ChunkedArray) -> NDArray[np.float64]:
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type)):
        column = pc.cast(column, pa.float64(), safe=False)
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _table_to_columns(cls: type[C], table: pa.Table, path: Path) -> C:
    columns: dict[str, Any] = {}
    for name, dtype in cls.DTYPES.items():
        if name not in table.column_names:
            continue
        column = table.column(name)
        if name in _HEX_COLUMNS:
            columns[name] = _parse_hex(column, path, name)
        elif name in _SQUAWK_COLUMNS:
            columns[name] = _parse_squawk(column, path, name)
        elif np.dtype(dtype).kind == "U":
            columns[name] = _text(column)
        else:
            try:
                numeric = _numeric(column)
            except pa.ArrowInvalid as exc:
                raise SchemaError(f"{path}: column {name}: not numeric ({exc})") from None
            if np.dtype(dtype).kind in "iu":
                numeric = np.where(np.isfinite(numeric), numeric, MISSING_INT)
            columns[name] = numeric.astype(dtype)
    if "domain" in columns:
        columns["domain"] = _domain(columns["domain"], path)
    return cls.build(table.num_rows, **columns)


def _domain(values: NDArray[np.str_], path: Path) -> NDArray[np.str_]:
    """The `domain` column: empty cells are the air picture's; anything but the known domains is refused."""
    values = np.where(values == "", DOMAIN_AIR, values)
    unknown = ~np.isin(values, DOMAINS)
    if unknown.any():
        raise SchemaError(f"{path}: column domain: {values[unknown][0]!r} is not one of {', '.join(DOMAINS)}")
    return values


_HEX_DIGITS = np.frombuffer(b"0123456789ABCDEF", dtype="S1")


def _fixed_digits(values: NDArray[Any], base: int, width: int) -> pa.Array:
    """Zero-padded digits of non-negative integers (vectorised), null where the value is negative."""
    powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (np.maximum(values, 0).astype(np.int64)[:, None] // powers) % base
    text = np.ascontiguousarray(_HEX_DIGITS[digits]).view(f"S{width}").ravel()
    return pa.array(text, type=pa.binary(), mask=values < 0).cast(pa.string())


def _columns_to_table(batch: Columns, order: Sequence[str]) -> pa.Table:
    arrays: list[pa.Array] = []
    for name in order:
        values = getattr(batch, name)
        if name in _HEX_COLUMNS:
            arrays.append(_fixed_digits(values, 16, 6))
        elif name in _SQUAWK_COLUMNS:
            arrays.append(_fixed_digits(values, 10, 4))
        elif values.dtype.kind == "U":
            arrays.append(pa.array(values, type=pa.string(), mask=values == ""))
        elif values.dtype.kind in "iu" and name not in _ID_COLUMNS:
            arrays.append(pa.array(values, mask=values < 0))
        elif values.dtype.kind == "f":
            arrays.append(pa.array(values, mask=np.isnan(values)))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(order))


def _write_table(table: pa.Table, path: Path) -> None:
    """Write CSV (floats at full round-trip precision, empty cells for missing) or Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_parquet(path):
        pq.write_table(table, path)
    else:
        with path.open("wb") as sink:
            _write_csv(table, sink, header=True)


def _write_csv(table: pa.Table, sink: Any, header: bool) -> None:
    """CSV rows of `table` into an open binary file; strings are quoted only when a cell needs it."""
    options = {"include_header": header, "quoting_header": "none"}
    try:
        pv.write_csv(table, sink, pv.WriteOptions(quoting_style="none", **options))
    except pa.ArrowInvalid:  # a text cell holds a comma, quote or newline: quote the strings
        pv.write_csv(table, sink, pv.WriteOptions(quoting_style="needed", **options))


def open_cut_back(path: Path, keep_bytes: int) -> BinaryIO:
    """`path` opened for appending after its first `keep_bytes` (cut there; never grown), or new when 0 or
    missing: an output file a restarted node goes on writing from its checkpoint's size."""
    keep_bytes = min(keep_bytes, path.stat().st_size) if path.exists() else 0
    out = path.open("r+b" if keep_bytes else "wb")
    out.truncate(keep_bytes)
    out.seek(keep_bytes)
    return out


class TracksCsvWriter:
    """tracks.csv written batch by batch as a run goes (a live node's pictures), the same as `write_tracks`
    of all the batches at once, without holding them in memory."""

    def __init__(self, path: str | Path, keep_bytes: int = 0) -> None:
        """A new file, or with `keep_bytes` an existing one cut back to that size and appended to (a restarted
        node goes on from its checkpoint's size)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open_cut_back(self.path, keep_bytes)
        self._header = self._file.tell() == 0

    @property
    def size(self) -> int:
        """Bytes written so far (flushed)."""
        return self._file.tell()

    def write(self, tracks: Tracks) -> None:
        """Append rows (the header goes with the first call), flushed to the file."""
        _write_csv(_columns_to_table(tracks, TRACKS_WRITTEN), self._file, self._header)
        self._header = False
        self._file.flush()

    def sync(self) -> None:
        """Force what was written to the disk."""
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (a header alone if nothing was written)."""
        if self._header:
            self.write(Tracks.empty())
        self._file.close()


def read_plots(path: str | Path) -> Plots:
    """Read plots.csv / .parquet into a `Plots` batch, sorted by time."""
    p = Path(path)
    return _table_to_columns(Plots, _read_table(p, PLOTS_COLUMNS), p).sorted_by_time()


def write_plots(plots: Plots, path: str | Path, with_truth: bool = True) -> None:
    """Write plots in the contract's column order, plus `PLOTS_EXTRAS` and (optionally) `truth_id`."""
    order = [*PLOTS_COLUMNS, *PLOTS_EXTRAS, *(["truth_id"] if with_truth else [])]
    _write_table(_columns_to_table(plots, order), Path(path))


def read_truth(path: str | Path) -> Truth:
    """Read truth.csv / .parquet into a `Truth` batch, sorted by time."""
    p = Path(path)
    return _table_to_columns(Truth, _read_table(p, TRUTH_COLUMNS), p).sorted_by_time()


def write_truth(truth: Truth, path: str | Path) -> None:
    """Write truth in the contract's column order."""
    _write_table(_columns_to_table(truth, TRUTH_WRITTEN), Path(path))


def read_tracks(path: str | Path) -> Tracks:
    """Read tracks.csv / .parquet into a `Tracks` batch, sorted by time."""
    p = Path(path)
    return _table_to_columns(Tracks, _read_table(p, TRACKS_COLUMNS), p).sorted_by_time()


def write_tracks(tracks: Tracks, path: str | Path) -> None:
    """Write tracks in the contract's column order plus `quality`, `on_ground`, `domain` and `mmsi`."""
    _write_table(_columns_to_table(tracks, TRACKS_WRITTEN), Path(path))


def read_sensors(path: str | Path) -> list[SensorSpec]:
    """Read and validate sensors.json (a JSON list of sensor objects)."""
    p = Path(path)
    data = json.loads(p.read_text())
    if not isinstance(data, list):
        raise SchemaError(f"{p}: expected a JSON list of sensors")
    sensors = [SensorSpec.from_dict(item, source=str(p)) for item in data]
    ids = [s.id for s in sensors]
    if len(set(ids)) != len(ids):
        raise SchemaError(f"{p}: duplicate sensor ids")
    return sensors


def write_sensors(sensors: Sequence[SensorSpec], path: str | Path) -> None:
    """Write sensors.json."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps([s.to_dict() for s in sensors], indent=2) + "\n")
