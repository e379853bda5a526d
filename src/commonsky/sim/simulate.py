"""The simulation run: traffic, truth, every sensor's plots and the event list, deterministic for a seed.

Random streams are derived from the seed with `SeedSequence` spawn keys: (0,) for traffic and
(1, CRC-32 of the sensor id) for each sensor, so adding, removing or reordering sensors never
changes the traffic or the other sensors' plots.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Plots, Truth
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.formats.contracts import write_plots, write_sensors, write_truth
from commonsky.sim.events import EventEffects, World, event_records
from commonsky.sim.scenario import Scenario
from commonsky.sim.sensors import adsb_plots, radar_plots
from commonsky.sim.traffic import Targets, Trajectories, generate_traffic

TRAFFIC_SHARE = 0.4
"""Fraction of the progress bar given to traffic and truth; sensors share the rest."""


@dataclass(frozen=True, eq=False)
class SimulationOutput:
    """Everything one run produces; `truth`, `sensor_errors` and plots' `truth_id` are the answer key."""

    scenario: Scenario
    seed: int
    sensors: list[SensorSpec]
    plots: Plots
    """All sensors' plots, stably sorted by reported time."""
    truth: Truth
    """Every live target at every whole second."""
    events: list[dict[str, Any]]
    sensor_errors: dict[str, dict[str, float]]
    """Injected systematic errors per sensor id: range_bias_m, azimuth_bias_deg, time_offset_s."""


def traffic_seeds(seed: int) -> np.random.SeedSequence:
    """The seed sequence of the traffic (trajectories and identities)."""
    return np.random.SeedSequence(seed, spawn_key=(0,))


def sensor_seeds(seed: int, sensor_id: str) -> np.random.SeedSequence:
    """The seed sequence of one sensor, keyed by its id rather than its position in the file."""
    return np.random.SeedSequence(seed, spawn_key=(1, zlib.crc32(sensor_id.encode("utf-8"))))


def build_truth(world: World) -> Truth:
    """One row per live target per whole second, in time then target-id order."""
    scenario, targets, trajectories, effects = world.scenario, world.targets, world.trajectories, world.effects
    k = np.arange(scenario.steps + 1)[:, None]
    steps, index = np.nonzero((k >= trajectories.first_step) & (k <= trajectories.last_step))
    return Truth.build(
        len(steps),
        time_s=scenario.start_time_s + steps.astype(np.float64),
        target_id=index + 1,
        lat_deg=np.degrees(trajectories.lat_rad[steps, index]),
        lon_deg=np.degrees(trajectories.lon_rad[steps, index]),
        alt_m=trajectories.alt_m[steps, index],
        v_east_mps=trajectories.v_east_mps[steps, index],
        v_north_mps=trajectories.v_north_mps[steps, index],
        v_up_mps=trajectories.v_up_mps[steps, index],
        mode_s=targets.mode_s[index],
        squawk=effects.squawk(targets, index, steps.astype(np.float64)),
        callsign=targets.callsign[index],
    )


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    traffic: tuple[Targets, Trajectories] | None = None,
) -> SimulationOutput:
    """Run the scenario: same scenario and seed, same output (seed None: the scenario's own seed).

    `progress`, if given, is called with the fraction done in [0, 1] after each stage. `traffic`
    replaces the scenario's random traffic (e.g. real flights: `sim.recorded.recorded_traffic`).
    """
    run_seed = scenario.seed if seed is None else seed

    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    report(0.0)
    targets, trajectories = traffic or generate_traffic(scenario, traffic_seeds(run_seed))
    world = World(scenario, targets, trajectories, EventEffects(scenario))
    truth = build_truth(world)
    report(TRAFFIC_SHARE)
    parts: list[Plots] = []
    sensors = scenario.sensors
    for i, sensor in enumerate(sensors):
        model = adsb_plots if sensor.spec.kind is SensorKind.ADSB else radar_plots
        parts.append(model(sensor, world, sensor_seeds(run_seed, sensor.spec.id)))
        report(TRAFFIC_SHARE + (1.0 - TRAFFIC_SHARE) * (i + 1) / len(sensors))
    return SimulationOutput(
        scenario=scenario,
        seed=run_seed,
        sensors=[s.spec for s in sensors],
        plots=Plots.concat(parts).sorted_by_time(),
        truth=truth,
        events=event_records(world),
        sensor_errors={s.spec.id: s.errors for s in sensors},
    )


def write_outputs(out: SimulationOutput, directory: str | Path) -> None:
    """Write sensors.json, plots.csv (with truth_id), truth.csv, events.json and sensor_errors.json."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_sensors(out.sensors, d / "sensors.json")
    write_plots(out.plots, d / "plots.csv", with_truth=True)
    write_truth(out.truth, d / "truth.csv")
    (d / "events.json").write_text(json.dumps(out.events, indent=2) + "\n")
    (d / "sensor_errors.json").write_text(json.dumps(out.sensor_errors, indent=2) + "\n")
