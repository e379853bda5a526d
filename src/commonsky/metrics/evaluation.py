"""Score a track file against the simulator's truth: GOSPA/OSPA per second plus track-continuity counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from commonsky.core.arrays import F64, I64
from commonsky.core.batches import Tracks, Truth
from commonsky.core.geodesy import WGS84_A, WGS84_E2, LocalFrame
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE, DOMAINS
from commonsky.metrics.set_metrics import Pairs, best_assignment, candidate_pairs

P = 2.0
"""GOSPA/OSPA order used by `evaluate` (alpha is 2 as well)."""
WHOLE_SECOND_TOL_S = 1e-6
"""A truth row counts as on a whole second when its time is this close to an integer."""
DOMAIN_CUTOFF_M = {DOMAIN_AIR: 5000.0, DOMAIN_SURFACE: 500.0}
"""Default GOSPA cut-off per domain: aircraft are scored on the scale of radar errors over hundreds of km, vessels
on a river a few hundred metres wide (a track 500 m off a vessel is no track of it)."""


def in_domain(truth: Truth, tracks: Tracks, domain: str) -> tuple[Truth, Tracks]:
    """The truth and tracks of one domain ("air" or "surface"): each picture is scored on its own."""
    return truth.take(truth.domain == domain), tracks.take(tracks.domain == domain)


def domains_of(truth: Truth) -> list[str]:
    """The domains the truth holds targets of, air first."""
    return [d for d in DOMAINS if (truth.domain == d).any()]


@dataclass(frozen=True)
class Evaluation:
    """Result of `evaluate`: the summary numbers and the per-second series behind them.

    The per-second arrays align with `times` (the evaluated whole seconds). GOSPA parts are
    contributions to the squared sum, in m²: gospa_per_second² = localisation + missed + false.
    """

    summary: dict[str, float | int]
    times: F64
    gospa_per_second: F64
    gospa_localisation_per_second: F64
    gospa_missed_per_second: F64
    gospa_false_per_second: F64
    ospa_per_second: F64
    cutoff_m: float
    max_age_s: float
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class _States:
    """Truth or track states at the evaluated seconds, one entry per (target or track, second), ordered by second."""

    second: I64
    ident: I64
    lat_deg: F64
    lon_deg: F64
    alt_m: F64
    v_east_mps: F64
    v_north_mps: F64
    v_up_mps: F64


def evaluate(
    truth: Truth,
    tracks: Tracks,
    cutoff_m: float = 5000.0,
    max_age_s: float = 10.0,
    statuses: Sequence[str] = ("confirmed", "coasting"),
    pictures: bool = False,
) -> Evaluation:
    """Score `tracks` against `truth` second by second.

    Evaluation rule:

    - Times: every whole second present in the truth (truth rows off a whole second, or without a
      position, are not used).
    - Track state at second t: the track's latest row at or before t whose status is in
      `statuses` (and whose position is known), extrapolated linearly to t with that row's
      east/north/up velocity, over the ellipsoid at the row's altitude (a missing velocity component
      counts as zero: that part of the position is held). A row older than `max_age_s` at t is
      ignored, so the track is absent at t. With `pictures`, the file is a series of complete
      pictures (every live track at each output time, as `commonsky track` and `run` write it): a
      track missing from the next picture has ended, so its row stands only until that picture.
    - Geometry: positions are projected to the ellipsoid (height 0) and expressed in one local ENU
      frame at the truth's mean latitude/longitude. Distance is the HORIZONTAL distance (primary
      radar gives no altitude and a track's alt_m may be missing).
    - Assignment per second: GOSPA with p = 2, alpha = 2, cut-off c = `cutoff_m`: the assignment
      minimising Σ min(d, c)² over assigned pairs + c²/2 per missed truth and per false track.
      Pairs at distance ≥ c are never assigned (it would cost the same as missed + false).
    - GOSPA per second = (localisation + missed + false)^(1/2), with localisation = Σ d² over the
      assigned pairs, missed = c²/2 · #unassigned truths, false = c²/2 · #unassigned tracks; e.g.
      one missed target with everything else perfect gives a squared sum of c²/2 (value c/√2).
      gospa_mean is the mean over seconds of the per-second value; gospa_localisation,
      gospa_missed and gospa_false are the means over seconds of the three squared-sum parts (m²),
      so they do not add up to gospa_mean².
    - ospa_mean: mean over seconds of OSPA (p = 2, same c).
    - Over the assigned pairs: rmse_position_m is horizontal; rmse_velocity_mps is 3-D where both
      vertical speeds are known and horizontal otherwise (pairs without horizontal velocity are left
      out); rmse_altitude_m uses the pairs where both altitudes are known. NaN when no pair qualifies.
    - completeness = assigned truth-seconds / evaluated truth-seconds.
    - track_breaks: per truth target, along time, the number of times its assigned track id differs
      from the previously assigned one (seconds without an assignment do not count by themselves).
    - id_switches: per track id, along time, the number of times the truth target it is assigned to
      changes.
    - false_track_seconds: evaluated (track, second) presences not assigned to any truth.
    """
    if not (np.isfinite(cutoff_m) and cutoff_m > 0):
        raise ValueError(f"cutoff_m must be positive and finite, got {cutoff_m}")
    c = float(cutoff_m)
    times, ref = _truth_states(truth)
    est = _track_states(tracks, times, max_age_s, tuple(statuses), pictures)
    n_sec = len(times)

    frame = LocalFrame(float(np.mean(ref.lat_deg)), float(np.mean(ref.lon_deg))) if n_sec else LocalFrame(0, 0)
    ref_xy = np.column_stack(frame.geodetic_to_enu(ref.lat_deg, ref.lon_deg, 0.0)[:2])
    est_xy = np.column_stack(frame.geodetic_to_enu(est.lat_deg, est.lon_deg, 0.0)[:2])
    candidates = _candidates_by_second(n_sec, ref, ref_xy, est, est_xy, c)
    pairs = best_assignment(len(ref_xy), len(est_xy), candidates, c, P)

    pair_sec = ref.second[pairs.i]
    n_truth = np.bincount(ref.second, minlength=n_sec)
    n_track = np.bincount(est.second, minlength=n_sec)
    n_pair = np.bincount(pair_sec, minlength=n_sec)
    localisation = np.bincount(pair_sec, weights=pairs.distance**P, minlength=n_sec).astype(np.float64)
    missed = c**P / 2 * (n_truth - n_pair)
    false = c**P / 2 * (n_track - n_pair)
    gospa_t = (localisation + missed + false) ** (1 / P)
    size = np.maximum(n_truth, n_track)  # >= 1: every evaluated second has truth
    ospa_t = ((localisation + c**P * (size - n_pair)) / size) ** (1 / P)

    target, track = ref.ident[pairs.i], est.ident[pairs.j]
    summary: dict[str, float | int] = {
        "gospa_mean": _mean(gospa_t),
        "gospa_localisation": _mean(localisation),
        "gospa_missed": _mean(missed),
        "gospa_false": _mean(false),
        "ospa_mean": _mean(ospa_t),
        "rmse_position_m": _rms(pairs.distance),
        "rmse_velocity_mps": _rms(_velocity_error(ref, est, pairs.i, pairs.j)),
        "rmse_altitude_m": _rms(est.alt_m[pairs.j] - ref.alt_m[pairs.i]),
        "completeness": len(pairs.i) / len(ref.second) if len(ref.second) else float("nan"),
        "track_breaks": _changes(target, pair_sec, track),
        "id_switches": _changes(track, pair_sec, target),
        "false_track_seconds": len(est.second) - len(pairs.i),
        "truth_seconds": len(ref.second),
        "track_seconds": len(est.second),
        "assigned_seconds": len(pairs.i),
        "targets": len(np.unique(ref.ident)),
        "tracks": len(np.unique(est.ident)),
        "seconds": n_sec,
        "cutoff_m": c,
        "max_age_s": float(max_age_s),
        "pictures": pictures,
    }
    return Evaluation(
        summary=summary,
        times=times,
        gospa_per_second=gospa_t,
        gospa_localisation_per_second=localisation,
        gospa_missed_per_second=missed.astype(np.float64),
        gospa_false_per_second=false.astype(np.float64),
        ospa_per_second=ospa_t,
        cutoff_m=c,
        max_age_s=float(max_age_s),
        statuses=tuple(statuses),
    )


def _truth_states(truth: Truth) -> tuple[F64, _States]:
    """The evaluated seconds, and the truth rows on them with a known position, ordered by second."""
    t = np.round(truth.time_s)
    usable = np.abs(truth.time_s - t) < WHOLE_SECOND_TOL_S
    usable &= np.isfinite(truth.lat_deg) & np.isfinite(truth.lon_deg)
    idx = np.flatnonzero(usable)
    times, second = np.unique(t[idx], return_inverse=True)
    idx, second = idx[np.argsort(second, kind="stable")], np.sort(second, kind="stable")
    return times, _States(
        second=second,
        ident=truth.target_id[idx].astype(np.int64),
        lat_deg=truth.lat_deg[idx],
        lon_deg=truth.lon_deg[idx],
        alt_m=truth.alt_m[idx],
        v_east_mps=truth.v_east_mps[idx],
        v_north_mps=truth.v_north_mps[idx],
        v_up_mps=truth.v_up_mps[idx],
    )


def _track_states(tracks: Tracks, times: F64, max_age_s: float, statuses: tuple[str, ...], pictures: bool) -> _States:
    """Each track's state at each evaluated second: its latest usable row, if fresh and (with `pictures`) not left
    out of a later picture, moved on by its velocity."""
    usable = np.isin(tracks.status, statuses) & np.isfinite(tracks.time_s)
    usable &= np.isfinite(tracks.lat_deg) & np.isfinite(tracks.lon_deg)
    idx = np.flatnonzero(usable)
    idx = idx[np.lexsort((tracks.time_s[idx], tracks.track_id[idx]))]
    t, ident = tracks.time_s[idx], tracks.track_id[idx]
    # A row stands for its track from its own time until the track's next row or until it is too old.
    next_t = np.full(len(idx), np.inf)
    same_track = ident[1:] == ident[:-1]
    next_t[:-1][same_track] = t[1:][same_track]
    if pictures:
        picture_times = np.append(np.unique(tracks.time_s[np.isfinite(tracks.time_s)]), np.inf)
        next_t = np.minimum(next_t, picture_times[np.searchsorted(picture_times, t, side="right")])
    lo = np.searchsorted(times, t, side="left")
    hi = np.minimum(np.searchsorted(times, next_t, side="left"), np.searchsorted(times, t + max_age_s, side="right"))
    count = np.maximum(hi - lo, 0)
    row = np.repeat(np.arange(len(idx)), count)
    second = lo[row] + np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    by_second = np.argsort(second, kind="stable")
    row, second = row[by_second], second[by_second]
    src = idx[row]
    dt = times[second] - t[row]

    lat = tracks.lat_deg[src]
    ve = np.nan_to_num(tracks.v_east_mps[src])
    vn = np.nan_to_num(tracks.v_north_mps[src])
    vu = np.nan_to_num(tracks.v_up_mps[src])
    # Move over the ellipsoid with the meridian (M) and prime-vertical (N) radii of curvature,
    # raised by the altitude where it is known.
    height = np.nan_to_num(tracks.alt_m[src])
    sin_lat = np.sin(np.radians(lat))
    w = np.sqrt(1.0 - WGS84_E2 * sin_lat**2)
    radius_n = WGS84_A / w + height
    radius_m = WGS84_A * (1.0 - WGS84_E2) / w**3 + height
    return _States(
        second=second.astype(np.int64),
        ident=ident[row],
        lat_deg=lat + np.degrees(vn * dt / radius_m),
        lon_deg=tracks.lon_deg[src] + np.degrees(ve * dt / (radius_n * np.cos(np.radians(lat)))),
        alt_m=tracks.alt_m[src] + vu * dt,
        v_east_mps=tracks.v_east_mps[src],
        v_north_mps=tracks.v_north_mps[src],
        v_up_mps=tracks.v_up_mps[src],
    )


def _candidates_by_second(n_sec: int, ref: _States, ref_xy: F64, est: _States, est_xy: F64, c: float) -> Pairs:
    """Truth-track pairs closer than c within each second (both sides ordered by second), in global indices."""
    ref_at = np.searchsorted(ref.second, np.arange(n_sec + 1))
    est_at = np.searchsorted(est.second, np.arange(n_sec + 1))
    parts = [candidate_pairs(ref_xy[:0], est_xy[:0], c)]
    for k in range(n_sec):
        near = candidate_pairs(ref_xy[ref_at[k] : ref_at[k + 1]], est_xy[est_at[k] : est_at[k + 1]], c)
        parts.append(Pairs(near.i + ref_at[k], near.j + est_at[k], near.distance))
    return Pairs(
        np.concatenate([q.i for q in parts], dtype=np.int64),
        np.concatenate([q.j for q in parts], dtype=np.int64),
        np.concatenate([q.distance for q in parts], dtype=np.float64),
    )


def _velocity_error(ref: _States, est: _States, i: I64, j: I64) -> F64:
    """Velocity error norm per assigned pair: 3-D where both vertical speeds are known, else horizontal."""
    de = est.v_east_mps[j] - ref.v_east_mps[i]
    dn = est.v_north_mps[j] - ref.v_north_mps[i]
    du = est.v_up_mps[j] - ref.v_up_mps[i]
    err2 = de**2 + dn**2 + np.where(np.isfinite(du), du, 0.0) ** 2
    return np.sqrt(err2)


def _changes(key: I64, second: I64, value: I64) -> int:
    """For each key, along time, how often `value` differs from its previous value for that key."""
    order = np.lexsort((second, key))
    k, v = key[order], value[order]
    return int(np.count_nonzero((k[1:] == k[:-1]) & (v[1:] != v[:-1])))


def _mean(x: F64) -> float:
    """Mean, NaN for no values."""
    return float(np.mean(x)) if len(x) else float("nan")


def _rms(err: F64) -> float:
    """Root mean square of the finite entries; NaN when there are none."""
    err = err[np.isfinite(err)]
    return float(np.sqrt(np.mean(err**2))) if len(err) else float("nan")
