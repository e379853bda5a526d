"""The operator display's server: JSON API (OpenAPI at /docs), WebSocket picture stream, static map page.

`create_app(source, users)` serves one `PictureSource`; `serve(...)` runs it under uvicorn on
127.0.0.1 by default. Every route but sign-in and the static page needs a session (401 without);
acknowledging and overriding need the operator role (403 for a viewer). `users=None` is no-auth
mode: everyone is the local operator "local" (loopback only, like the demo accounts).

`/ws` sends the picture first as a full snapshot, then about once a second a delta
(`commonsky.web.source.picture_delta`), JSON text frames; uvicorn negotiates permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from commonsky.web.auth import DEMO_USERS, SESSION_COOKIE, Sessions, User, authenticate, load_users
from commonsky.web.source import ActionError, Identity, Picture, PictureSource, picture_delta

STATIC = Path(__file__).resolve().parent / "static"
LOCAL_OPERATOR = User("local", "operator")
"""Who everyone is in no-auth mode."""
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'"
)


class TrackSummary(BaseModel):
    """One system track as listed (stream columns plus quality and sources)."""

    id: int
    lat: float
    lon: float
    alt: int | None
    ve: float
    vn: float
    vu: float
    identity: Identity
    callsign: str
    squawk: str
    mode_s: str
    kinds: int
    status: str
    quality: float
    n_sources: int
    responsible: str
    sources: str
    owners: str
    alerts: list[str]


class TracksResponse(BaseModel):
    """The current system tracks (after filters)."""

    time_s: float
    partner: str
    count: int
    tracks: list[TrackSummary]


class Alert(BaseModel):
    """An alert and where it is in its lifecycle (raised -> acknowledged -> cleared)."""

    id: str
    kind: str
    state: str
    system_id: int
    time_s: float
    severity: str
    evidence: dict[str, Any]
    acknowledged_by: str | None = None
    acknowledged_s: float | None = None
    cleared_s: float | None = None
    cleared_reason: str | None = None


class IdentityChange(BaseModel):
    """One entry of a system track's identity history."""

    time_s: float
    identity: Identity
    by: str
    reason: str


class SourceTrack(BaseModel):
    """A partner track fused into a system track."""

    partner: str
    track_id: int


class TrackDetail(TrackSummary):
    """One system track in full: state, uncertainty (1 sigma), what feeds it, alerts, identity history."""

    time_s: float
    sigma_east_m: float | None
    sigma_north_m: float | None
    sigma_alt_m: float | None
    sigma_ve_mps: float | None
    sigma_vn_mps: float | None
    sensor_kinds: list[str]
    source_tracks: list[SourceTrack]
    partners: list[str]
    alert_details: list[Alert]
    identity_history: list[IdentityChange]


class AlertsResponse(BaseModel):
    """Every alert, newest first."""

    time_s: float
    alerts: list[Alert]


class PartnerState(BaseModel):
    """A peer's link status as seen by the viewed partner."""

    id: str
    status: str
    last_message_s: float | None
    age_s: float | None


class PartnersResponse(BaseModel):
    """The viewed partner and its peers."""

    time_s: float
    partner: str
    partners: list[PartnerState]


class Sensor(BaseModel):
    """A sensor: where, what kind, how far it sees, and (own sensors) the age of its last plot."""

    id: str
    partner: str
    kind: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    max_range_m: float
    own: bool
    last_plot_s: float | None
    age_s: float | None
    registration: dict[str, float | int | bool] | None = None
    """Own radars: the tracker's registration estimates (`commonsky.tracking.registration_report`)."""


class SensorsResponse(BaseModel):
    """Every sensor known to the viewed partner."""

    time_s: float
    sensors: list[Sensor]


class AuditRecord(BaseModel):
    """One operator action."""

    seq: int
    wall_utc: str
    time_s: float
    user: str
    action: str
    target: str
    details: dict[str, Any]


class ReplayState(BaseModel):
    """Whether the source can seek, and its time range."""

    available: bool
    start_s: float | None = None
    end_s: float | None = None
    time_s: float


class SeekRequest(BaseModel):
    """Where to jump to (picture time, UTC seconds)."""

    time_s: float


class IdentityRequest(BaseModel):
    """The identity an operator gives a system track."""

    identity: Identity


class LoginRequest(BaseModel):
    """Credentials."""

    name: str
    password: str


class Me(BaseModel):
    """Who is signed in, and whether sign-in is required at all."""

    name: str
    role: str
    auth: bool


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 1)


def _user_of(app: FastAPI, token: str | None) -> User | None:
    """The user of a session token (everyone is `LOCAL_OPERATOR` in no-auth mode)."""
    users: dict[str, User] | None = app.state.users
    sessions: Sessions = app.state.sessions
    return LOCAL_OPERATOR if users is None else sessions.user(token)


def viewer(request: Request) -> User:
    """Dependency: the signed-in user (401 when none)."""
    user = _user_of(request.app, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise HTTPException(401, "sign in first")
    return user


def operator(user: Annotated[User, Depends(viewer)]) -> User:
    """Dependency: the signed-in user if an operator (403 for a viewer)."""
    if not user.is_operator:
        raise HTTPException(403, "operator role required")
    return user


Viewer = Annotated[User, Depends(viewer)]
Operator = Annotated[User, Depends(operator)]


class StreamHub:
    """Fans the picture out to WebSocket clients: one delta per new picture, at most one per `interval_s`."""

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


def create_app(
    source: PictureSource,
    users: dict[str, User] | None,
    stream_interval_s: float = 1.0,
    session_ttl_s: float | None = None,
) -> FastAPI:
    """The display's FastAPI app for one picture source; starts and closes the source with the app."""
    sessions = Sessions() if session_ttl_s is None else Sessions(session_ttl_s)
    hub = StreamHub(source, stream_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        source.start()
        task = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(source.close)

    app = FastAPI(
        title="commonsky operator display",
        description="The common recognised air picture of one partner: tracks, alerts, status, operator actions.",
        version="0.1.0",
        lifespan=lifespan,
    )

    app.state.users = users
    app.state.sessions = sessions

    def user_of(token: str | None) -> User | None:
        return _user_of(app, token)

    @app.post("/api/login", tags=["session"])
    def login(body: LoginRequest, response: Response) -> Me:
        """Sign in; sets the session cookie."""
        if users is None:
            return Me(name=LOCAL_OPERATOR.name, role=LOCAL_OPERATOR.role, auth=False)
        user = authenticate(users, body.name, body.password)
        if user is None:
            raise HTTPException(401, "wrong name or password")
        token = sessions.create(user)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=int(sessions.ttl_s))
        return Me(name=user.name, role=user.role, auth=True)

    @app.post("/api/logout", tags=["session"])
    def logout(request: Request, response: Response) -> dict[str, bool]:
        """End the session."""
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        response.delete_cookie(SESSION_COOKIE)
        return {"ok": True}

    @app.get("/api/me", tags=["session"])
    def me(user: Viewer) -> Me:
        """The signed-in user (401 when none)."""
        return Me(name=user.name, role=user.role, auth=users is not None)

    @app.get("/api/tracks", tags=["picture"])
    def tracks(
        user: Viewer,
        partner: Annotated[str | None, Query(description="Only tracks this partner's tracks feed.")] = None,
        identity: Annotated[Identity | None, Query(description="Only tracks with this identity.")] = None,
        alert: Annotated[bool | None, Query(description="true: only tracks with an open alert; false: none.")] = None,
    ) -> TracksResponse:
        """The current system tracks with identity and open alert ids."""
        pic = source.snapshot()
        cols = pic.columns
        rows = []
        for i in range(len(cols["id"])):
            if partner is not None and partner not in cols["owners"][i].split(","):
                continue
            if identity is not None and cols["identity"][i] != identity:
                continue
            if alert is not None and bool(cols["alerts"][i]) != alert:
                continue
            rows.append(TrackSummary.model_validate({k: v[i] for k, v in cols.items()}))
        return TracksResponse(time_s=pic.time_s, partner=pic.partner, count=len(rows), tracks=rows)

    @app.get("/api/tracks/{system_id}", tags=["picture"])
    def track(system_id: int, user: Viewer) -> TrackDetail:
        """One system track in full."""
        detail = source.snapshot().track(system_id)
        if detail is None:
            raise HTTPException(404, f"no system track {system_id} in the current picture")
        return TrackDetail.model_validate(detail)

    @app.get("/api/alerts", tags=["alerts"])
    def alerts(user: Viewer) -> AlertsResponse:
        """Every alert, newest first."""
        pic = source.snapshot()
        return AlertsResponse(time_s=pic.time_s, alerts=[Alert.model_validate(a) for a in reversed(pic.alerts)])

    @app.post("/api/alerts/{alert_id}/ack", tags=["alerts"])
    def acknowledge(alert_id: str, user: Operator) -> Alert:
        """Acknowledge a raised alert (operators; audited)."""
        try:
            return Alert.model_validate(source.acknowledge(alert_id, user.name))
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @app.post("/api/tracks/{system_id}/identity", tags=["picture"])
    def override_identity(system_id: int, body: IdentityRequest, user: Operator) -> IdentityChange:
        """Give a system track an identity by hand (operators; audited)."""
        try:
            return IdentityChange.model_validate(source.override_identity(system_id, body.identity, user.name))
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @app.get("/api/partners", tags=["status"])
    def partners(user: Viewer) -> PartnersResponse:
        """Link status of the viewed partner's peers."""
        pic = source.snapshot()
        peers = [PartnerState(**p, age_s=_age(pic.time_s, p["last_message_s"])) for p in pic.partners]
        return PartnersResponse(time_s=pic.time_s, partner=pic.partner, partners=peers)

    @app.get("/api/sensors", tags=["status"])
    def sensors(user: Viewer) -> SensorsResponse:
        """Sensors with positions, kind and range (coverage rings), and own sensors' last plot age."""
        pic = source.snapshot()
        out = [Sensor.model_validate(s | {"age_s": _age(pic.time_s, s["last_plot_s"])}) for s in pic.sensors]
        return SensorsResponse(time_s=pic.time_s, sensors=out)

    @app.get("/api/zones", tags=["picture"])
    def zones(user: Viewer) -> dict[str, Any]:
        """The zones (a GeoJSON FeatureCollection)."""
        return source.snapshot().zones

    @app.get("/api/audit", tags=["alerts"])
    def audit(user: Viewer) -> list[AuditRecord]:
        """Every operator action, oldest first."""
        return [AuditRecord.model_validate(e.as_dict()) for e in source.audit()]

    @app.get("/api/replay", tags=["replay"])
    def replay(user: Viewer) -> ReplayState:
        """Whether the source can seek (recordings), and its time range."""
        pic = source.snapshot()
        if not source.seekable or pic.replay is None:
            return ReplayState(available=False, time_s=pic.time_s)
        return ReplayState(available=True, **pic.replay)

    @app.post("/api/replay/seek", tags=["replay"])
    def seek(body: SeekRequest, user: Viewer) -> ReplayState:
        """Jump to a time of the recording (any signed-in user: it changes the view, not the picture)."""
        try:
            source.seek(body.time_s)
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return replay(user)

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        """The picture: a snapshot, then deltas about once a second."""
        if user_of(websocket.cookies.get(SESSION_COOKIE)) is None:
            await websocket.close(code=4401, reason="sign in first")
            return
        await websocket.accept()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=4)
        queue.put_nowait(hub.full())
        hub.clients.add(queue)

        try:  # a client that went away is noticed at the next send
            while True:
                await websocket.send_text(await queue.get())
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            hub.clients.discard(queue)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def uses_demo_accounts(users: dict[str, User] | None) -> bool:
    """True for no-auth mode or when any account has a demo password (public: loopback only)."""
    if users is None:
        return True
    demo = {u.password_hash for u in load_users(DEMO_USERS).values()}
    return any(u.password_hash in demo for u in users.values())


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    source: PictureSource,
    host: str = "127.0.0.1",
    port: int = 8080,
    users: dict[str, User] | None = None,
    stream_interval_s: float = 1.0,
) -> None:
    """Run the display under uvicorn until interrupted. Demo accounts and no-auth mode bind the loopback only."""
    import uvicorn

    if uses_demo_accounts(users) and not is_loopback(host):
        raise ValueError(f"refusing to serve on {host}: demo accounts and no-auth mode are for 127.0.0.1 only")
    uvicorn.run(create_app(source, users, stream_interval_s), host=host, port=port, log_level="warning")
