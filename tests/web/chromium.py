"""Debian's chromium as the browser test and the display benchmark launch it (headless, through Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
"""Installed by `make test` (scripts/install_chromium.sh) when it is missing."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""WebGL still works with these: chromium falls back to SwiftShader (software) when the GPU is disabled."""


def launch(playwright: Any, extra_args: tuple[str, ...] = ()) -> Any:
    """A headless Debian chromium under Playwright's sync API (`extra_args`: e.g. host resolver rules)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])


@contextmanager
def page_without_errors(width: int, height: int) -> Iterator[Any]:
    """A page of a fresh chromium at this viewport; on leaving, no script error may have happened on it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        browser.close()
        assert errors == [], errors


def sign_in(page: Any, url: str, name: str = "operator") -> None:
    """Sign in through the page's form, as `name` with its demo password."""
    page.goto(url + "/")
    page.get_by_test_id("login-dialog").wait_for(state="visible")
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(f"{name}-demo")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("login-dialog").wait_for(state="hidden")
