"""The fast lane: plain bids (`POST /api/lots/{lot}/bids`) answered before the framework's routing.

A bid is the one request a live market gets thousands of times a second. This ASGI middleware,
the outermost of the application, recognises a plain bid — a valid lot id in the path, a JSON body
of at most 256 bytes that is exactly `{"amount": <int>}` or `{"amount": <int>, "sig": "<128 hex>"}`
(a signed bid) and passes the bid's schema
(`schemas.BidIn`), a valid `Idempotency-Key` or none — and answers it itself through the one
command path the route uses (`dependencies.authenticate`, then `command_path.answer_typed_command`:
the command built from the credential, run once, answered once durable, by the one answer writer).
So its answer, accepted or refused, is the route's, byte for byte, and the bid is never run twice.
Every other request goes on untouched to the request guard (`guard.py`) and the routes; a body the
lane read is handed on whole (`guard.replaying`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from . import schemas
from .command_path import answer_typed_command
from .dependencies import authenticate, bearer_token
from .guard import PLAIN_BID, replaying
from .live import LiveMarket
from .responses import ApiError, api_error

__all__ = ["FastLane", "LaneStats"]

PLAIN_MAX = 256
"""Bytes: the longest body the lane reads (a plain bid's is shorter, a signed one included); a longer one
goes to the guard."""
_LOT = re.compile(schemas.ID_PATTERN)
_IDEM = re.compile(schemas.IDEMPOTENCY_KEY_PATTERN.encode("ascii"))
_PREFIX = "/api/lots/"
_SUFFIX = "/bids"


@dataclass
class LaneStats:
    """What the fast lane did (the app keeps it as `app.state.fast_lane`)."""

    served: int = 0  # bids the lane answered (the rest went on to the guard and the routes)


@dataclass(slots=True)
class _Headers:
    """The request headers the lane reads (the first of each, as Starlette's `headers.get` gives it)."""

    authorization: str | None
    idempotency_key: bytes | None
    content_type: bytes | None
    content_length: bytes | None

    @classmethod
    def of(cls, scope: Scope) -> _Headers:
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in (b"authorization", b"idempotency-key", b"content-type", b"content-length"):
                found.setdefault(name, value)
        authorization = found.get(b"authorization")
        return cls(
            authorization.decode("latin-1") if authorization is not None else None,
            found.get(b"idempotency-key"),
            found.get(b"content-type"),
            found.get(b"content-length"),
        )


def _is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.split(b";", 1)[0].strip().lower() == b"application/json"


class FastLane:
    """ASGI middleware answering plain bids through the command path; everything else goes to `app`."""

    def __init__(self, app: ASGIApp, market: LiveMarket, stats: LaneStats) -> None:
        self.app = app
        self.market = market
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lot = self._bid_lot(scope)
        headers = _Headers.of(scope) if lot is not None else None
        if lot is None or headers is None or not self._may_be_plain(headers):
            await self.app(scope, receive, send)
            return
        body = await self._read(receive, int(headers.content_length or b"0"))
        if body is None:
            return  # the client went away
        bid = _plain_bid(body)
        if bid is None:
            await self.app(scope, replaying(body, receive), send)  # not a plain bid: the guard and the route
            return
        self.stats.served += 1
        market = self.market
        idem = headers.idempotency_key.decode("ascii") if headers.idempotency_key is not None else None
        try:
            who = authenticate(market.credentials, bearer_token(headers.authorization))
        except ApiError as exc:
            await api_error(exc, market.now())(scope, receive, send)
            return
        answer = await answer_typed_command(market, who, "bid", lot, bid, idem)
        await answer(scope, receive, send)

    @staticmethod
    def _bid_lot(scope: Scope) -> str | None:
        """The lot of a `POST /api/lots/{lot}/bids` whose lot id the route accepts; else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return None
        lot = path[len(_PREFIX) : -len(_SUFFIX)]
        return lot if _LOT.match(lot) else None

    @staticmethod
    def _may_be_plain(headers: _Headers) -> bool:
        """Whether the headers are those of a plain bid: a short JSON body, a valid key or none."""
        length = headers.content_length
        if length is None or not length.isdigit() or int(length) > PLAIN_MAX or not _is_json(headers.content_type):
            return False
        return headers.idempotency_key is None or _IDEM.match(headers.idempotency_key) is not None

    @staticmethod
    async def _read(receive: Receive, length: int) -> bytes | None:
        """The request body (None if the client went away), complete once it holds the declared `length`.

        An HTTP server frames the request by its Content-Length, so a body of that length is whole even
        if the server would still send an empty last message (granian does); a longer one stops at
        more than PLAIN_MAX bytes, for the guard to refuse.
        """
        message = await receive()
        if message["type"] != "http.request":
            return None
        body: bytes = message.get("body", b"")
        while message.get("more_body", False) and len(body) != length and len(body) <= PLAIN_MAX:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
        return body


def _plain_bid(body: bytes) -> schemas.BidIn | None:
    """The bid of a plain bid body (exactly `{"amount": <int>}` or `{"amount": <int>, "sig": "<hex>"}`, valid
    for the bid's schema); else None."""
    plain = PLAIN_BID.match(body)
    if plain is None:
        return None
    fields: dict[str, object] = {"amount": int(plain.group(1))}
    if plain.group(2) is not None:
        fields["sig"] = plain.group(2).decode("ascii")
    try:
        return schemas.BidIn.model_validate(fields)
    except ValidationError:  # out of the schema's range: the route names the field
        return None
