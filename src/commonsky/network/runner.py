"""All partners of a scenario in one process on the in-process bus: the embedded default (`commonsky run`).

Simulated time advances in one-second steps. In each step every node receives its own sensors'
plots of that second, then the partner messages the bus delivers by the end of the second, then
ticks: it exports, fuses and reports its local and fused pictures at the end of the second. Link
outages from the scenario hold messages on the bus until the link comes back, as a JetStream
durable consumer would. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Plots, Tracks, Truth
from commonsky.core.config import read_json
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorSpec
from commonsky.formats import write_tracks, write_truth
from commonsky.fusion import SystemTracks
from commonsky.network.node import NO_ZONES, Node, NodeConfig, TickOutput
from commonsky.network.transport.base import subject
from commonsky.network.transport.inprocess import InProcessBus
from commonsky.sharing import SharingAgreement
from commonsky.sim import Scenario, SimulationOutput, simulate
from commonsky.tracking import TrackerConfig

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
    alert_events: list[dict[str, Any]]
    """Every alert event of the run (raised, acknowledged, cleared), in order: the lines of alerts.jsonl."""

    @property
    def fused(self) -> Tracks:
        """The fused picture in the tracks.csv contract."""
        return self.system.as_tracks()


@dataclass(frozen=True)
class ScenarioRun:
    """Everything `run_scenario` produced."""

    simulation: SimulationOutput
    partners: dict[str, PartnerRun]


def assessment_inputs(scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario's `[assess]` table without `zones`, and the zones GeoJSON its `zones` path names."""
    return assessment_and_zones(scenario.assess, scenario.source)


def assessment_and_zones(assess: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An `[assess]` table without `zones`, and the zones GeoJSON its `zones` path names.

    The path is relative to the file `source` (a scenario or a node config); without one, no zones.
    """
    table = dict(assess)
    path = table.pop("zones", None)
    if path is None:
        return table, dict(NO_ZONES)
    if not isinstance(path, str):
        raise ConfigError(source, "assess.zones", f"expected a GeoJSON file path, got {path!r}")
    full = Path(source).parent / path
    try:
        return table, json.loads(full.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(source, "assess.zones", f"cannot read {full}: {exc}") from None


def node_configs(
    scenario: Scenario, simulation: SimulationOutput, tracker: TrackerConfig | None = None
) -> list[NodeConfig]:
    """One node configuration per partner of the scenario, with the scenario's sharing agreement and zones
    (and every node's tracker configured alike, default settings unless `tracker` is given)."""
    agreement = SharingAgreement.from_dict({"sharing": list(scenario.sharing)}, source=scenario.source)
    frame = LocalFrame(scenario.region.lat_deg, scenario.region.lon_deg, 0.0)
    assess, zones = assessment_inputs(scenario)
    ids = [p.id for p in scenario.partners]
    waterway = None
    if scenario.river is not None:  # vessels float on the scenario's river, at its water's height
        waterway = read_json(scenario.river.waterway)[0]
        tracker = replace(tracker or TrackerConfig(), surface_height_m=scenario.river.water_height_m)
    return [
        NodeConfig.from_agreement(
            partner=pid,
            sensors=[s for s in simulation.sensors if s.partner == pid],
            peers=[q for q in ids if q != pid],
            frame=frame,
            agreement=agreement,
            tracker=tracker,
            assess=assess,
            zones=zones,
            known_sensors=[s for s in simulation.sensors if s.partner != pid],
            waterway=waterway,
        )
        for pid in ids
    ]


class ScenarioSession:
    """Every partner's node of one simulated scenario, advanced one step at a time on the in-process bus.

    `run_scenario` drives it to the end; the web display drives it at wall-clock pace. Operator
    actions reach a node between steps through `nodes[partner]`.
    """

    def __init__(
        self, scenario: Scenario, out: Path | None = None, seed: int | None = None, tracker: TrackerConfig | None = None
    ) -> None:
        self.scenario = scenario
        self.simulation = simulate(scenario, seed=seed)
        configs = node_configs(scenario, self.simulation, tracker)
        outages = [
            (e["partner_a"], e["partner_b"], e["time_s"], e["end_time_s"])
            for e in self.simulation.events
            if e["kind"] == "link_outage"
        ]
        self.bus = InProcessBus(outages=outages)
        self.nodes: dict[str, Node] = {}
        for cfg in configs:
            recording = out / cfg.partner / "recording" if out else None
            if recording is not None and recording.exists():
                shutil.rmtree(recording)
            self.nodes[cfg.partner] = Node(cfg, recording=recording)
            for peer in cfg.peers:
                self.bus.subscribe(cfg.partner, subject(peer, "tracks", receiver=cfg.partner))
                self.bus.subscribe(cfg.partner, subject(peer, "heartbeat"))
        sensor_owner = {s.id: s.partner for s in self.simulation.sensors}
        plots = self.simulation.plots
        unique_sensors, inverse = np.unique(plots.sensor_id, return_inverse=True)
        self._plot_owner = np.array([sensor_owner.get(s, "") for s in unique_sensors])[inverse]
        self.steps = int(np.ceil(scenario.duration_s / STEP_S))
        self._edges = scenario.start_time_s + STEP_S * np.arange(self.steps + 1)
        self._bounds = np.searchsorted(plots.time_s, self._edges)
        self.step_index = 0

    @property
    def done(self) -> bool:
        """True once every step of the scenario has run."""
        return self.step_index >= self.steps

    @property
    def time_s(self) -> float:
        """The simulated time the session has reached (end of the last step run)."""
        return float(self._edges[self.step_index])

    def step(self) -> dict[str, TickOutput]:
        """Run one step: every node takes its plots and partner messages, then ticks; returns each tick output."""
        if self.done:
            raise RuntimeError("the scenario has no more steps")
        k = self.step_index
        now = float(self._edges[k + 1])
        rows = np.arange(self._bounds[k], self._bounds[k + 1])
        second = self.simulation.plots.take(rows)
        owners = self._plot_owner[rows]
        for pid, node in self.nodes.items():
            node.receive_plots(second.take(owners == pid), now)
            for _, payload in self.bus.deliver(pid, now):
                node.receive_message(payload, now)
        outputs: dict[str, TickOutput] = {}
        for pid, node in self.nodes.items():
            result = node.tick(now)
            outputs[pid] = result
            for peer, payload in result.outgoing.items():
                self.bus.publish(subject(pid, "tracks", receiver=peer), payload, now)
            self.bus.publish(subject(pid, "heartbeat"), result.heartbeat, now)
        self.step_index = k + 1
        return outputs

    def close(self) -> None:
        """Flush and close every node's recording."""
        for node in self.nodes.values():
            node.close()


def run_scenario(
    scenario: Scenario,
    out: Path | None = None,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    tracker: TrackerConfig | None = None,
) -> ScenarioRun:
    """Simulate the scenario and run every partner's node on the in-process bus.

    With `out`, writes `truth.csv` and per partner `<partner>/local_tracks.csv`,
    `<partner>/fused_tracks.csv` and the node's recording `<partner>/recording/` (a recording
    left there by an earlier run is replaced: the run regenerates it from the scenario).
    """
    session = ScenarioSession(scenario, out=out, seed=seed, tracker=tracker)
    outputs: dict[str, list[TickOutput]] = {pid: [] for pid in session.nodes}
    while not session.done:
        for pid, result in session.step().items():
            outputs[pid].append(result)
        if progress is not None:
            progress(session.step_index / session.steps)
    session.close()
    partners = {pid: _partner_run(pid, outs) for pid, outs in outputs.items()}
    if out is not None:
        write_outputs(session.simulation.truth, partners, out)
    return ScenarioRun(session.simulation, partners)


def run_recording(
    plots: Plots,
    sensors: list[SensorSpec],
    out: Path | None = None,
    partner: str = "local",
    progress: Callable[[float], None] | None = None,
    tracker: TrackerConfig | None = None,
) -> PartnerRun:
    """One node over a recording's plots (a real capture, decoded): tracked, fused and assessed per second.

    The node has no peers, so its fused picture is its own tracks as system tracks. With `out`,
    writes `<partner>/local_tracks.csv`, `fused_tracks.csv`, `alerts.jsonl` and the recording.
    """
    plots = plots.sorted_by_time()
    lat = float(np.mean([s.lat_deg for s in sensors])) if sensors else 0.0
    lon = float(np.mean([s.lon_deg for s in sensors])) if sensors else 0.0
    frame = LocalFrame(lat, lon, 0.0)
    tracker = tracker or TrackerConfig()
    config = NodeConfig(partner=partner, sensors=tuple(sensors), peers=(), frame=frame, tracker=tracker)
    recording = out / partner / "recording" if out else None
    if recording is not None and recording.exists():
        shutil.rmtree(recording)
    node = Node(config, recording=recording)
    outputs: list[TickOutput] = []
    if len(plots):
        first = float(np.floor(plots.time_s[0] / STEP_S) * STEP_S)
        edges = first + STEP_S * np.arange(int(np.ceil((plots.time_s[-1] - first) / STEP_S + 1e-9)) + 1)
        bounds = np.searchsorted(plots.time_s, edges, side="right")
        for k in range(len(edges) - 1):
            node.receive_plots(plots.take(np.arange(bounds[k], bounds[k + 1])), float(edges[k + 1]))
            outputs.append(node.tick(float(edges[k + 1])))
            if progress is not None:
                progress((k + 1) / (len(edges) - 1))
    node.close()
    result = _partner_run(partner, outputs)
    if out is not None:
        _write_partner(result, out / partner)
    return result


def _partner_run(partner: str, outputs: list[TickOutput]) -> PartnerRun:
    """One partner's pictures, statuses and alert events over a run, from its tick outputs in order."""
    return PartnerRun(
        partner=partner,
        local=Tracks.concat([o.local for o in outputs]) if outputs else Tracks.empty(),
        system=SystemTracks.concat([o.fused for o in outputs]) if outputs else SystemTracks.empty(),
        statuses=[dict(o.partners) for o in outputs],
        alert_events=[e for o in outputs for e in o.assessment.events],
    )


def alert_lines(events: list[dict[str, Any]]) -> str:
    """Alert events as `alerts.jsonl` lines (strict JSON, keys sorted), each ending in a newline."""
    return "".join(json.dumps(event, sort_keys=True, allow_nan=False) + "\n" for event in events)


def _write_partner(run: PartnerRun, directory: Path) -> None:
    """One partner's local and fused pictures (tracks.csv contract) and its alerts.jsonl."""
    write_tracks(run.local, directory / "local_tracks.csv")
    write_tracks(run.fused, directory / "fused_tracks.csv")
    (directory / "alerts.jsonl").write_text(alert_lines(run.alert_events), encoding="utf-8")


def write_outputs(truth: Truth, partners: dict[str, PartnerRun], out: Path) -> None:
    """truth.csv and each partner's local and fused pictures in the tracks.csv contract, and its alerts.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    write_truth(truth, out / "truth.csv")
    for pid, run in partners.items():
        _write_partner(run, out / pid)
