"""End to end with real trackers: two partners' `commonsky.tracking` nodes, each with its own radar,
export `reports()` once a second; fusion makes one system track that is tighter than either.

The radars look at the aircraft from directions about 90° apart, so their cross-range errors
(the long axis of each track's position ellipse) are nearly orthogonal: the case where
covariance intersection gains most.
"""

from __future__ import annotations

import numpy as np

from commonsky.core import Plots, SensorKind, SensorSpec
from commonsky.core.batches import TrackReports
from commonsky.core.geodesy import sensor_aer
from commonsky.fusion import fuse
from commonsky.fusion.frames import surface_to_geodetic
from commonsky.tracking import new_state, reports, step

from .helpers import FRAME, state, to_enu

ALT_M = 9000.0
MODE_S = 0x4CA2B1


def _radar(sensor_id: str, lat: float, lon: float) -> SensorSpec:
    return SensorSpec(sensor_id, sensor_id, SensorKind.SSR, lat, lon, 500.0, 40.0, 0.1, 9.0, 4.0, 1.0, 300e3)


def _truth(t: np.ndarray) -> np.ndarray:
    return np.stack([-20e3 + 180.0 * t, 5e3 + 60.0 * t, np.full_like(t, 180.0), np.full_like(t, 60.0)], -1)


def _plots(sensor: SensorSpec, t: np.ndarray, rng: np.random.Generator) -> Plots:
    x = _truth(t)
    lat, lon = surface_to_geodetic(FRAME, x[:, 0], x[:, 1])
    az, _, rng_m = sensor_aer(sensor.lat_deg, sensor.lon_deg, sensor.alt_m, lat, lon, np.full(len(t), ALT_M))
    k = len(t)
    return Plots.build(
        k,
        time_s=t,
        sensor_id=[sensor.id] * k,
        range_m=rng_m + rng.normal(0.0, sensor.sigma_range_m, k),
        azimuth_deg=np.mod(az + rng.normal(0.0, sensor.sigma_azimuth_deg, k), 360.0),
        altitude_m=np.full(k, ALT_M),
        mode_s=[MODE_S] * k,
        squawk=[3521] * k,
    )


def test_two_tracker_nodes_fuse_into_one_tighter_track() -> None:
    rng = np.random.default_rng(11)
    # FRAME is at 50 N, 8 E; one radar 70 km south, one 70 km east of the flight.
    radars = {"south": _radar("south", 49.37, 8.0), "east": _radar("east", 50.05, 9.0)}
    duration = 160
    plots = {
        o: _plots(r, np.arange(0.3 + i, duration, r.scan_period_s), rng) for i, (o, r) in enumerate(radars.items())
    }
    nodes = {o: new_state([r], frame=FRAME) for o, r in radars.items()}
    fusion = state()
    nees: list[float] = []
    numbers: set[int] = set()
    for t in range(1, duration + 1):
        parts = []
        for owner, node in nodes.items():
            p = plots[owner]
            nodes[owner], _ = step(node, p.take((p.time_s >= t - 1) & (p.time_s < t)))
            parts.append(reports(nodes[owner], owner, float(t)))
        fusion, pic = fuse(fusion, TrackReports.concat(parts), float(t))
        if t < 40:
            continue
        assert len(pic) == 1
        assert pic.n_sources[0] == 2
        assert pic.mode_s[0] == MODE_S
        numbers.add(int(pic.system_id[0]))
        cov = pic.covariance()[0]
        inputs = [np.trace(r.covariance()[0]) for r in parts]
        assert np.trace(cov) < min(inputs)
        e, n = to_enu(pic)
        err = np.array([e[0], n[0], pic.v_east_mps[0], pic.v_north_mps[0]]) - _truth(np.array([float(t)]))[0]
        nees.append(float(err @ np.linalg.solve(cov, err)))
    assert numbers == {1}
    assert fusion.stats.number_changes == 0
    # Tracker errors are correlated in time, so this is a loose check of consistency (4 expected, CI below).
    assert np.mean(nees) < 6.0
