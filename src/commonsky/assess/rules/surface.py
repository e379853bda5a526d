"""Surface rules: vessels on a river or at the coast, seen by AIS and shore radar, against works, channel and border.

- `dark_vessel` [works zone: high, other surface zone: medium]: a confirmed radar-fed surface track that
  has never shown an MMSI (no AIS), inside or within `dark_vessel_distance_m` of a surface zone that alerts
  on its identity (unknown, suspect or hostile by default; an operator who knows the boat says friend);
- `work_zone_entry` [no MMSI: high, AIS vessel: medium]: a surface track inside a works zone whose MMSI
  is not on the zone's `allowed_mmsi`, for the identities the zone alerts on;
- `ais_gap` [high]: AIS fed the track (its MMSI known) for at least `ais_gap_history_s`, has been silent
  for more than `ais_gap_factor` expected report intervals, and shore radar still feeds it, inside the
  coverage of an AIS station that is up; not while another track of the MMSI still hears it, nor when
  several vessels fall silent together (`common_mode_*`: a station or link outage);
- `ais_radar_inconsistent` [high]: `ais_radar_min_inconsistent` own AIS reports of an MMSI in a row lie
  inside an up own shore radar's coverage with no own radar-fed vessel track (of no MMSI, or of that one)
  within `ais_radar_distance_m`: a spoofed or wrong AIS position;
- `mmsi_conflict` [medium]: two surface tracks of one MMSI more than `mmsi_conflict_distance_m` apart, or
  `mmsi_conflict_reports` own AIS report pairs of the MMSI too far apart for one vessel: two vessels
  transmit the same identity;
- `loitering` [medium]: a surface track whose positions over `loiter_min_s` stay within
  `loiter_radius_m` of where it was then, inside or within `loiter_distance_m` of a works zone or
  `loiter_border_m` of a border line;
- `fast_approach` [high]: a surface track closing faster than `approach_speed_mps` on a protected vessel
  (a works zone's `protect_mmsi`; passing within `approach_cpa_m`) or on a works zone without one, and
  reaching it within `approach_time_s`;
- `border_crossing` [unknown, suspect, hostile: high, others: medium]: a surface track that was more than
  `border_margin_m` on one side of a border line is now as far on the other; held for
  `border_crossing_hold_s`. Identified vessels (AIS) change lanes across a mid-channel border all day, so
  they are alerted only with `border_crossing_all`.

Vessels on a works zone's `allowed_mmsi` and vessels identified `friend` never loiter or approach fast.
The rules look at surface tracks (domain "surface") and surface zones only; the air rules never at a vessel.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from commonsky.assess.alerts import Condition
from commonsky.assess.checks import ais_radar_tests, ais_report_interval_s, in_coverage, join_equal, lookup
from commonsky.assess.config import AssessmentConfig
from commonsky.assess.identity import IDENTITIES, Identity
from commonsky.assess.registry import AlertRule, Tick
from commonsky.assess.rules.common import common_mode, num, runs_by_key, sensor_up, surface, track
from commonsky.assess.state import LOITER_SAMPLES, AisRadarMemory, AssessmentState, MmsiMemory, TrackMemory
from commonsky.assess.zones import Zone
from commonsky.core.arrays import F64, I64, B
from commonsky.core.batches import SENSOR_AIS, SENSOR_RADAR, SENSOR_SURFACE_RADAR, Plots
from commonsky.core.sensors import DOMAIN_SURFACE, SensorKind

DARK_VESSEL = "dark_vessel"
WORK_ZONE_ENTRY = "work_zone_entry"
AIS_GAP = "ais_gap"
AIS_RADAR_INCONSISTENT = "ais_radar_inconsistent"
MMSI_CONFLICT = "mmsi_conflict"
LOITERING = "loitering"
FAST_APPROACH = "fast_approach"
BORDER_CROSSING = "border_crossing"
WATCHED_IDENTITIES = (Identity.UNKNOWN.code, Identity.SUSPECT.code, Identity.HOSTILE.code)
"""Identities that make a border crossing high (and alerted at all without `border_crossing_all`)."""


def _zone(zone: Zone) -> dict[str, Any]:
    """The evidence view of a surface zone."""
    view: dict[str, Any] = {"name": zone.name, "kind": zone.kind}
    if zone.kind == "works":
        view |= {"allowed_mmsi": list(zone.allowed_mmsi), "protect_mmsi": list(zone.protect_mmsi)}
    return view


def _mmsi(value: int | np.integer[Any]) -> int | None:
    """An MMSI for the evidence (None when unknown)."""
    return int(value) if value >= 0 else None


def _works(state: AssessmentState) -> list[int]:
    """Indices of the works zones."""
    return [z for z, zone in enumerate(state.zones.zones) if zone.kind == "works"]


def _exempt(state: AssessmentState, tick: Tick) -> B:
    """Tracks that never loiter or approach: identified friend, or on a works zone's allow-list."""
    allowed = [m for z in _works(state) for m in state.zones.zones[z].allowed_mmsi]
    mmsi = tick.system.mmsi
    return np.asarray((tick.identity == Identity.FRIEND.code) | (np.isin(mmsi, allowed) & (mmsi >= 0)))


def _with(state: AssessmentState, **columns: NDArray[Any]) -> AssessmentState:
    """The state with some per-track memory columns replaced."""
    memory = state.memory
    return replace(state, memory=TrackMemory(memory.system_id, {**memory.columns, **columns}))


def dark_vessel(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Radar-fed surface tracks that never showed an MMSI, in or near a surface zone that alerts on their identity."""
    cfg, system, zones = state.config, tick.system, state.zones
    sz = np.flatnonzero(zones.surface)
    kinds = system.sensor_kinds.astype(np.int64)
    dark = (
        surface(system)
        & (system.status == "confirmed")
        & ((kinds & SENSOR_RADAR) != 0)
        & ((kinds & SENSOR_AIS) == 0)
        & (system.mmsi < 0)
        & ~state.memory.columns["ever_mmsi"][tick.rows]
    )
    idx = np.flatnonzero(dark)
    if not len(sz) or not len(idx):
        return state, []
    distance = zones.distance_m(system.lat_deg[idx], system.lon_deg[idx])[:, sz]
    hit = (distance <= cfg.dark_vessel_distance_m) & state.zone_identities[tick.identity[idx]][:, sz]
    first_seen = state.memory.columns["first_seen_s"][tick.rows]
    out = []
    for j, z in zip(*np.nonzero(hit), strict=True):
        k, zone = idx[j], zones.zones[sz[z]]
        sid = int(system.system_id[k])
        evidence = {
            "track": track(system, k),
            "zone": _zone(zone),
            "distance_m": num(distance[j, z]),
            "identity": IDENTITIES[tick.identity[k]],
            "first_seen_s": float(first_seen[k]),
            "thresholds": {"distance_m": cfg.dark_vessel_distance_m},
        }
        severity = "high" if zone.kind == "works" else "medium"
        out.append(Condition(f"{DARK_VESSEL}|{sid}|{zone.name}", DARK_VESSEL, sid, severity, evidence))
    return state, out


def work_zone_entry(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Surface tracks inside a works zone whose MMSI is not on its allow-list, for an identity it alerts on."""
    system, zones = tick.system, state.zones
    works = _works(state)
    idx = np.flatnonzero(surface(system))
    if not works or not len(idx):
        return state, []
    inside = zones.contains(system.lat_deg[idx], system.lon_deg[idx])[:, works]
    allowed = np.stack([np.isin(system.mmsi[idx], zones.zones[z].allowed_mmsi) for z in works], axis=-1)
    hit = inside & ~(allowed & (system.mmsi[idx] >= 0)[:, None]) & state.zone_identities[tick.identity[idx]][:, works]
    out = []
    for j, z in zip(*np.nonzero(hit), strict=True):
        k, zone = idx[j], zones.zones[works[z]]
        sid = int(system.system_id[k])
        evidence = {
            "track": track(system, k),
            "zone": _zone(zone),
            "mmsi": _mmsi(system.mmsi[k]),
            "identity": IDENTITIES[tick.identity[k]],
        }
        severity = "high" if system.mmsi[k] < 0 else "medium"
        out.append(Condition(f"{WORK_ZONE_ENTRY}|{sid}|{zone.name}", WORK_ZONE_ENTRY, sid, severity, evidence))
    return state, out


def ais_gap(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Remember when AIS fed each vessel track; conditions where it fell silent while shore radar holds it.

    The expected report interval is the class A one (`ais_report_interval_s`) at the faster of the vessel's
    speed now and when AIS last fed it (a unit reports more often as it speeds up), or the longest silence of
    the track that ended with AIS back short of an alert, up to `ais_interval_max_s` (a class B unit, or the
    tracker's reporting window), whichever is longer. Silence is counted from the last tick AIS fed the track, or
    the last own AIS report of its MMSI if later: a vessel whose AIS an own station still hears is not silent, even
    when its reports feed no track (a spoofed position far from it: `ais_radar_inconsistent`'s case).
    """
    cfg, c, system, rows, time_s = state.config, state.memory.columns, tick.system, tick.rows, tick.time_s
    surf = surface(system)
    if not surf.any():
        return state, []
    kinds = system.sensor_kinds.astype(np.int64)
    speed = np.hypot(system.v_east_mps, system.v_north_mps)
    heard = surf & ((kinds & SENSOR_AIS) != 0) & (system.mmsi >= 0)
    first, last, mmsi = c["first_ais_s"][rows], c["last_ais_s"][rows], c["ais_mmsi"][rows]
    ais_speed, learned = c["ais_speed_mps"][rows], c["ais_interval_s"][rows]

    def expected_interval(ais_speed: F64, learned: F64) -> F64:
        return np.fmax(ais_report_interval_s(np.fmax(speed, ais_speed)), np.fmin(learned, cfg.ais_interval_max_s))

    expected = expected_interval(ais_speed, learned)
    silence = time_s - last
    with np.errstate(invalid="ignore"):
        back = heard & (silence < cfg.ais_gap_factor * expected)
    learned = np.where(back, np.fmax(learned, np.fmin(silence, cfg.ais_interval_max_s)), learned)
    first = np.where(heard & np.isnan(first), time_s, first)
    last = np.where(heard, time_s, last)
    mmsi = np.where(heard, system.mmsi, mmsi)
    ais_speed = np.where(heard, speed, ais_speed)
    own = np.fmax(c["ais_heard_s"][rows], _own_reports_of(state, tick.plots, mmsi))
    columns = {}
    for name, values in (
        ("first_ais_s", first),
        ("last_ais_s", last),
        ("ais_mmsi", mmsi),
        ("ais_speed_mps", ais_speed),
        ("ais_interval_s", learned),
        ("ais_heard_s", own),
    ):
        col = c[name].copy()
        col[rows] = values
        columns[name] = col
    expected = expected_interval(ais_speed, learned)
    silence = time_s - np.fmax(last, own)
    with np.errstate(invalid="ignore"):
        silent = (
            surf
            & (mmsi >= 0)
            & (last - first >= cfg.ais_gap_history_s)
            & (silence > cfg.ais_gap_factor * expected)
            & ((kinds & SENSOR_SURFACE_RADAR) != 0)
        )
    idx = np.flatnonzero(silent & ~np.isin(mmsi, system.mmsi[heard]))
    common = common_mode(last[idx], cfg.common_mode_window_s, cfg.common_mode_tracks)
    outage = c["outage_ais_s"].copy()
    outage[rows[idx[common]]] = last[idx[common]]
    idx = idx[~common & (outage[rows[idx]] != last[idx])]
    state = _with(state, **columns, outage_ais_s=outage)
    covered = np.zeros(len(idx), dtype=bool)
    for spec in state.sensors.values():
        if spec.kind is SensorKind.AIS and sensor_up(state, spec, time_s, True):
            lat, lon, alt = system.lat_deg[idx], system.lon_deg[idx], system.alt_m[idx]
            covered |= in_coverage(spec, lat, lon, alt, cfg.coverage_fraction)
    out = []
    for k in idx[covered]:
        sid = int(system.system_id[k])
        evidence = {
            "track": track(system, k),
            "mmsi": int(mmsi[k]),
            "first_ais_s": float(first[k]),
            "last_ais_s": float(last[k]),
            "silence_s": num(silence[k]),
            "expected_interval_s": num(expected[k]),
            "speed_mps": num(max(speed[k], ais_speed[k])),
            "thresholds": {
                "ais_gap_factor": cfg.ais_gap_factor,
                "ais_gap_history_s": cfg.ais_gap_history_s,
                "ais_interval_max_s": cfg.ais_interval_max_s,
                "common_mode_tracks": cfg.common_mode_tracks,
                "common_mode_window_s": cfg.common_mode_window_s,
            },
        }
        out.append(Condition(f"{AIS_GAP}|{sid}", AIS_GAP, sid, "high", evidence))
    return state, out


def _own_ais(state: AssessmentState, plots: Plots) -> Plots:
    """The own AIS reports among a tick's plots: surface plots of an AIS station, with an MMSI and a position."""
    surface_plots = plots.take(plots.surface)
    kind = lookup(surface_plots.sensor_id, {sid: s.kind.value for sid, s in state.sensors.items()}, "")
    return surface_plots.take(
        (kind == SensorKind.AIS)
        & (surface_plots.mmsi >= 0)
        & np.isfinite(surface_plots.lat_deg)
        & np.isfinite(surface_plots.lon_deg)
    )


def _own_reports_of(state: AssessmentState, plots: Plots | None, mmsi: NDArray[np.int32]) -> F64:
    """Per MMSI asked for, the time of the latest own AIS report of it among the plots (NaN: none)."""
    out = np.full(len(mmsi), np.nan)
    if plots is None:
        return out
    own = _own_ais(state, plots)
    if not len(own):
        return out
    heard, inverse = np.unique(own.mmsi, return_inverse=True)
    latest = np.full(len(heard), -np.inf)
    np.maximum.at(latest, inverse, own.time_s)
    pos = np.searchsorted(heard, mmsi).clip(0, len(heard) - 1)
    found = heard[pos] == mmsi
    out[found] = latest[pos[found]]
    return out


def ais_radar_inconsistent(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Update the per-MMSI runs of own AIS reports no radar track supports; conditions where a run is long enough.

    Own sensors judge both ways, as for ADS-B against radar: an own shore radar known to be up covers the report,
    and only the own tracks it feeds support it (a partner's radar may be down without this node knowing, and a
    partner's track that took a clutter plot next to a spoofed position is no evidence of a vessel there). Without
    plots or own tracks the runs are left as they are.
    """
    cfg, mem, system, time_s = state.config, state.ais_radar, tick.system, tick.time_s
    plots, local = tick.plots, tick.local
    if plots is None or local is None:
        return state, []
    radars = [
        s for s in state.sensors.values() if s.kind is SensorKind.SURFACE_RADAR and sensor_up(state, s, time_s, False)
    ]
    own = local.take((local.domain == DOMAIN_SURFACE) & ((local.sensor_kinds.astype(np.int64) & SENSOR_RADAR) != 0))
    found = ais_radar_tests(
        state.frame,
        plots.take(plots.surface),
        state.sensors,
        radars,
        (own.lat_deg, own.lon_deg, own.time_s, own.v_east_mps, own.v_north_mps, own.mmsi),
        cfg.coverage_fraction,
    )
    if len(found):
        # Per MMSI this tick: any supported report ends the run, otherwise the run grows by the reports.
        merged, streak, column = runs_by_key(
            mem.mmsi, mem.streak, found.mmsi, found.time_s, found.distance_m > cfg.ais_radar_distance_m
        )
        radar_track = np.append(own.track_id, -1)[found.track_row]  # row -1: no radar track

        mem = AisRadarMemory(
            mmsi=merged,
            streak=streak,
            last_test_s=column(mem.last_test_s, found.time_s),
            lat_deg=column(mem.lat_deg, found.lat_deg),
            lon_deg=column(mem.lon_deg, found.lon_deg),
            distance_m=column(mem.distance_m, found.distance_m),
            radar_track=column(mem.radar_track, radar_track.astype(np.int64)),
            radar_sensor=column(mem.radar_sensor.astype("<U24"), found.radar_sensor.astype("<U24")),
            ais_sensor=column(mem.ais_sensor.astype("<U24"), found.ais_sensor.astype("<U24")),
        )
    mem = mem.take(time_s - mem.last_test_s <= cfg.ais_radar_memory_s)
    out = []
    for i in np.flatnonzero(mem.streak >= cfg.ais_radar_min_inconsistent):
        k = _nearest_of_mmsi(state, tick, int(mem.mmsi[i]), mem.lat_deg[i], mem.lon_deg[i])
        evidence = {
            "track": track(system, k) if k >= 0 else None,
            "mmsi": int(mem.mmsi[i]),
            "ais_sensor": str(mem.ais_sensor[i]),
            "radar_sensor": str(mem.radar_sensor[i]),
            "ais_time_s": float(mem.last_test_s[i]),
            "ais_lat_deg": round(float(mem.lat_deg[i]), 6),
            "ais_lon_deg": round(float(mem.lon_deg[i]), 6),
            "nearest_own_radar_track": int(mem.radar_track[i]) if mem.radar_track[i] >= 0 else None,
            "distance_m": num(mem.distance_m[i]),
            "unsupported_reports": int(mem.streak[i]),
            "thresholds": {
                "distance_m": cfg.ais_radar_distance_m,
                "min_inconsistent": cfg.ais_radar_min_inconsistent,
                "coverage_fraction": cfg.coverage_fraction,
            },
        }
        sid = int(system.system_id[k]) if k >= 0 else -1
        key = f"{AIS_RADAR_INCONSISTENT}|{int(mem.mmsi[i]):09d}"
        out.append(Condition(key, AIS_RADAR_INCONSISTENT, sid, "high", evidence))
    return replace(state, ais_radar=mem), out


def _nearest_of_mmsi(state: AssessmentState, tick: Tick, mmsi: int, lat_deg: float, lon_deg: float) -> int:
    """Row of the surface track of this MMSI nearest to a position (-1 when no track has it)."""
    on = np.flatnonzero(surface(tick.system) & (tick.system.mmsi == mmsi))
    if not len(on):
        return -1
    e, n, _ = state.frame.geodetic_to_enu(np.array([lat_deg]), np.array([lon_deg]), 0.0)
    return int(on[np.argmin(np.hypot(tick.points[on, 0] - e[0], tick.points[on, 1] - n[0]))])


def mmsi_conflict(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """One MMSI on two vessels: surface tracks far apart now, or own AIS reports too far apart for one vessel.

    Each own report is compared with the MMSI's previous one (remembered across ticks): a pair is in conflict
    when it lies more than `mmsi_conflict_distance_m` plus `mmsi_conflict_speed_mps` times the time between
    apart. Two vessels' reports interleave, so their pairs keep conflicting; one jump (a glitch, a spoofer's
    first report) is not enough.
    """
    cfg, system, plots, time_s = state.config, tick.system, tick.plots, tick.time_s
    mem = _remember_reports(state, plots) if plots is not None else state.mmsi
    mem = mem.take(time_s - mem.last_s <= state.config.forget_s)
    # Surface tracks: every pair of one MMSI, the farthest per MMSI.
    idx = np.flatnonzero(surface(system) & (system.mmsi >= 0))
    i, j = join_equal(system.mmsi[idx], system.mmsi[idx])
    pair = i < j
    i, j = idx[i[pair]], idx[j[pair]]
    apart = np.hypot(*(tick.points[i] - tick.points[j]).T)
    far = apart > cfg.mmsi_conflict_distance_m
    i, j, apart = i[far], j[far], apart[far]
    order = np.lexsort((-apart, system.mmsi[i]))
    head = np.ones(len(order), dtype=bool)
    head[1:] = system.mmsi[i[order]][1:] != system.mmsi[i[order]][:-1]
    by_tracks = {int(system.mmsi[i[o]]): o for o in order[head]}
    recent = (mem.conflicts >= cfg.mmsi_conflict_reports) & (time_s - mem.conflict_s <= cfg.mmsi_conflict_memory_s)
    by_reports = {int(mem.mmsi[r]): r for r in np.flatnonzero(recent)}
    out = []
    for m in sorted(by_tracks.keys() | by_reports.keys()):
        on = np.flatnonzero(surface(system) & (system.mmsi == m))
        evidence: dict[str, Any] = {"mmsi": m, "tracks": None, "reports": None}
        if m in by_tracks:
            o = by_tracks[m]
            evidence["tracks"] = {
                "first": track(system, i[o]),
                "second": track(system, j[o]),
                "distance_m": num(apart[o]),
            }
        if m in by_reports:
            r = by_reports[m]
            evidence["reports"] = {
                "earlier": {
                    "lat_deg": round(float(mem.other_lat_deg[r]), 6),
                    "lon_deg": round(float(mem.other_lon_deg[r]), 6),
                },
                "later": {
                    "lat_deg": round(float(mem.conflict_lat_deg[r]), 6),
                    "lon_deg": round(float(mem.conflict_lon_deg[r]), 6),
                    "time_s": float(mem.conflict_s[r]),
                },
                "distance_m": num(mem.distance_m[r]),
                "dt_s": num(mem.dt_s[r]),
                "conflicting_pairs": int(mem.conflicts[r]),
            }
        evidence["thresholds"] = {
            "distance_m": cfg.mmsi_conflict_distance_m,
            "speed_mps": cfg.mmsi_conflict_speed_mps,
            "reports": cfg.mmsi_conflict_reports,
        }
        sid = int(system.system_id[on[0]]) if len(on) else -1
        out.append(Condition(f"{MMSI_CONFLICT}|{m:09d}", MMSI_CONFLICT, sid, "medium", evidence))
    return replace(state, mmsi=mem), out


def _remember_reports(state: AssessmentState, plots: Plots) -> MmsiMemory:
    """The per-MMSI memory after this tick's own AIS reports, each compared with the MMSI's previous report."""
    cfg = state.config
    own = _own_ais(state, plots)
    if not len(own):
        return state.mmsi
    heard = np.unique(own.mmsi)
    mem = _extend(state.mmsi, heard)
    rows = np.searchsorted(mem.mmsi, heard)
    prior = rows[np.isfinite(mem.last_s[rows])]
    # Per MMSI heard, its previous report first, then this tick's reports in time order.
    mmsi = np.concatenate([mem.mmsi[prior], own.mmsi])
    t = np.concatenate([mem.last_s[prior], own.time_s])
    lat = np.concatenate([mem.lat_deg[prior], own.lat_deg])
    lon = np.concatenate([mem.lon_deg[prior], own.lon_deg])
    lead = np.concatenate([np.zeros(len(prior)), np.ones(len(own))])
    order = np.lexsort((lead, t, mmsi))
    mmsi, t, lat, lon = mmsi[order], t[order], lat[order], lon[order]
    group = np.searchsorted(heard, mmsi)
    e, n, _ = state.frame.geodetic_to_enu(lat, lon, 0.0)
    dt = t[1:] - t[:-1]
    gap = np.hypot(e[1:] - e[:-1], n[1:] - n[:-1])
    clash = np.flatnonzero(
        (group[1:] == group[:-1]) & (gap > cfg.mmsi_conflict_distance_m + cfg.mmsi_conflict_speed_mps * dt)
    )
    count = np.bincount(group[clash], minlength=len(heard))
    latest = np.full(len(heard), -1, dtype=np.int64)
    np.maximum.at(latest, group[clash], clash)
    end = np.searchsorted(group, np.arange(len(heard)), side="right") - 1
    # An episode ends once `mmsi_conflict_memory_s` passed without a conflicting pair: its count starts again.
    with np.errstate(invalid="ignore"):
        ongoing = t[end] - mem.conflict_s[rows] <= cfg.mmsi_conflict_memory_s
    out = {name: getattr(mem, name).copy() for name in _MMSI_FIELDS}
    out["last_s"][rows], out["lat_deg"][rows], out["lon_deg"][rows] = t[end], lat[end], lon[end]
    out["conflicts"][rows] = np.where(ongoing, mem.conflicts[rows], 0) + count
    hit = latest >= 0
    q = latest[hit]
    for name, fresh in (
        ("conflict_s", t[q + 1]),
        ("other_lat_deg", lat[q]),
        ("other_lon_deg", lon[q]),
        ("conflict_lat_deg", lat[q + 1]),
        ("conflict_lon_deg", lon[q + 1]),
        ("distance_m", gap[q]),
        ("dt_s", dt[q]),
    ):
        out[name][rows[hit]] = fresh
    return MmsiMemory(mmsi=mem.mmsi, **out)


_MMSI_FIELDS = tuple(f.name for f in fields(MmsiMemory) if f.name != "mmsi")


def _extend(mem: MmsiMemory, mmsi: NDArray[np.int32]) -> MmsiMemory:
    """The memory with a row (no report yet, no conflict) for each MMSI it does not hold."""
    merged = np.union1d(mem.mmsi, mmsi).astype(np.int32)
    if len(merged) == len(mem.mmsi):
        return mem
    old = np.searchsorted(merged, mem.mmsi)
    columns = {}
    for name in _MMSI_FIELDS:
        values = getattr(mem, name)
        col = np.full(len(merged), 0 if values.dtype.kind == "i" else np.nan, dtype=values.dtype)
        col[old] = values
        columns[name] = col
    return MmsiMemory(mmsi=merged, **columns)


def loitering(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Sample each vessel's position into its ring; conditions where a full ring stays within the loiter radius.

    The ring holds `LOITER_SAMPLES` positions taken at least `loiter_min_s / (LOITER_SAMPLES - 1)` apart, so a
    full ring spans `loiter_min_s` or more; the vessel loiters when its later positions and its position now all
    lie within `loiter_radius_m` of the oldest one, inside or within `loiter_distance_m` of a works zone or
    `loiter_border_m` of a border line. Measured from the oldest position, a vessel making way faster than
    `loiter_radius_m / loiter_min_s` (1.25 m/s by default: a slow pushed convoy upstream still makes more) never
    loiters, while a boat drifting or circling in a small area does. Exempt: friends and vessels on a works
    zone's allow-list.
    """
    cfg, c, system, time_s, zones = state.config, state.memory.columns, tick.system, tick.time_s, state.zones
    idx = np.flatnonzero(surface(system))
    if not len(idx):
        return state, []
    r = tick.rows[idx]
    ring_t, ring_e, ring_n = c["loiter_t"].copy(), c["loiter_e"].copy(), c["loiter_n"].copy()
    period = cfg.loiter_min_s / (LOITER_SAMPLES - 1)
    newest = ring_t[r, -1]
    sampled = np.isnan(newest) | (time_s - newest >= period)
    due = r[sampled]
    now = (np.full(len(idx), time_s), tick.points[idx, 0], tick.points[idx, 1])
    for ring, value in zip((ring_t, ring_e, ring_n), now, strict=True):
        ring[due, :-1] = ring[due, 1:]
        ring[due, -1] = value[sampled]
    state = _with(state, loiter_t=ring_t, loiter_e=ring_e, loiter_n=ring_n)
    full = np.isfinite(ring_t[r]).all(axis=1)
    works = _works(state)
    near_works = np.zeros((len(idx), len(works)), dtype=bool)
    distance = np.full((len(idx), len(works)), np.inf)
    if works:
        distance = zones.distance_m(system.lat_deg[idx], system.lon_deg[idx])[:, works]
        near_works = distance <= cfg.loiter_distance_m
    border = np.abs(zones.border_offset_m(system.lat_deg[idx], system.lon_deg[idx]))
    with np.errstate(invalid="ignore"):
        near_border = border <= cfg.loiter_border_m
    e = np.concatenate([ring_e[r], tick.points[idx, :1]], axis=1)
    n = np.concatenate([ring_n[r], tick.points[idx, 1:]], axis=1)
    spread = np.hypot(e - e[:, :1], n - n[:, :1]).max(axis=1)
    with np.errstate(invalid="ignore"):
        loiters = full & (spread <= cfg.loiter_radius_m) & (near_works.any(axis=1) | near_border)
    loiters &= ~_exempt(state, tick)[idx]
    out = []
    for j in np.flatnonzero(loiters):
        k = idx[j]
        sid = int(system.system_id[k])
        lat, lon, _ = state.frame.enu_to_geodetic(e[j, :1], n[j, :1], np.zeros(1))
        z = int(np.argmin(distance[j])) if works else -1
        evidence = {
            "track": track(system, k),
            "since_lat_deg": round(float(lat[0]), 6),
            "since_lon_deg": round(float(lon[0]), 6),
            "radius_m": num(spread[j]),
            "since_s": float(ring_t[r[j], 0]),
            "duration_s": num(time_s - ring_t[r[j], 0]),
            "near_zone": _zone(zones.zones[works[z]]) if z >= 0 and near_works[j, z] else None,
            "zone_distance_m": num(distance[j, z]) if z >= 0 else None,
            "border_distance_m": num(border[j]),
            "thresholds": {
                "radius_m": cfg.loiter_radius_m,
                "min_s": cfg.loiter_min_s,
                "distance_m": cfg.loiter_distance_m,
                "border_m": cfg.loiter_border_m,
            },
        }
        out.append(Condition(f"{LOITERING}|{sid}", LOITERING, sid, "medium", evidence))
    return state, out


def fast_approach(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Vessels closing fast on a works zone's protected vessels (or, without any, on the zone itself).

    Against a vessel: closing speed is the relative velocity along the line of sight, time to reach the range
    over it, and the closest point of approach on the present courses must lie within `approach_cpa_m` (a
    craft passing well clear is no threat). Against a zone: closing speed is the rate at which the distance to
    the zone shrinks, time to reach the time the present course enters it. Exempt: friends, vessels on the
    zone's allow-list, the protected vessels themselves.
    """
    cfg, system, zones = state.config, tick.system, state.zones
    idx = np.flatnonzero(surface(system) & ~_exempt(state, tick))
    out: list[Condition] = []
    if not len(idx):
        return state, out
    points, velocity = tick.points, np.stack([system.v_east_mps, system.v_north_mps], axis=-1)
    for z in _works(state):
        zone = zones.zones[z]
        movers = idx[~np.isin(system.mmsi[idx], zone.allowed_mmsi + zone.protect_mmsi)]
        if zone.protect_mmsi:
            targets = np.flatnonzero(surface(system) & np.isin(system.mmsi, zone.protect_mmsi))
            for a, b, measured in _closing_on_vessels(cfg, points, velocity, movers, targets):
                target = {"vessel": track(system, b), "zone": _zone(zone)}
                out.append(_approach(state, tick, a, f"{int(system.mmsi[b]):09d}", target, measured))
        else:
            for a, measured in _closing_on_zone(state, tick, movers, z):
                out.append(_approach(state, tick, a, zone.name, {"vessel": None, "zone": _zone(zone)}, measured))
    return state, out


def _approach(
    state: AssessmentState,
    tick: Tick,
    k: int,
    subject: str,
    target: dict[str, Any],
    measured: dict[str, float | None],
) -> Condition:
    """The condition of one fast approach, with its evidence (`measured`: closing speed, distance, time to reach)."""
    cfg, system = state.config, tick.system
    sid = int(system.system_id[k])
    evidence = {
        "track": track(system, k),
        "target": target,
        **measured,
        "identity": IDENTITIES[tick.identity[k]],
        "thresholds": {
            "speed_mps": cfg.approach_speed_mps,
            "time_s": cfg.approach_time_s,
            "cpa_m": cfg.approach_cpa_m,
        },
    }
    return Condition(f"{FAST_APPROACH}|{sid}|{subject}", FAST_APPROACH, sid, "high", evidence)


def _closing_on_vessels(
    cfg: AssessmentConfig, points: F64, velocity: F64, movers: I64, targets: I64
) -> list[tuple[int, int, dict[str, float | None]]]:
    """(mover, target, closing speed, distance, time to reach and CPA) of each pair that meets the thresholds."""
    if not len(movers) or not len(targets):
        return []
    d = points[targets][None, :, :] - points[movers][:, None, :]
    v = np.nan_to_num(velocity[movers])[:, None, :] - np.nan_to_num(velocity[targets])[None, :, :]
    distance = np.hypot(d[..., 0], d[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        closing = np.einsum("ijk,ijk->ij", d, v) / distance
        reach = distance / closing
        t_cpa = np.clip(np.einsum("ijk,ijk->ij", d, v) / np.einsum("ijk,ijk->ij", v, v), 0.0, None)
    cpa = np.hypot(d[..., 0] - v[..., 0] * t_cpa, d[..., 1] - v[..., 1] * t_cpa)
    with np.errstate(invalid="ignore"):
        hit = (
            (movers[:, None] != targets[None, :])
            & (closing > cfg.approach_speed_mps)
            & (reach <= cfg.approach_time_s)
            & (cpa <= cfg.approach_cpa_m)
        )
    out = []
    for i, j in zip(*np.nonzero(hit), strict=True):
        measured = {**_measured(closing[i, j], distance[i, j], reach[i, j]), "cpa_m": num(cpa[i, j])}
        out.append((int(movers[i]), int(targets[j]), measured))
    return out


def _measured(closing: float, distance: float, reach: float) -> dict[str, float | None]:
    """The evidence numbers of an approach."""
    return {"closing_speed_mps": num(closing), "distance_m": num(distance), "time_to_reach_s": num(reach)}


def _closing_on_zone(
    state: AssessmentState, tick: Tick, movers: I64, z: int
) -> list[tuple[int, dict[str, float | None]]]:
    """(mover, closing speed, distance and time to entry) of each vessel outside zone `z` closing on it fast."""
    cfg, system, zones = state.config, tick.system, state.zones
    if not len(movers):
        return []
    lat, lon = system.lat_deg[movers], system.lon_deg[movers]
    ve, vn = np.nan_to_num(system.v_east_mps[movers]), np.nan_to_num(system.v_north_mps[movers])
    distance = zones.distance_m(lat, lon)[:, z]
    e, n = zones.project(lat, lon)
    step_s = 1.0
    lat1, lon1, _ = zones.frame.enu_to_geodetic(e + ve * step_s, n + vn * step_s, np.zeros(len(e)))
    closing = (distance - zones.distance_m(lat1, lon1)[:, z]) / step_s
    reach = zones.time_to_entry(lat, lon, ve, vn, cfg.approach_time_s)[:, z]
    with np.errstate(invalid="ignore"):
        hit = (distance > 0) & (closing > cfg.approach_speed_mps) & np.isfinite(reach)
    return [(int(movers[i]), _measured(closing[i], distance[i], reach[i])) for i in np.flatnonzero(hit)]


def border_crossing(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Remember which side of the border each vessel is on; conditions for a recent change of side.

    A side is taken only beyond `border_margin_m` of the line, so a vessel sailing along the border, or
    weaving within the margin, never changes side. Unknown, suspect and hostile vessels raise high; the
    others only with `border_crossing_all`, at medium; pending ones not (yet).
    """
    cfg, c, system, time_s, zones = state.config, state.memory.columns, tick.system, tick.time_s, state.zones
    idx = np.flatnonzero(surface(system))
    if not len(idx) or not zones.border_lines:
        return state, []
    r = tick.rows[idx]
    offset = zones.border_offset_m(system.lat_deg[idx], system.lon_deg[idx])
    with np.errstate(invalid="ignore"):
        now = np.where(np.abs(offset) > cfg.border_margin_m, np.sign(offset), 0).astype(np.int8)
    before = c["border_side"][r]
    crossed = (before != 0) & (now != 0) & (now != before)
    side, since = c["border_side"].copy(), c["border_crossed_s"].copy()
    lat, lon = c["border_cross_lat_deg"].copy(), c["border_cross_lon_deg"].copy()
    side[r] = np.where(now != 0, now, before)
    since[r[crossed]] = time_s
    lat[r[crossed]], lon[r[crossed]] = system.lat_deg[idx[crossed]], system.lon_deg[idx[crossed]]
    state = _with(state, border_side=side, border_crossed_s=since, border_cross_lat_deg=lat, border_cross_lon_deg=lon)
    identity = tick.identity[idx]
    high = np.isin(identity, WATCHED_IDENTITIES)
    alerted = high | (cfg.border_crossing_all & (identity != Identity.PENDING.code))
    with np.errstate(invalid="ignore"):
        recent = time_s - since[r] <= cfg.border_crossing_hold_s
    out = []
    for j in np.flatnonzero(recent & alerted):
        k = idx[j]
        sid = int(system.system_id[k])
        evidence = {
            "track": track(system, k),
            "crossed_s": float(since[r[j]]),
            "crossing_lat_deg": round(float(lat[r[j]]), 6),
            "crossing_lon_deg": round(float(lon[r[j]]), 6),
            "to_side": "right" if side[r[j]] > 0 else "left",
            "offset_m": num(offset[j]),
            "identity": IDENTITIES[identity[j]],
            "thresholds": {"margin_m": cfg.border_margin_m, "hold_s": cfg.border_crossing_hold_s},
        }
        severity = "high" if high[j] else "medium"
        out.append(Condition(f"{BORDER_CROSSING}|{sid}", BORDER_CROSSING, sid, severity, evidence))
    return state, out


DARK_VESSEL_RULE = AlertRule(
    DARK_VESSEL,
    "Dark vessel",
    ("high", "medium"),
    "#ff5c8a",
    "A radar track without AIS in or near a surface zone: a vessel that does not announce itself. "
    "High at a works zone, medium elsewhere.",
    dark_vessel,
    raise_s="dark_vessel_raise_s",
)
WORK_ZONE_ENTRY_RULE = AlertRule(
    WORK_ZONE_ENTRY,
    "Works zone entry",
    ("high", "medium"),
    "#ff8c42",
    "A vessel not on the works zone's allow-list is inside it: high without AIS, medium for an AIS vessel.",
    work_zone_entry,
    raise_s="work_zone_raise_s",
)
AIS_GAP_RULE = AlertRule(
    AIS_GAP,
    "AIS gap",
    ("high",),
    "#e0b0ff",
    "A vessel's AIS fell silent for several report intervals while shore radar still holds it: AIS switched "
    "off or failed.",
    ais_gap,
    raise_s="ais_gap_raise_s",
)
AIS_RADAR_INCONSISTENT_RULE = AlertRule(
    AIS_RADAR_INCONSISTENT,
    "AIS inconsistent with radar",
    ("high",),
    "#b388ff",
    "A vessel's AIS positions lie inside shore radar coverage where radar sees no vessel, several reports "
    "in a row: spoofed or faulty AIS.",
    ais_radar_inconsistent,
    raise_s="ais_radar_raise_s",
)
MMSI_CONFLICT_RULE = AlertRule(
    MMSI_CONFLICT,
    "MMSI conflict",
    ("medium",),
    "#80cbc4",
    "Two vessels far apart transmit the same MMSI: a cloned or misconfigured AIS identity.",
    mmsi_conflict,
    raise_s="mmsi_conflict_raise_s",
)
LOITERING_RULE = AlertRule(
    LOITERING,
    "Loitering",
    ("medium",),
    "#ffd54f",
    "A vessel has stayed within a small area for minutes close to the works or the border.",
    loitering,
    raise_s="loitering_raise_s",
)
FAST_APPROACH_RULE = AlertRule(
    FAST_APPROACH,
    "Fast approach",
    ("high",),
    "#ff3d00",
    "A vessel is closing fast on a protected vessel or works zone; the evidence gives closing speed, "
    "distance and time to reach.",
    fast_approach,
    raise_s="fast_approach_raise_s",
)
BORDER_CROSSING_RULE = AlertRule(
    BORDER_CROSSING,
    "Border crossing",
    ("high", "medium"),
    "#4fc3f7",
    "A vessel crossed the border line: high for an unknown, suspect or hostile vessel, medium for others "
    "when configured.",
    border_crossing,
    raise_s="border_crossing_raise_s",
)
SURFACE_RULES = (
    DARK_VESSEL_RULE,
    WORK_ZONE_ENTRY_RULE,
    AIS_GAP_RULE,
    AIS_RADAR_INCONSISTENT_RULE,
    MMSI_CONFLICT_RULE,
    LOITERING_RULE,
    FAST_APPROACH_RULE,
    BORDER_CROSSING_RULE,
)
"""The surface rules in the order they run."""
