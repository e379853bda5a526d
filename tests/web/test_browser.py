"""The map page in a real browser (Debian chromium driven by Playwright): sign-in, symbols, detail, alert ack.

Saves `artifacts/web_demo.png`. Skipped only when /usr/bin/chromium is absent (`make test` installs it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commonsky.network.runner import ScenarioSession
from commonsky.sim import load_scenario
from commonsky.web.app import create_app
from commonsky.web.auth import DEMO_USERS, load_users
from commonsky.web.scenario import ScenarioSource
from tests.web.chromium import CHROMIUM, page_without_errors, sign_in
from tests.web.conftest import ZONES, LiveServer

ROOT = Path(__file__).resolve().parents[2]
BORDER3 = ROOT / "src" / "commonsky" / "examples" / "border3.toml"
SCREENSHOT = ROOT / "artifacts" / "web_demo.png"
STOP_S = 215

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def page() -> Iterator[Any]:
    with page_without_errors(1600, 900) as page:
        yield page


def test_operator_sees_picture_selects_track_and_acknowledges_emergency(page: Any) -> None:
    start = load_scenario(BORDER3).start_time_s
    source = ScenarioSource(ScenarioSession(load_scenario(BORDER3)), speed=50.0, zones=ZONES, stop_s=STOP_S)
    with LiveServer(create_app(source, load_users(DEMO_USERS), stream_interval_s=0.5)) as server:
        sign_in(page, server.url)
        assert page.get_by_test_id("user").inner_text() == "operator (operator)"

        # the scenario holds at STOP_S; then the page must show exactly the API's tracks
        page.wait_for_function(f"() => window.commonsky.state.time_s === {start + STOP_S}", timeout=90_000)
        api = page.request.get(server.url + "/api/tracks").json()
        assert api["time_s"] == start + STOP_S and api["count"] > 30
        page.get_by_test_id("fit-picture").click()  # every aircraft in view
        n = api["count"]
        page.wait_for_function(
            f"() => window.commonsky.trackCount() === {n} && window.commonsky.renderedCount() === {n}", timeout=30_000
        )

        # click the most isolated aircraft symbol on the map and read its detail
        box = page.get_by_test_id("map").bounding_box()
        points = page.evaluate(
            "ts => ts.map(t => { const p = window.commonsky.map.project([t.lon, t.lat]); return [t.id, p.x, p.y]; })",
            api["tracks"],
        )
        inside = [p for p in points if 40 < p[1] < box["width"] - 40 and 40 < p[2] < box["height"] - 80]
        sid, x, y = max(inside, key=lambda p: min(math.dist(p[1:], q[1:]) for q in points if q is not p))
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.get_by_test_id("track-detail").wait_for(state="visible")
        page.wait_for_function(
            f"document.querySelector('[data-testid=detail-title]').textContent.startsWith('T{sid} ')"
        )
        detail = page.request.get(f"{server.url}/api/tracks/{sid}").json()
        assert page.get_by_test_id("detail-partners").inner_text().startswith(", ".join(detail["partners"]))
        assert page.get_by_test_id("detail-identity").inner_text() == detail["identity"].replace("_", " ")

        # the emergency squawk alert: listed, acknowledged by the operator, audited
        page.get_by_test_id("tab-alerts").click()
        alert = page.locator("[data-testid=alert-row][data-kind=emergency_squawk]")
        alert.wait_for()
        assert alert.get_attribute("data-state") == "raised"
        emergency = int(alert.get_attribute("data-system-id") or -1)
        alert.get_by_test_id("ack-button").click()
        page.locator("[data-testid=alert-row][data-kind=emergency_squawk][data-state=acknowledged]").wait_for()
        audit = page.request.get(server.url + "/api/audit").json()
        assert [(e["user"], e["action"]) for e in audit] == [("operator", "acknowledge")]

        # show the emergency track's detail for the screenshot
        alert.click()
        page.wait_for_function("() => document.querySelector('[data-testid=detail-squawk]')?.textContent === '7700'")
        assert page.evaluate("window.commonsky.state.selected") == emergency
        page.get_by_test_id("tab-tracks").click()
        page.evaluate("window.commonsky.idle()")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000
