"""`auction-engine serve`: run the live market (HTTP API, WebSocket feed, web pages, public log)."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import click

from ledger import CheckpointPolicy, LedgerError, StoreError, strictjson
from ledger.receipt import DEFAULT_WINDOW_MS
from ledger.startup import IntegrityError, WrongKey
from ledger.store import POSTGRES_SCHEMES

from ..limits import Limits
from .common import EXIT_FAILED, EXIT_UNREADABLE, fail_input, load_signer
from .standby import Takeover, preload_server, wait_and_open

TOKEN_ENV = "AUCTION_ENGINE_OPERATOR_TOKEN"


@click.command()
@click.option("--db", required=True, help="Ledger database: a SQLite file path, or a postgresql:// URL.")
@click.option("--key", "key", required=True, help="The market's signer key file (auction-engine keygen).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option(
    "--operator-token",
    envvar=TOKEN_ENV,
    help=f"Set the operator's bearer token (also ${TOKEN_ENV}); default: keep the stored one, or make one.",
)
@click.option("--operator", default="operator", show_default=True, help="The operator's actor id in the ledger.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), help="JSON file of market-wide rule params.")
@click.option("--code-prefix", default="ZJ", show_default=True, help="Transaction code prefix (new ledgers).")
@click.option("--checkpoint-entries", default=1000, show_default=True, type=click.IntRange(1), help="Sign every N.")
@click.option("--checkpoint-ms", default=1000, show_default=True, type=click.IntRange(1), help="…or every T ms.")
@click.option(
    "--feed-queue", default=1024, show_default=True, type=click.IntRange(1), help="Messages a feed client may lag."
)
@click.option(
    "--heartbeat", default=1.0, show_default=True, type=click.FloatRange(0.05), help="Feed heartbeat, seconds."
)
@click.option(
    "--server",
    "server_kind",
    default="granian",
    show_default=True,
    type=click.Choice(["granian", "uvicorn"]),
    help="The ASGI server: granian (Rust HTTP stack, fastest) or uvicorn (httptools + uvloop).",
)
@click.option(
    "--runtime-threads",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="granian: threads of its Rust HTTP runtime (HTTP parsing and socket I/O, beside the market's thread).",
)
@click.option(
    "--switch-interval-ms",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 100.0),
    help="The interpreter's thread switch interval (Python's default is 5 ms): how long the HTTP server's"
    " threads may wait for the interpreter lock while the market's thread runs.",
)
@click.option(
    "--witness",
    "witness_specs",
    multiple=True,
    metavar="URL=VKEY",
    help="A witness (C2SP tlog-witness) to cosign each new checkpoint, and its cosigner verifier key; repeatable.",
)
@click.option(
    "--quorum",
    type=click.IntRange(1),
    help="Publish (at /log/checkpoint) and issue certificates under checkpoints cosigned by at least this many"
    " of the --witness witnesses (default 1).",
)
@click.option(
    "--timezone",
    default=None,
    metavar="ZONE",
    help="The IANA time zone the pages show the market's times in [default: Asia/Shanghai for a market on"
    " UTC+08:00, the rules' utc_offset_ms]",
)
@click.option(
    "--snapshot-every",
    default=100_000,
    show_default=True,
    type=click.IntRange(100, 10**9),
    help="Snapshot the market every this many entries (docs/formats.md §14), so a restart replays only the rest.",
)
@click.option(
    "--snapshot-minutes",
    default=10,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Also snapshot the market this many minutes after the last snapshot, if anything was appended.",
)
@click.option(
    "--idempotency-hours",
    default=24,
    show_default=True,
    type=click.IntRange(1, 24 * 365),
    help="Remember each Idempotency-Key for this many hours of ledger time after its last use, also across restarts.",
)
@click.option(
    "--receipt-window-ms",
    default=DEFAULT_WINDOW_MS,
    show_default=True,
    type=click.IntRange(1000, 86_400_000),
    help="Each answer's signed receipt promises a signed checkpoint covering its entry within this many ms"
    " of the entry's time (more than --checkpoint-ms).",
)
@click.option(
    "--write-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a ledger write may take before the market answers 503 (it resumes once a write succeeds).",
)
@click.option(
    "--max-body",
    default=Limits.max_body,
    show_default=True,
    type=click.IntRange(1024, 1 << 30),
    help="Largest request body, bytes (413 beyond).",
)
@click.option(
    "--max-depth",
    default=Limits.max_depth,
    show_default=True,
    type=click.IntRange(2, 32),
    help="Deepest nesting of objects and lists in a request body (422 beyond).",
)
@click.option(
    "--max-string",
    default=Limits.max_string,
    show_default=True,
    type=click.IntRange(64, 1 << 20),
    help="Longest string in a request body, characters (422 beyond).",
)
@click.option(
    "--max-list",
    default=Limits.max_list,
    show_default=True,
    type=click.IntRange(16, 1 << 20),
    help="Longest list in a request body, items (422 beyond).",
)
@click.option(
    "--telemetry/--no-telemetry",
    default=False,
    show_default=True,
    help="FastAPI's OpenTelemetry spans and metrics, to the providers configured in the process"
    " (as opentelemetry-instrument configures them).",
)
@click.option(
    "--standby",
    is_flag=True,
    help="PostgreSQL only: wait for the ledger's writer lock (held by the serving market), then take over and"
    " serve; the port listens only from then on (docs/operator.md, Failover).",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve(
    db: str,
    key: str,
    host: str,
    port: int,
    operator_token: str | None,
    operator: str,
    params_file: str | None,
    code_prefix: str,
    checkpoint_entries: int,
    checkpoint_ms: int,
    feed_queue: int,
    heartbeat: float,
    server_kind: str,
    runtime_threads: int,
    switch_interval_ms: float,
    witness_specs: tuple[str, ...],
    quorum: int | None,
    receipt_window_ms: int,
    snapshot_every: int,
    snapshot_minutes: int,
    idempotency_hours: int,
    timezone: str | None,
    write_timeout: float,
    max_body: int,
    max_depth: int,
    max_string: int,
    max_list: int,
    telemetry: bool,
    standby: bool,
    log_level: str,
) -> None:
    """Serve the market in ledger DB, signed with KEY, on the wall clock.

    On a non-empty ledger the store is first checked against the signed checkpoints (exit 2 naming
    the entry on a mismatch, or naming both key IDs if KEY did not sign them), then the market is
    rebuilt by replaying every entry; the server refuses to start (exit 1) if the replay diverges.
    Exit 2 also if another writer holds the ledger or the port is taken. The operator token is
    printed once, at the first start. With --standby (a postgresql:// ledger), the server waits for
    the writer to go away instead, and starts once it has (SIGTERM while waiting: exit 0).
    """
    from ..replay import ReplayMismatch
    from ..server.app import create_app
    from ..server.i18n import known_zone
    from ..server.live import StartError
    from ..server.witnesses import parse_witness

    signer = load_signer(key)
    params = None
    if params_file:
        try:
            with open(params_file, "rb") as f:
                params = strictjson.loads(f.read())
        except (OSError, ValueError) as exc:
            fail_input(f"--params {params_file}: {exc}")
        if type(params) is not dict:
            fail_input(f"--params {params_file}: must hold a JSON object of parameters")
    if timezone is not None:  # before the store is opened: a bad zone leaves no new ledger file behind
        try:
            known_zone(timezone)
        except ValueError as exc:
            fail_input(str(exc))
    if checkpoint_ms and receipt_window_ms <= checkpoint_ms:
        fail_input(
            f"--receipt-window-ms {receipt_window_ms} must be more than --checkpoint-ms {checkpoint_ms}: receipts"
            " would promise a checkpoint sooner than the market signs one"
        )
    witnesses = []
    for spec in witness_specs:
        try:
            witnesses.append(parse_witness(spec))
        except ValueError as exc:
            fail_input(str(exc))
    if quorum is not None and not witnesses:
        fail_input("--quorum needs at least one --witness")
    if quorum is not None and quorum > len(witnesses):
        fail_input(f"--quorum {quorum} is more than the {len(witnesses)} witnesses given")
    if operator_token is not None and len(operator_token) < 16:
        fail_input("--operator-token must be at least 16 characters")
    if standby and not db.startswith(POSTGRES_SCHEMES):
        fail_input(
            f"--standby needs a PostgreSQL ledger (a postgresql:// URL), not {db!r}: a standby waits for the"
            " database's writer lock, and a SQLite file has no server to hand its lock over"
        )
    sock = _bind(host, port)  # before the replay: a port in use is refused at once (no SO_REUSEPORT)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host_shown = f"[{host}]" if ":" in host else host

    def open_market() -> Any:
        return create_app(
            db,
            signer,
            operator_token=operator_token,
            operator=operator,
            params=params,
            code_prefix=code_prefix,
            policy=CheckpointPolicy(every_entries=checkpoint_entries, every_ms=checkpoint_ms),
            feed_queue=feed_queue,
            heartbeat_s=heartbeat,
            write_timeout=write_timeout,
            receipt_window_ms=receipt_window_ms,
            snapshot_every_entries=snapshot_every,
            snapshot_every_ms=snapshot_minutes * 60_000,
            idempotency_window_ms=idempotency_hours * 3_600_000,
            timezone=timezone,
            witnesses=witnesses,
            quorum=quorum or 1,
            telemetry=telemetry,
            limits=Limits(max_body=max_body, max_depth=max_depth, max_string=max_string, max_list=max_list),
        )

    takeover: Takeover[Any] | None = None
    try:
        if standby:
            preload_server(server_kind)
            takeover = wait_and_open(
                db,
                open_market,
                lambda app: app.state.market.store.close(),
                listen_on=f"http://{host_shown}:{sock.getsockname()[1]}",
            )
            if takeover is None:  # stopped while waiting
                sock.close()
                return
            app = takeover.opened
        else:
            app = open_market()
    except ReplayMismatch as exc:
        click.echo(f"error: the ledger {db} does not replay: {exc}; refusing to serve it", err=True)
        sys.exit(EXIT_FAILED)
    except WrongKey as exc:
        fail_input(f"refusing to serve ledger {db} with --key {key}: {exc}")
    except IntegrityError as exc:
        fail_input(
            f"refusing to serve ledger {db}: {exc}; check it with `auction-engine ledger verify {db} --vkey"
            " <verifier key>` and restore it from a backup"
        )
    except (StoreError, LedgerError) as exc:
        fail_input(f"cannot open ledger {db}: {exc}")
    except StartError as exc:
        fail_input(str(exc))
    except ValueError as exc:  # --timezone, the witness quorum
        fail_input(str(exc))
    market = app.state.market
    # The restored market is long-lived: keep the collector from rescanning it, and collect the young
    # generation less often (a bid allocates and frees many small objects; almost none survive).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 1000)
    # The HTTP server's threads take the interpreter lock to hand each request to the market's thread
    # and take each answer back: a shorter switch interval lets them in sooner while it runs the rules.
    sys.setswitchinterval(switch_interval_ms / 1000)
    click.echo(
        f"market {market.origin}: {market.restored} entries checked in {market.check_seconds:.2f}s and restored in"
        f" {market.replay_seconds - market.check_seconds:.2f}s, {len(market.engine.lots)} lots",
        err=True,
    )
    if app.state.new_operator_token:
        click.echo(f"operator token (shown once, stored hashed): {app.state.new_operator_token}")

    def announce(bound_port: int) -> None:
        if takeover is not None:
            after = time.monotonic() - takeover.free_at
            click.echo(
                f"standby: took over after {after:.2f}s (from finding the writer lock free to listening;"
                f" waited {takeover.waited:.1f}s for it)",
                err=True,
            )
        click.echo(f"listening on http://{host_shown}:{bound_port} ({server_kind})", err=True)
        sys.stderr.flush()

    sock.listen(BACKLOG)
    try:
        if server_kind == "granian":
            _run_granian(app, sock, log_level, announce, runtime_threads)
        else:
            _run_uvicorn(app, sock, log_level, announce)
    except KeyboardInterrupt:
        pass
    _exit_after_stop(market)


def _exit_after_stop(market: Any) -> None:
    """Return (exit 0) if everything appended was written; else say what was not (never acknowledged), exit 2.

    If `stop` had to leave a store call hanging on its thread, exit without waiting for that thread
    (the interpreter would otherwise wait for it at exit, for as long as the store hangs).
    """
    unwritten = market.log.size - market.log.durable_size
    if unwritten:
        reason = market.failure or "the store did not answer"
        click.echo(
            f"error: stopped with {unwritten} ledger entries not written ({reason}); none of them had been"
            " acknowledged",
            err=True,
        )
    code = EXIT_UNREADABLE if unwritten else 0
    if market.io_stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        sys.exit(code)


BACKLOG = 2048


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: SO_REUSEADDR (a restart need not wait for TIME_WAIT) but never
    SO_REUSEPORT, so a port another process listens on is refused instead of shared. Exit 2 if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        taken = exc.errno == errno.EADDRINUSE
        hint = " (another server listens there: stop it, or choose another --port)" if taken else ""
        fail_input(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}")
    return sock


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run


def _run_granian(
    app: Any, sock: socket.socket, log_level: str, announce: Callable[[int], None], runtime_threads: int = 2
) -> None:
    """Serve with granian's embedded server: its Rust HTTP stack, our event loop (the market's), our socket."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    try:
        from granian._granian import SocketHolder
    except ImportError:  # pragma: no cover - granian 2 has it
        fail_input("this granian cannot serve a socket bound beforehand; use --server uvicorn")

    class BoundServer(Server):  # type: ignore[misc]
        """granian on the socket bound by `_bind`, instead of one it binds itself with SO_REUSEPORT."""

        def _init_shared_socket(self) -> None:
            self._ssp = None  # what granian builds per worker, with SO_REUSEPORT, on Linux: not wanted
            self._shd = SocketHolder(os.dup(sock.fileno()), False, BACKLOG)
            self._sfd = self._shd.get_fd()

    host, bound = sock.getsockname()[:2]
    server = BoundServer(
        app,
        address=host,
        port=bound,
        interface=Interfaces.ASGI,
        log_level=LogLevels(log_level),
        log_access=False,
        websockets=True,
        backlog=BACKLOG,
        runtime_threads=runtime_threads,
    )

    async def ready() -> None:
        """Announce once the port accepts connections (granian listens after the app's startup)."""
        for _ in range(500):
            try:
                _, writer = await asyncio.open_connection(host, bound)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            announce(bound)
            return

    app.state.on_started = lambda: asyncio.get_running_loop().create_task(ready())

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    _event_loop_runner()(run())


def _run_uvicorn(app: Any, sock: socket.socket, log_level: str, announce: Callable[[int], None]) -> None:
    """Serve with uvicorn (httptools, uvloop) on the socket bound by `_bind`."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=False,
        server_header=False,
    )

    class Server(uvicorn.Server):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn raises a captured SIGTERM/SIGINT again once it has shut down, which would end the
            # process before `_exit_after_stop` reports and chooses the exit status: it is handled here.
            self._captured_signals.clear()

    server = Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            announce(server.servers[0].sockets[0].getsockname()[1])
        await task

    _event_loop_runner()(run())
