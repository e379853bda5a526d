"""Sign-in, sign-out and the security log: local accounts (argon2, throttled) and optional single sign-on.

Sign-in is throttled per client and per name (429 with Retry-After) and hashes on a pool of its own
(`commonsky.web.auth.HashGate`); every sign-in, failure, sign-out and refusal goes to the security
log. In no-auth mode everyone is the local operator and sign-in just answers who that is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from commonsky.web.access import Display, Operator, Shared, SignedIn, Writing
from commonsky.web.auth import SESSION_COOKIE, Session, SignInBusyError, User, retry_after_header
from commonsky.web.models import LoginRequest, Me, SecurityEvent, SignInOptions
from commonsky.web.security import client_of

router = APIRouter(tags=["session"])


def start_session(display: Display, request: Request, response: Response, user: User, how: str) -> Session:
    """Sign `user` in: drop the caller's old session, set the new cookie (Secure over HTTPS), log it."""
    sessions = display.sessions
    sessions.drop(request.cookies.get(SESSION_COOKIE))
    session = sessions.create(user)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, session.token, httponly=True, samesite="strict", secure=secure, max_age=int(sessions.ttl_s)
    )
    display.log.record("login", client=client_of(request.scope), user=user.name, role=user.role, how=how)
    return session


def _me(display: Display, session: Session) -> Me:
    """Who `session` is, as the page asks."""
    user = session.user
    return Me(
        name=user.name, role=user.role, auth=display.users is not None, csrf=session.csrf, sso=display.oidc is not None
    )


@router.post(
    "/api/login",
    responses={401: {"description": "Wrong name or password"}, 429: {"description": "Too many attempts"}},
)
async def login(body: LoginRequest, request: Request, response: Response, display: Shared) -> Me:
    """Sign in; sets the session cookie. Failures back off per client and per name (429 with Retry-After)."""
    if display.users is None:
        return _me(display, display.local_session())
    client, log, throttle = client_of(request.scope), display.log, display.throttle
    wait, new_lock = throttle.retry_after_s(client, body.name)
    if wait > 0:
        if new_lock:  # once per lock: a locked guesser cannot flood the log either
            log.record("login_throttled", client=client, name=body.name, retry_after_s=round(wait, 1))
        raise HTTPException(429, "too many failed sign-ins", headers={"Retry-After": retry_after_header(wait)})
    try:
        user = await display.gate.check(display.users, body.name, body.password)
    except SignInBusyError as exc:
        refused = display.busy.refused()
        if refused is not None:  # a spray is summed up, not logged try by try
            log.record("login_busy", refused=refused, last_client=client, last_name=body.name)
        raise HTTPException(
            429, "sign-in busy", headers={"Retry-After": retry_after_header(exc.retry_after_s)}
        ) from None
    if user is None:
        wait = throttle.failed(client, body.name)
        log.record("login_failed", client=client, name=body.name)
        headers = {"Retry-After": retry_after_header(wait)} if wait > 0 else None
        raise HTTPException(401, "wrong name or password", headers=headers)
    throttle.succeeded(client, body.name)
    return _me(display, start_session(display, request, response, user, "password"))


@router.post("/api/logout")
def logout(request: Request, response: Response, session: Writing, display: Shared) -> dict[str, bool]:
    """End the session: its cookie, its replay view and its open WebSockets."""
    if display.users is not None:
        display.sessions.drop(session.token)
        display.log.record("logout", client=client_of(request.scope), user=session.user.name)
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}


@router.get("/api/sign-in")
def sign_in_options(display: Shared) -> SignInOptions:
    """How to sign in here (public: the sign-in form asks before anyone is signed in)."""
    return SignInOptions(password=bool(display.users), sso=display.oidc is not None)


@router.get("/api/me")
def me(session: SignedIn, display: Shared) -> Me:
    """The signed-in user and the session's CSRF token (401 when none)."""
    return _me(display, session)


@router.get("/api/security-log")
def security_events(user: Operator, display: Shared) -> list[SecurityEvent]:
    """Recent sign-ins, failures, sign-outs and refusals, oldest first (operators)."""
    return [SecurityEvent.model_validate(e) for e in display.log.recent()]


def add_single_sign_on(app: FastAPI, display: Display) -> None:
    """Offer OpenID Connect sign-in when the display has an `oidc` configuration (its routes and cookie session)."""
    oidc = display.oidc
    if oidc is None:
        return
    from starlette.middleware.sessions import SessionMiddleware

    from commonsky.web.oidc import oidc_router, oidc_session_middleware_kwargs

    def sso_login(request: Request, user: User) -> Response:
        response = RedirectResponse("/", status_code=303)
        start_session(display, request, response, user, "oidc")
        return response

    def sso_audit(event: str, details: dict[str, Any]) -> None:
        display.log.record(event, **details)

    app.include_router(oidc_router(oidc, sso_login, sso_audit))
    app.add_middleware(SessionMiddleware, **oidc_session_middleware_kwargs(oidc))
