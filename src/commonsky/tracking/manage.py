"""Track management: confirmation, coasting, deletion and merging of duplicates.

A tentative track is confirmed after M hits (stricter for primary-only tracks, which clutter
imitates); a confirmed track without a plot for a while is reported as coasting; tracks silent for
too long (in seconds and in missed scans of their sensors) or too uncertain are deleted; two tracks
that are the same aircraft (same address, or same position and velocity) keep the better one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from commonsky.tracking import imm
from commonsky.tracking.state import CONFIRMED, TENTATIVE, TrackArrays, TrackerState

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

MERGE_INTERVAL_S = 3.0
"""Duplicate tracks are looked for this often (they are rare and do no harm for a few seconds)."""


def coasting(state: TrackerState, rows: I64, time_s: F64) -> B:
    """Whether each track has gone without a plot long enough by these times to be reported as coasting."""
    age = time_s - state.tracks.time_s[rows]
    return age > np.maximum(state.config.coast_after_s, 1.5 * state.tracks.expected_period_s[rows])


def manage(state: TrackerState, now: float) -> None:
    """Confirm, delete and merge at `now` (the end of a slice, or a tick without plots)."""
    cfg = state.config
    tr = state.tracks
    if len(tr) == 0:
        return
    promote = (tr.status == TENTATIVE) & (tr.hits >= tr.confirm_hits)
    tr.status[promote] = CONFIRMED
    state.stats.tracks_confirmed += int(promote.sum())
    age = now - tr.time_s
    # Only the horizontal position/velocity block is needed: combine that block alone (memory).
    _, Pc = imm.combine(tr.x[:, :, :4], tr.P[:, :, :4, :4], tr.mu)
    pos_sigma = np.sqrt(0.5 * (Pc[:, 0, 0] + Pc[:, 1, 1]) + 0.5 * (Pc[:, 2, 2] + Pc[:, 3, 3]) * age**2)
    dead = (
        ((tr.status == TENTATIVE) & (age > np.maximum(cfg.tentative_timeout_s, 1.5 * tr.expected_period_s)))
        | (age > np.maximum(cfg.delete_after_s, (cfg.delete_after_missed_scans + 0.5) * tr.expected_period_s))
        | (pos_sigma > cfg.max_position_sigma_m)
    )
    if now - state.last_merge_s >= MERGE_INTERVAL_S:
        dead |= _duplicates(state, now)
        state.last_merge_s = now
    if dead.any():
        state.stats.tracks_deleted += int(dead.sum())
        state.tracks = tr.take(~dead)


def _duplicates(state: TrackerState, now: float) -> B:
    """Tracks to drop as duplicates of an older track: same address, or same position and velocity."""
    cfg = state.config
    tr = state.tracks
    drop = np.zeros(len(tr), dtype=bool)
    # Same Mode S address on two tracks: keep the older.
    addr = np.flatnonzero(tr.mode_s >= 0)
    if len(addr) > 1:
        order = addr[np.lexsort((tr.created_s[addr], tr.mode_s[addr]))]
        dup = np.r_[False, tr.mode_s[order][1:] == tr.mode_s[order][:-1]]
        drop[order[dup]] = True
    # Kinematic duplicates: close in position and velocity, no conflicting address.
    xc, Pc = imm.combine(tr.x[:, :, :4], tr.P[:, :, :4, :4], tr.mu)
    age = now - tr.time_s
    en = xc[:, :2] + xc[:, 2:4] * age[:, None]
    pairs = cKDTree(en).query_pairs(r=3.0 * np.sqrt(cfg.merge_chi2) * 300.0, output_type="ndarray")
    if len(pairs):
        a, b = pairs[:, 0], pairs[:, 1]
        clash = (tr.mode_s[a] >= 0) & (tr.mode_s[b] >= 0) & (tr.mode_s[a] != tr.mode_s[b])
        a, b = a[~clash], b[~clash]
        diff = np.concatenate([en[a] - en[b], xc[a, 2:4] - xc[b, 2:4]], axis=1)
        S = Pc[a][:, :4, :4] + Pc[b][:, :4, :4]
        d2 = np.einsum("ki,ki->k", diff, np.linalg.solve(S, diff[:, :, None])[:, :, 0])
        close = d2 < cfg.merge_chi2
        a, b = a[close], b[close]
        # Keep the better-informed track: Mode S address first, then known altitude, then age.
        rank_a = _survival_rank(tr, a)
        rank_b = _survival_rank(tr, b)
        drop[np.where(rank_a < rank_b, a, b)] = True
    state.stats.tracks_merged += int(drop.sum())
    return drop


def _survival_rank(tr: TrackArrays, rows: I64) -> F64:
    """Higher is kept when two tracks are duplicates: address, then altitude, then the older."""
    age_rank = tr.created_s[rows] / (np.abs(tr.created_s).max() + 1.0)
    return (tr.mode_s[rows] >= 0) * 4.0 + tr.has_alt[rows] * 2.0 - age_rank
