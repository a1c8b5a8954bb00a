"""Certificates over HTTP: the issued codes, a certificate with its verdict, and the files its QR names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette.requests import Request
from starlette.responses import Response

from ... import certificates
from ..certs import CertificateLookupError, Certificates
from ..dependencies import Operator, ReadsWhole, certificates_of
from ..responses import ApiError, JSONAnswer
from .openapi import errors

__all__ = ["router"]

router = APIRouter()


async def _certificate(certs: Certificates, code: str) -> dict[str, Any]:
    """The certificate for `code`; a lookup refusal as ApiError (its status and code)."""
    try:
        return await certs.get(code)
    except CertificateLookupError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


@router.get("/api/certificates", tags=["public"])
async def certificate_codes(request: Request) -> Response:
    """Every transaction code issued so far, with its lot."""
    return JSONAnswer({"codes": certificates_of(request).codes()})


@router.get(
    "/api/certificates/{code}",
    tags=["public"],
    responses=errors(404, 409, 422),
)
async def certificate(code: Annotated[str, PathParam(max_length=64)], request: Request, whole: ReadsWhole) -> Response:
    """The certificate for a transaction code, and the server's verdict on it. Its transcript (every entry of
    the lot's session: every bidder's deposits and refusals) only for the operator and the market's auditors
    (bearer token); the public's certificate proves the deal and its code without it."""
    certs = certificates_of(request)
    cert = _for(await _certificate(certs, code), whole)
    return JSONAnswer({"certificate": cert, "verdict": await certs.verdict(cert)})


def _for(cert: dict[str, Any], whole: bool) -> dict[str, Any]:
    """The certificate as the caller may have it: without its transcript unless it reads the whole log."""
    if whole or "transcript" not in cert:
        return cert
    return {k: v for k, v in cert.items() if k != "transcript"}


@router.post("/api/certificates/{code}", tags=["operator"], responses=errors(401, 403, 404, 409, 413, 422))
async def issue_certificate(
    code: Annotated[str, PathParam(max_length=64)], who: Operator, request: Request
) -> Response:
    """Issue (or fetch) the certificate for a transaction code."""
    certs = certificates_of(request)
    cert = await _certificate(certs, code)
    return JSONAnswer({"certificate": cert, "verdict": await certs.verdict(cert)})


@router.get(
    "/certificates/{name}",
    tags=["public"],
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/html": {}}}, **errors(404, 409, 422)},
)
async def certificate_file(
    name: Annotated[str, PathParam(max_length=80)], request: Request, whole: ReadsWhole
) -> Response:
    """`CODE.cert.json` (the evidence file; with its transcript for the operator and auditors) or `CODE.html`
    (a printable page), as the certificate's QR names."""
    certs = certificates_of(request)
    if name.endswith(".cert.json"):
        cert = _for(await _certificate(certs, name[: -len(".cert.json")]), whole)
        return Response(certificates.dumps(cert), media_type="application/json")
    if name.endswith(".html"):
        cert = await _certificate(certs, name[: -len(".html")])
        return HTMLResponse(certs.html(cert))
    raise ApiError(404, "not_found", "ask for CODE.cert.json or CODE.html")
