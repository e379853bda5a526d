"""ADS-B ground station: NACp-derived position noise, altitude quantisation, identity and update rate."""

from __future__ import annotations

import numpy as np
from scipy import stats

from commonsky.sim import SimulationOutput
from commonsky.sim.scenario import NACP_EPU_M
from commonsky.sim.simulate import traffic_seeds
from commonsky.sim.traffic import generate_traffic
from tests.sim.conftest import adsb_residuals_m, truth_position


def test_position_noise_sigma_follows_nacp(lab: SimulationOutput) -> None:
    east, north = adsb_residuals_m(lab, "ADSB-B")
    sigma = NACP_EPU_M[7] / 2.448
    assert len(east) > 10_000
    for residual in (east, north):
        assert stats.kstest(residual, "norm", args=(0.0, sigma)).pvalue > 1e-3
        # Chi-square test of the variance at the 99.9 % level.
        chi2 = np.sum(residual**2) / sigma**2
        dof = len(residual)
        assert stats.chi2.ppf(0.0005, dof) < chi2 < stats.chi2.ppf(0.9995, dof)
    # 95 % of the horizontal errors lie within the EPU bound.
    assert abs(np.mean(np.hypot(east, north) < NACP_EPU_M[7]) - 0.95) < 0.01


def test_reports_carry_identity_and_quantised_altitude(lab: SimulationOutput) -> None:
    p = lab.plots
    m = p.sensor_id == "ADSB-B"
    targets, _ = generate_traffic(lab.scenario, traffic_seeds(lab.seed))
    index = p.truth_id[m] - 1
    assert (targets.equipage[index] == 3).all(), "only ADS-B equipped aircraft report"
    assert (p.mode_s[m] == targets.mode_s[index]).all()
    assert (p.callsign[m] == targets.callsign[index]).all() and (p.callsign[m] != "").all()
    assert (p.squawk[m] == targets.squawk[index]).all()
    assert (p.nacp[m] == 7).all()
    assert np.isnan(p.range_m[m]).all() and np.isnan(p.azimuth_deg[m]).all()
    feet = p.altitude_m[m] / 0.3048
    assert np.allclose(feet, np.round(feet / 25) * 25)
    _, _, alt = truth_position(lab, p.truth_id[m], p.time_s[m])
    assert np.all(np.abs(p.altitude_m[m] - alt) <= 12.5 * 0.3048 + 1e-6)


def test_one_report_per_update_period_with_reception_probability(lab: SimulationOutput) -> None:
    p = lab.plots
    m = p.sensor_id == "ADSB-B"
    gaps = []
    for tid in np.unique(p.truth_id[m]):
        times = np.sort(p.time_s[m][p.truth_id[m] == tid])
        gaps.append(np.diff(times))
    gap = np.concatenate(gaps)
    # Reports fall on the aircraft's own phase every 1 s; a gap of k s means k - 1 losses.
    assert np.allclose(gap, np.round(gap), atol=1e-6)
    received, lost = len(gap), np.sum(np.round(gap) - 1)
    pd = received / (received + lost)
    assert abs(pd - 0.9) < 3 * np.sqrt(0.9 * 0.1 / (received + lost))
