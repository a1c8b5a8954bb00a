"""The market as a whole: its clock, its health, its summary, and the WebSocket event feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket
from starlette.requests import Request
from starlette.responses import Response

from .. import public_log
from ..dependencies import feed_of, market_of
from ..responses import JSONAnswer
from .openapi import HEALTH_RESPONSES

__all__ = ["router"]

router = APIRouter()


@router.get("/api/time", tags=["public"])
async def server_time(request: Request) -> Response:
    """The server's clock (ms since the epoch): pages count down on it."""
    return JSONAnswer({"server_time": market_of(request).now()})


@router.get("/api/health", tags=["public"], responses=HEALTH_RESPONSES)
async def health(request: Request) -> Response:
    """200 while the market serves; 503 with the reason while its store cannot be written, or once stopped."""
    market = market_of(request)
    body: dict[str, Any] = {
        "ok": market.healthy,
        "state": "stopped" if market.stopped is not None else "unwritable" if market.failure else "serving",
        "entries": market.log.durable_size,
        "pending": market.log.size - market.log.durable_size,
        "server_time": market.now(),
    }
    audit = market.background_audit
    if audit is not None:  # started from a snapshot: the history before it is audited in the background
        body["history_audit"] = "running" if not audit.done.is_set() else "passed" if audit.ok else "failed"
    if not market.healthy:
        body["reason"] = market.unavailable_reason()
    return JSONAnswer(body, 200 if market.healthy else 503)


@router.get("/api/market", tags=["public"])
async def market_info(request: Request) -> Response:
    market = market_of(request)
    cp = public_log.checkpoint_json(market)
    return JSONAnswer(
        {
            "market": market.engine.market.name,
            "origin": market.origin,
            "vkey": market.signer.verifier.encode(),
            "operators": sorted(market.engine.market.operators),
            "submarkets": market.submarkets(),
            "entries": market.log.durable_size,
            "commits": market.commits,
            "checkpoint_size": cp["size"] if cp else 0,
            "lots": len(market.engine.lots),
            "timezone": market.timezone,
            "feed_clients": len(feed_of(request).clients),
            "server_time": market.now(),
        }
    )


@router.websocket("/api/feed")
async def feed_ws(ws: WebSocket, since: Annotated[int | None, Query(ge=-1)] = None) -> None:
    """The event feed (see auction_engine/server/feed.py for the messages)."""
    await feed_of(ws).serve(ws, since)
