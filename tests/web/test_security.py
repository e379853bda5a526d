"""The display's defences played from the attacker's side with a plain HTTP client: a foreign Host (DNS
rebinding), a foreign Origin riding a valid cookie, a missing CSRF token, password guessing, oversized
bodies; and the sessions: sign-out and expiry close the WebSocket. The browser's side is in
test_browser_security.py."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from commonsky.core.errors import ConfigError
from commonsky.web.app import create_app, load_accounts
from commonsky.web.auth import (
    DEMO_USERS,
    Backoff,
    HashGate,
    LoginThrottle,
    SignInBusyError,
    User,
    hash_password,
    load_users,
    uses_demo_accounts,
)
from commonsky.web.feed import PictureFeed
from commonsky.web.security import Browsers, Deployment, SecurityLog, host_allowed, origin_of
from tests.web.conftest import WS, local_client, sign_in

OWN = "http://127.0.0.1"
"""The origin of the display as the test client reaches it."""


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events(client: TestClient, kind: str) -> list[dict[str, object]]:
    """The security log's events of one kind (asked as a signed-in operator)."""
    return [e for e in client.get("/api/security-log").json() if e["event"] == kind]


# ---------- Host: DNS rebinding ----------


@pytest.mark.parametrize("path", ["/", "/api/me", "/api/tracks", "/static/app.js"])
def test_a_foreign_host_is_refused_even_with_a_valid_session(client: TestClient, path: str) -> None:
    sign_in(client, "operator")
    assert client.get(path).status_code == 200
    refused = client.get(path, headers={"Host": "rebound.attacker.example"})
    assert refused.status_code == 400 and "not served here" in refused.text
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert [e["path"] for e in events(client, "refused_host")] == [path]


def test_a_foreign_host_cannot_open_the_stream(client: TestClient) -> None:
    sign_in(client, "viewer")
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(WS, headers={"Host": "rebound.attacker.example:8080"}) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 1008


def test_host_allow_list_names_ports_and_wildcards() -> None:
    allowed = ("localhost", "127.0.0.1", "::1", "display.ops.example", "*.coalition.example")
    assert host_allowed("display.ops.example", allowed) and host_allowed("DISPLAY.ops.example.", allowed)
    assert host_allowed("north.coalition.example", allowed) and not host_allowed("coalition.example.evil", allowed)
    assert not host_allowed("display.ops.example.evil.com", allowed) and not host_allowed("", allowed)
    assert origin_of("https", "display.ops.example:443") == "https://display.ops.example"
    assert origin_of("ws", "[::1]:8080") == "http://[::1]:8080"
    assert origin_of("http", "127.0.0.1:8080") == "http://127.0.0.1:8080"


# ---------- Origin and CSRF: a foreign page acting with the operator's cookie ----------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:9999"},  # another port of the same host: same site, other origin
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_write_from_a_foreign_origin_is_refused_even_with_cookie_and_token(
    client: TestClient, feed: PictureFeed, headers: dict[str, str]
) -> None:
    sign_in(client, "operator")
    refused = client.post("/api/alerts/1/ack", headers=headers)
    assert refused.status_code == 403 and "may not act here" in refused.text
    assert feed.snapshot().alerts[0]["state"] == "raised"
    assert client.post("/api/logout", headers=headers).status_code == 403
    assert client.get("/api/me").status_code == 200  # the session survived the forged sign-out
    assert len(events(client, "refused_origin")) == 2
    assert client.post("/api/alerts/1/ack", headers={"Origin": OWN}).status_code == 200


def test_the_cookie_is_not_marked_secure_over_plain_http_on_loopback(client: TestClient) -> None:
    login = client.post("/api/login", json={"name": "viewer", "password": "viewer-demo"}, headers={"Origin": OWN})
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie


def test_a_login_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    forged = client.post(
        "/api/login", json={"name": "viewer", "password": "viewer-demo"}, headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403 and "commonsky_session" not in forged.cookies


def test_the_stream_refuses_a_foreign_origin(client: TestClient) -> None:
    sign_in(client, "viewer")
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(WS, headers={"Origin": "http://127.0.0.1:9999"}) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 1008
    with client.websocket_connect(WS, headers={"Origin": OWN}) as ws:
        assert ws.receive_json()["type"] == "snapshot"


def test_writes_need_the_sessions_csrf_token(app: FastAPI, client: TestClient, feed: PictureFeed) -> None:
    sign_in(client, "operator")
    token = client.headers.pop("X-CSRF-Token")
    assert client.post("/api/alerts/1/ack").status_code == 403
    assert client.post("/api/alerts/1/ack", headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert client.post("/api/logout").status_code == 403
    assert feed.snapshot().alerts[0]["state"] == "raised"
    assert len(events(client, "refused_csrf")) == 3
    with local_client(app) as other:  # another session's token is no good here
        sign_in(other, "operator")
        assert other.headers["X-CSRF-Token"] != token
        assert (
            client.post("/api/alerts/1/ack", headers={"X-CSRF-Token": other.headers["X-CSRF-Token"]}).status_code == 403
        )
    assert client.post("/api/alerts/1/ack", headers={"X-CSRF-Token": token}).status_code == 200


# ---------- headers, docs, body size ----------


@pytest.mark.parametrize("path", ["/", "/api/me", "/api/tracks", "/static/app.js", "/nowhere", "/docs"])
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers  # plain HTTP here; see the TLS test
    if path.startswith("/api/"):
        assert response.headers["cache-control"] == "no-store"


def test_bodies_over_the_limit_are_refused(feed: PictureFeed) -> None:
    app = create_app(feed, load_users(DEMO_USERS), browsers=Browsers(max_body_bytes=1024))
    with local_client(app) as client:
        big = {"name": "viewer", "password": "x" * 5000}
        assert client.post("/api/login", json=big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"name": "viewer", "password": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = client.post("/api/login", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        sign_in(client, "viewer")
        assert client.get("/api/tracks").status_code == 200


# ---------- sign-in: throttling, bounded hashing, the security log ----------


def test_guessing_one_account_from_one_address_is_throttled_with_retry_after_and_logged(feed: PictureFeed) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(pair=Backoff(free=3, max_s=60.0, base_s=2.0), clock=clock)
    app = create_app(feed, load_users(DEMO_USERS), throttle=throttle)
    with local_client(app) as client:
        wrong = {"name": "operator", "password": "guess"}
        statuses = [client.post("/api/login", json=wrong).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        fourth = client.post("/api/login", json=wrong)  # beyond the free ones: locked 2 s, then 4 s, ...
        assert fourth.status_code == 401 and fourth.headers["retry-after"] == "2"
        for _ in range(3):  # even the right password waits; the lock is logged once
            locked = client.post("/api/login", json={"name": "operator", "password": "operator-demo"})
            assert locked.status_code == 429 and locked.headers["retry-after"] == "2"
        sign_in(client, "viewer")  # another name from the same address is not locked
        clock.now += 2.0
        fifth = client.post("/api/login", json=wrong)
        assert fifth.status_code == 401 and fifth.headers["retry-after"] == "4"
        clock.now += 4.0
        sign_in(client, "operator")
        clock.now += 0.1
        assert client.post("/api/login", json=wrong).status_code == 401  # success forgot the failures
        assert [e["name"] for e in events(client, "login_failed")] == ["operator"] * 6
        assert len(events(client, "login_throttled")) == 1
        assert {e["user"] for e in events(client, "login")} == {"viewer", "operator"}


def test_throttle_stops_a_sprayer_and_caps_how_long_an_account_can_be_locked() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        pair=Backoff(free=100, max_s=900.0),
        client=Backoff(free=2, max_s=8.0),
        name=Backoff(free=3, max_s=5.0),
        max_keys=50,
        clock=clock,
    )
    waits = [throttle.failed("10.0.0.7", f"name{k}") for k in range(7)]
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]  # one address spraying names: doubling, capped
    assert throttle.retry_after_s("10.0.0.7", "anyone") == (8.0, True)
    assert throttle.retry_after_s("10.0.0.7", "anyone") == (8.0, False)  # the same lock, reported once
    assert throttle.retry_after_s("10.0.0.8", "name1")[0] == 0.0
    # many addresses guessing one account: it is slowed, but never locked longer than the name's cap
    waits = [throttle.failed(f"10.1.0.{k}", "operator") for k in range(10)]
    assert max(waits) == 5.0 and waits[:3] == [0.0, 0.0, 0.0]
    for k in range(200):
        throttle.failed("10.0.0.9", f"spray{k}")
    assert len(throttle._keys) <= 50


def test_password_checks_run_on_a_bounded_pool_of_their_own() -> None:
    users = {"u": User("u", "viewer", hash_password("pw"))}
    gate = HashGate(workers=1, max_waiting=1)
    release = threading.Event()

    async def scenario() -> None:
        gate._pool.submit(release.wait)  # the one worker is busy
        first = asyncio.ensure_future(gate.check(users, "u", "pw"))
        second = asyncio.ensure_future(gate.check(users, "u", "pw"))
        await asyncio.sleep(0)
        with pytest.raises(SignInBusyError):
            await gate.check(users, "u", "pw")
        release.set()
        assert await first == users["u"] and await second == users["u"]

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        gate.close()


def test_sign_in_and_out_are_in_the_security_log_with_the_client(tmp_path: Path, feed: PictureFeed) -> None:
    log = SecurityLog(tmp_path / "security.jsonl")
    with local_client(create_app(feed, load_users(DEMO_USERS), security_log=log)) as client:
        client.post("/api/login", json={"name": "nobody", "password": "x"})
        sign_in(client, "viewer")
        assert client.get("/api/security-log").status_code == 403  # viewers do not read it
        client.post("/api/logout")
    lines = (tmp_path / "security.jsonl").read_text().splitlines()
    assert [line.split('"event": "')[1].split('"')[0] for line in lines] == ["login_failed", "login", "logout"]
    assert all('"client": "testclient"' in line for line in lines)
    assert (tmp_path / "security.jsonl").stat().st_mode & 0o077 == 0


# ---------- sessions: the stream ends with them ----------


def test_the_stream_closes_at_sign_out(client: TestClient) -> None:
    sign_in(client, "viewer")
    with client.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert client.post("/api/logout").status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
    assert closed.value.code == 4401


def test_the_stream_closes_when_the_session_lapses(feed: PictureFeed) -> None:
    with local_client(create_app(feed, load_users(DEMO_USERS), session_ttl_s=1.0)) as client:
        sign_in(client, "viewer")
        with client.websocket_connect(WS) as ws:
            assert ws.receive_json()["type"] == "snapshot"
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    ws.receive_text()
        assert closed.value.code == 4401
        assert client.get("/api/me").status_code == 401


# ---------- accounts and deployment ----------


def test_a_rehashed_demo_password_is_still_a_demo_account(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(f'[[users]]\nname = "ana"\nrole = "operator"\npassword_hash = "{hash_password("operator-demo")}"\n')
    assert uses_demo_accounts(load_users(path))
    with pytest.raises(ConfigError, match="loopback only"):
        Deployment(host="10.1.2.3", allow_plain_http=True).check(uses_demo_accounts(load_users(path)))


def test_a_users_file_may_hold_only_sso_but_not_nothing(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text("# nobody\n")
    with pytest.raises(ConfigError, match="hash-password"):
        load_accounts(path)


def test_deployment_refuses_plain_http_off_loopback_and_half_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--tls-cert/--tls-key.*--allow-plain-http"):
        Deployment(host="10.1.2.3").check(False)
    Deployment(host="10.1.2.3", allow_plain_http=True).check(False)
    Deployment(host="127.0.0.1").check(True)
    (tmp_path / "cert.pem").write_text("x")
    with pytest.raises(ConfigError, match="both"):
        Deployment(host="10.1.2.3", tls_cert=tmp_path / "cert.pem").check(False)
    options = Deployment().uvicorn_options()
    assert options["proxy_headers"] is False  # X-Forwarded-* from a local process is not believed
    behind = Deployment(proxies=("127.0.0.1",)).uvicorn_options()
    assert behind["proxy_headers"] is True and behind["forwarded_allow_ips"] == ["127.0.0.1"]
    hosts = Deployment(host="10.1.2.3", allowed_hosts=("display.ops.example",)).browsers().allowed_hosts
    assert hosts == ("localhost", "127.0.0.1", "::1", "10.1.2.3", "display.ops.example")
    assert "0.0.0.0" not in Deployment(host="0.0.0.0").browsers().allowed_hosts


# ---------- TLS ----------


def test_the_display_serves_https_with_a_secure_cookie_and_hsts(tmp_path: Path, feed: PictureFeed) -> None:
    import httpx

    from commonsky.network.transport.keys import make_ca
    from tests.web.conftest import LiveServer

    ca = make_ca("test display CA")
    cert, key = ca.issue_server("display", ["127.0.0.1", "localhost"])
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    tls = Deployment(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")
    tls.check(True)
    options = {k: v for k, v in tls.uvicorn_options().items() if k.startswith("ssl_")}
    app = create_app(feed, load_users(DEMO_USERS), browsers=tls.browsers())
    trusted = ssl.create_default_context(cafile=tmp_path / "ca.pem")
    with LiveServer(app, **options) as server, httpx.Client(base_url=server.url, verify=trusted) as c:
        assert server.url.startswith("https://")
        page = c.get("/")
        assert page.status_code == 200 and page.headers["strict-transport-security"].startswith("max-age=")
        login = c.post("/api/login", json={"name": "viewer", "password": "viewer-demo"})
        cookie = login.headers["set-cookie"].lower()
        assert login.status_code == 200 and "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/tracks").status_code == 200
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate gets nowhere
            httpx.get(server.url + "/", verify=True)


def test_a_guessing_burst_is_throttled_while_a_viewer_is_served(feed: PictureFeed) -> None:
    """Functional half of the guessing benchmark (`python -m benchmarks --only display_guessing` has the p99)."""
    import httpx

    from tests.web.conftest import LiveServer

    attackers, tries = 8, 12
    with LiveServer(create_app(feed, load_users(DEMO_USERS))) as server:
        viewer = httpx.Client(base_url=server.url, timeout=60)
        viewer.post("/api/login", json={"name": "viewer", "password": "viewer-demo"}).raise_for_status()
        statuses: list[int] = []
        served: list[int] = []

        def guess() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for _ in range(tries):
                    statuses.append(client.post("/api/login", json={"name": "operator", "password": "x"}).status_code)

        threads = [threading.Thread(target=guess) for _ in range(attackers)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            served.append(viewer.get("/api/tracks").status_code)
        for t in threads:
            t.join()
        viewer.close()
    hashed = statuses.count(401)
    assert len(statuses) == attackers * tries and set(statuses) == {401, 429}
    assert hashed <= 5 + attackers  # the free failures, plus those already being checked when the lock fell
    assert served and set(served) == {200}
