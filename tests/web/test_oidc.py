"""OpenID Connect sign-in, end to end against a fake identity provider on a real socket, and its config file."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.middleware.sessions import SessionMiddleware

from commonsky.core.errors import ConfigError
from commonsky.web.auth import User
from commonsky.web.oidc import CALLBACK_PATH, OidcConfig, load_oidc, oidc_router, oidc_session_middleware_kwargs
from tests.web.conftest import LiveServer, free_port

CLIENT_ID = "commonsky-display"
CLIENT_SECRET = secrets.token_urlsafe(24)
OPERATORS, VIEWERS = "ops-supervisors", "ops-staff"


class FakeIdP:
    """A minimal OpenID provider: discovery, JWKS, an /authorize that answers at once, a /token that checks PKCE.

    `claims` overrides the ID token's claims and `signing_key` the key it is signed with, per test.
    """

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.signing_key = self.key
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.last_authorize: dict[str, str] = {}
        self.server = LiveServer(self._app())
        self.issuer = self.server.url

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            q = dict(request.query_params)
            self.last_authorize = q
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                return PlainTextResponse("bad request", status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = q
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if (
                request.headers.get("authorization") != f"Basic {basic}"
                or grant is None
                or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant["redirect_uri"]
                or grant.get("code_challenge_method") != "S256"
                or challenge != grant.get("code_challenge")
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": "u-1234",
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                "preferred_username": "alice",
                "groups": [VIEWERS],
                **self.claims,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key)
            return JSONResponse({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

        return app


@dataclass
class Display:
    """The display side: a FastAPI app with the OIDC router, and what its callbacks saw."""

    url: str
    config: OidcConfig
    logins: list[User] = field(default_factory=list)
    audits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def failures(self) -> list[dict[str, Any]]:
        """Details of the "oidc_failed" audit events."""
        return [detail for event, detail in self.audits if event == "oidc_failed"]


def write_config(folder: Path, **table: Any) -> Path:
    """A TOML [oidc] table (`table` replaces, adds or, with None, drops keys) and a mode-600 secret beside it."""
    secret = folder / "oidc_secret"
    secret.write_text(CLIENT_SECRET + "\n")
    secret.chmod(0o600)
    entries = {
        "issuer": "https://idp.example/realms/ops",
        "client_id": CLIENT_ID,
        "client_secret_file": "oidc_secret",
        "redirect_url": "https://d.example/auth/oidc/callback",
        "operator_groups": [OPERATORS],
        "viewer_groups": [VIEWERS],
        **table,
    }
    path = folder / "display.toml"
    path.write_text("[oidc]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entries.items() if v is not None))
    return path


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdP]:
    provider = FakeIdP()
    with provider.server:
        yield provider


@pytest.fixture(scope="module")
def display_server(idp: FakeIdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Display]:
    app = FastAPI()
    server = LiveServer(app)
    path = write_config(tmp_path_factory.mktemp("oidc"), issuer=idp.issuer, redirect_url=f"{server.url}{CALLBACK_PATH}")
    config = load_oidc(path)
    assert config is not None
    display = Display(server.url, config)

    def on_login(request: Request, user: User) -> Response:
        display.logins.append(user)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie("display_session", secrets.token_urlsafe(8), httponly=True)
        return response

    app.add_middleware(SessionMiddleware, **oidc_session_middleware_kwargs(config))
    app.include_router(oidc_router(config, on_login, lambda event, detail: display.audits.append((event, detail))))

    @app.get("/")
    def index() -> PlainTextResponse:
        return PlainTextResponse("the display")

    with server:
        yield display


@pytest.fixture
def display(idp: FakeIdP, display_server: Display) -> Display:
    """The display with no logins or audit events yet, against an IdP issuing default ID tokens."""
    idp.claims, idp.signing_key = {}, idp.key
    display_server.logins.clear()
    display_server.audits.clear()
    return display_server


def sign_in(display: Display) -> tuple[httpx.Response, httpx.Cookies]:
    """Run the whole flow in a fresh browser-like client; the last response and the cookies the client holds."""
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        return client.get(f"{display.url}/auth/oidc/login"), client.cookies


@pytest.mark.parametrize(
    ("groups", "role"),
    [([VIEWERS, OPERATORS], "operator"), ([OPERATORS], "operator"), ([VIEWERS], "viewer"), (VIEWERS, "viewer")],
)
def test_groups_map_to_roles(idp: FakeIdP, display: Display, groups: object, role: str) -> None:
    idp.claims = {"groups": groups}
    response, cookies = sign_in(display)
    assert response.status_code == 200, response.text
    assert response.text == "the display" and response.url.path == "/"
    assert "display_session" in cookies
    assert display.logins == [User("sso:alice", role)]
    assert display.audits == [("oidc_login", {"user": "sso:alice", "role": role})]


def test_login_request_carries_state_nonce_and_pkce(idp: FakeIdP, display: Display) -> None:
    with httpx.Client() as client:
        response = client.get(f"{display.url}/auth/oidc/login")
    assert response.status_code == 302 and response.headers["location"].startswith(f"{idp.issuer}/authorize?")
    sent = parse_qs(urlsplit(response.headers["location"]).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["code_challenge"][0]
    assert sent["state"][0] and sent["nonce"][0] and sent["scope"] == ["openid profile"]
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("commonsky_oidc=")
    for flag in ("httponly", "samesite=lax", "max-age=600", "path=/auth/oidc;"):
        assert flag in cookie


def test_no_mapped_group_is_refused(idp: FakeIdP, display: Display) -> None:
    idp.claims = {"groups": ["visitors"]}
    response, _ = sign_in(display)
    assert response.status_code == 403
    assert display.logins == []
    assert [(f["reason"], f["user"]) for f in display.failures()] == [("no_role", "sso:alice")]


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "someone-else", "azp": CLIENT_ID}, id="wrong-audience"),
        pytest.param({"nonce": "not-the-nonce"}, id="wrong-nonce"),
        pytest.param({"iss": "https://idp.evil.example"}, id="wrong-issuer"),
        pytest.param({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3900}, id="expired"),
    ],
)
def test_bad_id_token_is_refused(idp: FakeIdP, display: Display, claims: dict[str, Any]) -> None:
    idp.claims = claims
    response, _ = sign_in(display)
    assert response.status_code == 401
    assert display.logins == []
    assert [f["reason"] for f in display.failures()] == ["id_token"]


def test_id_token_signed_with_another_key_is_refused(idp: FakeIdP, display: Display) -> None:
    idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    response, _ = sign_in(display)
    assert response.status_code == 401
    assert display.logins == []
    assert [f["reason"] for f in display.failures()] == ["id_token"]


def test_callback_with_a_state_the_session_does_not_hold_is_refused(display: Display) -> None:
    with httpx.Client() as client:
        to_idp = client.get(f"{display.url}/auth/oidc/login")
        back = client.get(to_idp.headers["location"])
        answer = parse_qs(urlsplit(back.headers["location"]).query)
        forged = client.get(f"{display.url}/auth/oidc/callback", params={"code": answer["code"][0], "state": "forged"})
    with httpx.Client() as other_browser:  # the real answer, replayed in a browser that never started the login
        replayed = other_browser.get(back.headers["location"])
    assert forged.status_code == 401 and replayed.status_code == 401
    assert display.logins == []
    assert [f["reason"] for f in display.failures()] == ["state", "state"]


def test_idp_error_answer_is_refused(display: Display) -> None:
    with httpx.Client() as client:
        to_idp = client.get(f"{display.url}/auth/oidc/login")
        state = parse_qs(urlsplit(to_idp.headers["location"]).query)["state"][0]
        denied = client.get(f"{display.url}/auth/oidc/callback", params={"error": "access_denied", "state": state})
    assert denied.status_code == 401
    assert [f["reason"] for f in display.failures()] == ["idp_error"]


def test_unreachable_idp_is_a_bad_gateway(tmp_path: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = load_oidc(write_config(tmp_path, issuer=issuer))
    assert config is not None
    audits: list[tuple[str, dict[str, Any]]] = []
    app = FastAPI()
    app.add_middleware(SessionMiddleware, **oidc_session_middleware_kwargs(config))
    app.include_router(oidc_router(config, lambda request, user: Response(), lambda e, d: audits.append((e, d))))
    with TestClient(app) as client:
        response = client.get("/auth/oidc/login", follow_redirects=False)
    assert response.status_code == 502
    assert [(e, d["reason"]) for e, d in audits] == [("oidc_failed", "idp_unavailable")]


def test_session_middleware_kwargs() -> None:
    config = OidcConfig("https://idp.example", CLIENT_ID, Path("s"), "https://d.example/ops/auth/oidc/callback")
    first, second = oidc_session_middleware_kwargs(config), oidc_session_middleware_kwargs(config)
    assert first["secret_key"] != second["secret_key"] and len(first["secret_key"]) >= 32
    assert {k: v for k, v in first.items() if k != "secret_key"} == {
        "session_cookie": "commonsky_oidc",
        "same_site": "lax",
        "https_only": True,
        "max_age": 600,
        "path": "/ops/auth/oidc",
    }


def test_load_oidc_reads_the_table(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_oidc(path)
    assert config == OidcConfig(
        issuer="https://idp.example/realms/ops",
        client_id=CLIENT_ID,
        client_secret_file=tmp_path / "oidc_secret",
        redirect_url="https://d.example/auth/oidc/callback",
        operator_groups=(OPERATORS,),
        viewer_groups=(VIEWERS,),
    )
    assert config.discovery_url == "https://idp.example/realms/ops/.well-known/openid-configuration"


def test_load_oidc_without_a_table_is_none(tmp_path: Path) -> None:
    path = tmp_path / "display.toml"
    path.write_text('[[users]]\nname = "a"\n')
    assert load_oidc(path) is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_secret_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_config(tmp_path)
    (tmp_path / "oidc_secret").chmod(mode)
    with pytest.raises(ConfigError) as err:
        load_oidc(path)
    assert err.value.key == "client_secret_file"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"issuer": "http://idp.example"}, "oidc.issuer"),
        ({"issuer": "ftp://idp.example"}, "oidc.issuer"),
        ({"redirect_url": "https://d.example/elsewhere"}, "oidc.redirect_url"),
        ({"redirect_url": "http://d.example/auth/oidc/callback"}, "oidc.redirect_url"),
        ({"client_id": None}, "oidc.client_id"),
        ({"client_secret_file": "missing"}, "client_secret_file"),
        ({"scopes": ["profile"]}, "oidc.scopes"),
        ({"operator_groups": [], "viewer_groups": []}, "oidc.operator_groups"),
        ({"viewer_groups": "ops-staff"}, "oidc.viewer_groups"),
        ({"colour": "blue"}, "oidc.colour"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, table: dict[str, Any], key: str) -> None:
    path = write_config(tmp_path, **table)
    with pytest.raises(ConfigError) as err:
        load_oidc(path)
    assert err.value.key == key


def test_the_display_signs_an_sso_user_in_with_a_session_of_its_own(idp: FakeIdP, tmp_path: Path) -> None:
    from commonsky.web.app import create_app, load_accounts
    from commonsky.web.security import SecurityLog
    from tests.web.conftest import free_port
    from tests.web.hand_fed import HandFedNode

    idp.claims, idp.signing_key = {"groups": [OPERATORS]}, idp.key
    port = free_port()
    path = write_config(tmp_path, issuer=idp.issuer, redirect_url=f"http://127.0.0.1:{port}{CALLBACK_PATH}")
    users, config = load_accounts(path)  # SSO only: no local accounts
    assert users == {} and config is not None
    log = SecurityLog()
    app = create_app(HandFedNode("north").feed, users, oidc=config, security_log=log)
    with LiveServer(app, port=port) as server, httpx.Client(base_url=server.url, follow_redirects=True) as browser:
        assert browser.get("/api/sign-in").json() == {"password": False, "sso": True}
        landed = browser.get("/auth/oidc/login")
        assert landed.status_code == 200 and "maplibre-gl.js" in landed.text
        me = browser.get("/api/me").json()
        assert (me["name"], me["role"], me["sso"]) == ("sso:alice", "operator", True)
        assert browser.post("/api/logout", headers={"X-CSRF-Token": me["csrf"]}).status_code == 200
        assert browser.get("/api/me").status_code == 401
    kinds = [e["event"] for e in log.recent()]
    assert kinds == ["oidc_login", "login", "logout"] and log.recent()[1]["how"] == "oidc"
