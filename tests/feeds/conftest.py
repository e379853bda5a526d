"""Helpers for the feed tests: free loopback ports, a TCP peer that can vanish, batch comparison, waits that
hold on a busy machine (event-driven, with generous limits, after the decoders were compiled)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core.batches import Columns, Plots
from commonsky.formats import decode_asterix, encode_cat048

WAIT_S = 60.0
"""Limit on a wait for loopback I/O. Waits end as soon as what they wait for happens, so only a failing test
takes this long; it is generous because other processes may hold every core (and the GIL is shared)."""


@pytest.fixture(scope="session", autouse=True)
def compiled_decoders() -> None:
    """Numba compiles the ASTERIX fast path on first use (about 10 s from a clean clone, much more on a busy
    machine): pay that once, before any test's time limit starts."""
    decode_asterix(encode_cat048(Plots.build(1, time_s=[0.0], range_m=[1e4], azimuth_deg=[1.0]), 1, 2), "warm-up")


async def until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Wait until `condition()` holds (checked every 10 ms); a timeout fails the test."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a loopback port nobody listens on (TCP and UDP)."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


def assert_same_rows(got: Columns, want: Columns, skip: tuple[str, ...] = ()) -> None:
    """Every column equal (NaN equals NaN), except those in `skip`."""
    assert len(got) == len(want)
    for name, column in want.as_dict().items():
        if name not in skip:
            np.testing.assert_array_equal(got.as_dict()[name], column, err_msg=name)


class TcpPeer:
    """A TCP peer that sends `chunks` (pausing `pause_s` between them) to each client, keeps the
    connection open, and goes away with every connection when told (`vanish`)."""

    def __init__(self, chunks: list[bytes], pause_s: float = 0.0) -> None:
        self.chunks = chunks
        self.pause_s = pause_s
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            for i, chunk in enumerate(self.chunks):
                if i and self.pause_s:
                    await asyncio.sleep(self.pause_s)
                writer.write(chunk)
                await writer.drain()

        self.server = await asyncio.start_server(serve, "127.0.0.1", port, reuse_address=True)

    async def vanish(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()
