"""`auction-engine demo`: the showcase that `make demo` runs."""

from __future__ import annotations

from pathlib import Path

import click

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore

DEMO_SEED = bytes(range(32))  # a fixed, public demo key: the demo must be byte-for-byte repeatable


@click.command()
@click.option("--out", "out", default="demo-out", show_default=True, type=click.Path(file_okay=False))
def demo(out: str) -> None:
    """Run the showcase market and write DIR/ledger.db, DIR/market.key and DIR/market.vkey."""
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    signer = Signer("demo.zhejiang-pai.example", DEMO_SEED)
    (directory / "market.key").write_text(signer.encode() + "\n")
    (directory / "market.vkey").write_text(signer.verifier.encode() + "\n")
    db = directory / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    log = Log(SQLiteStore(db), signer, policy=CheckpointPolicy(every_entries=8, every_ms=None))
    for i in range(20):
        log.append("demo.note", {"n": i, "text": f"synthetic entry {i}"}, t=i * 1000)
    log.sign_checkpoint()
    log.close()
    click.echo(f"wrote {db} with 20 entries; verify with:")
    click.echo(f"  auction-engine ledger verify {db} --vkey {directory / 'market.vkey'}")
