"""The operator display's server: JSON API (OpenAPI at /docs for signed-in users), WebSocket picture stream, map page.

`create_app(source, users)` serves one `PictureSource`; `serve(...)` runs it under uvicorn, on
127.0.0.1 by default. Every route but sign-in and the static files needs a session (401 without);
writes also need the session's CSRF token in `X-CSRF-Token` (403 without), and acknowledging and
overriding the operator role (403 for a viewer). `users=None` is no-auth mode: everyone is the local
operator "local" (loopback only, like the demo accounts). `commonsky.web.security.BrowserGuard`
wraps it all: Host allow-list, Origin check, body limit, security headers.

The routes live by area in `commonsky.web.routes` (accounts, picture, actions, docs) and
`commonsky.web.stream` (`/ws`); what they share is the `commonsky.web.access.Display` on `app.state`.
Optional single sign-on with OpenID Connect (`commonsky.web.oidc`) maps the identity provider's
groups to roles. A recording's replay position belongs to each session (`PictureSource.session_view`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from commonsky.sharing import SharingPolicy
from commonsky.web.access import Display
from commonsky.web.auth import HashGate, LoginThrottle, Sessions, User, load_users, uses_demo_accounts
from commonsky.web.feed import PictureSource
from commonsky.web.oidc import OidcConfig, load_oidc
from commonsky.web.routes import accounts, actions, docs, picture
from commonsky.web.routes.docs import STATIC
from commonsky.web.security import BrowserGuard, Browsers, Deployment, SecurityLog
from commonsky.web.stream import StreamHub
from commonsky.web.stream import router as stream_router


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
    log = security_log or SecurityLog()
    display = Display(
        source,
        users,
        Sessions() if session_ttl_s is None else Sessions(session_ttl_s),
        log,
        throttle or LoginThrottle(),
        hash_gate or HashGate(),
        oidc,
        aircraft_policy,
        stream_interval_s,
    )
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
            display.gate.close()
            await asyncio.to_thread(source.close)

    app = FastAPI(
        title="commonsky operator display",
        description="The common air and surface picture of one partner: tracks, alerts, status, operator actions.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.display = display
    app.state.hub = hub
    app.include_router(accounts.router)
    accounts.add_single_sign_on(app, display)
    for area in (picture, actions, docs):
        app.include_router(area.router)
    app.include_router(stream_router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BrowserGuard, browsers=browsers or Browsers(), security_log=log)
    return app


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
