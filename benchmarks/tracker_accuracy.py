"""Tracker accuracy: commonsky's tracker against Stone Soup on the same simulated plots and truth.

Two scenarios, each simulated once with a fixed seed: `scenarios/tracker_accuracy.toml` (100 random
aircraft) and `scenarios/paris_recorded.toml` (real flights over Paris, `data/traffic_quickstart_paris_7min.json.gz`
through `commonsky.sim.recorded`, seen by simulated radars and an ADS-B station). commonsky
(`commonsky.tracking.run`) and a textbook Stone Soup EKF + GNN tracker (`stonesoup_tracker`) track
the same plots, and `commonsky.metrics.evaluate` scores both track files against the truth with the
same rule (GOSPA c = 5 km, p = 2, every whole second), split into localisation, missed and false.
Both trackers write a complete picture every second, so both are scored as pictures (`pictures=True`:
a track left out of a picture has ended); the ratio with each track's last row held up to 10 s, the
rule of the figures before 2026-12-07's second run, is printed and kept beside it.
The target is a commonsky GOSPA of at most 0.6 times Stone Soup's on each, with fewer track breaks.

Stone Soup tracks about a hundred plots per second on this machine (103-124 in `tracker_speed` on 2026-12-07),
so the scenarios are short (150 s and
300 s); `--quick` tracks only their first 60 s. Wall times include each tracker's input conversion and
its per-second picture, but not the simulation or the evaluation.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from benchmarks.common import (
    BENCH_DIR,
    SCENARIO_DIR,
    BenchOptions,
    fmt,
    progress_bar,
    reproduce_command,
    slice_run,
    timed,
    write_result,
)
from commonsky.core.batches import Plots, Tracks, Truth
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.metrics import evaluate
from commonsky.sim import load_scenario, simulate
from commonsky.sim.recorded import read_state_vectors, recorded_traffic
from commonsky.tracking import run as commonsky_run

NAME = "tracker_accuracy"
SCENARIO = SCENARIO_DIR / "tracker_accuracy.toml"
RECORDED = SCENARIO_DIR / "paris_recorded.toml"
RECORDED_FLIGHTS = BENCH_DIR / "data" / "traffic_quickstart_paris_7min.json.gz"
QUICK_DURATION_S = 60.0
"""Seconds of the scenario tracked with --quick."""
CUTOFF_M = 5000.0
"""GOSPA cut-off c."""
MAX_AGE_S = 10.0
"""A track row older than this no longer stands for its track in the evaluation."""
GOSPA_RATIO_TARGET = 0.6
"""Issue target: commonsky GOSPA / Stone Soup GOSPA at most this."""

ROWS: list[tuple[str, str, int]] = [
    ("gospa_mean", "GOSPA mean (m)", 1),
    ("gospa_localisation", "  localisation part (m², mean)", 0),
    ("gospa_missed", "  missed part (m², mean)", 0),
    ("gospa_false", "  false part (m², mean)", 0),
    ("rmse_position_m", "RMSE position, horizontal (m)", 1),
    ("rmse_velocity_mps", "RMSE velocity (m/s)", 2),
    ("completeness", "Completeness", 3),
    ("track_breaks", "Track breaks", 0),
    ("id_switches", "ID switches", 0),
    ("false_track_seconds", "False track seconds", 0),
    ("tracks", "Track ids evaluated", 0),
]
"""(summary key, label, digits) of the comparison table."""


def run(options: BenchOptions) -> dict[str, Any]:
    """Both scenarios: simulate, track with both trackers, evaluate, print the tables and write the JSON result."""
    payload = {
        "synthetic": _compare(options, SCENARIO, recorded=False),
        "recorded": _compare(options, RECORDED, recorded=True),
        "evaluation": {"cutoff_m": CUTOFF_M, "max_age_s": MAX_AGE_S, "pictures": True},
        "gospa_ratio_target": GOSPA_RATIO_TARGET,
    }
    path = write_result(options, NAME, payload)
    options.console.print(f"Result: {path}")
    return payload


def _compare(options: BenchOptions, path: Path, recorded: bool) -> dict[str, Any]:
    """One scenario: simulate it (with the recorded flights as traffic if asked), track it both ways, score."""
    console = options.console
    scenario = load_scenario(path)
    traffic = None
    if recorded:
        records = read_state_vectors(RECORDED_FLIGHTS)
        traffic = recorded_traffic(records, scenario, np.random.default_rng(scenario.seed))
    (sim, sim_s) = timed(lambda: simulate(scenario, traffic=traffic))
    duration = QUICK_DURATION_S if options.quick else scenario.duration_s
    plots, truth = slice_run(sim.plots, sim.truth, scenario.start_time_s, duration)
    clutter = int(np.count_nonzero(plots.truth_id < 0))
    kinds = {k.value: sum(s.kind is k for s in sim.sensors) for k in SensorKind}
    aircraft = len(np.unique(truth.target_id))
    console.print(
        f"[bold]{NAME}[/]: {path.relative_to(SCENARIO_DIR.parent.parent)} (seed {sim.seed}), "
        f"{aircraft} {'recorded' if recorded else 'random'} aircraft, {kinds['psr']} PSR + {kinds['ssr']} SSR + "
        f"{kinds['adsb']} ADS-B, {duration:.0f} s, {len(plots):,} plots ({clutter:,} clutter); "
        f"simulated in {sim_s:.1f} s"
    )
    results: dict[str, dict[str, Any]] = {}
    results["commonsky"] = _run_commonsky(sim.sensors, plots, truth, options)
    results["stonesoup"] = _run_stonesoup(sim.sensors, plots, truth, options)
    cs, ss = results["commonsky"], results["stonesoup"]
    ratio = held_ratio = None
    if ss.get("summary") and cs.get("summary"):
        ratio = cs["summary"]["gospa_mean"] / ss["summary"]["gospa_mean"]
        held_ratio = cs["summary"]["gospa_mean_rows_held"] / ss["summary"]["gospa_mean_rows_held"]
    _print_table(options, path.stem, cs, ss, ratio)
    if held_ratio is not None:
        console.print(f"With last rows held up to {MAX_AGE_S:.0f} s (the earlier rule): ratio {held_ratio:.3f}")
    return {
        "scenario": {
            "file": str(path.relative_to(SCENARIO_DIR.parent.parent)),
            "seed": sim.seed,
            "aircraft": aircraft,
            "recorded_traffic": str(RECORDED_FLIGHTS.relative_to(SCENARIO_DIR.parent.parent)) if recorded else None,
            "sensors": kinds,
            "duration_s": duration,
            "plots": len(plots),
            "clutter_plots": clutter,
        },
        "gospa_ratio": ratio,
        "gospa_ratio_rows_held": held_ratio,
        **results,
    }


def _score(truth: Truth, tracks: Tracks) -> dict[str, float | int | bool]:
    """The evaluation of a complete picture per second, plus the GOSPA mean with last rows held `MAX_AGE_S`."""
    summary: dict[str, float | int | bool] = dict(
        evaluate(truth, tracks, cutoff_m=CUTOFF_M, max_age_s=MAX_AGE_S, pictures=True).summary
    )
    held = evaluate(truth, tracks, cutoff_m=CUTOFF_M, max_age_s=MAX_AGE_S).summary
    summary["gospa_mean_rows_held"] = held["gospa_mean"]
    return summary


def _run_commonsky(sensors: list[SensorSpec], plots: Plots, truth: Truth, options: BenchOptions) -> dict[str, Any]:
    """commonsky's `run` over all plots: one step per second and the picture after each."""
    # Warm-up on the first seconds so that JIT compilation (numba) is not timed.
    commonsky_run(sensors, plots.take(plots.time_s < plots.time_s.min() + 5.0))
    with progress_bar(options.console) as bar:
        task = bar.add_task("commonsky", total=1.0)
        (tracks, _state), wall = timed(
            lambda: commonsky_run(sensors, plots, progress=lambda f: bar.update(task, completed=f))
        )
    return {"summary": _score(truth, tracks), "wall_s": wall, "plots": len(plots), "plots_per_s": len(plots) / wall}


def _run_stonesoup(sensors: list[SensorSpec], plots: Plots, truth: Truth, options: BenchOptions) -> dict[str, Any]:
    """The Stone Soup reference tracker over the same plots; skipped with a note if it is not installed."""
    try:
        from benchmarks.stonesoup_tracker import StoneSoupReference
    except ImportError as exc:
        options.console.print(f"[yellow]Stone Soup not available ({exc}); install it: pip install -e '.[bench]'[/]")
        return {"skipped": str(exc)}
    reference = StoneSoupReference(sensors)
    with progress_bar(options.console) as bar:
        task = bar.add_task("Stone Soup", total=1.0)

        def work() -> Any:
            prepared = reference.prepare(plots)
            return prepared, reference.run(prepared, progress=lambda f: bar.update(task, completed=f))

        (prepared, outcome), wall = timed(work)
    return {
        "summary": _score(truth, outcome.tracks),
        "wall_s": wall,
        "plots": prepared.n_plots,
        "plots_dropped": prepared.n_dropped,
        "plots_per_s": prepared.n_plots / wall,
        "config": asdict(reference.config),
    }


def _print_table(
    options: BenchOptions, label: str, cs: dict[str, Any], ss: dict[str, Any], ratio: float | None
) -> None:
    table = Table(title=f"Tracker accuracy, {label}: commonsky vs Stone Soup (same plots, same evaluation)")
    table.add_column("Metric")
    table.add_column("commonsky", justify="right")
    table.add_column("Stone Soup", justify="right")
    cs_sum: dict[str, Any] = cs.get("summary", {})
    ss_sum: dict[str, Any] = ss.get("summary", {})
    for key, label, digits in ROWS:
        table.add_row(label, fmt(cs_sum.get(key), digits), fmt(ss_sum.get(key), digits))
    table.add_section()
    table.add_row("Wall time (s)", fmt(cs.get("wall_s"), 2), fmt(ss.get("wall_s"), 1))
    table.add_row("Plots per second", fmt(cs.get("plots_per_s"), 0), fmt(ss.get("plots_per_s"), 0))
    options.console.print(table)
    if ratio is not None:
        verdict = "[green]met[/]" if ratio <= GOSPA_RATIO_TARGET else "[red]not met[/]"
        options.console.print(
            f"GOSPA ratio commonsky / Stone Soup: [bold]{ratio:.3f}[/] (target ≤ {GOSPA_RATIO_TARGET}: {verdict}); "
            f"track breaks: commonsky {cs_sum['track_breaks']} vs Stone Soup {ss_sum['track_breaks']}; "
            f"speed: commonsky {cs['plots_per_s'] / ss['plots_per_s']:,.0f}x Stone Soup"
        )
    options.console.print(f"Reproduce: [bold]{reproduce_command(NAME, options.quick)}[/]")
