"""The WebSocket picture stream (`/ws`): a full snapshot first, then about once a second a delta
(`commonsky.web.picture.picture_delta`), as JSON text frames; uvicorn negotiates permessage-deflate.

One `StreamHub` fans the shared source out to every client; a session with a replay playhead of its
own gets a hub of its own. The socket re-checks its session before every send and closes (4401) at
sign-out or expiry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from commonsky.web.access import Display
from commonsky.web.auth import SESSION_COOKIE
from commonsky.web.feed import PictureSource
from commonsky.web.picture import Picture, picture_delta

router = APIRouter()


class StreamHub:
    """Fans a picture source out to WebSocket clients: one delta per new picture, at most one per `interval_s`."""

    def __init__(self, source: PictureSource, interval_s: float) -> None:
        self.source = source
        self.interval_s = interval_s
        self.picture: Picture = source.snapshot()
        self.clients: set[asyncio.Queue[str]] = set()

    def full(self) -> str:
        """The current picture as a snapshot message."""
        return msgspec.json.encode(picture_delta(None, self.picture)).decode()

    async def run(self) -> None:
        """Poll the source's version; when it moved and `interval_s` passed, send every client the delta."""
        sent_at = 0.0
        while True:
            await asyncio.sleep(min(0.1, self.interval_s))
            if self.source.version == self.picture.version or time.monotonic() - sent_at < self.interval_s:
                continue
            current = self.source.snapshot()
            message = msgspec.json.encode(picture_delta(self.picture, current)).decode()
            self.picture = current
            sent_at = time.monotonic()
            for queue in list(self.clients):
                if queue.full():  # a slow client: drop its backlog and start it over from a snapshot
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(self.full())
                else:
                    queue.put_nowait(message)


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """The picture: a snapshot, then deltas about once a second, while the session lasts."""
    display: Display = websocket.app.state.display
    hub: StreamHub = websocket.app.state.hub
    token = websocket.cookies.get(SESSION_COOKIE)
    session = display.session_of(token)
    if session is None:
        await websocket.close(code=4401, reason="sign in first")
        return
    await websocket.accept()
    view = display.view_for(session)
    own = hub if view is display.source else StreamHub(view, hub.interval_s)
    private = None if own is hub else asyncio.create_task(own.run())
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=4)
    queue.put_nowait(own.full())
    own.clients.add(queue)
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    unwatch: Callable[[], None] = (
        (lambda: None)
        if display.users is None
        else display.sessions.watch(session.token, lambda: loop.call_soon_threadsafe(ended.set))
    )
    try:  # a client that went away is noticed at the next send
        while True:
            message = await _next_message(queue, ended, session.expires_s)
            if message is None or display.session_of(token) is None:
                await websocket.close(code=4401, reason="session ended")
                return
            await websocket.send_text(message)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        unwatch()
        own.clients.discard(queue)
        if private is not None:
            private.cancel()


async def _next_message(queue: asyncio.Queue[str], ended: asyncio.Event, expires_s: float) -> str | None:
    """The next stream message, or None once the session ended (sign-out) or lapsed (`expires_s`, monotonic)."""
    get = asyncio.ensure_future(queue.get())
    stop = asyncio.ensure_future(ended.wait())
    timeout = None if expires_s == float("inf") else max(0.0, expires_s - time.monotonic())
    try:
        done, _ = await asyncio.wait({get, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if get in done:
        return get.result()
    get.cancel()
    return None
