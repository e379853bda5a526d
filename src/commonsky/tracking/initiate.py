"""Initiation: tentative tracks from the plots no track took and no track is near, or lost tracks back.

The first plot of each unmatched Mode S address starts a track and its other plots in the slice
follow it; then each address-less plot near no track, old or just started, starts one. A new
track starts at its plot with a vague velocity (two-point initiation in effect): a radar plot at
its Mode C height, or at the configured default height with a wide sigma for primary radar. A good
ADS-B report (an address and a small position error) confirms a track at once.

Re-acquisition: a plot that would start a track but carries the address of a lost track (see
`manage`), found where that aircraft could have flown since its last plot (within `max_speed_mps`
times the gap, plus `reacquire_margin_m`), brings that track back under its id, confirmed, at the
plot. A distinctive Mode A code does the same for a track without address, but only near its
dead-reckoned position (`reacquire_margin_m` plus what `reacquire_accel_mps2` allows over the gap).
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import I64, B
from commonsky.tracking import imm, kernels
from commonsky.tracking.associate import Hypotheses
from commonsky.tracking.association import assign_pairs, pregate_pairs
from commonsky.tracking.gating import (
    approx_positions,
    distrusted,
    gate,
    pregate_radius,
    radar_watches,
    same_key_pairs,
)
from commonsky.tracking.manage import distinctive_squawk
from commonsky.tracking.measurements import radar_to_position
from commonsky.tracking.motion import initial_probabilities
from commonsky.tracking.prepare import ADSB, PSR, SSR, SlicePlots
from commonsky.tracking.state import CONFIRMED, LOST, TENTATIVE, TrackArrays, TrackerState, sensor_bits
from commonsky.tracking.update import update

INITIAL_VERTICAL_RATE_SIGMA_MPS = 15.0
"""Vertical rate uncertainty of a new track."""


def initiate(state: TrackerState, p: SlicePlots, unassociated: B) -> I64:
    """Start tracks from the unassociated plots (followers of a new address update its track); returns their rows."""
    start_idx = _without_distrusted(state, p, np.flatnonzero(unassociated))
    has_address = p.mode_s >= 0
    addr_start = start_idx[has_address[start_idx]]
    _, first = np.unique(p.mode_s[addr_start], return_index=True)
    seeds = addr_start[first]
    followers = np.setdiff1d(addr_start, seeds)
    seed_rows = _start(state, p.take(seeds))
    anonymous = start_idx[~has_address[start_idx]]
    if len(anonymous) and len(seed_rows):
        anonymous = anonymous[~_near(state, p, anonymous, seed_rows, state.config.initiation_exclusion_chi2)]
    anonymous_rows = _start(state, p.take(anonymous))
    if len(followers):
        order = np.argsort(p.mode_s[seeds])
        pos = np.searchsorted(p.mode_s[seeds][order], p.mode_s[followers])
        rows = seed_rows[order[pos]]
        # A follower far from its seed is another target with the same address (a cloned MMSI): refused.
        near = gate(state, p, followers, rows).d2 < state.config.address_gate_chi2
        state.stats.address_conflicts += int((~near).sum())
        update(state, p, Hypotheses.certain(followers[near], rows[near]))
    return np.r_[seed_rows, anonymous_rows]


def _without_distrusted(state: TrackerState, p: SlicePlots, plots: I64) -> I64:
    """The plots less the AIS reports a shore radar could confirm whose MMSI belongs to a track that refused it
    lately: a spoofed position starts no vessel of its own (`TrackerConfig.address_distrust_s`)."""
    tr = state.tracks
    cand = plots[p.vessel[plots] & (p.mode_s[plots] >= 0)]
    if len(cand) == 0:
        return plots
    plot, row = same_key_pairs(p.mode_s[cand], tr.mode_s)
    recent = distrusted(state, row, p.time_s[cand[plot]])
    plot, row = cand[plot[recent]], row[recent]
    watched = radar_watches(state, p, plot)
    plot, row = plot[watched], row[watched]
    np.maximum.at(tr.refused_s, row, p.time_s[plot])  # still refused: the distrust goes on while the reports do
    suspect = np.unique(plot)
    state.stats.address_conflicts += len(suspect)
    return np.setdiff1d(plots, suspect)


def _near(state: TrackerState, p: SlicePlots, plots: I64, rows: I64, chi2: float) -> B:
    """Which of these plots lie within the Mahalanobis distance chi2 of any of these track rows."""
    tracks = state.tracks
    xc = imm.combine_mean(tracks.x[rows], tracks.mu[rows])
    sub = p.take(plots)
    pi, ri = pregate_pairs(approx_positions(state, sub), xc[:, :2], pregate_radius(state, sub))
    same = p.vessel[plots[pi]] == tracks.vessel[rows[ri]]
    pi, ri = pi[same], ri[same]
    near = np.zeros(len(plots), dtype=bool)
    if len(pi):
        g = gate(state, p, plots[pi], rows[ri])
        near[pi[g.d2 < chi2]] = True
    return near


def _start(state: TrackerState, p: SlicePlots) -> I64:
    """A track for each plot, a lost one re-acquired or a new tentative one; returns their rows (in plot order)."""
    if len(p) == 0:
        return np.zeros(0, np.int64)
    new = _initial_tracks(state, p)
    rows = _reacquire(state, p, new)
    fresh = np.flatnonzero(rows < 0)
    k = len(fresh)
    new = new.take(fresh)
    new.track_id = np.arange(state.next_id, state.next_id + k, dtype=np.int64)
    state.next_id += k
    state.stats.tracks_started += k
    rows[fresh] = np.arange(len(state.tracks), len(state.tracks) + k, dtype=np.int64)
    state.tracks = state.tracks.append(new)
    return rows


def _reacquire(state: TrackerState, p: SlicePlots, new: TrackArrays) -> I64:
    """Bring back the lost tracks whose identity these plots carry at a plausible position (each plot's
    state from `new`); returns per plot the row of the track it brought back, -1 for none."""
    cfg = state.config
    tr = state.tracks
    found = np.full(len(p), -1, dtype=np.int64)
    lost = np.flatnonzero(tr.status == LOST)
    if len(lost) == 0:
        return found
    by_address = same_key_pairs(p.mode_s, tr.mode_s[lost])
    squawk_ok = distinctive_squawk(p.squawk) & (p.mode_s < 0) & cfg.reacquire_by_squawk
    by_squawk = same_key_pairs(np.where(squawk_ok, p.squawk, -1), np.where(tr.mode_s[lost] < 0, tr.squawk[lost], -1))
    plot = np.r_[by_address[0], by_squawk[0]]
    row = lost[np.r_[by_address[1], by_squawk[1]]]
    xc = imm.combine_mean(tr.x[row], tr.mu[row])
    gap = np.maximum(p.time_s[plot] - tr.time_s[row], 0.0)
    here = new.x[plot, 0, :2]
    top_speed = np.where(p.vessel[plot], cfg.max_vessel_speed_mps, cfg.max_speed_mps)
    reach = np.where(
        np.arange(len(plot)) < len(by_address[0]),
        np.hypot(*(here - xc[:, :2]).T) - top_speed * gap,
        np.hypot(*(here - xc[:, :2] - xc[:, 2:4] * gap[:, None]).T) - 0.5 * cfg.reacquire_accel_mps2 * gap**2,
    )
    ok = (reach < cfg.reacquire_margin_m) & (p.vessel[plot] == tr.vessel[row]) & ~distrusted(state, row, p.time_s[plot])
    plot, row, reach = plot[ok], row[ok], reach[ok]
    chosen = assign_pairs(plot, row, reach)
    plot, row = plot[chosen], row[chosen]
    found[plot] = row
    _revive(state, row, new.take(plot))
    return found


def _revive(state: TrackerState, rows: I64, new: TrackArrays) -> None:
    """Lost tracks start again from their plots' states, confirmed, keeping their id, age and identity; the
    velocity they had is the new velocity's mean (its uncertainty stays that of a new track)."""
    tr = state.tracks
    velocity = imm.combine_mean(tr.x[rows], tr.mu[rows])[:, 2:4]
    tr.x[rows], tr.P[rows], tr.mu[rows] = new.x, new.P, new.mu
    tr.x[rows, :, 2:4] = velocity[:, None, :]
    tr.has_alt[rows] = new.has_alt
    tr.on_ground[rows] = new.on_ground
    tr.vessel[rows] = new.vessel
    tr.time_s[rows] = new.time_s
    tr.detected_s[rows] = new.time_s
    tr.hits[rows] += 1
    tr.status[rows] = CONFIRMED
    tr.expected_period_s[rows] = new.expected_period_s
    tr.last_adsb_s[rows] = np.maximum(tr.last_adsb_s[rows], new.last_adsb_s)
    tr.last_secondary_s[rows] = np.maximum(tr.last_secondary_s[rows], new.last_secondary_s)
    tr.last_primary_s[rows] = np.maximum(tr.last_primary_s[rows], new.last_primary_s)
    tr.heard_s[rows] = np.maximum(tr.heard_s[rows], new.heard_s)
    tr.sensor_mask[rows] |= new.sensor_mask
    tr.squawk[rows] = np.where(new.squawk >= 0, new.squawk, tr.squawk[rows])
    tr.callsign[rows] = np.where(new.callsign != "", new.callsign, tr.callsign[rows])
    state.stats.tracks_reacquired += len(rows)


def _initial_tracks(state: TrackerState, p: SlicePlots) -> TrackArrays:
    """A tentative track at each plot (ids not yet given). The joint (east, north, height) covariance
    of a radar plot follows from its geometry."""
    cfg = state.config
    k = len(p)
    has_alt = np.isfinite(p.alt)
    h = np.where(has_alt, p.alt, cfg.default_altitude_m)
    h_sigma = np.where(has_alt, p.sigma_z[:, 2], cfg.default_altitude_sigma_m)
    e = p.z[:, 0].copy()
    n = p.z[:, 1].copy()
    # Joint covariance of (e, n, h): J diag(variances) J' with J = d(e, n, h)/d(measured, h).
    J = np.zeros((k, 3, 3))
    J[:, 0, 0] = J[:, 1, 1] = J[:, 2, 2] = 1.0
    radar = p.kind != ADSB
    if radar.any():
        er, nr, Jr = radar_to_position(
            state.frame, state.sensors, p.sensor[radar], p.z[radar, 0], p.z[radar, 1], h[radar]
        )
        e[radar], n[radar] = er, nr
        J[radar, :2, :] = Jr
    variances = np.stack([p.sigma_z[:, 0] ** 2, p.sigma_z[:, 1] ** 2, h_sigma**2], axis=-1)
    Peh = np.einsum("kia,ka,kja->kij", J, variances, J)
    mu0 = initial_probabilities(cfg)
    x = np.zeros((k, len(mu0), kernels.NX))
    x[:, :, 0] = e[:, None]
    x[:, :, 1] = n[:, None]
    x[:, :, 5] = h[:, None]
    P = np.zeros((k, len(mu0), kernels.NX, kernels.NX))
    index = np.array([0, 1, 5])
    P[:, :, index[:, None], index[None, :]] = Peh[:, None]
    v_sigma = np.where(p.vessel, cfg.max_vessel_speed_mps, cfg.max_speed_mps) / 2.0
    P[:, :, 2, 2] = P[:, :, 3, 3] = (v_sigma**2)[:, None]
    P[:, :, 4, 4] = np.radians(3.0) ** 2
    P[:, :, 6, 6] = INITIAL_VERTICAL_RATE_SIGMA_MPS**2
    is_adsb = p.kind == ADSB
    good_adsb = is_adsb & (p.mode_s >= 0) & (p.sigma_z[:, 0] <= cfg.adsb_confirm_max_sigma_m)
    confirm = np.where(
        good_adsb,
        cfg.confirm_hits_adsb,
        np.where(
            p.mode_s >= 0,
            cfg.confirm_hits_identified,
            np.where(p.kind == SSR, cfg.confirm_hits_secondary, cfg.confirm_hits_primary),
        ),
    ).astype(np.int8)
    secondary = p.kind != PSR
    return TrackArrays(
        track_id=np.full(k, -1, dtype=np.int64),
        x=x,
        P=P,
        mu=np.tile(mu0, (k, 1)),
        has_alt=has_alt,
        on_ground=p.on_ground.copy(),
        vessel=p.vessel.copy(),
        time_s=p.time_s.copy(),
        detected_s=p.time_s.copy(),
        created_s=p.time_s.copy(),
        hits=np.ones(k, np.int32),
        confirm_hits=confirm,
        status=np.full(k, TENTATIVE, np.int8),
        expected_period_s=state.sensors.scan_period_s[p.sensor],
        last_adsb_s=np.where(is_adsb, p.time_s, -np.inf),
        last_secondary_s=np.where(secondary, p.time_s, -np.inf),
        last_primary_s=np.where(~secondary, p.time_s, -np.inf),
        heard_s=np.where(p.mode_s >= 0, p.time_s, -np.inf),
        refused_s=np.full(k, -np.inf),
        sensor_mask=sensor_bits(p.sensor),
        mode_s=p.mode_s.copy(),
        squawk=p.squawk.copy(),
        callsign=p.callsign.copy(),
    )
