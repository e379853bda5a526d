"""Helpers for the feed tests: free loopback ports, a TCP peer that can vanish, batch comparison."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core.batches import Columns


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
