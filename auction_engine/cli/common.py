"""Helpers shared by the CLI commands: reading keys and ledgers, exit codes, messages."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from ledger import Log, NoteError, Signer, Verifier
from ledger.certificate import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE  # every command's: 0 done, 1 failed, 2 bad input

from ..certificates.issuer import IssueError, open_ledger

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "fail_input",
    "file_text",
    "load_signer",
    "load_verifier",
    "open_readonly_log",
    "parse_verifier",
    "read_text",
    "verifier_key",
    "write_signer",
]


def fail_input(message: str) -> NoReturn:
    """Bad usage or unreadable input: say what and exit 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNREADABLE)


def file_text(path: str, what: str) -> str:
    """The UTF-8 text of file `path`; ValueError saying which file (`what`) cannot be read, and why."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} {path!r}: {getattr(exc, 'strerror', None) or exc}") from None


def read_text(path: str, what: str) -> str:
    """`file_text`, or exit 2 with its message."""
    try:
        return file_text(path, what)
    except ValueError as exc:
        fail_input(str(exc))


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


def verifier_key(vkey: str) -> Verifier:
    """A verifier key given inline (name+hex8+base64) or as a file holding one; ValueError if neither."""
    text = vkey
    if "+" not in vkey or Path(vkey).is_file():
        text = file_text(vkey, "verifier key file").strip()
    return parse_verifier(text, vkey)


def load_verifier(vkey: str) -> Verifier:
    """`verifier_key`, or exit 2 with its message."""
    try:
        return verifier_key(vkey)
    except ValueError as exc:
        fail_input(str(exc))


def load_signer(path: str) -> Signer:
    """The signer key in file `path` (exit 2 if it cannot be read or is not one)."""
    try:
        return Signer.parse(read_text(path, "signer key file").strip())
    except NoteError as exc:
        fail_input(f"signer key {path!r}: {exc}")


def write_signer(path: Path, signer: Signer) -> None:
    """Write `signer` to key file `path`, readable by its owner only (mode 0600): it is the market's secret."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.encode() + "\n")


def open_readonly_log(db: str) -> Log:
    """Open a ledger database for reading (exit 2 if it cannot be read)."""
    try:
        return open_ledger(db)
    except IssueError as exc:
        fail_input(exc.message)
