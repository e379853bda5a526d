"""The WebSocket stream (snapshot then deltas) and the picture sources (scenario, recording replay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from commonsky.network.runner import ScenarioSession
from commonsky.sim import load_scenario
from commonsky.web.picture import STREAM_COLUMNS, picture_delta
from commonsky.web.replay import ReplaySource
from commonsky.web.scenario import ScenarioSource
from tests.web.conftest import T0, WS, no_auth_client, push_until_cleared, sign_in, system_tracks
from tests.web.hand_fed import HandFedNode

BORDER3 = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples" / "border3.toml"


def test_stream_needs_sign_in(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(WS) as ws:
        ws.receive_json()


def test_stream_sends_snapshot_then_deltas(client: TestClient, hand_fed: HandFedNode) -> None:
    sign_in(client, "viewer")
    with client.websocket_connect(WS) as ws:
        first = ws.receive_json()
        assert first["type"] == "snapshot" and first["time_s"] == T0 + 20
        assert set(first["tracks"]) == set(STREAM_COLUMNS) and first["tracks"]["id"] == [1, 2, 3]
        assert first["zones"]["features"] and first["alerts"][0]["id"] == "1"
        moved = system_tracks(T0 + 21, shift_deg=0.01).take([0, 1])  # all move; track 3 gone
        hand_fed.push(T0 + 21, moved)
        delta = ws.receive_json()
    assert delta["type"] == "delta" and delta["time_s"] == T0 + 21
    assert delta["moved"]["id"] == [1, 2] and delta["moved"]["lat"] == [47.51, 47.61]
    assert delta["upsert"]["id"] == [] and delta["removed"] == [3]
    assert "alerts" not in delta and "zones" not in delta


def test_delta_sends_changed_attributes_in_full_and_alerts_when_they_change(hand_fed: HandFedNode) -> None:
    before = hand_fed.feed.snapshot()
    after = hand_fed.push(T0 + 20, system_tracks(T0 + 20, squawk_7700=False))
    delta = picture_delta(before, after)
    assert (
        delta["upsert"]["id"] == [2] and delta["upsert"]["squawk"] == ["2000"] and delta["upsert"]["alerts"] == [["1"]]
    )
    assert delta["moved"]["id"] == []  # positions rounded the same: nothing moved
    assert "alerts" not in delta  # the alert holds until the code has been gone for the clear time
    cleared_at = push_until_cleared(hand_fed, T0 + 21)
    before = hand_fed.push(cleared_at, system_tracks(cleared_at, squawk_7700=False))
    assert picture_delta(after, before)["alerts"][0]["state"] == "cleared"
    assert len(json.dumps(delta)) < len(json.dumps(picture_delta(None, after)))


@pytest.fixture(scope="module")
def border3() -> ScenarioSource:
    """The border3 demo, north's view, stepped by hand to 215 s (after the emergency squawk at 200 s)."""
    source = ScenarioSource(ScenarioSession(load_scenario(BORDER3)), partner="north")
    for _ in range(215):
        source.step()
    return source


def test_scenario_source_builds_north_view_with_emergency_alert(border3: ScenarioSource) -> None:
    pic = border3.snapshot()
    assert pic.partner == "north" and pic.time_s == load_scenario(BORDER3).start_time_s + 215
    assert len(pic.fused) > 30
    (alert,) = [a for a in pic.alerts if a["kind"] == "emergency_squawk"]
    row = pic.index[alert["system_id"]]
    assert pic.columns["squawk"][row] == "7700" and pic.columns["alerts"][row] == [alert["id"]]
    assert {p["id"]: p["status"] for p in pic.partners} == {"east": "up", "west": "up"}
    own = {s["id"] for s in pic.sensors if s["own"]}
    assert own == {"N-PSR1", "N-SSR1", "N-ADSB1"} and len(pic.sensors) == 8
    assert all(pic.time_s - s["last_plot_s"] < 10 for s in pic.sensors if s["own"])
    registration = {s["id"]: s["registration"] for s in pic.sensors if s["own"]}
    assert registration["N-ADSB1"] is None  # ADS-B needs no registration
    assert registration["N-PSR1"] is not None and registration["N-PSR1"]["samples"] > 0
    assert set(pic.columns["identity"]) <= {"pending", "unknown", "assumed_friend", "neutral"}
    assert "unknown" in pic.columns["identity"]  # primary-radar-only tracks (the low intruder among them)


def test_scenario_source_refuses_unknown_partner_and_seek(border3: ScenarioSource) -> None:
    with pytest.raises(ValueError, match="not one of"):
        ScenarioSource(border3.session, partner="south")
    with pytest.raises(Exception, match="cannot seek"):
        border3.seek(0.0)
    assert border3.session_view() is border3  # a live scenario is shared by every session


def test_scenario_source_runs_in_background_until_stop(tmp_path: Path) -> None:
    source = ScenarioSource(ScenarioSession(load_scenario(BORDER3)), speed=200.0, stop_s=20)
    source.start()
    source.close()  # closing stops the thread promptly, wherever it got to
    assert source.snapshot().time_s <= load_scenario(BORDER3).start_time_s + 20


def test_replay_source_seeks_and_shows_recorded_actions(tmp_path: Path) -> None:
    session = ScenarioSession(load_scenario(BORDER3), out=tmp_path)
    live = ScenarioSource(session, partner="north")
    for _ in range(60):
        live.step()
    sid = live.snapshot().columns["id"][0]
    live.override_identity(sid, "hostile", "ops1")  # the node records the action in its recording
    for _ in range(20):
        live.step()
    live.close()

    replay = ReplaySource(tmp_path / "north" / "recording", clock=lambda: 0.0)  # frozen: it moves only by seek
    t0 = load_scenario(BORDER3).start_time_s
    first = replay.snapshot()
    assert first.replay == {"start_s": t0 + 1, "end_s": t0 + 80, "time_s": t0 + 1}
    replay.seek(t0 + 70)
    pic = replay.snapshot()
    assert pic.time_s == t0 + 70 and pic.replay is not None and pic.replay["time_s"] == t0 + 70
    assert pic.columns["identity"][pic.index[sid]] == "hostile"
    last = pic.identity_history(sid)[-1]
    assert last["identity"] == "hostile" and last["by"] == "ops1" and last["time_s"] == t0 + 60
    assert [e.user for e in replay.audit()] == ["ops1"]
    with pytest.raises(Exception, match="read-only"):
        replay.override_identity(sid, "friend", "ops2")
    replay.seek(t0 + 500)  # clamped to the end: the same picture as the live run, bit for bit
    assert replay.snapshot().time_s == t0 + 80
    assert replay.snapshot().fused.lat_deg.tolist() == live.snapshot().fused.lat_deg.tolist()
    assert replay.snapshot().identity == live.snapshot().identity
    replay.seek(t0 + 30)  # back before the action
    assert replay.snapshot().time_s == t0 + 30 and replay.audit() == []

    from commonsky.web.app import create_app

    with no_auth_client(create_app(replay, None)) as api:
        assert api.get("/api/replay").json() == {  # the session's own playhead, from the start
            "available": True,
            "start_s": t0 + 1,
            "end_s": t0 + 80,
            "time_s": t0 + 1,
        }
        assert api.post("/api/replay/seek", json={"time_s": t0 + 75}).status_code == 200
        assert api.get("/api/tracks").json()["time_s"] == t0 + 75
        assert api.post(f"/api/tracks/{sid}/identity", json={"identity": "friend"}).status_code == 409
    assert replay.snapshot().time_s == t0 + 30  # the session's seek left the source's own view alone


def test_the_feed_keeps_a_bounded_number_of_cleared_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("commonsky.web.feed.CLEARED_KEPT", 2)
    hand_fed = HandFedNode("north")
    t = T0
    for _ in range(4):  # four emergencies, each raised and then cleared
        for k in range(20):
            hand_fed.push(t + k, system_tracks(t + k))
        t = push_until_cleared(hand_fed, t + 20) + 1
    cleared = [a for a in hand_fed.feed.snapshot().alerts if a["state"] == "cleared"]
    assert len(cleared) == 2 and min(int(a["id"]) for a in cleared) > 2  # the two newest of four
