"""Replay of timestamped items at their recorded pace, or faster: the same code path as a live feed."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def paced(
    items: Iterable[tuple[float, T]],
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[tuple[float, T]]:
    """Yield `(time_s, item)` pairs when the wall clock reaches `time_s` at `speed` × recorded pace.

    The first item is yielded at once; `speed = math.inf` yields everything without waiting. Items
    out of time order are yielded as soon as they come (a recording's clock may step back).
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    start_wall: float | None = None
    start_time = 0.0
    for time_s, item in items:
        if start_wall is None:
            start_wall, start_time = clock(), time_s
        elif math.isfinite(speed):
            wait = start_wall + (time_s - start_time) / speed - clock()
            if wait > 0:
                await sleep(wait)
        yield time_s, item
