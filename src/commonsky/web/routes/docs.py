"""The API's own documentation for signed-in users: the OpenAPI document and the page that renders it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from commonsky.web.access import Viewer

STATIC = Path(__file__).resolve().parents[1] / "static"
"""The page's files (the map page, the docs page, vendored scripts)."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/api/openapi.json")
def openapi(user: Viewer, request: Request) -> dict[str, Any]:
    """The OpenAPI document of the display's API."""
    return request.app.openapi()


@router.get("/docs")
def docs(user: Viewer) -> FileResponse:
    """The API's documentation page (it renders /api/openapi.json)."""
    return FileResponse(STATIC / "docs.html", headers={"Content-Security-Policy": DOCS_CSP})
