"""Synthetic system pictures for the unit tests of `commonsky.assess`."""

from __future__ import annotations

from typing import Any

import numpy as np

from commonsky.assess import AssessmentConfig, AssessmentState, Zones, new_assessment_state
from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR
from commonsky.fusion import SystemTracks

T0 = 1_780_000_000.0
PSR = SENSOR_PSR
SSR = SENSOR_SSR
ADSB = SENSOR_ADSB


def picture(time_s: float, **columns: Any) -> SystemTracks:
    """System tracks at one time: the given columns (lists) and defaults (confirmed, 1 km-sigma, near 47.5/9.5)."""
    n = len(columns["system_id"])
    defaults: dict[str, Any] = {
        "lat_deg": np.full(n, 47.0),
        "lon_deg": np.full(n, 9.0) + 0.2 * np.arange(n),
        "alt_m": np.full(n, 5000.0),
        "v_east_mps": np.zeros(n),
        "v_north_mps": np.zeros(n),
        "v_up_mps": np.zeros(n),
        "cov_ee": np.full(n, 1e4),
        "cov_nn": np.full(n, 1e4),
        "cov_en": np.zeros(n),
        "status": np.full(n, "confirmed"),
        "sensor_kinds": np.full(n, PSR),
    }
    defaults.update({k: np.asarray(v) for k, v in columns.items()})
    return SystemTracks.build(n, time_s=np.full(n, time_s), **defaults)


def state(zones: Zones | None = None, **config: Any) -> AssessmentState:
    """A fresh assessment with config overrides and no sensors."""
    return new_assessment_state(AssessmentConfig(**config), zones or Zones.empty(), [])
