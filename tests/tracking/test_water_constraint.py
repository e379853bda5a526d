"""The river's water as a constraint: a vessel coasting towards the bank is reported on the water, never ashore.

The real example waterway (the Danube at Komárom): a vessel crosses towards the right bank at 5 m/s and its
AIS falls silent 50 m from the bank; the dead-reckoned prediction would run ashore within ten seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commonsky.core import Plots, SensorKind, SensorSpec
from commonsky.core.batches import Tracks
from commonsky.core.geodesy import LocalFrame
from commonsky.core.waterway import Waterway
from commonsky.tracking import maintain, picture, step
from commonsky.tracking.tracker import new_state

WATERWAY = Waterway.load(Path(__file__).resolve().parents[2] / "examples" / "river" / "waterway.geojson")
AT_KM = 14_400.0
"""Where along the centreline the vessel crosses (the river is about 400 m wide there)."""
STATION = SensorSpec("AIS", "p", SensorKind.AIS, 47.7470, 18.1450, 10.0, 10.0, 0.0, 1.0, 10.0, 0.95, 40_000.0)


def crossing_plots() -> Plots:
    """AIS reports every 2 s of a vessel crossing to the right bank, from mid-river to 50 m off the bank."""
    offsets = np.arange(0.0, 151.0, 10.0)  # 5 m/s: 10 m per report
    lat, lon, _ = WATERWAY.along(np.full(len(offsets), AT_KM), offsets)
    k = len(offsets)
    return Plots.build(
        k,
        time_s=2.0 * np.arange(k),
        sensor_id=["AIS"] * k,
        lat_deg=lat,
        lon_deg=lon,
        mmsi=[243000001] * k,
        nacp=[10] * k,
        domain=["surface"] * k,
    )


def coast(waterway: Waterway | None) -> tuple[Tracks, int]:
    """The vessel's reported pictures, one per second for a minute, and how often its state was moved ashore."""
    state = new_state([STATION], frame=LocalFrame(47.7465, 18.145, 0.0), waterway=waterway)
    plots = crossing_plots()
    pictures = []
    for second in range(60):
        state, _ = step(state, plots.take((plots.time_s >= second) & (plots.time_s < second + 1)))
        state = maintain(state, second + 1.0)
        pictures.append(picture(state, second + 1.0))
    return Tracks.concat(pictures), state.stats.vessels_ashore


def test_a_coasting_vessel_is_reported_on_the_water() -> None:
    tracks, _ = coast(WATERWAY)
    late = tracks.take(tracks.time_s > 32.0)  # the last report was at 30 s, 50 m off the bank
    assert len(late) >= 5
    assert WATERWAY.on_water(late.lat_deg, late.lon_deg).all()
    assert (WATERWAY.distance_to_bank_m(late.lat_deg, late.lon_deg) < 20.0).any()  # it did reach the bank


def test_without_the_waterway_the_same_prediction_runs_ashore() -> None:
    tracks, ashore = coast(None)
    late = tracks.take(tracks.time_s > 32.0)
    assert not WATERWAY.on_water(late.lat_deg, late.lon_deg).all()
    assert ashore == 0


@pytest.mark.parametrize("offset_m", [-120.0, 0.0, 120.0])
def test_tracks_updated_on_the_water_stay_where_they_are(offset_m: float) -> None:
    lat, lon, _ = WATERWAY.along(np.full(10, AT_KM - 500.0) + 30.0 * np.arange(10), np.full(10, offset_m))
    plots = Plots.build(
        10,
        time_s=10.0 * np.arange(10),
        sensor_id=["AIS"] * 10,
        lat_deg=lat,
        lon_deg=lon,
        mmsi=[243000002] * 10,
        nacp=[10] * 10,
        domain=["surface"] * 10,
    )
    state = new_state([STATION], frame=LocalFrame(47.7465, 18.145, 0.0), waterway=WATERWAY)
    state, updates = step(state, plots)
    assert state.stats.vessels_ashore == 0
    assert np.hypot((updates.lat_deg[-1] - lat[-1]) * 111e3, (updates.lon_deg[-1] - lon[-1]) * 75e3) < 10.0
