"""The fast lane: the hot path (`POST /api/lots/{lot}/bids`) served without the framework's routing.

A bid is the one request a live market gets thousands of times a second. This pure-ASGI middleware
recognises a plain, well-formed bid — JSON `{"amount": <int>}`, a known bearer token of a bidder
with no registered key (so no signature to check), an optional valid `Idempotency-Key` — and runs
it through exactly the same steps as the FastAPI route (`build`: role checks and the command;
`LiveMarket.submit`: idempotency and the engine; waiting for durability; `outcome_body`: the
answer), so the answers are byte-for-byte the same JSON. `create_app` installs it as the outermost
middleware: it reads only a body whose Content-Length is at most 64 bytes (a plain bid's is shorter),
passing every other request untouched to the request guard (`guard`) and the routes, so a bid costs
the server no routing and no second pass over its body. Anything else (a
malformed body, a missing or unknown token, a signed bid, an error before the engine ran) falls
through, untouched, to the FastAPI route, so every refusal keeps one source of truth and the
OpenAPI document describes the fast lane too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..model import MAX_INT
from .auth import Principal
from .feed import json_bytes
from .guard import PLAIN_BID, replaying
from .live import IdempotencyConflict, LiveMarket, Outcome, Unavailable
from .responses import ApiError, outcome_body

__all__ = ["FastLane", "LaneStats"]

_PLAIN_MAX = 64  # bytes: a plain bid's body is shorter; a longer one goes straight to the guard and the route
_LOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a lot id the route's path pattern accepts
_IDEM = re.compile(rb"^[\x21-\x7e]{1,128}$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.]+$")  # a rule name that needs no JSON escaping
_PREFIX = "/api/lots/"
_SUFFIX = "/bids"

Build = Callable[[Principal, str, "str | None", dict[str, Any], "str | None", "str | None"], dict[str, Any]]


@dataclass
class LaneStats:
    """What the fast lane did (the app keeps it as `app.state.fast_lane`)."""

    served: int = 0  # bids answered by the lane (the rest fell through to the framework)


class FastLane:
    """ASGI middleware answering plain bids directly; everything else goes to `app`."""

    def __init__(self, app: ASGIApp, market: LiveMarket, build: Build, stats: LaneStats) -> None:
        self.app = app
        self.market = market
        self.build = build
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            await self.app(scope, receive, send)
            return
        lot = path[len(_PREFIX) : -len(_SUFFIX)]
        if not lot or "/" in lot or len(lot) > 200:
            await self.app(scope, receive, send)
            return
        token = idem = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value
            elif name == b"idempotency-key":
                idem = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        if length is None or not length.isdigit() or int(length) > _PLAIN_MAX:
            await self.app(scope, receive, send)  # not a plain bid: the request guard and the route read it
            return
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        body = message.get("body", b"")
        if message.get("more_body", False) and int(length) != len(body):
            # granian hands over the body, then an empty last message on a second wake-up of the loop:
            # a body that already holds the Content-Length the client declared is complete (the HTTP
            # server frames the request by that length), so only a partial one waits for more.
            while message.get("more_body", False):
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                if len(body) > _PLAIN_MAX:
                    break  # more than it declared: the guard below refuses it
        outcome = self._try(lot, token, idem, content_type, body)
        if outcome is None:
            await self.app(scope, replaying(body, receive), send)
            return
        market = self.market
        self.stats.served += 1
        try:
            if market.log.durable_size < outcome.target:
                await market.durable(outcome.target)
            rule = outcome.rule
            if outcome.ok and not outcome.replayed and type(rule) is str and _PLAIN.match(rule):
                # the common answer, formatted as json_bytes(outcome_body(…)) would (tested byte for byte)
                status, payload = 200, None
                data = b'{"ok":true,"seq":%d,"rule":"%s","server_time":%d}' % (outcome.seq, rule.encode(), market.now())
            else:
                status, payload = outcome_body(outcome, market.now())
        except Unavailable as exc:  # the store failed while it waited: the entry is pending, a retry learns it
            status = 503
            payload = {"ok": False, "code": "ledger_unavailable", "message": str(exc), "server_time": market.now()}
        except Exception as exc:  # the command ran: never run it again, answer the failure
            status, payload = 500, {"ok": False, "code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        if payload is not None:
            data = json_bytes(payload)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        if payload is not None and payload.get("replayed"):
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _try(
        self, lot: str, token: bytes | None, idem: bytes | None, content_type: bytes | None, body: bytes
    ) -> Outcome | None:
        """Run the bid if it is a plain, well-formed bid whose checks pass; else None (nothing ran: fall through)."""
        if token is None or token[:7].lower() != b"bearer " or content_type is None:
            return None
        if not content_type.startswith(b"application/json"):
            return None
        if idem is not None and not _IDEM.match(idem):
            return None
        plain = PLAIN_BID.match(body)
        if plain is None or not _LOT.match(lot):
            return None
        amount = int(plain.group(1))
        if amount > MAX_INT:
            return None
        who = self.market.credentials.principal(token[7:].strip().decode("latin-1"))
        if who is None or who.pubkey is not None:
            return None
        key = idem.decode("ascii") if idem is not None else None
        try:
            cmd = self.build(who, "bid", lot, {"amount": amount}, None, key)
            return self.market.submit(cmd, key)
        except (ApiError, IdempotencyConflict, Unavailable, ValueError):
            return None  # refused before the engine ran: the framework route answers it
