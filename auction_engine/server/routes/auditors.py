"""The market's auditors: tokens that read the whole log (`/log/tile/entries/…`, every entry's bytes at
`/api/log/entries`) and act on nothing. The operator gives, lists and revokes them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from .. import schemas
from ..dependencies import Operator, market_of
from ..responses import ApiError, JSONAnswer
from .openapi import BODY_RESPONSES, READ_RESPONSES

__all__ = ["router"]

router = APIRouter()


@router.post("/api/auditors", tags=["operator"], response_model=schemas.AuditorAdmitted, responses=BODY_RESPONSES)
async def add_auditor(body: schemas.AuditorIn, who: Operator, request: Request) -> Response:
    """Give an auditor a token (or replace its token: the old one stops working). The token is in this answer only."""
    market = market_of(request)
    creds = market.credentials
    auditor = body.auditor if body.auditor is not None else creds.new_auditor_id()
    token = creds.add_auditor(auditor, body.name)
    await market.save_credentials()
    return JSONAnswer({"token": token, **creds.auditor_public(auditor)})


@router.get("/api/auditors", tags=["operator"], response_model=list[schemas.AuditorOut], responses=READ_RESPONSES)
async def auditors(who: Operator, request: Request) -> Response:
    creds = market_of(request).credentials
    return JSONAnswer([creds.auditor_public(a) for a in sorted(creds.auditors)])


@router.delete(
    "/api/auditors/{auditor}", tags=["operator"], response_model=schemas.AuditorOut, responses=READ_RESPONSES
)
async def remove_auditor(
    auditor: str = PathParam(min_length=1, max_length=64, pattern=schemas.ID_PATTERN, description="the auditor id"),
    *,
    who: Operator,
    request: Request,
) -> Response:
    """Revoke an auditor's token."""
    market = market_of(request)
    creds = market.credentials
    if auditor not in creds.auditors:
        raise ApiError(404, "unknown_auditor", f"there is no auditor {auditor!r}")
    shown = creds.auditor_public(auditor)
    creds.remove_auditor(auditor)
    await market.save_credentials()
    return JSONAnswer(shown)
