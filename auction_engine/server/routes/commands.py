"""The command routes: every command of the rules, by a typed route per command or by name.

Each route's body is validated by its command's schema (`server/commands.py`, one table for the
typed routes and for `POST /api/lots/{lot}/commands/{op}`), then the command goes the one command
path (`command_path.answer_command`): built from the credential, run, answered once durable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from .. import commands, schemas
from ..command_path import answer_command, answer_typed_command
from ..dependencies import Operator, Who, market_of
from .openapi import CMD_RESPONSES, IdemHeader, LotPath

__all__ = ["router"]

router = APIRouter()

# -- bidder commands -------------------------------------------------------------------------------


@router.post("/api/lots/{lot}/bids", tags=["bidder"], responses=CMD_RESPONSES, summary="Bid (English)")
async def bid(lot: LotPath, body: schemas.BidIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "bid", lot, body, idem)


@router.post("/api/lots/{lot}/proxy", tags=["bidder"], responses=CMD_RESPONSES, summary="Proxy (maximum) bid")
async def proxy(lot: LotPath, body: schemas.ProxyIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "proxy", lot, body, idem)


@router.post("/api/lots/{lot}/accept", tags=["bidder"], responses=CMD_RESPONSES, summary="Accept the Dutch price")
async def accept(lot: LotPath, body: schemas.AcceptIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "accept", lot, body, idem)


@router.post("/api/lots/{lot}/commit", tags=["bidder"], responses=CMD_RESPONSES, summary="Commit a sealed bid")
async def commit(lot: LotPath, body: schemas.CommitIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "commit", lot, body, idem)


@router.post("/api/lots/{lot}/reveal", tags=["bidder"], responses=CMD_RESPONSES, summary="Reveal a sealed bid")
async def reveal(lot: LotPath, body: schemas.RevealIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "reveal", lot, body, idem)


@router.post("/api/lots/{lot}/register", tags=["bidder"], responses=CMD_RESPONSES, summary="Register intent (listing)")
async def register(
    lot: LotPath,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
    body: Annotated[schemas.EmptyIn | None, Body()] = None,
) -> Response:
    return await answer_typed_command(market_of(request), who, "register", lot, body or schemas.EmptyIn(), idem)


@router.post(
    "/api/lots/{lot}/withdraw-registration",
    tags=["bidder"],
    responses=CMD_RESPONSES,
    summary="Withdraw a registration (listing)",
)
async def withdraw_registration(
    lot: LotPath,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
    body: Annotated[schemas.EmptyIn | None, Body()] = None,
) -> Response:
    return await answer_typed_command(
        market_of(request), who, "withdraw_registration", lot, body or schemas.EmptyIn(), idem
    )


@router.post("/api/lots/{lot}/objections", tags=["bidder"], responses=CMD_RESPONSES, summary="Lodge an objection")
async def object_(
    lot: LotPath, body: schemas.ObjectIn, who: Who, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "object", lot, body, idem)


@router.post("/api/lots/{lot}/offers", tags=["bidder"], responses=CMD_RESPONSES, summary="Competing offer (agreement)")
async def offer(lot: LotPath, body: schemas.OfferIn, who: Who, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "offer", lot, body, idem)


@router.post("/api/lots/{lot}/confirm", tags=["bidder"], responses=CMD_RESPONSES, summary="Confirm the deal")
async def confirm(
    lot: LotPath,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
    body: Annotated[schemas.EmptyIn | None, Body()] = None,
) -> Response:
    return await answer_typed_command(market_of(request), who, "confirm", lot, body or schemas.EmptyIn(), idem)


@router.post("/api/lots/{lot}/payment-plan", tags=["bidder"], responses=CMD_RESPONSES, summary="Choose instalments")
async def payment_plan(
    lot: LotPath, body: schemas.PaymentPlanIn, who: Who, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "payment_plan", lot, body, idem)


@router.post(
    "/api/lots/{lot}/accept-offer", tags=["bidder"], responses=CMD_RESPONSES, summary="Take a second-chance offer"
)
async def accept_offer(
    lot: LotPath,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
    body: Annotated[schemas.EmptyIn | None, Body()] = None,
) -> Response:
    return await answer_typed_command(market_of(request), who, "accept_offer", lot, body or schemas.EmptyIn(), idem)


@router.post(
    "/api/lots/{lot}/decline-offer",
    tags=["bidder"],
    responses=CMD_RESPONSES,
    summary="Decline a second-chance offer",
)
async def decline_offer(
    lot: LotPath,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
    body: Annotated[schemas.EmptyIn | None, Body()] = None,
) -> Response:
    return await answer_typed_command(market_of(request), who, "decline_offer", lot, body or schemas.EmptyIn(), idem)


# -- operator commands -----------------------------------------------------------------------------


@router.post("/api/submarkets", tags=["operator"], responses=CMD_RESPONSES, summary="Open a sub-market")
async def open_submarket(
    body: schemas.OpenSubmarketIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "open_submarket", None, body, idem)


@router.post("/api/lots", tags=["operator"], responses=CMD_RESPONSES, summary="Open a lot in any mode")
async def open_lot(body: schemas.OpenLotIn, who: Operator, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "open_lot", body.lot, body, idem)


@router.post("/api/lots/{lot}/deposits", tags=["operator"], responses=CMD_RESPONSES, summary="Record a deposit")
async def deposit(
    lot: LotPath, body: schemas.DepositIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "deposit", lot, body, idem)


@router.post("/api/lots/{lot}/payments", tags=["operator"], responses=CMD_RESPONSES, summary="Record a payment")
async def pay(lot: LotPath, body: schemas.PayIn, who: Operator, request: Request, idem: IdemHeader = None) -> Response:
    return await answer_typed_command(market_of(request), who, "pay", lot, body, idem)


@router.post(
    "/api/lots/{lot}/objections/{objection}/resolve",
    tags=["operator"],
    responses=CMD_RESPONSES,
    summary="Resolve an objection",
)
async def resolve_objection(
    lot: LotPath,
    objection: Annotated[int, PathParam(ge=0, le=1_000_000)],
    body: schemas.ResolveIn,
    who: Operator,
    request: Request,
    idem: IdemHeader = None,
) -> Response:
    full = schemas.ResolveObjectionIn(objection=objection, upheld=body.upheld)
    return await answer_typed_command(market_of(request), who, "resolve_objection", lot, full, idem)


@router.post("/api/lots/{lot}/relist/approve", tags=["operator"], responses=CMD_RESPONSES, summary="Approve a re-list")
async def approve_relist(
    lot: LotPath, body: schemas.ApproveRelistIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "approve_relist", lot, body, idem)


@router.post("/api/lots/{lot}/relist", tags=["operator"], responses=CMD_RESPONSES, summary="Re-list at a price")
async def relist(
    lot: LotPath, body: schemas.RelistIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "relist", lot, body, idem)


@router.post("/api/lots/{lot}/withdraw", tags=["operator"], responses=CMD_RESPONSES, summary="Withdraw a lot (撤拍)")
async def withdraw_lot(
    lot: LotPath, body: schemas.WithdrawIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "withdraw_lot", lot, body, idem)


@router.post(
    "/api/lots/{lot}/close-phase",
    tags=["operator"],
    responses=CMD_RESPONSES,
    summary="End the current pricing phase now (lots opened with operator_may_close)",
)
async def close_phase(
    lot: LotPath, body: schemas.WithdrawIn, who: Operator, request: Request, idem: IdemHeader = None
) -> Response:
    return await answer_typed_command(market_of(request), who, "close_phase", lot, body, idem)


# -- any command, by name --------------------------------------------------------------------------


@router.post(
    "/api/lots/{lot}/commands/{op}",
    tags=["operator", "bidder"],
    responses=CMD_RESPONSES,
    summary="Any command of the lot's rules, by name",
)
async def any_command(
    lot: LotPath,
    op: Annotated[str, PathParam(pattern=r"^[a-z][a-z_]{0,39}$")],
    body: schemas.CommandIn,
    who: Who,
    request: Request,
    idem: IdemHeader = None,
) -> Response:
    fields, sig = commands.validate(op, dict(body.model_extra or {}))
    return await answer_command(market_of(request), who, op, lot, fields, sig, idem)
