"""The API documentation page, /docs (Swagger UI), from assets this server serves itself.

FastAPI's own page loads Swagger UI from a CDN, so on an air-gapped exchange network /docs was
blank. This page takes the same script and stylesheet from the `fastapi-offline` package, which
ships Swagger UI 5 (it reads OpenAPI 3.1, what this server describes itself in) and a favicon,
mounted at /docs/assets: every asset the page references is on the server's own origin. Swagger
UI's online validator badge, which would fetch an image from validator.swagger.io, is off.

There is no /redoc: ReDoc's bundle always loads its logo from cdn.redoc.ly, a request an
air-gapped network refuses (and may flag); Swagger UI shows the same description.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "add_api_docs"]

ASSETS = "/docs/assets"
"""Where the page's script, stylesheet and favicon are served."""
_SWAGGER_PARAMETERS = {"validatorUrl": None}  # no badge from validator.swagger.io


def add_api_docs(app: FastAPI) -> None:
    """Add GET /docs and the assets it loads to `app` (created with docs_url=None, redoc_url=None)."""
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

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
