"""Human-facing output of an evaluation: a rich table for the terminal and a PNG with time series and map."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from numpy.typing import NDArray
from rich.table import Table

from commonsky.core.batches import Tracks, Truth
from commonsky.metrics.evaluation import Evaluation

_ROWS: list[tuple[str, str, str, str]] = [
    ("gospa_mean", "GOSPA (mean per second)", "m", "{:.1f}"),
    ("gospa_localisation", "  localisation part (mean of Σd²)", "km²", "km2"),
    ("gospa_missed", "  missed part (mean of c²/2·#missed)", "km²", "km2"),
    ("gospa_false", "  false part (mean of c²/2·#false)", "km²", "km2"),
    ("ospa_mean", "OSPA (mean per second)", "m", "{:.1f}"),
    ("rmse_position_m", "RMSE horizontal position", "m", "{:.1f}"),
    ("rmse_velocity_mps", "RMSE velocity", "m/s", "{:.2f}"),
    ("rmse_altitude_m", "RMSE altitude", "m", "{:.1f}"),
    ("completeness", "Completeness", "%", "pct"),
    ("track_breaks", "Track breaks", "", "{:d}"),
    ("id_switches", "ID switches", "", "{:d}"),
    ("false_track_seconds", "False track-seconds", "s", "{:d}"),
    ("seconds", "Seconds evaluated", "s", "{:d}"),
    ("targets", "Truth targets", "", "{:d}"),
    ("tracks", "Tracks", "", "{:d}"),
    ("truth_seconds", "Truth target-seconds", "s", "{:d}"),
    ("track_seconds", "Track-seconds", "s", "{:d}"),
]
"""Summary key, label, unit and format ("km2": m² shown in km², "pct": fraction shown in percent)."""


def _format(value: float | int, fmt: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if fmt == "km2":
        return f"{value / 1e6:.3f}"
    if fmt == "pct":
        return f"{100 * value:.1f}"
    return fmt.format(value)


def render_table(ev: Evaluation) -> Table:
    """The summary as a rich table, titled with the evaluation settings."""
    statuses = "/".join(ev.statuses)
    table = Table(title=f"Track evaluation (cut-off {ev.cutoff_m:g} m, max age {ev.max_age_s:g} s, {statuses})")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    table.add_column("Unit")
    for key, label, unit, fmt in _ROWS:
        table.add_row(label, _format(ev.summary[key], fmt), unit)
    return table


def plot_evaluation(ev: Evaluation, truth: Truth, tracks: Tracks, path: str | Path) -> None:
    """Write a PNG: GOSPA over time split into its parts, and a lon/lat map of truth against tracks.

    The split bands share the per-second GOSPA value in proportion to each part of the squared sum,
    so the stack's top is the GOSPA value in metres.
    """
    # A bare Figure renders with Agg and leaves pyplot's global backend alone.
    fig = Figure(figsize=(15, 6), layout="tight")
    ax_time, ax_map = fig.subplots(1, 2, width_ratios=[3, 2])
    squared = ev.gospa_per_second**2
    share = np.divide(ev.gospa_per_second, squared, out=np.zeros_like(squared), where=squared > 0)
    parts = [
        ev.gospa_localisation_per_second * share,
        ev.gospa_missed_per_second * share,
        ev.gospa_false_per_second * share,
    ]
    t0 = float(ev.times[0]) if len(ev.times) else 0.0
    ax_time.stackplot(ev.times - t0, *parts, labels=["localisation", "missed", "false"], alpha=0.8)
    ax_time.plot(ev.times - t0, ev.ospa_per_second, color="black", linewidth=1, label="OSPA")
    ax_time.set_xlabel(f"time since {t0:.0f} s (s)")
    ax_time.set_ylabel("GOSPA (m), stacked by share of squared sum")
    ax_time.set_title(f"GOSPA per second (mean {ev.summary['gospa_mean']:.1f} m, c = {ev.cutoff_m:g} m)")
    ax_time.legend(loc="upper right")
    ax_time.grid(alpha=0.3)

    shown = tracks.take(np.isin(tracks.status, ev.statuses))
    _draw_lines(ax_map, truth.target_id, truth.time_s, truth.lon_deg, truth.lat_deg, "0.6", 2.5, "truth")
    _draw_lines(ax_map, shown.track_id, shown.time_s, shown.lon_deg, shown.lat_deg, "tab:red", 0.8, "tracks")
    ax_map.autoscale()
    ax_map.set_xlabel("longitude (deg)")
    ax_map.set_ylabel("latitude (deg)")
    ax_map.set_title("Truth (grey) and tracks (red)")
    ax_map.legend(loc="upper right")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _draw_lines(
    ax: Axes,
    ids: NDArray[np.integer],
    times: NDArray[np.float64],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    color: str,
    width: float,
    label: str,
) -> None:
    """One polyline per id in time order, drawn as a single collection so thousands stay fast."""
    order = np.lexsort((times, ids))
    ids, xy = ids[order], np.column_stack([lon[order], lat[order]])
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    ax.add_collection(LineCollection(np.split(xy, cuts), colors=color, linewidths=width, label=label))
