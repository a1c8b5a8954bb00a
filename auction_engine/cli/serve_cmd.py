"""`auction-engine serve`: run the live market (HTTP API, WebSocket feed, web pages, public log)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click

from ledger import CheckpointPolicy, LedgerError, StoreError

from .common import EXIT_FAILED, fail_input, load_signer

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
    log_level: str,
) -> None:
    """Serve the market in ledger DB, signed with KEY, on the wall clock.

    On a non-empty ledger the market is rebuilt by replaying every entry; the server refuses to start
    (exit 1) if the replay diverges. The operator token is printed once, at the first start.
    """
    from ..replay import ReplayMismatch
    from ..server.app import create_app
    from ..server.live import StartError

    signer = load_signer(key)
    params = None
    if params_file:
        try:
            with open(params_file, encoding="utf-8") as f:
                params = json.load(f)
        except (OSError, ValueError) as exc:
            fail_input(f"--params {params_file}: {exc}")
        if type(params) is not dict:
            fail_input(f"--params {params_file}: must hold a JSON object of parameters")
    if operator_token is not None and len(operator_token) < 16:
        fail_input("--operator-token must be at least 16 characters")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(
            db,
            signer,
            operator_token=operator_token,
            operator=operator,
            params=params,
            code_prefix=code_prefix,
            policy=CheckpointPolicy(every_entries=checkpoint_entries, every_ms=checkpoint_ms),
            feed_queue=feed_queue,
            heartbeat_s=heartbeat,
        )
    except ReplayMismatch as exc:
        click.echo(f"error: the ledger {db} does not replay: {exc}; refusing to serve it", err=True)
        sys.exit(EXIT_FAILED)
    except (StoreError, LedgerError) as exc:
        fail_input(f"cannot open ledger {db}: {exc}")
    except StartError as exc:
        fail_input(str(exc))
    market = app.state.market
    # The restored market is long-lived: keep the collector from rescanning it, and collect the young
    # generation less often (a bid allocates and frees many small objects; almost none survive).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 1000)
    click.echo(
        f"market {market.origin}: {market.restored} entries restored in {market.replay_seconds:.2f}s, "
        f"{len(market.engine.lots)} lots",
        err=True,
    )
    if app.state.new_operator_token:
        click.echo(f"operator token (shown once, stored hashed): {app.state.new_operator_token}")
    host_shown = f"[{host}]" if ":" in host else host

    def announce(bound_port: int) -> None:
        click.echo(f"listening on http://{host_shown}:{bound_port} ({server_kind})", err=True)
        sys.stderr.flush()

    try:
        if server_kind == "granian":
            _run_granian(app, host, port, log_level, announce, runtime_threads)
        else:
            _run_uvicorn(app, host, port, log_level, announce)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail_input(f"cannot listen on {host}:{port}: {exc}")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop

        return uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run


def _run_granian(
    app: Any, host: str, port: int, log_level: str, announce: Callable[[int], None], runtime_threads: int = 2
) -> None:
    """Serve with granian's embedded server: its Rust HTTP stack, our event loop (the market's)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    bound = port or _free_port(host)
    server = Server(
        app,
        address=host,
        port=bound,
        interface=Interfaces.ASGI,
        log_level=LogLevels(log_level),
        log_access=False,
        websockets=True,
        backlog=2048,
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


def _run_uvicorn(app: Any, host: str, port: int, log_level: str, announce: Callable[[int], None]) -> None:
    """Serve with uvicorn (httptools, uvloop)."""
    import uvicorn

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
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            announce(server.servers[0].sockets[0].getsockname()[1])
        await task

    _event_loop_runner()(run())
