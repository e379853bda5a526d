"""The multi-sensor tracker step: `step(state, plots) -> (state, updates)`, vectorised per time slice.

Per slice (default 1 s, all sensors), in the shape of Stone Soup's `MultiTargetTracker`:
associate (`gating`, with the configured `associate.Associator`: GNN by default), feed sensor
registration, update (`update`: the IMM over the `motion` table), initiate (`initiate`); then
track management confirms, coasts, deletes and merges (`manage`). Plots are converted once per
batch (`prepare`) and tracks are reported by `report`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from commonsky.core.arrays import I64
from commonsky.core.batches import Plots, Tracks
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.tracking.associate import Associator
from commonsky.tracking.associators import associator_for
from commonsky.tracking.config import TrackerConfig
from commonsky.tracking.gating import associate, register
from commonsky.tracking.initiate import initiate
from commonsky.tracking.manage import manage, note_heard
from commonsky.tracking.measurements import SensorTable
from commonsky.tracking.motion import gate_models, model_tables, motion_models
from commonsky.tracking.prepare import SlicePlots, prepare
from commonsky.tracking.registration import Registration
from commonsky.tracking.report import picture, report
from commonsky.tracking.state import CONFIRMED, ClutterEstimate, TrackArrays, TrackerState
from commonsky.tracking.update import update
from commonsky.tracking.water import keep_on_water


def new_state(
    sensors: Sequence[SensorSpec],
    config: TrackerConfig | None = None,
    frame: LocalFrame | None = None,
    waterway: Waterway | None = None,
) -> TrackerState:
    """An empty tracker for these sensors; the frame defaults to the sensors' mean position. With a `waterway`,
    vessel tracks are kept on its water."""
    cfg = config or TrackerConfig()
    if frame is None:
        lat = float(np.mean([s.lat_deg for s in sensors])) if sensors else 0.0
        lon = float(np.mean([s.lon_deg for s in sensors])) if sensors else 0.0
        frame = LocalFrame(lat, lon, 0.0)
    table = SensorTable.build(sensors, frame)
    reg = Registration.zeros(len(sensors), cfg.registration_min_samples, cfg.registration_forgetting_s)
    tracks = TrackArrays.empty(len(motion_models(cfg)))
    return TrackerState(
        config=cfg,
        frame=frame,
        sensors=table,
        tracks=tracks,
        registration=reg,
        clutter=ClutterEstimate.zeros(len(sensors)),
        models=model_tables(cfg),
        gate_models=gate_models(cfg),
        waterway=waterway,
    )


def step(state: TrackerState, plots: Plots, with_updates: bool = True) -> tuple[TrackerState, Tracks]:
    """Process one batch of plots (any sensors, any order); return the state and the tracks it updated.

    The state is taken over and returned (not copied): callers must not reuse the old reference.
    Updates are the confirmed tracks touched by this batch, reported at their latest plot time;
    `with_updates=False` skips building them (a batch replay that only writes periodic pictures).
    """
    state.stats.plots_in += len(plots)
    prepared = prepare(state, plots)
    if len(prepared) == 0:
        return state, Tracks.empty()
    # Equal slices of about slice_s each; a batch slightly longer than one slice (registration
    # time corrections move plots by fractions of a second) stays one slice.
    t = prepared.time_s
    n_slices = max(1, round((t[-1] - t[0]) / state.config.slice_s))
    slice_key = np.minimum(((t - t[0]) * n_slices / max(t[-1] - t[0], 1e-9)).astype(np.int64), n_slices - 1)
    bounds = np.flatnonzero(np.r_[True, np.diff(slice_key) != 0, True])
    associator = associator_for(state.config.associator)
    touched: list[I64] = []
    for lo, hi in itertools.pairwise(bounds):
        part = prepared.take(np.arange(lo, hi))
        touched.append(_process_slice(state, part, associator))
        state.time_s = max(state.time_s, float(part.time_s.max()))
        manage(state, state.time_s)
    if not with_updates:
        return state, Tracks.empty()
    ids = np.unique(np.concatenate(touched))
    tracks = state.tracks
    rows = np.flatnonzero(np.isin(tracks.track_id, ids) & (tracks.status == CONFIRMED))
    return state, report(state, rows, tracks.time_s[rows])


def _process_slice(state: TrackerState, p: SlicePlots, associator: Associator) -> I64:
    """Associate, update and initiate for one slice; returns the ids of the tracks that took a plot."""
    note_heard(state.tracks, p.mode_s, p.time_s)
    association = associate(state, p, associator)
    span = float(p.time_s.max()) - state.time_s if np.isfinite(state.time_s) else state.config.slice_s
    state.clutter.observe(np.bincount(p.sensor[association.unassociated], minlength=len(state.sensors.ids)), span)
    if state.config.registration and association.gated:
        register(state, p, association.gated)
    updated = update(state, p, association.hypotheses)
    keep_on_water(state, updated)
    started = initiate(state, p, association.unassociated)
    return state.tracks.track_id[np.r_[updated, started]]


def maintain(state: TrackerState, now_s: float) -> TrackerState:
    """Bring track management up to `now_s` without plots: tracks silent for too long are deleted.

    `step` manages tracks only at the times of the plots it is given; a live node's tick, or a gap in
    a recording, calls this so that tracks age out while no plot arrives at all. Taken over like `step`.
    """
    if now_s > state.time_s:
        manage(state, now_s)
    return state


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
