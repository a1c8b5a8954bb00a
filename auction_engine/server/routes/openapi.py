"""What the routes declare in the OpenAPI document: their parameters and the answers they may give.

Every route that takes a body documents 413 (the request guard's size limit): CMD_RESPONSES and
BODY_RESPONSES hold it, other routes add `errors(413)`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi import Path as PathParam

from .. import schemas

__all__ = [
    "BODY_RESPONSES",
    "CMD_RESPONSES",
    "HEALTH_RESPONSES",
    "PROBLEMS",
    "READ_RESPONSES",
    "IdemHeader",
    "LotPath",
    "errors",
]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.Problem, "description": "no or unknown credential"},
    403: {"model": schemas.Problem, "description": "not allowed for this role, or a bad signature"},
    404: {"model": schemas.Problem, "description": "unknown lot, code, entry or tile"},
    409: {
        "model": schemas.Problem,
        "description": "refused by the rules now (late bid, below increment…), or not issuable yet",
    },
    413: {"model": schemas.Problem, "description": "the request body is larger than the server's limit"},
    422: {"model": schemas.Problem, "description": "malformed request (the field is named) or invalid command"},
    503: {"model": schemas.Problem, "description": "the ledger cannot be written now; retry with the same key"},
}
"""Every refusal status, as a JSON Problem."""
CMD_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": schemas.Ack}, **PROBLEMS}
"""A command route's answers: the acknowledgement, or any refusal."""
READ_RESPONSES: dict[int | str, dict[str, Any]] = {k: v for k, v in PROBLEMS.items() if k in (401, 403, 404, 422)}
"""An authenticated read's refusals."""
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {k: v for k, v in PROBLEMS.items() if k in (401, 403, 404, 413, 422)}
"""The refusals of an authenticated request with a body (413: the request guard's size limit)."""
_PROBLEM_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Refusals documented as JSON Problems (also on routes whose success is text or bytes)."""
    return {s: {"description": PROBLEMS[s]["description"], "content": _PROBLEM_JSON} for s in statuses}


_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["ok", "state", "entries", "pending", "server_time"],
    "properties": {
        "ok": {"type": "boolean", "description": "true while serving"},
        "state": {"enum": ["serving", "unwritable", "stopped"]},
        "reason": {"type": "string", "description": "why commands are refused (only when ok is false)"},
        "entries": {"type": "integer", "description": "durable ledger entries"},
        "pending": {"type": "integer", "description": "entries appended but not yet durable"},
        "server_time": {"type": "integer"},
    },
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "serving", "content": {"application/json": {"schema": _HEALTH_SCHEMA}}},
    503: {
        "description": "not serving commands: the ledger store cannot be written now (it resumes when a write"
        " succeeds), or the market is stopped until a restart; `reason` says which",
        "content": {"application/json": {"schema": _HEALTH_SCHEMA}},
    },
}
"""`GET /api/health`'s answers."""

IdemHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=schemas.IDEMPOTENCY_KEY_PATTERN,
        description="client-chosen key (1-128 printable ASCII): a repeated request returns the first answer",
    ),
]
LotPath = Annotated[str, PathParam(min_length=1, max_length=64, pattern=schemas.ID_PATTERN, description="the lot id")]
BidderPath = Annotated[
    str, PathParam(min_length=1, max_length=64, pattern=schemas.ID_PATTERN, description="the bidder id")
]
