"""The HTTP application: REST commands, the WebSocket feed, the public log, the web pages.

`create_app(db, signer, …)` opens the ledger (rebuilding the market from it when it is not empty,
refusing to start if the replay diverges) and returns a FastAPI application whose lifespan attaches
the market to the wall clock and starts the group committer. Every command endpoint answers only
once the command's ledger entry is durable, with the entry's index (`seq`). Refusals are JSON
`{"ok": false, "code", "message", …}` with a 4xx status: 401 no or bad credential, 403 a role or
signature refusal, 404 unknown lot or route, 409 the rules refuse the command now (late bid, below
the increment, lot closed…), 422 a malformed request (the field is named) or a command the rules
find invalid, 503 the ledger cannot be written (retry with the same idempotency key).
"""

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from ledger import CheckpointPolicy, LedgerError, Signer, Store, canonical, open_store

from .. import __version__, certificates
from ..limits import Limits
from ..market import OPERATOR_OPS
from . import commands, public_log, schemas
from .auth import Principal, make_token
from .certs import CertificateLookupError, Certificates
from .feed import Feed
from .guard import BodyGuard
from .live import WRITE_TIMEOUT_S, IdempotencyConflict, LiveMarket, Unavailable
from .responses import ApiError, json_response, outcome_body, status_for
from .signing import verify_command

__all__ = ["BIDDER_OPS", "ApiError", "create_app", "status_for"]  # ApiError, status_for: from .responses

log = logging.getLogger("auction_engine.server")

PAGES = Path(__file__).resolve().parent / "pages"
IDEM_PATTERN = r"^[\x21-\x7e]{1,128}$"
_IDEM_RE = re.compile(IDEM_PATTERN)
_OP_RE = re.compile(r"^[a-z][a-z_]{0,39}$")

BIDDER_OPS = frozenset(
    {
        "bid",
        "proxy",
        "accept",
        "commit",
        "reveal",
        "register",
        "withdraw_registration",
        "object",
        "offer",
        "confirm",
        "payment_plan",
        "accept_offer",
        "decline_offer",
    }
)
"""Commands a bidder may send (as itself); every other command needs the operator."""

# -- responses documented in the OpenAPI document ------------------------------------------------------

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.Problem, "description": "no or unknown credential"},
    403: {"model": schemas.Problem, "description": "not allowed for this role, or a bad signature"},
    404: {"model": schemas.Problem, "description": "unknown lot, code, entry or tile"},
    409: {
        "model": schemas.Problem,
        "description": "refused by the rules now (late bid, below increment…), or not issuable yet",
    },
    413: {"model": schemas.Problem, "description": "the request body is larger than the server's limit"},
    422: {"model": schemas.Problem, "description": "malformed request (the field is named) or invalid command"},
    503: {"model": schemas.Problem, "description": "the ledger cannot be written now; retry with the same key"},
}
_CMD_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": schemas.Ack}, **_PROBLEMS}
_PROBLEM_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Refusals documented as JSON Problems (also on routes whose success is text or bytes)."""
    return {s: {"description": _PROBLEMS[s]["description"], "content": _PROBLEM_JSON} for s in statuses}


_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["ok", "state", "entries", "pending", "server_time"],
    "properties": {
        "ok": {"type": "boolean", "description": "true while serving"},
        "state": {"enum": ["serving", "unwritable", "stopped"]},
        "reason": {"type": "string", "description": "why commands are refused (only when ok is false)"},
        "entries": {"type": "integer", "description": "durable ledger entries"},
        "pending": {"type": "integer", "description": "entries appended but not yet durable"},
        "server_time": {"type": "integer"},
    },
}
_HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "serving", "content": {"application/json": {"schema": _HEALTH_SCHEMA}}},
    503: {
        "description": "not serving commands: the ledger store cannot be written now (it resumes when a write"
        " succeeds), or the market is stopped until a restart; `reason` says which",
        "content": {"application/json": {"schema": _HEALTH_SCHEMA}},
    },
}
_READ_RESPONSES: dict[int | str, dict[str, Any]] = {k: v for k, v in _PROBLEMS.items() if k in (401, 403, 404, 422)}


_bearer = HTTPBearer(auto_error=False, description="operator token, or a bidder's token from its admission")

IdemHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEM_PATTERN,
        description="client-chosen key (1-128 printable ASCII): a repeated request returns the first answer",
    ),
]
LotPath = Annotated[
    str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="the lot id")
]


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else None


def _validation_problem(exc: RequestValidationError, now: int) -> dict[str, Any]:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    loc = tuple(first.get("loc", ()))
    field = _field_of(loc)
    where = loc[0] if loc else "body"
    if first.get("type") == "json_invalid":
        message = f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
        field = None
    elif first.get("type") == "missing" and field is None:
        message = "the request needs a JSON body"
    elif first.get("type") == "extra_forbidden":
        message = f"field {field!r} is not a field of this command"
    elif field is None:
        message = f"the request {where}: {first.get('msg')}"
    else:
        kind = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(str(where), "field")
        message = f"{kind} {field!r}: {first.get('msg')}"
    return {"ok": False, "code": "malformed", "message": message, "field": field, "server_time": now}


# -- the application -----------------------------------------------------------------------------------


def create_app(
    db: str | Store,
    signer: Signer,
    *,
    operator_token: str | None = None,
    operator: str = "operator",
    params: dict[str, Any] | None = None,
    code_prefix: str = "ZJ",
    policy: CheckpointPolicy | None = None,
    tick_ms: int = 1000,
    feed_queue: int = 1024,
    heartbeat_s: float = 1.0,
    fast_lane: bool = True,
    limits: Limits | None = None,
    write_timeout: float = WRITE_TIMEOUT_S,
) -> FastAPI:
    """Open the ledger `db` (a path, URL or store), rebuild the market, and build the application.

    Raises ReplayMismatch when the ledger does not replay, LedgerError/StoreError when it cannot be
    opened or fails the start-up check (ledger.startup: WrongKey, IntegrityError).
    `app.state.new_operator_token` holds an operator token generated now (first start without
    `operator_token`), to be shown once.
    """
    store = open_store(db) if isinstance(db, str) else db
    try:
        market = LiveMarket(
            store,
            signer,
            operator=operator,
            params=params,
            code_prefix=code_prefix,
            policy=policy,
            tick_ms=tick_ms,
            write_timeout=write_timeout,
        )
    except BaseException:
        if isinstance(db, str):  # opened here: close it (a writer's store holds the ledger's lock)
            store.close()
        raise
    new_token: str | None = None
    creds = market.credentials
    if operator_token is not None:
        creds.set_operator_token(operator_token)
        store.set_meta("server.credentials", creds.dumps())
    elif creds.operator_hash is None:
        new_token = make_token("op")
        creds.set_operator_token(new_token)
        store.set_meta("server.credentials", creds.dumps())
    feed = Feed(market, queue_size=feed_queue, heartbeat_s=heartbeat_s)
    certs = Certificates(market)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await market.start()
        await feed.start()
        started = getattr(app.state, "on_started", None)
        if started is not None:
            started()
        try:
            yield
        finally:
            await feed.stop()
            await market.stop()

    app = FastAPI(
        title="auction-engine live market",
        version=__version__,
        description=(
            "A technology-transfer market (浙江拍-style) on a signed RFC 6962 ledger. Money is integer fen, time "
            "integer ms since the epoch (UTC). Every command is answered once its ledger entry is durable, with the "
            "entry's index. Refusals are JSON {ok:false, code, message}."
        ),
        lifespan=lifespan,
    )
    app.state.market = market
    app.state.feed = feed
    app.state.certificates = certs
    app.state.new_operator_token = new_token

    # -- errors --------------------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        body = {"ok": False, "code": exc.code, "message": exc.message, "field": exc.field, "server_time": market.now()}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return json_response(exc.status, body, headers)

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable) -> Response:
        # a request that waited for durability while the store failed, or the market stopped (see /api/health)
        return json_response(
            503, {"ok": False, "code": "ledger_unavailable", "message": str(exc), "server_time": market.now()}
        )

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError) -> Response:
        return json_response(422, _validation_problem(exc, market.now()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.detail else code
        if exc.status_code == 404:
            message = f"no such resource: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:  # every method of every route at this path, not only the first route's
            headers["Allow"] = _allowed(request.url.path)
        body = {"ok": False, "code": code, "message": message, "server_time": market.now()}
        return json_response(exc.status_code, body, headers or None)

    def _allowed(path: str) -> str:
        methods: set[str] = set()
        for route in app.router.routes:
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(path) and getattr(route, "methods", None):
                methods |= set(route.methods)
        return ", ".join(sorted(methods))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        body = {
            "ok": False,
            "code": "internal_error",
            "message": f"{type(exc).__name__}: {exc}",
            "server_time": market.now(),
        }
        return json_response(500, body)

    # -- credentials ---------------------------------------------------------------------------------

    async def principal(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if bearer is None:
            raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <token>' (operator or bidder token)")
        found = creds.principal(bearer.credentials)
        if found is None:
            raise ApiError(401, "unauthenticated", "the bearer token is not known to this market")
        return found

    async def operator_only(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.is_operator:
            raise ApiError(403, "forbidden", f"this is an operator action; {who.actor} is a bidder")
        return who

    async def bidder_only(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.is_operator:
            raise ApiError(403, "forbidden", "this is a bidder's action; use a bidder token")
        return who

    Who = Annotated[Principal, Depends(principal)]
    Operator = Annotated[Principal, Depends(operator_only)]
    Bidder = Annotated[Principal, Depends(bidder_only)]

    # -- the command path ----------------------------------------------------------------------------

    def build(
        who: Principal,
        op: str,
        lot: str | None,
        fields: dict[str, Any],
        sig: str | None,
        idem: str | None,
    ) -> dict[str, Any]:
        """The command as the ledger will record it (actor from the credential), after the role and signature checks."""
        if op in OPERATOR_OPS and not who.is_operator:
            raise ApiError(403, "forbidden", f"{op} is an operator action; {who.actor} is a bidder")
        if not who.is_operator and op not in BIDDER_OPS:
            raise ApiError(422, "unknown_command", f"{op!r} is not a command a bidder can send")
        cmd: dict[str, Any] = {"op": op, "actor": who.actor}
        if lot is not None:
            cmd["lot"] = lot
        cmd.update(fields)
        if who.pubkey is not None or sig is not None:
            if who.pubkey is None:
                raise ApiError(422, "no_key", "a signed command needs a registered key (PUT /api/me/key)", field="sig")
            if sig is None:
                raise ApiError(
                    403,
                    "signature_required",
                    f"{who.actor} has registered a key: every command must carry 'sig'",
                    field="sig",
                )
            if idem is None:
                raise ApiError(422, "idempotency_key_required", "a signed command needs an Idempotency-Key header")
            cmd["idem"] = idem
            cmd["key"] = who.pubkey
            if not verify_command(market.origin, cmd, bytes.fromhex(sig), who.pubkey):
                raise ApiError(
                    403,
                    "bad_signature",
                    f"'sig' is not {who.actor}'s signature over this command on {market.origin}",
                    field="sig",
                )
            cmd["sig"] = bytes.fromhex(sig)
        try:
            canonical.encode(cmd)
        except canonical.CanonicalError as exc:
            raise ApiError(422, "malformed", f"field {exc.path!r}: {exc.reason}", field=exc.path or None) from None
        return cmd

    async def execute(cmd: dict[str, Any], idem: str | None) -> tuple[int, dict[str, Any]]:
        try:
            outcome = market.submit(cmd, idem)
        except IdempotencyConflict as exc:
            raise ApiError(422, "idempotency_key_reused", str(exc), field="Idempotency-Key") from None
        except Unavailable as exc:
            raise ApiError(503, "ledger_unavailable", str(exc)) from None
        except ValueError as exc:  # the engine refused the command's shape before recording anything
            raise ApiError(422, "bad_command", str(exc)) from None
        await market.durable(outcome.target)
        return outcome_body(outcome, market.now())

    async def command(
        who: Principal, op: str, lot: str | None, fields: dict[str, Any], sig: str | None, idem: str | None
    ) -> Response:
        cmd = build(who, op, lot, fields, sig, idem)
        status, body = await execute(cmd, idem)
        headers = {"Idempotent-Replayed": "true"} if body.get("replayed") else None
        return json_response(status, body, headers)

    async def typed(who: Principal, op: str, lot: str | None, body: Any, idem: str | None) -> Response:
        """A typed route's command: the body its route validated, made fields by the one command table."""
        return await command(who, op, lot, commands.fields_of(op, body), getattr(body, "sig", None), idem)

    app.state.build_command = build
    app.state.execute_command = execute

    # -- bidder commands -----------------------------------------------------------------------------

    @app.post("/api/lots/{lot}/bids", tags=["bidder"], responses=_CMD_RESPONSES, summary="Bid (English)")
    async def bid(lot: LotPath, body: schemas.BidIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "bid", lot, body, idem)

    @app.post("/api/lots/{lot}/proxy", tags=["bidder"], responses=_CMD_RESPONSES, summary="Proxy (maximum) bid")
    async def proxy(lot: LotPath, body: schemas.ProxyIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "proxy", lot, body, idem)

    @app.post("/api/lots/{lot}/accept", tags=["bidder"], responses=_CMD_RESPONSES, summary="Accept the Dutch price")
    async def accept(lot: LotPath, body: schemas.AcceptIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "accept", lot, body, idem)

    @app.post("/api/lots/{lot}/commit", tags=["bidder"], responses=_CMD_RESPONSES, summary="Commit a sealed bid")
    async def commit(lot: LotPath, body: schemas.CommitIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "commit", lot, body, idem)

    @app.post("/api/lots/{lot}/reveal", tags=["bidder"], responses=_CMD_RESPONSES, summary="Reveal a sealed bid")
    async def reveal(lot: LotPath, body: schemas.RevealIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "reveal", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/register", tags=["bidder"], responses=_CMD_RESPONSES, summary="Register intent (listing)"
    )
    async def register(
        lot: LotPath, who: Who, idem: IdemHeader = None, body: Annotated[schemas.EmptyIn | None, Body()] = None
    ) -> Response:
        return await typed(who, "register", lot, body or schemas.EmptyIn(), idem)

    @app.post(
        "/api/lots/{lot}/withdraw-registration",
        tags=["bidder"],
        responses=_CMD_RESPONSES,
        summary="Withdraw a registration (listing)",
    )
    async def withdraw_registration(
        lot: LotPath, who: Who, idem: IdemHeader = None, body: Annotated[schemas.EmptyIn | None, Body()] = None
    ) -> Response:
        return await typed(who, "withdraw_registration", lot, body or schemas.EmptyIn(), idem)

    @app.post("/api/lots/{lot}/objections", tags=["bidder"], responses=_CMD_RESPONSES, summary="Lodge an objection")
    async def object_(lot: LotPath, body: schemas.ObjectIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "object", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/offers", tags=["bidder"], responses=_CMD_RESPONSES, summary="Competing offer (agreement)"
    )
    async def offer(lot: LotPath, body: schemas.OfferIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "offer", lot, body, idem)

    @app.post("/api/lots/{lot}/confirm", tags=["bidder"], responses=_CMD_RESPONSES, summary="Confirm the deal")
    async def confirm(
        lot: LotPath, who: Who, idem: IdemHeader = None, body: Annotated[schemas.EmptyIn | None, Body()] = None
    ) -> Response:
        return await typed(who, "confirm", lot, body or schemas.EmptyIn(), idem)

    @app.post("/api/lots/{lot}/payment-plan", tags=["bidder"], responses=_CMD_RESPONSES, summary="Choose instalments")
    async def payment_plan(lot: LotPath, body: schemas.PaymentPlanIn, who: Who, idem: IdemHeader = None) -> Response:
        return await typed(who, "payment_plan", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/accept-offer", tags=["bidder"], responses=_CMD_RESPONSES, summary="Take a second-chance offer"
    )
    async def accept_offer(
        lot: LotPath, who: Who, idem: IdemHeader = None, body: Annotated[schemas.EmptyIn | None, Body()] = None
    ) -> Response:
        return await typed(who, "accept_offer", lot, body or schemas.EmptyIn(), idem)

    @app.post(
        "/api/lots/{lot}/decline-offer",
        tags=["bidder"],
        responses=_CMD_RESPONSES,
        summary="Decline a second-chance offer",
    )
    async def decline_offer(
        lot: LotPath, who: Who, idem: IdemHeader = None, body: Annotated[schemas.EmptyIn | None, Body()] = None
    ) -> Response:
        return await typed(who, "decline_offer", lot, body or schemas.EmptyIn(), idem)

    # -- operator commands ---------------------------------------------------------------------------

    @app.post("/api/submarkets", tags=["operator"], responses=_CMD_RESPONSES, summary="Open a sub-market")
    async def open_submarket(body: schemas.OpenSubmarketIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "open_submarket", None, body, idem)

    @app.post("/api/lots", tags=["operator"], responses=_CMD_RESPONSES, summary="Open a lot in any mode")
    async def open_lot(body: schemas.OpenLotIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "open_lot", body.lot, body, idem)

    @app.post("/api/lots/{lot}/deposits", tags=["operator"], responses=_CMD_RESPONSES, summary="Record a deposit")
    async def deposit(lot: LotPath, body: schemas.DepositIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "deposit", lot, body, idem)

    @app.post("/api/lots/{lot}/payments", tags=["operator"], responses=_CMD_RESPONSES, summary="Record a payment")
    async def pay(lot: LotPath, body: schemas.PayIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "pay", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/objections/{objection}/resolve",
        tags=["operator"],
        responses=_CMD_RESPONSES,
        summary="Resolve an objection",
    )
    async def resolve_objection(
        lot: LotPath,
        objection: Annotated[int, PathParam(ge=0, le=1_000_000)],
        body: schemas.ResolveIn,
        who: Operator,
        idem: IdemHeader = None,
    ) -> Response:
        full = schemas.ResolveObjectionIn(objection=objection, upheld=body.upheld)
        return await typed(who, "resolve_objection", lot, full, idem)

    @app.post(
        "/api/lots/{lot}/relist/approve", tags=["operator"], responses=_CMD_RESPONSES, summary="Approve a re-list"
    )
    async def approve_relist(
        lot: LotPath, body: schemas.ApproveRelistIn, who: Operator, idem: IdemHeader = None
    ) -> Response:
        return await typed(who, "approve_relist", lot, body, idem)

    @app.post("/api/lots/{lot}/relist", tags=["operator"], responses=_CMD_RESPONSES, summary="Re-list at a price")
    async def relist(lot: LotPath, body: schemas.RelistIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "relist", lot, body, idem)

    @app.post("/api/lots/{lot}/withdraw", tags=["operator"], responses=_CMD_RESPONSES, summary="Withdraw a lot (撤拍)")
    async def withdraw_lot(lot: LotPath, body: schemas.WithdrawIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "withdraw_lot", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/close-phase",
        tags=["operator"],
        responses=_CMD_RESPONSES,
        summary="End the current pricing phase now (lots opened with operator_may_close)",
    )
    async def close_phase(lot: LotPath, body: schemas.WithdrawIn, who: Operator, idem: IdemHeader = None) -> Response:
        return await typed(who, "close_phase", lot, body, idem)

    @app.post(
        "/api/lots/{lot}/commands/{op}",
        tags=["operator", "bidder"],
        responses=_CMD_RESPONSES,
        summary="Any command of the lot's rules, by name",
    )
    async def any_command(
        lot: LotPath,
        op: Annotated[str, PathParam(pattern=r"^[a-z][a-z_]{0,39}$")],
        body: schemas.CommandIn,
        who: Who,
        idem: IdemHeader = None,
    ) -> Response:
        fields, sig = commands.validate(op, dict(body.model_extra or {}))
        return await command(who, op, lot, fields, sig, idem)

    # -- bidders and credentials ---------------------------------------------------------------------

    @app.post("/api/bidders", tags=["operator"], response_model=schemas.Admitted, responses=_READ_RESPONSES)
    async def admit(body: schemas.AdmitIn, who: Operator) -> Response:
        """Admit a bidder: create (or replace) its credential. The token is in this answer only."""
        if body.bidder in market.engine.market.operators:
            raise ApiError(422, "malformed", f"{body.bidder!r} is an operator id", field="bidder")
        pubkey = bytes.fromhex(body.pubkey) if body.pubkey else None
        token = creds.admit(body.bidder, body.name, pubkey)
        await market.save_credentials()
        return json_response(200, {"token": token, **creds.public(body.bidder)})

    @app.get("/api/bidders", tags=["operator"], response_model=list[schemas.BidderOut], responses=_READ_RESPONSES)
    async def bidders(who: Operator) -> Response:
        return json_response(200, [creds.public(b) for b in sorted(creds.bidder_ids())])  # type: ignore[arg-type]

    @app.put("/api/me/key", tags=["bidder"], response_model=schemas.BidderOut, responses=_READ_RESPONSES)
    async def set_key(body: schemas.KeyIn, who: Bidder) -> Response:
        """Register the bidder's own Ed25519 public key (null clears it); from then on its commands must be signed."""
        creds.set_key(who.actor, bytes.fromhex(body.pubkey) if body.pubkey else None)
        await market.save_credentials()
        return json_response(200, creds.public(who.actor))

    @app.get("/api/me", tags=["bidder"], responses=_READ_RESPONSES)
    async def me(who: Who) -> Response:
        """Who this credential is, and (for a bidder) its deposits by lot."""
        out: dict[str, Any] = {
            "actor": who.actor,
            "role": who.role,
            "market": market.origin,
            "server_time": market.now(),
        }
        if not who.is_operator:
            out.update(creds.public(who.actor))
            out["deposits"] = {
                lid: lot.deposits[who.actor] for lid, lot in market.engine.lots.items() if who.actor in lot.deposits
            }
        return json_response(200, out)

    @app.get("/api/me/lots/{lot}", tags=["bidder"], responses=_READ_RESPONSES)
    async def my_lot(lot: LotPath, who: Who) -> Response:
        """The lot as this bidder may see it (its own deposit, proxy, commitment, registration)."""
        if lot not in market.engine.lots:
            raise ApiError(404, "unknown_lot", f"there is no lot {lot!r}")
        view = market.operator_view(lot) if who.is_operator else market.view(lot, who.actor)
        return json_response(200, {"server_time": market.now(), "view": view})

    # -- public reading ------------------------------------------------------------------------------

    @app.get("/api/time", tags=["public"])
    async def server_time() -> Response:
        """The server's clock (ms since the epoch): pages count down on it."""
        return json_response(200, {"server_time": market.now()})

    @app.get("/api/health", tags=["public"], responses=_HEALTH_RESPONSES)
    async def health() -> Response:
        """200 while the market serves; 503 with the reason while its store cannot be written, or once stopped."""
        body: dict[str, Any] = {
            "ok": market.healthy,
            "state": "stopped" if market.stopped is not None else "unwritable" if market.failure else "serving",
            "entries": market.log.durable_size,
            "pending": market.log.size - market.log.durable_size,
            "server_time": market.now(),
        }
        if not market.healthy:
            body["reason"] = market.unavailable_reason()
        return json_response(200 if market.healthy else 503, body)

    @app.get("/api/market", tags=["public"])
    async def market_info() -> Response:
        cp = public_log.checkpoint_json(market)
        return json_response(
            200,
            {
                "market": market.engine.market.name,
                "origin": market.origin,
                "vkey": signer.verifier.encode(),
                "operators": sorted(market.engine.market.operators),
                "submarkets": market.submarkets(),
                "entries": market.log.durable_size,
                "commits": market.commits,
                "checkpoint_size": cp["size"] if cp else 0,
                "lots": len(market.engine.lots),
                "feed_clients": len(feed.clients),
                "server_time": market.now(),
            },
        )

    @app.get("/api/lots", tags=["public"])
    async def lots() -> Response:
        """Every lot's public view."""
        return json_response(200, {"server_time": market.now(), "lots": [market.view(lid) for lid in market.lot_ids()]})

    @app.get("/api/lots/{lot}", tags=["public"], responses=_errors(404, 422))
    async def lot_view(lot: LotPath) -> Response:
        if lot not in market.engine.lots:
            raise ApiError(404, "unknown_lot", f"there is no lot {lot!r}")
        return json_response(200, {"server_time": market.now(), "view": market.view(lot)})

    @app.get("/api/operator/lots", tags=["operator"], responses=_READ_RESPONSES)
    async def operator_lots(who: Operator) -> Response:
        """Every lot with deposits, objections and registrations (the console's table)."""
        return json_response(
            200, {"server_time": market.now(), "lots": [market.operator_view(lid) for lid in market.lot_ids()]}
        )

    @app.websocket("/api/feed")
    async def feed_ws(ws: WebSocket, since: Annotated[int | None, Query(ge=-1)] = None) -> None:
        """The event feed (see auction_engine/server/feed.py for the messages)."""
        await feed.serve(ws, since)

    # -- the public log ------------------------------------------------------------------------------

    def _problem(status: int, code: str, message: str) -> Response:
        return json_response(status, {"ok": False, "code": code, "message": message, "server_time": market.now()})

    @app.get("/log/checkpoint", tags=["public log"], response_class=PlainTextResponse, responses=_errors(404))
    async def tlog_checkpoint() -> Response:
        """The latest signed checkpoint (C2SP tlog-checkpoint), as tlog-tiles serves it."""
        if market.published is None:
            return _problem(404, "no_checkpoint", "no checkpoint has been signed yet")
        return PlainTextResponse(market.published.note, headers={"Cache-Control": public_log.NO_CACHE})

    @app.get(
        "/log/tile/{path:path}",
        tags=["public log"],
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404, 422)},
    )
    async def tlog_tile(path: str) -> Response:
        """C2SP tlog-tiles hash tiles (`<L>/<N>[.p/<W>]`) and entry bundles (`entries/<N>[.p/<W>]`)."""
        try:
            level, index, width = public_log.parse_tile_path(path)
            size = public_log.published_size(market)
            if level == "entries":
                data = await public_log.entry_bundle(market, index, width, size)
            else:
                data = public_log.hash_tile(market, int(level), index, width, size)
        except public_log.TileError as exc:
            return _problem(exc.status, exc.code, exc.message)
        cache = public_log.IMMUTABLE if width is None else public_log.NO_CACHE
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})

    @app.get("/api/log/checkpoint", tags=["public log"], responses=_errors(404))
    async def log_checkpoint() -> Response:
        """The latest signed checkpoint, parsed, with the market's verifier key."""
        cp = public_log.checkpoint_json(market)
        if cp is None:
            return _problem(404, "no_checkpoint", "no checkpoint has been signed yet")
        return json_response(200, cp)

    @app.get("/api/log/vkey", tags=["public log"], response_class=PlainTextResponse)
    async def log_vkey() -> Response:
        """The market's verifier key (name+hex8+base64), to check checkpoints and certificates."""
        return PlainTextResponse(signer.verifier.encode() + "\n")

    @app.get("/api/log/entries", tags=["public log"], responses=_errors(422))
    async def log_entries(
        start: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        """Entries start … start+limit-1 within the published checkpoint: base64 bytes, leaf hash, decoded."""
        size = public_log.published_size(market)
        raw = await market.read_entries(start, min(size, start + limit))
        items = [{"seq": start + i, **public_log.entry_json(d)} for i, d in enumerate(raw)]
        return json_response(200, {"size": size, "entries": items})

    @app.get("/api/log/entries/{seq}", tags=["public log"], responses=_errors(404, 422))
    async def log_entry(seq: Annotated[int, PathParam(ge=0, le=2**62)]) -> Response:
        size = public_log.published_size(market)
        if seq >= size:
            return _problem(
                404, "not_published", f"entry {seq} is not covered by the published checkpoint (size {size})"
            )
        raw = await market.read_entries(seq, seq + 1)
        return json_response(200, {"seq": seq, **public_log.entry_json(raw[0])})

    @app.get(
        "/api/log/proof/{seq}",
        tags=["public log"],
        response_class=PlainTextResponse,
        responses=_errors(404, 422),
    )
    async def log_proof(seq: Annotated[int, PathParam(ge=0, le=2**62)]) -> Response:
        """A C2SP tlog-proof@v1 for entry `seq` under the latest published checkpoint."""
        try:
            return PlainTextResponse(public_log.inclusion_proof(market, seq))
        except LedgerError as exc:
            return _problem(404, "not_published", str(exc))

    @app.get("/api/log/consistency", tags=["public log"], responses=_errors(422))
    async def log_consistency(
        old: Annotated[int, Query(ge=1, le=2**62)],
        new: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Response:
        """The RFC 6962 consistency proof from size `old` to `new` (default: the published size), base64 hashes."""
        try:
            proof = public_log.consistency_proof(market, old, new)
        except LedgerError as exc:
            return _problem(422, "bad_sizes", str(exc))
        return json_response(200, {"old": old, "new": new or public_log.published_size(market), "proof": proof})

    # -- certificates ----------------------------------------------------------------------------------

    async def _certificate(code: str) -> dict[str, Any]:
        try:
            return await certs.get(code)
        except CertificateLookupError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None

    @app.get("/api/certificates", tags=["public"])
    async def certificate_codes() -> Response:
        """Every transaction code issued so far, with its lot."""
        return json_response(200, {"codes": certs.codes()})

    @app.get(
        "/api/certificates/{code}",
        tags=["public"],
        responses=_errors(404, 409, 422),
    )
    async def certificate(code: Annotated[str, PathParam(max_length=64)]) -> Response:
        """The certificate for a transaction code, and the server's verification verdict."""
        cert = await _certificate(code)
        return json_response(200, {"certificate": cert, "verdict": await certs.verdict(cert)})

    @app.post("/api/certificates/{code}", tags=["operator"], responses=_errors(401, 403, 404, 409, 422))
    async def issue_certificate(code: Annotated[str, PathParam(max_length=64)], who: Operator) -> Response:
        """Issue (or fetch) the certificate for a transaction code."""
        cert = await _certificate(code)
        return json_response(200, {"certificate": cert, "verdict": await certs.verdict(cert)})

    @app.get(
        "/certificates/{name}",
        tags=["public"],
        response_class=Response,
        responses={200: {"content": {"application/json": {}, "text/html": {}}}, **_errors(404, 409, 422)},
    )
    async def certificate_file(name: Annotated[str, PathParam(max_length=80)]) -> Response:
        """`CODE.cert.json` (the evidence file) or `CODE.html` (a printable page), as the certificate's QR names."""
        if name.endswith(".cert.json"):
            cert = await _certificate(name[: -len(".cert.json")])
            return Response(certificates.dumps(cert), media_type="application/json")
        if name.endswith(".html"):
            cert = await _certificate(name[: -len(".html")])
            return HTMLResponse(certs.html(cert))
        raise ApiError(404, "not_found", "ask for CODE.cert.json or CODE.html")

    # -- pages -----------------------------------------------------------------------------------------

    def _page(name: str) -> Callable[[], Awaitable[Response]]:
        async def page() -> Response:
            return FileResponse(PAGES / name, media_type="text/html", headers={"Cache-Control": "no-cache"})

        return page

    for route, name in (
        ("/", "index.html"),
        ("/console", "console.html"),
        ("/room", "room.html"),
        ("/certificate", "certificate.html"),
    ):
        app.add_api_route(route, _page(name), methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=PAGES), name="static")

    app.add_middleware(BodyGuard, limits=limits or Limits(), now=market.now)  # every body, before the routes
    if fast_lane:  # outermost (added last): a plain bid needs neither the guard's checks nor the routes
        from .fastlane import FastLane, LaneStats

        app.state.fast_lane = LaneStats()
        app.add_middleware(FastLane, market=market, build=build, stats=app.state.fast_lane)
    for route in app.routes:  # the guard answers 413 on every route that takes a body
        if isinstance(route, APIRoute) and route.methods & {"POST", "PUT"}:
            route.responses.setdefault(413, _errors(413)[413])
    return app
