"""/docs works offline: every asset it references is on the server's origin, and is served.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on an air-gapped network /docs was
blank. /redoc is off: ReDoc's bundle always fetches its logo from cdn.redoc.ly.
"""

from __future__ import annotations

import re

from .conftest import Market

_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")
_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def _references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(html)]


def test_the_api_page_references_only_same_origin_assets_that_are_served(market: Market) -> None:
    page = "/docs"
    answer = market.client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "http://" not in html and "https://" not in html and "//fonts." not in html, html
    references = _references(html)
    assert "/openapi.json" in references and any(r.endswith(".js") for r in references), references
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), f"{page} loads {reference} elsewhere"
        asset = market.client.get(reference)
        assert asset.status_code == 200, (reference, asset.status_code)
        kind = next(t for suffix, t in _TYPES.items() if reference.endswith(suffix))
        assert kind in asset.headers["content-type"], (reference, asset.headers["content-type"])
        assert len(asset.content) > (100_000 if reference.endswith(".js") else 100), reference  # the real files


def test_swagger_ui_reads_openapi_31_without_the_online_validator(market: Market) -> None:
    html = market.client.get("/docs").text
    assert '"validatorUrl": null' in html  # else Swagger UI fetches a badge from validator.swagger.io
    assert market.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = next(r for r in _references(html) if r.endswith("swagger-ui-bundle.js"))
    assert b"OAS31" in market.client.get(bundle).content  # Swagger UI 5: it renders OpenAPI 3.1 (4 does not)


def test_the_page_stays_out_of_the_api_description_and_redoc_is_off(market: Market) -> None:
    paths = market.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
    assert market.client.get("/docs/assets/no-such-file.js").status_code == 404
    assert market.client.get("/redoc").status_code == 404
