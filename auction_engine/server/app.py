"""The HTTP application: REST commands, the WebSocket feed, the public log, the web pages.

`create_app(db, signer, …)` opens the ledger (rebuilding the market from it when it is not empty,
refusing to start if the replay diverges) and returns a FastAPI application whose lifespan attaches
the market to the wall clock and starts the group committer. Every command endpoint answers only
once the command's ledger entry is durable, with the entry's index (`seq`). Refusals are JSON
`{"ok": false, "code", "message", …}` with a 4xx status: 401 no or bad credential, 403 a role or
signature refusal, 404 unknown lot or route, 409 the rules refuse the command now (late bid, below
the increment, lot closed…), 422 a malformed request (the field is named) or a command the rules
find invalid, 503 the ledger cannot be written (retry with the same idempotency key).

The parts: the routes by area (`routes/`), what they need from the application
(`dependencies.py`), the one command path (`command_path.py`), the one writer of JSON answers
(`responses.py`), the exception handlers (`errors.py`), and two ASGI middlewares around the whole:
the fast lane for plain bids (`fastlane.py`, outermost) and the request guard (`guard.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI

from ledger import CheckpointPolicy, Signer, Store, open_store

from .. import __version__
from ..limits import Limits
from .api_docs import add_api_docs
from .auth import META_KEY, make_token
from .certs import Certificates
from .command_path import BIDDER_OPS
from .errors import EXCEPTION_HANDLERS, method_table
from .fastlane import FastLane, LaneStats
from .feed import Feed
from .guard import BodyGuard
from .i18n import market_timezone
from .idempotency import DEFAULT_WINDOW_MS as IDEMPOTENCY_WINDOW_MS
from .live import WRITE_TIMEOUT_S, LiveMarket
from .receipts import DEFAULT_WINDOW_MS
from .responses import ApiError, status_for
from .restore import reader_of
from .routes import ROUTERS
from .routes.pages import static_files
from .witnesses import Witness, WitnessPool

__all__ = ["BIDDER_OPS", "ApiError", "create_app", "status_for"]  # BIDDER_OPS, ApiError, status_for: re-exported

DESCRIPTION = (
    "A technology-transfer market (浙江拍-style) on a signed RFC 6962 ledger. Money is integer fen, time "
    "integer ms since the epoch (UTC). Every command is answered once its ledger entry is durable, with the "
    "entry's index. Refusals are JSON {ok:false, code, message}."
)


_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's telemetry configuration when `telemetry` is off: no spans, metrics or logs."""


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
    receipt_window_ms: int = DEFAULT_WINDOW_MS,
    witnesses: Sequence[Witness] = (),
    quorum: int = 1,
    telemetry: bool = False,
    timezone: str | None = None,
    snapshot_every_entries: int | None = 100_000,
    snapshot_every_ms: int | None = 10 * 60 * 1000,
    idempotency_window_ms: int = IDEMPOTENCY_WINDOW_MS,
) -> FastAPI:
    """Open the ledger `db` (a path, URL or store), rebuild the market, and build the application.

    Raises ReplayMismatch when the ledger does not replay, LedgerError/StoreError when it cannot be
    opened or fails the start-up check (ledger.startup: WrongKey, IntegrityError).
    `app.state` holds `market` (the LiveMarket), `feed`, `certificates`, `fast_lane` (its LaneStats,
    when it is on) and `new_operator_token`: an operator token generated now (first start without
    `operator_token`), to be shown once. `telemetry` turns on FastAPI's OpenTelemetry spans and
    metrics (reported to the providers configured in the process, as `opentelemetry-instrument` sets
    them); off, no request pays for asking whether a provider is configured. `timezone` is the IANA time
    zone people read the market's times in (default: the one of the market's `utc_offset_ms`, Asia/Shanghai
    for UTC+08:00); the rules keep counting working days on `utc_offset_ms`. The market is snapshotted every
    `snapshot_every_entries` entries and `snapshot_every_ms` (docs/formats.md §14); idempotency keys are
    remembered for `idempotency_window_ms` of ledger time.
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
            receipt_window_ms=receipt_window_ms,
            open_reader=reader_of(db),
            snapshot_every_entries=snapshot_every_entries,
            snapshot_every_ms=snapshot_every_ms,
            idempotency_window_ms=idempotency_window_ms,
        )
    except BaseException:
        if isinstance(db, str):  # opened here: close it (a writer's store holds the ledger's lock)
            store.close()
        raise
    try:
        pool = WitnessPool(market, witnesses, quorum) if witnesses else None
    except ValueError:
        if isinstance(db, str):
            store.close()
        raise
    market.witnesses = pool
    try:
        market.timezone = market_timezone(market, timezone)
    except ValueError:
        if isinstance(db, str):
            store.close()
        raise
    new_token = _set_operator_token(market, operator_token)
    feed = Feed(market, queue_size=feed_queue, heartbeat_s=heartbeat_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await market.start()
        if pool is not None:
            pool.start()
        await feed.start()
        started = getattr(app.state, "on_started", None)
        if started is not None:
            started()
        try:
            yield
        finally:
            await feed.stop()
            if pool is not None:
                await pool.stop()
            await market.stop()

    app = FastAPI(
        title="auction-engine live market",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        docs_url=None,  # /docs comes from api_docs.py, with local assets (FastAPI's loads a CDN's); no /redoc
        redoc_url=None,
        telemetry=None if telemetry else _NO_TELEMETRY,
    )
    app.state.market = market
    app.state.feed = feed
    app.state.certificates = Certificates(market)
    app.state.new_operator_token = new_token
    for router in ROUTERS:
        # The routes themselves, in one flat table: this FastAPI's `include_router` would match every
        # request through a wrapper per included router, route by route.
        app.router.routes.extend(router.routes)
    app.mount("/static", static_files(), name="static")
    add_api_docs(app)
    app.state.route_methods = method_table(app.router.routes)

    app.add_middleware(BodyGuard, limits=limits or Limits(), now=market.now)  # every body, before the routes
    if fast_lane:  # outermost (added last): a plain bid needs neither the guard's checks nor the routing
        app.state.fast_lane = LaneStats()
        app.add_middleware(FastLane, market=market, stats=app.state.fast_lane)
    return app


def _set_operator_token(market: LiveMarket, operator_token: str | None) -> str | None:
    """Store the operator token given, or make one on a first start; return the one made (else None)."""
    creds = market.credentials
    new_token: str | None = None
    if operator_token is not None:
        creds.set_operator_token(operator_token)
    elif creds.operator_hash is None:
        new_token = make_token("op")
        creds.set_operator_token(new_token)
    else:
        return None
    market.store.set_meta(META_KEY, creds.dumps())
    return new_token
