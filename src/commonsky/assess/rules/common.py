"""What the rules share: JSON-ready evidence numbers, the evidence view of a system track, domains, sensor liveness,
common-mode losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from commonsky.assess.state import AssessmentState, SystemPicture
from commonsky.core.arrays import F64, B
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
