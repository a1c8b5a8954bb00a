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


SIGNER_PREFIX = "PRIVATE+KEY+"


def parse_verifier(text: str, given: str) -> Verifier:
    """Parse a verifier key; ValueError with a one-line message (a signer key gets told apart and a hint).

    `given` is what the user passed (a path or the key itself), named in the message; a signer key's
    own text is never shown, it is secret.
    """
    if text.startswith(SIGNER_PREFIX):
        where = "the file " + repr(given) if not given.startswith(SIGNER_PREFIX) else "the key given"
        raise ValueError(
            f"--vkey: {where} holds a signer key (PRIVATE+KEY+…, the market's secret), not a verifier key; give"
            " the verifier key (name+hex8+base64): `auction-engine keygen` printed it, and a running server"
            " publishes it at /api/log/vkey"
        )
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        raise ValueError(f"verifier key: {exc}") from None


def load_verifier(vkey: str) -> Verifier:
    """A verifier key given inline (name+hex8+base64) or as a file holding one."""
    text = vkey
    if "+" not in vkey or Path(vkey).is_file():
        text = read_text(vkey, "verifier key file").strip()
    try:
        return parse_verifier(text, vkey)
    except ValueError as exc:
        fail_input(str(exc))


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
