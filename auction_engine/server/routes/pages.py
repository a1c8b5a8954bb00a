"""The web pages: HTML rendered in the reader's language (server/i18n.py), vanilla JS and CSS, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from .. import i18n
from ..dependencies import market_of

__all__ = ["PAGES", "router", "static_files"]

PAGES = Path(__file__).resolve().parent.parent / "pages"
"""The directory of the pages and their assets (served under /static)."""

router = APIRouter(include_in_schema=False)


COOKIE_AGE_S = 400 * 86_400  # the longest a browser keeps a cookie (RFC 6265bis)


def _page(name: str, request: Request) -> Response:
    """The page in the reader's locale; a `?lang=` choice is kept in the `ae_lang` cookie."""
    asked = request.query_params.get("lang")
    locale = i18n.negotiate(asked, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie", "Content-Language": locale}
    timezone = market_of(request).timezone
    response = HTMLResponse(i18n.render_page(PAGES / name, locale, timezone), headers=headers)
    if asked and i18n.locale_of(asked) == locale:
        response.set_cookie(i18n.COOKIE, locale, max_age=COOKIE_AGE_S, samesite="lax", path="/")
    return response


@router.get("/")
async def index(request: Request) -> Response:
    """The market's front page: the lots."""
    return _page("index.html", request)


@router.get("/console")
async def console(request: Request) -> Response:
    """The operator's console."""
    return _page("console.html", request)


@router.get("/room")
async def room(request: Request) -> Response:
    """A lot's auction room."""
    return _page("room.html", request)


@router.get("/certificate")
async def certificate(request: Request) -> Response:
    """A certificate's page (looks a transaction code up and verifies it)."""
    return _page("certificate.html", request)


def static_files() -> StaticFiles:
    """The pages' assets, for `app.mount("/static", …)` (a router cannot carry a mount)."""
    return StaticFiles(directory=PAGES)
