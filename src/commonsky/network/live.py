"""One partner per process over NATS JetStream (`commonsky node`): the same `Node`, real transport.

The node's own plots come from its live inputs on the wall clock, or from its sensors in a
scenario (every partner simulates the same scenario and seed, and keeps only its own sensors'
plots), released against the wall clock at `speed` simulated seconds per second from a pacing epoch
(the wall-clock UTC time at which the scenario starts; `start_epoch_s` in the config, else the
moment the node first started, kept in `out/pacing.json` so a restart keeps the same pace). Every
`tick_s` simulated seconds the node takes the plots released since its last tick, ticks (tracks,
exports, fuses) and publishes its track batches and heartbeat. Between ticks it waits on its peers'
durable consumers and fuses each partner batch **on arrival** (`Node.fuse`), so a partner's update
reaches the common picture without waiting for the next tick.

A link outage of the scenario that involves this partner is played for real: during the window
the node takes nothing from that peer (the messages wait on its durable consumer, as they would
behind a broken link), so the peer goes degraded then down and its tracks age out of the picture,
and everything it sent arrives once the link is back.

Sovereign: the node's own picture never waits on the coalition. The NATS link comes up in the
background (the servers may be down at start-up), publishing is queued (`NatsTransport.send`), and
while the link is down the node keeps tracking, fusing what it has, assessing, serving its
display and writing its outputs; `status.json` (rewritten every second) and the display show the
link's state, and on its return the durable consumers deliver everything missed, once.

Without NATS credentials the node runs stand-alone: nothing is published or received, and any
peers it names are reported down. That is the mode for one receiver's owner: live
inputs, the local picture, assessment, recording, outputs and the display, no coalition server.

A restarted process replays its recording to rebuild the node, then goes on at the current time
of the pacing clock: plots released while it was down are lost, as a live sensor feed's would be
(counted as `plots_missed`). Its durable consumers deliver whatever it had not acked, and the
node's sequence-number check drops anything it had already applied.

`out/alerts.jsonl` receives the node's alert events as they happen (as `commonsky run` writes
them). `out/timing.jsonl` logs, per tick, the wall-clock release time of each plot the tick processed
and the sequence number of each batch sent, and per fusion the batches it fused: enough to
compute the plot-to-fused-picture latency across processes on one host
(`benchmarks/nats_latency.py`).

The node's config (`LiveNodeConfig`, `commonsky.network.live_config`) names a scenario, or, for a node
without one (e.g. one receiver's owner), its sensors, inputs, frame origin and optional peers and sharing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Plots, TrackReports, Tracks
from commonsky.core.errors import ConfigError
from commonsky.feeds.inputs import FeedInput
from commonsky.feeds.outputs import OutputSpec, PictureOutput
from commonsky.formats import TracksCsvWriter
from commonsky.formats.contracts import open_cut_back
from commonsky.network.live_config import CONFIG_CHANGES as CONFIG_CHANGES
from commonsky.network.live_config import LiveNodeConfig, live_input, node_setup
from commonsky.network.node import Node, NodeConfig, Resumed, TickOutput, checkpoint_state, resume
from commonsky.network.runner import alert_lines
from commonsky.network.transport.messages import decode, encode
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import Credentials
from commonsky.store import Recorder, prune, read_meta, write_atomically, write_checkpoint
from commonsky.store.recording import META

log = logging.getLogger(__name__)

PACING_TOLERANCE_S = 2.0
"""Simulated seconds by which peers' clocks may run ahead of ours (each process paces itself)."""
FETCH_TIMEOUT_S = 0.025
"""How long one wait for peers' messages lasts: short, so the node keeps its tick."""
ACK_WAIT_S = 2.0
"""A fetched message not acked this long (its node died) is delivered again: a restarted node gets it."""
UNSENT_BYTES = 64 * 1024 * 1024
"""At most this much of undelivered track batches is sent again after a restart (the transport's outbox bound)."""


def _pacing_epoch(config: LiveNodeConfig) -> float:
    """The wall-clock UTC time of the scenario start: configured, kept from the first start, or now."""
    path = config.out / "pacing.json"
    if path.exists():
        return float(json.loads(path.read_text())["start_epoch_s"])
    epoch = config.start_epoch_s if config.start_epoch_s is not None else time.time()
    config.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"start_epoch_s": epoch}) + "\n")
    return epoch


class _Unsent:
    """Track batches (peer, payload) a restarted node sends again: those its checkpoint says the link had not
    delivered, then every tick's replayed after it. At most `UNSENT_BYTES`, the oldest dropped (counted)."""

    def __init__(self) -> None:
        self.batches: deque[tuple[str, bytes]] = deque()
        self.size = self.dropped = self.withheld = 0

    def add(self, peer: str, payload: bytes) -> None:
        """Keep one batch, dropping the oldest beyond the byte cap."""
        self.batches.append((peer, payload))
        self.size += len(payload)
        while self.size > UNSENT_BYTES:
            self.size -= len(self.batches.popleft()[1])
            self.dropped += 1

    def withhold(self, peers: Iterable[str]) -> int:
        """Drop the batches to `peers` (their export policy changed: nothing more goes out under the old one);
        returns how many."""
        gone = set(peers)
        kept = [(peer, payload) for peer, payload in self.batches if peer not in gone]
        withheld = len(self.batches) - len(kept)
        self.batches = deque(kept)
        self.size = sum(len(payload) for _, payload in kept)
        self.withheld += withheld
        return withheld


def _resume(
    config: LiveNodeConfig, node_config: NodeConfig, alerts: _AlertLog, tracks: _TracksLog
) -> tuple[Node, TickOutput | None, int, dict[str, Any], _Unsent]:
    """The node of an earlier run brought back from its newest checkpoint and what it recorded after (its output
    files cut back to that checkpoint and written on), under `node_config` as `config.on_config_change` says;
    a fresh node when there is no recording. Returns (node, last tick output, ticks, how the restart went,
    the track batches to send again)."""
    started = time.monotonic()
    recording = config.out / "recording"
    if not (recording / META).exists():
        return _fresh(config, node_config, alerts, tracks)
    unsent = _Unsent()

    def start(begin: Resumed) -> None:
        sizes = {} if begin.checkpoint is None else dict(begin.checkpoint.extra.get("sizes", {}))
        alerts.start(sizes.get("alerts", 0))
        tracks.start(sizes)
        for peer, payload in begin.unsent:
            unsent.add(peer, payload)

    def write(result: TickOutput) -> None:
        alerts.write(result)
        tracks.write(result.local, result.fused.as_tracks())
        for peer, payload in result.outgoing.items():
            unsent.add(peer, payload)

    resumed = resume(recording, on_output=write, on_start=start)
    node = resumed.node
    if node.config != node_config:
        if config.on_config_change == "new-recording":
            alerts.close()
            tracks.close()
            aside = recording.with_name(f"recording-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            recording.rename(aside)
            log.warning("%s: configuration changed: recording set aside as %s, a new one begun", config.partner, aside)
            return _fresh(config, node_config, alerts, tracks)
        if config.on_config_change != "apply":
            raise ConfigError(
                str(config.out),
                "on_config_change",
                "the configuration differs from the one this recording runs under: choose --on-config-change "
                "apply (the new sharing policies, assessment and zones from now on, recorded) or new-recording",
            )
    node.recorder = Recorder(recording, read_meta(recording), sync_interval_s=config.sync_interval_s)
    if node.config != node_config:
        peers = {*node.config.peers, *node_config.peers}
        changed = [p for p in peers if node_config.export_policy(p) != node.config.export_policy(p)]
        try:
            node.reconfigure(node_config, resumed.last.time_s if resumed.last is not None else 0.0)
        except ValueError as exc:
            problem = f"{exc} (--on-config-change new-recording)"
            raise ConfigError(str(config.out), "on_config_change", problem) from None
        if unsent.withhold(changed):
            log.warning("%s: %d undelivered batches under a changed policy withheld", config.partner, unsent.withheld)
    if unsent.dropped:
        log.warning("%s: %d undelivered track batches over the cap dropped", config.partner, unsent.dropped)
    restart = {
        "from_checkpoint_seq": None if resumed.checkpoint is None else resumed.checkpoint.seq,
        "replayed_ticks": resumed.replayed_ticks,
        "seconds": round(time.monotonic() - started, 3),
        "resent_batches": len(unsent.batches),
        "resend_dropped": unsent.dropped,
        "resend_withheld": unsent.withheld,
    }
    return node, resumed.last, resumed.ticks, restart, unsent


def _fresh(
    config: LiveNodeConfig, node_config: NodeConfig, alerts: _AlertLog, tracks: _TracksLog
) -> tuple[Node, TickOutput | None, int, dict[str, Any], _Unsent]:
    """A new node with a new recording and new output files."""
    alerts.start(0)
    tracks.start({})
    node = Node(node_config, recording=config.out / "recording", sync_interval_s=config.sync_interval_s)
    return node, None, 0, {"from_checkpoint_seq": None, "replayed_ticks": 0, "seconds": 0.0}, _Unsent()


def _publish(
    transport: NatsTransport | None, batches: Iterable[tuple[str, bytes]], heartbeat: bytes | None = None
) -> None:
    """Queue track batches (peer, payload) and a heartbeat, numbered as the node numbered them (stand-alone:
    nothing).

    Never waits for the coalition servers: the transport publishes in the background and keeps
    what it cannot deliver yet (hub down, receiver not connected) in a bounded outbox.
    """
    if transport is None:
        return
    for peer, payload in batches:
        sent = decode(payload)
        if peer in transport.receivers:
            transport.send("tracks", payload, receiver=peer, seq=sent.seq, sent_s=sent.sent_s)
    if heartbeat is not None:
        beat = decode(heartbeat)
        transport.send("heartbeat", heartbeat, seq=beat.seq, sent_s=beat.sent_s)


def _fused_by_owner(partner: str, result: TickOutput) -> dict[str, int]:
    """How many system tracks each partner (own and peers) contributes to (for watching a peer's tracks age out)."""
    owners = [partner, *result.partners]
    return {owner: int(result.fused.fed_by(owner).sum()) for owner in owners}


class _AlertLog:
    """`out/alerts.jsonl`, written as alerts happen; on a restart cut back to the checkpoint's size and written on."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def start(self, keep_bytes: int) -> None:
        """Open the file, keeping its first `keep_bytes` (0: a new file)."""
        self.file = open_cut_back(self.path, keep_bytes)

    def write(self, result: TickOutput) -> None:
        """One tick's alert events (raised, acknowledged, cleared), flushed at once."""
        if result.assessment.events:
            self.file.write(alert_lines(result.assessment.events).encode())
            self.file.flush()

    def sync(self) -> int:
        """Force it to the disk; returns its size."""
        os.fsync(self.file.fileno())
        return self.file.tell()

    def close(self) -> None:
        """Close the file."""
        self.file.close()


class _TracksLog:
    """`out/local_tracks.csv` and `out/fused_tracks.csv`, appended tick by tick (cut back to a checkpoint)."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def start(self, sizes: dict[str, int]) -> None:
        """Open both files, keeping the sizes a checkpoint noted (none: new files)."""
        self.local = TracksCsvWriter(self.out / "local_tracks.csv", sizes.get("local_tracks", 0))
        self.fused = TracksCsvWriter(self.out / "fused_tracks.csv", sizes.get("fused_tracks", 0))

    def write(self, local: Tracks, fused: Tracks) -> None:
        """One tick's local and fused pictures (the fused one in the `tracks.csv` view)."""
        self.local.write(local)
        self.fused.write(fused)

    def sync(self) -> dict[str, int]:
        """Force both to the disk; returns their sizes."""
        self.local.sync()
        self.fused.sync()
        return {"local_tracks": self.local.size, "fused_tracks": self.fused.size}

    def close(self) -> None:
        """Close both files."""
        self.local.close()
        self.fused.close()


class _TimingLog:
    """Appends the wall-clock facts the latency benchmark needs, one JSON object a line."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")

    def tick(
        self, sim_s: float, plot_release: np.ndarray, sent: dict[str, int], partner: str, result: TickOutput
    ) -> None:
        """A tick done now: the release times of the plots it processed, the batches it sent, partner status."""
        record = {"event": "tick", "wall": time.time(), "sim": sim_s, "plots": np.round(plot_release, 4).tolist()}
        record |= {"sent": sent, "partners": result.partners, "fused_by_owner": _fused_by_owner(partner, result)}
        self.file.write(json.dumps(record) + "\n")

    def fused(self, sim_s: float, batches: list[tuple[str, int]]) -> None:
        """A fusion done now that took in these partners' batches (sender, seq)."""
        self.file.write(json.dumps({"event": "fused", "wall": time.time(), "sim": sim_s, "batches": batches}) + "\n")

    def close(self) -> None:
        """Flush and close."""
        self.file.close()


@dataclass
class LiveHooks:
    """What an embedding adds to a live node (e.g. the operator display, `commonsky.web.live`).

    `on_start(node)` runs once the node exists (inside the event loop: it may start tasks),
    `on_tick(node, result)` after every tick, `on_stop()` (awaited) when the node stops. The node
    is only touched while `lock` is held, so another thread (a web request) may act on it too.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    on_start: Callable[[Node], None] | None = None
    on_tick: Callable[[Node, TickOutput], None] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None
    link: Callable[[], dict[str, Any] | None] = lambda: None
    """The coalition link's status now (`NatsTransport.status`), None for a stand-alone node; set by the node."""
    inputs: Callable[[], list[dict[str, Any]]] = list
    """The live inputs' status now (`FeedInput.status`: state, reason when failed, sensor); set by the node."""


async def run_live_node(
    config: LiveNodeConfig,
    creds: Path | None,
    url: str | None = None,
    progress: Callable[[float], None] | None = None,
    hooks: LiveHooks | None = None,
) -> dict[str, Any]:
    """Run one partner's node to the end of its run, over NATS (`creds`) or stand-alone (None); returns a summary."""
    hooks = hooks or LiveHooks()
    inputs = [live_input(url) for url in config.inputs]
    setup = node_setup(config, inputs)
    # Separate processes pace themselves: a peer's batch may be stamped up to a tick ahead of us.
    node_config = replace(setup.node_config, clock_tolerance_s=PACING_TOLERANCE_S)
    all_peers = node_config.peers

    def reachable(now_s: float) -> tuple[str, ...]:
        """The peers whose link to us is up at `now_s` (scenario link outages are played for real)."""
        cut = {peer for peer, lo, hi in setup.outages if lo <= now_s < hi}
        return tuple(p for p in all_peers if p not in cut)

    feeds = [FeedInput(spec, as_live=True) for spec in inputs]
    pictures = [PictureOutput(OutputSpec.parse(url)) for url in config.outputs]
    plots = setup.plots
    alerts = _AlertLog(config.out / "alerts.jsonl")
    tracks_out = _TracksLog(config.out)
    node, last, ticks, restart, unsent = _resume(config, node_config, alerts, tracks_out)
    epoch = _pacing_epoch(config)
    # Live feeds run on the wall clock (UTC); a simulated scenario on its own time, paced from the epoch.
    start = epoch if setup.start_time_s is None else setup.start_time_s
    speed = 1.0 if setup.start_time_s is None else config.speed
    end = start + (config.duration_s or setup.duration_s)
    tick_times = start + config.tick_s * np.arange(1, int(np.ceil((end - start) / config.tick_s - 1e-9)) + 1)
    done = float(last.time_s) if last is not None else start
    last_checkpoint_s = done
    now_sim = start + (time.time() - epoch) * speed
    # Resume at the pacing clock's present: ticks (and plots) that fell in the downtime are skipped.
    first = int(np.searchsorted(tick_times, max(done, now_sim - config.tick_s), side="right"))
    previous = float(tick_times[first - 1]) if first > 0 else start
    plots_missed = int(((plots.time_s >= done) & (plots.time_s < previous)).sum())
    timing = _TimingLog(config.out / "timing.jsonl")

    def pace() -> float:
        """The simulated time the pacing clock shows now."""
        return start + (time.time() - epoch) * speed

    transport = None if creds is None else await NatsTransport.open(_credentials(creds, url), ack_wait_s=ACK_WAIT_S)
    hooks.link = (lambda: None) if transport is None else (lambda: transport.status().to_dict())
    tick_costs: list[float] = []

    def summary() -> dict[str, Any]:
        """What status.json says: counters, inputs, outputs, partners and the coalition link."""
        return {
            "partner": config.partner,
            "ticks": ticks,
            "last_tick_s": float(last.time_s) if last is not None else None,
            "plots_missed": plots_missed,
            "messages_in": node.counters.messages_in,
            "messages_bad": node.counters.messages_bad,
            "messages_duplicate": node.counters.messages_duplicate,
            "rows_imported": node.counters.rows_imported,
            "rows_exported": node.counters.rows_exported,
            "tick_p99_ms": float(np.percentile(tick_costs, 99) * 1000.0) if tick_costs else None,
            "inputs": [feed.status() for feed in feeds],
            "outputs": [picture.status() for picture in pictures],
            "partners": last.partners if last is not None else {},
            "link": hooks.link(),
            "restart": restart,
        }

    status_written = 0.0
    intake: asyncio.Queue[Plots | TrackReports] = asyncio.Queue()
    readers = [asyncio.create_task(feed.run(intake)) for feed in feeds]
    hooks.inputs = lambda: [feed.status() for feed in feeds]
    for picture in pictures:
        await picture.start()
    if hooks.on_start is not None:
        hooks.on_start(node)
    try:
        if last is not None:
            # The process may have died before its link delivered what it recorded: send every batch the last
            # checkpoint held undelivered and every tick's since (the same message ids, so JetStream stores
            # each once; the receiver drops what it applied already), and the last heartbeat.
            _publish(transport, unsent.batches, last.heartbeat)
        del unsent
        for k in range(first, len(tick_times)):
            now = float(tick_times[k])
            deadline = epoch + (now - start) / speed
            while (remaining := deadline - time.time()) > 0:
                up = reachable(pace())
                wait = min(remaining, FETCH_TIMEOUT_S)
                await _receive(transport, node, hooks.lock, timing, up, pace, (previous, now), wait)
            # Messages that came while ticks ran late are taken in by this tick's fusion.
            await _receive(transport, node, hooks.lock, timing, reachable(now), pace, (previous, now), 0.0)
            if setup.start_time_s is None:
                tick_plots, tick_sources = _drain(intake)
                release = np.full(len(tick_plots), time.time())
            else:
                tick_plots = plots.take((plots.time_s >= previous) & (plots.time_s < now))
                tick_sources = TrackReports.empty()
                release = epoch + (tick_plots.time_s - start) / speed
            tick_started = time.monotonic()
            with hooks.lock:
                node.receive_plots(tick_plots, now)
                if len(tick_sources):
                    node.receive_tracks(tick_sources, now)
                result = node.tick(now)
            if hooks.on_tick is not None:
                hooks.on_tick(node, result)
            _publish(transport, result.outgoing.items(), result.heartbeat)
            fused = result.fused.as_tracks()
            if pictures:
                heard = node.assessment.sensor_last_plot_s
                last_plot = {s.id: heard.get(s.id) for s in node.config.sensors}
                for picture in pictures:
                    picture.send(fused, now, last_plot)
            tick_costs.append(time.monotonic() - tick_started)
            timing.tick(
                now, release, {peer: node.sequence[peer] for peer in result.outgoing}, node.config.partner, result
            )
            alerts.write(result)
            tracks_out.write(result.local, fused)
            last, ticks = result, ticks + 1
            previous = now
            if now - last_checkpoint_s >= config.checkpoint_s:
                with hooks.lock:
                    undelivered = transport.unsent("tracks") if transport is not None else []
                    _checkpoint(config, node, last, ticks, alerts, tracks_out, undelivered)
                last_checkpoint_s = now
            if progress is not None:
                progress((k + 1) / len(tick_times))
            if time.monotonic() - status_written >= 1.0:
                _write_status(config.out, summary())
                status_written = time.monotonic()
        if transport is not None:  # the last ticks' batches, if the link lets them go within a few seconds
            await transport.drain_outbox(timeout_s=5.0)
    finally:
        if hooks.on_stop is not None:
            await hooks.on_stop()
        for reader in readers:
            reader.cancel()
        for picture in pictures:
            await picture.close()
        if transport is not None:
            at_stop = transport.status().to_dict()  # status.json's last word: the link as it was, not closed
            hooks.link = lambda: at_stop
            await transport.close()
        node.close()
        timing.close()
        alerts.close()
        tracks_out.close()
    final = summary()
    _write_status(config.out, final)
    return final


def _checkpoint(
    config: LiveNodeConfig,
    node: Node,
    last: TickOutput,
    ticks: int,
    alerts: _AlertLog,
    tracks: _TracksLog,
    undelivered: Sequence[tuple[str, bytes]],
) -> None:
    """Save the node's state after its last recorded event, with its output files' sizes then and the track
    batches its link has not delivered yet, start a new segment, and drop what the retention setting no longer
    keeps."""
    recorder = node.recorder
    if recorder is None:
        return
    sizes = {"alerts": alerts.sync(), **tracks.sync()}
    seq = recorder.seq
    segment = recorder.rotate()
    recording = recorder.directory
    state = checkpoint_state(node, last, ticks, undelivered)
    write_checkpoint(recording, state, seq, segment, last.time_s, {"sizes": sizes})
    if config.retain_s is not None or config.retain_bytes is not None:
        dropped = prune(recording, keep_s=config.retain_s, keep_bytes=config.retain_bytes)
        if dropped:
            log.info("%s: retention dropped %d old recording files", config.partner, len(dropped))


def _credentials(path: Path, url: str | None) -> Credentials:
    """The node's creds file, its server list replaced by `url` when one is given (`--nats`)."""
    creds = Credentials.read(path)
    return replace(creds, urls=(url,)) if url else creds


def _write_status(out: Path, status: dict[str, Any]) -> None:
    """status.json, replaced whole so a reader sees the old one or the new one (not forced to the disk: it is
    rewritten every second)."""
    write_atomically(out / "status.json", (json.dumps(status, indent=2) + "\n").encode(), durable=False)


def _drain(intake: asyncio.Queue[Plots | TrackReports]) -> tuple[Plots, TrackReports]:
    """Every plot batch the feeds queued since the last tick, as one batch in time order; and the track sources'
    reports."""
    plots: list[Plots] = []
    reports: list[TrackReports] = []
    while not intake.empty():
        batch = intake.get_nowait()
        if isinstance(batch, Plots):
            plots.append(batch)
        else:
            reports.append(batch)
    return Plots.concat(plots).sorted_by_time(), TrackReports.concat(reports)


async def _receive(
    transport: NatsTransport | None,
    node: Node,
    lock: threading.Lock,
    timing: _TimingLog,
    peers: tuple[str, ...],
    pace: Callable[[], float],
    window: tuple[float, float],
    timeout_s: float,
) -> None:
    """Wait up to `timeout_s` for the messages of every reachable peer at once; fuse partner batches on arrival.

    The fusion time is the pacing clock's, kept inside `window` (last tick, next tick) so the
    node's time never runs backwards when ticks run late.
    """
    peers = tuple(p for p in peers if transport is not None and p in transport.senders)
    if not peers or transport is None:
        await asyncio.sleep(timeout_s)
        return
    if timeout_s > 0.011:
        fetched = await asyncio.gather(*(transport.fetch(p, batch=1000, timeout_s=timeout_s) for p in peers))
    else:
        fetched = [await transport.fetch(p, batch=1000, timeout_s=0.012) for p in peers]
    messages = [m for batch in fetched for m in batch]
    if not messages:
        return
    now = min(max(pace(), window[0]), window[1])
    batches = [(m.sender, m.seq) for m in messages if m.KIND == "tracks"]
    with lock:
        for message in messages:
            node.receive_message(encode(message), now)
        if batches:
            node.fuse(now)
    if batches:
        timing.fused(now, batches)
    if node.recorder is not None:
        node.recorder.sync()  # on the disk before the sender's server forgets them
    await transport.ack(messages)
