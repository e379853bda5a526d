"""All partners of a scenario in one process on the in-process bus: the embedded default (`commonsky run`).

Simulated time advances in one-second steps. In each step every node receives its own sensors'
plots of that second, then the partner messages the bus delivers by the end of the second, then
ticks: it exports, fuses and reports its local and fused pictures at the end of the second. Link
outages from the scenario hold messages on the bus until the link comes back, as a JetStream
durable consumer would. Everything is deterministic for a seed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from commonsky.core.batches import Tracks, Truth
from commonsky.core.geodesy import LocalFrame
from commonsky.formats import write_tracks, write_truth
from commonsky.fusion import SystemTracks
from commonsky.network.node import Node, NodeConfig, TickOutput
from commonsky.network.transport.base import subject
from commonsky.network.transport.inprocess import InProcessBus
from commonsky.sharing import SharingAgreement
from commonsky.sim import Scenario, SimulationOutput, simulate

STEP_S = 1.0


@dataclass(frozen=True)
class PartnerRun:
    """One partner's pictures over a run."""

    partner: str
    local: Tracks
    system: SystemTracks
    """The fused picture with each system track's make-up (sources, reporting responsibility)."""
    statuses: list[dict[str, str]]
    """Per second: peer -> "up" / "degraded" / "down"."""

    @property
    def fused(self) -> Tracks:
        """The fused picture in the tracks.csv contract."""
        return self.system.as_tracks()


@dataclass(frozen=True)
class ScenarioRun:
    """Everything `run_scenario` produced."""

    simulation: SimulationOutput
    partners: dict[str, PartnerRun]


def node_configs(scenario: Scenario, simulation: SimulationOutput) -> list[NodeConfig]:
    """One node configuration per partner of the scenario, with the scenario's sharing agreement."""
    agreement = SharingAgreement.from_dict({"sharing": list(scenario.sharing)}, source=scenario.source)
    frame = LocalFrame(scenario.region.lat_deg, scenario.region.lon_deg, 0.0)
    ids = [p.id for p in scenario.partners]
    return [
        NodeConfig.from_agreement(
            partner=pid,
            sensors=[s for s in simulation.sensors if s.partner == pid],
            peers=[q for q in ids if q != pid],
            frame=frame,
            agreement=agreement,
        )
        for pid in ids
    ]


def run_scenario(
    scenario: Scenario,
    out: Path | None = None,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> ScenarioRun:
    """Simulate the scenario and run every partner's node on the in-process bus.

    With `out`, writes `truth.csv` and per partner `<partner>/local_tracks.csv`,
    `<partner>/fused_tracks.csv` and the node's recording `<partner>/recording/` (a recording
    left there by an earlier run is replaced: the run regenerates it from the scenario).
    """
    simulation = simulate(scenario, seed=seed)
    configs = node_configs(scenario, simulation)
    outages = [
        (e["partner_a"], e["partner_b"], e["time_s"], e["end_time_s"])
        for e in simulation.events
        if e["kind"] == "link_outage"
    ]
    bus = InProcessBus(outages=outages)
    nodes: dict[str, Node] = {}
    for cfg in configs:
        recording = out / cfg.partner / "recording" if out else None
        if recording is not None and recording.exists():
            shutil.rmtree(recording)
        nodes[cfg.partner] = Node(cfg, recording=recording)
        for peer in cfg.peers:
            bus.subscribe(cfg.partner, subject(peer, "tracks", receiver=cfg.partner))
            bus.subscribe(cfg.partner, subject(peer, "heartbeat"))
    sensor_owner = {s.id: s.partner for s in simulation.sensors}
    plots = simulation.plots
    owner_of_plot = np.array([sensor_owner.get(s, "") for s in np.unique(plots.sensor_id)])
    _, inverse = np.unique(plots.sensor_id, return_inverse=True)
    plot_owner = owner_of_plot[inverse]

    start = scenario.start_time_s
    steps = int(np.ceil(scenario.duration_s / STEP_S))
    edges = start + STEP_S * np.arange(steps + 1)
    bounds = np.searchsorted(plots.time_s, edges)
    outputs: dict[str, list[TickOutput]] = {pid: [] for pid in nodes}
    for k in range(steps):
        now = float(edges[k + 1])
        second = plots.take(np.arange(bounds[k], bounds[k + 1]))
        owners = plot_owner[bounds[k] : bounds[k + 1]]
        for pid, node in nodes.items():
            node.receive_plots(second.take(owners == pid), now)
            for _, payload in bus.deliver(pid, now):
                node.receive_message(payload, now)
        for pid, node in nodes.items():
            result = node.tick(now)
            outputs[pid].append(result)
            for peer, payload in result.outgoing.items():
                bus.publish(subject(pid, "tracks", receiver=peer), payload, now)
            bus.publish(subject(pid, "heartbeat"), result.heartbeat, now)
        if progress is not None:
            progress((k + 1) / steps)
    for node in nodes.values():
        node.close()
    partners = {
        pid: PartnerRun(
            partner=pid,
            local=Tracks.concat([o.local for o in outs]),
            system=SystemTracks.concat([o.fused for o in outs]),
            statuses=[dict(o.partners) for o in outs],
        )
        for pid, outs in outputs.items()
    }
    if out is not None:
        write_outputs(simulation.truth, partners, out)
    return ScenarioRun(simulation, partners)


def write_outputs(truth: Truth, partners: dict[str, PartnerRun], out: Path) -> None:
    """truth.csv and each partner's local and fused pictures in the tracks.csv contract."""
    out.mkdir(parents=True, exist_ok=True)
    write_truth(truth, out / "truth.csv")
    for pid, run in partners.items():
        write_tracks(run.local, out / pid / "local_tracks.csv")
        write_tracks(run.fused, out / pid / "fused_tracks.csv")
