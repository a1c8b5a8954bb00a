"""In Chromium, cut off from everything but the market's server, /docs renders the API.

The browser is given only the server's origin: any request elsewhere is refused and recorded, as on
an air-gapped exchange network. Swagger UI must draw the operations of /openapi.json without having
tried to reach another host. (This is how ReDoc was found to load its logo from cdn.redoc.ly: /redoc
is off.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import LiveServer

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def offline_page(tmp_path: Path, live_server: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page that reaches only the live server; the list of every other URL it tried."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Chromium is not installed (scripts/install-browser.sh installs it)")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(live_server.url))
    elsewhere: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(origin + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_the_server)
            yield context.new_page(), elsewhere
        finally:
            browser.close()


def test_swagger_ui_renders_the_api_offline(offline_page: tuple[Any, list[str]], live_server: LiveServer) -> None:
    page, elsewhere = offline_page
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)  # an operation of /openapi.json, drawn by Swagger UI
    assert page.locator(".opblock").count() > 20
    assert "/api/lots" in page.locator(".swagger-ui").inner_text()
    assert elsewhere == []
