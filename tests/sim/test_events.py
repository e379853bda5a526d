"""Every scenario event has its effect on the plots, and is listed in the event records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from commonsky.sim import SimulationOutput
from tests.sim.conftest import START, adsb_residuals_m, lab_config, radar_residuals, run

AT_EMERGENCY, AT_OFF, AT_SPOOF, AT_INTRUDER = 200.0, 300.0, 150.0, 60.0
OUTAGE = (200.0, 300.0)


@pytest.fixture(scope="module")
def eventful() -> SimulationOutput:
    config = lab_config()
    config["traffic"]["count"] = 40
    config["events"] = [
        {"kind": "emergency", "target_id": 3, "at_s": AT_EMERGENCY, "code": "7700"},
        {"kind": "transponder_off", "target_id": 5, "at_s": AT_OFF},
        {
            "kind": "spoofer",
            "target_id": 7,
            "at_s": AT_SPOOF,
            "offset_east_m": 3000.0,
            "offset_north_m": -2000.0,
            "drift_east_mps": 5.0,
        },
        {"kind": "sensor_outage", "sensor_id": "SSR-A", "start_s": OUTAGE[0], "end_s": OUTAGE[1]},
        {"kind": "link_outage", "partner_a": "alpha", "partner_b": "beta", "start_s": 400, "end_s": 480},
        {
            "kind": "intruder",
            "at_s": AT_INTRUDER,
            "start_lat_deg": 47.45,
            "start_lon_deg": 9.40,
            "end_lat_deg": 47.60,
            "end_lon_deg": 9.65,
            "alt_m": 300.0,
            "speed_mps": 60.0,
        },
    ]
    return run(config)


def _true_time(out: SimulationOutput) -> np.ndarray:
    offsets = {s.spec.id: s.time_offset_s for s in out.scenario.sensors}
    p = out.plots
    return p.time_s - START - np.array([offsets[s] for s in p.sensor_id.tolist()])


def test_emergency_squawk_from_its_time(eventful: SimulationOutput) -> None:
    p = eventful.plots
    t = _true_time(eventful)
    m = (p.truth_id == 3) & np.isin(p.sensor_id, ["SSR-A", "ADSB-B"])
    assert np.any(m & (t < AT_EMERGENCY)) and np.any(m & (t >= AT_EMERGENCY))
    assert (p.squawk[m & (t >= AT_EMERGENCY)] == 7700).all()
    assert (p.squawk[m & (t < AT_EMERGENCY)] != 7700).all()
    truth = eventful.truth
    k = truth.target_id == 3
    assert ((truth.squawk[k] == 7700) == (truth.time_s[k] - START >= AT_EMERGENCY)).all()


def test_transponder_off_leaves_only_primary(eventful: SimulationOutput) -> None:
    p = eventful.plots
    t = _true_time(eventful)
    target = p.truth_id == 5
    coop = target & np.isin(p.sensor_id, ["SSR-A", "ADSB-B"])
    assert np.any(coop & (t < AT_OFF))
    assert not np.any(coop & (t >= AT_OFF))
    assert np.count_nonzero(target & (p.sensor_id == "PSR-A") & (t >= AT_OFF)) > 20


def test_sensor_outage_removes_plots_in_window(eventful: SimulationOutput) -> None:
    p = eventful.plots
    t = _true_time(eventful)
    ssr = p.sensor_id == "SSR-A"
    assert not np.any(ssr & (t >= OUTAGE[0]) & (t < OUTAGE[1]))
    assert np.any(ssr & (t >= OUTAGE[0] - 20) & (t < OUTAGE[0]))
    assert np.any(ssr & (t >= OUTAGE[1]) & (t < OUTAGE[1] + 20))
    assert np.any((p.sensor_id == "PSR-A") & (t >= OUTAGE[0]) & (t < OUTAGE[1]))


def test_intruder_is_primary_only_low_and_straight(eventful: SimulationOutput) -> None:
    record = next(e for e in eventful.events if e["kind"] == "intruder")
    tid = record["target_id"]
    assert tid == 41 and record["time_s"] == START + AT_INTRUDER
    p = eventful.plots
    mine = p.truth_id == tid
    assert np.count_nonzero(mine) > 50
    assert set(np.unique(p.sensor_id[mine])) == {"PSR-A"}
    truth = eventful.truth
    k = truth.target_id == tid
    assert truth.time_s[k][0] == START + AT_INTRUDER
    assert np.allclose(truth.alt_m[k], 300.0)
    assert np.allclose(np.hypot(truth.v_east_mps[k], truth.v_north_mps[k]), 60.0)
    assert (truth.mode_s[k] == -1).all() and (truth.squawk[k] == -1).all()
    heading = np.degrees(np.arctan2(truth.v_east_mps[k], truth.v_north_mps[k]))
    assert np.ptp(heading) < 0.5, "flies straight"
    # It reaches its end point and leaves.
    assert abs(truth.lat_deg[k][-1] - 47.60) < 0.005 and abs(truth.lon_deg[k][-1] - 9.65) < 0.005
    assert record["end_time_s"] == truth.time_s[k][-1] < START + 600


def test_spoofer_moves_adsb_but_not_radar(eventful: SimulationOutput) -> None:
    p = eventful.plots
    t = _true_time(eventful)
    east, north = adsb_residuals_m(eventful, "ADSB-B")
    adsb = p.sensor_id == "ADSB-B"
    mine = p.truth_id[adsb] == 7
    after = mine & (t[adsb] >= AT_SPOOF)
    before = mine & (t[adsb] < AT_SPOOF)
    sigma = 185.2 / 2.448
    expected_east = 3000.0 + 5.0 * (t[adsb][after] - AT_SPOOF)
    assert np.count_nonzero(after) > 100 and np.count_nonzero(before) > 50
    assert abs(np.mean(east[after] - expected_east)) < 4 * sigma / np.sqrt(np.count_nonzero(after))
    assert abs(np.mean(north[after] + 2000.0)) < 4 * sigma / np.sqrt(np.count_nonzero(after))
    assert np.all(np.hypot(east[after], north[after]) > 2500.0)
    assert np.all(np.hypot(east[before], north[before]) < 5 * sigma)
    for sensor_id, bias, sigma_r in (("SSR-A", 0.0, 30.0), ("PSR-A", 200.0, 50.0)):
        range_res, _ = radar_residuals(eventful, sensor_id)
        target = p.truth_id[(p.sensor_id == sensor_id) & (p.truth_id >= 0)] == 7
        assert np.count_nonzero(target) > 30
        assert np.all(np.abs(range_res[target] - bias) < 5 * sigma_r)


def test_event_records_are_complete_and_json(eventful: SimulationOutput) -> None:
    records = json.loads(json.dumps(eventful.events))
    assert [r["kind"] for r in records] == [
        "emergency",
        "transponder_off",
        "spoofer",
        "sensor_outage",
        "link_outage",
        "intruder",
    ]
    link = records[4]
    assert link == {
        "kind": "link_outage",
        "time_s": START + 400,
        "end_time_s": START + 480,
        "partner_a": "alpha",
        "partner_b": "beta",
    }
    assert records[0]["squawk"] == "7700" and records[0]["target_id"] == 3
    assert records[2]["callsign"], "a spoofed target is ADS-B equipped"


def test_sensor_errors_are_the_injected_biases(eventful: SimulationOutput) -> None:
    assert eventful.sensor_errors["PSR-A"] == {"range_bias_m": 200.0, "azimuth_bias_deg": 0.3, "time_offset_s": 0.5}
    assert eventful.sensor_errors["SSR-A"] == {"range_bias_m": 0.0, "azimuth_bias_deg": 0.0, "time_offset_s": 0.0}
    assert set(eventful.sensor_errors) == {"PSR-A", "SSR-A", "ADSB-B"}
