"""End to end: each simulator event raises its alert in a partner's assessment, and ordinary traffic raises none.

The scenarios are border3 (three partners around Lake Constance) with the example zones; the nodes run on
the in-process bus and one partner's node assesses its fused picture each second (see `harness`).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from typing import Any

import numpy as np
import pytest

from commonsky.assess import (
    ADSB_INCONSISTENT,
    EMERGENCY,
    PARTNER_CONTRADICTION,
    TRANSPONDER_LOSS,
    UNKNOWN_NEAR_BORDER,
    ZONE_ENTRY,
    ZONE_PREDICTED,
)

from .harness import BORDER3, Run, border3, run_assessed

BORDER_INTRUDER = {
    "kind": "intruder",
    "at_s": 120,
    "start_lat_deg": 47.56,
    "start_lon_deg": 9.0,
    "end_lat_deg": 47.35,
    "end_lon_deg": 8.75,
    "alt_m": 400,
    "speed_mps": 60,
}
"""A second intruder, appearing 5 km from the lake border buffer and heading away from it."""


@pytest.fixture(scope="module")
def events_run() -> Run:
    """border3 with all its events plus the border intruder, assessed by north."""
    data = tomllib.loads(BORDER3.read_text())
    data["events"].append(BORDER_INTRUDER)
    return run_assessed(data, ("north",))["north"]


def _event(run: Run, kind: str, index: int = 0) -> dict[str, Any]:
    return [e for e in run.simulation.events if e["kind"] == kind][index]


def _truth_target(run: Run, alert: dict[str, Any]) -> int:
    """The simulated aircraft nearest to the alert's track when it was raised."""
    track = alert["evidence"]["track"]
    truth = run.simulation.truth
    at = truth.time_s == alert["time_s"]
    d = np.hypot((truth.lat_deg[at] - track["lat_deg"]) * 111e3, (truth.lon_deg[at] - track["lon_deg"]) * 75e3)
    return int(truth.target_id[at][np.argmin(d)])


def test_intruder_is_predicted_into_then_enters_the_buffer_and_the_restricted_zone(events_run: Run) -> None:
    intruder = _event(events_run, "intruder")["target_id"]
    for zone in ("Lake border buffer", "R-Lake north shore"):
        predicted = [e for e in events_run.raised(ZONE_PREDICTED) if e["evidence"]["zone"]["name"] == zone]
        entered = [e for e in events_run.raised(ZONE_ENTRY) if e["evidence"]["zone"]["name"] == zone]
        assert [_truth_target(events_run, e) for e in entered] == [intruder]
        assert intruder in [_truth_target(events_run, e) for e in predicted]
        first = min(e["time_s"] for e in predicted if _truth_target(events_run, e) == intruder)
        assert first < entered[0]["time_s"]
        assert entered[0]["evidence"]["identity"] == "unknown" and entered[0]["evidence"]["track"]["sensors"] == ["psr"]
    assert all(0 < e["evidence"]["time_to_entry_s"] <= 120 for e in events_run.raised(ZONE_PREDICTED))


def test_intruder_appearing_near_the_border_is_alerted(events_run: Run) -> None:
    target = _event(events_run, "intruder", 1)["target_id"]
    alerts = events_run.raised(UNKNOWN_NEAR_BORDER)
    assert [_truth_target(events_run, e) for e in alerts] == [target]
    assert alerts[0]["evidence"]["border_distance_m"] <= 10_000


def test_emergency_squawk(events_run: Run) -> None:
    event = _event(events_run, "emergency")
    alerts = events_run.raised(EMERGENCY)
    assert [(e["evidence"]["squawk"], e["evidence"]["track"]["mode_s"]) for e in alerts] == [("7700", event["mode_s"])]
    assert 0 < alerts[0]["time_s"] - event["time_s"] <= 15


def test_transponder_loss(events_run: Run) -> None:
    event = _event(events_run, "transponder_off")
    alerts = events_run.raised(TRANSPONDER_LOSS)
    assert [_truth_target(events_run, e) for e in alerts] == [event["target_id"]]
    assert 0 < alerts[0]["time_s"] - event["time_s"] <= 60
    assert alerts[0]["evidence"]["track"]["sensors"] == ["psr"]


def test_spoofed_adsb_is_inconsistent_with_radar_and_contradicts_the_partner(events_run: Run) -> None:
    event = _event(events_run, "spoofer")
    alerts = events_run.raised(ADSB_INCONSISTENT)
    assert [e["evidence"]["mode_s"] for e in alerts] == [event["mode_s"]]
    assert 0 < alerts[0]["time_s"] - event["time_s"] <= 60
    assert alerts[0]["evidence"]["distance_m"] > 3000 and alerts[0]["evidence"]["chi2"] > 13.82
    contradictions = events_run.raised(PARTNER_CONTRADICTION)
    assert [e["evidence"]["partner_position"]["mode_s"] for e in contradictions] == [event["mode_s"]]
    assert contradictions[0]["evidence"]["rule"] == "same_address_far"


def test_every_alert_is_about_an_event_target(events_run: Run) -> None:
    targets = {e["target_id"] for e in events_run.simulation.events if "target_id" in e}
    for alert in events_run.raised():
        assert _truth_target(events_run, alert) in targets, alert


@pytest.fixture(scope="module")
def ordinary_runs() -> dict[str, Run]:
    """border3 without events (51 aircraft, 10 minutes), assessed by every partner."""
    return run_assessed(border3(), ("north", "east", "west"))


@pytest.mark.parametrize("partner", ["north", "east", "west"])
def test_ordinary_traffic_raises_no_alert(ordinary_runs: dict[str, Run], partner: str) -> None:
    run = ordinary_runs[partner]
    assert run.raised_per_kind() == Counter()
    assert len(run.assessments) == 600
    identities = Counter(i for a in run.assessments for i in a.identity.tolist())
    assert identities["neutral"] > identities["unknown"]
