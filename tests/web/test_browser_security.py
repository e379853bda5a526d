"""The display against hostile pages in a real browser (Debian chromium driven by Playwright).

The attacker holds only what a web page holds: it is served from another origin on the same machine
(127.0.0.1, another port: the same *site*, so the operator's SameSite=Strict cookie does travel with
its requests), or it rebinds a name of its own to the display's address. It tries every route: writes
with the cookie, the picture stream, framing the page, reaching the display under its own name.
Skipped only when /usr/bin/chromium is absent (`make test` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from commonsky.web.app import create_app
from commonsky.web.auth import DEMO_USERS, load_users
from commonsky.web.feed import PictureFeed
from commonsky.web.security import SecurityLog
from tests.web.chromium import CHROMIUM, launch, sign_in
from tests.web.conftest import LiveServer

REBOUND = "rebound.attacker.test"
"""A name the attacker controls, resolved to the display's address (as DNS rebinding would)."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]

ATTACK = """<!doctype html><html><body><script>
const target = "%(target)s";
const results = {writes: [], stream: null, framed: null};
async function attack() {
  for (const [path, body] of [["/api/alerts/1/ack", ""], ["/api/tracks/1/identity", '{"identity":"hostile"}'],
                              ["/api/replay/seek", '{"time_s":0}'], ["/api/logout", ""]]) {
    try {  // a "simple" request: no preflight, the cookie goes along; the answer is opaque to the page
      await fetch(target + path, {method: "POST", mode: "no-cors", credentials: "include",
                                  headers: {"Content-Type": "text/plain"}, body});
      results.writes.push(path);
    } catch (e) { results.writes.push(path + " failed: " + e); }
  }
  results.stream = await new Promise((resolve) => {
    const ws = new WebSocket(target.replace("http", "ws") + "/ws");
    let messages = 0;
    ws.onmessage = () => { messages += 1; };
    ws.onclose = (e) => resolve({messages, code: e.code});
    setTimeout(() => resolve({messages, code: "still open"}), 20000);
  });
  window.results = results;
}
attack();
</script><iframe id="frame" src="%(target)s/"></iframe></body></html>"""


def attacker_site(target: str) -> FastAPI:
    """The hostile page, served from another origin."""
    app = FastAPI()

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(ATTACK % {"target": target})

    return app


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, (f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1",))
        yield browser
        browser.close()


def test_a_page_of_another_origin_cannot_act_stream_or_frame_with_the_operators_session(
    browser: Any, feed: PictureFeed
) -> None:
    log = SecurityLog()
    display = LiveServer(create_app(feed, load_users(DEMO_USERS), stream_interval_s=0.2, security_log=log))
    with display, LiveServer(attacker_site(display.url)) as attacker:
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, display.url)
        hostile = context.new_page()
        hostile.goto(attacker.url + "/")
        hostile.wait_for_function("window.results !== undefined", timeout=60_000)
        results = hostile.evaluate("window.results")
        frame = hostile.frame_locator("#frame")
        framed = hostile.frames[1].evaluate("document.querySelector('[data-testid=login-dialog]') !== null")
        assert frame is not None and framed is False  # frame-ancestors 'none': the display never renders inside

        assert len(results["writes"]) == 4 and results["stream"]["messages"] == 0, results
        assert feed.snapshot().alerts[0]["state"] == "raised" and feed.audit() == []
        refused = [(e["event"], e["path"]) for e in log.recent() if e["event"] == "refused_origin"]
        assert refused == [
            ("refused_origin", "/api/alerts/1/ack"),
            ("refused_origin", "/api/tracks/1/identity"),
            ("refused_origin", "/api/replay/seek"),
            ("refused_origin", "/api/logout"),
            ("refused_origin", "/ws"),
        ]
        # the operator's own page still works: the session survived the forged sign-out
        assert context.request.get(display.url + "/api/me").status == 200
        page.get_by_test_id("stream-state").filter(has_text="live").wait_for()
        context.close()


def test_a_rebound_name_reaches_nothing(browser: Any, feed: PictureFeed) -> None:
    log = SecurityLog()
    with LiveServer(create_app(feed, load_users(DEMO_USERS), security_log=log)) as display:
        page = browser.new_page()
        response = page.goto(f"http://{REBOUND}:{display.port}/")
        assert response.status == 400 and "not served here" in page.content()
        api = page.evaluate("fetch('/api/sign-in').then((r) => r.status)")
        assert api == 400
        assert {e["event"] for e in log.recent()} == {"refused_host"}
        page.close()


def test_signing_out_in_one_tab_closes_the_stream_in_the_other(browser: Any, feed: PictureFeed) -> None:
    with LiveServer(create_app(feed, load_users(DEMO_USERS), stream_interval_s=0.2)) as display:
        context = browser.new_context()
        first = context.new_page()
        sign_in(first, display.url, "viewer")
        first.get_by_test_id("stream-state").filter(has_text="live").wait_for()
        second = context.new_page()
        second.goto(display.url + "/")
        second.get_by_test_id("logout").click()
        first.get_by_test_id("login-dialog").wait_for(state="visible")
        assert first.get_by_test_id("stream-state").inner_text() == "offline"
        context.close()
