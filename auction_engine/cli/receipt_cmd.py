"""`auction-engine receipt check RECEIPT --vkey VKEY (--db DB | --url URL)`: a receipt against the log (pinned).

A receipt (ledger/receipt.py) is the market's signed statement that the log holds an entry — its
index and leaf hash — and that a signed checkpoint will cover it by a stated time. The check asks the
log (its database, or the live server's public log) for an inclusion proof of that index under its
latest signed checkpoint and verifies it for the receipt's leaf hash:

- exit 0 `COVERED`: the log holds exactly that entry under a checkpoint signed by the market's key;
- exit 1 `DIFFERENT`: the log holds another entry at that index (the operator changed the command);
- exit 1 `OVERDUE`: the promised time has passed and no signed checkpoint covers the index (the
  operator dropped the command, or never signed): the receipt is the holder's evidence;
- exit 1 `PENDING`: not covered yet, and the promised time has not passed: check again later;
- exit 1 `NOT THE MARKET'S`: the receipt's signature is not the market key's;
- exit 2: bad usage, an unreadable receipt, database or server.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import click

from ledger import LedgerError, Log, NoteError, Verifier, canonical, open_note
from ledger.checkpoint import Checkpoint, CheckpointError, TlogProof
from ledger.note import split_note
from ledger.receipt import MAX_RECEIPT, Receipt, ReceiptError

from ..display import DEFAULT_OFFSET_MS, market_offset, market_time
from .common import EXIT_FAILED, EXIT_OK, fail_input, load_verifier, open_readonly_log, read_text

__all__ = ["receipt"]

MAX_ANSWER = 1 << 20  # bytes read from the server for a proof or a checkpoint
TIMEOUT_S = 10.0


@dataclass
class Found:
    """What the log says about the receipt's index: a proof under a signed checkpoint, or how far it is signed."""

    proof: TlogProof | None
    signed_size: int | None  # the latest signed checkpoint's size (None: none signed yet)
    why: str  # what the log answered, for the verdict's message


def _db_offset(log: Log) -> int:
    """The market's UTC offset, from the ledger's genesis entry (the default if it cannot be read)."""
    try:
        genesis = canonical.decode(log.entry_bytes(0)) if log.size else None
    except (ValueError, LedgerError):  # ValueError: CanonicalError too; `ledger verify` reports it
        genesis = None
    return market_offset(genesis if isinstance(genesis, dict) else None)


def _from_db(log: Log, index: int) -> Found:
    try:
        signed = log.checkpoint().size
    except LedgerError:
        return Found(None, None, "the ledger has no signed checkpoint")
    try:
        return Found(log.prove(index), signed, "")
    except LedgerError as exc:
        return Found(None, signed, str(exc))


def _get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.status, answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_ANSWER)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail_input(f"cannot read {url}: {getattr(exc, 'reason', None) or exc}")


def _from_url(base: str, index: int, verifier: Verifier) -> Found:
    base = base.rstrip("/")
    status, body = _get(f"{base}/log/checkpoint")
    if status == 404:
        return Found(None, None, "the server has signed no checkpoint yet")
    if status != 200:
        fail_input(f"{base}/log/checkpoint answered HTTP {status}")
    try:
        signed = Checkpoint.parse(open_note(body.decode("utf-8"), verifier).text).size
    except (NoteError, CheckpointError, UnicodeDecodeError) as exc:
        return Found(None, None, f"the server's checkpoint does not verify under the market's key: {exc}")
    status, body = _get(f"{base}/api/log/proof/{index}")
    if status == 404:
        return Found(None, signed, _problem_message(body) or f"entry {index} is not covered")
    if status != 200:
        fail_input(f"{base}/api/log/proof/{index} answered HTTP {status}")
    try:
        return Found(TlogProof.parse(body.decode("utf-8")), signed, "")
    except (CheckpointError, UnicodeDecodeError) as exc:
        fail_input(f"{base}/api/log/proof/{index} is not a tlog-proof: {exc}")


def _url_offset(base: str) -> int:
    """The market's UTC offset from the genesis entry its server publishes (`/api/log/entries/0`), for showing
    times; the default zone when the server does not publish it (another tlog-tiles server) or it cannot be read."""
    request = urllib.request.Request(f"{base.rstrip('/')}/api/log/entries/0", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            doc = json.loads(answer.read(MAX_ANSWER))
    except (OSError, ValueError):  # shown times only: the verdict does not depend on them
        return DEFAULT_OFFSET_MS
    entry = doc.get("entry", doc) if isinstance(doc, dict) else None
    return market_offset(entry if isinstance(entry, dict) else None)


def _problem_message(body: bytes) -> str | None:
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        return None
    return message if isinstance(message, str) else None


def _verdict(receipt: Receipt, found: Found, verifier: Verifier, now: int, offset: int) -> tuple[str, str, int]:
    """(state, message, exit code) for a receipt whose signature already verified (times at UTC `offset`)."""
    if found.proof is not None:
        if found.proof.index != receipt.index:
            return "different", f"the log proved entry {found.proof.index}, not entry {receipt.index}", EXIT_FAILED
        try:
            cp = found.proof.verify(receipt.leaf, verifier, receipt.origin)
        except CheckpointError as exc:
            return (
                "different",
                f"the log's entry {receipt.index} is not the entry this receipt names (its leaf hash does not prove"
                f" under the log's signed checkpoint: {exc}): the command was changed or replaced",
                EXIT_FAILED,
            )
        return "covered", f"the log holds entry {receipt.index} under its signed checkpoint of size {cp.size}", EXIT_OK
    signed = (
        "no signed checkpoint" if found.signed_size is None else f"its signed checkpoint of size {found.signed_size}"
    )
    promised = market_time(receipt.covered_by, offset)
    if now > receipt.covered_by:
        return (
            "overdue",
            f"the market promised a signed checkpoint covering entry {receipt.index} by {promised},"
            f" but the log has {signed} ({found.why}): this receipt is evidence that the entry was dropped",
            EXIT_FAILED,
        )
    return (
        "pending",
        f"entry {receipt.index} is not covered yet ({found.why}); the market promised it by {promised}:"
        " check again after that",
        EXIT_FAILED,
    )


@click.group()
def receipt() -> None:
    """Check the market's signed receipts against its log."""


@receipt.command("check")
@click.argument("receipt_file", metavar="RECEIPT")
@click.option("--vkey", required=True, help="The market's verifier key, or a file holding it.")
@click.option("--db", help="The market's ledger database.")
@click.option("--url", help="The market's server (its public log), e.g. https://market.example.")
@click.option("--now", "now_ms", type=click.IntRange(min=0), help="Check as of this time (ms since the epoch).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def check(receipt_file: str, vkey: str, db: str | None, url: str | None, now_ms: int | None, as_json: bool) -> None:
    """Exit 0 when the log holds exactly RECEIPT's entry under a signed checkpoint; 1 when it is missing,
    different, or not covered by the promised time (or not yet); 2 for unreadable input."""
    if (db is None) == (url is None):
        fail_input("give exactly one of --db DB and --url URL: where to find the log")
    verifier = load_verifier(vkey)
    text = read_text(receipt_file, "receipt")
    if len(text) > MAX_RECEIPT:
        fail_input(f"receipt {receipt_file!r} is longer than {MAX_RECEIPT} characters: not a receipt")
    try:
        body, _ = split_note(text)
        stated = Receipt.parse(body)
    except (NoteError, ReceiptError) as exc:
        fail_input(f"receipt {receipt_file!r}: {exc}")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    log = open_readonly_log(db) if db is not None else None
    offset = _db_offset(log) if log is not None else _url_offset(url or "")
    try:
        open_note(text, verifier)
        if stated.origin != verifier.name:
            raise NoteError(f"the receipt is for the log {stated.origin!r}, not {verifier.name!r}")
    except NoteError as exc:
        message = f"the receipt's signature is not the market's: {exc}"
        _emit(stated, "not_the_markets", message, EXIT_FAILED, as_json, offset)
    found = _from_db(log, stated.index) if log is not None else _from_url(url or "", stated.index, verifier)
    state, message, code = _verdict(stated, found, verifier, now, offset)
    _emit(stated, state, message, code, as_json, offset, found.signed_size)


_TITLES = {
    "covered": "COVERED",
    "different": "DIFFERENT",
    "overdue": "OVERDUE",
    "pending": "PENDING",
    "not_the_markets": "NOT THE MARKET'S",
}


def _emit(
    stated: Receipt, state: str, message: str, code: int, as_json: bool, offset: int, signed: int | None = None
) -> None:
    """Print the verdict (readable times at UTC `offset`; JSON keeps ms) and exit with `code`."""
    established = ["the market's signature on the receipt"] if state != "not_the_markets" else []
    if code == EXIT_OK:
        established.append("the entry's inclusion, byte for byte, under a checkpoint signed by the market")
    trusted = ["that the verifier key is the market's (compare it with the key the market published)"]
    if as_json:
        out: dict[str, Any] = {
            "ok": code == EXIT_OK,
            "state": state,
            "origin": stated.origin,
            "index": stated.index,
            "time": stated.time,
            "covered_by": stated.covered_by,
            "checkpoint_size": signed,
            "message": message,
            "established": established,
            "trusted": trusted,
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        click.echo(f"receipt {stated.origin} entry {stated.index}: {_TITLES[state]}")
        click.echo(f"  entry time:  {market_time(stated.time, offset)}")
        click.echo(f"  promised by: {market_time(stated.covered_by, offset)}")
        click.echo(f"  {message}")
        click.echo("  established: " + ("; ".join(established) or "nothing"))
        click.echo("  still trusted: " + "; ".join(trusted))
    sys.exit(code)
