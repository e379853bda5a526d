"""One partner per process over NATS JetStream (`commonsky node`): the same `Node`, real transport.

The node's own plots come from its sensors in a scenario (every partner simulates the same
scenario and seed, and keeps only its own sensors' plots), paced against the wall clock at
`speed` simulated seconds per second. Each second it takes its plots, fetches what each peer
sent on its durable consumer, hands the messages to the node (which records them first), acks
them, ticks, and publishes its track batches and heartbeat. A restarted process replays its
recording to rebuild the node, then continues; its durable consumers deliver whatever it had not
acked, and the node's sequence-number check drops anything it had already applied.

Node config (TOML): `partner`, `scenario` (path, relative to the config file), optional `seed`,
`speed` (default 1.0), `duration_s` (default: the scenario's), `out` (directory for the recording,
`local_tracks.csv`, `fused_tracks.csv` and `status.json`; relative to the config file).
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from commonsky.core.batches import Tracks
from commonsky.core.errors import ConfigError
from commonsky.formats import write_tracks
from commonsky.fusion import SystemTracks
from commonsky.network.node import Node, TickOutput, node_meta
from commonsky.network.runner import node_configs
from commonsky.network.transport.messages import decode, encode
from commonsky.network.transport.nats import NatsTransport
from commonsky.sim import load_scenario, simulate
from commonsky.store import Recorder, plots_from_bytes, read_events

PACING_TOLERANCE_S = 2.0
"""Simulated seconds by which peers' clocks may run ahead of ours (each process paces itself)."""
FETCH_TIMEOUT_S = 0.02
ACK_WAIT_S = 2.0
"""A fetched message not acked this long (its node died) is delivered again: a restarted node gets it."""
"""How long one fetch waits for a peer's messages: short, the node must keep its pace."""


@dataclass(frozen=True)
class LiveNodeConfig:
    """A `commonsky node` configuration, validated once."""

    partner: str
    scenario: Path
    out: Path
    seed: int | None = None
    speed: float = 1.0
    duration_s: float | None = None

    @classmethod
    def load(cls, path: str | Path) -> LiveNodeConfig:
        """Read a node config TOML; errors name the file and the key."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(p), "(file)", f"cannot read: {exc}") from None
        allowed = {"partner", "scenario", "out", "seed", "speed", "duration_s"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(str(p), unknown[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")
        for key in ("partner", "scenario", "out"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ConfigError(str(p), key, "required text")
        speed = data.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or speed <= 0:
            raise ConfigError(str(p), "speed", f"expected a positive number, got {speed!r}")
        return cls(
            partner=data["partner"],
            scenario=(p.parent / data["scenario"]).resolve(),
            out=(p.parent / data["out"]).resolve(),
            seed=data.get("seed"),
            speed=float(speed),
            duration_s=data.get("duration_s"),
        )


def _resume(recording: Path) -> tuple[Node | None, list[TickOutput]]:
    """A node rebuilt by replaying an earlier run's recording, then recording again (None if none)."""
    if not (recording / "meta.json").exists():
        return None, []
    node = Node(node_meta(recording))
    outputs: list[TickOutput] = []
    for event in read_events(recording):
        if event.kind == "plots":
            node.receive_plots(plots_from_bytes(event.payload), event.time_s)
        elif event.kind == "message":
            node.receive_message(event.payload, event.time_s)
        elif event.kind == "tick":
            outputs.append(node.tick(event.time_s))
    node.recorder = Recorder(recording, node.config.to_json())
    return node, outputs


async def _publish(transport: NatsTransport, node: Node, result: TickOutput) -> None:
    """Send one tick's track batches and heartbeat, numbered as the node numbered them."""
    for peer, payload in result.outgoing.items():
        sent = decode(payload)
        await transport.publish_encoded("tracks", payload, receiver=peer, seq=sent.seq, sent_s=sent.sent_s)
    beat = decode(result.heartbeat)
    await transport.publish_encoded("heartbeat", result.heartbeat, seq=beat.seq, sent_s=beat.sent_s)


async def run_live_node(
    config: LiveNodeConfig,
    creds: Path,
    url: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Run one partner's node against a NATS server until the scenario ends; returns a status summary."""
    scenario = load_scenario(config.scenario)
    simulation = simulate(scenario, seed=config.seed)
    node_config = next((c for c in node_configs(scenario, simulation) if c.partner == config.partner), None)
    if node_config is None:
        raise ConfigError(str(config.scenario), "partners", f"no partner {config.partner!r} in the scenario")
    # Separate processes pace themselves: a peer's batch may be stamped up to a tick ahead of us.
    node_config = replace(node_config, clock_tolerance_s=PACING_TOLERANCE_S)
    own = {s.id for s in simulation.sensors if s.partner == config.partner}
    plots = simulation.plots.take(np.isin(simulation.plots.sensor_id, list(own)))
    recording = config.out / "recording"
    node, outputs = _resume(recording)
    if node is None:
        node = Node(node_config, recording=recording)
    done_ticks = len(outputs)
    duration = config.duration_s or scenario.duration_s
    steps = int(np.ceil(duration))
    start = scenario.start_time_s
    transport = await NatsTransport.from_creds(creds, url=url, ack_wait_s=ACK_WAIT_S)
    latencies: list[float] = []
    try:
        if outputs:
            # The process may have died between recording its last tick and publishing it: publish
            # that tick again (same message ids, so JetStream stores each message once).
            await _publish(transport, node, outputs[-1])
        wall0 = time.monotonic() - done_ticks / config.speed
        for k in range(done_ticks, steps):
            await asyncio.sleep(max(0.0, wall0 + (k + 1) / config.speed - time.monotonic()))
            now = start + k + 1.0
            node.receive_plots(plots.take((plots.time_s >= now - 1.0) & (plots.time_s < now)), now)
            for peer in node_config.peers:
                messages = await transport.fetch(peer, batch=1000, timeout_s=FETCH_TIMEOUT_S)
                for message in messages:
                    node.receive_message(encode(message), now)
                await transport.ack(messages)
            tick_started = time.monotonic()
            result = node.tick(now)
            await _publish(transport, node, result)
            latencies.append(time.monotonic() - tick_started)
            outputs.append(result)
            if progress is not None:
                progress((k + 1) / steps)
    finally:
        await transport.close()
        node.close()
    summary = {
        "partner": config.partner,
        "ticks": len(outputs),
        "messages_in": node.counters.messages_in,
        "messages_bad": node.counters.messages_bad,
        "messages_duplicate": node.counters.messages_duplicate,
        "rows_imported": node.counters.rows_imported,
        "rows_exported": node.counters.rows_exported,
        "tick_p99_ms": float(np.percentile(latencies, 99) * 1000.0) if latencies else None,
        "partners": outputs[-1].partners if outputs else {},
    }
    write_tracks(Tracks.concat([o.local for o in outputs]), config.out / "local_tracks.csv")
    write_tracks(SystemTracks.concat([o.fused for o in outputs]).as_tracks(), config.out / "fused_tracks.csv")
    (config.out / "status.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
