"""Debian's chromium as the browser test and the display benchmark launch it (headless, through Playwright)."""

from __future__ import annotations

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
