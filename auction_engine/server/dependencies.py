"""What the routes need from the application: the market and its parts, and the caller.

`create_app` keeps the market's parts on `app.state` (`market`: the LiveMarket, `feed`: the
WebSocket feed, `certificates`: the certificate lookup); a route takes the `Request` (or the
`WebSocket`) and reads them through the typed accessors `market_of`, `feed_of` and
`certificates_of`. The caller's credential is a FastAPI dependency, as a route parameter: `Who`
(any known token), `Operator` (the operator's), `Bidder` (a bidder's), `LogReader` (whether the caller
may read the whole log: the operator or an auditor); a refused credential is a 401 or 403 `ApiError`.
The fast lane authenticates with the same `authenticate`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from .auth import Credentials, Principal
from .certs import Certificates
from .feed import Feed
from .live import LiveMarket
from .responses import ApiError

__all__ = [
    "Bidder",
    "LogReader",
    "Operator",
    "ReadsWhole",
    "Who",
    "authenticate",
    "bearer_token",
    "certificates_of",
    "feed_of",
    "market_of",
]


def market_of(conn: HTTPConnection) -> LiveMarket:
    """The application's live market."""
    market: LiveMarket = conn.app.state.market
    return market


def feed_of(conn: HTTPConnection) -> Feed:
    """The application's WebSocket event feed."""
    feed: Feed = conn.app.state.feed
    return feed


def certificates_of(conn: HTTPConnection) -> Certificates:
    """The application's certificate lookup."""
    certificates: Certificates = conn.app.state.certificates
    return certificates


# -- the caller ------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="operator token, or a bidder's token from its admission")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, read as `HTTPBearer` reads it; else None."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and token) or scheme.lower() != "bearer":
        return None
    return token


def authenticate(credentials: Credentials, token: str | None) -> Principal:
    """Who the bearer `token` is; ApiError 401 for no token or one this market does not know."""
    if token is None:
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <token>' (operator or bidder token)")
    found = credentials.principal(token)
    if found is None:
        raise ApiError(401, "unauthenticated", "the bearer token is not known to this market")
    return found


async def _principal(
    conn: HTTPConnection, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return authenticate(market_of(conn).credentials, bearer.credentials if bearer is not None else None)


async def _operator_only(who: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not who.is_operator:
        raise ApiError(403, "forbidden", f"this is an operator action; {who.actor} is a bidder")
    return who


async def _bidder_only(who: Annotated[Principal, Depends(_principal)]) -> Principal:
    if who.is_operator:
        raise ApiError(403, "forbidden", "this is a bidder's action; use a bidder token")
    return who


def _reader(conn: HTTPConnection, bearer: HTTPAuthorizationCredentials | None) -> str:
    """Who reads the log: "whole" (the operator's or an auditor's token), "public" (no token), "bidder"
    (a bidder's token) or "unknown" (a token this market does not know)."""
    if bearer is None:
        return "public"
    credentials = market_of(conn).credentials
    if credentials.auditor(bearer.credentials) is not None:
        return "whole"
    found = credentials.principal(bearer.credentials)
    if found is None:
        return "unknown"
    return "whole" if found.is_operator else "bidder"


async def _log_reader(
    conn: HTTPConnection, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> bool:
    """True for the operator's or an auditor's token (the whole log), False without a token (the public's
    view of it); 401 for a token this market does not know, 403 for a bidder's (a bidder reads the public
    log without one: its own entries are in its answers and receipts)."""
    reader = _reader(conn, bearer)
    if reader == "unknown":
        raise ApiError(401, "unauthenticated", "the bearer token is not known to this market")
    if reader == "bidder":
        raise ApiError(403, "forbidden", "the whole log is for the operator and the market's auditors; send no token")
    return reader == "whole"


async def _reads_whole(
    conn: HTTPConnection, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> bool:
    """True for the operator's or an auditor's token, False for any other caller (never a refusal): for
    routes everyone may read, of which these two see more (a certificate's transcript)."""
    return _reader(conn, bearer) == "whole"


Who = Annotated[Principal, Depends(_principal)]
Operator = Annotated[Principal, Depends(_operator_only)]
Bidder = Annotated[Principal, Depends(_bidder_only)]
LogReader = Annotated[bool, Depends(_log_reader)]
ReadsWhole = Annotated[bool, Depends(_reads_whole)]
