"""`auction-engine ledger …`: verify, export, checkpoint, prove, consistency (pinned commands)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable

import click

from ledger import LedgerError, Log, audit_store, open_store
from ledger.checkpoint import encode_hashes
from ledger.store import StoreError

from .common import EXIT_FAILED, fail_input, load_verifier, open_readonly_log, read_text


def _print_from(db: str, text: Callable[[Log], str]) -> None:
    """Print what `text` reads from ledger DB, as it is (exit 2 if DB or what it asks cannot be read)."""
    log = open_readonly_log(db)
    try:
        click.echo(text(log), nl=False)
    except LedgerError as exc:
        fail_input(str(exc))


@click.group()
def ledger() -> None:
    """Inspect and audit a ledger database."""


@ledger.command()
@click.argument("db")
@click.option("--vkey", required=True, help="The market's verifier key, or a file holding it.")
@click.option("--trusted", "trusted", help="A signed checkpoint saved earlier: prove the log still extends it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(db: str, vkey: str, trusted: str | None, as_json: bool) -> None:
    """Audit every entry and checkpoint of DB; exit 1 if any check fails."""
    verifier = load_verifier(vkey)
    trusted_note = read_text(trusted, "trusted checkpoint") if trusted else None
    try:
        store = open_store(db, readonly=True)
        report = audit_store(store, verifier, trusted_note)
    except StoreError as exc:
        fail_input(str(exc))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        state = "OK" if report.ok else "FAILED"
        click.echo(f"ledger {db}: {state}")
        click.echo(f"  origin:      {report.origin}")
        click.echo(f"  entries:     {report.size}")
        click.echo(f"  root:        {base64.b64encode(report.root).decode()}")
        latest = report.latest_checkpoint_size
        click.echo(f"  checkpoints: {report.checkpoints_verified} verified, latest size {latest}")
        if report.trusted_size is not None:
            click.echo(f"  trusted:     checkpoint of size {report.trusted_size}")
        for p in report.problems:
            where = f"entry {p.index}" if p.index is not None else f"checkpoint {p.checkpoint_size}"
            click.echo(f"  FAIL [{p.code}] {where}: {p.message}")
    if not report.ok:
        sys.exit(EXIT_FAILED)


@ledger.command()
@click.argument("db")
def export(db: str) -> None:
    """Print one line per entry: base64 of its canonical bytes."""
    log = open_readonly_log(db)
    out = sys.stdout
    for data in log.entries():
        out.write(base64.b64encode(data).decode() + "\n")


@ledger.command()
@click.argument("db")
@click.option("--size", type=int, help="The checkpoint of exactly this many entries (default: latest).")
def checkpoint(db: str, size: int | None) -> None:
    """Print a signed checkpoint note."""
    _print_from(db, lambda log: log.checkpoint(size).note)


@ledger.command()
@click.argument("db")
@click.argument("index", type=int)
@click.option("--size", type=int, help="Prove under the checkpoint of this size (default: latest).")
def prove(db: str, index: int, size: int | None) -> None:
    """Print a C2SP tlog-proof@v1 for entry INDEX."""
    _print_from(db, lambda log: log.prove(index, size).text())


@ledger.command()
@click.argument("db")
@click.argument("old_size", type=int)
@click.argument("new_size", type=int, required=False)
def consistency(db: str, old_size: int, new_size: int | None) -> None:
    """Print the consistency proof from OLD_SIZE to NEW_SIZE (default: current size), one hash a line."""
    _print_from(db, lambda log: encode_hashes(log.consistency(old_size, new_size)))
