"""`commonsky node` configuration (TOML): validated once by `LiveNodeConfig.load`, errors naming file and key.

Paths are relative to the config file. Keys: `partner`, `out` (directory for the recording,
`local_tracks.csv`, `fused_tracks.csv`, `status.json`, `pacing.json` and `timing.jsonl`), `tick_s`
(default 0.1), `start_epoch_s`, `duration_s`, `inputs` and `outputs` (feed URLs), `sensors` (a
sensors.json path, or an array of its entries, describing the sensors behind the inputs), the
recording's `checkpoint_s`, `retain_s`, `retain_bytes`, `sync_interval_s`, `on_config_change`,
and `[[users]]` (the display's). Then either:

- `scenario` (a scenario TOML: every partner simulates it and keeps its own sensors' plots), with
  optional `seed` and `speed` (default 1.0); `duration_s` defaults to the scenario's; or
- no scenario: the node names its world itself, its clock the wall clock. `origin = {lat_deg,
  lon_deg}` (the local frame; default: the mean place of its sensors and its inputs' `ref`),
  `peers` (partner ids), `[[sharing]]` (its policies, `from` defaulting to `partner`) and
  `[assess]` (with `zones`, a GeoJSON path), and for a surface picture `[river]` (`waterway`, a waterway
  GeoJSON path, and `water_height_m`, its height above the ellipsoid, default 0): vessels are kept on its
  water; `duration_s` defaults to a day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Plots
from commonsky.core.config import Table, read_json, read_toml
from commonsky.core.errors import ConfigError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.feeds.inputs import InputSpec
from commonsky.formats import read_sensors
from commonsky.network.node import NodeConfig
from commonsky.network.runner import assessment_and_zones, node_configs
from commonsky.sharing import SharingAgreement
from commonsky.sim import load_scenario, simulate
from commonsky.tracking import TrackerConfig

DEFAULT_TICK_S = 0.1
DEFAULT_CHECKPOINT_S = 300.0
DEFAULT_DURATION_S = 86_400.0
"""How long a node without a scenario runs (then it writes status.json and stops), unless `duration_s` says."""
CONFIG_CHANGES = ("refuse", "apply", "new-recording")
SCENARIO_ONLY = ("seed", "speed")
"""Keys that only mean something for a node that simulates a scenario."""
WORLD_KEYS = ("origin", "peers", "sharing", "assess", "river")
"""Keys of a node without a scenario (with one, the scenario's region, partners, sharing and assess hold)."""


@dataclass(frozen=True)
class LiveNodeConfig:
    """A `commonsky node` configuration, validated once."""

    partner: str
    scenario: Path | None
    """The scenario the node simulates its own plots from; None: its sensors and world are named here."""
    out: Path
    seed: int | None = None
    """With a scenario: overrides its seed."""
    speed: float = 1.0
    """With a scenario: simulated seconds per wall-clock second (live inputs always run at 1)."""
    tick_s: float = DEFAULT_TICK_S
    """Node seconds between ticks (track, export, fuse, publish)."""
    start_epoch_s: float | None = None
    """The pacing epoch: wall-clock UTC of the run's start (None: the node's first start)."""
    duration_s: float | None = None
    """How long the node runs (None: the scenario's duration, a day without one)."""
    inputs: tuple[str, ...] = ()
    """Live feed URLs (`commonsky.feeds.InputSpec`); when given they replace the scenario's plots."""
    outputs: tuple[str, ...] = ()
    """Picture output URLs (`commonsky.feeds.OutputSpec`): the fused picture each tick."""
    sensors: tuple[SensorSpec, ...] = ()
    """The sensors behind the inputs (radars need one; ADS-B receivers get a default entry)."""
    checkpoint_s: float = DEFAULT_CHECKPOINT_S
    """Node seconds between checkpoints: a restart replays at most this much of the recording."""
    retain_s: float | None = None
    """Keep this many node seconds of recording before the newest checkpoint (None: everything)."""
    retain_bytes: int | None = None
    """Keep the recording under this many bytes, dropping its oldest checkpoints and segments (None: no cap)."""
    sync_interval_s: float = 1.0
    """The recording is forced to the disk at least this often (and always before an acknowledgement)."""
    on_config_change: str = "refuse"
    """A restart whose configuration differs from the recording's: "refuse", "apply" (the new sharing
    policies, assessment and zones from now on, recorded) or "new-recording" (the old one is set aside)."""
    origin: tuple[float, float] | None = None
    """Without a scenario: the local frame's origin (lat, lon); None: from the sensors' places."""
    peers: tuple[str, ...] = ()
    """Without a scenario: the partners this node exchanges tracks with."""
    agreement: SharingAgreement = field(default_factory=SharingAgreement)
    """Without a scenario: the node's sharing policies."""
    assess: Mapping[str, Any] = field(default_factory=dict)
    """Without a scenario: the `[assess]` table (its `zones` a GeoJSON path relative to `source`)."""
    waterway: dict[str, Any] | None = None
    """Without a scenario: the `[river]` waterway GeoJSON (validated), where vessel tracks are kept on the water."""
    water_height_m: float = 0.0
    """Without a scenario: the water's height above the ellipsoid (`TrackerConfig.surface_height_m`)."""
    source: str = "<node config>"
    """The config file, named by errors found after loading."""

    @classmethod
    def load(cls, path: str | Path, out: Path | None = None) -> LiveNodeConfig:
        """Read a node config TOML; errors name the file and the key. `out` overrides (or stands in for) its `out`."""
        data, source = read_toml(path)
        base = Path(path).parent
        t = Table(data, source)
        partner = t.text("partner")
        scenario = t.text("scenario") if t.present("scenario") else None
        out_dir = base / t.text("out") if t.present("out") or out is None else out
        t.present("users")  # the display's accounts (`commonsky node --serve`), read by commonsky.web
        for key in WORLD_KEYS if scenario is not None else SCENARIO_ONLY:
            if t.present(key):
                problem = "only with a scenario" if scenario is None else "set by the scenario, not beside it"
                raise t.error(key, problem)
        world = _world(t, base, partner) if scenario is None else {}
        config = cls(
            partner=partner,
            scenario=None if scenario is None else (base / scenario).resolve(),
            out=(out if out is not None else out_dir).resolve(),
            seed=t.integer("seed", lo=0) if t.present("seed") else None,
            speed=t.number("speed", 1.0, lo=0.0, lo_open=True),
            tick_s=t.number("tick_s", DEFAULT_TICK_S, lo=0.0, lo_open=True),
            start_epoch_s=t.number("start_epoch_s", lo=0.0, lo_open=True) if t.present("start_epoch_s") else None,
            duration_s=t.number("duration_s", lo=0.0, lo_open=True) if t.present("duration_s") else None,
            inputs=t.texts("inputs", ()),
            outputs=t.texts("outputs", ()),
            sensors=_sensors(t, base, partner),
            checkpoint_s=t.number("checkpoint_s", DEFAULT_CHECKPOINT_S, lo=0.0, lo_open=True),
            retain_s=t.number("retain_s", lo=0.0, lo_open=True) if t.present("retain_s") else None,
            retain_bytes=int(t.number("retain_bytes", lo=0.0, lo_open=True)) if t.present("retain_bytes") else None,
            sync_interval_s=t.number("sync_interval_s", 1.0, lo=0.0, lo_open=True),
            on_config_change=t.choice("on_config_change", CONFIG_CHANGES, "refuse"),
            source=source,
            **world,
        )
        t.finish()
        return config

    def node_config(self, inputs: Sequence[InputSpec]) -> NodeConfig:
        """The node of a config without a scenario: its sensors (described, and a receiver per ADS-B input),
        its frame, peers, sharing policies, assessment and zones."""
        lat_lon = self.origin or _mean_place(self, inputs)
        sensors = feed_sensors(self, inputs, lat_lon)
        assess, zones = assessment_and_zones(self.assess, self.source)
        return NodeConfig.from_agreement(
            partner=self.partner,
            sensors=sensors,
            peers=self.peers,
            frame=LocalFrame(lat_lon[0], lat_lon[1], 0.0),
            agreement=self.agreement,
            tracker=TrackerConfig(surface_height_m=self.water_height_m),
            assess=assess,
            zones=zones,
            waterway=self.waterway,
        )


@dataclass(frozen=True)
class NodeSetup:
    """Where a live node's plots come from: its node, the simulated own plots, link outages and clock."""

    node_config: NodeConfig
    """The node (with live inputs beside a scenario, their sensors in place of its own)."""
    plots: Plots
    """The node's own simulated plots (none with live inputs)."""
    outages: list[tuple[str, float, float]]
    """(peer, start, end) of the scenario's link outages involving this partner."""
    start_time_s: float | None
    """The scenario's start (paced from the epoch at `speed`); None: the wall clock, as live inputs need."""
    duration_s: float


def node_setup(config: LiveNodeConfig, inputs: Sequence[InputSpec]) -> NodeSetup:
    """The node a config names: from its scenario (simulated, keeping only its own sensors' plots, unless live
    inputs replace them), or, without one, from its own sensors, inputs and peers."""
    if config.scenario is None:
        return NodeSetup(config.node_config(inputs), Plots.empty(), [], None, DEFAULT_DURATION_S)
    scenario = load_scenario(config.scenario)
    simulation = simulate(scenario, seed=config.seed)
    node_config = next((c for c in node_configs(scenario, simulation) if c.partner == config.partner), None)
    if node_config is None:
        raise ConfigError(str(config.scenario), "partners", f"no partner {config.partner!r} in the scenario")
    outages = [
        (e["partner_b"] if e["partner_a"] == config.partner else e["partner_a"], e["time_s"], e["end_time_s"])
        for e in simulation.events
        if e["kind"] == "link_outage" and config.partner in (e["partner_a"], e["partner_b"])
    ]
    if inputs:
        centre = (scenario.region.lat_deg, scenario.region.lon_deg)
        live = replace(node_config, sensors=feed_sensors(config, inputs, centre))
        return NodeSetup(live, Plots.empty(), outages, None, scenario.duration_s)
    own = {s.id for s in simulation.sensors if s.partner == config.partner}
    plots = simulation.plots.take(np.isin(simulation.plots.sensor_id, list(own)))
    return NodeSetup(node_config, plots, outages, scenario.start_time_s, scenario.duration_s)


def _world(t: Table, base: Path, partner: str) -> dict[str, Any]:
    """The keys of a config without a scenario: origin, peers, sharing policies and the `[assess]` table."""
    origin = None
    if t.present("origin"):
        o = t.table("origin")
        origin = (o.number("lat_deg", lo=-85.0, hi=85.0), o.number("lon_deg", lo=-180.0, hi=180.0))
        o.finish()
    peers = t.texts("peers", ())
    if partner in peers or len(set(peers)) < len(peers) or not all(peers):
        raise t.expected("peers", f"distinct partner ids other than {partner!r}", list(peers))
    sharing = [dict(s.data) for s in t.tables("sharing")]
    agreement = SharingAgreement.from_dict({"sharing": sharing}, source=t.source, base_dir=base, exporter=partner)
    river = t.table("river", required=False)
    waterway = None
    if river.present("waterway"):
        waterway, path = read_json(base / river.text("waterway"))
        Waterway.from_geojson(waterway, path)  # refused here, naming the file, rather than at the node's start
    water_height_m = river.number("water_height_m", 0.0, lo=0.0)
    river.finish()
    return {
        "origin": origin,
        "peers": peers,
        "agreement": agreement,
        "assess": dict(t.table("assess", required=False).data),
        "waterway": waterway,
        "water_height_m": water_height_m,
    }


def _sensors(t: Table, base: Path, partner: str) -> tuple[SensorSpec, ...]:
    """`sensors`: a sensors.json path, or an array of its entries (`partner` defaulting to the node's)."""
    if not t.present("sensors"):
        return ()
    if isinstance(t.data["sensors"], str):
        return tuple(read_sensors(base / t.text("sensors")))
    sensors = tuple(
        SensorSpec.from_dict({"partner": partner, **entry.data}, source=f"{t.source}: {entry.path}")
        for entry in t.tables("sensors")
    )
    if len({s.id for s in sensors}) < len(sensors):
        raise t.expected("sensors", "distinct sensor ids", [s.id for s in sensors])
    return sensors


def _mean_place(config: LiveNodeConfig, inputs: Sequence[InputSpec]) -> tuple[float, float]:
    """The mean place of the described sensors and the inputs' `ref`: the frame origin when none is configured."""
    places = [(s.lat_deg, s.lon_deg) for s in config.sensors]
    places += [spec.reference for spec in inputs if spec.reference is not None]
    if not places:
        raise ConfigError(config.source, "origin", "required: no sensor and no input `ref` gives the node's place")
    return sum(p[0] for p in places) / len(places), sum(p[1] for p in places) / len(places)


def live_input(url: str) -> InputSpec:
    """A node input; a file replays as if live, so only at its recorded pace (the node's clock is the wall clock)."""
    spec = InputSpec.parse(url)
    if spec.scheme == "file" and spec.speed != 1.0:
        raise ConfigError(
            url, "speed", "a node replays a file at its recorded pace (speed=1): its clock is the wall clock"
        )
    return spec


def feed_sensors(
    config: LiveNodeConfig, inputs: Sequence[InputSpec], place: tuple[float, float]
) -> tuple[SensorSpec, ...]:
    """The sensors behind live inputs: the described ones for radars, a default receiver per ADS-B input.

    An ADS-B receiver stands at its input's `ref`, else at `place` (the scenario's region centre, or the origin).
    """
    described = list(config.sensors)
    known = {s.id for s in described}
    for spec in inputs:
        if spec.format in ("asterix", "pcap", "final", "nmea-targets") or spec.sensor_id in known:
            continue
        lat, lon = spec.reference if spec.reference is not None else place
        kind = SensorKind.AIS if spec.format == "ais" else SensorKind.ADSB
        described.append(SensorSpec.receiver(spec.sensor_id, config.partner, lat, lon, kind))
        known.add(spec.sensor_id)
    return tuple(described)
