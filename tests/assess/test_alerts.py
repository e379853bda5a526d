"""Alert rules on synthetic pictures, and the lifecycle: raise and clear hysteresis, acknowledgement, JSON events."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from commonsky.assess import (
    EMERGENCY,
    TRANSPONDER_LOSS,
    UNKNOWN_NEAR_BORDER,
    ZONE_ENTRY,
    ZONE_PREDICTED,
    AlertError,
    AlertView,
    AssessmentState,
    acknowledge,
    assess,
    zones_from_geojson,
)
from commonsky.core.sensors import SensorKind, SensorSpec

from .helpers import ADSB, PSR, SSR, T0, picture, state


def _drive(
    st: AssessmentState, frames: list[dict[str, Any]], start: int = 0
) -> tuple[AssessmentState, list[dict[str, Any]]]:
    """Assess one picture per second; all events."""
    events: list[dict[str, Any]] = []
    for k, columns in enumerate(frames, start):
        st, out = assess(st, T0 + k, picture(T0 + k, **columns))
        events += out.events
    return st, events


def test_emergency_raises_after_the_hysteresis_and_clears_after_clear_s() -> None:
    st = state(emergency_raise_s=2.0, clear_s=5.0)
    blip = [{"system_id": [1], "squawk": [7700]}] + [{"system_id": [1], "squawk": [1234]}] * 3
    st, events = _drive(st, blip)
    assert events == []
    emergency = [{"system_id": [1], "squawk": [7500]}] * 4
    st, events = _drive(st, emergency, start=4)
    assert [(e["event"], e["time_s"]) for e in events] == [("raised", T0 + 6)]
    raised = events[0]
    assert raised["kind"] == EMERGENCY and raised["severity"] == "critical" and raised["evidence"]["squawk"] == "7500"
    assert raised["condition_since_s"] == T0 + 4
    # A short gap does not clear it; a gap of clear_s does.
    gap = (
        [{"system_id": [1], "squawk": [1234]}] * 3
        + [{"system_id": [1], "squawk": [7500]}]
        + [{"system_id": [1], "squawk": [1234]}] * 6
    )
    st, events = _drive(st, gap, start=8)
    assert [(e["event"], e["time_s"], e["alert_id"]) for e in events] == [("cleared", T0 + 16, raised["alert_id"])]


def test_acknowledge_records_who_and_when_and_reports_the_event() -> None:
    st, events = _drive(state(), [{"system_id": [1], "squawk": [7600]}] * 3)
    alert_id = events[0]["alert_id"]
    st = acknowledge(st, alert_id, "bob", T0 + 2.5)
    with pytest.raises(AlertError, match="already acknowledged by bob"):
        acknowledge(st, alert_id, "carol", T0 + 2.6)
    st, out = assess(st, T0 + 3, picture(T0 + 3, system_id=[1], squawk=[7600]))
    assert [(e["event"], e["acknowledged_by"], e["acknowledged_s"]) for e in out.events] == [
        ("acknowledged", "bob", T0 + 2.5)
    ]
    assert [(a.id, a.state) for a in out.alerts] == [(alert_id, "acknowledged")]
    st, events = _drive(st, [{"system_id": [1], "squawk": [1234]}] * 16, start=4)
    assert [e["event"] for e in events] == ["cleared"]
    with pytest.raises(AlertError, match="already cleared"):
        acknowledge(st, alert_id, "bob", T0 + 30)
    with pytest.raises(AlertError, match="no alert 99"):
        acknowledge(st, 99, "bob", T0 + 30)


def test_the_display_view_is_the_same_from_the_alert_and_from_each_of_its_events() -> None:
    st, events = _drive(state(), [{"system_id": [7], "squawk": [7700]}] * 3)
    st = acknowledge(st, events[0]["alert_id"], "bob", T0 + 2.5)
    st, out = assess(st, T0 + 3, picture(T0 + 3, system_id=[7], squawk=[7700]))
    (alert,) = out.alerts
    view = alert.view()
    assert view == AlertView.from_record(out.events[0])
    assert view.to_dict() == {
        "id": str(alert.id),
        "kind": EMERGENCY,
        "state": "acknowledged",
        "system_id": 7,
        "time_s": alert.raised_s,
        "severity": "high",
        "evidence": alert.evidence,
        "acknowledged_by": "bob",
        "acknowledged_s": T0 + 2.5,
        "cleared_s": None,
    }
    assert AlertView.from_record(events[0]).state == "raised"


def test_events_are_strict_json() -> None:
    frames = [{"system_id": [1, 2], "squawk": [7700, -1], "alt_m": [np.nan, 3000.0]}] * 3
    _, events = _drive(state(), frames)
    assert events
    json.loads(json.dumps(events, allow_nan=False))


BOX = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "R1", "kind": "restricted", "floor_m": 0, "ceiling_m": 2000},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[9.5, 47.4], [9.7, 47.4], [9.7, 47.6], [9.5, 47.6], [9.5, 47.4]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "border", "kind": "border"},
            "geometry": {"type": "LineString", "coordinates": [[9.0, 47.8], [9.1, 47.8]]},
        },
    ],
}


def test_zone_entry_needs_polygon_band_and_alerting_identity_and_is_predicted_first() -> None:
    zones = zones_from_geojson(BOX)
    # Track 1 flies east at 100 m/s into R1 at 1500 m; track 2 the same at 5000 m; track 3 is a friend.
    lons = 9.45 + np.arange(60) * 100.0 / 75_000.0
    frames = [
        {
            "system_id": [1, 2, 3],
            "lat_deg": [47.5, 47.5, 47.45],
            "lon_deg": [lon, lon, lon],
            "alt_m": [1500.0, 5000.0, 1500.0],
            "v_east_mps": [100.0, 100.0, 100.0],
            "squawk": [1234, 2345, 400],
        }
        for lon in lons
    ]
    st = state(zones, friend_squawks=(400,))
    _, events = _drive(st, frames)
    raised = [(e["kind"], e["system_id"], e["time_s"] - T0) for e in events if e["event"] == "raised"]
    kinds = {(k, s) for k, s, _ in raised}
    assert kinds == {(ZONE_PREDICTED, 1), (ZONE_ENTRY, 1)}
    predicted = next(e for e in events if e["kind"] == ZONE_PREDICTED)
    entry = next(e for e in events if e["kind"] == ZONE_ENTRY)
    # The track is 3.75 km out at 100 m/s; predicted once identified (pending_s) and held predicted_raise_s.
    assert predicted["evidence"]["time_to_entry_s"] == pytest.approx(37.5 - (predicted["time_s"] - T0), abs=3)
    assert entry["time_s"] - T0 == pytest.approx(37.5 + 2, abs=3)
    assert entry["evidence"]["zone"]["name"] == "R1"


def test_transponder_loss_fires_for_one_track_but_not_for_a_common_mode_outage() -> None:
    ssr = SensorSpec("SSR", "own", SensorKind.SSR, 47.0, 9.4, 500.0, 30.0, 0.05, 10.0, 4.0, 0.97, 150_000.0)
    st = state()
    st = type(st)(**{**st.__dict__, "sensors": {"SSR": ssr}})
    lat = [47.0, 47.3, 46.7]
    lon = [9.0, 9.6, 9.6]
    cooperative = {"system_id": [1, 2, 3], "lat_deg": lat, "lon_deg": lon, "squawk": [1000, 2000, 3000]}
    frames = [{**cooperative, "sensor_kinds": [PSR | SSR] * 3}] * 20
    frames += [{**cooperative, "sensor_kinds": [PSR, PSR | SSR, PSR | SSR]}] * 30
    _, events = _drive(st, frames)
    assert [(e["kind"], e["system_id"]) for e in events if e["event"] == "raised"] == [(TRANSPONDER_LOSS, 1)]
    loss = events[0]
    assert loss["evidence"]["lost_kinds"] == ["ssr"] and loss["time_s"] - T0 >= 19 + 12
    # All three lose SSR together: an outage, not three transponder failures.
    frames = frames[:20] + [{**cooperative, "sensor_kinds": [PSR] * 3}] * 30
    _, events = _drive(st, frames)
    assert events == []


def test_new_unknown_near_the_border_but_not_at_startup_or_far_away() -> None:
    zones = zones_from_geojson(BOX)
    st = state(zones, startup_grace_s=30.0)
    early = [{"system_id": [1], "lat_deg": [47.82], "lon_deg": [9.05]}] * 40
    late = [{"system_id": [1, 2, 3], "lat_deg": [47.82, 47.83, 47.2], "lon_deg": [9.05, 9.05, 9.05]}] * 30
    _, events = _drive(st, early + late)
    raised = [e for e in events if e["event"] == "raised"]
    assert [(e["kind"], e["system_id"]) for e in raised] == [(UNKNOWN_NEAR_BORDER, 2)]
    assert raised[0]["evidence"]["border_distance_m"] == pytest.approx(3336, rel=0.02)


def test_adsb_bits_fed_track_needs_adsb_coverage_for_a_loss() -> None:
    adsb = SensorSpec("ADSB", "own", SensorKind.ADSB, 47.0, 9.4, 500.0, 40.0, 0.0, 5.0, 1.0, 0.95, 150_000.0)
    st = state()
    st = type(st)(**{**st.__dict__, "sensors": {"ADSB": adsb}})
    # An SSR-fed track out of every SSR sensor's reach (there is none): no loss can be claimed.
    frames = [{"system_id": [1], "squawk": [1000], "sensor_kinds": [PSR | SSR]}] * 20
    frames += [{"system_id": [1], "squawk": [1000], "sensor_kinds": [PSR]}] * 30
    _, events = _drive(st, frames)
    assert events == []
    frames = [{"system_id": [1], "mode_s": [0x123456], "callsign": ["A"], "sensor_kinds": [PSR | ADSB]}] * 20
    frames += [{"system_id": [1], "mode_s": [0x123456], "sensor_kinds": [PSR]}] * 30
    _, events = _drive(st, frames)
    assert [e["kind"] for e in events] == [TRANSPONDER_LOSS]
