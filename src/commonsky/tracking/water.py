"""The river's water as a constraint on vessel tracks: a vessel's state or prediction that lands ashore is moved
to the nearest water (`core.waterway.Waterway.nearest_water`) and counted.

A coasting vessel's dead-reckoned prediction runs straight, a river bends: without the constraint a barge
coasting through a radar gap would be reported on the bank and gate no plot when it comes back.
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64, I64, B
from commonsky.tracking import imm, kernels
from commonsky.tracking.state import TrackerState

ASHORE_MARGIN_M = 5.0
"""A moved position lies this far inside the water."""


def onto_water(state: TrackerState, e: F64, n: F64, h: F64) -> tuple[F64, F64, B]:
    """Frame positions (east, north, height) of vessels moved onto the water where they are ashore; with the moved
    mask. Unchanged without a waterway."""
    ashore = np.zeros(len(e), dtype=bool)
    if state.waterway is None or len(e) == 0:
        return e, n, ashore
    lat, lon, _ = kernels.geodetic_points(
        *state.sensors.kernel_frame, np.ascontiguousarray(e), np.ascontiguousarray(n), h
    )
    ashore = ~state.waterway.on_water(lat, lon) & np.isfinite(lat)
    if not ashore.any():
        return e, n, ashore
    wet_lat, wet_lon = state.waterway.nearest_water(lat[ashore], lon[ashore], ASHORE_MARGIN_M)
    we, wn, _ = state.frame.geodetic_to_enu(wet_lat, wet_lon, h[ashore])
    e, n = e.copy(), n.copy()
    e[ashore], n[ashore] = we, wn
    return e, n, ashore


def keep_on_water(state: TrackerState, rows: I64) -> None:
    """Move the vessel tracks among `rows` whose state lies ashore back onto the water (every model's mean)."""
    tr = state.tracks
    rows = rows[tr.vessel[rows]]
    if state.waterway is None or len(rows) == 0:
        return
    xc = imm.combine_mean(tr.x[rows], tr.mu[rows])
    e, n, moved = onto_water(state, xc[:, 0], xc[:, 1], xc[:, 5])
    shift = np.stack([e - xc[:, 0], n - xc[:, 1]], axis=-1)[moved]
    tr.x[rows[moved], :, :2] += shift[:, None, :]
    state.stats.vessels_ashore += int(moved.sum())
