"""The request guard: limits on every request body, checked before any route or rule sees it.

ASGI middleware, outermost in the application. A body larger than `max_body` bytes is refused
with 413 (at once when the Content-Length says so, else as soon as that many bytes have arrived).
A non-empty body must be one JSON document that nests at most `max_depth` levels, with no key
twice in one object, no string longer than `max_string` characters, no list longer than
`max_list` items and no object with more than `max_keys` keys: else 422, naming the path
(`params.zz`, `parties[3].party`). The depth is measured on the raw bytes before the document is
parsed, so no input can exhaust the parser's stack. A plain bid (`{"amount": <int>}`, the one
request a market gets thousands of times a second) is recognised by one pattern and needs none
of this. The limits are documented in docs/operator.md ("Limits") with their `serve` flags.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger import strictjson

from ..limits import Limits
from .responses import refusal

__all__ = ["PLAIN_BID", "BodyGuard", "Limits", "check_document", "replaying"]

PLAIN_BID = re.compile(
    rb'^\s*\{\s*"amount"\s*:\s*(0|[1-9][0-9]{0,15})\s*(?:,\s*"sig"\s*:\s*"([0-9a-fA-F]{128})"\s*)?\}\s*$'
)
"""A plain bid body, whole: `amount`, a non-negative integer of at most 16 digits (the rules bound it), and
optionally `sig`, a bidder's signature in 128 hex digits, in that order."""

_TOKENS = re.compile(rb'"(?:[^"\\]+|\\.)*"|[\[\]{},:]')
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Refused(Exception):
    """A body the limits refuse: the HTTP status, the problem code, the message and the path at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _path(stack: list[list[Any]]) -> str:
    out = ""
    for kind, where in stack:
        if kind == "[":
            out += f"[{where}]"
        elif where is not None:
            out += f".{where}" if out else str(where)
    return out


def _too_deep(body: bytes, limit: int) -> str | None:
    """The path at which the raw JSON `body` first nests deeper than `limit`, or None (read as tokens, no parsing)."""
    stack: list[list[Any]] = []  # per open container: [kind, current key or index]
    expect_key = False
    for match in _TOKENS.finditer(body):
        token = match.group()
        first = token[:1]
        if first == b'"':
            if expect_key and stack and stack[-1][0] == "{":
                try:
                    stack[-1][1] = json.loads(token)
                except ValueError:
                    stack[-1][1] = "?"
                expect_key = False
        elif first in b"[{":
            if len(stack) >= limit:
                return _path(stack) or "<body>"
            stack.append(["{", None] if first == b"{" else ["[", 0])
            expect_key = first == b"{"
        elif first in b"]}":
            if stack:
                stack.pop()
            expect_key = False
        elif first == b",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
            else:
                expect_key = True
    return None


def check_document(body: bytes, limits: Limits) -> Any:
    """The JSON document in `body`, or Refused naming what breaks the limits (depth, duplicates, lengths)."""
    deep = _too_deep(body, limits.max_depth)
    if deep is not None:
        raise Refused(
            422, "too_deep", f"field {deep!r} nests deeper than {limits.max_depth} levels of objects and lists", deep
        )
    try:
        doc = strictjson.loads(body)
    except strictjson.DuplicateKeyError as exc:
        raise Refused(422, "malformed", f"field {exc.path!r} appears twice in the request body", exc.path) from None
    except strictjson.StrictJSONError as exc:
        raise Refused(422, "malformed", f"the request body is not valid JSON: {exc.message}", exc.path) from None
    _check_sizes(doc, "", limits)
    return doc


def _check_sizes(value: Any, path: str, limits: Limits) -> None:
    kind = type(value)
    if kind is str:
        if len(value) > limits.max_string:
            raise Refused(
                422,
                "too_long",
                f"field {path or '<body>'!r} is {len(value)} characters; at most {limits.max_string}",
                path or None,
            )
    elif kind is list:
        if len(value) > limits.max_list:
            raise Refused(
                422,
                "too_long",
                f"field {path or '<body>'!r} has {len(value)} items; at most {limits.max_list}",
                path or None,
            )
        for i, item in enumerate(value):
            _check_sizes(item, f"{path}[{i}]", limits)
    elif kind is dict:
        if len(value) > limits.max_keys:
            raise Refused(
                422,
                "too_long",
                f"field {path or '<body>'!r} has {len(value)} keys; at most {limits.max_keys}",
                path or None,
            )
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if len(key) > limits.max_string:
                raise Refused(422, "too_long", f"a key of {path or '<body>'!r} is {len(key)} characters", path or None)
            _check_sizes(item, where, limits)


class BodyGuard:
    """ASGI middleware enforcing `Limits` on every request body before the application sees it."""

    def __init__(self, app: ASGIApp, limits: Limits, now: Any) -> None:
        self.app = app
        self.limits = limits
        self.now = now  # the market's clock, for the answer's server_time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limits.max_body
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await self._refuse(
                        scope, receive, send, Refused(400, "malformed", "the Content-Length header is not a number")
                    )
                    return
                declared = int(value)
                if declared > limit:
                    await self._refuse(scope, receive, send, _too_large(declared, limit))
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(scope, receive, send, _too_large(len(body), limit))
                return
            # A body that holds the declared Content-Length is complete (the HTTP server frames the
            # request by it): it is not held back for the empty last message granian still sends.
            if not message.get("more_body", False) or (declared is not None and len(body) == declared):
                break
        if body and not PLAIN_BID.match(body):
            try:
                check_document(body, self.limits)
            except Refused as exc:
                await self._refuse(scope, receive, send, exc)
                return
        await self.app(scope, replaying(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: Refused) -> None:
        headers = {"Connection": "close"} if exc.status == 413 else None  # the rest of the body is not read
        await refusal(exc.status, exc.code, exc.message, exc.field, self.now(), headers)(scope, receive, send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` for the next application: first the whole `body` already read, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(size: int, limit: int) -> Refused:
    return Refused(413, "too_large", f"the request body is {size} bytes; the limit is {limit} (serve --max-body)")
