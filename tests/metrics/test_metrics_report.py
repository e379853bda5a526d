"""render_table and plot_evaluation produce readable output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console

from commonsky.core import Tracks, Truth
from commonsky.metrics import evaluate, plot_evaluation, render_table

MakeTruth = Callable[..., Truth]
TracksFrom = Callable[..., Tracks]


def test_table_lists_the_summary(make_truth: MakeTruth, make_tracks: TracksFrom) -> None:
    truth = make_truth(n_targets=2, seconds=10)
    tracks = make_tracks(truth)
    ev = evaluate(truth, tracks.take(tracks.track_id == 101), cutoff_m=2000.0)
    table = render_table(ev)
    assert "2000 m" in str(table.title)
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "GOSPA (mean per second)" in text and "1414.2" in text  # c/√2: one of two targets missed
    assert "Completeness" in text and "50.0" in text
    assert "RMSE altitude" in text


def test_table_shows_undefined_values_as_dash(make_truth: MakeTruth) -> None:
    console = Console(record=True, width=120)
    console.print(render_table(evaluate(make_truth(), Tracks.empty())))
    assert "–" in console.export_text()


def test_plot_writes_a_png(make_truth: MakeTruth, make_tracks: TracksFrom, tmp_path: Path) -> None:
    truth = make_truth(n_targets=3, seconds=30)
    tracks = make_tracks(truth, every_s=2)
    tracks = tracks.replace(lat_deg=tracks.lat_deg + np.where(tracks.track_id == 101, 0.01, 0.0))
    ev = evaluate(truth, tracks)
    out = tmp_path / "plots" / "eval.png"
    plot_evaluation(ev, truth, tracks, out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
