"""`auction-engine keygen`: make a market signing key."""

from __future__ import annotations

from pathlib import Path

import click

from ledger import NoteError, generate_signer

from .common import fail_input, write_signer


@click.command()
@click.option("--name", required=True, help="Key name; also the log's origin (no '+' or spaces).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Signer key file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def keygen(name: str, out: str, force: bool) -> None:
    """Write a new Ed25519 signer key to OUT (mode 0600) and print the verifier key."""
    try:
        signer = generate_signer(name)
    except NoteError as exc:
        fail_input(f"--name: {exc}")
    path = Path(out)
    if path.exists() and not force:
        fail_input(f"{out} already exists (use --force to overwrite a key)")
    try:
        write_signer(path, signer)
    except OSError as exc:
        fail_input(f"cannot write {out}: {exc}")
    click.echo(signer.verifier.encode())
