"""evaluate(): the evaluation rule on hand-built truth and track files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core import Tracks, Truth
from commonsky.metrics import evaluate

C = 5000.0

MakeTruth = Callable[..., Truth]
TracksFrom = Callable[..., Tracks]


def test_perfect_tracks_score_zero(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    truth = make_truth(n_targets=4, seconds=20)
    ev = evaluate(truth, make_tracks(truth))
    s = ev.summary
    assert s["gospa_mean"] == 0.0 and s["ospa_mean"] == 0.0
    assert s["gospa_localisation"] == s["gospa_missed"] == s["gospa_false"] == 0.0
    assert s["rmse_position_m"] == pytest.approx(0.0, abs=1e-6)
    assert s["rmse_velocity_mps"] == 0.0 and s["rmse_altitude_m"] == 0.0
    assert s["completeness"] == 1.0
    assert s["track_breaks"] == s["id_switches"] == s["false_track_seconds"] == 0
    assert (s["truth_seconds"], s["targets"], s["tracks"], s["seconds"]) == (80, 4, 4, 20)
    assert ev.times.tolist() == list(range(20))
    assert np.all(ev.gospa_per_second == 0.0)
    assert json.loads(json.dumps(s)) == s  # plain Python numbers, ready for --json


def test_missed_and_false_follow_the_textbook_split(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """Drop target 1's track and add a far-away false track: c²/2 each in the squared sum."""
    truth = make_truth(n_targets=3, seconds=10)
    tracks = make_tracks(truth)
    tracks = tracks.take(tracks.track_id != 101)
    far = tracks.take(tracks.track_id == 102).replace(track_id=np.full(10, 999), lat_deg=np.full(10, 55.0))
    ev = evaluate(truth, Tracks.concat([tracks, far]), cutoff_m=C)
    assert ev.summary["gospa_missed"] == pytest.approx(C**2 / 2)
    assert ev.summary["gospa_false"] == pytest.approx(C**2 / 2)
    assert ev.summary["gospa_mean"] == pytest.approx(C)
    assert np.allclose(ev.gospa_per_second**2, ev.gospa_missed_per_second + ev.gospa_false_per_second)
    assert ev.summary["ospa_mean"] == pytest.approx(C * math.sqrt(1 / 3))
    assert ev.summary["completeness"] == pytest.approx(2 / 3)
    assert ev.summary["false_track_seconds"] == 10


def test_only_missed_target_gives_c_over_root_two(make_truth: MakeTruth) -> None:
    ev = evaluate(make_truth(n_targets=1, seconds=5), Tracks.empty(), cutoff_m=C)
    assert ev.gospa_per_second == pytest.approx(np.full(5, C / math.sqrt(2)))
    assert ev.summary["completeness"] == 0.0 and math.isnan(ev.summary["rmse_position_m"])


def test_change_of_track_id_is_one_break(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    truth = make_truth(n_targets=1, seconds=20)
    tracks = make_tracks(truth)
    tracks = tracks.replace(track_id=np.where(tracks.time_s < 10, 7, 8))
    ev = evaluate(truth, tracks)
    assert (ev.summary["track_breaks"], ev.summary["id_switches"]) == (1, 0)
    assert ev.summary["completeness"] == 1.0


@pytest.mark.parametrize(("later_id", "breaks"), [(7, 0), (8, 1)])
def test_gap_alone_is_no_break(make_truth: MakeTruth, make_tracks: TracksFrom, later_id: int, breaks: int) -> None:
    """Track 7 lost for seconds 10-19 (max age 2 s); the same id afterwards is no break, a new id is one."""
    truth = make_truth(n_targets=1, seconds=30)
    tracks = make_tracks(truth)
    tracks = tracks.take((tracks.time_s < 8) | (tracks.time_s >= 20))
    tracks = tracks.replace(track_id=np.where(tracks.time_s < 10, 7, later_id))
    ev = evaluate(truth, tracks, max_age_s=2.0)
    assert ev.summary["completeness"] == pytest.approx(20 / 30)
    assert ev.summary["track_breaks"] == breaks


def test_track_jumping_between_targets_is_one_id_switch(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """Track 5 follows target 1 until second 10 and then target 2 (20 km away)."""
    truth = make_truth(n_targets=2, seconds=20)
    tracks = make_tracks(truth)
    jump = ((tracks.track_id == 101) & (tracks.time_s < 10)) | ((tracks.track_id == 102) & (tracks.time_s >= 10))
    ev = evaluate(truth, tracks.take(jump).replace(track_id=np.full(20, 5)))
    assert (ev.summary["id_switches"], ev.summary["track_breaks"]) == (1, 0)
    assert ev.summary["completeness"] == 0.5 and ev.summary["false_track_seconds"] == 0


def test_sparse_reports_are_extrapolated(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """Rows every 4 s at constant velocity score ~0; held without velocity they lag 0/200/400/600 m.

    (Distances are measured on the ground, 0.16 % shorter than at the targets' 10 km altitude.)
    """
    truth = make_truth(n_targets=3, seconds=40)
    tracks = make_tracks(truth, every_s=4)
    ev = evaluate(truth, tracks)
    assert ev.summary["completeness"] == 1.0
    assert ev.summary["rmse_position_m"] < 0.05 and ev.summary["gospa_mean"] < 0.05
    assert ev.summary["rmse_altitude_m"] < 0.05
    held = evaluate(truth, tracks.replace(v_east_mps=np.full(len(tracks), np.nan), v_north_mps=np.zeros(len(tracks))))
    assert held.summary["rmse_position_m"] == pytest.approx(200.0 * math.sqrt((1 + 4 + 9) / 4), rel=3e-3)


def test_rows_older_than_max_age_are_ignored(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    truth = make_truth(n_targets=1, seconds=20)
    tracks = make_tracks(truth).take(np.array([0]))
    ev = evaluate(truth, tracks, max_age_s=5.0)
    assert ev.summary["track_seconds"] == 6 and ev.summary["assigned_seconds"] == 6
    assert ev.summary["completeness"] == pytest.approx(6 / 20)


def test_rows_with_other_statuses_are_ignored(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """Tentative rows placed 50 km off are skipped: the confirmed row at t=0 is extrapolated instead."""
    truth = make_truth(n_targets=1, seconds=10)
    tracks = make_tracks(truth)
    later = tracks.time_s > 0
    tracks = tracks.replace(
        status=np.where(later, "tentative", "confirmed"), lat_deg=np.where(later, tracks.lat_deg + 0.5, tracks.lat_deg)
    )
    ev = evaluate(truth, tracks, max_age_s=100.0)
    assert ev.summary["completeness"] == 1.0 and ev.summary["rmse_position_m"] < 0.5
    only_tentative = evaluate(truth, tracks.take(later))
    assert only_tentative.summary["track_seconds"] == 0 and only_tentative.summary["completeness"] == 0.0
    with_tentative = evaluate(truth, tracks, statuses=("confirmed", "tentative"))
    assert with_tentative.summary["completeness"] == pytest.approx(0.1)


def test_distance_is_horizontal_and_errors_split(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """300 m north, 100 m up, 3 m/s east: position error is 300 m (height does not count), altitude 100 m."""
    truth = make_truth(n_targets=2, seconds=10)
    tracks = make_tracks(truth)
    dlat = np.degrees(300.0 / 6_371_000.0)
    tracks = tracks.replace(
        lat_deg=tracks.lat_deg + dlat, alt_m=tracks.alt_m + 100.0, v_east_mps=tracks.v_east_mps + 3.0
    )
    s = evaluate(truth, tracks).summary
    assert s["rmse_position_m"] == pytest.approx(300.0, rel=0.01)
    assert s["gospa_localisation"] == pytest.approx(2 * s["rmse_position_m"] ** 2)
    assert s["rmse_altitude_m"] == pytest.approx(100.0) and s["rmse_velocity_mps"] == pytest.approx(3.0)
    s = evaluate(truth, tracks.replace(v_up_mps=tracks.v_up_mps + 4.0)).summary
    assert s["rmse_velocity_mps"] == pytest.approx(5.0)
    radar = tracks.replace(alt_m=np.full(len(tracks), np.nan), v_up_mps=np.full(len(tracks), np.nan))
    s = evaluate(truth, radar).summary
    assert math.isnan(s["rmse_altitude_m"]) and s["rmse_velocity_mps"] == pytest.approx(3.0)
    assert s["rmse_position_m"] == pytest.approx(300.0, rel=0.01)


def test_only_whole_seconds_of_truth_are_evaluated(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    truth = make_truth(n_targets=1, seconds=10)
    half = truth.replace(time_s=truth.time_s + 0.5)
    ev = evaluate(Truth.concat([truth, half]), make_tracks(truth))
    assert ev.summary["truth_seconds"] == 10 and ev.summary["gospa_mean"] == 0.0


def test_empty_inputs() -> None:
    ev = evaluate(Truth.empty(), Tracks.empty())
    assert ev.summary["seconds"] == 0 and len(ev.gospa_per_second) == 0
    assert math.isnan(ev.summary["gospa_mean"]) and math.isnan(ev.summary["completeness"])


def test_cutoff_must_be_positive(make_truth: MakeTruth) -> None:
    with pytest.raises(ValueError, match="cutoff_m"):
        evaluate(make_truth(), Tracks.empty(), cutoff_m=0.0)


def test_pictures_end_a_track_at_the_first_picture_without_it(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    """Complete pictures every second: a track left out of one has ended, however young its last row."""
    truth = make_truth(n_targets=2, seconds=20)
    tracks = make_tracks(truth)
    tracks = tracks.take((tracks.track_id != 101) | (tracks.time_s < 10.0))  # target 1's track ends after t = 9
    held = evaluate(truth, tracks, cutoff_m=C, max_age_s=10.0).summary
    ended = evaluate(truth, tracks, cutoff_m=C, max_age_s=10.0, pictures=True).summary
    assert held["assigned_seconds"] == 40  # its row at t = 9, flown on, still stands for t = 10..19
    assert ended["assigned_seconds"] == 30
    assert ended["gospa_missed"] == pytest.approx(C**2 / 2 * 10 / 20)
