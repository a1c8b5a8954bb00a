"""The bidders' credentials: admission by the operator, a bidder's own key, and "who am I"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from .. import schemas
from ..dependencies import Bidder, Operator, Who, market_of
from ..responses import ApiError, JSONAnswer
from .openapi import BODY_RESPONSES, READ_RESPONSES, LotPath

__all__ = ["router"]

router = APIRouter()


@router.post("/api/bidders", tags=["operator"], response_model=schemas.Admitted, responses=BODY_RESPONSES)
async def admit(body: schemas.AdmitIn, who: Operator, request: Request) -> Response:
    """Admit a bidder: create (or replace) its credential. The token is in this answer only."""
    market = market_of(request)
    if body.bidder in market.engine.market.operators:
        raise ApiError(422, "malformed", f"{body.bidder!r} is an operator id", field="bidder")
    pubkey = bytes.fromhex(body.pubkey) if body.pubkey else None
    creds = market.credentials
    token = creds.admit(body.bidder, body.name, pubkey)
    await market.save_credentials()
    return JSONAnswer({"token": token, **creds.public(body.bidder)})


@router.get("/api/bidders", tags=["operator"], response_model=list[schemas.BidderOut], responses=READ_RESPONSES)
async def bidders(who: Operator, request: Request) -> Response:
    market = market_of(request)
    creds = market.credentials
    return JSONAnswer([creds.public(b) for b in sorted(creds.bidder_ids())])


@router.put("/api/me/key", tags=["bidder"], response_model=schemas.BidderOut, responses=BODY_RESPONSES)
async def set_key(body: schemas.KeyIn, who: Bidder, request: Request) -> Response:
    """Register the bidder's own Ed25519 public key (null clears it); from then on its commands must be signed."""
    market = market_of(request)
    market.credentials.set_key(who.actor, bytes.fromhex(body.pubkey) if body.pubkey else None)
    await market.save_credentials()
    return JSONAnswer(market.credentials.public(who.actor))


@router.get("/api/me", tags=["bidder"], responses=READ_RESPONSES)
async def me(who: Who, request: Request) -> Response:
    """Who this credential is, and (for a bidder) its deposits by lot."""
    market = market_of(request)
    out: dict[str, Any] = {
        "actor": who.actor,
        "role": who.role,
        "market": market.origin,
        "server_time": market.now(),
    }
    if not who.is_operator:
        out.update(market.credentials.public(who.actor))
        out["deposits"] = {
            lid: lot.deposits[who.actor] for lid, lot in market.engine.lots.items() if who.actor in lot.deposits
        }
    return JSONAnswer(out)


@router.get("/api/me/lots/{lot}", tags=["bidder"], responses=READ_RESPONSES)
async def my_lot(lot: LotPath, who: Who, request: Request) -> Response:
    """The lot as this bidder may see it (its own deposit, proxy, commitment, registration)."""
    market = market_of(request)
    if lot not in market.engine.lots:
        raise ApiError(404, "unknown_lot", f"there is no lot {lot!r}")
    view = market.operator_view(lot) if who.is_operator else market.view(lot, who.actor)
    return JSONAnswer({"server_time": market.now(), "view": view})
