"""Optional single sign-on for the web display with OpenID Connect (authorization code flow with PKCE S256).

For organisations that run an identity provider (IdP); local argon2 accounts stay the default. Config is
an `[oidc]` table in a TOML file:

    [oidc]
    issuer = "https://idp.example/realms/ops"        # https; http only for a loopback IdP (tests)
    client_id = "commonsky-display"
    client_secret_file = "oidc_secret"                 # relative to the TOML's folder; mode 600 or stricter
    redirect_url = "https://display.example/auth/oidc/callback"
    operator_groups = ["ops-supervisors"]              # member of any of these -> "operator"
    viewer_groups = ["ops-staff"]                      # else member of any of these -> "viewer"; else refused
    # groups_claim = "groups"; name_claim = "preferred_username"; scopes = "openid profile"

Only the ID token is trusted: its signature (the IdP's JWKS), `iss`, `aud` (must hold `client_id`), `exp`
and `nonce` are checked, and the role comes from its groups claim. Many IdPs (Dex, Authelia, authentik)
put groups in the token only when asked for a "groups" scope: add it to `scopes` there.

SSO users are named "sso:<name claim>" so that they never collide with a local account. The role is
read at each sign-in; a user removed from a group keeps the role until their display session lapses.

Wiring, in the display app (the state, nonce and PKCE verifier of a login in flight ride in a signed
cookie, so Starlette's SessionMiddleware must wrap the router):

    app.add_middleware(SessionMiddleware, **oidc_session_middleware_kwargs(config))
    app.include_router(oidc_router(config, on_login, audit))
"""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from joserfc.errors import JoseError

from commonsky.core.errors import ConfigError
from commonsky.web.auth import Role, User
from commonsky.web.security import is_loopback

CALLBACK_PATH = "/auth/oidc/callback"
SSO_PREFIX = "sso:"
"""Prefix of SSO user names, so that "sso:alice" from the IdP is never the local account "alice"."""
OIDC_COOKIE = "commonsky_oidc"
LOGIN_TTL_S = 600
"""How long a login may sit at the IdP before its state cookie lapses."""
IDP_TIMEOUT_S = 10.0
CLOCK_LEEWAY_S = 60
MAX_NAME_LEN = 128
_KEYS = {
    "issuer",
    "client_id",
    "client_secret_file",
    "redirect_url",
    "groups_claim",
    "operator_groups",
    "viewer_groups",
    "scopes",
    "name_claim",
}


@dataclass(frozen=True)
class OidcConfig:
    """Where the IdP is, who the display is to it, and which IdP groups give which display role."""

    issuer: str
    client_id: str
    client_secret_file: Path
    redirect_url: str
    operator_groups: tuple[str, ...] = ()
    viewer_groups: tuple[str, ...] = ()
    groups_claim: str = "groups"
    scopes: tuple[str, ...] = ("openid", "profile")
    name_claim: str = "preferred_username"

    @property
    def discovery_url(self) -> str:
        """The IdP's OpenID Connect discovery document."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def cookie_path(self) -> str:
        """Path the state cookie is scoped to: the folder of the callback (kept when behind a path prefix)."""
        return urlsplit(self.redirect_url).path.removesuffix("/callback")

    def role_for(self, groups: object) -> Role | None:
        """The display role of a user in `groups` (a list, or one name as a string); None when no group maps."""
        listed = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
        names = {g for g in listed if isinstance(g, str)}
        if names.intersection(self.operator_groups):
            return "operator"
        if names.intersection(self.viewer_groups):
            return "viewer"
        return None


def _url_problem(url: str) -> str | None:
    """Why `url` is unfit for the IdP exchange (None when fit): https only, http for a loopback host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("https", "http") or not host:
        return f"expected an https URL, got {url!r}"
    if parts.scheme == "http" and not is_loopback(host):
        return "must be https (http is allowed for a loopback host only)"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "must not hold credentials, a query or a fragment"
    return None


def read_client_secret(path: Path) -> str:
    """The client secret from `path`; ConfigError when others may read it (like ssh, mode 600 or stricter)."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                str(path), "client_secret_file", f"mode {mode & 0o777:o} lets group/other access it; chmod 600"
            )
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(str(path), "client_secret_file", f"cannot read: {exc}") from None
    if not secret:
        raise ConfigError(str(path), "client_secret_file", "is empty")
    return secret


def load_oidc(path: str | Path) -> OidcConfig | None:
    """The `[oidc]` table of a TOML file; None when it has none, ConfigError naming the bad key otherwise."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(source, "(file)", f"cannot read: {exc}") from None
    if "oidc" not in data:
        return None
    table = data["oidc"]
    if not isinstance(table, dict):
        raise ConfigError(source, "oidc", "expected an [oidc] table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(source, f"oidc.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(_KEYS))}")

    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(source, f"oidc.{key}", "required non-empty text")
        return value.strip()

    def names(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(source, f"oidc.{key}", "expected a list of group names")
        return tuple(value)

    issuer, redirect_url = text("issuer"), text("redirect_url")
    for key, url in (("issuer", issuer), ("redirect_url", redirect_url)):
        problem = _url_problem(url)
        if problem:
            raise ConfigError(source, f"oidc.{key}", problem)
    if not urlsplit(redirect_url).path.endswith(CALLBACK_PATH):
        raise ConfigError(source, "oidc.redirect_url", f"must end with {CALLBACK_PATH} (the display's callback)")
    scopes = table.get("scopes", " ".join(OidcConfig.scopes))
    scope_list = scopes.split() if isinstance(scopes, str) else scopes
    if not isinstance(scope_list, list) or not all(isinstance(s, str) and s for s in scope_list):
        raise ConfigError(source, "oidc.scopes", "expected scope names, as a list or space-separated text")
    if "openid" not in scope_list:
        raise ConfigError(source, "oidc.scopes", 'must include "openid"')
    operator_groups, viewer_groups = names("operator_groups"), names("viewer_groups")
    if not operator_groups and not viewer_groups:
        raise ConfigError(source, "oidc.operator_groups", "no groups map to a role: list operator or viewer groups")
    secret_file = Path(text("client_secret_file"))
    if not secret_file.is_absolute():
        secret_file = Path(path).parent / secret_file
    read_client_secret(secret_file)
    return OidcConfig(
        issuer=issuer,
        client_id=text("client_id"),
        client_secret_file=secret_file,
        redirect_url=redirect_url,
        operator_groups=operator_groups,
        viewer_groups=viewer_groups,
        groups_claim=text("groups_claim", OidcConfig.groups_claim),
        scopes=tuple(scope_list),
        name_claim=text("name_claim", OidcConfig.name_claim),
    )


def oidc_session_middleware_kwargs(config: OidcConfig) -> dict[str, Any]:
    """Keyword arguments for Starlette's SessionMiddleware, which keeps a login's state between its two legs.

    The signing key is random per process, so no secret sits in config (a restart only fails logins in
    flight); SameSite=Lax because the IdP's redirect back is a cross-site navigation that Strict would strip.
    """
    return {
        "secret_key": secrets.token_urlsafe(32),
        "session_cookie": OIDC_COOKIE,
        "same_site": "lax",
        "https_only": urlsplit(config.redirect_url).scheme == "https",
        "max_age": LOGIN_TTL_S,
        "path": config.cookie_path,
    }


async def _metadata(client: StarletteOAuth2App, config: OidcConfig) -> None:
    """Load the discovery document and check it names our issuer and only fit endpoints (ValueError if not)."""
    metadata = await client.load_server_metadata()
    if metadata.get("issuer") != config.issuer:
        raise ValueError(f"discovery names issuer {metadata.get('issuer')!r}, not {config.issuer!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        url = metadata.get(key)
        problem = _url_problem(url) if isinstance(url, str) else "missing"
        if problem:
            raise ValueError(f"discovery {key}: {problem}")


def oidc_router(
    config: OidcConfig,
    on_login: Callable[[Request, User], Response],
    audit: Callable[[str, dict[str, Any]], None],
) -> APIRouter:
    """`GET /auth/oidc/login` (to the IdP) and `GET /auth/oidc/callback` (back; hands the user to `on_login`).

    `on_login` starts the display session and returns the response (e.g. set the session cookie and
    redirect to "/"). Every refusal answers a short plain text and calls `audit("oidc_failed", ...)`.
    """
    oauth = OAuth()
    client = oauth.register(
        name="commonsky",
        client_id=config.client_id,
        client_secret=read_client_secret(config.client_secret_file),
        server_metadata_url=config.discovery_url,
        client_kwargs={"scope": " ".join(config.scopes), "code_challenge_method": "S256", "timeout": IDP_TIMEOUT_S},
    )
    router = APIRouter(prefix="/auth/oidc", tags=["auth"])

    def refuse(status: int, message: str, reason: str, detail: object = "", **extra: str) -> Response:
        audit("oidc_failed", {"reason": reason, "detail": str(detail)[:200], **extra})
        return PlainTextResponse(message, status_code=status)

    @router.get("/login")
    async def login(request: Request) -> Response:
        """Send the browser to the IdP with a fresh state, nonce and PKCE challenge."""
        try:
            await _metadata(client, config)
            return await client.authorize_redirect(request, config.redirect_url)
        except (httpx2.HTTPError, ValueError) as exc:
            return refuse(502, "identity provider unavailable", "idp_unavailable", exc)

    @router.get("/callback")
    async def callback(request: Request) -> Response:
        """Check the IdP's answer, trade the code for an ID token, validate it and map groups to a role."""
        # Authlib checks aud only through azp unless told: an ID token for another client naming us as azp would pass
        claims_options = {"iss": {"value": config.issuer}, "aud": {"value": config.client_id}}
        try:
            await _metadata(client, config)
        except (httpx2.HTTPError, ValueError) as exc:
            return refuse(502, "identity provider unavailable", "idp_unavailable", exc)
        try:
            token = await client.authorize_access_token(request, claims_options=claims_options, leeway=CLOCK_LEEWAY_S)
        except MismatchingStateError as exc:
            return refuse(401, "sign-in expired or was not started here; try again", "state", exc)
        except OAuthError as exc:
            return refuse(401, "sign-in refused by the identity provider", "idp_error", exc)
        except httpx2.HTTPError as exc:
            return refuse(502, "identity provider unavailable", "idp_unavailable", exc)
        except (AuthlibBaseError, JoseError, ValueError) as exc:
            return refuse(401, "sign-in failed: invalid ID token", "id_token", repr(exc))
        claims = token.get("userinfo")
        if not claims:
            return refuse(401, "sign-in failed: no ID token", "id_token", "the token response has no id_token")
        name = claims.get(config.name_claim)
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_LEN or not name.isprintable():
            return refuse(403, "sign-in refused: no usable user name", "name", f"bad claim {config.name_claim!r}")
        user_name = SSO_PREFIX + name
        role = config.role_for(claims.get(config.groups_claim))
        if role is None:
            return refuse(403, "sign-in refused: not in a group allowed to use the display", "no_role", user=user_name)
        user = User(user_name, role)
        audit("oidc_login", {"user": user.name, "role": role})
        return on_login(request, user)

    return router
