"""The application's exception handlers: every failure a route raises becomes a JSON answer.

`ApiError` (a refusal the API makes itself) keeps its status; `Unavailable` (the ledger cannot be
written, or the market is stopped) is 503; a request the route's parameters or schema refuse is
422 `malformed` naming the field; an unknown route is 404 and a method the path does not take is
405 with `Allow` listing every method of every route at that path; anything else is 500
`internal_error`. `EXCEPTION_HANDLERS` is what `create_app` gives FastAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .dependencies import market_of
from .live import Unavailable
from .responses import ApiError, api_error, internal_error, problem, refusal, unavailable

__all__ = ["EXCEPTION_HANDLERS", "MethodTable", "method_table", "validation_problem"]

log = logging.getLogger("auction_engine.server")


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else None


def validation_problem(exc: RequestValidationError) -> tuple[str, str | None]:
    """The message and the field of a request the route's parameters or body schema refuse (its first error)."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    loc = tuple(first.get("loc", ()))
    field = _field_of(loc)
    where = loc[0] if loc else "body"
    if first.get("type") == "json_invalid":
        message = f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
        field = None
    elif first.get("type") == "missing" and field is None:
        message = "the request needs a JSON body"
    elif first.get("type") == "extra_forbidden":
        message = f"field {field!r} is not a field of this command"
    elif field is None:
        message = f"the request {where}: {first.get('msg')}"
    else:
        kind = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(str(where), "field")
        message = f"{kind} {field!r}: {first.get('msg')}"
    return message, field


MethodTable = list[tuple[re.Pattern[str], frozenset[str]]]


def method_table(routes: Iterable[BaseRoute]) -> MethodTable:
    """(path pattern, methods) of every route that has methods: what a 405's `Allow` is read from.

    `create_app` keeps it, for all its routes, as `app.state.route_methods`.
    """
    table: MethodTable = []
    for route in routes:
        regex = getattr(route, "path_regex", None)
        methods = getattr(route, "methods", None)
        if regex is not None and methods:
            table.append((regex, frozenset(methods)))
    return table


def _allowed(request: Request) -> str:
    """Every method of every route whose path matches the request's (the `Allow` of a 405)."""
    table: MethodTable = request.app.state.route_methods
    methods: set[str] = set()
    for regex, route_methods in table:
        if regex.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _api_error(request: Request, exc: ApiError) -> Response:
    return api_error(exc, market_of(request).now())


async def _unavailable(request: Request, exc: Unavailable) -> Response:
    # a request that waited for durability while the store failed, or the market stopped (see /api/health)
    return unavailable(exc, market_of(request).now())


async def _malformed(request: Request, exc: RequestValidationError) -> Response:
    message, field = validation_problem(exc)
    return refusal(422, "malformed", message, field, market_of(request).now())


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code
    if exc.status_code == 404:
        message = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:  # every method of every route at this path, not only the first route's
        headers["Allow"] = _allowed(request)
    return problem(exc.status_code, code, message, market_of(request).now(), headers or None)


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return internal_error(exc, market_of(request).now())


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Any], Awaitable[Response]]] = {
    ApiError: _api_error,
    Unavailable: _unavailable,
    RequestValidationError: _malformed,
    StarletteHTTPException: _http_error,
    Exception: _internal,
}
"""Exception class → its handler, for `FastAPI(exception_handlers=…)`."""
