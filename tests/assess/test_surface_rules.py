"""The surface alert rules on hand-built river pictures: each raises on its event with evidence, near misses do not,
aircraft never raise a surface kind and vessels never an air kind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commonsky.assess import (
    AIS_GAP,
    AIS_RADAR_INCONSISTENT,
    ALERT_KINDS,
    BORDER_CROSSING,
    DARK_VESSEL,
    EMERGENCY,
    FAST_APPROACH,
    LOITERING,
    MMSI_CONFLICT,
    PARTNER_CONTRADICTION,
    SEVERITIES,
    TRANSPONDER_LOSS,
    UNKNOWN_NEAR_BORDER,
    WORK_ZONE_ENTRY,
    ZONE_ENTRY,
    AssessmentConfig,
    AssessmentState,
    Zones,
    assess,
    load_zones,
    new_assessment_state,
    override_identity,
    rules,
)
from commonsky.assess.checks import ais_report_interval_s
from commonsky.assess.rules import surface as surface_rules
from commonsky.assess.rules.surface import SURFACE_RULES
from commonsky.core.batches import SENSOR_AIS, SENSOR_PSR, SENSOR_SSR, SENSOR_SURFACE_RADAR, Plots, TrackReports
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.fusion import SystemTracks
from tests.assess.helpers import T0, picture

ORIGIN = LocalFrame(47.76, 18.13, 0.0)
AIS = SENSOR_AIS
RADAR = SENSOR_SURFACE_RADAR
DREDGER = 211_000_001
BARGE = 211_000_002
TANKER = 243_000_003
SURFACE_KINDS = {rule.kind for rule in SURFACE_RULES}
AIR_KINDS = set(ALERT_KINDS) - SURFACE_KINDS


def ll(e: float, n: float) -> tuple[float, float]:
    """Latitude and longitude of a point east and north (m) of the origin."""
    lat, lon, _ = ORIGIN.enu_to_geodetic(e, n, 0.0)
    return float(lat), float(lon)


def ring(e0: float, n0: float, e1: float, n1: float) -> list[list[float]]:
    """A closed [lon, lat] rectangle."""
    corners = [(e0, n0), (e1, n0), (e1, n1), (e0, n1), (e0, n0)]
    return [[ll(e, n)[1], ll(e, n)[0]] for e, n in corners]


def zones_file(tmp_path: Path, **works: Any) -> Zones:
    """The river: a channel 2 km wide along the east axis, the border on its middle, a works zone north of it,
    and an airspace zone over all of it."""
    features = [
        {
            "type": "Feature",
            "properties": {"name": "works", "kind": "works", "allowed_mmsi": [DREDGER], **works},
            "geometry": {"type": "Polygon", "coordinates": [ring(-200, 100, 200, 300)]},
        },
        {
            "type": "Feature",
            "properties": {"name": "channel", "kind": "channel"},
            "geometry": {"type": "Polygon", "coordinates": [ring(-6000, -1000, 6000, 1000)]},
        },
        {
            "type": "Feature",
            "properties": {"name": "R-air", "kind": "restricted"},
            "geometry": {"type": "Polygon", "coordinates": [ring(-6000, -3000, 6000, 3000)]},
        },
        {
            "type": "Feature",
            "properties": {"kind": "border"},
            "geometry": {"type": "LineString", "coordinates": [[ll(e, 0)[1], ll(e, 0)[0]] for e in (-6000, 0, 6000)]},
        },
    ]
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return load_zones(path)


AIS_STATION = SensorSpec("AIS-SK", "sk", SensorKind.AIS, *ll(0, 1500), 20.0, 10.0, 0.0, 0.0, 2.0, 0.98, 40_000.0)
SHORE_RADAR = SensorSpec("SR-SK", "sk", SensorKind.SURFACE_RADAR, *ll(0, 1200), 30.0, 10.0, 0.3, 0.0, 2.5, 0.9, 6_000.0)
SSR_RADAR = SensorSpec("SSR-SK", "sk", SensorKind.SSR, *ll(0, 1200), 50.0, 30.0, 0.05, 10.0, 4.0, 0.97, 150_000.0)
PSR_RADAR = SensorSpec("PSR-SK", "sk", SensorKind.PSR, *ll(0, 1200), 50.0, 60.0, 0.1, 0.0, 4.0, 0.9, 100_000.0)


def river(tmp_path: Path, works: dict[str, Any] | None = None, **config: Any) -> AssessmentState:
    """A fresh assessment of the river with its AIS station and shore radar (no start-up grace)."""
    zones = zones_file(tmp_path, **(works or {}))
    cfg = AssessmentConfig(**{"startup_grace_s": 0.0, **config})
    return new_assessment_state(cfg, zones, [AIS_STATION, SHORE_RADAR, SSR_RADAR, PSR_RADAR])


def vessels(time_s: float, rows: list[dict[str, Any]], domain: str = "surface") -> Any:
    """System tracks of vessels: each row has system_id, e, n and optionally ve, vn, mmsi, kinds, callsign..."""
    lat, lon = zip(*(ll(r["e"], r["n"]) for r in rows), strict=True) if rows else ((), ())
    columns: dict[str, Any] = {
        "system_id": [r["system_id"] for r in rows],
        "lat_deg": list(lat),
        "lon_deg": list(lon),
        "alt_m": [0.0 if domain == "surface" else 300.0] * len(rows),
        "v_east_mps": [r.get("ve", 0.0) for r in rows],
        "v_north_mps": [r.get("vn", 0.0) for r in rows],
        "sensor_kinds": [r.get("kinds", RADAR) for r in rows],
        "mmsi": [r.get("mmsi", -1) for r in rows],
        "mode_s": [r.get("mode_s", -1) for r in rows],
        "squawk": [r.get("squawk", -1) for r in rows],
        "callsign": [r.get("callsign", "") for r in rows],
        "status": [r.get("status", "confirmed") for r in rows],
        "domain": [domain] * len(rows),
    }
    return picture(time_s, **columns)


def ais_plots(time_s: float, reports: Iterable[tuple[int, float, float]], radar: bool = True) -> Plots:
    """Own AIS reports (mmsi, e, n) at one time, and a shore radar plot that shows the radar is up."""
    reports = list(reports)
    lat = [ll(e, n)[0] for _, e, n in reports]
    lon = [ll(e, n)[1] for _, e, n in reports]
    n_ais = len(reports)
    rows = n_ais + int(radar)
    return Plots.build(
        rows,
        time_s=np.full(rows, time_s),
        sensor_id=["AIS-SK"] * n_ais + ["SR-SK"] * int(radar),
        lat_deg=lat + [np.nan] * int(radar),
        lon_deg=lon + [np.nan] * int(radar),
        altitude_m=[0.0] * n_ais + [np.nan] * int(radar),
        range_m=[np.nan] * n_ais + [1500.0] * int(radar),
        azimuth_deg=[np.nan] * n_ais + [180.0] * int(radar),
        mmsi=[m for m, _, _ in reports] + [-1] * int(radar),
        domain=["surface"] * rows,
    )


def run(
    st: AssessmentState,
    frames: Iterable[list[dict[str, Any]]],
    start: float = 0.0,
    domain: str = "surface",
    plots: Iterable[Plots | None] | None = None,
) -> tuple[AssessmentState, list[dict[str, Any]]]:
    """Assess one picture per second from `start`; all alert events. With plots, the node's own track reports are
    the picture's rows not marked `partner`."""
    events: list[dict[str, Any]] = []
    plot_list = list(plots) if plots is not None else None
    for i, rows in enumerate(frames):
        t = T0 + start + i
        system = vessels(t, rows, domain)
        if plot_list is None:
            st, out = assess(st, t, system)
        else:
            own = np.array([not r.get("partner", False) for r in rows], dtype=bool)
            st, out = assess(st, t, system, plot_list[i], own_reports(system.take(own)))
        events += out.events
    return st, events


def own_reports(system: SystemTracks) -> TrackReports:
    """The node's own confirmed track reports of these system tracks (track id = system id)."""
    shared = [k for k in TrackReports.DTYPES if k not in ("owner", "track_id") and hasattr(system, k)]
    columns = {k: getattr(system, k) for k in shared}
    return TrackReports.build(len(system), owner=np.full(len(system), "sk"), track_id=system.system_id, **columns)


def raised(events: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    """The raised events (of one kind)."""
    return [e for e in events if e["event"] == "raised" and (kind is None or e["kind"] == kind)]


def moving(
    system_id: int, e0: float, n0: float, ve: float, vn: float, seconds: int, **extra: Any
) -> list[dict[str, Any]]:
    """One vessel's rows second by second along a straight course."""
    return [
        {"system_id": system_id, "e": e0 + ve * t, "n": n0 + vn * t, "ve": ve, "vn": vn, **extra}
        for t in range(seconds)
    ]


def frames_of(*tracks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Per second, the rows of every track (tracks of equal length)."""
    return [list(rows) for rows in zip(*tracks, strict=True)]


# --- zones and config -------------------------------------------------------------------------------------------


def test_surface_zones_carry_their_domain_and_vessel_lists(tmp_path: Path) -> None:
    zones = zones_file(tmp_path, protect_mmsi=[DREDGER])
    by_name = {z.name: z for z in zones.zones}
    assert [by_name[n].domain for n in ("works", "channel", "R-air")] == ["surface", "surface", "air"]
    assert by_name["works"].allowed_mmsi == (DREDGER,) and by_name["works"].protect_mmsi == (DREDGER,)
    assert list(zones.surface) == [True, True, False]
    lat, lon = zip(*(ll(0, 200), ll(0, 500), ll(0, -60)), strict=True)
    distance = zones.distance_m(np.array(lat), np.array(lon))
    assert distance[0, 0] == 0.0 and distance[1, 0] == pytest.approx(200.0, abs=0.5)
    offset = zones.border_offset_m(np.array(lat), np.array(lon))
    assert np.sign(offset[1]) == -np.sign(offset[2]) and abs(offset[2]) == pytest.approx(60.0, abs=0.5)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"kind": "protected", "allowed_mmsi": [DREDGER]}, "only a works zone"),
        ({"kind": "works", "allowed_mmsi": ["211000001"]}, "list of MMSIs"),
        ({"kind": "works", "protect_mmsi": [0]}, "list of MMSIs"),
    ],
)
def test_bad_vessel_lists_name_the_key(tmp_path: Path, props: dict[str, Any], message: str) -> None:
    geometry = {"type": "Polygon", "coordinates": [ring(0, 0, 100, 100)]}
    feature = {"type": "Feature", "properties": {"name": "z", **props}, "geometry": geometry}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(ConfigError, match=message) as err:
        load_zones(path)
    assert err.value.key.endswith(next(k for k in props if k != "kind"))


def test_mmsi_lists_and_surface_settings_in_the_assess_table() -> None:
    cfg = AssessmentConfig.from_dict({"friend_mmsi": [DREDGER], "loiter_min_s": 120, "border_crossing_all": True})
    assert (cfg.friend_mmsi, cfg.loiter_min_s, cfg.border_crossing_all) == ((DREDGER,), 120, True)
    assert AssessmentConfig.from_dict({"ais_gap_raise_s": 0}).ais_gap_raise_s == 0
    for bad in ({"friend_mmsi": ["x"]}, {"neutral_mmsi": [1_000_000_000]}, {"friend_mmsi": [True]}):
        with pytest.raises(ConfigError):
            AssessmentConfig.from_dict(bad)


def test_ais_report_intervals_follow_itu_class_a() -> None:
    knots = np.array([0.0, 2.0, 13.0, 15.0, 22.0, 24.0]) * 1852.0 / 3600.0
    assert list(ais_report_interval_s(knots)) == [180.0, 10.0, 10.0, 6.0, 6.0, 2.0]
    assert float(ais_report_interval_s(np.array([np.nan]))[0]) == 10.0


def test_the_surface_rules_are_registered_after_the_air_ones_and_documented() -> None:
    assert rules.BUILT_IN[-len(SURFACE_RULES) :] == SURFACE_RULES
    documented = re.findall(r"^- `(\w+)` \[([^\]]+)\]", surface_rules.__doc__ or "", flags=re.MULTILINE)
    assert [kind for kind, _ in documented] == [rule.kind for rule in SURFACE_RULES]
    for kind, bracket in documented:
        assert set(re.findall(r"\w+", bracket)) & set(SEVERITIES) == set(ALERT_KINDS[kind].severities), kind


# --- identity ---------------------------------------------------------------------------------------------------


def test_vessel_identities_as_a_watch_officer_expects(tmp_path: Path) -> None:
    st = river(tmp_path, friend_mmsi=(DREDGER,))
    rows: list[dict[str, Any]] = [
        {"system_id": 1, "e": 0, "n": 200, "mmsi": DREDGER, "kinds": AIS | RADAR},
        {"system_id": 2, "e": 2000, "n": -300, "mmsi": BARGE, "kinds": AIS | RADAR, "callsign": "OM1234"},
        {"system_id": 3, "e": -2000, "n": -300, "mmsi": TANKER, "kinds": AIS},
        {"system_id": 4, "e": -4000, "n": 500, "kinds": RADAR},
        {"system_id": 5, "e": 2050, "n": -300, "kinds": RADAR},  # the barge's radar echo, not yet fused
    ]
    st, _ = run(st, [rows] * 12)
    out = assess(st, T0 + 12, vessels(T0 + 12, rows))[1]
    assert list(out.identity) == ["friend", "neutral", "assumed_friend", "unknown", "pending"]
    # An aircraft overhead makes no vessel a duplicate, nor does a vessel make an aircraft one.
    st = river(tmp_path)
    helicopter = {"system_id": 9, "e": 0, "n": 0, "kinds": SENSOR_PSR | SENSOR_SSR, "squawk": 1000}
    for t in range(12):
        both = [vessels(T0 + t, [helicopter], "air"), vessels(T0 + t, [{"system_id": 4, "e": 50, "n": 0}])]
        st, out = assess(st, T0 + t, SystemTracks.concat(both))
    assert list(out.identity) == ["assumed_friend", "unknown"]


# --- dark vessel ------------------------------------------------------------------------------------------------


def test_dark_vessel_in_the_channel_then_near_the_works(tmp_path: Path) -> None:
    st = river(tmp_path)
    # A radar-only vessel comes up the channel towards the works; an AIS barge sails beside it.
    dark = moving(7, -2000, 0, 5.0, 0.0, 360)
    barge = moving(8, -2000, -600, 5.0, 0.0, 360, mmsi=BARGE, kinds=AIS | RADAR)
    st, events = run(st, frames_of(dark, barge))
    got = raised(events)
    assert [(e["kind"], e["system_id"], e["severity"]) for e in got] == [
        (DARK_VESSEL, 7, "medium"),
        (DARK_VESSEL, 7, "high"),
    ]
    channel, works = got
    assert channel["evidence"]["zone"]["name"] == "channel" and channel["evidence"]["distance_m"] == 0.0
    # Pending for its first 10 s, then unknown for the 20 s raise time.
    assert channel["raised_s"] == T0 + 30
    assert works["evidence"]["zone"]["name"] == "works"
    assert works["evidence"]["distance_m"] <= 500.0 and works["evidence"]["track"]["mmsi"] is None
    assert works["evidence"]["thresholds"] == {"distance_m": 500.0}
    # 500 m short of the works zone (its corner at e = -200, n = 100, the track on n = 0) at e = -690.
    assert works["raised_s"] == pytest.approx(T0 + (-200 - np.sqrt(500**2 - 100**2) + 2000) / 5 + 20, abs=1.5)


def test_no_dark_vessel_for_ais_vessels_far_vessels_or_a_known_boat(tmp_path: Path) -> None:
    st = river(tmp_path)
    rows: list[dict[str, Any]] = [
        {"system_id": 1, "e": 0, "n": -500, "mmsi": BARGE, "kinds": AIS | RADAR},
        {"system_id": 2, "e": 0, "n": 2000, "kinds": RADAR},  # a pond 1 km beyond the channel
        {"system_id": 3, "e": 3000, "n": -500, "kinds": RADAR, "status": "tentative"},
        {"system_id": 4, "e": -3000, "n": -500, "kinds": RADAR},
    ]
    st, events = run(st, [rows] * 5)
    st = override_identity(st, 4, "friend", "alice", T0 + 5)  # the water police's own boat
    st, events = run(st, [rows] * 60, start=5)
    assert raised(events) == []
    # The same boat without the operator's word is a dark vessel.
    st, events = run(river(tmp_path), [rows] * 60)
    assert [(e["kind"], e["system_id"]) for e in raised(events)] == [(DARK_VESSEL, 4)]


# --- works zone entry -------------------------------------------------------------------------------------------


def test_work_zone_entry_but_not_for_the_allowed_dredger(tmp_path: Path) -> None:
    st = river(tmp_path)
    rows = [
        {"system_id": 1, "e": 0, "n": 200, "mmsi": DREDGER, "kinds": AIS | RADAR, "callsign": "DREDGE"},
        {"system_id": 2, "e": 100, "n": 150, "mmsi": BARGE, "kinds": AIS | RADAR, "callsign": "OM1234"},
    ]
    st, events = run(st, [rows] * 20)
    got = raised(events)
    assert [(e["kind"], e["system_id"], e["severity"]) for e in got] == [(WORK_ZONE_ENTRY, 2, "medium")]
    evidence = got[0]["evidence"]
    assert evidence["mmsi"] == BARGE and evidence["identity"] == "neutral"
    assert evidence["zone"] == {"name": "works", "kind": "works", "allowed_mmsi": [DREDGER], "protect_mmsi": []}
    assert got[0]["raised_s"] == T0 + 10 + 5  # pending for 10 s, then the 5 s raise time


# --- AIS gap ----------------------------------------------------------------------------------------------------


def test_ais_gap_when_a_vessel_switches_ais_off_under_radar(tmp_path: Path) -> None:
    st = river(tmp_path)
    on = moving(5, -3000, -400, 5.0, 0.0, 40, mmsi=TANKER, kinds=AIS | RADAR, callsign="HA5678")
    off = moving(5, -3000 + 200, -400, 5.0, 0.0, 60, mmsi=TANKER, kinds=RADAR, callsign="HA5678")
    st, events = run(st, [[r] for r in on + off])
    got = raised(events, AIS_GAP)
    assert [(e["system_id"], e["severity"]) for e in got] == [(5, "high")]
    evidence = got[0]["evidence"]
    # 5 m/s is under 14 kn: one report every 10 s expected, silent beyond three.
    assert evidence["expected_interval_s"] == 10.0 and evidence["mmsi"] == TANKER
    assert evidence["last_ais_s"] == T0 + 39 and got[0]["condition_since_s"] == T0 + 39 + 31
    assert got[0]["raised_s"] == T0 + 39 + 32  # two ticks at least
    assert raised(events, DARK_VESSEL) == []  # it showed its MMSI: a gap, not a dark vessel


def test_no_ais_gap_without_radar_or_when_many_fall_silent_or_for_class_b(tmp_path: Path) -> None:
    # Radar loses it too: the vessel left the picture, nothing to say.
    on = moving(5, 0, -400, 5.0, 0.0, 40, mmsi=TANKER, kinds=AIS | RADAR)
    gone = moving(5, 200, -400, 5.0, 0.0, 60, mmsi=TANKER, kinds=0, status="coasting")
    _, events = run(river(tmp_path), [[r] for r in on + gone])
    assert raised(events) == []
    # Two vessels silent together: the AIS station or its link failed.
    a = moving(5, -3000, -400, 5.0, 0.0, 100, mmsi=TANKER, kinds=AIS | RADAR)
    b = moving(6, 3000, -400, -5.0, 0.0, 100, mmsi=BARGE, kinds=AIS | RADAR)
    for rows in (a, b):
        for row in rows[40:]:
            row["kinds"] = RADAR
    _, events = run(river(tmp_path), frames_of(a, b))
    assert raised(events, AIS_GAP) == []
    # Its radar track lost the AIS, but own AIS still hears the MMSI (a spoofed position feeding no track): no gap.
    spoofed = moving(5, -3000 + 200, -400, 5.0, 0.0, 60, mmsi=TANKER, kinds=RADAR)
    plots = [ais_plots(T0 + 40 + t, [(TANKER, 1000, 500)] if t % 10 == 0 else []) for t in range(60)]
    st, _ = run(river(tmp_path), [[r] for r in moving(5, -3000, -400, 5.0, 0.0, 40, mmsi=TANKER, kinds=AIS | RADAR)])
    _, events = run(st, [[r] for r in spoofed], start=40, plots=plots)
    assert raised(events, AIS_GAP) == []
    # A class B unit heard every 25 s (the tracker's AIS flag on for a tick each time) is no gap, however long.
    b_unit = moving(5, -3000, -400, 5.0, 0.0, 200, mmsi=TANKER, kinds=RADAR)
    for t in range(0, 200, 25):
        b_unit[t]["kinds"] = AIS | RADAR
    st, events = run(river(tmp_path), [[r] for r in b_unit])
    assert raised(events) == []
    # ... until it is silent for three of its own intervals.
    silent = moving(5, -3000 + 1000, -400, 5.0, 0.0, 80, mmsi=TANKER, kinds=RADAR)
    st, events = run(st, [[r] for r in silent], start=200)
    got = raised(events, AIS_GAP)
    assert len(got) == 1 and got[0]["evidence"]["expected_interval_s"] == 25.0


# --- AIS inconsistent with radar --------------------------------------------------------------------------------


def _spoof(st: AssessmentState, ais_at: tuple[float, float], radar: bool = True) -> list[dict[str, Any]]:
    """A vessel radar tracks at (1000, -300) while its AIS (every 2 s) says `ais_at`; all events over 40 s."""
    truth: dict[str, Any] = {"system_id": 3, "e": 1000, "n": -300, "mmsi": BARGE, "kinds": RADAR}
    spoofed: dict[str, Any] = {"system_id": 4, "e": ais_at[0], "n": ais_at[1], "mmsi": BARGE, "kinds": AIS}
    frames = [[truth, spoofed] if ais_at != (1000, -300) else [{**truth, "kinds": AIS | RADAR}]] * 40
    plots = [ais_plots(T0 + t, [(BARGE, *ais_at)] if t % 2 == 0 else [], radar) for t in range(40)]
    return run(st, frames, plots=plots)[1]


def test_ais_radar_inconsistent_when_the_ais_position_is_spoofed(tmp_path: Path) -> None:
    events = _spoof(river(tmp_path), (1000, 150))
    got = raised(events, AIS_RADAR_INCONSISTENT)
    assert [(e["system_id"], e["severity"]) for e in got] == [(4, "high")]
    evidence = got[0]["evidence"]
    assert evidence["mmsi"] == BARGE and evidence["radar_sensor"] == "SR-SK" and evidence["ais_sensor"] == "AIS-SK"
    assert evidence["nearest_own_radar_track"] == 3 and evidence["distance_m"] == pytest.approx(450.0, abs=1.0)
    # Third unsupported report at T0 + 4, then the 10 s raise time.
    assert evidence["unsupported_reports"] >= 3 and got[0]["condition_since_s"] == T0 + 4
    assert got[0]["raised_s"] == T0 + 14


def test_no_ais_radar_inconsistency_when_radar_supports_it_is_down_or_does_not_cover(tmp_path: Path) -> None:
    assert raised(_spoof(river(tmp_path), (1000, -300))) == []
    assert raised(_spoof(river(tmp_path), (1060, -300)), AIS_RADAR_INCONSISTENT) == []  # within 150 m
    assert raised(_spoof(river(tmp_path), (1000, 150), radar=False), AIS_RADAR_INCONSISTENT) == []
    assert raised(_spoof(river(tmp_path), (9000, 150)), AIS_RADAR_INCONSISTENT) == []  # beyond the radar's 6 km


def test_a_partners_radar_track_supports_no_ais_report(tmp_path: Path) -> None:
    """A partner's track next to the spoofed position (its tracker took a clutter plot there) is no own radar's word."""
    truth = {"system_id": 3, "e": 1000, "n": -300, "mmsi": BARGE, "kinds": RADAR}
    partners = {"system_id": 4, "e": 1000, "n": 150, "mmsi": BARGE, "kinds": AIS | RADAR, "partner": True}
    plots = [ais_plots(T0 + t, [(BARGE, 1000, 150)] if t % 2 == 0 else []) for t in range(40)]
    _, events = run(river(tmp_path), [[truth, partners]] * 40, plots=plots)
    assert [e["raised_s"] for e in raised(events, AIS_RADAR_INCONSISTENT)] == [T0 + 14]
    own = {**partners, "partner": False}
    _, events = run(river(tmp_path), [[truth, own]] * 40, plots=plots)
    assert raised(events, AIS_RADAR_INCONSISTENT) == []


def test_another_vessels_radar_track_supports_no_ais_report(tmp_path: Path) -> None:
    """The spoofed position passes a barge that radar tracks: the barge (another MMSI) is no support."""
    st = river(tmp_path)
    truth = {"system_id": 3, "e": 1000, "n": -300, "mmsi": BARGE, "kinds": AIS | RADAR}
    barge = {"system_id": 5, "e": 1000, "n": 160, "mmsi": TANKER, "kinds": AIS | RADAR}
    plots = [ais_plots(T0 + t, [(BARGE, 1000, 150)] if t % 2 == 0 else []) for t in range(40)]
    _, events = run(st, [[{**truth, "kinds": RADAR}, barge]] * 40, plots=plots)
    got = raised(events, AIS_RADAR_INCONSISTENT)
    assert len(got) == 1 and got[0]["evidence"]["nearest_own_radar_track"] == 3


# --- MMSI conflict ----------------------------------------------------------------------------------------------


def test_mmsi_conflict_between_two_tracks_far_apart(tmp_path: Path) -> None:
    rows = [
        {"system_id": 1, "e": -2000, "n": -400, "mmsi": BARGE, "kinds": AIS | RADAR},
        {"system_id": 2, "e": 2000, "n": 400, "mmsi": BARGE, "kinds": AIS | RADAR},
    ]
    _, events = run(river(tmp_path), [rows] * 10)
    got = raised(events, MMSI_CONFLICT)
    assert [(e["system_id"], e["severity"], e["key"]) for e in got] == [(1, "medium", f"{MMSI_CONFLICT}|{BARGE}")]
    assert got[0]["evidence"]["tracks"]["distance_m"] == pytest.approx(np.hypot(4000, 800), abs=1.0)
    assert got[0]["evidence"]["reports"] is None
    # Two tracks of one vessel side by side (the picture split it) are no conflict.
    near = [rows[0], {**rows[1], "e": -1500, "n": -400}]
    assert raised(run(river(tmp_path), [near] * 10)[1]) == []


def _heard(t: int, e: float) -> Plots:
    """Own AIS plots of second `t`: a report of the tanker's MMSI at (e, -400) every 5 s (no shore radar up)."""
    return ais_plots(T0 + t, [(TANKER, e, -400)] if t % 5 == 0 else [], radar=False)


def test_mmsi_conflict_from_interleaved_ais_reports(tmp_path: Path) -> None:
    # Two vessels 5 km apart share an MMSI; the picture (not yet) holds neither; own AIS hears both, 5 s apart.
    plots = [_heard(t, -2500 if t % 10 == 0 else 2500) for t in range(40)]
    _, events = run(river(tmp_path), [[]] * 40, plots=plots)
    got = raised(events, MMSI_CONFLICT)
    assert [(e["system_id"], e["evidence"]["mmsi"]) for e in got] == [(-1, TANKER)]
    reports = got[0]["evidence"]["reports"]
    assert reports["distance_m"] == pytest.approx(5000.0, abs=1.0) and reports["dt_s"] == 5.0
    assert reports["conflicting_pairs"] >= 2
    # One jump (a glitch) is not two vessels; nor is one vessel steaming on.
    jump = [_heard(t, -2500 if t < 10 else 2500) for t in range(40)]
    assert raised(run(river(tmp_path), [[]] * 40, plots=jump)[1]) == []
    steaming = [_heard(t, -2500 + 10 * t) for t in range(40)]
    assert raised(run(river(tmp_path), [[]] * 40, plots=steaming)[1]) == []


# --- loitering --------------------------------------------------------------------------------------------------


def _circling(
    system_id: int, e0: float, n0: float, seconds: int, radius: float = 100.0, **extra: Any
) -> list[dict[str, Any]]:
    """A boat drifting on a circle (one turn in 120 s)."""
    w = 2 * np.pi / 120
    return [
        {
            "system_id": system_id,
            "e": e0 + radius * np.cos(w * t),
            "n": n0 + radius * np.sin(w * t),
            "ve": -radius * w * np.sin(w * t),
            "vn": radius * w * np.cos(w * t),
            **extra,
        }
        for t in range(seconds)
    ]


def test_loitering_near_the_works(tmp_path: Path) -> None:
    boat = _circling(6, 500, 300, 300, mmsi=TANKER, kinds=AIS | RADAR)
    _, events = run(river(tmp_path), [[r] for r in boat])
    got = raised(events, LOITERING)
    assert [(e["system_id"], e["severity"]) for e in got] == [(6, "medium")]
    evidence = got[0]["evidence"]
    # Sixteen samples 16 s apart: the ring is full after 240 s.
    assert got[0]["raised_s"] == T0 + 240 + 1 and evidence["duration_s"] >= 240
    assert evidence["radius_m"] <= 300 and evidence["near_zone"]["name"] == "works"
    assert 200.0 <= evidence["zone_distance_m"] <= 400.0


def test_loitering_on_the_border_line(tmp_path: Path) -> None:
    boat = _circling(6, -3000, 0, 300, radius=30.0, mmsi=TANKER, kinds=AIS | RADAR)
    _, events = run(river(tmp_path), [[r] for r in boat])
    got = raised(events, LOITERING)
    assert len(got) == 1 and got[0]["evidence"]["near_zone"] is None
    assert got[0]["evidence"]["border_distance_m"] <= 50.0


def test_no_loitering_far_from_zones_for_the_dredger_or_for_passing_traffic(tmp_path: Path) -> None:
    far = _circling(6, 4000, 800, 300, mmsi=TANKER, kinds=AIS | RADAR)  # a fishing boat far from works and border
    bank = _circling(7, -3000, -400, 300, mmsi=TANKER + 1, kinds=AIS | RADAR)  # fishing by the bank, 300 m off it
    dredger = _circling(1, 0, 200, 300, mmsi=DREDGER, kinds=AIS | RADAR)
    barge = moving(2, -800, 40, 2.0, 0.0, 300, mmsi=BARGE, kinds=AIS | RADAR)  # slow, along the border
    _, events = run(river(tmp_path), frames_of(far, bank, dredger, barge))
    assert raised(events) == []


# --- fast approach ----------------------------------------------------------------------------------------------


def test_fast_approach_on_the_protected_dredger(tmp_path: Path) -> None:
    st = river(tmp_path, works={"protect_mmsi": [DREDGER]})
    dredger = [{"system_id": 1, "e": 0, "n": 200, "mmsi": DREDGER, "kinds": AIS | RADAR}] * 120
    craft = moving(9, 2500, 200, -12.0, 0.0, 120)
    _, events = run(st, frames_of(dredger, craft))
    got = raised(events, FAST_APPROACH)
    assert [(e["system_id"], e["severity"], e["key"]) for e in got] == [(9, "high", f"{FAST_APPROACH}|9|{DREDGER}")]
    evidence = got[0]["evidence"]
    assert evidence["target"]["vessel"]["system_id"] == 1 and evidence["closing_speed_mps"] == 12.0
    assert evidence["cpa_m"] == pytest.approx(0.0, abs=1.0) and evidence["time_to_reach_s"] < 120
    assert evidence["distance_m"] == pytest.approx(evidence["time_to_reach_s"] * 12.0, abs=1.0)
    # Within 120 s of the dredger (1440 m) from t = 88.3 s; raised 3 s later.
    assert got[0]["condition_since_s"] == T0 + 89 and got[0]["raised_s"] == T0 + 92


def test_no_fast_approach_for_a_craft_passing_clear_a_slow_vessel_or_the_works_own_boats(tmp_path: Path) -> None:
    st = river(tmp_path, works={"protect_mmsi": [DREDGER], "allowed_mmsi": [DREDGER, TANKER]})
    dredger = [{"system_id": 1, "e": 0, "n": 200, "mmsi": DREDGER, "kinds": AIS | RADAR}] * 150
    passing = moving(9, 2500, -500, -12.0, 0.0, 150)  # 700 m abeam of the dredger
    barge = moving(12, 1200, 50, -6.0, 0.0, 150, mmsi=BARGE + 1, kinds=AIS | RADAR)  # 150 m abeam, in the channel
    slow = moving(10, 600, 200, -3.0, 0.0, 150, mmsi=BARGE, kinds=AIS | RADAR)
    tender = moving(11, 1500, 200, -10.0, 0.0, 150, mmsi=TANKER, kinds=AIS | RADAR)  # the works' own boat
    _, events = run(st, frames_of(dredger, passing, barge, slow, tender))
    assert raised(events, FAST_APPROACH) == []


def test_fast_approach_on_a_works_zone_without_protected_vessels(tmp_path: Path) -> None:
    craft = moving(9, 0, -1500, 0.0, 12.0, 120)
    _, events = run(river(tmp_path), [[r] for r in craft])
    got = raised(events, FAST_APPROACH)
    assert [(e["system_id"], e["key"]) for e in got] == [(9, f"{FAST_APPROACH}|9|works")]
    evidence = got[0]["evidence"]
    assert evidence["target"]["vessel"] is None and evidence["target"]["zone"]["name"] == "works"
    assert evidence["closing_speed_mps"] == pytest.approx(12.0, abs=0.1)
    assert evidence["time_to_reach_s"] == pytest.approx(evidence["distance_m"] / 12.0, abs=0.2)


# --- border crossing --------------------------------------------------------------------------------------------


def test_border_crossing_by_a_dark_vessel(tmp_path: Path) -> None:
    craft = moving(9, 3000, -400, 0.0, 4.0, 150)
    _, events = run(river(tmp_path), [[r] for r in craft])
    got = raised(events, BORDER_CROSSING)
    assert [(e["system_id"], e["severity"]) for e in got] == [(9, "high")]
    evidence = got[0]["evidence"]
    # Beyond the 50 m margin on the far side at n = 52 (t = 113 s); raised 2 s later.
    assert evidence["crossed_s"] == T0 + 113 and got[0]["raised_s"] == T0 + 115
    assert evidence["identity"] == "unknown" and evidence["to_side"] == "left" and abs(evidence["offset_m"]) > 50
    assert evidence["crossing_lat_deg"] == pytest.approx(ll(3000, 52)[0], abs=1e-6)


def test_no_border_crossing_along_the_border_or_for_ais_vessels_unless_configured(tmp_path: Path) -> None:
    # A dark vessel sailing along the border, weaving 40 m either side of it, never changes side.
    weaving = [{"system_id": 9, "e": -3000 + 5 * t, "n": 40 * np.sin(t / 10), "ve": 5.0} for t in range(300)]
    # An AIS vessel changing lanes across the border: ordinary traffic.
    lanes = moving(2, 3000, -200, -4.0, 3.0, 300, mmsi=BARGE, kinds=AIS | RADAR, callsign="OM1234")
    _, events = run(river(tmp_path), frames_of(weaving, lanes))
    assert raised(events, BORDER_CROSSING) == []
    _, events = run(river(tmp_path, border_crossing_all=True), frames_of(weaving, lanes))
    got = raised(events, BORDER_CROSSING)
    assert [(e["system_id"], e["severity"], e["evidence"]["identity"]) for e in got] == [(2, "medium", "neutral")]


# --- the two pictures stay apart --------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["air", "surface"])
def test_air_rules_only_ever_see_aircraft(tmp_path: Path, domain: str) -> None:
    """One target through every air rule: as an aircraft it raises them, as a vessel none of them."""
    st = river(tmp_path, border_raise_s=0.0)
    # An unknown target appearing near the border inside the restricted zone, and a squawking one that loses SSR.
    dark = {"system_id": 1, "e": 0, "n": -100, "kinds": SENSOR_PSR}
    squawk = {"system_id": 2, "e": 3000, "n": -500, "kinds": SENSOR_PSR | SENSOR_SSR, "squawk": 7700, "mode_s": 1}
    lost = {**squawk, "kinds": SENSOR_PSR}
    _, events = run(st, [[dark, squawk]] * 30 + [[dark, lost]] * 30, domain=domain)
    kinds = {e["kind"] for e in raised(events)}
    if domain == "air":
        assert {ZONE_ENTRY, UNKNOWN_NEAR_BORDER, EMERGENCY, TRANSPONDER_LOSS} <= kinds
        assert not kinds & SURFACE_KINDS
    else:
        assert not kinds & AIR_KINDS


@pytest.mark.parametrize("domain", ["air", "surface"])
def test_partner_contradiction_only_for_aircraft(tmp_path: Path, domain: str) -> None:
    """A partner track inside own primary radar coverage that no own track explains: a contradiction for an aircraft,
    none for a vessel (own air radar does not watch the water)."""
    st = river(tmp_path, partner_raise_s=0.0)
    lat, lon = ll(0, -500)
    events = []
    for t in range(5):
        partner = TrackReports.build(
            1,
            time_s=[T0 + t],
            owner=["hu"],
            track_id=[5],
            lat_deg=[lat],
            lon_deg=[lon],
            alt_m=[0.0 if domain == "surface" else 900.0],
            cov_ee=[100.0],
            cov_nn=[100.0],
            cov_en=[0.0],
            domain=[domain],
        )
        plots = Plots.build(1, time_s=[T0 + t], sensor_id=["PSR-SK"], range_m=[1e4], azimuth_deg=[0.0])
        st, out = assess(st, T0 + t, vessels(T0 + t, []), plots, TrackReports.empty(), partner)
        events += out.events
    assert [e["kind"] for e in raised(events)] == ([PARTNER_CONTRADICTION] if domain == "air" else [])


@pytest.mark.parametrize("domain", ["air", "surface"])
def test_surface_rules_only_ever_see_vessels(tmp_path: Path, domain: str) -> None:
    """The dark vessel, works entry, loitering, approach and crossing of a target: only as a vessel."""
    st = river(tmp_path, works={"protect_mmsi": [DREDGER]})
    dredger = [{"system_id": 1, "e": 0, "n": 200, "mmsi": DREDGER, "kinds": AIS | RADAR}] * 300
    intruder = moving(9, 0, -1200, 0.0, 5.0, 300)  # crosses the border, closes on and enters the works
    loiterer = _circling(6, 600, 300, 300, mmsi=TANKER, kinds=AIS | RADAR)
    _, events = run(st, frames_of(dredger, intruder, loiterer), domain=domain)
    kinds = {e["kind"] for e in raised(events)}
    if domain == "surface":
        assert {DARK_VESSEL, WORK_ZONE_ENTRY, LOITERING, FAST_APPROACH, BORDER_CROSSING} <= kinds
        assert not kinds & AIR_KINDS
    else:
        assert not kinds & SURFACE_KINDS
