"""The shapes of the API's answers: refusals (`ApiError`), rules outcomes and their HTTP statuses."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .feed import json_bytes
from .live import Outcome

__all__ = ["ApiError", "json_response", "outcome_body", "status_for"]

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


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(body), status_code=status, media_type="application/json", headers=headers)


def outcome_body(outcome: Outcome, now: int) -> tuple[int, dict[str, Any]]:
    """The status and JSON body answering a command's outcome."""
    if outcome.ok:
        body: dict[str, Any] = {"ok": True, "seq": outcome.seq, "rule": outcome.rule, "server_time": now}
        status = 200
    else:
        body = {"ok": False, "code": outcome.code, "message": outcome.message, "seq": outcome.seq, "server_time": now}
        status = status_for(outcome.code)
    if outcome.replayed:
        body["replayed"] = True
    return status, body
