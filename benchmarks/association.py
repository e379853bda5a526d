"""Association: JPDA against GNN on dense traffic in clutter, and JPDA's speed at national scale.

1. Dense: `scenarios/tracker_accuracy.toml` squeezed into a 40 km radius with 120 aircraft, none with
   a Mode S address (primary-only or Mode A/C, so every plot goes through the associator: crossing
   and parallel aircraft come by the dozen), and each primary radar's clutter density times four.
   Both associators track the same plots (`--associator gnn|jpda`); `commonsky.metrics.evaluate`
   scores them the same way (GOSPA c = 5 km, p = 2, every second), with identity switches and breaks.
2. Speed: the `tracker_speed` scenario with 1,000 aircraft and 20 sensors, tracked by each
   associator in 1 s batches (step + picture, as a live node does; JIT warmed up first).

The issue's target is JPDA at 20,000 plots/s or more at 1,000 aircraft. Numbers depend on the machine.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import numpy as np
from rich.table import Table

from benchmarks.common import (
    SCENARIO_DIR,
    BenchOptions,
    fmt,
    progress_bar,
    reproduce_command,
    slice_run,
    timed,
    write_result,
)
from benchmarks.tracker_accuracy import ROWS as ACCURACY_ROWS
from benchmarks.tracker_speed import scenario_document, track_commonsky, warm_up
from commonsky.metrics import evaluate
from commonsky.sim import parse_scenario, simulate
from commonsky.tracking import TrackerConfig
from commonsky.tracking import run as track

NAME = "association"
BASE = SCENARIO_DIR / "tracker_accuracy.toml"
ASSOCIATORS = ("gnn", "jpda")
DENSE_AIRCRAFT = 120
DENSE_RADIUS_KM = 40.0
CLUTTER_FACTOR = 4.0
SPEED_AIRCRAFT = 1_000
SPEED_SECONDS = (120.0, 40.0)
"""Simulated seconds of the speed run: full, --quick."""
JPDA_TARGET_PLOTS_PER_S = 20_000
ROWS = [row for row in ACCURACY_ROWS if row[0] not in ("rmse_velocity_mps", "tracks")]
"""The accuracy benchmark's table rows (summary key, label, digits), less velocity and track count."""


def dense_document() -> dict[str, Any]:
    """The accuracy scenario made dense: a smaller area, more aircraft without addresses, four times the clutter."""
    doc = copy.deepcopy(tomllib.loads(BASE.read_text(encoding="utf-8")))
    doc["scenario"]["name"] = "association_dense"
    doc["region"]["radius_km"] = DENSE_RADIUS_KM
    doc["traffic"]["count"] = DENSE_AIRCRAFT
    doc["traffic"]["equipage"] = {"adsb": 0.0, "mode_s": 0.0, "mode_ac": 0.5, "none": 0.5}
    for partner in doc["partners"]:
        partner["sensors"] = [s for s in partner["sensors"] if s["kind"] != "adsb"]
        for sensor in partner["sensors"]:
            if "clutter_density_per_km2" in sensor:
                sensor["clutter_density_per_km2"] *= CLUTTER_FACTOR
    return doc


def run(options: BenchOptions) -> dict[str, Any]:
    """Dense accuracy for both associators, then speed at 1,000 aircraft; print and write the JSON result."""
    console = options.console
    scenario = parse_scenario(dense_document(), source=str(BASE))
    sim = simulate(scenario)
    plots, truth = slice_run(sim.plots, sim.truth, scenario.start_time_s, scenario.duration_s)
    clutter = int(np.count_nonzero(plots.truth_id < 0))
    console.print(
        f"[bold]{NAME}[/]: dense scenario (seed {sim.seed}), {DENSE_AIRCRAFT} aircraft without Mode S in "
        f"{DENSE_RADIUS_KM:.0f} km, clutter x{CLUTTER_FACTOR:.0f}, {scenario.duration_s:.0f} s, "
        f"{len(plots):,} plots ({clutter:,} clutter)"
    )
    dense: dict[str, dict[str, Any]] = {}
    for name in ASSOCIATORS:
        config = TrackerConfig(associator=name)
        track(sim.sensors, plots.take(plots.time_s < plots.time_s.min() + 5.0), config)  # JIT warm-up
        (tracks, _), wall = timed(lambda config=config: track(sim.sensors, plots, config))
        summary = evaluate(truth, tracks, cutoff_m=5000.0, max_age_s=10.0, pictures=True).summary
        dense[name] = {"summary": summary, "wall_s": wall, "plots_per_s": len(plots) / wall}
    speed = _speed(options)
    _print(options, dense, speed)
    payload = {
        "dense": {
            "aircraft": DENSE_AIRCRAFT,
            "radius_km": DENSE_RADIUS_KM,
            "clutter_factor": CLUTTER_FACTOR,
            "plots": len(plots),
            "clutter_plots": clutter,
            **dense,
        },
        "speed": speed,
        "jpda_target_plots_per_s": JPDA_TARGET_PLOTS_PER_S,
    }
    path = write_result(options, NAME, payload)
    console.print(f"Result: {path}")
    return payload


def _speed(options: BenchOptions) -> dict[str, Any]:
    """Plots per second of each associator on the 1,000-aircraft national scenario."""
    seconds = SPEED_SECONDS[options.quick]
    scenario = parse_scenario(scenario_document(SPEED_AIRCRAFT, seconds), source="tracker_speed")
    with progress_bar(options.console) as bar:
        task = bar.add_task(f"simulating {SPEED_AIRCRAFT:,} aircraft", total=None)
        sim = simulate(scenario)
        bar.update(task, completed=1, total=1)
    out: dict[str, Any] = {"aircraft": SPEED_AIRCRAFT, "simulated_s": seconds, "plots": len(sim.plots)}
    for name in ASSOCIATORS:
        config = TrackerConfig(associator=name)
        warm_up(sim.sensors, sim.plots, config)
        timing = track_commonsky(sim.sensors, sim.plots, config)
        wall, steps = timing.wall_s, timing.step_s
        out[name] = {
            "wall_s": wall,
            "plots_per_s": len(sim.plots) / wall,
            "step_p99_ms": float(np.percentile(steps, 99) * 1e3),
        }
    return out


def _print(options: BenchOptions, dense: dict[str, dict[str, Any]], speed: dict[str, Any]) -> None:
    table = Table(title="Association: GNN vs JPDA on dense traffic in clutter (same plots, same evaluation)")
    table.add_column("Metric")
    for name in ASSOCIATORS:
        table.add_column(name.upper(), justify="right")
    for key, label, digits in ROWS:
        table.add_row(label, *(fmt(dense[n]["summary"].get(key), digits) for n in ASSOCIATORS))
    table.add_section()
    table.add_row("Plots per second (dense)", *(fmt(dense[n]["plots_per_s"], 0) for n in ASSOCIATORS))
    table.add_row(
        f"Plots per second ({SPEED_AIRCRAFT:,} aircraft, 20 sensors)",
        *(fmt(speed[n]["plots_per_s"], 0) for n in ASSOCIATORS),
    )
    table.add_row("Step p99 (ms)", *(fmt(speed[n]["step_p99_ms"], 1) for n in ASSOCIATORS))
    options.console.print(table)
    met = speed["jpda"]["plots_per_s"] >= JPDA_TARGET_PLOTS_PER_S
    verdict = "[green]met[/]" if met else "[red]not met[/]"
    options.console.print(
        f"JPDA at {SPEED_AIRCRAFT:,} aircraft: target ≥ {JPDA_TARGET_PLOTS_PER_S:,} plots/s: {verdict}"
    )
    options.console.print(f"Reproduce: [bold]{reproduce_command(NAME, options.quick)}[/]")
