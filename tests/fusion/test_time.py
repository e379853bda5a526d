"""Alignment in time: extrapolation, ageing out, out-of-order and future reports, partial updates."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core.batches import TrackReports
from commonsky.fusion import fuse

from .helpers import concat, cov4, links_of, reports, state, to_enu


def test_a_single_report_is_extrapolated_with_constant_velocity_and_grown_covariance() -> None:
    cov = cov4(80.0, 40.0, 5.0, angle_deg=30.0, corr_pv=0.4)
    st = state(accel_noise_m2ps3=2.0)
    st, pic = fuse(
        st, reports("a", 1, 1000.0, -500.0, ve=120.0, vn=-50.0, t=10.0, cov=cov, alt_m=5000.0, v_up_mps=3.0), 14.0
    )
    e, n = to_enu(pic)
    # Velocity is given in local axes at the aircraft, which turn by ~0.01° over the 1 km from the origin.
    assert e[0] == pytest.approx(1000.0 + 4 * 120.0, abs=0.2)
    assert n[0] == pytest.approx(-500.0 - 4 * 50.0, abs=0.2)
    assert pic.v_east_mps[0] == pytest.approx(120.0, abs=0.01)  # local north turns by 1e-4 rad over 480 m
    assert pic.v_north_mps[0] == pytest.approx(-50.0, abs=0.02)
    assert pic.alt_m[0] == pytest.approx(5012.0)
    dt, q = 4.0, 2.0
    f = np.block([[np.eye(2), dt * np.eye(2)], [np.zeros((2, 2)), np.eye(2)]])
    qm = q * np.block([[dt**3 / 3 * np.eye(2), dt**2 / 2 * np.eye(2)], [dt**2 / 2 * np.eye(2), dt * np.eye(2)]])
    np.testing.assert_allclose(pic.covariance()[0], f @ cov @ f.T + qm, rtol=1e-3, atol=1e-3)
    assert pic.time_s[0] == 14.0


def test_a_single_report_at_the_fusion_time_passes_through_unchanged() -> None:
    cov = cov4(120.0, 30.0, 6.0, angle_deg=-20.0, corr_pv=0.2)
    rep = reports(
        "a", 7, 25_000.0, -18_000.0, ve=-90.0, vn=210.0, t=3.0, cov=cov, mode_s=0x3C6543, squawk=2000, callsign="DLH4AB"
    )
    _, pic = fuse(state(), rep, 3.0)
    for name in ("lat_deg", "lon_deg", "v_east_mps", "v_north_mps", "alt_m", "var_alt_m2", "quality"):
        assert getattr(pic, name)[0] == pytest.approx(getattr(rep, name)[0], rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(pic.covariance(), rep.covariance(), rtol=1e-9, atol=1e-9)
    assert (pic.mode_s[0], pic.squawk[0], pic.callsign[0]) == (0x3C6543, 2000, "DLH4AB")
    assert pic.sources[0] == "a:7"
    assert pic.responsible[0] == "a"


def test_reports_older_than_max_age_are_dropped() -> None:
    st = state(max_age_s=12.0)
    st, pic = fuse(st, concat(reports("a", 1, 0.0, 0.0, t=0.0), reports("b", 2, 0.0, 0.0, t=0.0)), 0.0)
    assert pic.n_sources.tolist() == [2]
    for t in range(1, 20):  # only a keeps reporting
        st, pic = fuse(st, reports("a", 1, 200.0 * t, 0.0, t=float(t)), float(t))
        assert int(pic.system_id[0]) == 1
        assert pic.n_sources[0] == (2 if t <= 12 else 1)
    assert ("b", 2) not in st.links()
    assert st.stats.aged_out == 1
    st, pic = fuse(st, TrackReports.empty(), 40.0)  # a too is gone
    assert len(pic) == 0
    assert st.links() == {}


def test_owners_that_send_nothing_keep_their_stored_reports() -> None:
    st = state()
    st, _ = fuse(st, concat(reports("a", 1, 0.0, 0.0, t=0.0), reports("b", 2, 0.0, 0.0, t=0.0)), 0.0)
    st, pic = fuse(st, reports("a", 1, 200.0, 0.0, t=1.0), 1.0)
    assert pic.n_sources.tolist() == [2]
    assert links_of(pic) == {("a", 1): 1, ("b", 2): 1}


def test_out_of_order_reports_are_ignored_and_counted() -> None:
    st = state()
    st, _ = fuse(st, reports("a", 1, 2000.0, 0.0, ve=200.0, t=10.0), 10.0)
    st, pic = fuse(st, reports("a", 1, 0.0, 0.0, ve=200.0, t=9.0), 11.0)  # late: older than the one held
    assert st.stats.out_of_order == 1
    e, _ = to_enu(pic)
    assert e[0] == pytest.approx(2200.0, abs=0.01)  # still the t = 10 report, extrapolated
    assert st.store.reports.time_s.tolist() == [10.0]
    # The same time again replaces (a correction), and is not out of order.
    st, pic = fuse(st, reports("a", 1, 2100.0, 0.0, ve=200.0, t=10.0), 11.0)
    assert st.stats.out_of_order == 1
    assert to_enu(pic)[0][0] == pytest.approx(2300.0, abs=0.01)


def test_within_one_batch_the_latest_report_per_track_wins() -> None:
    batch = concat(reports("a", 1, 0.0, 0.0, ve=0.0, t=5.0), reports("a", 1, 100.0, 0.0, ve=0.0, t=6.0))
    st, pic = fuse(state(), batch, 6.0)
    assert len(pic) == 1
    assert to_enu(pic)[0][0] == pytest.approx(100.0, abs=0.01)
    assert st.stats.out_of_order == 0


def test_reports_from_the_future_are_clamped_and_counted() -> None:
    st = state(clock_skew_tolerance_s=0.5)
    rep = reports("a", 1, 500.0, 0.0, ve=200.0, t=12.0)
    st, pic = fuse(st, rep, 10.0)
    assert to_enu(pic)[0][0] == pytest.approx(500.0, abs=0.01)  # not extrapolated backwards
    np.testing.assert_allclose(pic.covariance(), rep.covariance(), rtol=1e-9, atol=1e-9)
    assert st.stats.clock_skew == 1
    st, _ = fuse(st, reports("a", 1, 700.0, 0.0, ve=200.0, t=13.3), 13.0)  # within tolerance
    assert st.stats.clock_skew == 1


def test_invalid_reports_are_dropped_and_counted() -> None:
    bad_cov = cov4()
    bad_cov[0, 0] = -5.0
    batch = concat(
        reports("a", 1, 0.0, 0.0),
        reports("a", 2, 5000.0, 0.0, cov=bad_cov),
        reports("a", 3, 9000.0, 0.0).replace(v_east_mps=np.array([np.nan])),
    )
    st, pic = fuse(state(), batch, 0.0)
    assert len(pic) == 1
    assert st.stats.invalid == 2
    assert st.stats.reports_received == 3


def test_fuse_leaves_the_input_state_untouched() -> None:
    st0 = state()
    st1, _ = fuse(st0, concat(reports("a", 1, 0.0, 0.0), reports("b", 2, 0.0, 0.0)), 0.0)
    snapshot = (st1.store.link.copy(), st1.store.reports.time_s.copy(), st1.stats)
    fuse(st1, concat(reports("a", 1, 900.0, 0.0, t=1.0), reports("b", 2, 0.0, 0.0, t=1.0)), 1.0)
    np.testing.assert_array_equal(st1.store.link, snapshot[0])
    np.testing.assert_array_equal(st1.store.reports.time_s, snapshot[1])
    assert st1.stats == snapshot[2]
    assert len(st0.store) == 0
