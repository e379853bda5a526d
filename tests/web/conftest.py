"""Fixtures of the web display tests: a feed of hand-made pictures, a signed-in client, a live server on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commonsky.core.batches import SENSOR_ADSB, SENSOR_PSR, SENSOR_SSR
from commonsky.core.sensors import SensorKind, SensorSpec
from commonsky.fusion import SystemTracks
from commonsky.web.app import create_app
from commonsky.web.auth import DEMO_USERS, load_users
from commonsky.web.feed import PictureFeed
from tests.web.hand_fed import HandFedNode

T0 = 1_780_000_000.0
SENSOR = SensorSpec("N-SSR1", "north", SensorKind.SSR, 48.2, 9.7, 900.0, 30.0, 0.06, 0.0, 5.0, 0.97, 120_000.0)
ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "R-1 Lake", "kind": "restricted"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[10.3, 47.5], [10.7, 47.5], [10.7, 47.7], [10.3, 47.7], [10.3, 47.5]]],
            },
        }
    ],
}


def push_until_cleared(hand_fed: HandFedNode, start_s: float) -> float:
    """Push pictures without the 7700 squawk, one a second, until its alert clears; returns the time reached."""
    for k in range(60):
        pic = hand_fed.push(start_s + k, system_tracks(start_s + k, squawk_7700=False))
        if all(a["state"] == "cleared" for a in pic.alerts if a["kind"] == "emergency_squawk"):
            return start_s + k
    raise AssertionError("the emergency alert never cleared")


def system_tracks(time_s: float, squawk_7700: bool = True, shift_deg: float = 0.0) -> SystemTracks:
    """Three system tracks: 1 primary radar only, 2 SSR with squawk 7700 (or 2000), 3 ADS-B fed by two partners."""
    return SystemTracks.build(
        3,
        time_s=np.full(3, time_s),
        system_id=np.array([1, 2, 3]),
        lat_deg=np.array([47.5, 47.6, 47.7]) + shift_deg,
        lon_deg=np.array([9.4, 9.5, 9.6]),
        alt_m=np.array([np.nan, 3000.0, 10000.0]),
        v_east_mps=np.array([50.0, 100.0, 200.0]),
        v_north_mps=np.array([0.0, 10.0, -20.0]),
        v_up_mps=np.zeros(3),
        var_alt_m2=np.array([np.nan, 100.0, 25.0]),
        cov_ee=np.array([400.0, 100.0, 25.0]),
        cov_nn=np.array([400.0, 100.0, 25.0]),
        cov_ve_ve=np.full(3, 4.0),
        cov_vn_vn=np.full(3, 4.0),
        status=np.array(["confirmed", "confirmed", "coasting"]),
        quality=np.array([0.5, 0.8, 0.95]),
        sensor_kinds=np.array([SENSOR_PSR, SENSOR_SSR, SENSOR_ADSB | SENSOR_SSR], dtype=np.int8),
        mode_s=np.array([-1, 0x4B1A2C, 0x3C6544], dtype=np.int32),
        squawk=np.array([-1, 7700 if squawk_7700 else 2000, 1000], dtype=np.int16),
        callsign=np.array(["", "", "DLH4AB"]),
        responsible=np.array(["north", "north", "east"]),
        n_sources=np.array([1, 1, 2], dtype=np.int16),
        sources=np.array(["north:11", "north:12", "east:5;north:13"]),
    )


@pytest.fixture
def hand_fed() -> HandFedNode:
    """North's node holding the three tracks, 20 s after they were first seen (identities settled, 7700 raised)."""
    hand = HandFedNode("north", [SENSOR], ZONES)
    for k in range(20):
        hand.push(T0 + k, system_tracks(T0 + k))
    partners: list[dict[str, Any]] = [
        {"id": "east", "status": "up", "last_message_s": T0 + 19.5},
        {"id": "west", "status": "down", "last_message_s": None},
    ]
    hand.push(T0 + 20, system_tracks(T0 + 20), partners, {"N-SSR1": T0 + 18.0})
    return hand


@pytest.fixture
def feed(hand_fed: HandFedNode) -> PictureFeed:
    """The display's feed of `hand_fed`'s node."""
    return hand_fed.feed


def sign_in(client: TestClient, name: str) -> None:
    """Sign `client` in with a demo account; its writes then carry the session's CSRF token."""
    response = client.post("/api/login", json={"name": name, "password": f"{name}-demo"})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf"]


WS = "ws://127.0.0.1/ws"
"""The stream's URL for a `local_client` (its WebSockets ignore the base URL)."""


def local_client(app: FastAPI) -> TestClient:
    """A test client that reaches the app as a browser on the same machine would (Host 127.0.0.1)."""
    return TestClient(app, base_url="http://127.0.0.1")


@contextmanager
def no_auth_client(app: FastAPI) -> Iterator[TestClient]:
    """`local_client` for a no-auth app, started, holding the app's CSRF token for writes."""
    with local_client(app) as client:
        client.headers["X-CSRF-Token"] = client.get("/api/me").json()["csrf"]
        yield client


@pytest.fixture
def app(feed: PictureFeed) -> FastAPI:
    return create_app(feed, load_users(DEMO_USERS), stream_interval_s=0.05)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with local_client(app) as c:
        yield c


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A uvicorn server for one app in a background thread (browser tests and the benchmark)."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        """`options` go to uvicorn.Config (e.g. ssl_certfile/ssl_keyfile: the URL is then https)."""
        self.port = port or free_port()
        scheme = "https" if "ssl_certfile" in options else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
