"""`auction-engine certificate …`: issue a transaction certificate (技术交易凭证) from a ledger, list, render.

`issue DB CODE --out FILE [--transcript]` is pinned: it finds the ``txcode`` entry that issued CODE,
the deal entry it names, checks that the code matches that entry's index and leaf hash, and proves
both under the latest signed checkpoint. Exit 0 when written; 2 for bad input (unreadable ledger, a
mistyped code, a code this ledger never issued, entries no checkpoint covers yet); 1 when the ledger
contradicts itself (the code does not match the entry it names).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ledger import LedgerError, canonical, strictjson

from ..certificates import IssueError, issue_file, render_html
from ..model import yuan
from .common import EXIT_FAILED, EXIT_UNREADABLE, fail_input, open_readonly_log, read_text

__all__ = ["certificate"]


@click.group()
def certificate() -> None:
    """Issue, list and print transaction certificates (技术交易凭证)."""


@certificate.command("issue")
@click.argument("db")
@click.argument("code")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The .cert.json file to write.")
@click.option("--transcript", is_flag=True, help="Include the lot's whole session, proven, so --replay can run.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write the printable HTML page.")
@click.option(
    "--base-url", help="Where the certificate will be published (QR code); default https://ORIGIN/certificates/."
)
def issue_cmd(db: str, code: str, out: str, transcript: bool, html_out: str | None, base_url: str | None) -> None:
    """Write the certificate of the deal that transaction code CODE names in ledger DB."""
    try:
        path = issue_file(db, code, out, transcript=transcript, html_out=html_out, base_url=base_url)
    except IssueError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        fail_input(f"cannot write {out}: {exc.strerror or exc}")
    cert = strictjson.loads(path.read_text(encoding="utf-8"))  # as written just now
    deal = cert["deal"]
    click.echo(
        f"wrote {path}: {cert['code']} — lot {deal['lot']}, {deal['buyer']} buys from {deal['seller']} for"
        f" {deal['price_text']}; entry {cert['index']} under the checkpoint of size {cert['checkpoint_size']}"
        + (f", transcript of {len(cert['transcript'])} entries" if transcript else "")
    )
    if html_out:
        click.echo(f"wrote {html_out}")


@certificate.command("list")
@click.argument("db")
def list_cmd(db: str) -> None:
    """Print every transaction code issued in DB: code, lot, buyer, price, and whether a checkpoint covers it.

    An entry that cannot be read (not canonical, or a txcode entry naming no readable deal) is reported
    on stderr by its index and the listing goes on; the exit status is then 1 (`ledger verify` says more).
    """
    log = open_readonly_log(db)
    try:
        covered = log.checkpoint().size
    except LedgerError:  # no checkpoint signed yet
        covered = 0
    damaged = False
    for seq, data in enumerate(log.entries()):
        if b"txcode" not in data:
            continue
        try:
            entry = canonical.decode(data)
        except canonical.CanonicalError as exc:
            click.echo(f"error: entry {seq} is not canonical: {exc}", err=True)
            damaged = True
            continue
        if entry.get("kind") != "txcode":
            continue
        try:
            deal = canonical.decode(log.entry_bytes(entry["deal_seq"]))
            line = f"{entry['code']}  lot {entry['lot']}  {deal.get('buyer')}  {yuan(deal.get('price', 0))}"
        except (KeyError, TypeError, ValueError, IndexError, StopIteration, LedgerError) as exc:
            # ValueError: CanonicalError too (the deal entry is not canonical)
            click.echo(f"error: entry {seq}: the deal of this txcode entry cannot be read: {exc}", err=True)
            damaged = True
            continue
        state = "covered" if seq < covered else "not yet covered by a checkpoint"
        click.echo(f"{line}  {state}")
    if damaged:
        sys.exit(EXIT_FAILED)


@certificate.command("render")
@click.argument("cert")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@click.option("--base-url", help="Where the certificate is published (QR code); default https://ORIGIN/certificates/.")
def render_cmd(cert: str, out: str, base_url: str | None) -> None:
    """Write the printable HTML page of certificate CERT (values read from its entries; verify it separately)."""
    text = read_text(cert, "certificate")
    try:
        page = render_html(strictjson.loads(text), base_url=base_url)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        click.echo(f"error: cannot render {cert}: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    try:
        Path(out).write_text(page, encoding="utf-8")
    except OSError as exc:
        fail_input(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote {out}")
