"""The JSON API: sign-in and roles (401/403), every endpoint, operator actions and their audit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from commonsky.core.errors import ConfigError
from commonsky.web.app import serve
from commonsky.web.auth import DEMO_USERS, User, authenticate, hash_password, load_users, main, uses_demo_accounts
from commonsky.web.feed import PictureFeed
from commonsky.web.security import Deployment, is_loopback
from tests.web.conftest import T0, no_auth_client, push_until_cleared, sign_in, system_tracks
from tests.web.hand_fed import HandFedNode

READS = [
    "/api/me",
    "/api/tracks",
    "/api/tracks/2",
    "/api/alerts",
    "/api/partners",
    "/api/sensors",
    "/api/zones",
    "/api/layers/waterway",
    "/api/audit",
    "/api/replay",
]


@pytest.mark.parametrize("path", READS)
def test_reads_need_sign_in(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    sign_in(client, "viewer")
    assert client.get(path).status_code == 200


def test_actions_need_sign_in_and_operator_role(client: TestClient) -> None:
    assert client.post("/api/alerts/1/ack").status_code == 401
    assert client.post("/api/tracks/1/identity", json={"identity": "hostile"}).status_code == 401
    sign_in(client, "viewer")
    assert client.post("/api/alerts/1/ack").status_code == 403
    assert client.post("/api/tracks/1/identity", json={"identity": "hostile"}).status_code == 403
    assert client.get("/api/audit").json() == []


def test_login_rejects_wrong_password_and_logout_ends_session(client: TestClient) -> None:
    assert client.post("/api/login", json={"name": "operator", "password": "nope"}).status_code == 401
    assert client.post("/api/login", json={"name": "nobody", "password": "operator-demo"}).status_code == 401
    sign_in(client, "operator")
    me = client.get("/api/me").json()
    assert me == {"name": "operator", "role": "operator", "auth": True, "csrf": me["csrf"], "sso": False}
    assert client.post("/api/logout").status_code == 200
    assert client.get("/api/tracks").status_code == 401


def test_tracks_have_identity_alerts_and_filters(client: TestClient) -> None:
    sign_in(client, "viewer")
    body = client.get("/api/tracks").json()
    assert body["count"] == 3 and body["partner"] == "north" and body["time_s"] == T0 + 20
    by_id = {t["id"]: t for t in body["tracks"]}
    assert by_id[1]["identity"] == "unknown" and by_id[1]["alt"] is None
    assert by_id[2]["identity"] == "assumed_friend" and by_id[2]["squawk"] == "7700" and by_id[2]["alerts"] == ["1"]
    assert by_id[3]["owners"] == "east,north" and by_id[3]["mode_s"] == "3C6544" and by_id[3]["identity"] == "neutral"
    assert [t["id"] for t in client.get("/api/tracks?alert=true").json()["tracks"]] == [2]
    assert [t["id"] for t in client.get("/api/tracks?alert=false").json()["tracks"]] == [1, 3]
    assert [t["id"] for t in client.get("/api/tracks?identity=unknown").json()["tracks"]] == [1]
    assert [t["id"] for t in client.get("/api/tracks?partner=east").json()["tracks"]] == [3]
    assert client.get("/api/tracks?identity=martian").status_code == 422


def test_track_detail(client: TestClient) -> None:
    sign_in(client, "viewer")
    d = client.get("/api/tracks/3").json()
    assert d["sensor_kinds"] == ["ssr", "adsb"]
    assert d["partners"] == ["east", "north"]
    assert d["source_tracks"] == [{"partner": "east", "track_id": 5}, {"partner": "north", "track_id": 13}]
    assert d["sigma_east_m"] == 5.0 and d["sigma_alt_m"] == 5.0
    assert [h["identity"] for h in d["identity_history"]] == ["pending", "neutral"]
    assert client.get("/api/tracks/2").json()["alert_details"][0]["kind"] == "emergency_squawk"
    assert client.get("/api/tracks/99").status_code == 404


def test_status_endpoints(client: TestClient) -> None:
    sign_in(client, "viewer")
    partners = client.get("/api/partners").json()["partners"]
    assert partners == [
        {"id": "east", "status": "up", "last_message_s": T0 + 19.5, "age_s": 0.5},
        {"id": "west", "status": "down", "last_message_s": None, "age_s": None},
    ]
    (sensor,) = client.get("/api/sensors").json()["sensors"]
    assert sensor["id"] == "N-SSR1" and sensor["max_range_m"] == 120_000 and sensor["own"] and sensor["age_s"] == 2.0
    assert client.get("/api/zones").json()["features"][0]["properties"]["name"] == "R-1 Lake"
    assert client.get("/api/replay").json() == {"available": False, "start_s": None, "end_s": None, "time_s": T0 + 20}
    assert client.post("/api/replay/seek", json={"time_s": T0}).status_code == 409


def test_acknowledge_is_audited_and_lifecycle_holds(client: TestClient, hand_fed: HandFedNode) -> None:
    sign_in(client, "operator")
    (alert,) = client.get("/api/alerts").json()["alerts"]
    assert alert["state"] == "raised" and alert["evidence"]["squawk"] == "7700"
    acked = client.post("/api/alerts/1/ack").json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "operator"
    assert client.post("/api/alerts/1/ack").status_code == 409
    assert client.post("/api/alerts/9/ack").status_code == 404
    (entry,) = client.get("/api/audit").json()
    assert entry["user"] == "operator" and entry["action"] == "acknowledge" and entry["target"] == "1"
    assert entry["time_s"] == T0 + 20 and entry["wall_utc"]
    push_until_cleared(hand_fed, T0 + 21)
    cleared = client.get("/api/alerts").json()["alerts"][0]
    assert cleared["state"] == "cleared" and cleared["acknowledged_by"] == "operator"
    assert client.get("/api/tracks/2").json()["alerts"] == []


def test_override_identity_is_audited_and_sticks(client: TestClient, hand_fed: HandFedNode) -> None:
    sign_in(client, "operator")
    change = client.post("/api/tracks/1/identity", json={"identity": "hostile"}).json()
    assert change == {"time_s": T0 + 20, "identity": "hostile", "by": "operator", "reason": "override"}
    assert client.post("/api/tracks/1/identity", json={"identity": "martian"}).status_code == 422
    assert client.post("/api/tracks/99/identity", json={"identity": "friend"}).status_code == 404
    hand_fed.push(T0 + 21, system_tracks(T0 + 21))
    d = client.get("/api/tracks/1").json()
    assert d["identity"] == "hostile"
    assert [h["identity"] for h in d["identity_history"]] == ["pending", "unknown", "hostile"]
    (entry,) = client.get("/api/audit").json()
    assert entry["details"] == {"identity": "hostile"} and entry["target"] == "1"


def test_no_auth_mode_makes_everyone_the_local_operator(feed: PictureFeed) -> None:
    from commonsky.web.app import create_app

    with no_auth_client(create_app(feed, None)) as c:
        me = c.get("/api/me").json()
        assert me == {"name": "local", "role": "operator", "auth": False, "csrf": me["csrf"], "sso": False}
        assert c.post("/api/alerts/1/ack").json()["acknowledged_by"] == "local"


def test_page_is_served_and_docs_need_sign_in(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "maplibre-gl.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/vendor/milsymbol/milsymbol.js").status_code == 200
    assert client.get("/docs").status_code == 401 and client.get("/api/openapi.json").status_code == 401
    assert client.get("/openapi.json").status_code == 404 and client.get("/redoc").status_code == 404
    sign_in(client, "viewer")
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert "/api/alerts/{alert_id}/ack" in client.get("/api/openapi.json").json()["paths"]


def test_users_file_and_password_hashing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    users = load_users(DEMO_USERS)
    assert {u.name: u.role for u in users.values()} == {"viewer": "viewer", "operator": "operator"}
    assert authenticate(users, "operator", "operator-demo") == users["operator"]
    assert authenticate(users, "operator", "viewer-demo") is None
    hashed = hash_password("s3cret")
    path = tmp_path / "users.toml"
    path.write_text(f'[[users]]\nname = "ana"\nrole = "operator"\npassword_hash = "{hashed}"\n')
    mine = load_users(path)
    assert authenticate(mine, "ana", "s3cret") == User("ana", "operator", hashed)
    assert not uses_demo_accounts(mine) and uses_demo_accounts(users) and uses_demo_accounts(None)
    path.write_text('[[users]]\nname = "ana"\nrole = "admin"\npassword_hash = "x"\n')
    with pytest.raises(ConfigError, match=r"users\[0\]\.role"):
        load_users(path)
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["hash", "--stdin"]) == 0
    assert authenticate({"u": User("u", "viewer", capsys.readouterr().out.strip())}, "u", "pw") is not None


def test_serve_refuses_demo_accounts_off_loopback(feed: PictureFeed) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    public = Deployment(host="0.0.0.0", allow_plain_http=True)
    with pytest.raises(ConfigError, match="loopback only"):
        serve(feed, load_users(DEMO_USERS), public)
    with pytest.raises(ConfigError, match="loopback only"):
        serve(feed, None, public)


def test_a_failed_input_shows_on_its_sensor_with_the_reason(client: TestClient, hand_fed: HandFedNode) -> None:
    failed = {"N-SSR1": {"state": "failed", "reason": "OSError: [Errno 98] Address already in use"}}
    hand_fed.push(T0 + 21, system_tracks(T0 + 21), inputs=failed)
    sign_in(client, "viewer")
    (sensor,) = client.get("/api/sensors").json()["sensors"]
    assert sensor["input_state"] == "failed" and "Address already in use" in sensor["input_reason"]
