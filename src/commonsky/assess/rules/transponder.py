"""Transponder rules: emergency squawk, transponder loss, ADS-B inconsistent with radar.

- `emergency_squawk` [7500 critical, 7700 high, 7600 medium]: the system track squawks the code;
- `transponder_loss` [high]: the track was fed by SSR or ADS-B for at least `transponder_history_s`,
  none for `transponder_loss_s` now, primary radar still feeds it, and it lies well inside the coverage
  of an SSR or ADS-B sensor that is up (known down sensors do not count, unknown ones are assumed up);
- `adsb_inconsistent` [high]: `adsb_min_inconsistent` ADS-B/SSR plot pairs of the address in a row
  fail the chi-square test (see `commonsky.assess.checks.adsb_radar_pairs`): spoofing or bad avionics.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from commonsky.assess.alerts import Condition
from commonsky.assess.checks import adsb_radar_pairs, in_coverage
from commonsky.assess.registry import AlertRule, Tick
from commonsky.assess.rules.common import air, common_mode, num, runs_by_key, sensor_up, track
from commonsky.assess.state import AdsbMemory, AssessmentState, TrackMemory
from commonsky.core.batches import EMERGENCY_SQUAWKS, SENSOR_ADSB, SENSOR_SSR, sensor_kind_names

EMERGENCY = "emergency_squawk"
TRANSPONDER_LOSS = "transponder_loss"
ADSB_INCONSISTENT = "adsb_inconsistent"
EMERGENCY_SEVERITY = {7500: "critical", 7700: "high", 7600: "medium"}


def emergency_squawk(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """One condition per aircraft squawking 7500, 7600 or 7700 (the code is part of the key and evidence)."""
    system = tick.system
    out = []
    for k in np.flatnonzero(np.isin(system.squawk, EMERGENCY_SQUAWKS) & air(system)):
        code = int(system.squawk[k])
        evidence = {"track": track(system, k), "squawk": f"{code:04d}"}
        sid = int(system.system_id[k])
        out.append(Condition(f"{EMERGENCY}|{sid}|{code:04d}", EMERGENCY, sid, EMERGENCY_SEVERITY[code], evidence))
    return state, out


def transponder_loss(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Transponder loss: SSR/ADS-B stopped feeding a track that primary radar still holds, inside their coverage.

    Not a loss: several tracks losing SSR/ADS-B together (a sensor or link outage; remembered for the
    episode), a cooperative system track within `duplicate_m` (the picture split the aircraft in two),
    or a position outside the coverage of every up sensor of the kinds that fed the track. Aircraft only
    (a vessel's AIS falling silent is `ais_gap`).
    """
    cfg, c, system, rows, time_s = state.config, state.memory.columns, tick.system, tick.rows, tick.time_s
    first, last, psr = c["first_coop_s"][rows], c["last_coop_s"][rows], c["last_psr_s"][rows]
    with np.errstate(invalid="ignore"):
        lost = (
            (last - first >= cfg.transponder_history_s)
            & (time_s - last >= cfg.transponder_loss_s)
            & (time_s - psr <= cfg.psr_recent_s)
        )
    idx = np.flatnonzero(lost & air(system))
    common = common_mode(last[idx], cfg.common_mode_window_s, cfg.common_mode_tracks)
    outage = c["outage_coop_s"].copy()
    outage[rows[idx[common]]] = last[idx[common]]
    idx = idx[~common & (outage[rows[idx]] != last[idx])]
    state = replace(state, memory=TrackMemory(state.memory.system_id, {**c, "outage_coop_s": outage}))
    coop_now = ((system.sensor_kinds.astype(np.int64) & (SENSOR_SSR | SENSOR_ADSB)) != 0) & air(system)
    if coop_now.any() and len(idx):
        gap, _ = cKDTree(tick.points[coop_now]).query(tick.points[idx])
        idx = idx[gap > cfg.duplicate_m]
    # Only sensors of the kinds that fed the track, and that are not known to be down, vouch for coverage.
    kinds = c["coop_kinds"][rows]
    covered = np.zeros(len(idx), dtype=bool)
    for spec in state.sensors.values():
        fed = (kinds[idx] & spec.kind.bit) != 0  # never a primary radar's: coop_kinds holds SSR and ADS-B bits
        if fed.any() and sensor_up(state, spec, time_s, True):
            inside = in_coverage(
                spec, system.lat_deg[idx], system.lon_deg[idx], system.alt_m[idx], cfg.coverage_fraction
            )
            covered |= fed & inside
    idx = idx[covered]
    out = []
    for k in idx:
        sid = int(system.system_id[k])
        evidence = {
            "track": track(system, k),
            "last_cooperative_s": float(last[k]),
            "first_cooperative_s": float(first[k]),
            "last_primary_s": float(psr[k]),
            "lost_kinds": sensor_kind_names(int(kinds[k])),
            "thresholds": {
                "transponder_loss_s": cfg.transponder_loss_s,
                "transponder_history_s": cfg.transponder_history_s,
                "psr_recent_s": cfg.psr_recent_s,
                "common_mode_tracks": cfg.common_mode_tracks,
                "common_mode_window_s": cfg.common_mode_window_s,
            },
        }
        out.append(Condition(f"{TRANSPONDER_LOSS}|{sid}", TRANSPONDER_LOSS, sid, "high", evidence))
    return state, out


def adsb_inconsistent(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Update the per-address runs of inconsistent ADS-B/radar pairs; conditions where a run is long enough.

    Without plots (a node that has none this tick) the runs are left as they are.
    """
    cfg, mem, system, plots, time_s = state.config, state.adsb, tick.system, tick.plots, tick.time_s
    if plots is None:
        return state, []
    known = np.array([str(s) in state.sensors for s in np.unique(plots.sensor_id)], dtype=bool)
    usable = plots if known.all() else plots.take(np.isin(plots.sensor_id, list(state.sensors)))
    pairs = adsb_radar_pairs(
        usable,
        state.sensors,
        system.mode_s,
        np.stack([system.v_east_mps, system.v_north_mps], axis=-1),
        cfg.adsb_pair_window_s,
        cfg.adsb_speed_sigma_mps,
        cfg.radar_bias_sigma_m,
    )
    if len(pairs):
        # Per address this tick: any consistent pair ends the run, otherwise the run grows by the pairs.
        merged, streak, column = runs_by_key(
            mem.mode_s, mem.streak, pairs.mode_s, pairs.time_s, pairs.chi2 > cfg.adsb_gate_chi2
        )
        mem = AdsbMemory(
            mode_s=merged,
            streak=streak,
            last_pair_s=column(mem.last_pair_s, pairs.time_s),
            lat_deg=column(mem.lat_deg, pairs.lat_deg),
            lon_deg=column(mem.lon_deg, pairs.lon_deg),
            distance_m=column(mem.distance_m, pairs.distance_m),
            chi2=column(mem.chi2, pairs.chi2),
            sigma_m=column(mem.sigma_m, pairs.sigma_m),
            radar_sensor=column(mem.radar_sensor.astype("<U24"), pairs.radar_sensor.astype("<U24")),
            adsb_sensor=column(mem.adsb_sensor.astype("<U24"), pairs.adsb_sensor.astype("<U24")),
        )
    fresh = time_s - mem.last_pair_s <= cfg.adsb_memory_s
    mem = mem.take(fresh)
    out = []
    for i in np.flatnonzero(mem.streak >= cfg.adsb_min_inconsistent):
        address = int(mem.mode_s[i])
        on = np.flatnonzero(system.mode_s == address)
        k = -1
        if len(on):
            e, n, _ = state.frame.geodetic_to_enu(system.lat_deg[on], system.lon_deg[on], 0.0)
            e0, n0, _ = state.frame.geodetic_to_enu(mem.lat_deg[i], mem.lon_deg[i], 0.0)
            k = int(on[np.argmin(np.hypot(e - e0, n - n0))])
        evidence = {
            "track": track(system, k) if k >= 0 else None,
            "mode_s": f"{address:06X}",
            "radar_sensor": str(mem.radar_sensor[i]),
            "adsb_sensor": str(mem.adsb_sensor[i]),
            "radar_lat_deg": num(mem.lat_deg[i]),
            "radar_lon_deg": num(mem.lon_deg[i]),
            "distance_m": num(mem.distance_m[i]),
            "chi2": num(mem.chi2[i]),
            "combined_sigma_m": num(mem.sigma_m[i]),
            "inconsistent_pairs": int(mem.streak[i]),
            "thresholds": {"chi2": cfg.adsb_gate_chi2, "min_inconsistent_pairs": cfg.adsb_min_inconsistent},
        }
        sid = int(system.system_id[k]) if k >= 0 else -1
        out.append(Condition(f"{ADSB_INCONSISTENT}|{address:06X}", ADSB_INCONSISTENT, sid, "high", evidence))
    return replace(state, adsb=mem), out


EMERGENCY_RULE = AlertRule(
    EMERGENCY,
    "Emergency squawk",
    ("critical", "high", "medium"),
    "#e64dff",
    "The track squawks an emergency code: 7500 unlawful interference (critical), "
    "7700 general emergency (high), 7600 radio failure (medium).",
    emergency_squawk,
    raise_s="emergency_raise_s",
)
TRANSPONDER_LOSS_RULE = AlertRule(
    TRANSPONDER_LOSS,
    "Transponder loss",
    ("high",),
    "#f2c14e",
    "SSR and ADS-B stopped feeding a track that primary radar still holds, well inside "
    "cooperative coverage: the transponder was switched off or failed.",
    transponder_loss,
    raise_s="transponder_raise_s",
)
ADSB_INCONSISTENT_RULE = AlertRule(
    ADSB_INCONSISTENT,
    "ADS-B inconsistent",
    ("high",),
    "#c792ea",
    "The aircraft's ADS-B positions disagree with radar several times in a row beyond the "
    "statistical test: spoofing or faulty avionics.",
    adsb_inconsistent,
    raise_s="adsb_raise_s",
)
