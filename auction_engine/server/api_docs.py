"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), from assets served here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc Google's fonts), so on an
air-gapped exchange network /docs was blank. These pages take the same scripts from the
`fastapi-offline` package, which ships Swagger UI 5 (OpenAPI 3.1, what this server describes
itself in), ReDoc 2 and a favicon, mounted at /docs/assets: every asset a page references is on the
server's own origin. Swagger UI's online validator badge, which would fetch an image from
validator.swagger.io, is off.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "add_api_docs"]

ASSETS = "/docs/assets"
"""Where the pages' scripts, stylesheet and favicon are served."""
_SWAGGER_PARAMETERS = {"validatorUrl": None}  # no badge from validator.swagger.io


def add_api_docs(app: FastAPI) -> None:
    """Add GET /docs, GET /redoc and the assets they load to `app` (created with docs_url=redoc_url=None)."""
    directory = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(directory)), name="api-docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API (ReDoc)",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
