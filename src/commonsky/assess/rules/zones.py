"""Airspace rules: zone entry, predicted zone entry, and an unknown track appearing near a border.

They look at air tracks and airspace zones only (vessels and surface zones are `commonsky.assess.rules.surface`'s).

- `zone_entry` [restricted/protected: high, border buffer: medium]: inside a zone's polygon and altitude
  band, for the identities the zone alerts on;
- `zone_predicted_entry` [medium]: outside, but the straight-line track (horizontal velocity, vertical rate
  when known) enters the zone within `predict_horizon_s`; evidence holds `time_to_entry_s`;
- `unknown_near_border` [high]: an `unknown` track that appeared (first seen after the start-up grace)
  within `border_distance_m` of a border line or border buffer zone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from commonsky.assess.alerts import Condition
from commonsky.assess.identity import IDENTITIES, Identity
from commonsky.assess.registry import AlertRule, Tick
from commonsky.assess.rules.common import air, num, track
from commonsky.assess.state import AssessmentState, TrackMemory
from commonsky.assess.zones import Zone
from commonsky.core.arrays import B

ZONE_ENTRY = "zone_entry"
ZONE_PREDICTED = "zone_predicted_entry"
UNKNOWN_NEAR_BORDER = "unknown_near_border"


def _zone(zone: Zone) -> dict[str, Any]:
    """The evidence view of a zone."""
    return {"name": zone.name, "kind": zone.kind, "floor_m": zone.floor_m, "ceiling_m": zone.ceiling_m}


def _inside(state: AssessmentState, tick: Tick) -> tuple[B, B]:
    """(tracks, zones): whether the zone alerts on the track's identity (an aircraft's, in an airspace zone), and
    whether the track is inside it."""
    zones, system = state.zones, tick.system
    allowed = state.zone_identities[tick.identity] & air(system)[:, None] & ~zones.surface[None, :]
    inside = zones.contains(system.lat_deg, system.lon_deg) & zones.in_band(
        system.alt_m, state.config.unknown_altitude_in_band
    )
    return allowed, inside


def zone_entry(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Inside a zone's polygon and altitude band, for an identity the zone alerts on."""
    system = tick.system
    if not len(state.zones) or not len(system.system_id):
        return state, []
    allowed, inside = _inside(state, tick)
    out = []
    for k, z in zip(*np.nonzero(inside & allowed), strict=True):
        zone = state.zones.zones[z]
        severity = "medium" if zone.kind == "border_buffer" else "high"
        evidence = {"track": track(system, k), "zone": _zone(zone), "identity": IDENTITIES[tick.identity[k]]}
        sid = int(system.system_id[k])
        out.append(Condition(f"{ZONE_ENTRY}|{sid}|{zone.name}", ZONE_ENTRY, sid, severity, evidence))
    return state, out


def zone_predicted_entry(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Outside a zone it alerts on, but entering it within the horizon on the present course and climb."""
    zones, cfg, system = state.zones, state.config, tick.system
    if not len(zones) or not len(system.system_id):
        return state, []
    speed = np.hypot(system.v_east_mps, system.v_north_mps)
    moving = np.isfinite(speed) & (speed >= cfg.predict_min_speed_mps)
    if not moving.any():
        return state, []
    allowed, inside = _inside(state, tick)
    m = np.flatnonzero(moving)
    tte = zones.time_to_entry(
        system.lat_deg[m], system.lon_deg[m], system.v_east_mps[m], system.v_north_mps[m], cfg.predict_horizon_s
    )
    alt_at = system.alt_m[m, None] + np.nan_to_num(system.v_up_mps[m])[:, None] * np.nan_to_num(tte)
    band_at = zones.in_band(alt_at, cfg.unknown_altitude_in_band)
    predicted = np.isfinite(tte) & band_at & ~inside[m] & allowed[m]
    out = []
    for j, z in zip(*np.nonzero(predicted), strict=True):
        k = m[j]
        zone = zones.zones[z]
        evidence = {
            "track": track(system, k),
            "zone": _zone(zone),
            "identity": IDENTITIES[tick.identity[k]],
            "time_to_entry_s": round(float(tte[j, z]), 1),
            "predicted_alt_m": num(alt_at[j, z]),
            "thresholds": {"horizon_s": cfg.predict_horizon_s, "min_speed_mps": cfg.predict_min_speed_mps},
        }
        sid = int(system.system_id[k])
        out.append(Condition(f"{ZONE_PREDICTED}|{sid}|{zone.name}", ZONE_PREDICTED, sid, "medium", evidence))
    return state, out


def unknown_near_border(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """An unknown track that appeared near a border: decided once, when the track is first found unknown.

    It appeared if it was first seen after the start-up grace, within `border_distance_m` of a border
    line or border buffer zone, and was still new (younger than `new_track_s`) when identified unknown;
    the condition then holds while the track stays unknown.
    """
    cfg, c, system, rows = state.config, state.memory.columns, tick.system, tick.rows
    assert state.started_s is not None
    unknown = (tick.identity == Identity.UNKNOWN.code) & air(system)
    fresh = np.flatnonzero(unknown & ~c["border_checked"][rows])
    if len(fresh):
        r = rows[fresh]
        first_s = c["first_seen_s"][r]
        distance = state.zones.border_distance_m(c["first_lat_deg"][r], c["first_lon_deg"][r])
        flag = (
            (first_s >= state.started_s + cfg.startup_grace_s)
            & (tick.time_s - first_s <= cfg.new_track_s)
            & (distance <= cfg.border_distance_m)
        )
        checked, flags = c["border_checked"].copy(), c["border_flag"].copy()
        checked[r], flags[r] = True, flag
        c = {**c, "border_checked": checked, "border_flag": flags}
        state = replace(state, memory=TrackMemory(state.memory.system_id, c))
    out = []
    for k in np.flatnonzero(unknown & c["border_flag"][rows]):
        r = rows[k]
        sid = int(system.system_id[k])
        distance_m = state.zones.border_distance_m(c["first_lat_deg"][r : r + 1], c["first_lon_deg"][r : r + 1])
        evidence = {
            "track": track(system, k),
            "first_seen_s": float(c["first_seen_s"][r]),
            "first_lat_deg": round(float(c["first_lat_deg"][r]), 6),
            "first_lon_deg": round(float(c["first_lon_deg"][r]), 6),
            "border_distance_m": num(distance_m[0]),
            "thresholds": {"border_distance_m": cfg.border_distance_m, "new_track_s": cfg.new_track_s},
        }
        out.append(Condition(f"{UNKNOWN_NEAR_BORDER}|{sid}", UNKNOWN_NEAR_BORDER, sid, "high", evidence))
    return state, out


ZONE_ENTRY_RULE = AlertRule(
    ZONE_ENTRY,
    "Zone entry",
    ("high", "medium"),
    "#ff6b6b",
    "The track is inside a zone and its altitude band, with an identity the zone alerts on: "
    "high in a restricted or protected zone, medium in a border buffer.",
    zone_entry,
    raise_s="zone_raise_s",
)
ZONE_PREDICTED_RULE = AlertRule(
    ZONE_PREDICTED,
    "Predicted zone entry",
    ("medium",),
    "#ffa94d",
    "The track is outside a zone but on its present course and climb will enter it soon; "
    "the evidence gives the time to entry.",
    zone_predicted_entry,
    raise_s="predicted_raise_s",
)
UNKNOWN_NEAR_BORDER_RULE = AlertRule(
    UNKNOWN_NEAR_BORDER,
    "Unknown near border",
    ("high",),
    "#ffff80",
    "An unknown track appeared close to a border line or border buffer after start-up.",
    unknown_near_border,
    raise_s="border_raise_s",
)
