"""SystemTracks: identity and altitude from the right sources, make-up, the tracks.csv view, numbering."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.core.batches import TrackReports, Tracks
from commonsky.fusion import SystemTracks, fuse

from .helpers import concat, cov4, reports, state


def test_identity_comes_from_the_best_source_that_has_it() -> None:
    batch = concat(
        reports("a", 1, 0.0, 0.0, quality=0.9, mode_s=0x40A0B1, squawk=-1, callsign=""),
        reports("b", 2, 0.0, 0.0, quality=0.7, mode_s=0x40A0B1, squawk=4521, callsign="BAW12"),
        reports("c", 3, 0.0, 0.0, quality=0.5, mode_s=-1, squawk=1200, callsign="OTHER"),
    )
    _, pic = fuse(state(), batch, 0.0)
    assert len(pic) == 1
    assert (pic.mode_s[0], pic.squawk[0], pic.callsign[0]) == (0x40A0B1, 4521, "BAW12")
    assert pic.quality[0] == pytest.approx(0.9)
    assert pic.n_sources[0] == 3
    assert pic.sources[0] == "a:1;b:2;c:3"  # best quality first


def test_altitude_comes_from_the_smallest_variance_and_is_missing_when_no_source_has_one() -> None:
    batch = concat(
        reports("a", 1, 0.0, 0.0, alt_m=9000.0, var_alt_m2=2500.0, v_up_mps=1.0),
        reports("b", 2, 0.0, 0.0, alt_m=9020.0, var_alt_m2=400.0, v_up_mps=-2.0),
        reports("c", 3, 0.0, 0.0, alt_m=np.nan, var_alt_m2=np.nan, v_up_mps=np.nan),
        reports("a", 4, 30_000.0, 0.0, alt_m=np.nan, var_alt_m2=np.nan, v_up_mps=np.nan),
    )
    _, pic = fuse(state(), batch, 0.0)
    by_n = {int(k): i for i, k in enumerate(pic.n_sources)}
    i3, i1 = by_n[3], by_n[1]
    assert (pic.alt_m[i3], pic.var_alt_m2[i3], pic.v_up_mps[i3]) == (9020.0, 400.0, -2.0)
    assert np.isnan(pic.alt_m[i1]) and np.isnan(pic.var_alt_m2[i1])


def test_status_is_the_best_source_status_and_stale_tracks_coast() -> None:
    batch = concat(reports("a", 1, 0.0, 0.0, status="coasting"), reports("b", 2, 0.0, 0.0, status="confirmed"))
    st, pic = fuse(state(coast_after_s=5.0), batch, 0.0)
    assert pic.status.tolist() == ["confirmed"]
    st, pic = fuse(st, reports("a", 1, 0.0, 0.0, t=0.0, status="coasting"), 6.0)
    assert pic.status.tolist() == ["coasting"]


def test_as_tracks_uses_the_system_number_as_track_id() -> None:
    batch = concat(reports("a", [5, 6], [0.0, 20_000.0], 0.0), reports("b", 9, 0.0, 0.0))
    _, pic = fuse(state(), batch, 2.0)
    tracks = pic.as_tracks()
    assert isinstance(tracks, Tracks)
    assert tracks.track_id.tolist() == pic.system_id.tolist()
    np.testing.assert_array_equal(tracks.lat_deg, pic.lat_deg)
    assert set(tracks.column_names()) == set(Tracks.DTYPES)
    assert sorted(pic.source_links()) == [(1, "a", 5), (1, "b", 9), (2, "a", 6)]


def test_fed_by_agrees_with_the_owners_and_not_with_a_name_prefix() -> None:
    batch = concat(reports("ab", 5, 0.0, 0.0), reports("b", 9, 0.0, 0.0), reports("ab", 6, 20_000.0, 0.0))
    _, pic = fuse(state(), batch, 2.0)
    assert pic.owners() == [("ab", "b"), ("ab",)]
    assert pic.fed_by("b").tolist() == [True, False]
    assert pic.fed_by("ab").tolist() == [True, True]
    assert pic.fed_by("a").tolist() == [False, False]
    assert SystemTracks.empty().fed_by("b").tolist() == []


def test_numbers_are_never_reused_for_another_track() -> None:
    st = state(max_age_s=2.0)
    st, pic = fuse(st, reports("a", 1, 0.0, 0.0, t=0.0), 0.0)
    assert pic.system_id.tolist() == [1]
    st, pic = fuse(st, TrackReports.empty(), 5.0)
    assert len(pic) == 0
    st, pic = fuse(st, reports("a", 2, 0.0, 0.0, t=6.0), 6.0)  # another track, where the old one was
    assert pic.system_id.tolist() == [2]


def test_a_track_back_from_silence_gets_its_number_again() -> None:
    """A partner's track that aged out (say, a link outage) and reports again keeps its system number."""
    st = state(max_age_s=2.0)
    st, _ = fuse(st, reports("a", 1, 0.0, 0.0, t=0.0), 0.0)
    st, pic = fuse(st, TrackReports.empty(), 5.0)
    assert len(pic) == 0
    st, pic = fuse(st, reports("a", 1, 0.0, 0.0, t=6.0), 6.0)
    assert pic.system_id.tolist() == [1]
    # Silent for longer than revive_within_s: a new number.
    st = state(max_age_s=2.0, revive_within_s=3.0)
    st, _ = fuse(st, reports("a", 1, 0.0, 0.0, t=0.0), 0.0)
    st, _ = fuse(st, TrackReports.empty(), 5.0)
    st, pic = fuse(st, reports("a", 1, 0.0, 0.0, t=9.0), 9.0)
    assert pic.system_id.tolist() == [2]


def test_empty_inputs_give_an_empty_picture() -> None:
    st, pic = fuse(state(), TrackReports.empty(), 0.0)
    assert isinstance(pic, SystemTracks)
    assert len(pic) == 0
    assert st.stats.calls == 1


def test_covariance_columns_round_trip() -> None:
    cov = cov4(90.0, 30.0, 4.0, angle_deg=45.0, corr_pv=0.3)
    _, pic = fuse(state(), reports("a", 1, 0.0, 0.0, cov=cov), 0.0)
    np.testing.assert_allclose(pic.covariance()[0], cov, rtol=1e-9, atol=1e-9)
