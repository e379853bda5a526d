"""Track management: confirmation, coasting, the end of contact, re-acquisition and merging.

A tentative track is confirmed after M hits (stricter for primary-only tracks, which clutter
imitates; one good ADS-B report may be enough, see `initiate`); a confirmed track without a plot
for a while is reported as coasting. Contact ends when a track has been silent too long (in seconds
and in missed scans of its fastest sensor), when its silence has become improbable for a live
aircraft (`silence_evidence`: the sensors that were detecting it, cover its predicted position and
still deliver plots have each missed it scan after scan, weighed by their pd), when it has grown too
uncertain, or when it is predicted outside every own sensor's coverage and has missed an update there
(`coverage`: no coasting where nothing could see it). A silence counts only while the track's
address is not heard: refused reports (an ADS-B position far from the radar's) are not missing ones.
A track that ends is deleted, unless it is confirmed and identified (a Mode S address, or a
distinctive Mode A code): then it is *lost*, neither reported nor associated, and `initiate`
re-acquires it under the same track id when its identity returns at a plausible position within
`reacquire_within_s` of its last plot; after that it is deleted. Two tracks that are the same
aircraft (same address, or same position and velocity) keep the better one; a lost track gives way
to a live one with its address.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from commonsky.core.arrays import F64, I64, B
from commonsky.tracking import imm
from commonsky.tracking.coverage import COVERAGE_SLACK_S, covering
from commonsky.tracking.prepare import ADSB, PSR, SSR
from commonsky.tracking.state import CONFIRMED, LOST, TENTATIVE, TrackArrays, TrackerState

MERGE_INTERVAL_S = 3.0
"""Duplicate tracks are looked for this often (they are rare and do no harm for a few seconds)."""
SEEING_SCANS = 3.0
"""A sensor counts a track's silence if its kind detected the track within this many of its scans before
the track's last plot (it was seeing the aircraft: equipage and geometry allowed it)."""
MAX_PD = 0.999
"""A stated pd is capped here, so that one missed scan never proves by itself that an aircraft is gone."""
CONSPICUITY_SQUAWKS = np.array([0, 1000, 1200, 2000, 7000], dtype=np.int16)
"""Mode A codes many aircraft share (conspicuity, VFR, no code yet): they identify nobody."""


def distinctive_squawk(squawk: NDArray[np.int16]) -> B:
    """Mode A codes assigned to one flight (known and not a conspicuity code), usable as its identity."""
    return (squawk >= 0) & ~np.isin(squawk, CONSPICUITY_SQUAWKS)


def coasting(state: TrackerState, rows: I64, time_s: F64) -> B:
    """Whether each track has gone without a plot long enough by these times to be reported as coasting."""
    age = time_s - state.tracks.detected_s[rows]
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
    age = now - tr.detected_s
    lost = tr.status == LOST
    # Only the horizontal position/velocity block is needed: combine that block alone (memory).
    _, Pc = imm.combine(tr.x[:, :, :4], tr.P[:, :, :4, :4], tr.mu)
    ahead = now - tr.time_s
    pos_sigma = np.sqrt(0.5 * (Pc[:, 0, 0] + Pc[:, 1, 1]) + 0.5 * (Pc[:, 2, 2] + Pc[:, 3, 3]) * ahead**2)
    ended = ~lost & (
        ((tr.status == TENTATIVE) & (age > np.maximum(cfg.tentative_timeout_s, 1.5 * tr.expected_period_s)))
        | (age > np.maximum(cfg.delete_after_s, (cfg.delete_after_missed_scans + 0.5) * tr.expected_period_s))
        | (pos_sigma > cfg.max_position_sigma_m)
        | _left_coverage(state, age, ahead, lost)
        | _improbably_silent(state, now, age, lost)
    )
    keep = ended & (tr.status == CONFIRMED) & _identified(state)
    if keep.any():
        tr.status[keep] = LOST
        state.stats.tracks_lost += int(keep.sum())
    dead = (ended & ~keep) | (lost & (age > cfg.reacquire_within_s))
    if now - state.last_merge_s >= MERGE_INTERVAL_S:
        dead |= _duplicates(state, now)
        state.last_merge_s = now
    if dead.any():
        state.stats.tracks_deleted += int(dead.sum())
        state.tracks = tr.take(~dead)


def _identified(state: TrackerState) -> B:
    """Tracks whose identity can bring them back: a Mode S address, or a distinctive Mode A code."""
    cfg = state.config
    tr = state.tracks
    if cfg.reacquire_within_s <= 0.0:
        return np.zeros(len(tr), dtype=bool)
    by_squawk = distinctive_squawk(tr.squawk) if cfg.reacquire_by_squawk else np.zeros(len(tr), dtype=bool)
    return (tr.mode_s >= 0) | by_squawk


def note_heard(tracks: TrackArrays, mode_s: NDArray[np.int32], time_s: F64) -> None:
    """Advance `heard_s` of every track whose Mode S address is among these plots' (associated or not)."""
    addressed = mode_s >= 0
    if not addressed.any() or len(tracks) == 0:
        return
    address, inverse = np.unique(mode_s[addressed], return_inverse=True)
    latest = np.full(len(address), -np.inf)
    np.maximum.at(latest, inverse, time_s[addressed])
    at = np.minimum(np.searchsorted(address, tracks.mode_s), len(address) - 1)
    match = (address[at] == tracks.mode_s) & (tracks.mode_s >= 0)
    tracks.heard_s[match] = np.maximum(tracks.heard_s[match], latest[at[match]])


def _improbably_silent(state: TrackerState, now: float, age: F64, lost: B) -> B:
    """Confirmed tracks silent at least `silence_min_s` whose silence a live aircraft would give with less than
    `silence_probability`."""
    cfg = state.config
    tr = state.tracks
    gone = np.zeros(len(tr), dtype=bool)
    if cfg.silence_probability <= 0.0:
        return gone
    rows = np.flatnonzero(~lost & (tr.status == CONFIRMED) & (age > cfg.silence_min_s))
    if len(rows) == 0:
        return gone
    # A track whose address is still heard is not silent: its reports are being refused, not missing.
    rows = rows[tr.heard_s[rows] <= tr.detected_s[rows]]
    threshold = -np.log(cfg.silence_probability)
    gone[rows] = silence_evidence(state, rows, now, at_least=threshold) >= threshold
    return gone


def silence_evidence(state: TrackerState, rows: I64, now: float, at_least: float = 0.0) -> F64:
    """-ln P(no plot since the last one | the aircraft is still there) for the tracks at `rows`.

    A sensor counts when it covers the track's predicted position (`coverage.covering`), has delivered a
    plot within two of its scans (an outage is not a silence) and was detecting the track: its kind (primary,
    secondary, ADS-B; secondary includes ADS-B, whose aircraft carry a transponder) took a plot within
    `SEEING_SCANS` scans before the last one. Each of its scans gone by since, less half a scan for plots
    that come late, adds -ln(1 - pd). Misses are taken as independent (no per-azimuth shadow is known), except
    that the secondary and ADS-B sensors share the aircraft's transponder: where a delivering primary radar
    covers the track, their silence weighs at most -ln(`transponder_off_probability`), since a transponder
    switched off silences them all and only primary radar can tell a vanished aircraft from it.
    Rows that could not reach `at_least` even if every such sensor covered them are left at 0 unchecked.
    """
    tr = state.tracks
    sensors = state.sensors
    period = sensors.scan_period_s
    alive = now - sensors.last_plot_s <= 2.0 * period + COVERAGE_SLACK_S
    last_by_kind = np.empty((len(rows), 3))
    last_by_kind[:, PSR] = tr.last_primary_s[rows]
    last_by_kind[:, SSR] = tr.last_secondary_s[rows]
    last_by_kind[:, ADSB] = tr.last_adsb_s[rows]
    detected = tr.detected_s[rows, None]
    seeing = last_by_kind[:, sensors.kind] >= detected - SEEING_SCANS * period
    missed = np.maximum(np.floor((now - detected) / period - 0.5), 0.0)
    contribution = (alive & seeing) * missed * -np.log1p(-np.minimum(sensors.pd, MAX_PD))
    evidence = np.zeros(len(rows))
    check = np.flatnonzero(contribution.sum(axis=1) >= max(at_least, np.finfo(float).tiny))
    if len(check) == 0:
        return evidence
    at = rows[check]
    cover = _coverage_ahead(state, at, now - tr.time_s[at])
    heard = cover * contribution[check]
    primary = sensors.kind == PSR
    cooperative = heard[:, ~primary].sum(axis=1)
    radar_watch = (cover & alive & primary).any(axis=1)
    cap = -np.log(state.config.transponder_off_probability)
    evidence[check] = heard[:, primary].sum(axis=1) + np.where(radar_watch, np.minimum(cooperative, cap), cooperative)
    return evidence


def _coverage_ahead(state: TrackerState, rows: I64, ahead: F64) -> B:
    """(K, S) `coverage.covering` of the tracks at `rows`, each dead-reckoned `ahead` seconds past its state; a
    sensor covers only its own domain's tracks (a shore radar no aircraft, an air radar no vessel)."""
    tr = state.tracks
    xc = imm.combine_mean(tr.x[rows], tr.mu[rows])
    e = xc[:, 0] + xc[:, 2] * ahead
    n = xc[:, 1] + xc[:, 3] * ahead
    cover = covering(state.frame, state.sensors, e, n, xc[:, 5], tr.has_alt[rows])
    return cover & (state.sensors.surface[None, :] == tr.vessel[rows, None])


def _left_coverage(state: TrackerState, age: F64, ahead: F64, lost: B) -> B:
    """Tracks that missed an update (silent for `age`) and, predicted `ahead`, lie where no own sensor sees."""
    tr = state.tracks
    gone = np.zeros(len(tr), dtype=bool)
    if not state.config.coverage_deletion:
        return gone
    rows = np.flatnonzero(~lost & (age > tr.expected_period_s + COVERAGE_SLACK_S))
    if len(rows) == 0:
        return gone
    out = ~_coverage_ahead(state, rows, ahead[rows]).any(axis=1)
    gone[rows[out]] = True
    state.stats.tracks_left_coverage += int(out.sum())
    return gone


def _duplicates(state: TrackerState, now: float) -> B:
    """Tracks to drop as duplicates: same address (a lost track gives way, then the younger), or same
    position and velocity (live tracks only)."""
    cfg = state.config
    tr = state.tracks
    drop = np.zeros(len(tr), dtype=bool)
    lost = tr.status == LOST
    addr = np.flatnonzero((tr.mode_s >= 0) & ~tr.vessel)  # two vessels may share an MMSI; close ones merge below
    if len(addr) > 1:
        order = addr[np.lexsort((tr.created_s[addr], lost[addr], tr.mode_s[addr]))]
        dup = np.r_[False, tr.mode_s[order][1:] == tr.mode_s[order][:-1]]
        drop[order[dup]] = True
    # Kinematic duplicates: close in position and velocity, no conflicting address.
    live = np.flatnonzero(~lost)
    xc, Pc = imm.combine(tr.x[live, :, :4], tr.P[live, :, :4, :4], tr.mu[live])
    age = now - tr.time_s[live]
    en = xc[:, :2] + xc[:, 2:4] * age[:, None]
    pairs = cKDTree(en).query_pairs(r=3.0 * np.sqrt(cfg.merge_chi2) * 300.0, output_type="ndarray")
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]  # positions among the live tracks
        a, b = live[i], live[j]
        clash = (tr.mode_s[a] >= 0) & (tr.mode_s[b] >= 0) & (tr.mode_s[a] != tr.mode_s[b])
        clash |= tr.vessel[a] != tr.vessel[b]
        i, j, a, b = i[~clash], j[~clash], a[~clash], b[~clash]
        diff = np.concatenate([en[i] - en[j], xc[i, 2:4] - xc[j, 2:4]], axis=1)
        S = Pc[i] + Pc[j]
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
