"""The web pages: static HTML, vanilla JS and CSS from `server/pages/`, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

__all__ = ["PAGES", "router", "static_files"]

PAGES = Path(__file__).resolve().parent.parent / "pages"
"""The directory of the pages and their assets (served under /static)."""

router = APIRouter(include_in_schema=False)


def _page(name: str) -> Response:
    return FileResponse(PAGES / name, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
async def index() -> Response:
    """The market's front page: the lots."""
    return _page("index.html")


@router.get("/console")
async def console() -> Response:
    """The operator's console."""
    return _page("console.html")


@router.get("/room")
async def room() -> Response:
    """A lot's auction room."""
    return _page("room.html")


@router.get("/certificate")
async def certificate() -> Response:
    """A certificate's page (looks a transaction code up and verifies it)."""
    return _page("certificate.html")


def static_files() -> StaticFiles:
    """The pages' assets, for `app.mount("/static", …)` (a router cannot carry a mount)."""
    return StaticFiles(directory=PAGES)
