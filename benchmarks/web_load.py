"""Web display load: 10,000 moving system tracks streamed to the map page.

Synthetic picture (not the simulator, so the benchmark measures the display alone): 10,000
aircraft in a 400 km radius around 51 N, 10 E at 200-260 m/s in straight flight, 80 % with a
callsign and Mode S address, 2 % primary radar only. A `PictureFeed` gets one fused picture per
second. Server side, per update: the picture build (assessment + columns) and the delta (diff +
JSON encoding) times, the delta's bytes as sent and deflated (what permessage-deflate puts on
the wire). Browser side: Debian chromium (headless, software WebGL via SwiftShader) loads the page
from a live server streaming at 1 Hz and counts requestAnimationFrame callbacks for `FPS_WINDOW_S`.

Run: `python -m benchmarks --only web_load [--quick]` or `python -m benchmarks.web_load [--quick]`.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import zlib
from typing import Any

import msgspec
import numpy as np
from rich.console import Console
from rich.table import Table
from tests.web.chromium import CHROMIUM, launch
from tests.web.hand_fed import HandFedNode

from benchmarks.common import recorded, standalone
from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR
from commonsky.core.geodesy import LocalFrame
from commonsky.fusion import SystemTracks
from commonsky.web.picture import picture_delta

NAME = "web_load"
AIRCRAFT = 10_000
RADIUS_M = 400e3
FRAME = LocalFrame(51.0, 10.0, 0.0)
UPDATES_FULL = 30
UPDATES_QUICK = 8
FPS_WINDOW_S = 10.0
SEED = 20240602
T0 = 1_780_000_000.0


class Traffic:
    """Straight-flying aircraft; `at(t)` is their fused picture t seconds after the start."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        r = RADIUS_M * np.sqrt(rng.uniform(0.0, 1.0, n))
        bearing = rng.uniform(0.0, 2 * np.pi, n)
        self.e0, self.n0 = r * np.sin(bearing), r * np.cos(bearing)
        speed, heading = rng.uniform(200.0, 260.0, n), rng.uniform(0.0, 2 * np.pi, n)
        self.ve, self.vn = speed * np.sin(heading), speed * np.cos(heading)
        self.alt = rng.uniform(3000.0, 12000.0, n)
        cooperative = rng.uniform(size=n) >= 0.02
        self.kinds = np.where(cooperative, SENSOR_SSR | SENSOR_ADSB | SENSOR_PSR, SENSOR_PSR).astype(np.int8)
        named = cooperative & (rng.uniform(size=n) < 0.8)
        self.mode_s = np.where(named, rng.permutation(0xFFFFFF)[:n], -1).astype(np.int32)
        self.squawk = np.where(cooperative, rng.integers(1000, 7000, n), -1).astype(np.int16)
        self.callsign = np.where(named, [f"BEN{i:04d}" for i in range(n)], "")
        owners = np.array(["east", "north", "west"])[rng.integers(0, 3, n)]
        self.responsible = owners
        self.sources = np.char.add(np.char.add(owners, ":"), np.arange(1, n + 1).astype(str))
        self.n = n

    def at(self, t: float) -> SystemTracks:
        """The picture at `t` seconds."""
        lat, lon, _ = FRAME.enu_to_geodetic(self.e0 + self.ve * t, self.n0 + self.vn * t, self.alt)
        n = self.n
        return SystemTracks.build(
            n,
            time_s=np.full(n, T0 + t),
            system_id=np.arange(1, n + 1),
            lat_deg=lat,
            lon_deg=lon,
            alt_m=self.alt,
            v_east_mps=self.ve,
            v_north_mps=self.vn,
            v_up_mps=np.zeros(n),
            var_alt_m2=np.full(n, 400.0),
            cov_ee=np.full(n, 2500.0),
            cov_nn=np.full(n, 2500.0),
            cov_ve_ve=np.full(n, 9.0),
            cov_vn_vn=np.full(n, 9.0),
            status=np.full(n, "confirmed"),
            quality=np.full(n, 0.9),
            sensor_kinds=self.kinds,
            mode_s=self.mode_s,
            squawk=self.squawk,
            callsign=self.callsign,
            responsible=self.responsible,
            n_sources=np.ones(n, dtype=np.int16),
            sources=self.sources,
        )


def measure_server(traffic: Traffic, updates: int) -> dict[str, Any]:
    """Per update: picture build time, delta + encoding time, bytes raw and deflated; plus the snapshot size."""
    node = HandFedNode("north")
    prev = node.push(T0, traffic.at(0.0))
    snapshot = msgspec.json.encode(picture_delta(None, prev))
    build_s, delta_s, raw, deflated = [], [], [], []
    for k in range(1, updates + 1):
        fused = traffic.at(float(k))
        t = time.perf_counter()
        cur = node.push(T0 + k, fused)
        t1 = time.perf_counter()
        message = msgspec.json.encode(picture_delta(prev, cur))
        t2 = time.perf_counter()
        build_s.append(t1 - t)
        delta_s.append(t2 - t1)
        raw.append(len(message))
        deflated.append(len(zlib.compress(message, 6)))
        prev = cur
    return {
        "aircraft": traffic.n,
        "updates": updates,
        "snapshot_bytes": len(snapshot),
        "snapshot_deflated_bytes": len(zlib.compress(snapshot, 6)),
        "delta_bytes_median": statistics.median(raw),
        "delta_deflated_bytes_median": statistics.median(deflated),
        "build_s_median": statistics.median(build_s),
        "delta_s_median": statistics.median(delta_s),
        "server_s_per_update_median": statistics.median(b + d for b, d in zip(build_s, delta_s, strict=True)),
    }


class _Pusher:
    """Pushes the traffic's picture through a node into its feed once a second (a node ticking) until stopped."""

    def __init__(self, node: HandFedNode, traffic: Traffic) -> None:
        self.node, self.traffic = node, traffic
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        while not self.stop.wait(1.0):
            k += 1
            self.node.push(T0 + k, self.traffic.at(float(k)))


def measure_browser(traffic: Traffic, window_s: float) -> dict[str, Any]:
    """Frames per second of the map page while it streams the traffic at 1 Hz (None values without chromium)."""
    if not CHROMIUM.exists():
        return {"fps": None, "browser": "chromium not installed"}
    import uvicorn
    from playwright.sync_api import sync_playwright

    from commonsky.web.app import create_app

    node = HandFedNode("north")
    node.push(T0, traffic.at(0.0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(create_app(node.feed, None), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    pusher = _Pusher(node, traffic)
    pusher.thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(f"() => window.commonsky.trackCount() === {traffic.n}", timeout=120_000)
            page.evaluate("window.commonsky.idle()")
            before = page.evaluate("window.commonsky.messages()")
            frames = page.evaluate(
                """ms => new Promise(resolve => {
                    let n = 0; const end = performance.now() + ms;
                    const tick = now => { n += 1; if (now < end) requestAnimationFrame(tick); else resolve(n); };
                    requestAnimationFrame(tick);
                })""",
                window_s * 1000,
            )
            messages = page.evaluate("window.commonsky.messages()") - before
            apply_ms = page.evaluate("window.commonsky.lastApplyMs()")
            rendered = page.evaluate("window.commonsky.renderedCount()")
            version = browser.version
            browser.close()
    finally:
        pusher.stop.set()
        server.should_exit = True
        serving.join(timeout=30)
    return {
        "fps": frames / window_s,
        "fps_window_s": window_s,
        "updates_during_window": messages,
        "client_apply_ms_last": apply_ms,
        "rendered_symbols": rendered,
        "browser": f"chromium {version} headless, software WebGL (SwiftShader), 1600x900",
    }


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Measure, print a Rich table and return the figures. `quick`: 1,000 aircraft, fewer updates, 5 s window."""
    console = console or Console()
    n = AIRCRAFT // 10 if quick else AIRCRAFT
    traffic = Traffic(n, np.random.default_rng(SEED))
    result = measure_server(traffic, UPDATES_QUICK if quick else UPDATES_FULL)
    result |= measure_browser(traffic, FPS_WINDOW_S / 2 if quick else FPS_WINDOW_S)
    table = Table(title=f"commonsky web display load ({n:,} moving system tracks, 1 Hz)")
    table.add_column("Figure")
    table.add_column("Value", justify="right")
    kib = 1024
    table.add_row(
        "Snapshot (first message), KiB raw / deflated",
        f"{result['snapshot_bytes'] / kib:,.0f} / {result['snapshot_deflated_bytes'] / kib:,.0f}",
    )
    table.add_row(
        "Delta per update, KiB raw / deflated (median)",
        f"{result['delta_bytes_median'] / kib:,.0f} / {result['delta_deflated_bytes_median'] / kib:,.0f}",
    )
    table.add_row(
        "Bytes per track per update, raw / deflated",
        f"{result['delta_bytes_median'] / n:.1f} / {result['delta_deflated_bytes_median'] / n:.1f}",
    )
    table.add_row("Server: picture build per update, ms (median)", f"{result['build_s_median'] * 1e3:,.1f}")
    table.add_row("Server: delta + JSON per update, ms (median)", f"{result['delta_s_median'] * 1e3:,.1f}")
    table.add_row("Browser frames per second while streaming", "—" if result["fps"] is None else f"{result['fps']:.1f}")
    if result.get("client_apply_ms_last") is not None:
        table.add_row("Browser: apply one delta (parse, GeoJSON, panels), ms", f"{result['client_apply_ms_last']:,.0f}")
    if result.get("rendered_symbols") is not None:
        table.add_row(
            "Symbols rendered / updates received in window",
            f"{result['rendered_symbols']:,} / {result['updates_during_window']}",
        )
    console.print(table)
    console.print(f"[dim]{result['browser']}[/]")
    return result


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, "1,000 aircraft, fewer updates, a 5 s frame window")
