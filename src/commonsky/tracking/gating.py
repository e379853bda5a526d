"""Gating and the slice's association: which tracks a plot could come from, and which it goes to.

A plot whose Mode S address matches a track goes to it (after a loose sanity gate). The others
are pre-gated (a k-d tree over approximate east/north positions) and gated by the Mahalanobis
distance from the track's moment-matched mixture predicted to the plot's time under one generous
constant-velocity model (`motion.gate_models`, compiled `kernels.gate_rows`); the pairs in the gate
go to the configured `associate.Associator`. The surest pairs' innovations feed sensor registration.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2

from commonsky.core.arrays import F64, I64, B, Rows
from commonsky.tracking import imm, kernels
from commonsky.tracking.associate import Associator, Candidates, Hypotheses
from commonsky.tracking.association import pregate_pairs
from commonsky.tracking.coverage import covering
from commonsky.tracking.motion import regime
from commonsky.tracking.prepare import ADSB, SlicePlots
from commonsky.tracking.state import LOST, TrackerState

ADSB_FRESH_S = 3.0
"""A track updated by ADS-B this recently is a registration reference."""
REGISTRATION_MIN_WEIGHT = 0.5
"""A pair feeds registration when the plot is more likely this track's than not."""
CLUTTER_HEIGHT_SPAN_M = 20_000.0
"""Heights a false plot's Mode C may take: the third dimension of the clutter density of plots with a height."""
CLUTTER_FLOOR_PER_SCAN = 1.0
"""The clutter estimate never claims fewer false plots per scan than this over a sensor's coverage."""


@dataclass(frozen=True)
class GatedPairs(Rows):
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


def gate(state: TrackerState, p: SlicePlots, plot: I64, row: I64) -> GatedPairs:
    """Predict each pair's track to its plot time (combined IMM, generous CV) and score it."""
    tracks = state.tracks
    sub = p.take(plot)
    cfg = state.config
    d2, logdet, nu, S, H, rates = kernels.gate_rows(
        tracks.x,
        tracks.P,
        tracks.mu,
        row,
        sub.time_s - tracks.time_s[row],
        sub.columns(state.sensors),
        state.sensors.kernel_frame,
        state.gate_models,
        regime(tracks.on_ground[row], tracks.vessel[row]),
    )
    # A plot with a height has one more degree of freedom: scale its distance to the 2-D gate.
    d2 = np.where(np.isfinite(sub.alt), d2 * (cfg.gate_chi2 / _gate3(cfg.gate_chi2)), d2)
    return GatedPairs(plot, row, d2, logdet, nu, S, H, rates)


@functools.cache
def _gate_probability(gate2: float) -> float:
    """Probability that a target's own 2-D plot falls inside the gate `gate2`."""
    return float(chi2.cdf(gate2, 2))


@functools.cache
def _gate3(gate2: float) -> float:
    """The 3-degree-of-freedom chi-square quantile with the same tail probability as `gate2` on 2."""
    return float(chi2.ppf(chi2.cdf(gate2, 2), 3))


def approx_positions(state: TrackerState, p: SlicePlots) -> F64:
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


def pregate_radius(state: TrackerState, p: SlicePlots) -> F64:
    """Per-plot pre-gate radius: a margin for track motion and noise, 5 sigma cross-range, altitude slack."""
    cfg = state.config
    radar = p.kind != ADSB
    cross_range = np.where(radar, p.z[:, 0] * p.sigma_z[:, 1], p.sigma_z[:, 0])
    slack = np.where(radar & ~np.isfinite(p.alt), cfg.pregate_unknown_altitude_m, 0.0)
    return cfg.pregate_margin_m + 5.0 * cross_range + slack


@dataclass
class Association:
    """What association decided in one slice."""

    hypotheses: Hypotheses
    free: B
    """Plots no track took (a plot whose address conflicts with its track's is taken: it starts nothing)."""
    in_gate: B
    """Plots near enough to a track to be its outliers rather than new targets."""
    gated: list[GatedPairs] = field(default_factory=list)
    """The pairs taken with confidence, with their gating statistics (registration evidence)."""

    @property
    def unassociated(self) -> B:
        """Plots that may start a new track."""
        return self.free & ~self.in_gate


def associate(state: TrackerState, p: SlicePlots, associator: Associator) -> Association:
    """Associate one slice's plots with the live tracks: Mode S addresses first, then the associator."""
    cfg = state.config
    tracks = state.tracks
    found = Association(Hypotheses.concat([]), np.ones(len(p), dtype=bool), np.zeros(len(p), dtype=bool))
    if len(tracks) == 0:
        return found
    parts: list[Hypotheses] = []
    lost = tracks.status == LOST
    addr_plot, addr_row = same_key_pairs(p.mode_s, np.where(lost, -1, tracks.mode_s).astype(np.int32))
    same = p.vessel[addr_plot] == tracks.vessel[addr_row]
    addr_plot, addr_row = addr_plot[same], addr_row[same]
    if len(addr_plot):
        g = gate(state, p, addr_plot, addr_row)
        # One pair per plot: the nearest of the tracks with its address (two vessels may share an MMSI).
        order = np.lexsort((g.d2, addr_plot))
        nearest = order[np.r_[True, addr_plot[order][1:] != addr_plot[order][:-1]]]
        g, addr_plot, addr_row = g.take(nearest), addr_plot[nearest], addr_row[nearest]
        ok = g.d2 < np.where(distrusted(state, addr_row, p.time_s[addr_plot]), cfg.gate_chi2, cfg.address_gate_chi2)
        np.maximum.at(tracks.refused_s, addr_row[~ok], p.time_s[addr_plot[~ok]])
        state.stats.address_conflicts += int((~ok).sum())
        parts.append(Hypotheses.certain(addr_plot[ok], addr_row[ok]))
        found.gated.append(g.take(ok))
        found.free[addr_plot] = False  # a conflicting address plot is neither reassigned nor a new track...
        # ... but for an AIS report where no shore radar watches, which could tell a spoofed position from a
        # second vessel broadcasting the same MMSI: that is a vessel of its own.
        refused = addr_plot[~ok & p.vessel[addr_plot]]
        found.free[refused[~radar_watches(state, p, refused)]] = True
    cand = np.flatnonzero(found.free)
    if len(cand):
        t_mid = float(np.median(p.time_s[cand]))
        live = np.flatnonzero(~lost)
        xc = imm.combine_mean(tracks.x, tracks.mu)[live]
        track_en = xc[:, :2] + xc[:, 2:4] * (t_mid - tracks.time_s[live])[:, None]
        pi, rows = pregate_pairs(approx_positions(state, p.take(cand)), track_en, pregate_radius(state, p.take(cand)))
        pi, rows = cand[pi], live[rows]
        conflict = (p.mode_s[pi] >= 0) & (tracks.mode_s[rows] >= 0) & (p.mode_s[pi] != tracks.mode_s[rows])
        conflict |= p.vessel[pi] != tracks.vessel[rows]  # domains never mix: a vessel is no aircraft's plot
        pi, rows = pi[~conflict], rows[~conflict]
        if len(pi):
            g = gate(state, p, pi, rows)
            found.in_gate[g.plot[g.d2 < cfg.initiation_exclusion_chi2]] = True
            g = g.take(g.d2 < cfg.gate_chi2)
            squawk_clash = (
                (p.squawk[g.plot] >= 0) & (tracks.squawk[g.row] >= 0) & (p.squawk[g.plot] != tracks.squawk[g.row])
            )
            scan = g.row * len(state.sensors.ids) + p.sensor[g.plot]
            hyp = associator.associate(_candidates(state, p, g, scan, cfg.squawk_mismatch_cost * squawk_clash))
            parts.append(hyp)
            found.free[hyp.plot[hyp.weight > 0.0]] = False
            sure = hyp.weight > REGISTRATION_MIN_WEIGHT
            key = g.plot * (len(tracks) + 1) + g.row
            found.gated.append(g.take(np.isin(key, hyp.plot[sure] * (len(tracks) + 1) + hyp.row[hyp.owner[sure]])))
    found.hypotheses = Hypotheses.concat(parts)
    return found


def _candidates(state: TrackerState, p: SlicePlots, g: GatedPairs, scan: I64, penalty: F64) -> Candidates:
    """The gated pairs as an associator sees them, with likelihoods and each sensor's pd and clutter."""
    cfg = state.config
    sensors = state.sensors
    has_height = np.isfinite(p.alt[g.plot])
    d2 = np.where(has_height, g.d2 * (_gate3(cfg.gate_chi2) / cfg.gate_chi2), g.d2)
    dof = np.where(has_height, 3.0, 2.0)
    loglik = -0.5 * (d2 + g.logdet + dof * np.log(2.0 * np.pi))
    s = p.sensor[g.plot]
    reach = sensors.max_range_m[s]
    volume = np.where(sensors.kind[s] == ADSB, np.pi * reach**2, 2.0 * np.pi * reach)
    volume = np.where(has_height, volume * CLUTTER_HEIGHT_SPAN_M, volume)
    per_scan = np.maximum(state.clutter.free_per_s[s] * sensors.scan_period_s[s], CLUTTER_FLOOR_PER_SCAN)
    return Candidates(
        plot=g.plot,
        row=g.row,
        scan=scan,
        d2=g.d2,
        logdet=g.logdet,
        penalty=penalty,
        loglik=loglik,
        pd=sensors.pd[s],
        clutter_density=per_scan / volume,
        gate_probability=_gate_probability(cfg.gate_chi2),
    )


def same_key_pairs(plot_key: NDArray[np.integer], track_key: NDArray[np.integer]) -> tuple[I64, I64]:
    """(plot, track) index pairs whose keys (addresses, squawks) are equal and known (>= 0)."""
    order = np.argsort(track_key, kind="stable")
    lo = np.searchsorted(track_key[order], plot_key, side="left")
    hi = np.searchsorted(track_key[order], plot_key, side="right")
    count = np.where(plot_key >= 0, hi - lo, 0)
    plots = np.repeat(np.arange(len(plot_key), dtype=np.int64), count)
    offset = np.arange(len(plots)) - np.repeat(np.cumsum(count) - count, count)
    return plots, order[np.repeat(lo, count) + offset].astype(np.int64)


def distrusted(state: TrackerState, rows: I64, time_s: F64) -> B:
    """Vessel tracks (at `rows`) that refused a report of their own MMSI within `address_distrust_s` of `time_s`:
    their AIS needs the ordinary gate, revives nothing and starts no vessel of its own under a shore radar."""
    tr = state.tracks
    return tr.vessel[rows] & (time_s - tr.refused_s[rows] < state.config.address_distrust_s)


def radar_watches(state: TrackerState, p: SlicePlots, plots: I64) -> B:
    """Whether a shore radar covers each of these (surface, self-reported) plots' positions. One in an outage
    counts too: a spoofed position must not become a vessel for the length of an outage and after it."""
    sensors = state.sensors
    if len(plots) == 0:
        return np.zeros(0, dtype=bool)
    radar = sensors.surface & (sensors.kind != ADSB)
    height = np.full(len(plots), state.config.surface_height_m)
    cover = covering(state.frame, sensors, p.z[plots, 0], p.z[plots, 1], height, np.ones(len(plots), dtype=bool))
    return (cover & radar).any(axis=1)


def register(state: TrackerState, p: SlicePlots, gated: list[GatedPairs]) -> None:
    """Feed radar residuals on ADS-B-fed tracks to the registration estimator."""
    plot = np.concatenate([g.plot for g in gated])
    row = np.concatenate([g.row for g in gated])
    nu = np.concatenate([g.innovation for g in gated])
    S = np.concatenate([g.S for g in gated])
    rates = np.concatenate([g.rates for g in gated])
    ref = (p.kind[plot] != ADSB) & (p.time_s[plot] - state.tracks.last_adsb_s[row] < ADSB_FRESH_S)
    variances = np.stack([S[ref, 0, 0], S[ref, 1, 1]], axis=-1)
    state.registration.accumulate(float(p.time_s.max()), p.sensor[plot[ref]], nu[ref], rates[ref], variances)
