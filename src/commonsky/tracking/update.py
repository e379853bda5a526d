"""Track update: each track applies its hypotheses in time order through the IMM, then its bookkeeping.

A track may take several plots in a slice (one per sensor): rank r holds each track's r-th
hypothesis in time order, and each rank is one vectorised round of the compiled weighted IMM
update (`kernels.imm_update`), so the Python loop runs over rounds, never over plots. A
hypothesis is applied at the time of its most probable plot, which also supplies the identity
(address, Mode A, callsign), the hit and the sensor bookkeeping when it is very probably the track's
(always, for GNN; JPDA may leave a track only a share of a plot that is probably another's).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.tracking import kernels
from commonsky.tracking.associate import Hypotheses
from commonsky.tracking.measurements import radar_predict, radar_to_position
from commonsky.tracking.motion import regime
from commonsky.tracking.prepare import ADSB, PSR, SlicePlots
from commonsky.tracking.state import TrackerState, sensor_bits

SURE_WEIGHT = 0.95
"""A track whose most probable plot is at least this probably its own was seen: a hit, its silence ends,
and the plot updates its identity and sensor bookkeeping (else only its state). Lower, JPDA tracks
living on shares of clutter and of their neighbours' plots confirm, linger and swap identities: on the
dense benchmark (`python -m benchmarks --only association`) GOSPA 10,923 m at 0.5, 8,630 at 0.9,
8,096 at 0.95, 7,920 at 0.99 with more missed aircraft; GNN 8,810."""


def update(state: TrackerState, p: SlicePlots, hyp: Hypotheses) -> I64:
    """Apply the hypotheses that give some plot a weight, each track's in time order; returns the rows updated."""
    keep = hyp.weight > 0.0
    owner, plot, weight = hyp.owner[keep], hyp.plot[keep], hyp.weight[keep]
    counts = np.bincount(owner, minlength=len(hyp))
    first = np.r_[0, np.cumsum(counts)]
    live = np.flatnonzero(counts > 0)
    # The most probable plot of each hypothesis (candidates are grouped by owner).
    best = np.lexsort((-weight, owner))[first[live]]
    dominant, sure = plot[best], weight[best] >= SURE_WEIGHT
    rows = hyp.row[live]
    order = np.lexsort((p.time_s[dominant], rows))
    live, rows, dominant, sure = live[order], rows[order], dominant[order], sure[order]
    group_start = np.maximum.accumulate(np.where(np.r_[True, rows[1:] != rows[:-1]], np.arange(len(rows)), 0))
    rank = np.arange(len(rows)) - group_start
    models = state.models
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == r
        n = counts[live[sel]]
        start = np.r_[0, np.cumsum(n)]
        pos = np.repeat(first[live[sel]] - start[:-1], n) + np.arange(start[-1])
        picked = p.take(dominant[sel])
        cand = picked if start[-1] == len(n) else p.take(plot[pos])  # one plot each (GNN): the same plots
        kernel_hyp = (start, weight[pos], hyp.missed[live[sel]], cand.columns(state.sensors))
        _update_tracks(state, picked, rows[sel], sure[sel], kernel_hyp, models)
    taken = np.zeros(len(p), dtype=bool)
    taken[plot] = True
    state.stats.plots_assigned += int(np.count_nonzero(taken))
    return rows


def _update_tracks(
    state: TrackerState,
    p: SlicePlots,
    rows: I64,
    sure: NDArray[np.bool_],
    hyp: tuple[I64, F64, F64, kernels.PlotColumns],
    models: F64,
) -> None:
    """One IMM predict-update per row (rows are distinct) with its weighted plots, then the bookkeeping of
    each track from its most probable plot p where that plot is surely the track's (`sure`, `SURE_WEIGHT`)."""
    cfg = state.config
    tr = state.tracks
    dt = p.time_s - tr.time_s[rows]  # < 0 for a late plot: the track is predicted back to it
    state.stats.plots_late += int(np.count_nonzero(dt < 0.0))
    start, weight, missed, plots = hyp
    tables = regime(tr.on_ground[rows], tr.vessel[rows])
    kernels.imm_update(
        tr.x, tr.P, tr.mu, rows, dt, start, weight, missed, plots, state.sensors.kernel_frame, models, tables
    )
    measured = np.isfinite(p.alt) & sure
    radar = p.kind != ADSB
    tr.has_alt[rows] |= measured
    # One 2-D radar cannot observe height: until a second sensor or a measured height feeds the
    # track, its height keeps the prior's uncertainty (the EKF would otherwise grow overconfident).
    bits = np.where(sure, sensor_bits(p.sensor), np.uint64(0))
    single = ~tr.has_alt[rows] & (_bit_count(tr.sensor_mask[rows] | bits) < 2) & radar
    if single.any():
        _hold_height_prior(state, rows[single], p.sensor[single])

    # The fastest sensor feeding the track sets its expected update period, until that sensor falls silent.
    period = state.sensors.scan_period_s[p.sensor]
    silent = dt > 2.0 * tr.expected_period_s[rows]
    tr.expected_period_s[rows] = np.where(silent, period, np.minimum(tr.expected_period_s[rows], period))
    # A late plot was applied by retrodiction: the state stays at its own, later time.
    tr.time_s[rows] = np.maximum(tr.time_s[rows], p.time_s)
    tr.hits[rows] += sure.astype(np.int32)
    heard = {
        "detected_s": sure,
        "last_adsb_s": sure & (p.kind == ADSB),
        "last_secondary_s": sure & (p.kind != PSR),
        "last_primary_s": sure & (p.kind == PSR),
    }
    for column, this in heard.items():
        last = getattr(tr, column)
        last[rows] = np.where(this, np.maximum(last[rows], p.time_s), last[rows])
    tr.sensor_mask[rows] |= bits
    has_addr = sure & (p.mode_s >= 0)
    tr.mode_s[rows] = np.where(has_addr, p.mode_s, tr.mode_s[rows])
    tr.confirm_hits[rows] = np.where(
        has_addr, np.minimum(tr.confirm_hits[rows], cfg.confirm_hits_identified), tr.confirm_hits[rows]
    )
    # Only ADS-B says whether an aircraft is on the ground (a surface or an airborne position); on
    # touching down a track stops climbing or descending.
    landed = sure & (p.kind == ADSB) & p.on_ground & ~tr.on_ground[rows]
    tr.x[rows[landed], :, 6] = 0.0
    tr.on_ground[rows] = np.where(sure & (p.kind == ADSB), p.on_ground, tr.on_ground[rows])
    tr.squawk[rows] = np.where(sure & (p.squawk >= 0), p.squawk, tr.squawk[rows])
    tr.callsign[rows] = np.where(sure & (p.callsign != ""), p.callsign, tr.callsign[rows])


def _bit_count(mask: NDArray[np.uint64]) -> I64:
    """Number of set bits of each mask (sensors that fed a track)."""
    return np.unpackbits(mask.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


def _hold_height_prior(state: TrackerState, rows: I64, sensor: I64) -> None:
    """Put single-radar tracks back at the prior height, with its uncertainty and horizontal consequence.

    One 2-D radar cannot observe height: the EKF would let it drift anywhere along the direction
    the radar cannot see (seen: down to the floor, where a height error hardly moves the ground
    position, so the horizontal covariance claimed 100 m while the track sat 1 km off). Each model's
    height is therefore set to the prior mean and its ground position moved so that slant range and
    azimuth stay the same; then, for a height error dh, the ground position moves along the range
    direction by s dh (s = -H^-1 J, H = d(range, azimuth)/d(e, n), J = d(range, azimuth)/dh at the
    prior height), and the prior's variance is added along [s, 0, 0, 0, 1, 0], which keeps the
    covariance positive definite and the horizontal uncertainty honest about the unknown height.
    """
    tr = state.tracks
    cfg = state.config
    sigma2 = cfg.default_altitude_sigma_m**2
    h0 = np.full(len(rows), cfg.default_altitude_m)
    for m in range(tr.x.shape[1]):
        x = tr.x[rows, m]
        seen = radar_predict(state.frame, state.sensors, sensor, x[:, 0], x[:, 1], x[:, 5])
        e, n, _ = radar_to_position(state.frame, state.sensors, sensor, seen.range_m, seen.azimuth_rad, h0)
        tr.x[rows, m, 0], tr.x[rows, m, 1], tr.x[rows, m, 5] = e, n, h0
    x = tr.x[rows, 0]
    slope = _height_slope(state, sensor, x[:, 0], x[:, 1], x[:, 5])
    ahead = _height_slope(state, sensor, x[:, 0] + x[:, 2], x[:, 1] + x[:, 3], x[:, 5])
    v = np.zeros((len(rows), kernels.NX))
    v[:, :2] = slope
    v[:, 2:4] = ahead - slope
    v[:, 5] = 1.0
    for m in range(tr.P.shape[1]):
        add = np.maximum(sigma2 - tr.P[rows, m, 5, 5], 0.0)
        tr.P[rows, m] += v[:, :, None] * v[:, None, :] * add[:, None, None]


def _height_slope(state: TrackerState, sensor: I64, e: F64, n: F64, h: F64) -> F64:
    """(K,2) d(e, n)/dh at constant slant range and azimuth: where a 2-D radar plot moves for a height error."""
    pred = radar_predict(state.frame, state.sensors, sensor, e, n, h)
    return -np.einsum("kij,kj->ki", np.linalg.inv(pred.H), pred.J_alt)
