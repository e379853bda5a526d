"""write_outputs writes the file contracts, readable by the formats readers, plus the answer keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from commonsky.formats import read_plots, read_sensors, read_truth
from commonsky.sim import SimulationOutput, write_outputs


def test_outputs_round_trip(lab: SimulationOutput, tmp_path: Path) -> None:
    write_outputs(lab, tmp_path / "run")
    d = tmp_path / "run"
    assert sorted(p.name for p in d.iterdir()) == [
        "events.json",
        "plots.csv",
        "sensor_errors.json",
        "sensors.json",
        "truth.csv",
    ]
    assert read_sensors(d / "sensors.json") == lab.sensors
    plots = read_plots(d / "plots.csv")
    assert len(plots) == len(lab.plots)
    assert np.array_equal(plots.truth_id, lab.plots.truth_id)
    assert np.array_equal(plots.mode_s, lab.plots.mode_s) and np.array_equal(plots.squawk, lab.plots.squawk)
    assert np.array_equal(plots.callsign, lab.plots.callsign)
    assert np.allclose(plots.range_m, lab.plots.range_m, equal_nan=True, rtol=1e-9)
    truth = read_truth(d / "truth.csv")
    assert len(truth) == len(lab.truth) and np.array_equal(truth.target_id, lab.truth.target_id)
    assert json.loads((d / "events.json").read_text()) == lab.events
    assert json.loads((d / "sensor_errors.json").read_text()) == lab.sensor_errors


def test_sensors_publish_nominal_accuracy_not_biases(lab: SimulationOutput) -> None:
    psr = next(s for s in lab.sensors if s.id == "PSR-A")
    assert psr.to_dict() == {
        "id": "PSR-A",
        "partner": "alpha",
        "kind": "psr",
        "lat_deg": 47.5,
        "lon_deg": 9.5,
        "alt_m": 800.0,
        "sigma_range_m": 50.0,
        "sigma_azimuth_deg": 0.1,
        "sigma_altitude_m": 0.0,
        "scan_period_s": 4.0,
        "pd": 0.8,
        "max_range_m": 150_000.0,
        "max_elevation_deg": 90.0,
    }
    adsb = next(s for s in lab.sensors if s.id == "ADSB-B")
    assert adsb.scan_period_s == 1.0 and abs(adsb.sigma_range_m - 185.2 / 2.448) < 1e-9


def test_plot_times_survive_the_csv(lab: SimulationOutput, tmp_path: Path) -> None:
    write_outputs(lab, tmp_path)
    plots = read_plots(tmp_path / "plots.csv")
    assert np.abs(plots.time_s - lab.plots.time_s).max() < 1e-3
