"""Readers and writers of the file contracts in docs/formats.md: sensors.json, plots, truth, tracks.

CSV and Parquet are both accepted on input (chosen by suffix: `.parquet`/`.pq` or anything else
as CSV); missing values are empty cells. Mode S addresses travel as 6 hex digits and squawks as
4 octal digits, so a file opened in a spreadsheet reads as an engineer expects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from commonsky.core.batches import MISSING_INT, Columns, Plots, Tracks, Truth
from commonsky.core.errors import SchemaError
from commonsky.core.sensors import SensorSpec

PLOTS_COLUMNS = [
    "time_s", "sensor_id", "range_m", "azimuth_deg", "altitude_m", "lat_deg", "lon_deg",
    "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Required columns of plots.csv, in order; `nacp` and `truth_id` are optional extras."""
TRUTH_COLUMNS = [
    "time_s", "target_id", "lat_deg", "lon_deg", "alt_m", "v_east_mps", "v_north_mps", "v_up_mps",
    "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Columns of truth.csv, in order."""
TRACKS_COLUMNS = [
    "time_s", "track_id", "lat_deg", "lon_deg", "alt_m", "v_east_mps", "v_north_mps", "v_up_mps",
    "status", "mode_s", "squawk", "callsign",
]  # fmt: skip
"""Required columns of tracks.csv, in order; `quality` is an optional extra."""

_HEX_COLUMNS = {"mode_s"}
_SQUAWK_COLUMNS = {"squawk"}
_TEXT_COLUMNS = {"sensor_id", "callsign", "status"}

C = TypeVar("C", bound=Columns)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def _read_frame(path: Path, required: Sequence[str]) -> pd.DataFrame:
    if _is_parquet(path):
        frame = pd.read_parquet(path)
    else:
        text_cols = _TEXT_COLUMNS | _HEX_COLUMNS | _SQUAWK_COLUMNS
        frame = pd.read_csv(path, dtype={c: str for c in text_cols}, keep_default_na=False, na_values=[""])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SchemaError(f"{path}: missing columns {missing} (have {list(frame.columns)})")
    return frame


def _parse_hex(values: pd.Series, path: Path, column: str) -> NDArray[np.int32]:
    out = np.full(len(values), MISSING_INT, dtype=np.int32)
    if values.dtype.kind in "iuf":
        numeric = values.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(numeric)
        out[ok] = numeric[ok].astype(np.int32)
        return out
    text = values.fillna("").astype(str).str.strip().to_numpy()
    present = text != ""
    try:
        out[present] = [int(v, 16) for v in text[present]]
    except ValueError as exc:
        raise SchemaError(f"{path}: column {column}: not a hex Mode S address ({exc})") from None
    return out


def _parse_squawk(values: pd.Series, path: Path, column: str) -> NDArray[np.int16]:
    out = np.full(len(values), MISSING_INT, dtype=np.int16)
    text = values.astype("string").fillna("").str.strip().to_numpy(dtype=str)
    present = text != ""
    if present.any():
        digits = text[present]
        bad = [v for v in digits if len(v) > 4 or not v.isdigit() or any(ch in "89" for ch in v)]
        if bad:
            raise SchemaError(f"{path}: column {column}: {bad[0]!r} is not a 4-digit octal squawk")
        out[present] = np.array([int(v) for v in digits], dtype=np.int16)
    return out


def _frame_to_columns(cls: type[C], frame: pd.DataFrame, path: Path) -> C:
    columns: dict[str, Any] = {}
    for name, dtype in cls.DTYPES.items():
        if name not in frame.columns:
            continue
        series = frame[name]
        if name in _HEX_COLUMNS:
            columns[name] = _parse_hex(series, path, name)
        elif name in _SQUAWK_COLUMNS:
            columns[name] = _parse_squawk(series, path, name)
        elif np.dtype(dtype).kind == "U":
            columns[name] = series.astype("string").fillna("").to_numpy(dtype=str)
        elif np.dtype(dtype).kind in "iu":
            numeric = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            columns[name] = np.where(np.isfinite(numeric), numeric, MISSING_INT).astype(dtype)
        else:
            columns[name] = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return cls.build(len(frame), **columns)


def _columns_to_frame(batch: Columns, order: Sequence[str]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name in order:
        values = getattr(batch, name)
        if name in _HEX_COLUMNS:
            data[name] = pd.array([f"{v:06X}" if v >= 0 else None for v in values.tolist()], dtype="string")
        elif name in _SQUAWK_COLUMNS:
            data[name] = pd.array([f"{v:04d}" if v >= 0 else None for v in values.tolist()], dtype="string")
        elif values.dtype.kind == "U":
            data[name] = pd.array([v if v else None for v in values.tolist()], dtype="string")
        elif values.dtype.kind in "iu" and name not in {"track_id", "target_id", "truth_id"}:
            data[name] = pd.arrays.IntegerArray(values.astype(np.int64), mask=values < 0)
        else:
            data[name] = values
    return pd.DataFrame(data)


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_parquet(path):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.10g")


def read_plots(path: str | Path) -> Plots:
    """Read plots.csv / .parquet into a `Plots` batch, sorted by time."""
    p = Path(path)
    return _frame_to_columns(Plots, _read_frame(p, PLOTS_COLUMNS), p).sorted_by_time()


def write_plots(plots: Plots, path: str | Path, with_truth: bool = True) -> None:
    """Write plots in the contract's column order, plus `nacp` and (optionally) `truth_id`."""
    order = [*PLOTS_COLUMNS, "nacp", *(["truth_id"] if with_truth else [])]
    _write_frame(_columns_to_frame(plots, order), Path(path))


def read_truth(path: str | Path) -> Truth:
    """Read truth.csv / .parquet into a `Truth` batch, sorted by time."""
    p = Path(path)
    return _frame_to_columns(Truth, _read_frame(p, TRUTH_COLUMNS), p).sorted_by_time()


def write_truth(truth: Truth, path: str | Path) -> None:
    """Write truth in the contract's column order."""
    _write_frame(_columns_to_frame(truth, TRUTH_COLUMNS), Path(path))


def read_tracks(path: str | Path) -> Tracks:
    """Read tracks.csv / .parquet into a `Tracks` batch, sorted by time."""
    p = Path(path)
    return _frame_to_columns(Tracks, _read_frame(p, TRACKS_COLUMNS), p).sorted_by_time()


def write_tracks(tracks: Tracks, path: str | Path) -> None:
    """Write tracks in the contract's column order plus `quality`."""
    _write_frame(_columns_to_frame(tracks, [*TRACKS_COLUMNS, "quality"]), Path(path))


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
