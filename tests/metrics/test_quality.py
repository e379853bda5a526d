"""Per-sensor quality against truth (`commonsky quality`): a simulated run with injected biases, time offset, pd and
clutter must give them back within their reported uncertainty, and the requirement table must judge them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from commonsky.cli import app
from commonsky.core import ConfigError, Plots, SensorKind, SensorSpec, Truth
from commonsky.core.geodesy import sensor_aer
from commonsky.metrics import QualityReport, RequirementSet, evaluate_quality, sensor_quality
from commonsky.sim import SimulationOutput, parse_scenario, simulate, write_outputs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
CLUTTER_PER_KM2 = 0.0002
PSR_RANGE_M = 150_000.0
PSR = {
    "id": "PSR",
    "kind": "psr",
    "lat_deg": 47.45,
    "lon_deg": 9.4,
    "alt_m": 800,
    "sigma_range_m": 60,
    "sigma_azimuth_deg": 0.12,
    "scan_period_s": 4,
    "pd": 0.8,
    "max_range_m": PSR_RANGE_M,
    "clutter_density_per_km2": CLUTTER_PER_KM2,
    "range_bias_m": 150,
    "azimuth_bias_deg": 0.2,
    "time_offset_s": 0.8,
}
SCENARIO: dict[str, Any] = {
    "scenario": {"name": "quality", "seed": 11, "duration_s": 300, "start_time_s": 1_780_000_000},
    "region": {"lat_deg": 47.5, "lon_deg": 9.5, "radius_km": 60},
    "partners": [
        {
            "id": "a",
            "name": "A",
            "sensors": [
                PSR,
                {
                    "id": "SSR",
                    "kind": "ssr",
                    "lat_deg": 47.6,
                    "lon_deg": 9.7,
                    "alt_m": 900,
                    "sigma_range_m": 30,
                    "sigma_azimuth_deg": 0.06,
                    "scan_period_s": 5,
                    "pd": 0.95,
                    "max_range_m": 200_000,
                },
                {
                    # A short-range radar: targets cross its coverage edge, which must not count as misses.
                    "id": "GAP",
                    "kind": "psr",
                    "lat_deg": 47.5,
                    "lon_deg": 9.5,
                    "alt_m": 300,
                    "sigma_range_m": 40,
                    "sigma_azimuth_deg": 0.1,
                    "scan_period_s": 4,
                    "pd": 0.9,
                    "max_range_m": 35_000,
                },
                {
                    # Detects every target it covers: a scan counted as missed is a flaw of the counting.
                    "id": "SURE",
                    "kind": "psr",
                    "lat_deg": 47.55,
                    "lon_deg": 9.45,
                    "alt_m": 400,
                    "sigma_range_m": 50,
                    "sigma_azimuth_deg": 0.1,
                    "scan_period_s": 5,
                    "pd": 1.0,
                    "max_range_m": 100_000,
                    "azimuth_bias_deg": 0.3,
                },
                {
                    "id": "ADSB",
                    "kind": "adsb",
                    "lat_deg": 47.5,
                    "lon_deg": 9.5,
                    "alt_m": 500,
                    "pd": 0.9,
                    "max_range_m": 250_000,
                    "nacp": 8,
                },
            ],
        }
    ],
    "traffic": {"count": 60, "altitude_min_m": 3000, "altitude_max_m": 12000},
}
"""60 aircraft for 300 s: a biased, late-stamping PSR with clutter, an unbiased SSR, a short-range PSR, a PSR that
never misses, ADS-B."""


@pytest.fixture(scope="module")
def run() -> SimulationOutput:
    """The simulated run every test here measures."""
    return simulate(parse_scenario(SCENARIO))


@pytest.fixture(scope="module")
def report(run: SimulationOutput) -> QualityReport:
    """Its quality against truth, checked against the default requirement set."""
    return evaluate_quality(run.sensors, run.plots, run.truth)


def test_biases_and_time_offset_come_back_within_two_standard_errors(report: QualityReport) -> None:
    psr, ssr = report.sensors["PSR"], report.sensors["SSR"]
    for quality, injected in ((psr, (150.0, 0.2, 0.8)), (ssr, (0.0, 0.0, 0.0))):
        estimates = (quality.range_bias_m, quality.azimuth_bias_deg, quality.time_offset_s)
        errors = (quality.range_bias_se_m, quality.azimuth_bias_se_deg, quality.time_offset_se_s)
        intervals = (quality.range_bias_ci_m, quality.azimuth_bias_ci_deg, quality.time_offset_ci_s)
        for estimate, se, ci, truth in zip(estimates, errors, intervals, injected, strict=True):
            assert estimate is not None and se is not None and ci is not None
            assert abs(estimate - truth) <= 2.0 * se
            assert ci[0] < estimate < ci[1] and ci[1] - ci[0] < 5.0 * se
    # The standard errors are those of a few thousand plots, so the check above is tight.
    assert psr.range_bias_se_m is not None and psr.range_bias_se_m < 2.0
    assert psr.time_offset_se_s is not None and psr.time_offset_se_s < 0.01
    assert psr.range_sd_m == pytest.approx(60.0, rel=0.05)
    assert psr.azimuth_sd_deg == pytest.approx(0.12, rel=0.05)


def test_pd_per_scan_in_coverage_matches_the_configured_one(report: QualityReport) -> None:
    for sid, configured in (("PSR", 0.8), ("SSR", 0.95), ("GAP", 0.9), ("ADSB", 0.9)):
        quality = report.sensors[sid]
        assert quality.pd is not None and quality.pd_ci is not None
        assert abs(quality.pd - configured) <= 0.02, sid
        assert quality.pd_ci[0] < quality.pd < quality.pd_ci[1]
        assert quality.detected_scans <= quality.target_scans
    gap, psr = report.sensors["GAP"], report.sensors["PSR"]
    assert 0 < gap.targets_in_coverage < psr.targets_in_coverage


def test_a_radar_that_never_misses_has_pd_one(report: QualityReport) -> None:
    """Every covered turn holds exactly one plot, also for targets crossing north, where a measured azimuth may wrap
    to the next turn and the beam meets a target twice in one turn or in none."""
    sure = report.sensors["SURE"]
    assert sure.target_scans > 1000 and sure.detected_scans == sure.target_scans and sure.pd == 1.0


def test_codes_and_false_plots(report: QualityReport) -> None:
    psr, ssr, adsb = report.sensors["PSR"], report.sensors["SSR"], report.sensors["ADSB"]
    assert ssr.mode_a_present == 1.0 and ssr.mode_a_correct is not None and ssr.mode_a_correct > 0.99
    assert ssr.mode_c_present == 1.0 and ssr.mode_c_correct is not None and ssr.mode_c_correct > 0.99
    assert adsb.mode_a_correct is not None and adsb.mode_a_correct > 0.99 and adsb.mode_c_correct is None
    assert psr.mode_a_correct is psr.mode_c_correct is None
    expected = CLUTTER_PER_KM2 * math.pi * (PSR_RANGE_M / 1000.0) ** 2
    assert psr.false_plots_per_scan is not None
    assert abs(psr.false_plots_per_scan - expected) <= 3.0 * math.sqrt(expected / psr.scans)
    assert ssr.false_plots_per_scan == 0.0
    assert adsb.position_error_rms_m is not None and 20.0 < adsb.position_error_rms_m < 100.0
    assert adsb.range_bias_m is None and psr.position_error_rms_m is None


def test_the_requirement_table_judges_each_radar(report: QualityReport) -> None:
    rows = {(r.sensor, r.figure): r for r in report.requirements}
    assert {sensor for sensor, _ in rows} == {"PSR", "SSR", "GAP", "SURE"}  # the radar standard does not judge ADS-B
    psr_azimuth = rows["PSR", "azimuth_sd_deg"]  # configured sigma 0.12 deg against at most 0.08 deg
    assert psr_azimuth.passed is False and psr_azimuth.margin == pytest.approx(0.08 - 0.12, abs=0.006)
    assert rows["SSR", "azimuth_sd_deg"].passed is True  # configured 0.06 deg
    assert rows["PSR", "range_sd_m"].passed is True  # configured 60 m against at most 70 m
    assert rows["PSR", "pd"].passed is False and rows["SSR", "pd"].passed is False  # 0.8 and 0.95 against 0.97
    assert rows["SSR", "mode_a_correct"].passed is True and rows["SSR", "mode_c_correct"].passed is True
    assert ("PSR", "mode_a_correct") not in rows


def test_a_requirement_file_bounds_signed_figures_by_magnitude(run: SimulationOutput, tmp_path: Path) -> None:
    path = tmp_path / "registration.toml"
    path.write_text(
        'name = "registration"\nsource = "a test"\n'
        '[[requirement]]\nfigure = "range_bias_m"\nat_most = 100\nkinds = ["psr"]\n'
        '[[requirement]]\nfigure = "position_error_rms_m"\nat_most = 100\nkinds = ["adsb"]\n'
    )
    checked = evaluate_quality(run.sensors, run.plots, run.truth, RequirementSet.load(path))
    rows = {(r.sensor, r.figure): r for r in checked.requirements}
    assert {sensor for sensor, _ in rows} == {"PSR", "GAP", "SURE", "ADSB"}
    assert rows["PSR", "range_bias_m"].passed is False
    assert rows["PSR", "range_bias_m"].margin == pytest.approx(-50.0, abs=5.0)
    assert rows["GAP", "range_bias_m"].passed is True and rows["ADSB", "position_error_rms_m"].passed is True


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('figure = "pd"\nat_least = 0.9\nat_most = 1.0\n', "exactly one of at_least and at_most"),
        ('figure = "pd"\n', "exactly one of at_least and at_most"),
        ('figure = "speed"\nat_least = 1\n', "one of pd"),
        ('figure = "pd"\nat_least = 0.9\nkinds = ["lidar"]\n', "sensor kinds"),
        ('figure = "pd"\nat_least = 0.9\nmargin = 1\n', "unknown key"),
    ],
)
def test_a_bad_requirement_file_names_its_key(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\nsource = "a test"\n[[requirement]]\n{body}')
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        RequirementSet.load(path)
    assert caught.value.key.startswith("requirement[0].")


def test_stationary_targets_leave_the_time_offset_unknown_and_the_biases_measured() -> None:
    """Targets that do not move cannot show a time offset: the biases are fitted alone; every turn is counted once."""
    spec = SensorSpec("R", "a", SensorKind.PSR, 47.0, 9.0, 500.0, 30.0, 0.05, 0.0, 4.0, 1.0, 100_000.0)
    seconds = np.arange(120.0)
    # The first target sits just east of north, where its measured azimuths (bias -0.1 deg) wrap below 360.
    lat, lon = np.array([47.2, 46.9, 47.1]), np.array([9.0005, 9.3, 8.7])
    truth = Truth.build(
        time_s=np.tile(seconds, 3),
        target_id=np.repeat([1, 2, 3], len(seconds)),
        lat_deg=np.repeat(lat, len(seconds)),
        lon_deg=np.repeat(lon, len(seconds)),
        alt_m=np.full(3 * len(seconds), 3000.0),
        v_east_mps=np.zeros(3 * len(seconds)),
        v_north_mps=np.zeros(3 * len(seconds)),
        v_up_mps=np.zeros(3 * len(seconds)),
    )
    az, _, slant = sensor_aer(47.0, 9.0, 500.0, lat, lon, 3000.0)
    turns = np.arange(2, 28)
    rng = np.random.default_rng(1)
    n = 3 * len(turns)
    plots = Plots.build(
        time_s=np.tile(turns * 4.0, 3) + np.repeat(az, len(turns)) / 360.0 * 4.0,
        sensor_id=np.full(n, "R"),
        range_m=np.repeat(slant, len(turns)) + 80.0 + 30.0 * rng.standard_normal(n),
        azimuth_deg=np.mod(np.repeat(az, len(turns)) - 0.1 + 0.05 * rng.standard_normal(n), 360.0),
        truth_id=np.repeat([1, 2, 3], len(turns)),
    )
    quality = sensor_quality([spec], plots, truth)["R"]
    assert quality.time_offset_s is None and quality.time_offset_ci_s is None
    assert quality.range_bias_m is not None and quality.range_bias_se_m is not None
    assert abs(quality.range_bias_m - 80.0) <= 3.0 * quality.range_bias_se_m
    assert quality.azimuth_bias_deg is not None and quality.azimuth_bias_se_deg is not None
    assert abs(quality.azimuth_bias_deg + 0.1) <= 3.0 * quality.azimuth_bias_se_deg
    assert quality.pd == 1.0 and quality.targets_in_coverage == 3


def _documented_sensor_keys() -> set[str]:
    """The keys the `sensors.<id>` table of docs/formats.md's quality.json section lists."""
    section = DOCS.read_text().split("## quality.json (`commonsky quality`)")[1].split("\n## ")[0]
    table = section.split("`sensors.<id>` holds these keys")[1].split("\n\n")[1]
    return {key for line in table.splitlines()[2:] for key in re.findall(r"`(\w+)`", line.split("|")[1])}


def test_the_cli_writes_the_documented_json(run: SimulationOutput, tmp_path: Path) -> None:
    write_outputs(run, tmp_path)
    files = ["--sensors", str(tmp_path / "sensors.json"), "--plots", str(tmp_path / "plots.csv")]
    out = tmp_path / "q.json"
    result = CliRunner().invoke(app, ["quality", *files, "--truth", str(tmp_path / "truth.csv"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert set(written) == {"reference", "confidence", "requirement_set", "sensors", "requirements"}
    assert written["reference"] == "truth" and "SUR.ET1.ST01.1000-STD-01-01" in written["requirement_set"]["source"]
    assert list(written["sensors"]) == ["PSR", "SSR", "GAP", "SURE", "ADSB"]
    for figures in written["sensors"].values():
        assert set(figures) == _documented_sensor_keys()
    assert written["sensors"]["PSR"]["range_bias_m"] == pytest.approx(150.0, abs=5.0)
    assert len(written["sensors"]["PSR"]["range_bias_ci_m"]) == 2
    assert all(
        set(row) == {"sensor", "figure", "required", "comparison", "measured", "pass", "margin"}
        for row in written["requirements"]
    )
    assert "PSR (psr, a)" in result.output and "fail" in result.output
    refused = CliRunner().invoke(app, ["quality", *files, "--json", str(tmp_path / "r.json")])
    assert refused.exit_code == 2 and "ADS-B and fused references are not built yet" in " ".join(refused.output.split())
    assert not (tmp_path / "r.json").exists()
