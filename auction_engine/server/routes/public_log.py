"""The public log over HTTP: the signed checkpoint, tlog-tiles, entries and proofs (see `server/public_log.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from starlette.requests import Request
from starlette.responses import Response

from ledger import LedgerError

from .. import public_log
from ..dependencies import LogReader, market_of
from ..live import LiveMarket
from ..responses import JSONAnswer, problem
from .openapi import errors

__all__ = ["router"]

router = APIRouter()

AUDITORS_ONLY = (
    "entry bundles hold every party's refusals and money: they are served to the operator and the market's"
    " auditors ('Authorization: Bearer <auditor token>'); the public reads /api/log/entries, where those are withheld"
)


@router.get("/log/checkpoint", tags=["public log"], response_class=PlainTextResponse, responses=errors(404))
async def tlog_checkpoint(request: Request) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint), as tlog-tiles serves it; with witnesses, the newest
    one cosigned by their quorum, with its cosignatures."""
    market = market_of(request)
    pool = market.witnesses
    if pool is not None:  # `serve --witness`: the newest checkpoint its witness quorum cosigned
        if pool.cosigned is None:
            message = f"no checkpoint has been cosigned by {pool.quorum} of the market's witnesses yet"
            return problem(404, "no_checkpoint", message, market.now())
        return PlainTextResponse(pool.cosigned.note, headers={"Cache-Control": public_log.NO_CACHE})
    if market.published is None:
        return problem(404, "no_checkpoint", "no checkpoint has been signed yet", market.now())
    return PlainTextResponse(market.published.note, headers={"Cache-Control": public_log.NO_CACHE})


@router.get(
    "/log/tile/{path:path}",
    tags=["public log"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **errors(404, 422)},
)
async def tlog_tile(path: str, request: Request, whole: LogReader) -> Response:
    """C2SP tlog-tiles hash tiles (`<L>/<N>[.p/<W>]`, public) and entry bundles (`entries/<N>[.p/<W>]`, for
    the operator and the market's auditors: bearer token)."""
    market = market_of(request)
    try:
        level, index, width = public_log.parse_tile_path(path)
        size = public_log.published_size(market)
        if level == "entries":
            if not whole:
                return problem(401, "auditors_only", AUDITORS_ONLY, market.now(), {"WWW-Authenticate": "Bearer"})
            data = await public_log.entry_bundle(market, index, width, size)
        else:
            data = public_log.hash_tile(market, int(level), index, width, size)
    except public_log.TileError as exc:
        return problem(exc.status, exc.code, exc.message, market.now())
    cache = public_log.IMMUTABLE if width is None else public_log.NO_CACHE
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})


@router.get("/api/log/checkpoint", tags=["public log"], responses=errors(404))
async def log_checkpoint(request: Request) -> Response:
    """The latest signed checkpoint, parsed, with the market's verifier key."""
    market = market_of(request)
    cp = public_log.checkpoint_json(market)
    if cp is None:
        return problem(404, "no_checkpoint", "no checkpoint has been signed yet", market.now())
    return JSONAnswer(cp)


@router.get("/api/log/vkey", tags=["public log"], response_class=PlainTextResponse)
async def log_vkey(request: Request) -> Response:
    """The market's verifier key (name+hex8+base64), to check checkpoints and certificates."""
    market = market_of(request)
    return PlainTextResponse(market.signer.verifier.encode() + "\n")


def _entry(market: LiveMarket, data: bytes, whole: bool) -> dict[str, Any]:
    if whole:
        return public_log.entry_json(data)
    return public_log.public_entry_json(data, market.credentials.numbers)


def _audience(whole: bool) -> str:
    return "auditor" if whole else "public"


@router.get("/api/log/entries", tags=["public log"], responses=errors(401, 403, 422))
async def log_entries(
    request: Request,
    whole: LogReader,
    start: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Entries start … start+limit-1 within the published checkpoint. The public sees each as the feed shows
    it (bidders by number; a refusal or a party's money withheld, its leaf hash only); the operator and the
    market's auditors (bearer token) see every entry's base64 bytes, leaf hash and decoded fields."""
    market = market_of(request)
    size = public_log.published_size(market)
    raw = await market.read_entries(start, min(size, start + limit))
    items = [{"seq": start + i, **_entry(market, d, whole)} for i, d in enumerate(raw)]
    return JSONAnswer({"size": size, "audience": _audience(whole), "entries": items})


@router.get("/api/log/entries/{seq}", tags=["public log"], responses=errors(401, 403, 404, 422))
async def log_entry(seq: Annotated[int, PathParam(ge=0, le=2**62)], request: Request, whole: LogReader) -> Response:
    """One entry, as `/api/log/entries` shows it to the caller."""
    market = market_of(request)
    size = public_log.published_size(market)
    if seq >= size:
        message = f"entry {seq} is not covered by the published checkpoint (size {size})"
        return problem(404, "not_published", message, market.now())
    raw = await market.read_entries(seq, seq + 1)
    return JSONAnswer({"seq": seq, "audience": _audience(whole), **_entry(market, raw[0], whole)})


@router.get(
    "/api/log/proof/{seq}",
    tags=["public log"],
    response_class=PlainTextResponse,
    responses=errors(404, 422),
)
async def log_proof(seq: Annotated[int, PathParam(ge=0, le=2**62)], request: Request) -> Response:
    """A C2SP tlog-proof@v1 for entry `seq` under the latest published checkpoint."""
    market = market_of(request)
    try:
        return PlainTextResponse(public_log.inclusion_proof(market, seq))
    except LedgerError as exc:
        return problem(404, "not_published", str(exc), market.now())


@router.get("/api/log/consistency", tags=["public log"], responses=errors(422))
async def log_consistency(
    request: Request,
    old: Annotated[int, Query(ge=1, le=2**62)],
    new: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """The RFC 6962 consistency proof from size `old` to `new` (default: the published size), base64 hashes."""
    market = market_of(request)
    try:
        proof = public_log.consistency_proof(market, old, new)
    except LedgerError as exc:
        return problem(422, "bad_sizes", str(exc), market.now())
    return JSONAnswer({"old": old, "new": new or public_log.published_size(market), "proof": proof})
