"""The river example end to end: each scripted event raises its alert on both banks, and the same river with only
its ordinary traffic (no dark vessel, no AIS switched off or spoofed, no shared MMSI, no fast craft, no outage)
raises none in ten minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commonsky.core.config import read_toml
from commonsky.network.runner import ScenarioRun, run_scenario
from commonsky.sim.scenario_file import parse_scenario

RIVER = Path(__file__).resolve().parents[2] / "examples" / "river.toml"
START_S = 1780000000.0
EXPECTED = {
    # kind: (the event's time in s, the latest acceptable alert time in s)  # the event's vessel
    "work_zone_entry": (199.0, 260.0),  # 4, the dark motorboat, enters the works
    "ais_gap": (250.0, 330.0),  # 5 switches its AIS off
    "mmsi_conflict": (0.0, 60.0),  # 7 and 8 share an MMSI
    "fast_approach": (350.0, 390.0),  # 9 heads for the dredger
    "dark_vessel": (0.0, 60.0),  # 11 and 12, small boats without AIS, from the start
}
OWN_RADAR_ONLY = {"hu": {"ais_radar_inconsistent": (300.0, 360.0)}}
"""Alerts only a partner whose own radar watches the event can raise: the spoofed tanker (6) is in `hu`'s radar cover
at the time, not `sk`'s."""
"""Each river.toml event's alert (the targets and times its header lists)."""
EVENT_VESSELS = {"MOTORBOAT", "NEPTUN", "RAPID", "CSONAK", "LODKA"}
"""The vessels that are events themselves: dark vessels, a second vessel on one MMSI, a fast craft."""


def raised(run: ScenarioRun, partner: str) -> list[dict[str, Any]]:
    """The alerts a partner raised, in order."""
    return [e for e in run.partners[partner].alert_events if e["event"] == "raised"]


@pytest.fixture(scope="module")
def river_run() -> ScenarioRun:
    data, source = read_toml(RIVER)
    return run_scenario(parse_scenario(data, source))


@pytest.mark.parametrize("partner", ["sk", "hu"])
def test_each_river_event_raises_its_alert_in_time(river_run: ScenarioRun, partner: str) -> None:
    first: dict[str, float] = {}
    for alert in raised(river_run, partner):
        first.setdefault(alert["kind"], alert["time_s"] - START_S)
    for kind, (event_s, latest_s) in (EXPECTED | OWN_RADAR_ONLY.get(partner, {})).items():
        assert kind in first, f"{partner}: no {kind}"
        assert event_s <= first[kind] <= latest_s, f"{partner}: {kind} at {first[kind]:.0f} s"


def test_ordinary_river_traffic_raises_no_alert() -> None:
    data, source = read_toml(RIVER)
    data["vessels"] = [v for v in data["vessels"] if v["name"] not in EVENT_VESSELS]
    data["events"] = []
    run = run_scenario(parse_scenario(data, source))
    for partner in ("sk", "hu"):
        assert raised(run, partner) == []
