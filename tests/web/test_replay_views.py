"""Replay playheads per session: `ReplaySource.session_view()` views seek and play independently, lazily."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from commonsky.network.runner import ScenarioSession
from commonsky.sim import load_scenario
from commonsky.web.feed import PictureFeed
from commonsky.web.replay import ReplaySource, ReplayView
from commonsky.web.scenario import ScenarioSource

BORDER3 = Path(__file__).resolve().parents[2] / "src" / "commonsky" / "examples" / "border3.toml"
T0 = load_scenario(BORDER3).start_time_s
SPEED = 2.0
STEPS = 180
"""The recording runs to t0+180: past the first alerts (~t0+171 and ~t0+173) of north's picture."""


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplaySource, int]:
    """North's border3 recording to t0+180 (an operator override at t0+60), replayed at 2x on a frozen clock;
    and the overridden system id."""
    out = tmp_path_factory.mktemp("border3")
    live = ScenarioSource(ScenarioSession(load_scenario(BORDER3), out=out), partner="north")
    for _ in range(60):
        live.step()
    sid = live.snapshot().columns["id"][0]
    live.override_identity(sid, "hostile", "ops1")
    for _ in range(STEPS - 60):
        live.step()
    live.close()
    return ReplaySource(out / "north" / "recording", speed=SPEED, clock=FakeClock()), sid


def test_two_views_seek_independently(recorded: tuple[ReplaySource, int]) -> None:
    replay, sid = recorded
    early, late = replay.session_view(), replay.session_view()
    assert isinstance(early, ReplayView) and early is not late
    early.seek(T0 + 30)
    before = early.snapshot()
    late.seek(T0 + 10_000)  # clamped to the end
    assert early.snapshot() is before and early.version == before.version  # the other's seek moved nothing here
    end = late.snapshot()
    assert before.time_s == T0 + 30 and before.replay == {"start_s": T0 + 1, "end_s": T0 + STEPS, "time_s": T0 + 30}
    assert end.time_s == T0 + STEPS and end.replay is not None and end.replay["time_s"] == T0 + STEPS
    assert before.version != end.version
    assert before.alerts == [] and end.alerts
    assert early.audit() == [] and [(e.user, e.target) for e in late.audit()] == [("ops1", str(sid))]
    assert before.columns["identity"][before.index[sid]] != "hostile"
    assert end.columns["identity"][end.index[sid]] == "hostile"
    assert replay.snapshot().time_s == T0 + 1  # the source's own default view stayed at the start


def test_view_plays_forward_with_its_clock(recorded: tuple[ReplaySource, int]) -> None:
    replay, _ = recorded
    clock = FakeClock()
    view = ReplayView(replay, clock)
    view.seek(T0 + 10)
    version = view.version
    clock.now += 3 / SPEED
    assert view.snapshot().time_s == T0 + 13 and view.version == version + 3  # one picture per tick played
    clock.now += 0.9 / SPEED
    assert view.snapshot().time_s == T0 + 13  # not yet a whole tick further
    clock.now += 10_000.0
    assert view.snapshot().time_s == T0 + STEPS  # plays to the end and holds there
    view.seek(T0 + 100)  # a seek restarts play from the new position
    clock.now += 2 / SPEED
    assert view.snapshot().time_s == T0 + 102


def test_seeking_back_restores_alerts_as_they_were(recorded: tuple[ReplaySource, int]) -> None:
    replay, _ = recorded
    view = replay.session_view()
    view.seek(T0 + STEPS)
    raised = sorted({a["time_s"] for a in view.snapshot().alerts})
    assert len(raised) >= 2, "the recording should raise alerts at two different times"
    for back in (raised[0], T0 + 30):  # some of the end's alerts, then none
        view.seek(back)
        fresh = replay.session_view()
        fresh.seek(back)
        pic, want = view.snapshot(), fresh.snapshot()
        assert pic.time_s == want.time_s == back
        assert json.dumps(pic.columns) == json.dumps(want.columns)  # NaN-safe: unknown vertical speeds
        assert pic.alerts == want.alerts and pic.identity == want.identity and pic.replay == want.replay
        assert view.audit() == fresh.audit()
        assert all(a["time_s"] <= back for a in pic.alerts)
    assert view.snapshot().alerts == []


def test_concurrent_readers_and_seeks_leave_the_view_consistent(recorded: tuple[ReplaySource, int]) -> None:
    replay, _ = recorded
    view = replay.session_view()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(40):
                pic = view.snapshot()
                assert pic.replay is not None and pic.replay["time_s"] == pic.time_s
        except AssertionError as exc:  # reported to the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for k in range(20):
        view.seek(T0 + (STEPS if k % 2 else 20))
    for thread in readers:
        thread.join()
    assert errors == []
    fresh = replay.session_view()
    fresh.seek(T0 + STEPS)
    assert view.snapshot().alerts == fresh.snapshot().alerts and view.snapshot().time_s == T0 + STEPS


def test_default_view_and_shared_sources(recorded: tuple[ReplaySource, int], feed: PictureFeed) -> None:
    replay, sid = recorded
    replay.start()
    assert replay.seekable and replay.snapshot().time_s == T0 + 1
    view = replay.session_view()
    replay.seek(T0 + 70)
    assert replay.snapshot().time_s == T0 + 70 and [e.user for e in replay.audit()] == ["ops1"]
    assert view.snapshot().time_s == T0 + 1  # a session's view does not follow the default view
    with pytest.raises(Exception, match="read-only"):
        replay.override_identity(sid, "friend", "ops2")
    with pytest.raises(Exception, match="read-only"):
        view.override_identity(sid, "friend", "ops2")
    replay.seek(T0)
    assert replay.snapshot().time_s == T0 + 1 and replay.audit() == []
    replay.close()
    assert feed.session_view() is feed  # a live feed is shared by every session


def test_each_signed_in_session_has_its_own_replay_position(recorded: tuple[ReplaySource, int]) -> None:
    from commonsky.web.app import create_app
    from commonsky.web.auth import DEMO_USERS, load_users
    from tests.web.conftest import WS, local_client, sign_in

    replay, _ = recorded
    app = create_app(replay, load_users(DEMO_USERS))
    with local_client(app) as alice, local_client(app) as bob:
        sign_in(alice, "viewer")
        sign_in(bob, "operator")
        assert alice.post("/api/replay/seek", json={"time_s": T0 + 30}).json()["time_s"] == T0 + 30
        assert bob.post("/api/replay/seek", json={"time_s": T0 + 150}).json()["time_s"] == T0 + 150
        assert alice.get("/api/tracks").json()["time_s"] == T0 + 30
        assert bob.get("/api/tracks").json()["time_s"] == T0 + 150
        with alice.websocket_connect(WS) as ws:
            assert ws.receive_json()["time_s"] == T0 + 30  # the stream follows the session's own playhead
        alice.post("/api/logout")
        sign_in(alice, "viewer")  # a new session starts at the beginning again
        assert alice.get("/api/replay").json()["time_s"] == T0 + 1
