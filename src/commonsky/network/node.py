"""A partner's node: own sensors and tracker, export under policy, import check, fusion, recording.

The node is deterministic and driven by three inputs, each recorded before it is processed:
`receive_plots` (its own sensors' plots), `receive_message` (bytes from a partner) and `tick`
(the node's clock: export, fuse and report at that time). Transports, files and clocks live
outside (`commonsky.network.runner` for one process, the NATS adapter for separate processes),
so replaying a recording through a fresh node reproduces its pictures bit for bit.

Per tick: the local tracker's confirmed tracks are reported with their covariance; for each peer
the export policy filters them (areas, altitude bands, withheld fields, delay, rate) and the
result goes out as one `TrackBatch`; partner batches received since the last tick are checked
against the exporter's published policy, de-duplicated by sequence number and handed with the
local reports to track-to-track fusion, whose output is the common picture.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from commonsky.assess import (
    AlertError,
    Assessment,
    AssessmentConfig,
    acknowledge,
    assess,
    new_assessment_state,
    override_identity,
    reconfigure_assessment,
    zones_from_geojson,
)
from commonsky.core.batches import Plots, TrackReports, Tracks
from commonsky.core.errors import DecodeError, SchemaError
from commonsky.core.geodesy import LocalFrame
from commonsky.core.logs import RateLimitedLog
from commonsky.core.sensors import SensorSpec
from commonsky.core.waterway import Waterway
from commonsky.fusion import FusionConfig, SystemTracks, fuse, new_fusion_state
from commonsky.network.transport.base import PartnerMonitor, PartnerStatus, SeqTracker
from commonsky.network.transport.messages import TrackBatch, decode, encode_heartbeat, encode_tracks
from commonsky.sharing import (
    ExportState,
    SharingAgreement,
    SharingPolicy,
    check_import,
    export_reports,
    from_json,
    to_json,
)
from commonsky.store import Checkpoint, Recorder, batch_from_bytes, batch_to_bytes, plots_from_bytes
from commonsky.tracking import TrackerConfig, maintain, new_state, picture, reports, step

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 4
"""Version of the pickled node state in checkpoints; raised whenever a stage's state classes change (2: the
tracker's lost tracks, clutter estimate and motion tables; 3: its sensors' latest plot times and its tracks'
last heard addresses). A checkpoint of another format is passed over and the recording's events replay
instead, so an upgraded node resumes with state its code understands."""

_dropped_log = RateLimitedLog(log)
"""Dropped or refused partner input: at most one warning per partner and cause every 10 s (a noisy peer cannot
flood the log; the counters count every one)."""


NO_ZONES: dict[str, Any] = {"type": "FeatureCollection", "features": []}
RECONFIGURABLE = frozenset(
    {"export_policies", "import_policies", "clock_tolerance_s", "assess", "zones", "known_sensors"}
)
"""What a running recording may change at a restart (`Node.reconfigure`); anything else needs a new one."""


@dataclass(frozen=True)
class NodeConfig:
    """What a node is: its partner id, sensors, peers, tuning, the policies it exports and imports under."""

    partner: str
    sensors: tuple[SensorSpec, ...]
    peers: tuple[str, ...]
    frame: LocalFrame
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    export_policies: tuple[SharingPolicy, ...] = ()
    """This partner's policy towards each peer (peers without one receive nothing)."""
    import_policies: tuple[SharingPolicy, ...] = ()
    """Each peer's published policy towards this partner (what it may send us)."""
    clock_tolerance_s: float = 0.0
    """How much fresher than its policy's delay a partner report may look (clock offset between nodes)."""
    assess: dict[str, Any] = field(default_factory=dict)
    """The `[assess]` table (identity lists, alert thresholds; see `commonsky.assess.AssessmentConfig`)."""
    zones: dict[str, Any] = field(default_factory=lambda: dict(NO_ZONES))
    """Zones as a GeoJSON FeatureCollection (see `commonsky.assess.zones`)."""
    known_sensors: tuple[SensorSpec, ...] = ()
    """Partners' published sensors: their coverage matters when assessing partner tracks."""
    waterway: dict[str, Any] | None = None
    """The river's waterway GeoJSON (`core.waterway`), where the node's vessel tracks are kept on the water."""

    @classmethod
    def from_agreement(
        cls,
        partner: str,
        sensors: Sequence[SensorSpec],
        peers: Sequence[str],
        frame: LocalFrame,
        agreement: SharingAgreement,
        tracker: TrackerConfig | None = None,
        fusion: FusionConfig | None = None,
        assess: dict[str, Any] | None = None,
        zones: dict[str, Any] | None = None,
        known_sensors: Sequence[SensorSpec] = (),
        waterway: dict[str, Any] | None = None,
    ) -> NodeConfig:
        """A node of a coalition whose policies are all known (a scenario, or published policies)."""
        return cls(
            partner=partner,
            sensors=tuple(sensors),
            peers=tuple(peers),
            frame=frame,
            tracker=tracker or TrackerConfig(),
            fusion=fusion or FusionConfig(),
            export_policies=tuple(agreement.policy(partner, p) for p in peers),
            import_policies=tuple(agreement.policy(p, partner) for p in peers),
            assess=dict(assess or {}),
            zones=dict(zones or NO_ZONES),
            known_sensors=tuple(known_sensors),
            waterway=waterway,
        )

    def export_policy(self, peer: str) -> SharingPolicy:
        """Our policy towards `peer` (deny-all when none was agreed)."""
        for p in self.export_policies:
            if p.receiver == peer:
                return p
        return SharingPolicy.deny_all(self.partner, peer)

    def import_policy(self, peer: str) -> SharingPolicy:
        """`peer`'s published policy towards us (deny-all when it published none)."""
        for p in self.import_policies:
            if p.exporter == peer:
                return p
        return SharingPolicy.deny_all(peer, self.partner)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description, stored with recordings so a replay rebuilds the same node."""
        return {
            "partner": self.partner,
            "sensors": [s.to_dict() for s in self.sensors],
            "peers": list(self.peers),
            "frame": [self.frame.lat0_deg, self.frame.lon0_deg, self.frame.alt0_m],
            "tracker": asdict(self.tracker),
            "fusion": asdict(self.fusion),
            "export_policies": [to_json(p) for p in self.export_policies],
            "import_policies": [to_json(p) for p in self.import_policies],
            "clock_tolerance_s": self.clock_tolerance_s,
            "assess": self.assess,
            "zones": self.zones,
            "known_sensors": [s.to_dict() for s in self.known_sensors],
            "waterway": self.waterway,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeConfig:
        """Inverse of `to_json`."""
        lat, lon, alt = data["frame"]
        return cls(
            partner=data["partner"],
            sensors=tuple(SensorSpec.from_dict(s) for s in data["sensors"]),
            peers=tuple(data["peers"]),
            frame=LocalFrame(lat, lon, alt),
            tracker=TrackerConfig.from_dict(data["tracker"]),
            fusion=FusionConfig.from_dict(data["fusion"]),
            export_policies=tuple(from_json(p) for p in data["export_policies"]),
            import_policies=tuple(from_json(p) for p in data["import_policies"]),
            clock_tolerance_s=float(data.get("clock_tolerance_s", 0.0)),
            assess=dict(data.get("assess", {})),
            zones=dict(data.get("zones", NO_ZONES)),
            known_sensors=tuple(SensorSpec.from_dict(s) for s in data.get("known_sensors", [])),
            waterway=data.get("waterway"),
        )


@dataclass(frozen=True)
class TickOutput:
    """What a node produces at one tick."""

    time_s: float
    local: Tracks
    """The local picture: this partner's own confirmed tracks."""
    fused: SystemTracks
    """The common picture: local and partner tracks fused into system tracks."""
    outgoing: dict[str, bytes]
    """Peer -> the track batch for it (peers the policy gives nothing this tick are absent)."""
    heartbeat: bytes
    """This node's heartbeat, for every peer."""
    partners: dict[str, PartnerStatus]
    assessment: Assessment
    """Identity of every fused track, active alerts and this tick's alert events (`alerts.jsonl`)."""


@dataclass
class NodeCounters:
    """What the node saw go wrong or get filtered, for status displays and tests."""

    messages_in: int = 0
    messages_bad: int = 0
    messages_duplicate: int = 0
    rows_imported: int = 0
    rows_refused: int = 0
    rows_exported: int = 0
    source_rows: int = 0
    """Track reports of the node's own track sources (marine radars' targets)."""


class Node:
    """One partner's node. Not thread-safe: drive it from one place, in time order."""

    def __init__(self, config: NodeConfig, recording: str | Path | None = None, sync_interval_s: float = 1.0) -> None:
        self.config = config
        waterway = Waterway.from_geojson(config.waterway, "waterway") if config.waterway else None
        self.tracker = new_state(config.sensors, config.tracker, config.frame, waterway)
        self.fusion = new_fusion_state(config.frame, config.fusion)
        self.exports = {peer: ExportState() for peer in config.peers}
        self.sequence: dict[str, int] = {}
        """Per receiving peer: track batches sent to it (each peer's stream is numbered from 1)."""
        self.heartbeats = 0
        self.applied = SeqTracker()
        self.monitor = PartnerMonitor()
        self.inbox: list[TrackReports] = []
        self.assessment = new_assessment_state(
            AssessmentConfig.from_dict(config.assess, "node config [assess]"),
            zones_from_geojson(config.zones, "node config zones"),
            [*config.sensors, *config.known_sensors],
        )
        self._tick_plots: list[Plots] = []
        """Own plots since the last tick, for the assessment's ADS-B/radar check."""
        self._tick_imported: list[TrackReports] = []
        """Partner reports imported since the last tick, for the partner-contradiction check."""
        self.counters = NodeCounters()
        self.recorder = None if recording is None else Recorder(recording, config.to_json(), sync_interval_s)

    def receive_plots(self, plots: Plots, now_s: float) -> None:
        """Own sensors' plots: recorded, then tracked."""
        if self.recorder is not None:
            self.recorder.append("plots", now_s, batch_to_bytes(plots))
        self.tracker, _ = step(self.tracker, plots, with_updates=False)
        self._tick_plots.append(plots)

    def receive_tracks(self, reports: TrackReports, now_s: float) -> None:
        """Tracks of an own track source (a marine radar's TTM/TLL targets, each radar an owner of its own):
        recorded, then fused at the next fusion like a partner's, never exported."""
        if self.recorder is not None:
            self.recorder.append("tracks", now_s, batch_to_bytes(reports))
        self.counters.source_rows += len(reports)
        self.inbox.append(reports)

    def receive_message(self, payload: bytes, now_s: float) -> None:
        """A partner's message: recorded, decoded (bad ones counted and skipped), checked, queued for fusion."""
        if self.recorder is not None:
            self.recorder.append("message", now_s, payload)
        self.counters.messages_in += 1
        try:
            message = decode(payload, source="partner message")
        except DecodeError as exc:
            self.counters.messages_bad += 1
            _dropped_log.warning(
                (self.config.partner, "bad"), "%s: dropped a bad message: %s", self.config.partner, exc
            )
            return
        if message.sender not in self.config.peers:
            self.counters.messages_bad += 1
            _dropped_log.warning(
                (self.config.partner, "unknown", message.sender),
                "%s: dropped a message from unknown partner %r",
                self.config.partner,
                message.sender,
            )
            return
        kind = message.KIND
        if self.applied.check(message.sender, kind, message.seq, message.sent_s) == "duplicate":
            self.counters.messages_duplicate += 1
            return
        self.applied.mark(message.sender, kind, message.seq, message.sent_s)
        self.monitor.observe_message(message)
        if isinstance(message, TrackBatch):
            rows = message.reports()
            policy = self.config.import_policy(message.sender)
            own = rows.take(rows.owner == message.sender)
            kept, stats = check_import(policy, own, now_s, clock_tolerance_s=self.config.clock_tolerance_s)
            self.counters.rows_imported += stats.kept
            self.counters.rows_refused += len(rows) - stats.kept
            if stats.kept < len(rows):
                refused = len(rows) - stats.kept
                _dropped_log.warning(
                    (self.config.partner, "refused", message.sender),
                    "%s: refused %d rows from %s: %s",
                    self.config.partner,
                    refused,
                    message.sender,
                    stats.dropped,
                )
            self.inbox.append(kept)
            self._tick_imported.append(kept)

    def tick(self, now_s: float) -> TickOutput:
        """Report, export to each peer, fuse, and return the pictures at `now_s`."""
        if self.recorder is not None:
            self.recorder.append("tick", now_s)
        partner = self.config.partner
        self.tracker = maintain(self.tracker, now_s)
        local = reports(self.tracker, partner, now_s)
        outgoing: dict[str, bytes] = {}
        for peer in self.config.peers:
            policy = self.config.export_policy(peer)
            sent, self.exports[peer], _ = export_reports(policy, local, now_s, self.exports[peer])
            if len(sent):
                self.sequence[peer] = self.sequence.get(peer, 0) + 1
                outgoing[peer] = encode_tracks(sent, partner, self.sequence[peer], now_s, now_s)
                self.counters.rows_exported += len(sent)
        self.heartbeats += 1
        beat = encode_heartbeat(partner, self.heartbeats, now_s, "up", len(self.tracker.tracks), now_s)
        received = TrackReports.concat([local, *self.inbox])
        self.inbox = []
        self.fusion, fused = fuse(self.fusion, received, now_s)
        plots = Plots.concat(self._tick_plots) if self._tick_plots else Plots.empty()
        imported = TrackReports.concat(self._tick_imported) if self._tick_imported else TrackReports.empty()
        self._tick_plots, self._tick_imported = [], []
        self.assessment, assessed = assess(self.assessment, now_s, fused, plots, local, imported)
        return TickOutput(
            time_s=now_s,
            local=picture(self.tracker, now_s),
            fused=fused,
            outgoing=outgoing,
            heartbeat=beat,
            partners=self.monitor.statuses(self.config.peers, now_s),
            assessment=assessed,
        )

    def act(self, action: dict[str, Any], now_s: float) -> None:
        """An operator action, recorded then applied: `{"action": "acknowledge", "alert_id", "user"}` or
        `{"action": "override_identity", "system_id", "identity", "user"}`.

        Raises `commonsky.assess.AlertError` (acknowledging an unknown, cleared or already
        acknowledged alert) or `ValueError` (a malformed action); the refusal is recorded too, so a
        replay meets the same refusal.
        """
        if self.recorder is not None:
            self.recorder.append("action", now_s, json.dumps(action, sort_keys=True).encode())
            self.recorder.sync()  # on the disk before the operator is told it was done
        kind = action.get("action")
        user = str(action.get("user", ""))
        if not user:
            raise ValueError("an operator action needs a user")
        if kind == "acknowledge":
            self.assessment = acknowledge(self.assessment, int(action["alert_id"]), user, now_s)
        elif kind == "override_identity":
            self.assessment = override_identity(
                self.assessment, int(action["system_id"]), str(action["identity"]), user, now_s
            )
        else:
            raise ValueError(f"unknown operator action {kind!r}; expected acknowledge or override_identity")

    def fuse(self, now_s: float) -> SystemTracks:
        """Fuse the partner tracks received since the last tick or fuse into the picture at `now_s`.

        A live node calls this when a partner batch arrives between ticks, so the common picture
        does not wait for the next tick; own tracks enter fusion at ticks. Recorded like a tick.
        """
        if self.recorder is not None:
            self.recorder.append("fuse", now_s)
        received = TrackReports.concat(self.inbox) if self.inbox else TrackReports.empty()
        self.inbox = []
        self.fusion, fused = fuse(self.fusion, received, now_s)
        return fused

    def apply(self, kind: str, time_s: float, payload: bytes) -> TickOutput | None:
        """Apply one recorded input (`plots`, `tracks`, `message`, `fuse`, `tick`, `action`); returns a tick's
        output."""
        if kind == "plots":
            self.receive_plots(plots_from_bytes(payload), time_s)
        elif kind == "tracks":
            self.receive_tracks(batch_from_bytes(TrackReports, payload), time_s)
        elif kind == "message":
            self.receive_message(payload, time_s)
        elif kind == "fuse":
            self.fuse(time_s)
        elif kind == "tick":
            return self.tick(time_s)
        elif kind == "action":
            try:
                self.act(json.loads(payload), time_s)
            except (AlertError, ValueError, KeyError) as exc:
                log.info("%s: recorded operator action refused again on replay: %s", self.config.partner, exc)
        elif kind == "config":
            self.reconfigure(NodeConfig.from_json(json.loads(payload)), time_s)
        else:
            raise DecodeError("recording", 0, f"unknown input kind {kind!r}")
        return None

    def reconfigure(self, config: NodeConfig, now_s: float) -> None:
        """Go on under `config` from `now_s` (recorded): sharing policies, clock tolerance, and the assessment's
        lists, thresholds and zones may change; a peer whose export policy changed starts a fresh export
        state, so nothing more goes out under the old policy. Anything else is a new node (ValueError)."""
        before, after = self.config.to_json(), config.to_json()
        changed = sorted(k for k, v in after.items() if v != before[k])
        fixed = [k for k in changed if k not in RECONFIGURABLE]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change in a running recording: start a new one")
        if self.recorder is not None:
            self.recorder.append("config", now_s, json.dumps(after, sort_keys=True).encode())
            self.recorder.sync()
        for peer in config.peers:
            if config.export_policy(peer) != self.config.export_policy(peer):
                self.exports[peer] = ExportState()
        if {"assess", "zones", "known_sensors"} & set(changed):
            self.assessment = reconfigure_assessment(
                self.assessment,
                AssessmentConfig.from_dict(config.assess, "node config [assess]"),
                zones_from_geojson(config.zones, "node config zones"),
                [*config.sensors, *config.known_sensors],
            )
        self.config = config
        log.warning("%s: configuration changed at %.1f: %s", config.partner, now_s, ", ".join(changed) or "nothing")

    def state(self) -> bytes:
        """The node's whole state (tracker, fusion, exports, sequence numbers, assessment, ...) for a checkpoint;
        `restore` gives back a node that goes on bit for bit as this one would."""
        recorder, self.recorder = self.recorder, None
        try:
            return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            self.recorder = recorder

    def close(self) -> None:
        """Finish the recording segment."""
        if self.recorder is not None:
            self.recorder.close()


def restore(state: bytes) -> Node:
    """The node a checkpoint's state holds (`Node.state`), without a recorder. The file is the node's own
    (0600 in its own output directory) and checked against its digest before this is called."""
    node = pickle.loads(state)
    if not isinstance(node, Node):
        raise DecodeError("checkpoint", 0, f"holds a {type(node).__name__}, not a Node")
    return node


@dataclass(frozen=True)
class Resumed:
    """A node brought back to the end of its recording."""

    node: Node
    checkpoint: Checkpoint | None
    """The checkpoint it started from (None: it replayed the whole recording)."""
    last: TickOutput | None
    """Its last tick's output (None when it never ticked)."""
    ticks: int
    """Ticks in the whole recording."""
    replayed_ticks: int
    """Ticks replayed after the checkpoint (what the restart cost)."""
    unsent: tuple[tuple[str, bytes], ...] = ()
    """The track batches (peer, payload) its link had not delivered when the checkpoint was written."""


def resume(
    recording: str | Path,
    on_output: Callable[[TickOutput], None] | None = None,
    on_start: Callable[[Resumed], None] | None = None,
) -> Resumed:
    """The node as it was at the end of `recording`: its newest intact checkpoint, then only the events after it
    (the whole recording when there is none). `on_start` hears where the replay starts (the checkpoint and what it
    held), each replayed
    tick's output goes to `on_output`; only the last is kept, so memory does not grow with the recording
    either. The node does not record (set its recorder)."""
    from commonsky.store import checkpoints

    start = next((r for r in map(_load, reversed(checkpoints(recording))) if r is not None), None)
    return _play(recording, start or _fresh(recording), on_output, on_start)


def _fresh(recording: str | Path) -> Resumed:
    """A new node of the recording's configuration, before its first event."""
    return Resumed(Node(node_meta(recording)), None, None, 0, 0)


def replay_start(recording: str | Path) -> Resumed:
    """Where a replay of `recording` can begin: a fresh node when the recording is whole, else (its oldest
    segments dropped by retention) its oldest intact checkpoint. Nothing is replayed yet."""
    from commonsky.store import checkpoints, segments

    first = segments(recording)
    if not first or first[0].name == "inputs-000001.arrows":
        return _fresh(recording)
    for checkpoint in checkpoints(recording):
        loaded = _load(checkpoint)
        if loaded is not None:
            return loaded
    raise SchemaError(f"{recording}: its first segments are gone and no checkpoint is left to start from")


def _load(checkpoint: Checkpoint) -> Resumed | None:
    """The node a checkpoint holds, or None (logged) when the file is damaged or of another state format."""
    try:
        saved = pickle.loads(checkpoint.state())
        if saved.get("format") != CHECKPOINT_FORMAT:
            log.warning(
                "%s: passing over a checkpoint of state format %s (this release reads %d): the events replay instead",
                checkpoint.path,
                saved.get("format", 1),
                CHECKPOINT_FORMAT,
            )
            return None
        unsent = tuple(saved.get("unsent", ()))
        return Resumed(restore(saved["node"]), checkpoint, saved["last"], int(saved["ticks"]), 0, unsent)
    except (SchemaError, DecodeError, pickle.UnpicklingError, KeyError, EOFError) as exc:
        log.warning("%s: skipping a damaged checkpoint: %s", checkpoint.path, exc)
        return None


def _play(
    recording: str | Path,
    start: Resumed,
    on_output: Callable[[TickOutput], None] | None,
    on_start: Callable[[Resumed], None] | None,
) -> Resumed:
    """Apply the events after `start`'s checkpoint (all of them without one) to its node."""
    from commonsky.store import read_events

    node, last, ticks, replayed = start.node, start.last, start.ticks, 0
    if on_start is not None:
        on_start(start)
    for event in read_events(recording, after=start.checkpoint):
        result = node.apply(event.kind, event.time_s, event.payload)
        if result is not None:
            last, ticks, replayed = result, ticks + 1, replayed + 1
            if on_output is not None:
                on_output(result)
    return Resumed(node, start.checkpoint, last, ticks, replayed, start.unsent)


def checkpoint_state(
    node: Node, last: TickOutput | None, ticks: int, unsent: Sequence[tuple[str, bytes]] = ()
) -> bytes:
    """What `resume` needs from a checkpoint: the node's state, its last output, how many ticks it made and the
    track batches (peer, payload) its link has not delivered yet (sent again after a restart)."""
    saved = {"format": CHECKPOINT_FORMAT, "node": node.state(), "last": last, "ticks": ticks, "unsent": list(unsent)}
    return pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)


def node_meta(recording: str | Path) -> NodeConfig:
    """The configuration a recording was made with."""
    from commonsky.store import read_meta

    return NodeConfig.from_json(read_meta(recording))


def rebuild(recording: str | Path) -> tuple[Node, list[TickOutput]]:
    """A fresh node fed a recording's inputs in order, and its tick outputs: the same, bit for bit. A recording
    whose oldest segments retention dropped is replayed from its oldest checkpoint on."""
    outputs: list[TickOutput] = []
    played = _play(recording, replay_start(recording), outputs.append, None)
    return played.node, outputs


def replay(recording: str | Path) -> list[TickOutput]:
    """Feed a recording's inputs, in order, through a fresh node: the same outputs, bit for bit."""
    return rebuild(recording)[1]
