"""The witness's HTTP interface (C2SP tlog-witness): ``POST /add-checkpoint``, an ASGI app on Starlette.

200 with the cosignature line(s) as ``text/plain; charset=utf-8``; 409 after an old-size mismatch with
the size last cosigned and a newline as ``text/x.tlog.size``; every other refusal (400, 403, 404, 409
on a root mismatch, 413 for a body over the limit, 422) with a one-line ``text/plain`` reason. Checking
and recording run on a worker thread (the state's fsync must not stall the event loop); an unexpected
error is logged and answered 500 without a traceback.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .witness import DEFAULT_MAX_BODY, Refusal, Witness

__all__ = ["SIZE_CONTENT_TYPE", "create_witness_app"]

SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

log = logging.getLogger("ledger.witness")


def _text(status: int, body: str, content_type: str = TEXT_CONTENT_TYPE) -> Response:
    # The content type as a plain header: Starlette would add a charset to a text/* media type, and the
    # spec names text/x.tlog.size exactly.
    return Response(body.encode(), status_code=status, headers={"content-type": content_type})


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it is longer than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_witness_app(witness: Witness, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    """The ASGI app of `witness`; request bodies over `max_body` bytes are answered 413."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _body(request, max_body)
        except ClientDisconnect:
            return _text(400, "the client went away before sending the whole body\n")
        if body is None:
            return _text(413, f"request body is larger than {max_body} bytes\n")
        try:
            answer = await run_in_threadpool(witness.add_checkpoint, body)
        except Refusal as refusal:
            if refusal.status == 409 and refusal.known_size is not None:
                return _text(409, f"{refusal.known_size}\n", SIZE_CONTENT_TYPE)
            return _text(refusal.status, refusal.message + "\n")
        except Exception:
            log.exception("add-checkpoint failed")
            return _text(500, "internal error: the checkpoint was not cosigned\n")
        return _text(200, answer)

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])
