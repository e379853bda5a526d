"""Track continuity on real ADS-B recordings: one track id per aircraft through reception gaps and landings.

Each recording is decoded with its receiver's reference position (so surface positions decode too) and
tracked by `commonsky.tracking.run` twice: as configured by default (identified tracks lost in a gap are
re-acquired under their id within `reacquire_within_s`), and with re-acquisition off
(`reacquire_within_s = 0`, the tracker before this feature). Per recording: aircraft with positions,
positions (airborne / surface), track ids each way, and the longest reception gap an aircraft's single
track id was kept through.

Recordings: `benchmarks/data/traffic_full_flight_short.jsonl.gz` (one 80-minute flight, Paris to
Toulouse, taxi to taxi; also with 60 s and 110 s of its cruise cut out, as a single receiver loses an
aircraft), `tests/data/modes/traffic_sample_dump1090.bin` (24 s of Beast near Toulouse),
`tests/data/modes/pymodes_sample_data_adsb_first1000.csv` (a test fixture: 1,000 DF17 frames of one
aircraft) and `benchmarks/data/readsb_trace_full_ac671b.json.gz` (a tar1090 trace: 22.7 h, several
flights of one aircraft, positions thinned to one every ~10 s with hundreds of 15-120 s gaps; tracked
flight by flight, each with a receiver at its mean position). Not a speed benchmark.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from benchmarks.common import BENCH_DIR, REPO_ROOT, BenchOptions, fmt, reproduce_command, write_result
from commonsky.core.batches import Plots, Tracks
from commonsky.core.sensors import SensorSpec
from commonsky.formats.files import decode_file
from commonsky.tracking import TrackerConfig
from commonsky.tracking import run as track

NAME = "continuity"


@dataclass(frozen=True)
class Recording:
    """A real recording and what decoding it needs."""

    label: str
    path: Path
    reference: tuple[float, float]
    """The receiver's (or its airport's) position: the reference for local CPR decoding."""
    start_time_s: float = float("nan")
    """UTC of the first frame, for formats without times (Beast's counter)."""
    cut_s: tuple[float, float] | None = None
    """Seconds after the first position whose positions are removed: a reception gap made on purpose."""


FLIGHT = BENCH_DIR / "data" / "traffic_full_flight_short.jsonl.gz"
LFPG = (49.0097, 2.5479)
TRACE = BENCH_DIR / "data" / "readsb_trace_full_ac671b.json.gz"
FLIGHT_BREAK_S = 1800.0
"""A trace's positions this far apart belong to different flights (tracked apart)."""
FEET_M = 0.3048

RECORDINGS = (
    Recording("AFR34ZG LFPG-LFBO, 80 min", FLIGHT, LFPG),
    Recording("the same, 60 s cut out at cruise", FLIGHT, LFPG, cut_s=(2400.0, 2460.0)),
    Recording("the same, 110 s cut out at cruise", FLIGHT, LFPG, cut_s=(2400.0, 2510.0)),
    Recording(
        "dump1090 Beast, Toulouse, 24 s",
        REPO_ROOT / "tests" / "data" / "modes" / "traffic_sample_dump1090.bin",
        (43.6293, 1.3638),
        start_time_s=1581502020.0,
    ),
    Recording(
        "pyModeS sample, 1,000 frames",
        REPO_ROOT / "tests" / "data" / "modes" / "pymodes_sample_data_adsb_first1000.csv",
        (51.99, 4.37),
    ),
)


def run(options: BenchOptions) -> dict[str, Any]:
    """Decode and track each recording both ways; print the table and write the JSON result."""
    results = [_one(r) for r in RECORDINGS]
    results.append(_trace())
    table = Table(title="Track continuity on real ADS-B recordings")
    for column in (
        "recording",
        "aircraft",
        "positions (airborne / surface)",
        "track ids",
        "track ids without re-acquisition",
        "longest gap kept (s)",
    ):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r["label"],
            fmt(r["aircraft"]),
            f"{r['airborne']:,} / {r['surface']:,}",
            fmt(r["track_ids"]),
            fmt(r["track_ids_without_reacquisition"]),
            fmt(r["longest_gap_kept_s"], 1),
        )
    options.console.print(table)
    options.console.print(f"Reproduce: [bold]{reproduce_command(NAME, options.quick)}[/]")
    path = write_result(options, NAME, {"recordings": results})
    options.console.print(f"Result: {path}")
    return {"recordings": results}


def _one(recording: Recording) -> dict[str, Any]:
    decoded = decode_file(
        recording.path, sensor_id="rx", reference=recording.reference, start_time_s=recording.start_time_s
    )
    plots = decoded.plots.sorted_by_time()
    if recording.cut_s is not None:
        since = plots.time_s - plots.time_s.min()
        plots = plots.take(np.flatnonzero((since < recording.cut_s[0]) | (since >= recording.cut_s[1])))
    receiver = SensorSpec.adsb_receiver("rx", "local", *recording.reference)
    return _score(recording.label, str(recording.path.relative_to(REPO_ROOT)), [(receiver, plots)])


def _trace() -> dict[str, Any]:
    """The tar1090 trace, flight by flight: ADS-B plots from its points, a receiver at each flight's mean."""
    doc = json.loads(gzip.decompress(TRACE.read_bytes()))
    points = doc["trace"]
    t = doc["timestamp"] + np.array([p[0] for p in points])
    ground = np.array([p[3] == "ground" for p in points])
    alt = np.array([np.nan if p[3] == "ground" or p[3] is None else p[3] * FEET_M for p in points])
    n = len(points)
    plots = Plots.build(
        n,
        time_s=t,
        sensor_id=np.full(n, "rx"),
        lat_deg=[p[1] for p in points],
        lon_deg=[p[2] for p in points],
        altitude_m=alt,
        mode_s=np.full(n, int(doc["icao"], 16)),
        on_ground=ground,
    )
    flights = np.split(np.arange(n), np.flatnonzero(np.diff(t) > FLIGHT_BREAK_S) + 1)
    parts = []
    for rows in flights:
        flight = plots.take(rows)
        lat, lon = float(np.mean(flight.lat_deg)), float(np.mean(flight.lon_deg))
        receiver = SensorSpec.adsb_receiver("rx", "local", lat, lon)
        parts.append((replace(receiver, max_range_m=TRACE_RANGE_M), flight))
    return _score(f"N899DN tar1090 trace, 22.7 h, {len(flights)} flights", str(TRACE.relative_to(REPO_ROOT)), parts)


TRACE_RANGE_M = 3_000_000.0
"""A trace comes from a network of receivers: one "receiver" covering each whole flight."""


def _score(label: str, file: str, parts: list[tuple[SensorSpec, Plots]]) -> dict[str, Any]:
    """Track each part with and without re-acquisition; the table row of the recording."""
    track_ids = without_ids = lost = reacquired = 0
    longest = 0.0
    for receiver, plots in parts:
        tracks, state = track([receiver], plots, TrackerConfig())
        without, _ = track([receiver], plots, TrackerConfig(reacquire_within_s=0.0))
        track_ids += _ids(tracks)
        without_ids += _ids(without)
        lost += state.stats.tracks_lost
        reacquired += state.stats.tracks_reacquired
        longest = max(longest, _longest_gap_kept(plots, tracks))
    everything = Plots.concat([p for _, p in parts])
    return {
        "label": label,
        "file": file,
        "aircraft": len(np.unique(everything.mode_s[everything.mode_s >= 0])),
        "airborne": int(np.count_nonzero(~everything.on_ground)),
        "surface": int(np.count_nonzero(everything.on_ground)),
        "track_ids": track_ids,
        "track_ids_without_reacquisition": without_ids,
        "tracks_lost": lost,
        "tracks_reacquired": reacquired,
        "longest_gap_kept_s": longest,
    }


def _ids(tracks: Tracks) -> int:
    return len(np.unique(tracks.track_id))


def _longest_gap_kept(plots: Plots, tracks: Tracks) -> float:
    """The longest time between two positions of an aircraft whose track kept one id through the whole recording."""
    longest = 0.0
    for address in np.unique(plots.mode_s[plots.mode_s >= 0]):
        if len(np.unique(tracks.track_id[tracks.mode_s == address])) != 1:
            continue
        times = np.sort(plots.time_s[plots.mode_s == address])
        if len(times) > 1:
            longest = max(longest, float(np.diff(times).max()))
    return longest
