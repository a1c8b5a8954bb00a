"""Every JSON answer the server writes, in one place.

`JSONAnswer` is the one writer of a JSON answer (status, body bytes, headers): the routes return it,
the exception handlers return it, and the ASGI middleware (the request guard, the fast lane) send it
with `await answer(scope, receive, send)`, so an answer has the same bytes and headers whichever
part of the server gives it. The functions below build the answers' bodies:

- a refusal the API makes itself (`ApiError`, the request guard, a malformed request):
  `{"ok": false, "code", "message", "field", "server_time"}` (`field` names the part at fault, or null);
- a problem that names no field (an unknown route, the ledger unavailable, an internal error, the
  public log's refusals): `{"ok": false, "code", "message", "server_time"}`;
- a command's outcome: `{"ok": true, "seq", "rule", "server_time"}` or
  `{"ok": false, "code", "message", "seq", "server_time"}`, plus `"replayed": true` (and the header
  `Idempotent-Replayed: true`) when an idempotency key answered it again.

JSON here is compact UTF-8 with byte strings as hex (the WebSocket feed writes its messages with
the same `to_json`). orjson writes it; what orjson refuses (an integer beyond 64 bits, a key that is
not a string) the standard library's encoder writes, in the same compact form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from .live import Outcome, Unavailable

__all__ = [
    "ApiError",
    "JSONAnswer",
    "api_error",
    "internal_error",
    "json_bytes",
    "outcome_answer",
    "problem",
    "refusal",
    "status_for",
    "to_json",
    "unavailable",
]

_NOT_FOUND = frozenset({"unknown_lot", "unknown_submarket"})
_FORBIDDEN = frozenset(
    {
        "forbidden",
        "not_buyer",
        "not_offered",
        "wrong_payer",
        "seller_cannot_register",
        "seller_cannot_offer",
        "buyer_cannot_offer",
        "seller_cannot_bid",
        "operator_cannot_bid",
        "signature_required",
        "bad_signature",
    }
)
_INVALID = frozenset(
    {
        "bad_command",
        "bad_param",
        "missing_param",
        "bad_hash",
        "nonce_too_short",
        "bad_plan",
        "bad_amount",
        "unknown_mode",
        "unknown_command",
        "no_key",
        "bad_statement",
    }
)


def status_for(code: str | None) -> int:
    """The HTTP status of a rules rejection: 404 unknown lot, 403 not this actor's to do, 422 invalid, else 409."""
    if code in _NOT_FOUND:
        return 404
    if code in _FORBIDDEN:
        return 403
    if code in _INVALID:
        return 422
    return 409


class ApiError(Exception):
    """A refusal the API answers itself (before or instead of the rules)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


# -- the JSON --------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def json_bytes(value: Any) -> bytes:
    """Compact JSON with byte strings as hex, as UTF-8 bytes."""
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError:  # beyond orjson (a 65-bit integer, an integer key): the standard encoder
        return _ENCODER.encode(value).encode("utf-8")


def to_json(value: Any) -> str:
    """`json_bytes` as text."""
    return json_bytes(value).decode("utf-8")


class JSONAnswer(Response):
    """A JSON answer: `JSONAnswer(body, status, headers)`; a Starlette response, so also an ASGI app.

    Its headers are `headers` (lower-cased), then `content-length` and `content-type: application/json`.
    """

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(content, status_code, headers)

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


# -- the answers -----------------------------------------------------------------------------------


def refusal(
    status: int, code: str, message: str, field: str | None, now: int, headers: Mapping[str, str] | None = None
) -> JSONAnswer:
    """A refusal that names the field at fault (`field` None: the request as a whole)."""
    body = {"ok": False, "code": code, "message": message, "field": field, "server_time": now}
    return JSONAnswer(body, status, headers)


def problem(status: int, code: str, message: str, now: int, headers: Mapping[str, str] | None = None) -> JSONAnswer:
    """A problem that names no field."""
    return JSONAnswer({"ok": False, "code": code, "message": message, "server_time": now}, status, headers)


def api_error(exc: ApiError, now: int) -> JSONAnswer:
    """The answer to an ApiError (a 401 says which scheme to use: `WWW-Authenticate: Bearer`)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return refusal(exc.status, exc.code, exc.message, exc.field, now, headers)


def unavailable(exc: Unavailable, now: int) -> JSONAnswer:
    """503: the ledger cannot be written now, or the market is stopped (the message says which)."""
    return problem(503, "ledger_unavailable", str(exc), now)


def internal_error(exc: BaseException, now: int) -> JSONAnswer:
    """500: a failure of the server itself, named by its exception."""
    return problem(500, "internal_error", f"{type(exc).__name__}: {exc}", now)


def outcome_answer(outcome: Outcome, now: int, receipt: str) -> JSONAnswer:
    """The answer to a command the engine ran (or an idempotency key answered again), with its entry's receipt."""
    if outcome.ok:
        body: dict[str, Any] = {"ok": True, "seq": outcome.seq, "rule": outcome.rule, "server_time": now}
        status = 200
    else:
        body = {"ok": False, "code": outcome.code, "message": outcome.message, "seq": outcome.seq, "server_time": now}
        status = status_for(outcome.code)
    body["receipt"] = receipt
    if outcome.replayed:
        body["replayed"] = True
        return JSONAnswer(body, status, {"Idempotent-Replayed": "true"})
    return JSONAnswer(body, status)
