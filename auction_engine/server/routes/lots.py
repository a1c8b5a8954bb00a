"""Reading the lots: every lot's public view, one lot's, and the operator's table."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ..dependencies import Operator, market_of
from ..responses import ApiError, JSONAnswer
from .openapi import READ_RESPONSES, LotPath, errors

__all__ = ["router"]

router = APIRouter()


@router.get("/api/lots", tags=["public"])
async def lots(request: Request) -> Response:
    """Every lot's public view."""
    market = market_of(request)
    return JSONAnswer({"server_time": market.now(), "lots": [market.view(lid) for lid in market.lot_ids()]})


@router.get("/api/lots/{lot}", tags=["public"], responses=errors(404, 422))
async def lot_view(lot: LotPath, request: Request) -> Response:
    market = market_of(request)
    if lot not in market.engine.lots:
        raise ApiError(404, "unknown_lot", f"there is no lot {lot!r}")
    return JSONAnswer({"server_time": market.now(), "view": market.view(lot)})


@router.get("/api/operator/lots", tags=["operator"], responses=READ_RESPONSES)
async def operator_lots(who: Operator, request: Request) -> Response:
    """Every lot with deposits, objections and registrations (the console's table)."""
    market = market_of(request)
    return JSONAnswer({"server_time": market.now(), "lots": [market.operator_view(lid) for lid in market.lot_ids()]})
