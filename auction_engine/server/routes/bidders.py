"""The bidders' credentials and keys: admission by the operator, a bidder's key bound in the ledger, "who am I".

A key is never set directly: `PUT /api/me/key` and the admission's `statement` run the `bind_key`
command (a statement signed by the new key, and by the old one to rotate, auction_engine/bidder_keys.py),
and the operator's `POST /api/bidders/{bidder}/key-reset` runs `reset_key` with its grounds. Each is a
ledger entry the bidder and every auditor see.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from .. import schemas
from ..auth import BIDDER, Principal
from ..command_path import answer_command, run_command
from ..dependencies import Bidder, Operator, Who, market_of
from ..live import LiveMarket
from ..responses import ApiError, JSONAnswer, outcome_answer
from .openapi import BODY_RESPONSES, READ_RESPONSES, BidderPath, IdemHeader, LotPath

__all__ = ["router"]

router = APIRouter()


@router.post("/api/bidders", tags=["operator"], response_model=schemas.Admitted, responses=BODY_RESPONSES)
async def admit(body: schemas.AdmitIn, who: Operator, request: Request) -> Response:
    """Admit a bidder: create (or replace) its credential. The token is in this answer only."""
    market = market_of(request)
    creds = market.credentials
    if body.bidder is None and body.statement is not None:
        message = "a key statement names its bidder: give 'bidder' with it, or bind the key later (PUT /api/me/key)"
        raise ApiError(422, "malformed", message, field="bidder")
    bidder = body.bidder if body.bidder is not None else creds.new_bidder_id()
    if bidder in market.engine.market.operators:
        raise ApiError(422, "malformed", f"{bidder!r} is an operator id", field="bidder")
    if body.statement is not None:  # the key first: a refused statement admits no one
        refusal = await _bind(market, Principal(bidder, BIDDER), body.statement, None)
        if refusal is not None:
            return refusal
    token = creds.admit(bidder, body.name)
    await market.save_credentials()
    return JSONAnswer({"token": token, **bidder_public(market, bidder)})


@router.get("/api/bidders", tags=["operator"], response_model=list[schemas.BidderOut], responses=READ_RESPONSES)
async def bidders(who: Operator, request: Request) -> Response:
    market = market_of(request)
    return JSONAnswer([bidder_public(market, b) for b in sorted(market.credentials.bidder_ids())])


@router.put("/api/me/key", tags=["bidder"], response_model=schemas.BidderOut, responses=BODY_RESPONSES)
async def set_key(body: schemas.KeyIn, who: Bidder, request: Request, idem: IdemHeader = None) -> Response:
    """Bind the bidder's own Ed25519 key with its proof of possession, or rotate it (signed by the old key too).

    From then on every command it sends must be signed with that key.
    """
    market = market_of(request)
    refusal = await _bind(market, who, body.statement, idem)
    return refusal if refusal is not None else JSONAnswer(bidder_public(market, who.actor))


@router.post("/api/bidders/{bidder}/key-reset", tags=["operator"], response_model=schemas.Ack, responses=BODY_RESPONSES)
async def reset_key(
    bidder: BidderPath, body: schemas.KeyResetIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    """Clear a bidder's key (a lost or stolen key), on grounds written into the public ledger."""
    market = market_of(request)
    fields = {"bidder": bidder, "grounds": body.grounds}
    return await answer_command(market, who, "reset_key", None, fields, None, idem)


async def _bind(market: LiveMarket, who: Principal, statement: str, idem: str | None) -> Response | None:
    """Run `bind_key` for `who`; None once its entry is durable and accepted, else the refusal to answer."""
    outcome = await run_command(market, who, "bind_key", None, {"statement": statement}, None, idem)
    if isinstance(outcome, JSONAnswer):
        return outcome
    return None if outcome.ok else outcome_answer(outcome, market.now(), await market.receipt(outcome))


def bidder_public(market: LiveMarket, bidder: str) -> dict[str, Any]:
    """A bidder's credential as it may be shown, with its key in force and key epoch from the ledger."""
    state = market.engine.market.keys.get(bidder)
    key = state.key if state is not None else None
    return {
        **market.credentials.public(bidder),
        "pubkey": key.hex() if key is not None else None,
        "key_epoch": state.epoch if state is not None else 0,
    }


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
        out.update(bidder_public(market, who.actor))
        out["deposits"] = {
            lid: lot.deposits[who.actor] for lid, lot in market.lots_in_memory().items() if who.actor in lot.deposits
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
