"""What the rules share: JSON-ready evidence numbers, the evidence view of a system track, sensor liveness."""

from __future__ import annotations

from typing import Any

import numpy as np

from commonsky.assess.state import AssessmentState, SystemPicture
from commonsky.core.batches import sensor_kind_names
from commonsky.core.sensors import SensorSpec


def num(x: Any) -> float | None:
    """A float for JSON: rounded to 0.1, None for NaN or infinity."""
    v = float(x)
    return round(v, 1) if np.isfinite(v) else None


def track(system: SystemPicture, k: int | np.integer[Any]) -> dict[str, Any]:
    """The evidence view of one system track row."""
    kinds = int(system.sensor_kinds[k])
    mode_s = int(system.mode_s[k])
    squawk = int(system.squawk[k])
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
        "status": str(system.status[k]),
        "sensors": sensor_kind_names(kinds),
        "sources": str(system.sources[k]).split(";") if str(system.sources[k]) else [],
        "responsible": str(system.responsible[k]),
    }


def sensor_up(state: AssessmentState, spec: SensorSpec, time_s: float, unknown: bool) -> bool:
    """Whether a sensor produced a plot recently; `unknown` for sensors whose plots this node never sees."""
    last = state.sensor_last_plot_s.get(spec.id)
    if last is None:
        return unknown
    return time_s - last <= state.config.sensor_alive_periods * spec.scan_period_s + 1.0
