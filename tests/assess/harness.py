"""Run a scenario's nodes on the in-process bus and assess one partner's picture each tick, as a node would.

Mirrors `commonsky.network.runner.run_scenario`, but also captures, per tick, what the assessing node
holds: its own plots of the second, its own local track reports and the partner reports it imported.
"""

from __future__ import annotations

import copy
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.assess import Assessment, AssessmentConfig, AssessmentState, Zones, assess, new_assessment_state
from commonsky.assess import load_zones as _load_zones
from commonsky.core.batches import TrackReports
from commonsky.network.node import Node
from commonsky.network.runner import node_configs
from commonsky.network.transport.base import subject
from commonsky.network.transport.inprocess import InProcessBus
from commonsky.sim import Scenario, SimulationOutput, parse_scenario, simulate
from commonsky.tracking import reports

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples"
BORDER3 = EXAMPLES / "border3.toml"
ZONES = EXAMPLES / "border3_zones.geojson"


def border3(**scenario: Any) -> dict[str, Any]:
    """The border3 document with its events removed and `[scenario]` keys overridden."""
    data = tomllib.loads(BORDER3.read_text())
    data["scenario"].update(scenario)
    data["events"] = []
    return copy.deepcopy(data)


def load_zones() -> Zones:
    """The border3 example zones."""
    return _load_zones(ZONES)


@dataclass
class Run:
    """One partner's assessments over a run, and what the simulator did."""

    simulation: SimulationOutput
    assessments: list[Assessment]
    state: AssessmentState
    events: list[dict[str, Any]] = field(default_factory=list)

    def raised(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Raised events (of one kind)."""
        return [e for e in self.events if e["event"] == "raised" and (kind is None or e["kind"] == kind)]

    def raised_per_kind(self) -> Counter[str]:
        """How many alerts of each kind were raised."""
        return Counter(e["kind"] for e in self.raised())


def run_assessed(
    data: dict[str, Any], partners: tuple[str, ...], config: AssessmentConfig | None = None, zones: Zones | None = None
) -> dict[str, Run]:
    """Simulate, run every node, and assess each of `partners`' fused pictures each second with all inputs."""
    data = {**data, "assess": {**data.get("assess", {}), "zones": str(ZONES)}}  # the nodes assess too
    scenario: Scenario = parse_scenario(data, "test scenario")
    simulation = simulate(scenario)
    configs = node_configs(scenario, simulation)
    outages = [
        (e["partner_a"], e["partner_b"], e["time_s"], e["end_time_s"])
        for e in simulation.events
        if e["kind"] == "link_outage"
    ]
    bus = InProcessBus(outages=outages)
    nodes = {c.partner: Node(c) for c in configs}
    for c in configs:
        for peer in c.peers:
            bus.subscribe(c.partner, subject(peer, "tracks", receiver=c.partner))
            bus.subscribe(c.partner, subject(peer, "heartbeat"))
    owner = {s.id: s.partner for s in simulation.sensors}
    plots = simulation.plots
    plot_owner = np.array([owner[s] for s in plots.sensor_id])
    state = new_assessment_state(config or AssessmentConfig(), zones or load_zones(), simulation.sensors)
    runs = {p: Run(simulation, [], state) for p in partners}
    edges = scenario.start_time_s + np.arange(scenario.steps + 1, dtype=np.float64)
    bounds = np.searchsorted(plots.time_s, edges)
    for k in range(scenario.steps):
        now = float(edges[k + 1])
        second = plots.take(np.arange(bounds[k], bounds[k + 1]))
        owners = plot_owner[bounds[k] : bounds[k + 1]]
        imported: dict[str, TrackReports] = {}
        for pid, node in nodes.items():
            node.receive_plots(second.take(owners == pid), now)
            for _, payload in bus.deliver(pid, now):
                node.receive_message(payload, now)
            imported[pid] = TrackReports.concat(node.inbox)
        for pid, node in nodes.items():
            result = node.tick(now)
            for peer, payload in result.outgoing.items():
                bus.publish(subject(pid, "tracks", receiver=peer), payload, now)
            bus.publish(subject(pid, "heartbeat"), result.heartbeat, now)
            if pid in runs:
                run = runs[pid]
                local = reports(node.tracker, pid, now)
                own_plots = second.take(owners == pid)
                run.state, out = assess(run.state, now, result.fused, own_plots, local, imported[pid])
                run.assessments.append(out)
                run.events.extend(out.events)
    return runs
