"""Tracker speed: plots per second, step latency, real-time factor and memory per track, at 100 to 10,000 aircraft.

The scenarios derive from `examples/national5k.toml` (400 km radius around 51 N, 10 E) with the
traffic count changed and nine sensors added on a 250 km ring (3 SSR, 3 ADS-B, 3 PSR), 20 sensors
in all; the national5k events are dropped. Each size is simulated once (not timed), cut into 1 s
batches as `commonsky.tracking.run` does, and tracked twice:

1. Timing pass: `step` on each batch, then `picture` at the end of its second, as a live node does.
   Wall time = Σ (step + picture); plots/s = plots / wall; real-time factor = simulated seconds /
   wall; latency = p50/p99 of the `step` calls alone. A short warm-up run first keeps numba's JIT
   compilation out of the numbers.
2. Memory pass (first `MEMORY_SLICE_S` seconds): the same loop under `tracemalloc`. Reported: the
   bytes of the track arrays per live track (`TrackArrays.nbytes() / len`), and the tracemalloc peak
   during the loop (state plus every temporary of a step) per live track at that time.
3. Resident pass: the timing loop again in a fresh process (spawned, given the sensors and plots, its
   kernels compiled by a warm-up first), its resident set (VmRSS) sampled after every step. Reported:
   the peak growth over the resident set before the loop, per live track at the peak. It sees what
   tracemalloc does not (memory Numba kernels and SciPy's k-d tree allocate). It is a lower bound: even a
   fresh process reuses the memory that unpickling its input freed.

Stone Soup (see `stonesoup_tracker`) runs on a slice of the 100-aircraft scenario within a wall-time
budget; its plots/s is set beside commonsky's on the very same slice. The issue's targets are printed
beside the numbers. Speed numbers depend on the machine; these are not pass/fail tests.
"""

from __future__ import annotations

import concurrent.futures
import copy
import gc
import multiprocessing
import time
import tomllib
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from benchmarks.common import (
    REPO_ROOT,
    BenchOptions,
    fmt,
    fmt_bytes,
    progress_bar,
    reproduce_command,
    second_batches,
    slice_run,
    write_result,
)
from commonsky.core.batches import Plots
from commonsky.core.sensors import SensorSpec
from commonsky.sim import Scenario, SimulationOutput, parse_scenario, simulate
from commonsky.tracking import TrackerConfig, TrackerState, new_state, picture, step

NAME = "tracker_speed"
BASE_SCENARIO = REPO_ROOT / "examples" / "national5k.toml"

FULL_SIZES: list[tuple[int, float]] = [(100, 300.0), (1_000, 300.0), (10_000, 60.0)]
"""(aircraft, simulated seconds) of the full run."""
QUICK_SIZES: list[tuple[int, float]] = [(100, 120.0), (1_000, 60.0)]
"""(aircraft, simulated seconds) with --quick: 10,000 aircraft skipped."""
MEMORY_SLICE_S = 60.0
"""Seconds tracked under tracemalloc (it slows allocation-heavy code down)."""
STONESOUP_SLICE_S = (60.0, 20.0)
"""Seconds of the 100-aircraft scenario given to Stone Soup: full run, --quick."""
STONESOUP_BUDGET_S = (180.0, 60.0)
"""Wall-time budget of the Stone Soup run (full, --quick): it stops at the first step past it."""

TARGET_PLOTS_PER_S_1K = 100_000.0
TARGET_REALTIME_10K = 5.0
TARGET_BYTES_PER_TRACK = 4 * 1024.0

EXTRA_SENSORS: list[dict[str, Any]] = [
    # Three of each kind on a ~250 km ring around the region centre (51 N, 10 E), between the
    # national5k sites, so coverage overlaps as it does in a real multi-partner picture.
    {"id": "X-SSR-N", "kind": "ssr", "lat_deg": 53.2, "lon_deg": 10.0, "alt_m": 100, "scan_period_s": 4},
    {"id": "X-SSR-SW", "kind": "ssr", "lat_deg": 49.9, "lon_deg": 7.3, "alt_m": 400, "scan_period_s": 5},
    {"id": "X-SSR-SE", "kind": "ssr", "lat_deg": 49.9, "lon_deg": 12.7, "alt_m": 500, "scan_period_s": 4},
    {"id": "X-ADSB-NW", "kind": "adsb", "lat_deg": 52.5, "lon_deg": 7.9, "alt_m": 50, "nacp": 8},
    {"id": "X-ADSB-NE", "kind": "adsb", "lat_deg": 52.5, "lon_deg": 12.1, "alt_m": 60, "nacp": 9},
    {"id": "X-ADSB-S", "kind": "adsb", "lat_deg": 48.9, "lon_deg": 10.0, "alt_m": 500, "nacp": 8},
    {"id": "X-PSR-W", "kind": "psr", "lat_deg": 51.0, "lon_deg": 6.5, "alt_m": 100, "scan_period_s": 6},
    {"id": "X-PSR-E", "kind": "psr", "lat_deg": 51.0, "lon_deg": 13.5, "alt_m": 300, "scan_period_s": 6},
    {"id": "X-PSR-C", "kind": "psr", "lat_deg": 51.6, "lon_deg": 10.3, "alt_m": 300, "scan_period_s": 6},
]
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "ssr": {"sigma_range_m": 30, "sigma_azimuth_deg": 0.06, "pd": 0.97, "max_range_m": 250_000},
    "adsb": {"pd": 0.95, "max_range_m": 250_000},
    "psr": {
        "sigma_range_m": 60,
        "sigma_azimuth_deg": 0.12,
        "pd": 0.85,
        "max_range_m": 200_000,
        "clutter_density_per_km2": 0.0001,
    },
}


def scenario_document(aircraft: int, duration_s: float) -> dict[str, Any]:
    """national5k with `aircraft` random aircraft, `duration_s` seconds, 20 sensors and no events."""
    doc = copy.deepcopy(tomllib.loads(BASE_SCENARIO.read_text(encoding="utf-8")))
    doc["scenario"]["name"] = f"speed{aircraft}"
    doc["scenario"]["duration_s"] = int(duration_s)
    doc["traffic"]["count"] = aircraft
    doc.pop("events", None)
    extras = [{**KIND_DEFAULTS[s["kind"]], **s} for s in EXTRA_SENSORS]
    doc["partners"].append({"id": "extra", "name": "Benchmark extra sensors", "sensors": extras})
    return doc


@dataclass
class SizeResult:
    """Numbers of one traffic size."""

    aircraft: int
    sensors: int
    simulated_s: float
    plots: int
    wall_s: float
    step_s: list[float]
    live_tracks_end: int
    confirmed_end: int
    track_bytes_per_track: float
    tracemalloc_peak_bytes: int
    tracemalloc_tracks: int
    resident_growth_bytes: int
    resident_tracks: int

    @property
    def plots_per_s(self) -> float:
        """Plots tracked per second of wall time (step + picture)."""
        return self.plots / self.wall_s

    @property
    def realtime_factor(self) -> float:
        """Simulated seconds per wall second."""
        return self.simulated_s / self.wall_s

    @property
    def peak_per_track(self) -> float:
        """tracemalloc peak during the memory pass per live track."""
        return self.tracemalloc_peak_bytes / max(self.tracemalloc_tracks, 1)

    @property
    def resident_per_track(self) -> float:
        """Peak resident growth during the timing pass per live track."""
        return self.resident_growth_bytes / max(self.resident_tracks, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (step latencies summarised)."""
        steps = np.array(self.step_s)
        return {
            "aircraft": self.aircraft,
            "sensors": self.sensors,
            "simulated_s": self.simulated_s,
            "plots": self.plots,
            "wall_s": self.wall_s,
            "plots_per_s": self.plots_per_s,
            "realtime_factor": self.realtime_factor,
            "step_p50_ms": float(np.percentile(steps, 50) * 1e3),
            "step_p99_ms": float(np.percentile(steps, 99) * 1e3),
            "step_max_ms": float(steps.max() * 1e3),
            "batches": len(steps),
            "live_tracks_end": self.live_tracks_end,
            "confirmed_tracks_end": self.confirmed_end,
            "track_arrays_bytes_per_track": self.track_bytes_per_track,
            "tracemalloc_peak_bytes": self.tracemalloc_peak_bytes,
            "tracemalloc_live_tracks": self.tracemalloc_tracks,
            "tracemalloc_peak_bytes_per_track": self.peak_per_track,
            "resident_growth_bytes": self.resident_growth_bytes,
            "resident_live_tracks": self.resident_tracks,
            "resident_growth_bytes_per_track": self.resident_per_track,
        }


def resident_bytes() -> int:
    """The process's resident set size (VmRSS on Linux; 0 where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)


@dataclass
class TimingPass:
    """What a timing pass measured: wall time, per-step seconds, the final state and resident growth."""

    wall_s: float
    step_s: list[float]
    state: TrackerState
    resident_growth_bytes: int
    """Peak resident set after a step, less the resident set before the pass."""
    resident_tracks: int
    """Live tracks after the step of that peak."""


WARM_UP_PLOTS = 500
"""Plots the resident pass compiles the kernels on."""


def resident_pass(sensors: list[SensorSpec], plots: Plots) -> tuple[int, int]:
    """(peak resident growth, live tracks at the peak) of the timing loop in a fresh, spawned process."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_resident_child, sensors, plots).result()


def _resident_child(sensors: list[SensorSpec], plots: Plots) -> tuple[int, int]:
    """In the spawned process: compile the kernels on a few plots (few tracks, little memory to reuse later), then
    one timing pass; its resident growth."""
    warm_up(sensors, plots.take(np.arange(min(len(plots), WARM_UP_PLOTS))))
    timing = track_commonsky(sensors, plots)
    return timing.resident_growth_bytes, timing.resident_tracks


def track_commonsky(sensors: list[SensorSpec], plots: Plots, config: TrackerConfig | None = None) -> TimingPass:
    """Timing pass: step + picture per 1 s batch, timed; the resident set sampled after each step (not timed)."""
    batches, ends = second_batches(plots)
    state = new_state(sensors, config)
    steps: list[float] = []
    wall = 0.0
    gc.collect()
    base = resident_bytes()
    growth, tracks_at_peak = 0, 0
    for batch, end in zip(batches, ends, strict=True):
        t0 = time.perf_counter()
        state, _ = step(state, batch)
        t1 = time.perf_counter()
        picture(state, end)
        t2 = time.perf_counter()
        steps.append(t1 - t0)
        wall += t2 - t0
        rss = resident_bytes() - base
        if rss > growth:
            growth, tracks_at_peak = rss, len(state.tracks)
    return TimingPass(wall, steps, state, growth, tracks_at_peak)


def memory_pass(sensors: list[SensorSpec], plots: Plots) -> tuple[int, int, float]:
    """(tracemalloc peak bytes, most live tracks at any step, track-array bytes per live track at the end).

    The plots are allocated before tracing starts, so the peak counts the tracker's state and its
    per-step temporaries (and each picture, dropped right after), not the input.
    """
    batches, ends = second_batches(plots)
    state = new_state(sensors)
    gc.collect()
    tracemalloc.start()
    max_tracks = 0
    try:
        for batch, end in zip(batches, ends, strict=True):
            state, _ = step(state, batch)
            picture(state, end)
            max_tracks = max(max_tracks, len(state.tracks))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = len(state.tracks)
    return peak, max_tracks, state.tracks.nbytes() / max(n, 1)


def warm_up(sensors: list[SensorSpec], plots: Plots, config: TrackerConfig | None = None) -> None:
    """Run the tracker over a few seconds so that JIT compilation is done before timing."""
    t_end = float(plots.time_s.min()) + 10.0
    track_commonsky(sensors, plots.take(plots.time_s < t_end), config)


def run(options: BenchOptions) -> dict[str, Any]:
    """All sizes, then Stone Soup on the smallest; print the tables and write the JSON result."""
    console = options.console
    sizes = QUICK_SIZES if options.quick else FULL_SIZES
    results: list[SizeResult] = []
    first_sim: Any = None
    for aircraft, duration in sizes:
        scenario = parse_scenario(scenario_document(aircraft, duration), source=f"{BASE_SCENARIO.name} ({aircraft})")
        sim = _simulate(options, scenario, f"simulate {aircraft:,} aircraft")
        if first_sim is None:
            first_sim = sim
            warm_up(sim.sensors, sim.plots)
        console.print(f"{aircraft:,} aircraft, {len(sim.sensors)} sensors, {duration:.0f} s: {len(sim.plots):,} plots")
        timing = track_commonsky(sim.sensors, sim.plots)
        state = timing.state
        mem_plots, _ = slice_run(sim.plots, sim.truth, scenario.start_time_s, MEMORY_SLICE_S)
        peak, peak_tracks, bytes_per_track = memory_pass(sim.sensors, mem_plots)
        resident_growth, resident_tracks = resident_pass(sim.sensors, sim.plots)
        results.append(
            SizeResult(
                aircraft=aircraft,
                sensors=len(sim.sensors),
                simulated_s=float(duration),
                plots=len(sim.plots),
                wall_s=timing.wall_s,
                step_s=timing.step_s,
                live_tracks_end=len(state.tracks),
                confirmed_end=int(np.count_nonzero(state.tracks.status == 1)),
                track_bytes_per_track=bytes_per_track,
                tracemalloc_peak_bytes=peak,
                tracemalloc_tracks=peak_tracks,
                resident_growth_bytes=resident_growth,
                resident_tracks=resident_tracks,
            )
        )
        del sim, state, timing
        gc.collect()

    _print_commonsky_table(options, results)
    stonesoup = _stonesoup_comparison(options, first_sim)
    payload = {
        "scenario": {
            "base": str(BASE_SCENARIO.relative_to(REPO_ROOT)),
            "extra_sensors": [s["id"] for s in EXTRA_SENSORS],
            "sizes": [{"aircraft": a, "duration_s": d} for a, d in sizes],
            "seed": first_sim.seed,
        },
        "targets": {
            "plots_per_s_at_1000": TARGET_PLOTS_PER_S_1K,
            "realtime_factor_at_10000": TARGET_REALTIME_10K,
            "bytes_per_live_track": TARGET_BYTES_PER_TRACK,
        },
        "commonsky": [r.as_dict() for r in results],
        "stonesoup": stonesoup,
    }
    path = write_result(options, NAME, payload)
    console.print(f"Result: {path}")
    return payload


def _simulate(options: BenchOptions, scenario: Scenario, label: str) -> SimulationOutput:
    """Simulate with a progress bar."""
    with progress_bar(options.console) as bar:
        task = bar.add_task(label, total=1.0)

        def report(fraction: float) -> None:
            bar.update(task, completed=fraction)

        return simulate(scenario, progress=report)


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def _print_commonsky_table(options: BenchOptions, results: list[SizeResult]) -> None:
    table = Table(title="commonsky tracker speed (1 s batches; wall = step + picture)")
    table.add_column("Aircraft")
    for r in results:
        table.add_column(fmt(r.aircraft), justify="right")
    table.add_column("Target")
    rows = [r.as_dict() for r in results]

    def add(label: str, cells: list[str], target: str = "") -> None:
        table.add_row(label, *cells, target)

    add("Sensors", [fmt(d["sensors"]) for d in rows])
    add("Simulated seconds", [fmt(d["simulated_s"], 0) for d in rows])
    add("Plots", [fmt(d["plots"]) for d in rows])
    add("Wall seconds", [fmt(d["wall_s"], 2) for d in rows])
    add("Plots per second", [fmt(d["plots_per_s"], 0) for d in rows], "≥ 100,000 at 1,000")
    add("Real-time factor", [fmt(d["realtime_factor"], 1) for d in rows], "≥ 5 at 10,000")
    add("step p50 (ms)", [fmt(d["step_p50_ms"], 1) for d in rows])
    add("step p99 (ms)", [fmt(d["step_p99_ms"], 1) for d in rows])
    add("step max (ms)", [fmt(d["step_max_ms"], 1) for d in rows])
    add("Live tracks at end", [fmt(d["live_tracks_end"]) for d in rows])
    add("  of which confirmed", [fmt(d["confirmed_tracks_end"]) for d in rows])
    add("Track arrays per track", [fmt_bytes(d["track_arrays_bytes_per_track"]) for d in rows], "≤ 4 KiB")
    add("tracemalloc peak per track", [fmt_bytes(d["tracemalloc_peak_bytes_per_track"]) for d in rows], "≤ 4 KiB")
    add("Resident growth per track", [fmt_bytes(d["resident_growth_bytes_per_track"]) for d in rows])
    options.console.print(table)
    by_size = {r.aircraft: r for r in results}
    lines = []
    if 1_000 in by_size:
        v = by_size[1_000].plots_per_s
        lines.append(f"plots/s at 1,000 aircraft: {v:,.0f} (target ≥ {TARGET_PLOTS_PER_S_1K:,.0f}) {_mark(v >= 1e5)}")
    if 10_000 in by_size:
        v = by_size[10_000].realtime_factor
        ok = v >= TARGET_REALTIME_10K and by_size[10_000].sensors >= 20
        lines.append(
            f"real-time factor at 10,000 aircraft, {by_size[10_000].sensors} sensors: {v:,.1f}x "
            f"(target ≥ {TARGET_REALTIME_10K:.0f}x with ≥ 20 sensors) {_mark(ok)}"
        )
    else:
        lines.append("10,000 aircraft: skipped (--quick)")
    worst = max(max(r.track_bytes_per_track, r.peak_per_track) for r in results)
    lines.append(
        f"memory per live track, worst of track arrays and tracemalloc peak: {fmt_bytes(worst)} "
        f"(target ≤ {fmt_bytes(TARGET_BYTES_PER_TRACK)}) {_mark(worst <= TARGET_BYTES_PER_TRACK)}"
    )
    for line in lines:
        options.console.print("  " + line)
    options.console.print(
        f"  (Peak/track: tracemalloc peak over the first {MEMORY_SLICE_S:.0f} s, state plus per-step temporaries,"
        " divided by the live tracks.)"
    )


def _stonesoup_comparison(options: BenchOptions, sim: Any) -> dict[str, Any]:
    """Stone Soup and commonsky on the same slice of the 100-aircraft scenario."""
    console = options.console
    slice_s = STONESOUP_SLICE_S[options.quick]
    budget = STONESOUP_BUDGET_S[options.quick]
    plots, _ = slice_run(sim.plots, sim.truth, sim.scenario.start_time_s, slice_s)
    try:
        from benchmarks.stonesoup_tracker import StoneSoupReference
    except ImportError as exc:
        console.print(f"[yellow]Stone Soup not available ({exc}); install it: pip install -e '.[bench]'[/]")
        return {"skipped": str(exc)}
    reference = StoneSoupReference(sim.sensors)
    with progress_bar(console) as bar:
        task = bar.add_task(f"Stone Soup, {slice_s:.0f} s of 100 aircraft", total=1.0)
        t0 = time.perf_counter()
        prepared = reference.prepare(plots)
        outcome = reference.run(
            prepared, progress=lambda f: bar.update(task, completed=f), max_wall_s=budget - (time.perf_counter() - t0)
        )
        ss_wall = time.perf_counter() - t0
    # Both rates count the same input plots: those up to the last step Stone Soup got through
    # (its input stage drops repeated ADS-B broadcasts, as commonsky's `step` does internally).
    done = plots.take(plots.time_s <= outcome.last_time_s)
    ss_plots = len(done)
    ss_rate = ss_plots / ss_wall
    cs_wall = track_commonsky(sim.sensors, done).wall_s
    cs_rate = len(done) / cs_wall
    table = Table(title=f"Stone Soup vs commonsky on the same plots (100 aircraft, {len(sim.sensors)} sensors)")
    for col in ("Tracker", "Simulated s", "Plots", "Wall s", "Plots/s", "RT factor"):
        table.add_column(col, justify="right" if col != "Tracker" else "left")
    sim_s = outcome.last_time_s - float(plots.time_s.min()) if ss_plots else 0.0
    table.add_row("Stone Soup", fmt(sim_s, 1), fmt(ss_plots), fmt(ss_wall, 1), fmt(ss_rate, 0), fmt(sim_s / ss_wall, 2))
    table.add_row("commonsky", fmt(sim_s, 1), fmt(len(done)), fmt(cs_wall, 3), fmt(cs_rate, 0), fmt(sim_s / cs_wall, 1))
    console.print(table)
    note = "" if outcome.finished else f" (stopped at the {budget:.0f} s budget)"
    console.print(f"  commonsky / Stone Soup plots/s: [bold]{cs_rate / ss_rate:,.0f}x[/]{note}")
    console.print(f"Reproduce: [bold]{reproduce_command(NAME, options.quick)}[/]")
    return {
        "aircraft": 100,
        "slice_s": slice_s,
        "budget_s": budget,
        "finished": outcome.finished,
        "simulated_s": sim_s,
        "plots": ss_plots,
        "detections": outcome.plots_done,
        "wall_s": ss_wall,
        "plots_per_s": ss_rate,
        "commonsky_plots": len(done),
        "commonsky_wall_s": cs_wall,
        "commonsky_plots_per_s": cs_rate,
        "ratio": cs_rate / ss_rate,
    }
