"""`auction-engine demo`: the showcase that `make demo` runs (pinned: see docs/operator.md)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, audit_store, generate_signer

from ..certificates import issue_all, verify_file
from ..engine import Engine
from ..model import HOUR, yuan
from ..replay import replay
from ..showcase import MARKET, run_showcase
from .common import EXIT_FAILED, load_signer, write_signer


def _signer(directory: Path) -> Signer:
    """Reuse DIR/market.key if it is there, else generate one (mode 0600)."""
    key_file = directory / "market.key"
    if key_file.exists():
        return load_signer(str(key_file))
    signer = generate_signer(MARKET)
    write_signer(key_file, signer)
    return signer


@click.command()
@click.option(
    "--out",
    "out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for ledger.db, market.key, market.vkey and certificates/.",
)
def demo(out: str) -> None:
    """Run the showcase market (every mode, two sub-markets) into DIR/ledger.db and check it."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # files and pipes: no wrapping
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    signer = _signer(directory)
    if signer.name != MARKET:
        click.echo(f"error: {directory / 'market.key'} is a key for {signer.name!r}, not {MARKET!r}", err=True)
        sys.exit(2)
    (directory / "market.vkey").write_text(signer.verifier.encode() + "\n")
    db = directory / "ledger.db"
    for suffix in ("", "-wal", "-shm"):  # a fresh ledger every run: two runs write the same entries
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    log = Log(SQLiteStore(db), signer, policy=CheckpointPolicy(every_entries=64, every_ms=HOUR))
    show = run_showcase(lambda clock: Engine(market=MARKET, clock=clock, log=log))
    log.sign_checkpoint()
    log.commit()
    engine = show.engine

    table = Table(title=f"{MARKET}: the showcase session (simulated clock from 2021-03-01 09:00 CST)")
    for column in ("lot", "sub-market", "mode", "outcome", "buyer", "price", "transaction code"):
        table.add_column(column)
    codes = {lot: code for code, lot in engine.codes.items()}
    for lot in engine.lots.values():
        deal = lot.deal
        outcome = lot.phase if deal is None or lot.phase != "settled" else "settled"
        if deal is not None and lot.phase == "no_sale":
            outcome = "no sale (buyer default)"
        reason = next((e.data["reason"] for e in engine.events if e.kind == "no_sale" and e.data["lot"] == lot.id), "")
        if lot.phase == "no_sale" and reason:
            outcome = f"no sale ({reason})"
        table.add_row(
            lot.id,
            lot.submarket,
            " → ".join(lot.history),
            outcome,
            deal.buyer if deal and lot.phase != "no_sale" else "",
            yuan(deal.price) if deal and lot.phase != "no_sale" else "",
            codes.get(lot.id, ""),
        )
    console.print(table)
    console.print(f"Refused commands (each is a ledger entry with its reason): {len(show.rejections)}")
    for _, result in show.rejections:
        console.print(f"  entry {result.seq}: [bold]{result.code}[/bold] — {result.message}")

    report = audit_store(SQLiteStore(db, readonly=True), signer.verifier)
    replayed = replay(log.entries())
    console.print(
        f"Ledger {db}: {report.size} entries, {report.checkpoints_verified} signed checkpoints, root "
        f"{base64.b64encode(report.root).decode()}"
    )
    console.print(f"  audit:  {'OK' if report.ok else 'FAILED'}   replay: {'OK' if replayed.ok else 'FAILED'}")
    cert_dir = directory / "certificates"
    for old in cert_dir.glob("*") if cert_dir.is_dir() else []:
        old.unlink()
    certificates = issue_all(db, cert_dir, transcript=True)
    verdicts = [verify_file(path, signer.verifier, replay=True) for path in certificates]
    valid = sum(v.ok for v in verdicts)
    console.print(
        f"Certificates in {cert_dir}: {len(certificates)} issued (with transcripts and HTML pages), "
        f"{valid} verified with replay"
    )
    for verdict in verdicts:
        if not verdict.ok:
            console.print(f"  INVALID {verdict.path}: [{verdict.reason}] {verdict.message}")
    console.print(f"  verifier key ({directory / 'market.vkey'}): {signer.verifier.encode()}")
    console.print("Check it yourself:")
    console.print(f"  auction-engine ledger verify {db} --vkey {directory / 'market.vkey'}")
    if certificates:
        console.print(f"  auction-engine verify {certificates[0]} --vkey {directory / 'market.vkey'} --replay")
    if not (report.ok and replayed.ok and valid == len(certificates)):
        for p in report.problems:
            console.print(f"  FAIL [{p.code}] {p.message}")
        if not replayed.ok:
            console.print(f"  replay diverged at entry {replayed.index}: {replayed.message}")
        sys.exit(EXIT_FAILED)
