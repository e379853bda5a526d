"""Who may see and do what on the display: the state the routes share (`Display`) and the route dependencies.

Every route but sign-in and the static files depends on `signed_in` (401 without a session); writes
on `writing` (the session's CSRF token in `X-CSRF-Token`, 403 without, logged); acknowledging and
overriding on `acting_operator` (also the operator role). `view_of` gives the picture as the
caller's session sees it: the shared source, or the session's own replay playhead.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from commonsky.sharing import SharingPolicy
from commonsky.web.auth import SESSION_COOKIE, HashGate, LoginThrottle, Session, Sessions, User
from commonsky.web.feed import PictureSource
from commonsky.web.oidc import OidcConfig
from commonsky.web.security import SecurityLog, client_of

LOCAL_OPERATOR = User("local", "operator")
"""Who everyone is in no-auth mode."""
BUSY_LOG_EVERY_S = 10.0
"""Sign-ins refused because the hash pool is full are logged as one summed event at most this often."""


@dataclass
class BusyRefusals:
    """Sign-ins refused because the hash pool is full, summed so that a spray is logged once a period, not per try."""

    logged_s: float = -BUSY_LOG_EVERY_S
    """When the sum was last logged (monotonic)."""
    count: int = 0
    """Refused since then."""

    def refused(self) -> int | None:
        """Count one refusal; the sum to log now (and start over), or None within `BUSY_LOG_EVERY_S` of the last."""
        self.count += 1
        if time.monotonic() - self.logged_s < BUSY_LOG_EVERY_S:
            return None
        count, self.logged_s, self.count = self.count, time.monotonic(), 0
        return count


@dataclass
class Display:
    """What the routes and their dependencies share: the source, who may sign in and how, sessions and their views."""

    source: PictureSource
    users: dict[str, User] | None
    sessions: Sessions
    log: SecurityLog
    throttle: LoginThrottle
    gate: HashGate
    oidc: OidcConfig | None = None
    aircraft_policy: SharingPolicy | None = None
    """What `/data/aircraft.json` lets go (None: the whole picture)."""
    stream_interval_s: float = 1.0
    views: dict[str, PictureSource] = field(default_factory=dict)
    no_auth_csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    busy: BusyRefusals = field(default_factory=BusyRefusals)

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


def display_of(request: Request) -> Display:
    """Dependency: the display the app serves."""
    display: Display = request.app.state.display
    return display


def signed_in(request: Request) -> Session:
    """Dependency: the caller's session (401 when none)."""
    session = display_of(request).session_of(request.cookies.get(SESSION_COOKIE))
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
        display_of(request).log.record(
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
    return display_of(request).view_for(session)


Shared = Annotated[Display, Depends(display_of)]
Viewer = Annotated[User, Depends(viewer)]
Operator = Annotated[User, Depends(operator)]
ActingOperator = Annotated[User, Depends(acting_operator)]
Reader = Annotated[User, Depends(reader)]
View = Annotated[PictureSource, Depends(view_of)]
Writing = Annotated[Session, Depends(writing)]
SignedIn = Annotated[Session, Depends(signed_in)]
