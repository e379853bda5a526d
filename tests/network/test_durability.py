"""Long-running operation: nothing acknowledged is lost to a host crash, restarts come back from checkpoints bit
for bit and in bounded time, retention bounds the recording, and a changed configuration is never ignored."""

from __future__ import annotations

import asyncio
import os
import random
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commonsky.assess import AlertError
from commonsky.core.errors import ConfigError
from commonsky.network import node as node_module
from commonsky.network.live import LiveNodeConfig, _receive, _TimingLog, run_live_node
from commonsky.network.node import Node, TickOutput, node_meta, rebuild, resume
from commonsky.network.transport.messages import decode, encode_heartbeat
from commonsky.store import checkpoints, read_events, segments, write_atomically
from commonsky.store import recording as store

BORDER = Path(__file__).resolve().parents[2] / "examples" / "border3.toml"


# ---------- acknowledged means on the disk ----------


class FakeLink:
    """What `_receive` needs of the NATS transport: partner messages to fetch, and the acknowledgements it sends."""

    def __init__(self, sender: str, count: int) -> None:
        self.senders = (sender,)
        self.pending = [
            decode(encode_heartbeat(sender, k, 1000.0 + k, "up", 1, 1000.0 + k)) for k in range(1, count + 1)
        ]
        self.acked: list[int] = []

    async def fetch(self, sender: str, batch: int, timeout_s: float) -> list[Any]:
        taken, self.pending = self.pending[:3], self.pending[3:]
        return taken

    async def ack(self, messages: list[Any]) -> None:
        self.acked.extend(m.seq for m in messages)


def _crash_run(
    tmp_path: Path, seed: int, sync_before_ack: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[set[int], set[int]]:
    """Receive partner messages until a crash at a random point; the crash loses what was not yet on the disk
    (the segment is cut back to its size at the last fsync). Returns (acknowledged, in the recording)."""
    real_fsync = os.fsync
    on_disk: dict[int, int] = {}

    def fsync(fd: int) -> None:  # what reached the disk, per file
        real_fsync(fd)
        on_disk[os.fstat(fd).st_ino] = os.fstat(fd).st_size

    monkeypatch.setattr(store.os, "fsync", fsync)
    recording = tmp_path / f"recording-{seed}-{sync_before_ack}"
    node = Node(node_meta_for_test(), recording=recording, sync_interval_s=3600.0)  # no periodic sync: acks only
    assert node.recorder is not None
    if not sync_before_ack:
        monkeypatch.setattr(node.recorder, "sync", lambda: None)
    link = FakeLink("east", 60)
    timing = _TimingLog(tmp_path / f"timing-{seed}.jsonl")
    crash_after = random.Random(seed).randrange(1, 20)
    for _ in range(crash_after):
        received = _receive(link, node, threading.Lock(), timing, ("east",), lambda: 1000.0, (999.0, 1001.0), 0.0)  # type: ignore[arg-type]
        asyncio.run(received)
        node.recorder.append("tick", 1000.0)  # unsynced work after the ack, lost in the crash
    path = node.recorder.path
    size = on_disk.get(path.stat().st_ino, 0)
    with path.open("r+b") as torn:  # the host dies: what the disk had not got is gone
        torn.truncate(size)
    recorded = {decode(e.payload).seq for e in read_events(recording) if e.kind == "message"}
    return set(link.acked), recorded


def node_meta_for_test() -> Any:
    """north's node configuration in border3."""
    from commonsky.network.runner import node_configs
    from commonsky.sim import load_scenario, simulate

    scenario = load_scenario(BORDER)
    return next(c for c in node_configs(scenario, simulate(scenario, seed=1)) if c.partner == "north")


@pytest.mark.parametrize("seed", range(5))
def test_nothing_acknowledged_is_lost_when_the_host_dies(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked, recorded = _crash_run(tmp_path, seed, sync_before_ack=True, monkeypatch=monkeypatch)
    assert acked and acked <= recorded
    with monkeypatch.context() as m:  # the crash model does bite: acknowledging before the sync loses messages
        acked, recorded = _crash_run(tmp_path, seed, sync_before_ack=False, monkeypatch=m)
        assert acked - recorded


def test_an_operator_action_is_on_the_disk_before_it_is_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node(node_meta_for_test(), recording=tmp_path / "recording", sync_interval_s=3600.0)
    assert node.recorder is not None
    with pytest.raises(AlertError):  # refused (no such alert), but recorded and synced first
        node.act({"action": "acknowledge", "alert_id": 99, "user": "ops"}, 1000.0)
    assert node.recorder.synced_seq == node.recorder.seq == 1


def test_metadata_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


# ---------- checkpoints, retention, configuration ----------


def _scenario(tmp_path: Path) -> Path:
    zones = BORDER.parent / "border3_zones.geojson"
    text = BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    text = text.replace("duration_s = 600", "duration_s = 120").replace("count = 50", "count = 20")
    text = re.sub(r"\[\[events\]\][^\[]*", "", text)  # a quiet short run
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def _live(tmp_path: Path, duration_s: float, **extra: Any) -> LiveNodeConfig:
    """A stand-alone north node over border3, fast, checkpointing every 10 simulated seconds."""
    lines = [
        'partner = "north"',
        'scenario = "scenario.toml"',
        'out = "out"',
        "speed = 40",
        "tick_s = 1.0",
        f"duration_s = {duration_s}",
        "checkpoint_s = 10",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in extra.items()),
    ]
    if not (tmp_path / "scenario.toml").exists():
        _scenario(tmp_path)
    (tmp_path / "north.toml").write_text("\n".join(lines) + "\n")
    return LiveNodeConfig.load(tmp_path / "north.toml")


def _same(a: TickOutput, b: TickOutput) -> None:
    assert a.time_s == b.time_s
    for name in ("lat_deg", "lon_deg", "alt_m", "v_east_mps", "cov_ee", "system_id"):
        np.testing.assert_array_equal(getattr(a.fused, name), getattr(b.fused, name))
    np.testing.assert_array_equal(a.local.lat_deg, b.local.lat_deg)
    assert list(a.assessment.identity) == list(b.assessment.identity)


def test_restart_from_any_checkpoint_reproduces_the_whole_replay_bit_for_bit(tmp_path: Path) -> None:
    asyncio.run(run_live_node(_live(tmp_path, 60), None))
    recording = tmp_path / "out" / "recording"
    saved = checkpoints(recording)
    assert len(saved) >= 4 and len(segments(recording)) == len(saved) + 1
    _, full = rebuild(recording)
    by_time = {o.time_s: o for o in full}
    for k in range(len(saved)):
        for newer in saved[k + 1 :]:  # as if the node had died right after checkpoint k
            newer.path.rename(newer.path.with_suffix(".aside"))
        seen: list[TickOutput] = []
        resumed = resume(recording, on_output=seen.append)
        assert resumed.checkpoint is not None and resumed.checkpoint.seq == saved[k].seq
        assert resumed.ticks == len(full) and all(o.time_s > saved[k].time_s for o in seen)
        assert [o.time_s for o in seen] == [o.time_s for o in full if o.time_s > saved[k].time_s]
        for out in seen:
            _same(out, by_time[out.time_s])
        assert resumed.last is not None
        _same(resumed.last, full[-1])
        for newer in saved[k + 1 :]:
            newer.path.with_suffix(".aside").rename(newer.path)


def test_restart_reads_only_what_came_after_its_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(run_live_node(_live(tmp_path, 60), None))
    recording = tmp_path / "out" / "recording"
    read: list[str] = []
    real = store._segment_events
    monkeypatch.setattr(store, "_segment_events", lambda path: (read.append(path.name), real(path))[1])
    resumed = resume(recording)
    assert read == [p.name for p in segments(recording)[-1:]]  # the newest segment alone
    assert resumed.replayed_ticks < 10


def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path: Path) -> None:
    asyncio.run(run_live_node(_live(tmp_path, 40), None))
    recording = tmp_path / "out" / "recording"
    newest = checkpoints(recording)[-1]
    data = bytearray(newest.path.read_bytes())
    data[-10] ^= 0xFF
    newest.path.write_bytes(bytes(data))
    resumed = resume(recording)
    assert resumed.checkpoint is not None and resumed.checkpoint.seq < newest.seq
    _same(resumed.last, rebuild(recording)[1][-1])  # type: ignore[arg-type]


def test_checkpoints_of_another_state_format_are_passed_over_for_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an upgrade that changes the node's state, its old checkpoints are not restored into the new code."""
    monkeypatch.setattr(node_module, "CHECKPOINT_FORMAT", node_module.CHECKPOINT_FORMAT - 1)  # an older release
    asyncio.run(run_live_node(_live(tmp_path, 40), None))
    monkeypatch.undo()
    recording = tmp_path / "out" / "recording"
    assert len(checkpoints(recording)) >= 2
    resumed = resume(recording)
    assert resumed.checkpoint is None  # every event replayed by the current code
    _same(resumed.last, rebuild(recording)[1][-1])  # type: ignore[arg-type]


def test_retention_keeps_the_recording_bounded_and_restartable(tmp_path: Path) -> None:
    asyncio.run(run_live_node(_live(tmp_path, 90, retain_s=20.0), None))
    recording = tmp_path / "out" / "recording"
    saved = checkpoints(recording)
    assert saved[-1].time_s - saved[0].time_s <= 20.0
    assert segments(recording)[0].name != "inputs-000001.arrows"  # the oldest segments are gone
    resumed = resume(recording)
    assert resumed.last is not None and resumed.last.time_s == 1780000000 + 90
    _, outputs = rebuild(recording)  # `commonsky replay` and the display's review start at the oldest kept
    assert outputs[0].time_s > saved[0].time_s
    _same(outputs[-1], resumed.last)
    config = _live(tmp_path, 100, retain_s=20.0)  # and it goes on from there after a restart
    status = asyncio.run(run_live_node(config, None))
    assert status["restart"]["from_checkpoint_seq"] == saved[-1].seq


def _narrowed(tmp_path: Path) -> None:
    """border3 with north's policy towards east revoked (east gets nothing from now on)."""
    path = tmp_path / "scenario.toml"
    text = path.read_text()
    start = text.index('from = "north"\nto = "east"')
    head = text.rindex("[[sharing]]", 0, start)
    end = text.find("\n[[", start)
    path.write_text(text[:head] + (text[end:] if end != -1 else ""))


def test_a_changed_configuration_is_refused_applied_or_starts_a_new_recording(tmp_path: Path) -> None:
    asyncio.run(run_live_node(_live(tmp_path, 35), None))  # 5 ticks after the last checkpoint, to send again
    recording = tmp_path / "out" / "recording"
    _narrowed(tmp_path)
    with pytest.raises(ConfigError, match="on-config-change"):
        asyncio.run(run_live_node(_live(tmp_path, 40), None))

    status = asyncio.run(run_live_node(_live(tmp_path, 40, on_config_change="apply"), None))
    # The undelivered batches made under the old policy are not sent again to east, only to west.
    assert status["restart"]["resend_withheld"] == 5 and status["restart"]["resent_batches"] == 5
    events = list(read_events(recording))
    (change,) = [e for e in events if e.kind == "config"]
    node = Node(node_meta(recording))
    exported_after = 0
    for event in events:
        result = node.apply(event.kind, event.time_s, event.payload)
        if result is not None and event.seq > change.seq:
            exported_after += "east" in result.outgoing
    assert exported_after == 0  # nothing more went to east under the revoked policy
    assert node.config.export_policy("east").everywhere is False and not node.config.export_policy("east").areas

    _scenario(tmp_path)  # the policy agreed again: a new recording, the narrowed one set aside whole
    asyncio.run(run_live_node(_live(tmp_path, 20, on_config_change="new-recording"), None))
    (aside,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("recording-")]
    assert any(e.kind == "config" for e in read_events(aside))
    assert not any(e.kind == "config" for e in read_events(recording))
    assert node_meta(recording).export_policy("east").areas is not None
