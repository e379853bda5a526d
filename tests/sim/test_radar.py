"""Radar models: noise and biases match the configuration, Pd and clutter rates, coverage limits."""

from __future__ import annotations

import numpy as np
from scipy import stats

from commonsky.core.geodesy import radar_horizon_m, sensor_aer
from commonsky.sim import SimulationOutput
from commonsky.sim.simulate import traffic_seeds
from commonsky.sim.traffic import generate_traffic
from tests.sim.conftest import lab_config, radar_residuals, run, sensor_config, truth_position


def test_psr_range_and_azimuth_noise_match_sigma_and_bias(lab: SimulationOutput) -> None:
    range_res, az_res = radar_residuals(lab, "PSR-A")
    assert len(range_res) >= 10_000
    assert stats.kstest(range_res, "norm", args=(200.0, 50.0)).pvalue > 1e-3
    assert stats.kstest(az_res, "norm", args=(0.3, 0.1)).pvalue > 1e-3
    # The test has power: ignoring the bias, or a 10 % wrong sigma, is rejected.
    assert stats.kstest(range_res, "norm", args=(0.0, 50.0)).pvalue < 1e-6
    assert stats.kstest(range_res, "norm", args=(200.0, 55.0)).pvalue < 1e-3


def test_ssr_noise_is_unbiased_with_configured_sigma(lab: SimulationOutput) -> None:
    range_res, az_res = radar_residuals(lab, "SSR-A")
    assert len(range_res) >= 5_000
    assert stats.kstest(range_res, "norm", args=(0.0, 30.0)).pvalue > 1e-3
    assert stats.kstest(az_res, "norm", args=(0.0, 0.05)).pvalue > 1e-3


def test_time_offset_shifts_reported_time_only(lab: SimulationOutput) -> None:
    # Scored at the reported time (without removing the 0.5 s offset) the range residuals of a
    # moving target are visibly worse: the offset is really in the time column.
    p = lab.plots
    m = (p.sensor_id == "PSR-A") & (p.truth_id >= 0)
    lat, lon, alt = truth_position(lab, p.truth_id[m], p.time_s[m])
    _, _, slant = sensor_aer(47.5, 9.5, 800.0, lat, lon, alt)
    wrong = p.range_m[m] - slant
    right, _ = radar_residuals(lab, "PSR-A")
    assert np.nanstd(wrong) > 1.2 * np.std(right)


def test_detection_probability_within_three_standard_errors() -> None:
    config = lab_config()
    sensor_config(config, "SSR-A")["pd"] = 1.0
    every = run(config).plots
    sensor_config(config, "SSR-A")["pd"] = 0.8
    some = run(config).plots
    opportunities = np.count_nonzero(every.sensor_id == "SSR-A")
    m = some.sensor_id == "SSR-A"
    detections = np.count_nonzero(m)
    se = np.sqrt(0.8 * 0.2 / opportunities)
    assert opportunities > 5_000
    assert abs(detections / opportunities - 0.8) < 3 * se
    # Detection thins the same illuminations: every detected plot's true time is an opportunity.
    key = every.time_s[every.sensor_id == "SSR-A"]
    assert np.isin(some.time_s[m], key).all()


def test_clutter_count_matches_density_times_area(lab: SimulationOutput) -> None:
    p = lab.plots
    clutter = (p.sensor_id == "PSR-A") & (p.truth_id == -1)
    per_scan = 0.0005 * np.pi * 150.0**2
    scans = 600.0 / 4.0  # clutter times are uniform in each scan, so the run holds 150 scans' worth
    expected = per_scan * scans
    assert abs(np.count_nonzero(clutter) - expected) < 3 * np.sqrt(expected)
    assert np.all(p.range_m[clutter] <= 150_000)
    assert np.count_nonzero((p.sensor_id == "SSR-A") & (p.truth_id == -1)) == 0
    # Uniform in area: the fraction inside half the radius is 1/4.
    inner = np.mean(p.range_m[clutter] < 75_000)
    assert abs(inner - 0.25) < 3 * np.sqrt(0.25 * 0.75 / np.count_nonzero(clutter))


def test_no_plot_beyond_max_range_or_radar_horizon() -> None:
    config = lab_config()
    config["region"] = {"lat_deg": 48.5, "lon_deg": 9.5, "radius_km": 150}
    config["traffic"] |= {"count": 80, "altitude_min_m": 1000, "altitude_max_m": 4000}
    config["scenario"]["duration_s"] = 120
    for sid in ("PSR-A", "SSR-A"):
        sensor_config(config, sid).update(alt_m=10.0, max_range_m=250_000, pd=1.0)
    out = run(config)
    truth = out.truth
    for simulated in out.scenario.sensors[:2]:
        sensor = simulated.spec
        p = out.plots
        m = (p.sensor_id == sensor.id) & (p.truth_id >= 0)
        lat, lon, alt = truth_position(out, p.truth_id[m], p.time_s[m] - simulated.time_offset_s)
        _, _, slant = sensor_aer(sensor.lat_deg, sensor.lon_deg, sensor.alt_m, lat, lon, alt)
        assert np.count_nonzero(m) > 100
        assert np.all(slant <= sensor.max_range_m)
        assert np.all(slant <= radar_horizon_m(sensor.alt_m, alt))
        # The limits bite: some truth lies within max range but below the horizon, and is never seen.
        _, _, t_slant = sensor_aer(
            sensor.lat_deg, sensor.lon_deg, sensor.alt_m, truth.lat_deg, truth.lon_deg, truth.alt_m
        )
        hidden = (t_slant < sensor.max_range_m) & (t_slant > radar_horizon_m(sensor.alt_m, truth.alt_m))
        assert hidden.any()


def test_psr_and_ssr_report_contents(lab: SimulationOutput) -> None:
    p = lab.plots
    psr = p.sensor_id == "PSR-A"
    assert np.isnan(p.altitude_m[psr]).all() and (p.mode_s[psr] == -1).all() and (p.squawk[psr] == -1).all()
    assert np.isnan(p.lat_deg[psr]).all()
    ssr = (p.sensor_id == "SSR-A") & (p.truth_id >= 0)
    targets, _ = generate_traffic(lab.scenario, traffic_seeds(lab.seed))
    eq = targets.equipage[p.truth_id[ssr] - 1]
    assert (eq >= 1).all(), "SSR never replies for aircraft without transponder"
    assert ((p.mode_s[ssr] >= 0) == (eq >= 2)).all()
    assert (p.squawk[ssr] >= 0).all()
    feet = p.altitude_m[ssr] / 0.3048
    assert np.allclose(feet, np.round(feet / 100) * 100)
    _, _, alt = truth_position(lab, p.truth_id[ssr], p.time_s[ssr])
    assert np.all(np.abs(p.altitude_m[ssr] - alt) <= 50 * 0.3048 + 1e-6)
