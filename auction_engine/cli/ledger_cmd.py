"""`auction-engine ledger …`: verify, replay, export, checkpoint(s), prove, consistency (pinned commands)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from ledger import AuditReport, LedgerError, Log, Verifier, audit_store, canonical, open_store
from ledger.checkpoint import Checkpoint, CheckpointError, encode_hashes
from ledger.note import NoteError, split_note
from ledger.store import StoreError

from ..display import market_offset, market_time
from ..replay import ReplayReport
from ..replay import replay as replay_entries
from ..snapshot import SnapshotCheck
from ..vault import RevealVault
from .common import EXIT_FAILED, fail_input, load_signer, load_verifier, open_readonly_log, read_text


def _sizes_hint(db: str) -> str:
    """What to run to see the sizes that exist, for the message of a --size never signed."""
    return f"`auction-engine ledger checkpoints {db}` lists the sizes signed"


def _print_from(db: str, text: Callable[[Log], str], hint: str = "") -> None:
    """Print what `text` reads from ledger DB, as it is (exit 2 if DB or what it asks cannot be read;
    the message then ends with `hint`, if given)."""
    log = open_readonly_log(db)
    try:
        click.echo(text(log), nl=False)
    except LedgerError as exc:
        fail_input(f"{exc}{'; ' + hint if hint else ''}")


def _audit(db: str, verifier: Verifier, trusted: str | None = None, keep: list[bytes] | None = None) -> AuditReport:
    """Audit ledger DB as `ledger verify` does (exit 2 if it cannot be read); `keep` collects the entries' bytes."""
    try:
        store = open_store(db, readonly=True)
        try:
            return audit_store(store, verifier, trusted, keep=keep)
        finally:
            store.close()
    except StoreError as exc:
        fail_input(str(exc))


def _echo_problems(report: AuditReport) -> None:
    for p in report.problems:
        where = f"entry {p.index}" if p.index is not None else f"checkpoint {p.checkpoint_size}"
        click.echo(f"  FAIL [{p.code}] {where}: {p.message}")


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
    report = _audit(db, verifier, trusted_note)
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
        _echo_problems(report)
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _replayed_prefix(raw: list[bytes], report: ReplayReport) -> ReplayReport:
    """For a replay stopped at a sealed value not public yet (entry N): the replay of entries 0..N-1.

    The whole replay agreed with every entry before N but counts nothing and checks no bidder signature
    when it stops; replaying those entries alone (their sealed fields opened by every reveal the ledger
    holds, as the whole replay opened them) gives the commands, deals and signatures of that part.
    """
    vault = RevealVault.from_entries(canonical.decode(data) for data in raw)  # the whole replay built it already
    return replay_entries(raw[: report.index], vault)


def _replay_json(audit: AuditReport, report: ReplayReport | None, complete: bool, ok: bool) -> dict[str, Any]:
    index, message = (report.index, report.message) if report is not None else (None, None)
    if report is None:  # the audit failed: its first problem is the verdict's place and message
        first = audit.problems[0]
        index, message = first.index, f"the store audit failed: [{first.code}] {first.message}"
    return {
        "ok": ok,
        "complete": complete,
        "origin": audit.origin,
        "entries": audit.size,
        "commands": report.commands if report is not None else 0,
        "deals": len(report.deals) if report is not None else 0,
        "signatures_checked": report.signatures_checked if report is not None else 0,
        "signatures_pending": report.signatures_pending if report is not None else 0,
        "index": index,
        "message": message,
        "audit": audit.to_json(),
    }


@ledger.command("replay")
@click.argument("db")
@click.option("--vkey", required=True, help="The market's verifier key, or a file holding it.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option(
    "--key",
    "key_path",
    default=None,
    help="The market's signer key file: also check every stored snapshot against the fold of its prefix.",
)
def replay_cmd(db: str, vkey: str, as_json: bool, key_path: str | None) -> None:
    """Audit DB as `ledger verify` does, then replay every entry through the rules; exit 1 if either fails.

    Exit 0 also when the replay stops at a sealed value its lot has not revealed yet: it then says
    PARTIAL (JSON "complete": false) and how far it replayed. With --key (the market's own key, which
    seals its snapshots), every stored snapshot must equal the state a replay of its prefix folds.
    """
    verifier = load_verifier(vkey)
    raw: list[bytes] = []
    audit = _audit(db, verifier, keep=raw)
    report: ReplayReport | None = None
    partial_at: int | None = None
    if audit.ok:
        report = replay_entries(raw)
        named = canonical.decode(raw[0]).get("origin") if raw else None
        if report.ok and named != audit.origin:  # bidders signed for the genesis' origin: it must be this log's
            report.ok, report.index = False, 0
            report.message = f"entry 0 names origin {named!r}, but this is the log {audit.origin!r}"
        if report.unrevealed and report.index:
            prefix = _replayed_prefix(raw, report)
            if prefix.ok:  # the entries before N agree, and so do their bidder signatures: a partial replay
                partial_at = report.index
                prefix.index, prefix.message, prefix.unrevealed = report.index, report.message, True
            report = prefix  # or the first of those signatures that does not verify: a failure
    ok = report is not None and report.ok
    complete = ok and partial_at is None
    snapshots = _check_snapshots(db, key_path, raw, audit) if key_path is not None and audit.ok else []
    ok = ok and all(check.ok for check in snapshots)
    if as_json:
        verdict = _replay_json(audit, report, complete, ok)
        if key_path is not None:  # only with --key: the fields without it are a pinned contract
            verdict["snapshots"] = [{"size": c.size, "ok": c.ok, "message": c.message} for c in snapshots]
        click.echo(json.dumps(verdict, indent=2, ensure_ascii=False))
    else:
        state = "REPLAYED" if complete else "PARTIAL" if ok else "FAILED"
        click.echo(f"ledger {db}: {state}")
        click.echo(f"  origin:      {audit.origin}")
        click.echo(f"  entries:     {audit.size}")
        if report is None:
            click.echo("  replay:      not run: the store audit failed")
            _echo_problems(audit)
        else:
            click.echo(f"  commands:    {report.commands} replayed")
            click.echo(f"  deals:       {len(report.deals)}")
            click.echo(
                f"  signatures:  {report.signatures_checked} bidder signatures checked, "
                f"{report.signatures_pending} pending (sealed, not yet revealed)"
            )
            if partial_at is not None:
                click.echo(
                    f"PARTIAL: replayed up to entry {partial_at}; entry {partial_at} reads a sealed value that is"
                    " not public yet (its lot is still being priced)"
                )
                click.echo(f"  entry {partial_at}: {report.message}")
            elif not report.ok:
                click.echo(f"  entry {report.index}: {report.message}")
        for check in snapshots:
            click.echo(f"  snapshot at {check.size}: {'OK' if check.ok else 'FAILED'}: {check.message}")
    if not ok:
        sys.exit(EXIT_FAILED)


def _check_snapshots(db: str, key_path: str, raw: list[bytes], audit: AuditReport) -> list[SnapshotCheck]:
    """Every stored snapshot against the fold of the prefix it claims (the market's key opens them)."""
    from ledger.merkle import MerkleTree, leaf_hash

    from ..snapshot import check_snapshot
    from ..vault import MarketVault

    signer = load_signer(key_path)
    vault = MarketVault.from_signer(signer)
    try:
        store = open_store(db, readonly=True)
        try:
            stored = [
                (size, root, store.get_snapshot(size) or b"", list(store.closed_lots(size)))
                for size, root in store.snapshots()
            ]
        finally:
            store.close()
    except StoreError as exc:
        fail_input(str(exc))
    checks = []
    for size, root, blob, closed in stored:
        prefix = raw[:size]
        prefix_root = MerkleTree(map(leaf_hash, prefix)).root()
        origin = audit.origin or signer.name
        checks.append(check_snapshot(vault, origin, size, root, blob, prefix, prefix_root, closed))
    return checks


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
    """Print a signed checkpoint note (exit 2 for a size never signed, naming the nearest signed ones)."""
    _print_from(db, lambda log: log.checkpoint(size).note, _sizes_hint(db) if size is not None else "")


def _checkpoint_rows(log: Log) -> tuple[list[dict[str, Any]], list[str]]:
    """Each stored checkpoint's size, root and last covered entry's time (JSON fields), and what cannot be read.

    Reads what is stored, as `checkpoint` prints it: signatures are `ledger verify`'s to check.
    """
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for stored in log.checkpoints:
        row: dict[str, Any] = {"size": stored.size, "root": None, "last_entry_t": None}
        try:
            row["root"] = base64.b64encode(Checkpoint.parse(split_note(stored.note)[0]).root).decode()
        except (NoteError, CheckpointError) as exc:
            problems.append(f"the checkpoint stored for size {stored.size} is not a checkpoint note: {exc}")
        if 0 < stored.size <= log.size:
            try:
                t = canonical.decode(log.entry_bytes(stored.size - 1)).get("t")
                row["last_entry_t"] = t if type(t) is int else None
            except (ValueError, LedgerError) as exc:  # ValueError: CanonicalError too
                problems.append(f"entry {stored.size - 1}, the last of checkpoint {stored.size}, cannot be read: {exc}")
        elif stored.size > log.size:
            problems.append(f"checkpoint {stored.size} covers more entries than the ledger holds ({log.size})")
        rows.append(row)
    return rows, problems


def _genesis(log: Log) -> dict[str, Any] | None:
    """Entry 0, decoded (None if the ledger is empty or the entry unreadable: `ledger verify` reports that)."""
    try:
        entry = canonical.decode(log.entry_bytes(0)) if log.size else None
    except (ValueError, LedgerError):
        return None
    return entry if isinstance(entry, dict) else None


@ledger.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def checkpoints(db: str, as_json: bool) -> None:
    """List the signed checkpoints stored in DB: size, the time of the last entry each covers, root.

    These are the sizes `checkpoint --size`, `prove --size` and `verify --trusted` can use. It lists what
    is stored; `ledger verify` checks the signatures. Exit 1 if a stored checkpoint cannot be read.
    """
    log = open_readonly_log(db)
    rows, problems = _checkpoint_rows(log)
    if as_json:
        click.echo(json.dumps({"origin": log.origin, "entries": log.size, "checkpoints": rows}, indent=2))
    else:
        offset = market_offset(_genesis(log))
        click.echo(f"ledger {db}: {len(rows)} signed checkpoints of its {log.size} entries")
        table = [("size", "covers entries", "last entry at", "root")] + [
            (
                str(r["size"]),
                f"0–{r['size'] - 1}" if r["size"] else "none",
                market_time(r["last_entry_t"], offset) if r["last_entry_t"] is not None else "–",
                r["root"] or "–",
            )
            for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(3)]
        for line in table if rows else []:
            click.echo(f"  {line[0]:>{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:<{widths[2]}}  {line[3]}")
        for problem in problems:
            click.echo(f"  FAIL {problem}")
    if problems:
        sys.exit(EXIT_FAILED)


@ledger.command()
@click.argument("db")
@click.argument("index", type=int)
@click.option("--size", type=int, help="Prove under the checkpoint of this size (default: latest).")
def prove(db: str, index: int, size: int | None) -> None:
    """Print a C2SP tlog-proof@v1 for entry INDEX."""
    _print_from(db, lambda log: log.prove(index, size).text(), _sizes_hint(db) if size is not None else "")


@ledger.command()
@click.argument("db")
@click.argument("old_size", type=int)
@click.argument("new_size", type=int, required=False)
def consistency(db: str, old_size: int, new_size: int | None) -> None:
    """Print the consistency proof from OLD_SIZE to NEW_SIZE (default: current size), one hash a line."""
    _print_from(db, lambda log: encode_hashes(log.consistency(old_size, new_size)))
