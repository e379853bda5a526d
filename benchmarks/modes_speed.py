"""Mode S decoding speed: raw frames per second into columnar Plots, beside plain rs1090 and pyModeS, on one core.

Input: the 57,793 real frames of the `traffic` package's full flight (one aircraft, every downlink
format a ground station hears: DF0/4/5/16/17/20/21), read from `benchmarks/data` (MIT), repeated to
`--frames` frames with the times shifted so CPR pairing stays realistic. Each decoder gets the same
list of hex strings and times:

- commonsky `decode_modes` (Plots, velocities and replies, address confirmation, CPR pairing);
- rs1090 `decode(frames, timestamps)` (its own batch API with CPR, Python dicts out);
- pyModeS 3.6 `decode(frames, timestamps=...)` (pure Python; on a slice, it is slow).

rs1090 runs its batches on a Rayon thread pool; `RAYON_NUM_THREADS=1` is set before rs1090 is
first used so every figure is for one core. The best of `--repeat` runs is reported (the first
decoder call, which builds the altitude/identity code tables, is a warm-up). Target: 200,000
frames/s on one core.

Run: `python -m benchmarks.modes_speed [--quick]` (or `python -m benchmarks --only modes_speed`).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np
import pyModeS
import rs1090
from rich.console import Console
from rich.table import Table

from benchmarks.common import recorded, standalone
from commonsky.formats.modes import decode_modes

NAME = "modes_speed"
DATA = Path(__file__).resolve().parent / "data" / "traffic_full_flight_short.jsonl.gz"
FRAMES_FULL = 1_000_000
FRAMES_QUICK = 200_000
PYMODES_FRAMES = 20_000
TARGET_PER_S = 200_000


def load_frames(n: int) -> tuple[list[str], np.ndarray]:
    """n real frames (the recording repeated, times shifted past its end each time) and their times."""
    path = DATA
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    frames = [r["frame"] for r in rows]
    times = np.array([r["timestamp"] for r in rows])
    span = times[-1] - times[0] + 60.0
    reps = -(-n // len(frames))
    all_times = np.concatenate([times + k * span for k in range(reps)])[:n]
    return (frames * reps)[:n], all_times


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n_frames: int = FRAMES_FULL, repeat: int = 3) -> dict[str, Any]:
    """Frames per second of each decoder on the same input (seconds are the best of `repeat`)."""
    logging.getLogger("commonsky.formats.report").setLevel(logging.ERROR)
    frames, times = load_frames(n_frames)
    decode_modes(frames[:1000], times[:1000], "warm-up")
    batch = decode_modes(frames, times, "bench")
    ours = _best(lambda: decode_modes(frames, times, "bench"), repeat)
    ts_list = times.tolist()
    theirs = _best(lambda: rs1090.decode(frames, ts_list), repeat)
    m = min(PYMODES_FRAMES, n_frames)
    pms = _best(lambda: pyModeS.decode(frames[:m], timestamps=ts_list[:m]), 1)
    return {
        "frames": n_frames,
        "rayon_threads": os.environ.get("RAYON_NUM_THREADS"),
        "plots": len(batch.plots),
        "velocities": len(batch.velocities),
        "replies": len(batch.replies),
        "commonsky_s": ours,
        "commonsky_per_s": n_frames / ours,
        "rs1090_s": theirs,
        "rs1090_per_s": n_frames / theirs,
        "pymodes_frames": m,
        "pymodes_s": pms,
        "pymodes_per_s": m / pms,
        "target_per_s": TARGET_PER_S,
    }


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Measure, print a Rich table and return the figures."""
    console = console or Console()
    result = measure(FRAMES_QUICK if quick else FRAMES_FULL, 2 if quick else 3)
    table = Table(title=f"Mode S decoding, {result['frames']:,} real frames, one core")
    table.add_column("Decoder")
    table.add_column("Output")
    table.add_column("Frames/s", justify="right")
    ok = result["commonsky_per_s"] >= TARGET_PER_S
    table.add_row(
        "commonsky decode_modes",
        f"{result['plots']:,} plots, {result['velocities']:,} velocities, {result['replies']:,} replies",
        f"[{'green' if ok else 'red'}]{result['commonsky_per_s']:,.0f}[/] (target {TARGET_PER_S:,})",
    )
    table.add_row("rs1090 decode (batch, with times)", "one dict per frame", f"{result['rs1090_per_s']:,.0f}")
    table.add_row(
        f"pyModeS decode (batch, first {result['pymodes_frames']:,})",
        "one dict per frame",
        f"{result['pymodes_per_s']:,.0f}",
    )
    console.print(table)
    return result


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, "200,000 frames instead of 1,000,000")
