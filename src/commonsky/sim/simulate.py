"""The simulation run: traffic, vessels, truth, every sensor's plots and the event list, deterministic for a seed.

Random streams are derived from the seed with `SeedSequence` spawn keys: (0,) for traffic, (2,) for
vessels and (1, CRC-32 of the sensor id) for each sensor, so adding, removing or reordering sensors
never changes the traffic or the other sensors' plots, and a river's vessels never move an aircraft.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Plots, Truth
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE, SensorKind, SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.formats.contracts import write_plots, write_sensors, write_truth
from commonsky.sim.events import EventEffects, World, event_records
from commonsky.sim.scenario import Scenario, SensorConfig
from commonsky.sim.sensors import adsb_plots, ais_plots, radar_plots
from commonsky.sim.traffic import Targets, Trajectories, generate_traffic
from commonsky.sim.vessels import Vessels, generate_vessels

SensorModel = Callable[[SensorConfig, World, np.random.SeedSequence], Plots]
MODELS: dict[SensorKind, SensorModel] = {SensorKind.ADSB: adsb_plots, SensorKind.AIS: ais_plots}
"""The sensor model of each kind that is not a rotating radar (`radar_plots`)."""

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
    vessels: list[dict[str, Any]] = field(default_factory=list)
    """Every vessel (`vessel_records`): what truth.csv cannot carry, its name, ship type, length and AIS class."""


def traffic_seeds(seed: int) -> np.random.SeedSequence:
    """The seed sequence of the traffic (trajectories and identities)."""
    return np.random.SeedSequence(seed, spawn_key=(0,))


def sensor_seeds(seed: int, sensor_id: str) -> np.random.SeedSequence:
    """The seed sequence of one sensor, keyed by its id rather than its position in the file."""
    return np.random.SeedSequence(seed, spawn_key=(1, zlib.crc32(sensor_id.encode("utf-8"))))


def vessel_seeds(seed: int) -> np.random.SeedSequence:
    """The seed sequence of the vessels (identities, random vessel traffic, loitering)."""
    return np.random.SeedSequence(seed, spawn_key=(2,))


def build_truth(world: World) -> Truth:
    """One row per live target per whole second, in time then target-id order (aircraft, then vessels)."""
    scenario, targets, trajectories, effects = world.scenario, world.targets, world.trajectories, world.effects
    vessels = world.vessels
    k = np.arange(scenario.steps + 1)[:, None]
    steps, index = np.nonzero((k >= trajectories.first_step) & (k <= trajectories.last_step))
    air = index < len(targets)
    squawk = np.full(len(index), -1, dtype=np.int16)
    squawk[air] = effects.squawk(targets, index[air], steps[air].astype(np.float64))
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
        mode_s=np.concatenate([targets.mode_s, np.full(len(vessels), -1, dtype=np.int32)])[index],
        squawk=squawk,
        callsign=np.concatenate([targets.callsign, vessels.callsign])[index],
        domain=np.where(air, DOMAIN_AIR, DOMAIN_SURFACE),
        mmsi=np.concatenate([np.full(len(targets), -1, dtype=np.int32), vessels.mmsi])[index],
    )


def vessel_records(world: World) -> list[dict[str, Any]]:
    """Every vessel as a JSON-serialisable dict: target id, name, MMSI (None without AIS), call sign, ship type,
    length (None when unknown), AIS class ("A", "B" or None) and behaviour."""
    v = world.vessels
    return [
        {
            "target_id": int(v.first_index + i + 1),
            "name": str(v.name[i]),
            "mmsi": int(v.mmsi[i]) if v.mmsi[i] >= 0 else None,
            "callsign": str(v.callsign[i]) or None,
            "ship_type": int(v.ship_type[i]),
            "length_m": float(v.length_m[i]) or None,
            "ais": str(v.ais_class[i]) or None,
            "behaviour": v.behaviour[i],
        }
        for i in range(len(v))
    ]


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    traffic: tuple[Targets, Trajectories] | None = None,
) -> SimulationOutput:
    """Run the scenario: same scenario and seed, same output (seed None: the scenario's own seed).

    `progress`, if given, is called with the fraction done in [0, 1] after each stage. `traffic`
    replaces the scenario's random traffic (e.g. real flights: `sim.recorded.recorded_traffic`); with
    vessels it must hold as many aircraft as the scenario, whose vessel ids follow them.
    """
    run_seed = scenario.seed if seed is None else seed

    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    report(0.0)
    targets, trajectories = traffic or generate_traffic(scenario, traffic_seeds(run_seed))
    vessels, waterway = Vessels.none(len(targets), scenario.steps), None
    if scenario.river is not None:
        if len(targets) != scenario.aircraft_count:
            raise ValueError(
                f"{len(targets)} aircraft replace the scenario's {scenario.aircraft_count}: its vessel ids would move"
            )
        waterway = Waterway.load(scenario.river.waterway)
        vessels, tracks = generate_vessels(scenario, scenario.river, waterway, vessel_seeds(run_seed), len(targets))
        trajectories = Trajectories.stacked([trajectories, tracks])
    world = World(scenario, targets, trajectories, EventEffects(scenario), vessels, waterway)
    truth = build_truth(world)
    report(TRAFFIC_SHARE)
    parts: list[Plots] = []
    sensors = scenario.sensors
    for i, sensor in enumerate(sensors):
        model = MODELS.get(sensor.spec.kind, radar_plots)
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
        vessels=vessel_records(world),
    )


def write_outputs(out: SimulationOutput, directory: str | Path) -> None:
    """Write sensors.json, plots.csv (with truth_id), truth.csv, events.json and sensor_errors.json, and
    vessels.json when the scenario has vessels."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    write_sensors(out.sensors, d / "sensors.json")
    write_plots(out.plots, d / "plots.csv", with_truth=True)
    write_truth(out.truth, d / "truth.csv")
    (d / "events.json").write_text(json.dumps(out.events, indent=2) + "\n")
    (d / "sensor_errors.json").write_text(json.dumps(out.sensor_errors, indent=2) + "\n")
    if out.vessels:
        (d / "vessels.json").write_text(json.dumps(out.vessels, indent=2) + "\n")
