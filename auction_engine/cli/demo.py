"""`auction-engine demo`: the showcase that `make demo` runs (pinned: see docs/operator.md).

It ends with the commands that check what it wrote, printed so that they run as printed from the
directory it was run in: `make demo` installs the program in .venv/bin, which is not on PATH, so the
commands name it by its path unless PATH finds this very program.
"""

from __future__ import annotations

import base64
import shlex
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, audit_store, generate_signer

from ..certificates import issue_all, verify_file
from ..display import for_people, market_time
from ..engine import Engine
from ..model import HOUR, yuan
from ..replay import replay
from ..showcase import MARKET, START, run_showcase
from .common import EXIT_FAILED, load_signer, write_signer


def _signer(directory: Path) -> Signer:
    """Reuse DIR/market.key if it is there, else generate one (mode 0600)."""
    key_file = directory / "market.key"
    if key_file.exists():
        return load_signer(str(key_file))
    signer = generate_signer(MARKET)
    write_signer(key_file, signer)
    return signer


def program() -> str:
    """How to run `auction-engine` from the working directory, as a person types it.

    The bare name when PATH finds this very program (an activated venv, a system install); else the
    path of the script beside this interpreter (relative when it lies under the working directory:
    `.venv/bin/auction-engine` after `make demo`); else `python -m auction_engine` with this interpreter.
    """
    beside = Path(sys.executable).with_name("auction-engine")
    found = shutil.which("auction-engine")
    if beside.is_file():
        if found and Path(found).resolve() == beside.resolve():
            return "auction-engine"
        return shlex.quote(_shown(beside))
    if found:
        return "auction-engine"
    return f"{shlex.quote(sys.executable)} -m auction_engine"


def _shown(path: Path) -> str:
    """`path` as typed from the working directory: relative when under it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def next_commands(db: Path, vkey: Path, certificate: Path | None) -> list[str]:
    """The commands that check the demo's ledger and a certificate, each runnable as printed (exit 0)."""
    run, q = program(), shlex.quote
    lines = [
        f"{run} ledger verify {q(str(db))} --vkey {q(str(vkey))}",
        f"{run} ledger replay {q(str(db))} --vkey {q(str(vkey))}",
        f"{run} ledger checkpoints {q(str(db))}",
    ]
    if certificate is not None:
        lines.append(f"{run} verify {q(str(certificate))} --vkey {q(str(vkey))} --replay")
    return lines


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

    table = Table(title=f"{MARKET}: the showcase session (simulated clock from {market_time(START)})")
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
        console.print(f"  entry {result.seq}: [bold]{result.code}[/bold] — {escape(for_people(result.message))}")

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
    console.print("Check it yourself (from this directory; each exits 0):")
    for line in next_commands(db, directory / "market.vkey", certificates[0] if certificates else None):
        click.echo(f"  {line}")  # not through rich: no wrapping and no markup, so it runs as printed
    if not (report.ok and replayed.ok and valid == len(certificates)):
        for p in report.problems:
            console.print(f"  FAIL [{p.code}] {p.message}")
        if not replayed.ok:
            console.print(f"  replay diverged at entry {replayed.index}: {replayed.message}")
        sys.exit(EXIT_FAILED)
