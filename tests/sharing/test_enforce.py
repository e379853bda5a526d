"""Export and import enforcement on hand-made traffic: one rule at a time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from commonsky.core.batches import Plots, TrackReports
from commonsky.sharing import (
    Area,
    ExportState,
    ExportStats,
    SharingError,
    SharingPolicy,
    check_import,
    export_reports,
)

from .reference import make_reports

T0 = 1_780_000_000.0
SQUARE = Area.from_geojson({"type": "Polygon", "coordinates": [[[9, 47], [10, 47], [10, 48], [9, 48], [9, 47]]]})
ALL_FIELDS = frozenset({"callsign", "mode_s", "squawk"})


def policy(**kw: object) -> SharingPolicy:
    """Share everything in the square at any known altitude, no delay, no rate limit, unless told."""
    base: dict[str, object] = {
        "exporter": "north",
        "receiver": "east",
        "areas": SQUARE,
        "altitude_bands_m": ((-1000.0, 20000.0),),
        "fields": ALL_FIELDS,
    }
    base.update(kw)
    return SharingPolicy(**base)  # type: ignore[arg-type]


def export(
    p: SharingPolicy, reports: TrackReports, now: float, state: ExportState | None = None
) -> tuple[TrackReports, ExportState, ExportStats]:
    """One export call, checking the bookkeeping identity and that the receiver accepts the output."""
    state = state or ExportState()
    out, new_state, stats = export_reports(p, reports, now, state)
    assert stats.received + len(state.pending) == stats.sent + stats.held + sum(stats.dropped.values())
    assert len(new_state.pending) == stats.held and len(out) == stats.sent
    kept, istats = check_import(p, out, now)
    assert len(kept) == len(out), istats.dropped
    return out, new_state, stats


def test_track_crossing_the_border_is_shared_only_while_strictly_inside() -> None:
    lon = [9.8, 9.9, 9.99, 10.0, 10.01, 10.1]
    r = make_reports(6, track_id=7, time_s=T0 + np.arange(6.0), lon_deg=lon, lat_deg=47.5)
    out, _, stats = export(policy(), r, T0 + 10)
    assert out.lon_deg.tolist() == [9.8, 9.9, 9.99]
    assert stats.dropped["area"] == 3


def test_no_areas_shares_nothing_and_everywhere_shares_everywhere() -> None:
    r = make_reports(3, time_s=T0, lon_deg=[9.5, 0.0, -170.0], lat_deg=[47.5, 0.0, -80.0])
    assert len(export(policy(areas=None), r, T0)[0]) == 0
    assert len(export(policy(areas=None, everywhere=True), r, T0)[0]) == 3


def test_altitude_bands_ends_included_and_unknown_altitude_on_request() -> None:
    alt = [1000.0, 3000.0, 4000.0, 6000.0, 9000.0, 9500.0, math.nan, -5.0]
    r = make_reports(8, time_s=T0, lon_deg=9.5, lat_deg=47.5, alt_m=alt)
    bands = ((0.0, 3000.0), (6000.0, 9000.0))
    out, _, stats = export(policy(altitude_bands_m=bands), r, T0)
    assert out.alt_m.tolist() == [1000.0, 3000.0, 6000.0, 9000.0]
    assert stats.dropped["altitude"] == 4
    out, _, _ = export(policy(altitude_bands_m=bands, share_unknown_altitude=True), r, T0)
    assert len(out) == 5 and np.isnan(out.alt_m).sum() == 1
    out, _, _ = export(policy(altitude_bands_m=(), share_unknown_altitude=True), r, T0)
    assert len(out) == 1 and np.isnan(out.alt_m[0])  # no bands: only unknown altitude, as asked


@pytest.mark.parametrize("shared", [set(), {"squawk"}, {"callsign", "mode_s"}, set(ALL_FIELDS)])
def test_withheld_identity_fields_are_blanked(shared: set[str]) -> None:
    r = make_reports(
        3, time_s=T0, lon_deg=9.5, lat_deg=47.5, mode_s=[0x3C6586, -1, 0x4B1A2F], squawk=[7000, 1234, -1],
        callsign=["DLH4AB", "", "SWR12"],
    )  # fmt: skip
    out, _, stats = export(policy(fields=frozenset(shared)), r, T0)
    assert len(out) == 3
    for name, missing in (("mode_s", -1), ("squawk", -1), ("callsign", "")):
        if name in shared:
            assert np.array_equal(getattr(out, name), getattr(r, name))
        else:
            assert (getattr(out, name) == missing).all()
            assert stats.blanked[name] == 2
    # Fusion inputs always travel.
    assert np.array_equal(out.covariance(), r.covariance(), equal_nan=True) and np.array_equal(out.quality, r.quality)


def test_min_delay_holds_fresh_reports_and_releases_them_later() -> None:
    p = policy(min_delay_s=5.0)
    r = make_reports(3, track_id=[1, 2, 3], time_s=T0 + np.array([0.0, 2.0, 4.0]), lon_deg=9.5, lat_deg=47.5)
    out, state, stats = export(p, r, T0 + 5.0)
    assert out.track_id.tolist() == [1] and stats.held == 2
    out, state, stats = export(p, TrackReports.empty(), T0 + 6.9, state)
    assert len(out) == 0 and stats.held == 2
    out, state, stats = export(p, TrackReports.empty(), T0 + 7.0, state)
    assert out.track_id.tolist() == [2] and stats.held == 1
    out, state, stats = export(p, TrackReports.empty(), T0 + 100.0, state)
    assert out.track_id.tolist() == [3] and stats.held == 0
    assert (out.time_s <= T0 + 100.0 - 5.0).all()


def test_held_reports_are_blanked_while_buffered() -> None:
    r = make_reports(1, time_s=T0, lon_deg=9.5, lat_deg=47.5, callsign="DLH4AB")
    _, state, _ = export(policy(min_delay_s=5.0, fields=frozenset()), r, T0)
    assert state.pending.callsign.tolist() == [""]


def test_rate_limit_within_a_batch_and_across_calls() -> None:
    p = policy(max_rate_hz=0.5)  # one report per track every 2 s
    t = T0 + np.array([0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.5])
    r = make_reports(7, track_id=[1, 1, 1, 1, 1, 2, 2], time_s=t, lon_deg=9.5, lat_deg=47.5)
    out, state, stats = export(p, r, T0 + 4.0)
    assert sorted(zip(out.track_id.tolist(), (out.time_s - T0).tolist(), strict=True)) == [
        (1, 0.0), (1, 2.0), (1, 4.0), (2, 0.0)
    ]  # fmt: skip
    assert stats.dropped["rate"] == 3
    r = make_reports(3, track_id=[1, 1, 2], time_s=T0 + np.array([5.0, 6.0, 5.0]), lon_deg=9.5, lat_deg=47.5)
    out, state, stats = export(p, r, T0 + 6.0, state)
    assert sorted(zip(out.track_id.tolist(), (out.time_s - T0).tolist(), strict=True)) == [(1, 6.0), (2, 5.0)]
    assert stats.dropped["rate"] == 1


def test_rate_limit_tolerates_rounding_of_epoch_times() -> None:
    """Reports every 1/3 s at 3 Hz all travel although T0 + k/3 rounds to uneven gaps."""
    t = T0 + np.arange(60.0) / 3
    r = make_reports(60, track_id=1, time_s=t, lon_deg=9.5, lat_deg=47.5)
    assert np.diff(t).min() < 1 / 3  # the rounding this test is about
    out, _, _ = export(policy(max_rate_hz=3.0), r, t[-1])
    assert len(out) == 60
    out, _, _ = export(policy(max_rate_hz=2.9), r, t[-1])
    assert len(out) == 30


def test_report_older_than_the_last_sent_is_out_of_order() -> None:
    p = policy()
    r = make_reports(1, track_id=1, time_s=T0 + 10, lon_deg=9.5, lat_deg=47.5)
    _, state, _ = export(p, r, T0 + 10)
    late = make_reports(2, track_id=[1, 2], time_s=T0 + 8, lon_deg=9.5, lat_deg=47.5)
    out, _, stats = export(p, late, T0 + 11, state)
    assert out.track_id.tolist() == [2] and stats.dropped["out_of_order"] == 1


def test_only_the_exporters_own_tracks_travel() -> None:
    r = make_reports(3, owner=["north", "west", ""], time_s=T0, lon_deg=9.5, lat_deg=47.5)
    out, _, stats = export(policy(), r, T0)
    assert out.owner.tolist() == ["north"] and stats.dropped["owner"] == 2


def test_invalid_and_stale_rows_are_dropped() -> None:
    r = make_reports(
        5, time_s=[T0, math.nan, T0, T0 - 601.0, T0 - 599.0], lon_deg=9.5, lat_deg=[47.5, 47.5, 95.0, 47.5, 47.5],
        alt_m=[math.inf, 5000.0, 5000.0, 5000.0, 5000.0],
    )  # fmt: skip
    out, _, stats = export(policy(min_delay_s=1.0), r, T0 + 1.0)
    assert len(out) == 1 and out.time_s[0] == T0 - 599.0
    assert stats.dropped["invalid"] == 3 and stats.dropped["stale"] == 1


def test_held_reports_go_stale_when_calls_are_far_apart_and_state_stays_small() -> None:
    p = policy(min_delay_s=5.0, max_rate_hz=1.0)
    r = make_reports(2, track_id=[1, 2], time_s=[T0 - 10.0, T0], lon_deg=9.5, lat_deg=47.5)
    _, state, _ = export(p, r, T0)
    assert len(state.sent_keys) == 1 and len(state.pending) == 1
    out, state, stats = export(p, TrackReports.empty(), T0 + 1000.0, state)
    assert len(out) == 0 and stats.dropped["stale"] == 1
    assert len(state.sent_keys) == 0 and len(state.pending) == 0


def test_rate_state_is_kept_as_long_as_a_report_could_still_be_too_close() -> None:
    p = policy(max_rate_hz=0.1)  # 10 s interval
    _, state, _ = export(p, make_reports(1, track_id=1, time_s=T0, lon_deg=9.5, lat_deg=47.5), T0)
    _, state, _ = export(p, TrackReports.empty(), T0 + 605.0, state)  # horizon now at T0 + 5
    late = make_reports(1, track_id=1, time_s=T0 + 6.0, lon_deg=9.5, lat_deg=47.5)  # not stale, 6 s after
    out, state, stats = export(p, late, T0 + 605.0, state)
    assert len(out) == 0 and stats.dropped["rate"] == 1
    _, state, _ = export(p, TrackReports.empty(), T0 + 611.0, state)
    assert len(state.sent_keys) == 0  # now nothing can come within 10 s of T0: forgotten


def test_time_running_backwards_is_refused() -> None:
    _, state, _ = export(policy(), TrackReports.empty(), T0)
    with pytest.raises(SharingError, match="backwards"):
        export_reports(policy(), TrackReports.empty(), T0 - 1, state)


def test_a_new_policy_rejudges_held_reports() -> None:
    r = make_reports(2, time_s=T0, lon_deg=[9.5, 9.6], lat_deg=47.5, callsign="DLH4AB")
    _, state, _ = export(policy(min_delay_s=5.0), r, T0)
    smaller = Area.from_geojson({"type": "Polygon", "coordinates": [[[9, 47], [9.55, 47], [9.55, 48], [9, 47]]]})
    narrower = policy(min_delay_s=5.0, areas=smaller, fields=frozenset())
    out, state, stats = export(narrower, TrackReports.empty(), T0 + 5.0, state)
    assert out.lon_deg.tolist() == [9.5] and out.callsign.tolist() == [""]
    assert stats.dropped["area"] == 1


def test_content_mismatch_is_refused() -> None:
    r = make_reports(1, time_s=T0, lon_deg=9.5, lat_deg=47.5)
    with pytest.raises(SharingError, match="plots"):
        export_reports(policy(content="plots"), r, T0, ExportState())
    with pytest.raises(SharingError, match="Plots"):
        export_reports(policy(), Plots.empty(), T0, ExportState())  # type: ignore[arg-type]
    kept, stats = check_import(policy(content="plots"), r, T0)
    assert len(kept) == 0 and stats.dropped["content"] == 1
    kept, stats = check_import(policy(), Plots.build(2), T0)  # type: ignore[arg-type]
    assert len(kept) == 0 and stats.dropped["content"] == 2


def test_import_drops_each_kind_of_violation_with_its_reason() -> None:
    p = policy(min_delay_s=2.0, max_rate_hz=0.5, fields=frozenset({"squawk"}), altitude_bands_m=((0.0, 9000.0),))
    now = T0 + 100.0
    defaults: dict[str, Any] = {
        "owner": "north", "time_s": now - 10.0, "lon_deg": 9.5, "lat_deg": 47.5, "alt_m": 5000.0,
        "squawk": 7000, "callsign": "", "mode_s": -1,
    }  # fmt: skip
    rows: list[tuple[dict[str, Any], str]] = [
        ({}, "ok"),
        ({"owner": "west"}, "owner"),
        ({"lat_deg": math.nan}, "invalid"),
        ({"lon_deg": 10.0}, "area"),
        ({"alt_m": 9000.5}, "altitude"),
        ({"alt_m": math.nan}, "altitude"),
        ({"callsign": "DLH4AB"}, "withheld_field"),
        ({"mode_s": 0x3C6586}, "withheld_field"),
        ({"time_s": now - 1.5}, "delay"),
    ]
    n = len(rows)
    cols = {k: np.array([change.get(k, v) for change, _ in rows]) for k, v in defaults.items()}
    r = make_reports(n, track_id=np.arange(n), **cols)
    kept, stats = check_import(p, r, now)
    assert kept.track_id.tolist() == [0]
    for reason in ("owner", "invalid", "area", "withheld_field", "altitude"):
        assert stats.dropped[reason] == sum(1 for _, why in rows if why == reason), reason
    assert stats.dropped["delay"] == 1 and stats.received == n and stats.kept == 1
    # Rate: two reports of one track 1 s apart under a 2 s interval; the later one goes.
    r2 = make_reports(2, track_id=5, time_s=[now - 10.0, now - 9.0], lon_deg=9.5, lat_deg=47.5, squawk=7000)
    kept, stats = check_import(p, r2, now)
    assert kept.time_s.tolist() == [now - 10.0] and stats.dropped["rate"] == 1
    # Clock tolerance admits a report fresher than the delay by less than the tolerance.
    r3 = make_reports(1, time_s=now - 1.5, lon_deg=9.5, lat_deg=47.5, squawk=7000)
    assert len(check_import(p, r3, now)[0]) == 0
    assert len(check_import(p, r3, now, clock_tolerance_s=0.5)[0]) == 1
