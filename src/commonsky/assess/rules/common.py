"""What the rules share: JSON-ready evidence numbers, the evidence view of a system track, domains, sensor liveness,
common-mode losses, runs of failed tests per identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.assess.state import AssessmentState, SystemPicture
from commonsky.core.arrays import F64, I64, B
from commonsky.core.batches import sensor_kind_names
from commonsky.core.sensors import DOMAIN_SURFACE, SensorSpec


def num(x: Any) -> float | None:
    """A float for JSON: rounded to 0.1, None for NaN or infinity."""
    v = float(x)
    return round(v, 1) if np.isfinite(v) else None


def track(system: SystemPicture, k: int | np.integer[Any]) -> dict[str, Any]:
    """The evidence view of one system track row."""
    kinds = int(system.sensor_kinds[k])
    mode_s = int(system.mode_s[k])
    squawk = int(system.squawk[k])
    mmsi = int(system.mmsi[k])
    return {
        "system_id": int(system.system_id[k]),
        "time_s": float(system.time_s[k]),
        "lat_deg": round(float(system.lat_deg[k]), 6),
        "lon_deg": round(float(system.lon_deg[k]), 6),
        "alt_m": num(system.alt_m[k]),
        "v_east_mps": num(system.v_east_mps[k]),
        "v_north_mps": num(system.v_north_mps[k]),
        "mode_s": f"{mode_s:06X}" if mode_s >= 0 else None,
        "squawk": f"{squawk:04d}" if squawk >= 0 else None,
        "callsign": str(system.callsign[k]) or None,
        "mmsi": mmsi if mmsi >= 0 else None,
        "domain": str(system.domain[k]),
        "status": str(system.status[k]),
        "sensors": sensor_kind_names(kinds),
        "sources": str(system.sources[k]).split(";") if str(system.sources[k]) else [],
        "responsible": str(system.responsible[k]),
    }


def air(system: SystemPicture) -> B:
    """Rows of the air picture: the air rules never look at a vessel."""
    return np.asarray(system.domain != DOMAIN_SURFACE)


def surface(system: SystemPicture) -> B:
    """Rows of the surface picture: the surface rules never look at an aircraft."""
    return np.asarray(system.domain == DOMAIN_SURFACE)


def common_mode(last_s: F64, window_s: float, tracks: int) -> B:
    """Which of these losses (times the source was last heard) have at least `tracks` within `window_s` of them,
    the one itself included: several tracks losing a source together point to a sensor or link outage."""
    together = np.sort(last_s)
    near = np.searchsorted(together, last_s + window_s, side="right") - np.searchsorted(
        together, last_s - window_s, side="left"
    )
    return np.asarray(near >= tracks)


def sensor_up(state: AssessmentState, spec: SensorSpec, time_s: float, unknown: bool) -> bool:
    """Whether a sensor produced a plot recently; `unknown` for sensors whose plots this node never sees."""
    last = state.sensor_last_plot_s.get(spec.id)
    if last is None:
        return unknown
    return time_s - last <= state.config.sensor_alive_periods * spec.scan_period_s + 1.0


Merge = Callable[[NDArray[Any], NDArray[Any]], NDArray[Any]]
"""Merges a remembered column with this tick's values: the latest test's value per key that was tested."""


def runs_by_key(
    old_keys: NDArray[np.int32], old_streak: I64, keys: NDArray[np.int32], time_s: F64, failed: B
) -> tuple[NDArray[np.int32], I64, Merge]:
    """Runs of failed tests per identity (a Mode S address, an MMSI): this tick, any passed test of a key ends its
    run, otherwise the run grows by the key's failed tests. Returns the merged keys (sorted), their runs, and how
    to merge each remembered column with the latest test of each key tested this tick."""
    order = np.lexsort((time_s, keys))
    tested, start, count = np.unique(keys[order], return_index=True, return_counts=True)
    n_failed = np.add.reduceat(failed[order].astype(np.int64), start)
    latest = order[start + count - 1]
    merged = np.union1d(old_keys, tested).astype(np.int32)
    old, new = np.searchsorted(merged, old_keys), np.searchsorted(merged, tested)
    streak = np.zeros(len(merged), dtype=np.int64)
    streak[old] = old_streak
    streak[new] = np.where(n_failed == count, streak[new] + n_failed, 0)

    def merge(values: NDArray[Any], fresh: NDArray[Any]) -> NDArray[Any]:
        column = np.zeros(len(merged), dtype=fresh.dtype)
        column[old] = values
        column[new] = fresh[latest]
        return column

    return merged, streak, merge
