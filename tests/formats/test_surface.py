"""ADS-B surface positions (BDS 0,6) of a real flight: decoded with the receiver's reference as pyModeS
decodes them, flagged on the ground, and tracked on the ground."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyModeS
import pytest

from commonsky.core.sensors import SensorSpec
from commonsky.formats.files import decode_file
from commonsky.tracking import run

DATA = Path(__file__).resolve().parents[1] / "data" / "modes" / "full_flight_short_surface_positions.jsonl"
LFPG = (49.0097, 2.5479)
"""Paris Charles de Gaulle, where the flight taxis out: the receiver's reference for local decoding."""


TOULOUSE_SOUTH_OF = 46.0
"""The flight lands at Toulouse (LFBO), 5 degrees south of its receiver reference: beyond a surface
position's local decoding range (half a 1.5-degree zone), where only the aircraft's own positions help."""


@pytest.fixture(scope="module")
def frames() -> list[dict[str, float | str]]:
    """Every surface position of the flight, with the airborne positions of its last five minutes before landing."""
    return [json.loads(line) for line in DATA.read_text().splitlines()]


def _surface(frame: str) -> bool:
    return 5 <= int(frame[8:10], 16) >> 3 <= 8


def test_surface_positions_with_a_reference_decode_as_pymodes_does(frames: list[dict[str, float | str]]) -> None:
    plots = decode_file(DATA, "modes", sensor_id="rx", reference=LFPG).plots
    assert plots.on_ground.sum() == sum(_surface(str(f["frame"])) for f in frames)
    ground = plots.take(np.flatnonzero(plots.on_ground))
    assert np.isnan(ground.altitude_m).all()  # a surface position carries no altitude
    assert not plots.on_ground[~np.isnan(plots.altitude_m)].any()
    taxi_out = [f for f in frames if _surface(str(f["frame"])) and float(f["latitude"]) > TOULOUSE_SOUTH_OF]
    expected = [pyModeS.decode(str(f["frame"]), surface_ref=LFPG) for f in taxi_out]
    mine = ground.take(np.flatnonzero(ground.lat_deg > TOULOUSE_SOUTH_OF))
    np.testing.assert_allclose(mine.lat_deg, [e["latitude"] for e in expected], atol=1e-9)
    np.testing.assert_allclose(mine.lon_deg, [e["longitude"] for e in expected], atol=1e-9)


def test_after_landing_far_from_the_reference_the_aircraft_s_own_positions_decode_its_surface_positions(
    frames: list[dict[str, float | str]],
) -> None:
    plots = decode_file(DATA, "modes", sensor_id="rx", reference=LFPG).plots
    ground = plots.take(np.flatnonzero(plots.on_ground & (plots.time_s > float(frames[-1]["timestamp"]) - 1800.0)))
    landed = [f for f in frames if _surface(str(f["frame"])) and float(f["latitude"]) < TOULOUSE_SOUTH_OF]
    assert len(ground) == len(landed)
    np.testing.assert_allclose(ground.lat_deg, [f["latitude"] for f in landed], atol=1e-6)  # rs1090's decode
    np.testing.assert_allclose(ground.lon_deg, [f["longitude"] for f in landed], atol=1e-6)


def test_without_a_reference_a_surface_position_with_no_own_position_is_not_guessed(
    frames: list[dict[str, float | str]],
) -> None:
    plots = decode_file(DATA, "modes", sensor_id="rx").plots
    first_airborne = min(float(f["timestamp"]) for f in frames if not _surface(str(f["frame"])))
    assert not (plots.time_s < first_airborne).any()  # the taxi out at Paris: nothing to decode it against
    assert plots.on_ground.any()  # the landing at Toulouse: decoded against the aircraft's own positions


def test_an_aircraft_on_the_ground_is_tracked_and_flagged_on_the_ground(frames: list[dict[str, float | str]]) -> None:
    decoded = decode_file(DATA, "modes", sensor_id="rx", reference=LFPG)
    taxi = decoded.plots.take(np.flatnonzero(decoded.plots.time_s < float(frames[0]["timestamp"]) + 600.0))
    receiver = SensorSpec.receiver("rx", "local", *LFPG)
    tracks, _ = run([receiver], taxi)
    assert len(np.unique(tracks.track_id)) == 1
    assert (tracks.on_ground == 1).all()
    assert np.isnan(tracks.alt_m).all()  # no height on the ground: surface positions carry none
    assert np.hypot(tracks.v_east_mps, tracks.v_north_mps).max() < 30.0  # taxiing, not flying
