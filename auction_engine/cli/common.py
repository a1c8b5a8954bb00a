"""Helpers shared by the CLI commands: reading keys and ledgers, exit codes, messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from ledger import LedgerError, Log, NoteError, Signer, StoreError, Verifier, open_store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2


def fail_input(message: str) -> NoReturn:
    """Bad usage or unreadable input: say what and exit 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNREADABLE)


def read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail_input(f"cannot read {what} {path!r}: {exc}")


def load_verifier(vkey: str) -> Verifier:
    """A verifier key given inline (name+hex8+base64) or as a file holding one."""
    text = vkey
    if "+" not in vkey or Path(vkey).is_file():
        text = read_text(vkey, "verifier key file").strip()
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        fail_input(f"verifier key: {exc}")


def load_signer(path: str) -> Signer:
    try:
        return Signer.parse(read_text(path, "signer key file").strip())
    except NoteError as exc:
        fail_input(f"signer key {path!r}: {exc}")


def open_readonly_log(db: str) -> Log:
    """Open a ledger database for reading (exit 2 if it cannot be read)."""
    try:
        store = open_store(db, readonly=True)
        return Log(store, readonly=True, origin=store.get_meta("origin") or "unknown")
    except (StoreError, LedgerError, ValueError) as exc:
        fail_input(f"cannot read ledger {db!r}: {exc}")
