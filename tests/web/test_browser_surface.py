"""The surface picture in a real browser (Debian chromium driven by Playwright): an aircraft and a vessel on the
Danube, their milsymbol symbols, the vessel's detail, the river and works layers, the domain filter kept per browser;
then the river scenario's picture with its alerts.

Saves `artifacts/river.png` (copied to docs/images/river.png for the README). Skipped only when /usr/bin/chromium
is absent (`make test` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commonsky.cli.common import EXAMPLES
from commonsky.network.runner import ScenarioSession
from commonsky.sim import load_scenario
from commonsky.web.app import create_app
from commonsky.web.auth import DEMO_USERS, load_users
from commonsky.web.picture import waterway_geojson
from commonsky.web.scenario import ScenarioSource
from tests.web.chromium import CHROMIUM, page_without_errors, sign_in
from tests.web.conftest import LiveServer
from tests.web.test_surface_display import MMSI, WATERWAY, river_node

ROOT = Path(__file__).resolve().parents[2]
RIVER = EXAMPLES / "river.toml"
RIVER_SCREENSHOT = ROOT / "artifacts" / "river.png"
RIVER_STOP_S = 380
"""After the dark vessel's entry into the works zone, the AIS switched off, the spoofed AIS and the fast craft."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]

RENDERED = "window.commonsky.rendered().map((f) => f.icon).sort()"
"""The icons of the track symbols drawn on the map, one per shown track in view (e.g. air-neutral, surface-unknown)."""


@pytest.fixture
def page() -> Iterator[Any]:
    with page_without_errors(1400, 850) as page:
        yield page


def shown_icons(page: Any, expected: str) -> None:
    """Wait until the map draws exactly the symbols whose icon names start as `expected` says ('air surface')."""
    page.wait_for_function(f"() => {RENDERED}.map((i) => i.split('-')[0]).join(' ') === {expected!r}", timeout=30_000)


def test_vessels_have_sea_surface_symbols_and_the_domain_filter_hides_aircraft(page: Any) -> None:
    hand = river_node(waterway_geojson(WATERWAY))
    with LiveServer(create_app(hand.feed, None, stream_interval_s=0.2)) as server:
        page.goto(server.url + "/")
        page.wait_for_function("() => window.commonsky.trackCount() === 2", timeout=60_000)
        page.get_by_test_id("fit-picture").click()
        shown_icons(page, "air surface")
        icons = page.evaluate(RENDERED)
        assert icons[0].startswith("air-") and icons[1].startswith("surface-")

        # the river, its border and the works zone are drawn under the tracks
        page.wait_for_function(
            "() => ['water', 'water-border', 'works-line'].every("
            "(l) => window.commonsky.map.queryRenderedFeatures({ layers: [l] }).length > 0)",
            timeout=30_000,
        )

        # the vessel's detail: MMSI, call sign, speed in knots, course, sensor kinds, owners
        page.evaluate("window.commonsky.select(2)")
        page.wait_for_function(f"() => document.querySelector('[data-testid=detail-mmsi]')?.textContent === '{MMSI}'")
        assert page.get_by_test_id("detail-title").inner_text() == "T2 OMAB2"
        assert page.get_by_test_id("detail-callsign").inner_text() == "OMAB2"
        assert page.get_by_test_id("detail-speed").inner_text() == "8 kn"  # 4 m/s
        assert page.get_by_test_id("detail-sensors").inner_text() == "AIS, shore radar"
        assert page.get_by_test_id("detail-partners").inner_text() == "hu, sk (reported by hu)"

        # surface only: the aircraft leaves the map and the table; the choice outlives a reload
        page.get_by_test_id("filter-domain").select_option("surface")
        shown_icons(page, "surface")
        assert page.locator("[data-testid=track-row]").evaluate_all("rs => rs.map((r) => r.dataset.domain)") == [
            "surface"
        ]
        assert page.get_by_test_id("track-count").inner_text() == "1 of 2 tracks"
        page.reload()
        page.wait_for_function("() => window.commonsky.trackCount() === 2", timeout=60_000)
        assert page.get_by_test_id("filter-domain").input_value() == "surface"
        page.get_by_test_id("fit-picture").click()
        shown_icons(page, "surface")

        page.get_by_test_id("filter-domain").select_option("air")
        page.get_by_test_id("fit-picture").click()  # the aircraft is off this close view of the river
        shown_icons(page, "air")


def test_river_picture_with_its_alerts(page: Any) -> None:
    """The river scenario's fused surface picture at RIVER_STOP_S, with the surface alerts; saves `RIVER_SCREENSHOT`."""
    scenario = load_scenario(RIVER)
    source = ScenarioSource(ScenarioSession(scenario), speed=50.0, stop_s=RIVER_STOP_S)
    with LiveServer(create_app(source, load_users(DEMO_USERS), stream_interval_s=0.5)) as server:
        sign_in(page, server.url)
        page.get_by_test_id("filter-domain").select_option("surface")
        page.wait_for_function(
            f"() => window.commonsky.state.time_s === {scenario.start_time_s + RIVER_STOP_S}", timeout=120_000
        )
        api = page.request.get(server.url + "/api/tracks?domain=surface").json()
        assert api["count"] > 5 and api["count"] == page.request.get(server.url + "/api/tracks").json()["count"]
        page.get_by_test_id("fit-picture").click()
        page.wait_for_function(f"() => window.commonsky.renderedCount() === {api['count']}", timeout=30_000)
        assert {icon.split("-")[0] for icon in page.evaluate(RENDERED)} == {"surface"}
        page.wait_for_function(
            "() => window.commonsky.map.queryRenderedFeatures({ layers: ['water', 'works-line'] }).length > 1"
        )

        # the surface alerts, each under its registry label; the newest raised one's vessel selected
        kinds = {k["kind"]: k["label"] for k in page.request.get(server.url + "/api/alert-kinds").json()}
        page.get_by_test_id("tab-alerts").click()
        raised = page.locator("[data-testid=alert-row][data-state=raised]")
        raised.first.wait_for()
        page.wait_for_function("() => window.commonsky.state.alertKinds.size > 0")
        rows = page.locator("[data-testid=alert-row]")
        for i in range(rows.count()):
            row = rows.nth(i)
            assert row.locator(".kind").inner_text() == kinds[row.get_attribute("data-kind") or ""]
        assert "[object" not in page.get_by_test_id("alert-list").inner_text()  # nested evidence written out
        vessel = int(raised.first.get_attribute("data-system-id") or -1)
        raised.first.click()
        page.get_by_test_id("detail-mmsi").wait_for()
        page.evaluate(  # closer, on the alerting vessel right of the detail panel, for the screenshot
            "(id) => { const t = window.commonsky.state.tracks.get(id); "
            "window.commonsky.map.jumpTo({ center: [t.lon, t.lat], zoom: 13.5, padding: { left: 350 } }); }",
            vessel,
        )
        page.evaluate("window.commonsky.idle()")
        RIVER_SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(RIVER_SCREENSHOT))
    assert RIVER_SCREENSHOT.stat().st_size > 50_000
