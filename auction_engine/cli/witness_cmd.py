"""`auction-engine witness`: make a cosigner key, run a C2SP tlog-witness for the given logs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import sys
from typing import Any

import click

from ledger import NoteError, Verifier
from ledger.cosignature import CosignatureError, Cosigner, generate_cosigner
from ledger.witness import DEFAULT_MAX_BODY, Witness
from ledger.witness_state import StateError, WitnessState

from .common import EXIT_UNREADABLE, fail_input, read_text

__all__ = ["witness"]


@click.group()
def witness() -> None:
    """Cosign other logs' checkpoints (C2SP tlog-witness, cosignature/v1)."""


@witness.command()
@click.option("--name", required=True, help="The witness's key name, e.g. witness.example/w1 (no '+' or spaces).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Signer key file to write.")
def keygen(name: str, out: str) -> None:
    """Write a new Ed25519 cosigner key to OUT (mode 0600; never overwritten) and print its verifier key (type 0x04)."""
    try:
        cosigner = generate_cosigner(name)
    except CosignatureError as exc:
        fail_input(f"--name: {exc}")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # O_EXCL: an existing key is never replaced
    except FileExistsError:
        fail_input(f"{out} already exists: a witness key is never overwritten (choose another --out)")
    except OSError as exc:
        fail_input(f"cannot write {out}: {exc.strerror or exc}")
    with os.fdopen(fd, "w") as f:
        f.write(cosigner.encode() + "\n")
    click.echo(cosigner.verifier.encode())


def _load_cosigner(path: str) -> Cosigner:
    try:
        return Cosigner.parse(read_text(path, "witness key file"))
    except CosignatureError as exc:
        fail_input(f"--key {path}: {exc}")


def _log_verifiers(specs: tuple[str, ...]) -> dict[str, list[Verifier]]:
    """--log ORIGIN=VKEY, repeatable (several keys for one origin: any of them may sign its checkpoints)."""
    logs: dict[str, list[Verifier]] = {}
    for spec in specs:
        origin, sep, vkey = spec.partition("=")
        if not sep or not origin or not vkey:
            fail_input(f"--log {spec!r}: expected ORIGIN=VKEY (the log's origin line and its verifier key)")
        try:
            verifier = Verifier.parse(vkey)
        except NoteError as exc:
            fail_input(f"--log {origin}: {exc}")
        logs.setdefault(origin, []).append(verifier)
    return logs


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket (SO_REUSEADDR, never SO_REUSEPORT: a port in use is refused, exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = " (another server listens there)" if exc.errno == errno.EADDRINUSE else ""
        fail_input(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}")
    sock.listen(128)
    return sock


@witness.command()
@click.option("--key", "key", required=True, help="The witness's signer key file (auction-engine witness keygen).")
@click.option("--db", required=True, help="The witness state: a SQLite file, created if absent.")
@click.option(
    "--log", "logs", required=True, multiple=True, metavar="ORIGIN=VKEY", help="A log to witness (repeatable)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8010, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option(
    "--max-body",
    default=DEFAULT_MAX_BODY,
    show_default=True,
    type=click.IntRange(1024, 1 << 24),
    help="Largest request body, bytes (413 beyond).",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve(key: str, db: str, logs: tuple[str, ...], host: str, port: int, max_body: int, log_level: str) -> None:
    """Serve POST /add-checkpoint for the given logs, cosigning with KEY; state kept in DB.

    Exit 2 if the key, a --log or the state cannot be read, if another witness holds the state, or if
    the port is taken; exit 0 once stopped (SIGINT or SIGTERM).
    """
    from ledger.witness_http import create_witness_app  # Starlette: loaded only to serve

    cosigner = _load_cosigner(key)
    verifiers = _log_verifiers(logs)
    try:
        state = WitnessState(db, cosigner.verifier.encode())
    except StateError as exc:
        fail_input(str(exc))
    try:
        sock = _bind(host, port)
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        app = create_witness_app(Witness(cosigner, verifiers, state), max_body=max_body)
        click.echo(f"witness {cosigner.verifier.encode()}", err=True)
        _run(app, sock, log_level)
    finally:
        state.close()


def _run(app: Any, sock: socket.socket, log_level: str) -> None:
    """Serve with uvicorn on the socket bound beforehand; announce the address once it accepts connections."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, server_header=False, proxy_headers=False
    )

    class Server(uvicorn.Server):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn raises a captured SIGINT/SIGTERM again once shut down, which would end the process
            # before the state is closed and exit 0 is chosen: the signal is handled here.
            self._captured_signals.clear()

    server = Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            shown = f"[{host}]" if ":" in host else host
            click.echo(f"listening on http://{shown}:{port}", err=True)
            sys.stderr.flush()
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    if not server.started:
        sys.exit(EXIT_UNREADABLE)


if __name__ == "__main__":
    witness()
