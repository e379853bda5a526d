"""Initiation: tentative tracks from the plots no track took and no track is near.

The first plot of each unmatched Mode S address starts a track and its other plots in the slice
follow it; then each address-less plot near no track, old or just started, starts one. A new
track starts at its plot with a vague velocity (two-point initiation in effect): a radar plot at
its Mode C height, or at the configured default height with a wide sigma for primary radar.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from commonsky.tracking import imm, kernels
from commonsky.tracking.associate import Hypotheses
from commonsky.tracking.association import pregate_pairs
from commonsky.tracking.gating import approx_positions, gate, pregate_radius
from commonsky.tracking.measurements import radar_to_position
from commonsky.tracking.motion import initial_probabilities
from commonsky.tracking.prepare import ADSB, PSR, SSR, SlicePlots
from commonsky.tracking.state import TENTATIVE, TrackArrays, TrackerState, sensor_bits
from commonsky.tracking.update import update

I64 = NDArray[np.int64]
B = NDArray[np.bool_]

INITIAL_VERTICAL_RATE_SIGMA_MPS = 15.0
"""Vertical rate uncertainty of a new track."""


def initiate(state: TrackerState, p: SlicePlots, unassociated: B) -> I64:
    """Start tracks from the unassociated plots (followers of a new address update its track); returns their rows."""
    start_idx = np.flatnonzero(unassociated)
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
        update(state, p, Hypotheses.certain(followers, seed_rows[order[pos]]))
    return np.r_[seed_rows, anonymous_rows]


def _near(state: TrackerState, p: SlicePlots, plots: I64, rows: I64, chi2: float) -> B:
    """Which of these plots lie within the Mahalanobis distance chi2 of any of these track rows."""
    tracks = state.tracks
    xc = imm.combine_mean(tracks.x[rows], tracks.mu[rows])
    sub = p.take(plots)
    pi, ri = pregate_pairs(approx_positions(state, sub), xc[:, :2], pregate_radius(state, sub))
    near = np.zeros(len(plots), dtype=bool)
    if len(pi):
        g = gate(state, p, plots[pi], rows[ri])
        near[pi[g.d2 < chi2]] = True
    return near


def _start(state: TrackerState, p: SlicePlots) -> I64:
    """Start tentative tracks from single plots; returns their rows. The joint (east, north, height)
    covariance of a radar plot follows from its geometry."""
    cfg = state.config
    k = len(p)
    if k == 0:
        return np.zeros(0, np.int64)
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
    v_sigma = cfg.max_speed_mps / 2.0
    P[:, :, 2, 2] = P[:, :, 3, 3] = v_sigma**2
    P[:, :, 4, 4] = np.radians(3.0) ** 2
    P[:, :, 6, 6] = INITIAL_VERTICAL_RATE_SIGMA_MPS**2
    confirm = np.where(
        p.mode_s >= 0,
        cfg.confirm_hits_identified,
        np.where(p.kind == SSR, cfg.confirm_hits_secondary, cfg.confirm_hits_primary),
    ).astype(np.int8)
    ids = np.arange(state.next_id, state.next_id + k, dtype=np.int64)
    state.next_id += k
    state.stats.tracks_started += k
    is_adsb = p.kind == ADSB
    secondary = p.kind != PSR
    new = TrackArrays(
        track_id=ids,
        x=x,
        P=P,
        mu=np.tile(mu0, (k, 1)),
        has_alt=has_alt,
        time_s=p.time_s.copy(),
        created_s=p.time_s.copy(),
        hits=np.ones(k, np.int32),
        confirm_hits=confirm,
        status=np.full(k, TENTATIVE, np.int8),
        expected_period_s=state.sensors.scan_period_s[p.sensor],
        last_adsb_s=np.where(is_adsb, p.time_s, -np.inf),
        last_secondary_s=np.where(secondary, p.time_s, -np.inf),
        last_primary_s=np.where(~secondary, p.time_s, -np.inf),
        sensor_mask=sensor_bits(p.sensor),
        mode_s=p.mode_s.copy(),
        squawk=p.squawk.copy(),
        callsign=p.callsign.copy(),
    )
    start = len(state.tracks)
    state.tracks = state.tracks.append(new)
    return np.arange(start, start + k, dtype=np.int64)
