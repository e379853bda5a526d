"""Password guessing against the display: does a viewer's `/api/tracks` stay fast while a botnet sprays sign-ins?

The display (2,000 moving tracks, demo accounts) runs in a process of its own behind uvicorn, as
deployed behind a reverse proxy, so an attacker's `X-Forwarded-For` picks any client address: the
hardest case, a password spray from 4,096 addresses over rotating account names, which the per-client
and per-name back-off cannot slow. Only the bounded argon2 pool (`commonsky.web.auth.HashGate`) stands
between the spray and the API. An attacker process sends wrong passwords from `ATTACKERS` threads as
fast as it is answered while one signed-in viewer asks for `/api/tracks` back to back.

Phases, each `PHASE_S` long, all in one run: "quiet", the viewer alone; "spray", against the display as built;
"spray, unbounded peer", the same against a peer with no throttle and a pool as wide as the API's thread
pool (40, so argon2 competes with the API's threads: the display before issue 11); "one address", a
guesser of the operator account from one address against the display as built (the back-off stops it
after the free attempts). In each phase an operator also signs in while it lasts ("sign-in s").

Run: `python -m benchmarks --only display_guessing [--quick]` or `python -m benchmarks.display_guessing`.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import recorded, standalone

NAME = "display_guessing"
AIRCRAFT = 2_000
ATTACKERS = 16
PHASE_S = 15.0
PHASE_QUICK_S = 5.0
SEED = 20261207


def _serve(port: int, defended: bool, started: Any) -> None:
    """The display in this (spawned) process: demo accounts, `AIRCRAFT` tracks, behind a trusted local proxy."""
    import uvicorn
    from tests.web.hand_fed import HandFedNode

    from benchmarks.web_load import T0, Traffic
    from commonsky.web.app import create_app
    from commonsky.web.auth import DEMO_USERS, Backoff, HashGate, LoginThrottle, load_users

    node = HandFedNode("north")
    node.push(T0, Traffic(AIRCRAFT, np.random.default_rng(SEED)).at(0.0))
    if defended:
        throttle, gate = None, None
    else:
        unlimited = Backoff(free=1 << 30, max_s=0.0)
        throttle = LoginThrottle(pair=unlimited, client=unlimited, name=unlimited)
        gate = HashGate(workers=40, max_waiting=1 << 30)
    app = create_app(node.feed, load_users(DEMO_USERS), throttle=throttle, hash_gate=gate)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", proxy_headers=True, forwarded_allow_ips="127.0.0.1"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=_tell_started, args=(server, started), daemon=True).start()
    server.run()


def _tell_started(server: Any, started: Any) -> None:
    """Set `started` once uvicorn listens."""
    while not server.started:
        time.sleep(0.05)
    started.set()


def _attack(port: int, spray: bool, stop: Any, counts: Any) -> None:
    """Wrong passwords from `ATTACKERS` threads until `stop`; counts[status] += 1 per answer."""

    def worker(k: int) -> None:
        rng = np.random.default_rng(SEED + k)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while not stop.is_set():
                name = f"user{rng.integers(10**6)}" if spray else "operator"
                address = f"10.{rng.integers(16)}.{rng.integers(16)}.{rng.integers(16)}" if spray else "10.0.0.1"
                try:
                    status = client.post(
                        "/api/login",
                        json={"name": name, "password": "guess"},
                        headers={"X-Forwarded-For": address},
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                with counts.get_lock():
                    counts[min(status // 100, 5)] += 1
                    if status == 429:
                        counts[6] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(ATTACKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _sign_in(client: httpx.Client, name: str) -> tuple[float, int]:
    """Sign in with a demo account, waiting as Retry-After says while busy; (seconds taken, attempts)."""
    started = time.perf_counter()
    for attempt in range(1, 1000):
        response = client.post("/api/login", json={"name": name, "password": f"{name}-demo"})
        if response.status_code != 429:
            response.raise_for_status()
            return time.perf_counter() - started, attempt
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise RuntimeError("never signed in")


def _poll(client: httpx.Client, duration_s: float) -> list[float]:
    """`/api/tracks` latencies (s) of a signed-in viewer asking back to back for `duration_s`."""
    latencies: list[float] = []
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        started = time.perf_counter()
        client.get("/api/tracks").raise_for_status()
        latencies.append(time.perf_counter() - started)
    return latencies


def phase(defended: bool, attack: str | None, duration_s: float) -> dict[str, Any]:
    """One phase: a fresh display process, the viewer for `duration_s`, with `attack` ("spray", "single") or none."""
    from tests.web.conftest import free_port

    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    started, stop = ctx.Event(), ctx.Event()
    counts = ctx.Array("l", 7)
    server = ctx.Process(target=_serve, args=(port, defended, started), daemon=True)
    server.start()
    attacker = None
    try:
        if not started.wait(120):
            raise RuntimeError("the display did not start")
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as viewer,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as latecomer,
        ):
            _sign_in(viewer, "viewer")  # signed in before the attack, as an operator on shift is
            if attack is not None:
                attacker = ctx.Process(target=_attack, args=(port, attack == "spray", stop, counts), daemon=True)
                attacker.start()
                time.sleep(1.0)  # let the attack reach its pace before measuring
            latencies = np.array(_poll(viewer, duration_s))
            sign_in_s, attempts = _sign_in(latecomer, "operator")  # an operator coming on shift during the attack
    finally:
        stop.set()
        if attacker is not None:
            attacker.join(60)
        server.terminate()
        server.join(30)
    total = int(sum(counts[:6]))
    return {
        "defended": defended,
        "attack": attack,
        "viewer_requests": len(latencies),
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "max_ms": float(latencies.max() * 1e3),
        "guesses_answered": total,
        "sign_in_during_s": sign_in_s,
        "sign_in_attempts": attempts,
        "guesses_checked_401": int(counts[4]) - int(counts[6]),
        "guesses_refused_429": int(counts[6]),
    }


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run the phases, print a table and return the figures."""
    console = console or Console()
    duration_s = PHASE_QUICK_S if quick else PHASE_S
    phases = {
        "quiet": phase(True, None, duration_s),
        "spray": phase(True, "spray", duration_s),
        "spray, unbounded peer": phase(False, "spray", duration_s),
        "one address": phase(True, "single", duration_s),
    }
    quiet = phases["quiet"]["p99_ms"]
    table = Table(title=f"/api/tracks of a signed-in viewer ({AIRCRAFT:,} tracks) while {ATTACKERS} threads guess")
    columns = ("phase", "p50 ms", "p99 ms", "p99 / quiet", "viewer req", "guesses hashed", "guesses 429", "sign-in s")
    for col in columns:
        table.add_column(col, justify="right")
    for label, p in phases.items():
        table.add_row(
            label,
            f"{p['p50_ms']:.1f}",
            f"{p['p99_ms']:.1f}",
            f"{p['p99_ms'] / quiet:.2f}",
            f"{p['viewer_requests']:,}",
            f"{p['guesses_checked_401']:,}" if p["attack"] else "—",
            f"{p['guesses_refused_429']:,}" if p["attack"] else "—",
            f"{p['sign_in_during_s']:.2f} ({p['sign_in_attempts']})",
        )
    console.print(table)
    command = f"python -m benchmarks --only {NAME}" + (" --quick" if quick else "")
    console.print(f"[dim]{duration_s:.0f} s a phase; sign-in s: an operator signing in meanwhile (tries); {command}[/]")
    return {"phase_s": duration_s, "aircraft": AIRCRAFT, "attackers": ATTACKERS, "phases": phases}


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, f"{PHASE_QUICK_S:.0f} s phases instead of {PHASE_S:.0f} s")
