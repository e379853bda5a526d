"""The operator display's server: JSON API (OpenAPI at /docs for signed-in users), WebSocket picture stream, map page.

`create_app(source, users)` serves one `PictureSource`; `serve(...)` runs it under uvicorn, on
127.0.0.1 by default. Every route but sign-in and the static files needs a session (401 without);
writes also need the session's CSRF token in `X-CSRF-Token` (403 without), and acknowledging and
overriding the operator role (403 for a viewer). `users=None` is no-auth mode: everyone is the local
operator "local" (loopback only, like the demo accounts). `commonsky.web.security.BrowserGuard`
wraps it all: Host allow-list, Origin check, body limit, security headers.

Sign-in is throttled per client and per name (429 with Retry-After) and hashes on a pool of its own
(`commonsky.web.auth.HashGate`); every sign-in, failure, sign-out and refusal goes to the security
log. Optional single sign-on with OpenID Connect (`commonsky.web.oidc`) maps the identity provider's
groups to roles. A recording's replay position belongs to each session (`PictureSource.session_view`).

`/ws` sends the picture first as a full snapshot, then about once a second a delta
(`commonsky.web.source.picture_delta`), JSON text frames; uvicorn negotiates permessage-deflate.
The socket re-checks its session before every send and closes (4401) at sign-out or expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from commonsky.sharing import SharingError, SharingPolicy
from commonsky.web.auth import (
    SESSION_COOKIE,
    HashGate,
    LoginThrottle,
    Session,
    Sessions,
    SignInBusyError,
    User,
    load_users,
    retry_after_header,
    uses_demo_accounts,
)
from commonsky.web.kinds import AlertKindInfo, alert_kinds_payload
from commonsky.web.oidc import OidcConfig, load_oidc
from commonsky.web.security import BrowserGuard, Browsers, Deployment, SecurityLog, client_of
from commonsky.web.source import ActionError, Identity, Picture, PictureSource, picture_delta
from commonsky.web.tar1090 import aircraft_json, receiver_json

STATIC = Path(__file__).resolve().parent / "static"
LOCAL_OPERATOR = User("local", "operator")
"""Who everyone is in no-auth mode."""
BUSY_LOG_EVERY_S = 10.0
"""Sign-ins refused because the hash pool is full are logged as one summed event at most this often."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
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
    input_state: str | None = None
    """A sensor fed by a live input of its own: starting, running, failed or ended."""
    input_reason: str | None = None
    """Why that input failed (it is being reopened with back-off)."""


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
    """Credentials (bounded: argon2 hashes whatever it is given)."""

    name: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    """Who is signed in, whether sign-in is required at all, and the CSRF token writes must send."""

    name: str
    role: str
    auth: bool
    csrf: str
    sso: bool = False
    """True when single sign-on is offered (GET /auth/oidc/login)."""


class SignInOptions(BaseModel):
    """The ways to sign in: a local account's password, and single sign-on."""

    password: bool
    sso: bool


class SecurityEvent(BaseModel):
    """One sign-in, sign-out or refusal (`commonsky.web.security.SecurityLog`)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    wall_utc: str
    event: str


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 1)


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


@dataclass
class Display:
    """What the routes and their dependencies share: the source, who may sign in, sessions and their views."""

    source: PictureSource
    users: dict[str, User] | None
    sessions: Sessions
    log: SecurityLog
    views: dict[str, PictureSource] = field(default_factory=dict)
    no_auth_csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def local_session(self) -> Session:
        """Everyone's session in no-auth mode: the local operator's, never lapsing."""
        return Session("local", LOCAL_OPERATOR, self.no_auth_csrf, float("inf"))

    def session_of(self, token: str | None) -> Session | None:
        """The caller's session (in no-auth mode, `local_session`)."""
        return self.local_session() if self.users is None else self.sessions.get(token)

    def view_for(self, session: Session) -> PictureSource:
        """The picture as this session sees it: the shared source, or its own replay playhead (kept with it)."""
        view = self.views.get(session.token)
        if view is None:
            view = self.views[session.token] = self.source.session_view()
            if view is not self.source and self.users is not None:
                self.sessions.watch(session.token, lambda: self.views.pop(session.token, None))
        return view


def _display(request: Request) -> Display:
    display: Display = request.app.state.display
    return display


def signed_in(request: Request) -> Session:
    """Dependency: the caller's session (401 when none)."""
    session = _display(request).session_of(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise HTTPException(401, "sign in first")
    return session


def writing(
    request: Request,
    session: Annotated[Session, Depends(signed_in)],
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token", include_in_schema=False)] = None,
) -> Session:
    """Dependency: a signed-in session whose request carries its CSRF token (403 otherwise)."""
    if csrf is None or not secrets.compare_digest(csrf, session.csrf):
        _display(request).log.record(
            "refused_csrf", client=client_of(request.scope), user=session.user.name, path=request.url.path
        )
        raise HTTPException(403, "missing or wrong X-CSRF-Token")
    return session


def viewer(session: Annotated[Session, Depends(signed_in)]) -> User:
    """Dependency: the signed-in user."""
    return session.user


def operator(session: Annotated[Session, Depends(signed_in)]) -> User:
    """Dependency: a signed-in operator (403 for a viewer)."""
    if not session.user.is_operator:
        raise HTTPException(403, "operator role required")
    return session.user


def acting_operator(user: Annotated[User, Depends(operator)], session: Annotated[Session, Depends(writing)]) -> User:
    """Dependency: an operator whose request carries the session's CSRF token (acknowledge, override)."""
    return user


def reader(session: Annotated[Session, Depends(writing)]) -> User:
    """Dependency: any signed-in user writing to their own view (replay seek)."""
    return session.user


def view_of(request: Request, session: Annotated[Session, Depends(signed_in)]) -> PictureSource:
    """Dependency: the picture as this session sees it (its own replay position)."""
    return _display(request).view_for(session)


Viewer = Annotated[User, Depends(viewer)]
Operator = Annotated[User, Depends(operator)]
ActingOperator = Annotated[User, Depends(acting_operator)]
Reader = Annotated[User, Depends(reader)]
View = Annotated[PictureSource, Depends(view_of)]
Writing = Annotated[Session, Depends(writing)]
SignedIn = Annotated[Session, Depends(signed_in)]


def create_app(
    source: PictureSource,
    users: dict[str, User] | None,
    stream_interval_s: float = 1.0,
    session_ttl_s: float | None = None,
    browsers: Browsers | None = None,
    security_log: SecurityLog | None = None,
    throttle: LoginThrottle | None = None,
    oidc: OidcConfig | None = None,
    aircraft_policy: SharingPolicy | None = None,
    hash_gate: HashGate | None = None,
) -> FastAPI:
    """The display's FastAPI app for one picture source, wrapped in `BrowserGuard`; starts and closes the source.
    `aircraft_policy` cuts `/data/aircraft.json` to what that sharing policy lets go (default: the whole picture)."""
    sessions = Sessions() if session_ttl_s is None else Sessions(session_ttl_s)
    throttle = throttle or LoginThrottle()
    log = security_log or SecurityLog()
    gate = hash_gate or HashGate()
    hub = StreamHub(source, stream_interval_s)
    display = Display(source, users, sessions, log)
    busy = [-BUSY_LOG_EVERY_S, 0]  # when "login_busy" was last logged, and how many were refused busy since

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
            gate.close()
            await asyncio.to_thread(source.close)

    app = FastAPI(
        title="commonsky operator display",
        description="The common recognised air picture of one partner: tracks, alerts, status, operator actions.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.display = display

    def start_session(request: Request, response: Response, user: User, how: str) -> Session:
        """Sign `user` in: drop the caller's old session, set the new cookie (Secure over HTTPS), log it."""
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        session = sessions.create(user)
        secure = request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE, session.token, httponly=True, samesite="strict", secure=secure, max_age=int(sessions.ttl_s)
        )
        log.record("login", client=client_of(request.scope), user=user.name, role=user.role, how=how)
        return session

    def me_of(session: Session) -> Me:
        user = session.user
        return Me(name=user.name, role=user.role, auth=users is not None, csrf=session.csrf, sso=oidc is not None)

    @app.post(
        "/api/login",
        tags=["session"],
        responses={401: {"description": "Wrong name or password"}, 429: {"description": "Too many attempts"}},
    )
    async def login(body: LoginRequest, request: Request, response: Response) -> Me:
        """Sign in; sets the session cookie. Failures back off per client and per name (429 with Retry-After)."""
        if users is None:
            return me_of(display.local_session())
        client = client_of(request.scope)
        wait, new_lock = throttle.retry_after_s(client, body.name)
        if wait > 0:
            if new_lock:  # once per lock: a locked guesser cannot flood the log either
                log.record("login_throttled", client=client, name=body.name, retry_after_s=round(wait, 1))
            raise HTTPException(429, "too many failed sign-ins", headers={"Retry-After": retry_after_header(wait)})
        try:
            user = await gate.check(users, body.name, body.password)
        except SignInBusyError as exc:
            busy[1] += 1
            if time.monotonic() - busy[0] >= BUSY_LOG_EVERY_S:  # a spray is summed up, not logged try by try
                log.record("login_busy", refused=busy[1], last_client=client, last_name=body.name)
                busy[:] = [time.monotonic(), 0]
            raise HTTPException(
                429, "sign-in busy", headers={"Retry-After": retry_after_header(exc.retry_after_s)}
            ) from None
        if user is None:
            wait = throttle.failed(client, body.name)
            log.record("login_failed", client=client, name=body.name)
            headers = {"Retry-After": retry_after_header(wait)} if wait > 0 else None
            raise HTTPException(401, "wrong name or password", headers=headers)
        throttle.succeeded(client, body.name)
        return me_of(start_session(request, response, user, "password"))

    @app.post("/api/logout", tags=["session"])
    def logout(request: Request, response: Response, session: Writing) -> dict[str, bool]:
        """End the session: its cookie, its replay view and its open WebSockets."""
        if users is not None:
            sessions.drop(session.token)
            log.record("logout", client=client_of(request.scope), user=session.user.name)
        response.delete_cookie(SESSION_COOKIE)
        return {"ok": True}

    @app.get("/api/sign-in", tags=["session"])
    def sign_in_options() -> SignInOptions:
        """How to sign in here (public: the sign-in form asks before anyone is signed in)."""
        return SignInOptions(password=bool(users), sso=oidc is not None)

    @app.get("/api/me", tags=["session"])
    def me(session: SignedIn) -> Me:
        """The signed-in user and the session's CSRF token (401 when none)."""
        return me_of(session)

    if oidc is not None:
        from starlette.middleware.sessions import SessionMiddleware

        from commonsky.web.oidc import oidc_router, oidc_session_middleware_kwargs

        def sso_login(request: Request, user: User) -> Response:
            response = RedirectResponse("/", status_code=303)
            start_session(request, response, user, "oidc")
            return response

        def sso_audit(event: str, details: dict[str, Any]) -> None:
            log.record(event, **details)

        app.include_router(oidc_router(oidc, sso_login, sso_audit))
        app.add_middleware(SessionMiddleware, **oidc_session_middleware_kwargs(oidc))

    @app.get("/api/security-log", tags=["session"])
    def security_events(user: Operator) -> list[SecurityEvent]:
        """Recent sign-ins, failures, sign-outs and refusals, oldest first (operators)."""
        return [SecurityEvent.model_validate(e) for e in log.recent()]

    @app.get("/api/tracks", tags=["picture"])
    def tracks(
        user: Viewer,
        view: View,
        partner: Annotated[str | None, Query(description="Only tracks this partner's tracks feed.")] = None,
        identity: Annotated[Identity | None, Query(description="Only tracks with this identity.")] = None,
        alert: Annotated[bool | None, Query(description="true: only tracks with an open alert; false: none.")] = None,
    ) -> TracksResponse:
        """The current system tracks with identity and open alert ids."""
        pic = view.snapshot()
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
    def track(system_id: int, view: View) -> TrackDetail:
        """One system track in full."""
        detail = view.snapshot().track(system_id)
        if detail is None:
            raise HTTPException(404, f"no system track {system_id} in the current picture")
        return TrackDetail.model_validate(detail)

    @app.get("/api/alerts", tags=["alerts"])
    def alerts(view: View) -> AlertsResponse:
        """Every alert, newest first."""
        pic = view.snapshot()
        return AlertsResponse(time_s=pic.time_s, alerts=[Alert.model_validate(a) for a in reversed(pic.alerts)])

    @app.get("/api/alert-kinds", tags=["alerts"])
    def alert_kinds(user: Viewer) -> list[AlertKindInfo]:
        """Every kind of alert the rules raise: label, severities, display colour and help (`commonsky.assess`)."""
        return [AlertKindInfo.model_validate(k) for k in alert_kinds_payload()]

    @app.post("/api/alerts/{alert_id}/ack", tags=["alerts"])
    def acknowledge(alert_id: str, user: ActingOperator, view: View) -> Alert:
        """Acknowledge a raised alert (operators; audited)."""
        try:
            return Alert.model_validate(view.acknowledge(alert_id, user.name))
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @app.post("/api/tracks/{system_id}/identity", tags=["picture"])
    def override_identity(system_id: int, body: IdentityRequest, user: ActingOperator, view: View) -> IdentityChange:
        """Give a system track an identity by hand (operators; audited)."""
        try:
            return IdentityChange.model_validate(view.override_identity(system_id, body.identity, user.name))
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @app.get("/api/partners", tags=["status"])
    def partners(view: View) -> PartnersResponse:
        """Link status of the viewed partner's peers."""
        pic = view.snapshot()
        peers = [PartnerState(**p, age_s=_age(pic.time_s, p["last_message_s"])) for p in pic.partners]
        return PartnersResponse(time_s=pic.time_s, partner=pic.partner, partners=peers)

    @app.get("/api/sensors", tags=["status"])
    def sensors(view: View) -> SensorsResponse:
        """Sensors with positions, kind and range (coverage rings), and own sensors' last plot age."""
        pic = view.snapshot()
        out = [Sensor.model_validate(s | {"age_s": _age(pic.time_s, s["last_plot_s"])}) for s in pic.sensors]
        return SensorsResponse(time_s=pic.time_s, sensors=out)

    @app.get("/api/zones", tags=["picture"])
    def zones(view: View) -> dict[str, Any]:
        """The zones (a GeoJSON FeatureCollection)."""
        return view.snapshot().zones

    @app.get("/api/audit", tags=["alerts"])
    def audit(view: View) -> list[AuditRecord]:
        """Every operator action, oldest first."""
        return [AuditRecord.model_validate(e.as_dict()) for e in view.audit()]

    def replay_state(view: PictureSource) -> ReplayState:
        pic = view.snapshot()
        if not view.seekable or pic.replay is None:
            return ReplayState(available=False, time_s=pic.time_s)
        return ReplayState(available=True, **pic.replay)

    @app.get("/api/replay", tags=["replay"])
    def replay(view: View) -> ReplayState:
        """Whether the source can seek (recordings), and its time range and this session's position."""
        return replay_state(view)

    @app.post("/api/replay/seek", tags=["replay"])
    def seek(body: SeekRequest, user: Reader, view: View) -> ReplayState:
        """Jump to a time of the recording (any signed-in user: it moves this session's view only)."""
        try:
            view.seek(body.time_s)
        except ActionError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return replay_state(view)

    @app.get("/data/aircraft.json", tags=["picture"])
    def tar1090_aircraft(view: View) -> dict[str, Any]:
        """The picture as readsb/tar1090 `aircraft.json` (tar1090, Virtual Radar Server, community tools),
        cut by the display's aircraft policy when it has one."""
        try:
            return aircraft_json(view.snapshot(), aircraft_policy)
        except SharingError as exc:
            raise HTTPException(500, str(exc)) from None

    @app.get("/data/receiver.json", tags=["picture"])
    def tar1090_receiver(view: View) -> dict[str, Any]:
        """tar1090's receiver file: version, refresh period, the viewed partner's first own sensor."""
        return receiver_json(view.snapshot(), refresh_ms=round(stream_interval_s * 1000))

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(user: Viewer) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(user: Viewer) -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Content-Security-Policy": DOCS_CSP})

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        """The picture: a snapshot, then deltas about once a second, while the session lasts."""
        token = websocket.cookies.get(SESSION_COOKIE)
        session = display.session_of(token)
        if session is None:
            await websocket.close(code=4401, reason="sign in first")
            return
        await websocket.accept()
        view = display.view_for(session)
        own = hub if view is source else StreamHub(view, stream_interval_s)
        private = None if own is hub else asyncio.create_task(own.run())
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=4)
        queue.put_nowait(own.full())
        own.clients.add(queue)
        ended = asyncio.Event()
        loop = asyncio.get_running_loop()
        unwatch: Callable[[], None] = (
            (lambda: None)
            if users is None
            else sessions.watch(session.token, lambda: loop.call_soon_threadsafe(ended.set))
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

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BrowserGuard, browsers=browsers or Browsers(), security_log=log)
    return app


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


def load_accounts(path: str | Path) -> tuple[dict[str, User], OidcConfig | None]:
    """The display's sign-in from one TOML: local `[[users]]` and/or single sign-on (`[oidc]`); at least one."""
    oidc = load_oidc(path)
    return load_users(path, required=oidc is None), oidc


def deployed_app(
    source: PictureSource,
    users: dict[str, User] | None,
    deployment: Deployment,
    stream_interval_s: float = 1.0,
    oidc: OidcConfig | None = None,
    aircraft_policy: SharingPolicy | None = None,
) -> FastAPI:
    """The app as `deployment` serves it, once `deployment.check` finds it safe (ConfigError if not)."""
    deployment.check(uses_demo_accounts(users))
    return create_app(
        source,
        users,
        stream_interval_s,
        browsers=deployment.browsers(),
        security_log=SecurityLog(deployment.security_log),
        oidc=oidc,
        aircraft_policy=aircraft_policy,
    )


def serve(
    source: PictureSource,
    users: dict[str, User] | None,
    deployment: Deployment | None = None,
    stream_interval_s: float = 1.0,
    oidc: OidcConfig | None = None,
    aircraft_policy: SharingPolicy | None = None,
) -> None:
    """Run the display under uvicorn until interrupted, once `deployment.check` finds it safe (ConfigError if not)."""
    import uvicorn

    deployment = deployment or Deployment()
    app = deployed_app(source, users, deployment, stream_interval_s, oidc, aircraft_policy)
    uvicorn.run(app, log_level="warning", **deployment.uvicorn_options())
