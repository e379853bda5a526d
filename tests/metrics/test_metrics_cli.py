"""`commonsky eval` over written truth and track files: the summary JSON and the pictures rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from commonsky.cli import app
from commonsky.core import Tracks, Truth
from commonsky.formats.contracts import write_tracks, write_truth


def test_eval_writes_the_summary_and_reads_pictures_when_told(
    make_truth: Callable[..., Truth], make_tracks: Callable[..., Tracks], tmp_path: Path
) -> None:
    truth = make_truth(n_targets=2, seconds=20)
    tracks = make_tracks(truth)
    write_truth(truth, tmp_path / "truth.csv")
    write_tracks(tracks.take((tracks.track_id != 101) | (tracks.time_s < 10.0)), tmp_path / "tracks.csv")
    summaries = []
    for extra in ([], ["--pictures"]):
        out = tmp_path / f"summary{len(extra)}.json"
        args = ["eval", "--truth", str(tmp_path / "truth.csv"), "--tracks", str(tmp_path / "tracks.csv")]
        result = CliRunner().invoke(app, [*args, "--json", str(out), *extra])
        assert result.exit_code == 0, result.output
        summaries.append(json.loads(out.read_text()))
    held, pictures = summaries
    assert (held["pictures"], pictures["pictures"]) == (False, True)
    assert (held["assigned_seconds"], pictures["assigned_seconds"]) == (40, 30)
