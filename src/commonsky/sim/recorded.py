"""Recorded traffic: real flights (decoded ADS-B state vectors) as the simulator's targets.

The simulator's sensors then see real trajectories, turns and climbs included, instead of random
plans: `simulate(scenario, traffic=recorded_traffic(...))`. A state vector is `traffic`'s record
(`timestamp` ms, `icao24`, `callsign`, `latitude`, `longitude`, `altitude` ft, `groundspeed` kt,
`track` deg, `vertical_rate` ft/min, `onground`, `squawk`). Each aircraft is resampled at the
scenario's whole seconds by linear interpolation between its records; it exists from its first to its
last airborne record inside the scenario, and not across a gap of more than `MAX_GAP_S` (it ends there);
records with an impossible altitude are dropped.
Identities are the recorded ones; equipage is drawn from the scenario's mix (seeded), so radars also
see aircraft without ADS-B or without any transponder.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.arrays import F64
from commonsky.core.batches import CALLSIGN_DTYPE
from commonsky.core.geodesy import KNOT_MPS
from commonsky.sim.scenario import Equipage, Scenario
from commonsky.sim.traffic import Targets, Trajectories

FEET_M = 0.3048
FPM_MPS = FEET_M / 60.0
ALTITUDE_RANGE_FT = (-1_000.0, 60_000.0)
"""Records with a barometric altitude outside this range are corrupt (real feeds carry a few) and dropped."""
MAX_GAP_S = 20.0
"""An aircraft whose records stop for longer than this ends at the gap (its later records are dropped)."""


def read_state_vectors(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON array of state vectors (gzip allowed)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    records: list[dict[str, Any]] = json.loads(data)
    return records


def recorded_traffic(
    records: list[dict[str, Any]], scenario: Scenario, rng: np.random.Generator
) -> tuple[Targets, Trajectories]:
    """Targets and one-second trajectories of the airborne aircraft in the records during the scenario."""
    t0 = scenario.start_time_s
    steps = scenario.steps
    grid = t0 + np.arange(steps + 1, dtype=np.float64)
    by_aircraft: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("latitude") is None or r.get("altitude") is None or r.get("onground"):
            continue
        if not ALTITUDE_RANGE_FT[0] <= float(r["altitude"]) <= ALTITUDE_RANGE_FT[1]:
            continue
        by_aircraft.setdefault(str(r["icao24"]), []).append(r)
    columns: list[dict[str, F64]] = []
    identities: list[tuple[int, int, str]] = []
    spans: list[tuple[int, int]] = []
    for icao24, rows in sorted(by_aircraft.items()):
        rows.sort(key=lambda r: r["timestamp"])
        t = np.array([r["timestamp"] / 1000.0 for r in rows])
        gap = np.flatnonzero(np.diff(t) > MAX_GAP_S)
        keep = slice(0, gap[0] + 1) if len(gap) else slice(None)
        t, rows = t[keep], rows[keep]
        alive = (grid >= t[0]) & (grid <= t[-1])
        if alive.sum() < 2:
            continue
        columns.append(_resample(rows, t, grid))
        first, last = np.flatnonzero(alive)[[0, -1]]
        spans.append((int(first), int(last)))
        squawk = rows[-1].get("squawk")
        identities.append((int(icao24, 16), int(squawk) if squawk else -1, str(rows[-1].get("callsign") or "")))
    n = len(columns)
    equipage = rng.choice(4, size=n, p=scenario.traffic.equipage.probabilities).astype(np.int8)
    mode_s = np.array([i[0] for i in identities], dtype=np.int32)
    squawk = np.array([i[1] for i in identities], dtype=np.int16)
    callsign = np.array([i[2][:8] for i in identities], dtype=CALLSIGN_DTYPE)
    targets = Targets(
        equipage=equipage,
        mode_s=np.where(equipage >= Equipage.MODE_S.code, mode_s, -1).astype(np.int32),
        squawk=np.where(equipage >= Equipage.MODE_AC.code, squawk, -1).astype(np.int16),
        callsign=np.where(equipage >= Equipage.ADSB.code, callsign, "").astype(CALLSIGN_DTYPE),
        adsb_phase=rng.random(n),
        broadcast_key=int(rng.integers(0, 2**63)),
    )

    def stack(name: str) -> F64:
        return np.stack([c[name] for c in columns], axis=1) if columns else np.zeros((steps + 1, 0))

    trajectories = Trajectories(
        lat_rad=stack("lat_rad"),
        lon_rad=stack("lon_rad"),
        alt_m=stack("alt_m"),
        v_east_mps=stack("v_east_mps"),
        v_north_mps=stack("v_north_mps"),
        v_up_mps=stack("v_up_mps"),
        first_step=np.array([s[0] for s in spans], dtype=np.int64),
        last_step=np.array([s[1] for s in spans], dtype=np.int64),
    )
    return targets, trajectories


def _resample(rows: list[dict[str, Any]], t: F64, grid: F64) -> dict[str, F64]:
    """One aircraft's records interpolated at the grid times (held at the ends)."""

    def column(name: str, scale: float = 1.0) -> F64:
        values = np.array([np.nan if r.get(name) is None else float(r[name]) for r in rows]) * scale
        known = np.isfinite(values)
        return np.interp(grid, t[known], values[known]) if known.any() else np.zeros_like(grid)

    speed = column("groundspeed", KNOT_MPS)
    track = np.radians(_unwrapped_track(rows, t, grid))
    return {
        "lat_rad": np.radians(column("latitude")),
        "lon_rad": np.radians(column("longitude")),
        "alt_m": column("altitude", FEET_M),
        "v_east_mps": speed * np.sin(track),
        "v_north_mps": speed * np.cos(track),
        "v_up_mps": column("vertical_rate", FPM_MPS),
    }


def _unwrapped_track(rows: list[dict[str, Any]], t: F64, grid: F64) -> F64:
    """Track angle (deg) at the grid times, interpolated the short way round through north."""
    track = np.array([np.nan if r.get("track") is None else float(r["track"]) for r in rows])
    known = np.isfinite(track)
    if not known.any():
        return np.zeros_like(grid)
    return np.interp(grid, t[known], np.degrees(np.unwrap(np.radians(track[known]))))
