"""The multi-sensor tracker step: `step(state, plots) -> (state, updates)`, vectorised per time slice.

Per slice (default 1 s, all sensors): registration corrections are applied to radar plots; plots
whose Mode S address matches a track go to it (after a loose sanity gate); the others are
pre-gated with a k-d tree, Mahalanobis-gated and assigned by GNN per independent cluster, one
plot per track and sensor; each track then applies its plots in time order through the IMM
(rounds vectorised over tracks); unassigned plots outside every gate start tentative tracks;
finally tracks are confirmed (M hits, stricter for primary-only), coasted, deleted and merged.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from scipy.stats import chi2

from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR, Plots, TrackReports, Tracks
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec
from commonsky.tracking import imm, kernels
from commonsky.tracking.association import assign_gnn, pregate_pairs
from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.measurements import (
    SensorTable,
    adsb_to_position,
    nacp_sigma_m,
    radar_predict,
    radar_to_position,
)
from commonsky.tracking.registration import Registration
from commonsky.tracking.state import CONFIRMED, TENTATIVE, TrackArrays, TrackerState

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

PSR, SSR, ADSB = 0, 1, 2
MODE_C_SIGMA_M = 30.48 / np.sqrt(12.0)
"""Standard deviation of 100 ft quantisation."""
INITIAL_VERTICAL_RATE_SIGMA_MPS = 15.0
"""Vertical rate uncertainty of a new track."""
REPORTED_HEIGHT_SIGMA_M = 500.0
"""A primary-only track reports its estimated height once its sigma is below this."""
MERGE_INTERVAL_S = 3.0
"""Duplicate tracks are looked for this often (they are rare and do no harm for a few seconds)."""
ADSB_FRESH_S = 3.0
"""A track updated by ADS-B this recently is a registration reference."""


def new_state(
    sensors: Sequence[SensorSpec], config: TrackerConfig | None = None, frame: LocalFrame | None = None
) -> TrackerState:
    """An empty tracker for these sensors; the frame defaults to the sensors' mean position."""
    cfg = config or TrackerConfig()
    if frame is None:
        lat = float(np.mean([s.lat_deg for s in sensors])) if sensors else 0.0
        lon = float(np.mean([s.lon_deg for s in sensors])) if sensors else 0.0
        frame = LocalFrame(lat, lon, 0.0)
    table = SensorTable.build(sensors, frame)
    reg = Registration.zeros(len(sensors), cfg.registration_min_samples, cfg.registration_forgetting_s)
    return TrackerState(config=cfg, frame=frame, sensors=table, tracks=TrackArrays.empty(), registration=reg)


@dataclass(frozen=True)
class SlicePlots:
    """Plots of one slice in the tracker's terms: sensor index, measurement vector, altitude."""

    time_s: F64
    sensor: I64
    kind: NDArray[np.int8]
    z: F64
    """(K,3): east, north (m) for ADS-B; slant range (m), azimuth (rad) for radar; then the height (m, 0 if none)."""
    sigma_z: F64
    """(K,3): measurement standard deviations."""
    alt: F64
    """Measured height (Mode C or ADS-B), NaN for primary radar."""
    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    callsign: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.time_s)

    def take(self, idx: I64 | B) -> SlicePlots:
        """Rows selected by an index or mask."""
        return SlicePlots(**{k: v[idx] for k, v in self.__dict__.items()})


def _prepare(state: TrackerState, plots: Plots) -> SlicePlots:
    """Convert a batch to tracker terms once, applying the current registration corrections."""
    sensors = state.sensors
    sidx = sensors.index_of(plots.sensor_id)
    known = sidx >= 0
    state.stats.plots_unknown_sensor += int((~known).sum())
    plots = plots.take(known)
    sidx = sidx[known]
    kind = sensors.kind[sidx]
    radar = kind != ADSB
    bias = state.registration.estimate[sidx]
    t = plots.time_s - np.where(radar, bias[:, 2], 0.0)
    z = np.empty((len(plots), 3))
    sigma = np.empty((len(plots), 3))
    z[:, 0] = plots.range_m - bias[:, 0]
    z[:, 1] = np.radians(plots.azimuth_deg) - bias[:, 1]
    sigma[:, 0] = sensors.sigma_range_m[sidx]
    sigma[:, 1] = sensors.sigma_azimuth_rad[sidx]
    if (~radar).any():
        a = ~radar
        e, n = adsb_to_position(state.frame, plots.lat_deg[a], plots.lon_deg[a], plots.altitude_m[a])
        z[a, 0], z[a, 1] = e, n
        s = nacp_sigma_m(plots.nacp[a], sensors.sigma_range_m[sidx[a]])
        sigma[a, 0] = sigma[a, 1] = s
    alt = np.where(kind == PSR, np.nan, plots.altitude_m)
    alt_sigma = np.where(
        kind == SSR, np.maximum(sensors.sigma_altitude_m[sidx], MODE_C_SIGMA_M), sensors.sigma_altitude_m[sidx]
    )
    z[:, 2] = np.where(np.isfinite(alt), alt, 0.0)
    sigma[:, 2] = np.maximum(alt_sigma, 1.0)
    valid = np.isfinite(z).all(axis=1) & np.isfinite(t)
    # One ADS-B broadcast heard by several stations is one measurement: keep its first copy.
    adsb_idx = np.flatnonzero(~radar & (plots.mode_s >= 0))
    key = plots.mode_s[adsb_idx].astype(np.int64) * 2**40 + np.round(t[adsb_idx] * 1000.0).astype(np.int64) % 2**40
    _, first = np.unique(key, return_index=True)
    repeat = np.setdiff1d(np.arange(len(adsb_idx)), first)
    valid[adsb_idx[repeat]] = False
    state.stats.adsb_duplicates += len(repeat)
    out = SlicePlots(
        time_s=t,
        sensor=sidx,
        kind=kind,
        z=z,
        sigma_z=sigma,
        alt=alt,
        mode_s=plots.mode_s,
        squawk=plots.squawk,
        callsign=plots.callsign,
    )
    out = out.take(valid)
    return out.take(np.argsort(out.time_s, kind="stable"))


def step(state: TrackerState, plots: Plots, with_updates: bool = True) -> tuple[TrackerState, Tracks]:
    """Process one batch of plots (any sensors, any order); return the state and the tracks it updated.

    The state is taken over and returned (not copied): callers must not reuse the old reference.
    Updates are the confirmed tracks touched by this batch, reported at their latest plot time;
    `with_updates=False` skips building them (a batch replay that only writes periodic pictures).
    """
    state.stats.plots_in += len(plots)
    prepared = _prepare(state, plots)
    if len(prepared) == 0:
        return state, Tracks.empty()
    # Equal slices of about slice_s each; a batch slightly longer than one slice (registration
    # time corrections move plots by fractions of a second) stays one slice.
    t = prepared.time_s
    n_slices = max(1, round((t[-1] - t[0]) / state.config.slice_s))
    slice_key = np.minimum(((t - t[0]) * n_slices / max(t[-1] - t[0], 1e-9)).astype(np.int64), n_slices - 1)
    bounds = np.flatnonzero(np.r_[True, np.diff(slice_key) != 0, True])
    touched: list[I64] = []
    for lo, hi in itertools.pairwise(bounds):
        part = prepared.take(np.arange(lo, hi))
        touched.append(_process_slice(state, part))
        state.time_s = max(state.time_s, float(part.time_s.max()))
        _maintain(state, state.time_s)
    if not with_updates:
        return state, Tracks.empty()
    ids = np.unique(np.concatenate(touched))
    tracks = state.tracks
    rows = np.flatnonzero(np.isin(tracks.track_id, ids) & (tracks.status == CONFIRMED))
    return state, report(state, rows, tracks.time_s[rows])


def maintain(state: TrackerState, now_s: float) -> TrackerState:
    """Bring track management up to `now_s` without plots: tracks silent for too long are deleted.

    `step` manages tracks only at the times of the plots it is given; a live node's tick, or a gap in
    a recording, calls this so that tracks age out while no plot arrives at all. Taken over like `step`.
    """
    if now_s > state.time_s:
        _maintain(state, now_s)
    return state


@dataclass(frozen=True)
class GatedPairs:
    """Candidate (plot, track row) pairs with their gating statistics."""

    plot: I64
    row: I64
    d2: F64
    logdet: F64
    innovation: F64
    S: F64
    H: F64
    rates: F64
    """(K,2) rate of change of (range, azimuth) along the track's motion, for registration."""


def _kernel_inputs(state: TrackerState, p: SlicePlots) -> tuple[B, F64, F64]:
    """Per-plot radar flag, sensor position and sensor axes, as the compiled kernels take them."""
    return p.kind != ADSB, state.sensors.position[p.sensor], state.sensors.to_sensor[p.sensor]


def _gate(state: TrackerState, p: SlicePlots, plot: I64, row: I64) -> GatedPairs:
    """Predict each pair's track to its plot time (combined IMM, generous CV) and score it."""
    tracks = state.tracks
    sub = p.take(plot)
    dt = sub.time_s - tracks.time_s[row]
    radar, s_pos, s_rot = _kernel_inputs(state, sub)
    cfg = state.config
    d2, logdet, nu, S, H, rates = kernels.gate_rows(
        tracks.x,
        tracks.P,
        tracks.mu,
        row,
        dt,
        sub.z,
        sub.sigma_z,
        np.isfinite(sub.alt),
        radar,
        s_pos,
        s_rot,
        state.sensors.frame_origin,
        state.sensors.frame_rotation,
        cfg.q_ct_mps2,
        np.radians(cfg.q_turn_rate_dps),
        cfg.q_vertical_mps2,
    )
    # A plot with a height has one more degree of freedom: scale its distance to the 2-D gate.
    d2 = np.where(np.isfinite(sub.alt), d2 * (cfg.gate_chi2 / _gate3(cfg.gate_chi2)), d2)
    return GatedPairs(plot, row, d2, logdet, nu, S, H, rates)


@functools.cache
def _gate3(gate2: float) -> float:
    """The 3-degree-of-freedom chi-square quantile with the same tail probability as `gate2` on 2."""
    return float(chi2.ppf(chi2.cdf(gate2, 2), 3))


def _approx_positions(state: TrackerState, p: SlicePlots) -> F64:
    """Cheap east/north of plots for the pre-gate (radar: flat-Earth at Mode C or default height)."""
    en = p.z[:, :2].copy()
    radar = p.kind != ADSB
    if radar.any():
        s = p.sensor[radar]
        pos = state.sensors.position[s]
        alt = np.where(np.isfinite(p.alt[radar]), p.alt[radar], state.config.default_altitude_m)
        rho = p.z[radar, 0]
        ground = np.sqrt(np.maximum(rho * rho - (alt - pos[:, 2]) ** 2, 0.0))
        az = p.z[radar, 1]
        local = np.stack([ground * np.sin(az), ground * np.cos(az), np.zeros_like(az)], -1)
        d = np.einsum("kji,kj->ki", state.sensors.to_sensor[s], local)
        en[radar] = pos[:, :2] + d[:, :2]
    return en


def _pregate_radius(state: TrackerState, p: SlicePlots) -> F64:
    """Per-plot pre-gate radius: a margin for track motion and noise, 5 sigma cross-range, altitude slack."""
    cfg = state.config
    radar = p.kind != ADSB
    cross_range = np.where(radar, p.z[:, 0] * p.sigma_z[:, 1], p.sigma_z[:, 0])
    slack = np.where(radar & ~np.isfinite(p.alt), cfg.pregate_unknown_altitude_m, 0.0)
    return cfg.pregate_margin_m + 5.0 * cross_range + slack


def _process_slice(state: TrackerState, p: SlicePlots) -> I64:
    """Associate, update and initiate for one slice; returns the ids of tracks that took a plot."""
    cfg = state.config
    tracks = state.tracks
    n_plots = len(p)
    assigned_plot: list[I64] = []
    assigned_row: list[I64] = []
    has_address = p.mode_s >= 0
    free = np.ones(n_plots, dtype=bool)
    in_gate = np.zeros(n_plots, dtype=bool)
    gated_for_registration: list[GatedPairs] = []

    if len(tracks):
        # 1. Mode S address: a plot whose address matches a track goes to it, after a loose gate.
        addr_plot, addr_row = _address_pairs(p.mode_s, tracks.mode_s)
        if len(addr_plot):
            g = _gate(state, p, addr_plot, addr_row)
            ok = g.d2 < cfg.address_gate_chi2
            state.stats.address_conflicts += int((~ok).sum())
            assigned_plot.append(addr_plot[ok])
            assigned_row.append(addr_row[ok])
            gated_for_registration.append(_subset(g, ok))
            free[addr_plot] = False  # a conflicting address plot is neither reassigned nor a new track

        # 2. Everything else: pre-gate, Mahalanobis gate, GNN per cluster.
        cand = np.flatnonzero(free)
        if len(cand):
            t_mid = float(np.median(p.time_s[cand]))
            xc = imm.combine_mean(tracks.x, tracks.mu)
            track_en = xc[:, :2] + xc[:, 2:4] * (t_mid - tracks.time_s)[:, None]
            plot_en = _approx_positions(state, p.take(cand))
            pi, rows = pregate_pairs(plot_en, track_en, _pregate_radius(state, p.take(cand)))
            pi = cand[pi]
            conflict = (p.mode_s[pi] >= 0) & (tracks.mode_s[rows] >= 0) & (p.mode_s[pi] != tracks.mode_s[rows])
            pi, rows = pi[~conflict], rows[~conflict]
            if len(pi):
                g = _gate(state, p, pi, rows)
                in_gate[g.plot[g.d2 < cfg.initiation_exclusion_chi2]] = True
                g = _subset(g, g.d2 < cfg.gate_chi2)
                squawk_clash = (
                    (p.squawk[g.plot] >= 0) & (tracks.squawk[g.row] >= 0) & (p.squawk[g.plot] != tracks.squawk[g.row])
                )
                cost = g.d2 + g.logdet + cfg.squawk_mismatch_cost * squawk_clash
                column = g.row * len(state.sensors.ids) + p.sensor[g.plot]
                sel_plot, sel_col = assign_gnn(g.plot, column, cost)
                sel_row = sel_col // len(state.sensors.ids)
                assigned_plot.append(sel_plot)
                assigned_row.append(sel_row)
                free[sel_plot] = False
                chosen = np.zeros(len(g.plot), dtype=bool)
                key = g.plot * (len(tracks) + 1) + g.row
                chosen[np.isin(key, sel_plot * (len(tracks) + 1) + sel_row)] = True
                gated_for_registration.append(_subset(g, chosen))

    if cfg.registration and gated_for_registration:
        _register(state, p, gated_for_registration)

    # 3. New tracks: first one per unmatched Mode S address (its other plots in the slice follow it),
    # then one per address-less plot near no track, old or just started.
    start_idx = np.flatnonzero(free & ~in_gate)
    addr_start = start_idx[has_address[start_idx]]
    _, first = np.unique(p.mode_s[addr_start], return_index=True)
    seeds = addr_start[first]
    followers = np.setdiff1d(addr_start, seeds)
    new_rows = _initiate(state, p.take(seeds))
    if len(followers):
        order = np.argsort(p.mode_s[seeds])
        pos = np.searchsorted(p.mode_s[seeds][order], p.mode_s[followers])
        assigned_plot.append(followers)
        assigned_row.append(new_rows[order[pos]])
    anonymous = start_idx[~has_address[start_idx]]
    if len(anonymous) and len(new_rows):
        near = _near(state, p, anonymous, new_rows, cfg.initiation_exclusion_chi2)
        anonymous = anonymous[~near]
    anonymous_rows = _initiate(state, p.take(anonymous))
    seeds = np.r_[seeds, anonymous]
    new_rows = np.r_[new_rows, anonymous_rows]

    # 4. Apply assigned plots track by track, in time order, as vectorised rounds.
    if assigned_plot:
        plot_idx = np.concatenate(assigned_plot)
        row_idx = np.concatenate(assigned_row)
        _apply(state, p, plot_idx, row_idx)
        state.stats.plots_assigned += len(plot_idx)
        updated = [state.tracks.track_id[row_idx]]
    else:
        updated = []
    if len(seeds):
        updated.append(state.tracks.track_id[new_rows])
    return np.concatenate(updated) if updated else np.zeros(0, np.int64)


def _near(state: TrackerState, p: SlicePlots, plots: I64, rows: I64, chi2: float) -> B:
    """Which of these plots lie within the Mahalanobis distance chi2 of any of these track rows."""
    tracks = state.tracks
    xc = imm.combine_mean(tracks.x[rows], tracks.mu[rows])
    sub = p.take(plots)
    pi, ri = pregate_pairs(_approx_positions(state, sub), xc[:, :2], _pregate_radius(state, sub))
    near = np.zeros(len(plots), dtype=bool)
    if len(pi):
        g = _gate(state, p, plots[pi], rows[ri])
        near[pi[g.d2 < chi2]] = True
    return near


def _subset(g: GatedPairs, mask: B) -> GatedPairs:
    return GatedPairs(*(getattr(g, f)[mask] for f in g.__dataclass_fields__))


def _address_pairs(plot_addr: NDArray[np.int32], track_addr: NDArray[np.int32]) -> tuple[I64, I64]:
    """(plot, track row) pairs sharing a known Mode S address; the oldest track wins a duplicate address."""
    known = np.flatnonzero(track_addr >= 0)
    if len(known) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = known[np.argsort(track_addr[known], kind="stable")]
    sorted_addr = track_addr[order]
    plots = np.flatnonzero(plot_addr >= 0)
    pos = np.clip(np.searchsorted(sorted_addr, plot_addr[plots]), 0, len(order) - 1)
    hit = sorted_addr[pos] == plot_addr[plots]
    return plots[hit].astype(np.int64), order[pos[hit]].astype(np.int64)


def _register(state: TrackerState, p: SlicePlots, gated: list[GatedPairs]) -> None:
    """Feed radar residuals on ADS-B-fed tracks to the registration estimator."""
    plot = np.concatenate([g.plot for g in gated])
    row = np.concatenate([g.row for g in gated])
    nu = np.concatenate([g.innovation for g in gated])
    S = np.concatenate([g.S for g in gated])
    rates = np.concatenate([g.rates for g in gated])
    ref = (p.kind[plot] != ADSB) & (p.time_s[plot] - state.tracks.last_adsb_s[row] < ADSB_FRESH_S)
    variances = np.stack([S[ref, 0, 0], S[ref, 1, 1]], axis=-1)
    state.registration.accumulate(float(p.time_s.max()), p.sensor[plot[ref]], nu[ref], rates[ref], variances)


def _initiate(state: TrackerState, p: SlicePlots) -> I64:
    """Start tentative tracks from single plots; returns their rows. Velocity starts vague (two-point init).

    A radar plot is placed at its Mode C height, or at the configured default height with a wide
    sigma for primary radar; the joint (east, north, height) covariance follows from the geometry.
    """
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
    x = np.zeros((k, 2, kernels.NX))
    x[:, :, 0] = e[:, None]
    x[:, :, 1] = n[:, None]
    x[:, :, 5] = h[:, None]
    P = np.zeros((k, 2, kernels.NX, kernels.NX))
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
        mu=np.tile([0.8, 0.2], (k, 1)),
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
        sensor_mask=_sensor_bits(p.sensor),
        mode_s=p.mode_s.copy(),
        squawk=p.squawk.copy(),
        callsign=p.callsign.copy(),
    )
    start = len(state.tracks)
    state.tracks = state.tracks.append(new)
    return np.arange(start, start + k, dtype=np.int64)


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


def _sensor_bits(sensor: I64) -> NDArray[np.uint64]:
    bits = np.zeros(len(sensor), np.uint64)
    low = sensor < 64
    bits[low] = np.left_shift(np.uint64(1), sensor[low].astype(np.uint64))
    return bits


def _apply(state: TrackerState, p: SlicePlots, plot_idx: I64, row_idx: I64) -> None:
    """IMM-update tracks with their assigned plots: rank r holds each track's r-th plot in time order."""
    order = np.lexsort((p.time_s[plot_idx], row_idx))
    plot_idx, row_idx = plot_idx[order], row_idx[order]
    first = np.r_[True, row_idx[1:] != row_idx[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(row_idx)), 0))
    rank = np.arange(len(row_idx)) - group_start
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == r
        _update_tracks(state, p.take(plot_idx[sel]), row_idx[sel])


def _kernel_params(cfg: TrackerConfig) -> F64:
    params = np.empty(kernels.N_PARAMS)
    params[kernels.P_Q_CV] = cfg.q_cv_mps2
    params[kernels.P_Q_CT] = cfg.q_ct_mps2
    params[kernels.P_Q_TURN] = np.radians(cfg.q_turn_rate_dps)
    params[kernels.P_CV_SOJOURN] = cfg.cv_mean_sojourn_s
    params[kernels.P_CT_SOJOURN] = cfg.ct_mean_sojourn_s
    params[kernels.P_Q_VERTICAL] = cfg.q_vertical_mps2
    return params


def _update_tracks(state: TrackerState, p: SlicePlots, rows: I64) -> None:
    """One IMM predict-update per row (rows are distinct), then the bookkeeping of each track."""
    cfg = state.config
    tr = state.tracks
    dt = p.time_s - tr.time_s[rows]  # < 0 for a late plot: the track is predicted back to it
    state.stats.plots_late += int(np.count_nonzero(dt < 0.0))
    radar, s_pos, s_rot = _kernel_inputs(state, p)
    measured = np.isfinite(p.alt)
    kernels.imm_update_rows(
        tr.x,
        tr.P,
        tr.mu,
        rows,
        dt,
        p.z,
        p.sigma_z,
        measured,
        radar,
        s_pos,
        s_rot,
        state.sensors.frame_origin,
        state.sensors.frame_rotation,
        _kernel_params(cfg),
    )
    tr.has_alt[rows] |= measured
    # One 2-D radar cannot observe height: until a second sensor or a measured height feeds the
    # track, its height keeps the prior's uncertainty (the EKF would otherwise grow overconfident).
    single = ~tr.has_alt[rows] & (_bit_count(tr.sensor_mask[rows] | _sensor_bits(p.sensor)) < 2) & radar
    if single.any():
        _hold_height_prior(state, rows[single], p.sensor[single])

    # The fastest sensor feeding the track sets its expected update period, until that sensor falls silent.
    period = state.sensors.scan_period_s[p.sensor]
    silent = dt > 2.0 * tr.expected_period_s[rows]
    tr.expected_period_s[rows] = np.where(silent, period, np.minimum(tr.expected_period_s[rows], period))
    tr.time_s[rows] = p.time_s
    tr.hits[rows] += 1
    tr.last_adsb_s[rows] = np.where(p.kind == ADSB, p.time_s, tr.last_adsb_s[rows])
    tr.last_secondary_s[rows] = np.where(p.kind != PSR, p.time_s, tr.last_secondary_s[rows])
    tr.last_primary_s[rows] = np.where(p.kind == PSR, p.time_s, tr.last_primary_s[rows])
    tr.sensor_mask[rows] |= _sensor_bits(p.sensor)
    has_addr = p.mode_s >= 0
    tr.mode_s[rows] = np.where(has_addr, p.mode_s, tr.mode_s[rows])
    tr.confirm_hits[rows] = np.where(
        has_addr, np.minimum(tr.confirm_hits[rows], cfg.confirm_hits_identified), tr.confirm_hits[rows]
    )
    tr.squawk[rows] = np.where(p.squawk >= 0, p.squawk, tr.squawk[rows])
    tr.callsign[rows] = np.where(p.callsign != "", p.callsign, tr.callsign[rows])


def _maintain(state: TrackerState, now: float) -> None:
    """Confirm, delete and merge at the end of a slice."""
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


def _reported_columns(state: TrackerState, rows: I64, time_s: F64) -> dict[str, NDArray[Any]]:
    """Tracks at the given rows predicted to the given times: WGS-84 position, velocity and the
    horizontal covariance in the local east/north axes at each aircraft (frame-independent)."""
    tr = state.tracks
    cfg = state.config
    dt = np.maximum(time_s - tr.time_s[rows], 0.0)
    xp, Pp = kernels.predict_rows(tr.x[rows], tr.P[rows], dt, _kernel_params(cfg))
    # Only [e, n, v_e, v_n, h] of the covariance is reported: combine that block alone (memory).
    block = np.array([0, 1, 2, 3, 5])
    xc = imm.combine_mean(xp, tr.mu[rows])
    _, Pc = imm.combine(xp[:, :, block], Pp[:, :, block[:, None], block], tr.mu[rows])
    var_h = Pc[:, 4, 4]
    del Pp
    # A height is reported once measured, or once radar geometry has pinned it down.
    has = tr.has_alt[rows] | (var_h < REPORTED_HEIGHT_SIGMA_M**2)
    alt = xc[:, 5]
    e, n = np.ascontiguousarray(xc[:, 0]), np.ascontiguousarray(xc[:, 1])
    lat, lon, up = kernels.geodetic_points(state.sensors.frame_origin, state.sensors.frame_rotation, e, n, alt)
    # Local east and north unit vectors at each aircraft, in frame axes.
    la, lo = np.radians(lat), np.radians(lon)
    east_ecef = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    north_ecef = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    rot = state.sensors.frame_rotation
    east = east_ecef @ rot.T
    north = north_ecef @ rot.T
    ve, vn = xc[:, 2], xc[:, 3]
    vrate = xc[:, 6]
    du = (-up[:, 0] * ve - up[:, 1] * vn + vrate) / up[:, 2]
    v_frame = np.stack([ve, vn, du], axis=-1)
    # Horizontal frame components to local components (the up coupling is second order).
    A = np.zeros((len(rows), 4, 4))
    A[:, 0, :2] = A[:, 2, 2:] = east[:, :2]
    A[:, 1, :2] = A[:, 3, 2:] = north[:, :2]
    cov = A @ Pc[:, :4, :4] @ A.transpose(0, 2, 1)
    age = time_s - tr.time_s[rows]
    coasting = age > np.maximum(cfg.coast_after_s, 1.5 * tr.expected_period_s[rows])
    status = np.where(tr.status[rows] == CONFIRMED, np.where(coasting, "coasting", "confirmed"), "tentative")
    sigma = np.sqrt(0.5 * (Pc[:, 0, 0] + Pc[:, 1, 1]))
    recent = 3.0 * tr.expected_period_s[rows]
    kinds = (
        (time_s - tr.last_primary_s[rows] < recent) * SENSOR_PSR
        + (time_s - tr.last_secondary_s[rows] < recent) * SENSOR_SSR
        + (time_s - tr.last_adsb_s[rows] < recent) * SENSOR_ADSB
    )
    return {
        "time_s": time_s,
        "track_id": tr.track_id[rows],
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_m": np.where(has, alt, np.nan),
        "v_east_mps": np.einsum("ki,ki->k", v_frame, east),
        "v_north_mps": np.einsum("ki,ki->k", v_frame, north),
        "v_up_mps": np.where(has, vrate, np.nan),
        "var_alt_m2": np.where(has, var_h, np.nan),
        **TrackReports.covariance_columns(cov),
        "status": status,
        "quality": 1.0 / (1.0 + sigma / 250.0),
        "sensor_kinds": kinds.astype(np.int8),
        "mode_s": tr.mode_s[rows],
        "squawk": tr.squawk[rows],
        "callsign": tr.callsign[rows],
    }


def report(state: TrackerState, rows: I64, time_s: F64) -> Tracks:
    """Tracks at the given rows predicted to the given times, in WGS-84 (the `tracks.csv` contract)."""
    if len(rows) == 0:
        return Tracks.empty()
    columns = _reported_columns(state, rows, time_s)
    return Tracks.build(len(rows), **{k: columns[k] for k in Tracks.DTYPES})


def reports(state: TrackerState, owner: str, time_s: float) -> TrackReports:
    """All confirmed tracks at one time with their uncertainty, as a partner exports them."""
    rows = np.flatnonzero(state.tracks.status == CONFIRMED)
    if len(rows) == 0:
        return TrackReports.empty()
    columns = _reported_columns(state, rows, np.full(len(rows), time_s))
    return TrackReports.build(len(rows), owner=np.full(len(rows), owner), **columns)


def registration_report(state: TrackerState) -> dict[str, dict[str, float | int | bool]]:
    """Per radar: the registration estimates (range bias m, azimuth bias deg, time offset s), their 1-sigma,
    the plots behind them and whether they are applied yet (enough plots). ADS-B sensors have none."""
    reg = state.registration
    sigma = reg.sigma()
    out: dict[str, dict[str, float | int | bool]] = {}
    for i, sid in enumerate(state.sensors.ids):
        if state.sensors.kind[i] == ADSB:
            continue
        est = reg.estimate[i]
        out[str(sid)] = {
            "range_bias_m": float(est[0]),
            "azimuth_bias_deg": float(np.degrees(est[1])),
            "time_offset_s": float(est[2]),
            "range_bias_sigma_m": float(sigma[i, 0]),
            "azimuth_bias_sigma_deg": float(np.degrees(sigma[i, 1])),
            "time_offset_sigma_s": float(sigma[i, 2]),
            "samples": int(reg.samples[i]),
            "applied": bool(reg.samples[i] >= reg.min_samples),
        }
    return out


def picture(state: TrackerState, time_s: float) -> Tracks:
    """All confirmed tracks predicted to one time: the node's local air picture."""
    rows = np.flatnonzero(state.tracks.status == CONFIRMED)
    return report(state, rows, np.full(len(rows), time_s))


def run(
    sensors: Sequence[SensorSpec],
    plots: Plots,
    config: TrackerConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[Tracks, TrackerState]:
    """Track a whole recording: feed plots period by period and write the picture at each output time.

    Every period from the first plot to the last is stepped, those without plots too, so tracks coast
    and are deleted through gaps in the data as they would be live."""
    state = new_state(sensors, config)
    cfg = state.config
    plots = plots.sorted_by_time()
    if len(plots) == 0:
        return Tracks.empty(), state
    period = cfg.output_period_s
    t0 = np.floor(plots.time_s[0] / period) * period
    key = np.floor((plots.time_s - t0) / period).astype(np.int64)
    bounds = np.searchsorted(key, np.arange(key[-1] + 2))
    pictures: list[Tracks] = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        state, _ = step(state, plots.take(np.arange(lo, hi)), with_updates=False)
        state = maintain(state, t0 + (k + 1) * period)
        pictures.append(picture(state, t0 + (k + 1) * period))
        if progress is not None and k % 10 == 0:
            progress(hi / len(plots))
    if progress is not None:
        progress(1.0)
    return Tracks.concat(pictures), state
