"""Scenario simulator: TOML scenario -> traffic truth, sensor plots and events, deterministic for a seed.

`load_scenario` validates a scenario file, `simulate` runs it and `write_outputs` writes the file
contracts (sensors.json, plots.csv, truth.csv) plus events.json and sensor_errors.json.
"""

from commonsky.sim.scenario import Scenario
from commonsky.sim.scenario_file import load_scenario, parse_scenario
from commonsky.sim.simulate import SimulationOutput, simulate, write_outputs
from commonsky.sim.traffic import Trajectories

__all__ = [
    "Scenario",
    "SimulationOutput",
    "Trajectories",
    "load_scenario",
    "parse_scenario",
    "simulate",
    "write_outputs",
]
