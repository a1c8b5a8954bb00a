"""Tamper matrix: each way of altering a stored SQLite ledger is caught by audit_store and by `ledger verify`."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from ledger_testkit import ORIGIN, BuiltLedger

from auction_engine.cli import main
from ledger import Checkpoint, MerkleTree, Signer, audit_store, decode, encode, leaf_hash, open_store, sign_note
from ledger.audit import AuditReport

N, EVERY, TRUSTED = 40, 10, 30  # checkpoints at 10, 20, 30, 40; the auditor saved the one of 30 earlier


@dataclass
class Case:
    """What a tamper leaves behind: the trusted checkpoint to audit against, and the expected findings."""

    first: tuple[str, int | None, int | None]  # (code, entry index, checkpoint size) of the first problem
    also: tuple[tuple[str, int | None, int | None], ...] = ()
    trusted: str | None = None


def data_of(db: sqlite3.Connection, seq: int) -> bytes:
    return bytes(db.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()[0])


def set_row(db: sqlite3.Connection, seq: int, data: bytes, leaf: bytes | None = None) -> None:
    if leaf is None:
        db.execute("UPDATE entries SET data = ? WHERE seq = ?", (data, seq))
    else:
        db.execute("UPDATE entries SET data = ?, leaf = ? WHERE seq = ?", (data, leaf, seq))


def genuine_root(built: BuiltLedger, size: int) -> bytes:
    return MerkleTree(leaf_hash(d) for d in built.entries()[:size]).root()


# -- the tampers ---------------------------------------------------------------------------------------


def flip_byte(offset: int) -> Callable[..., Case]:
    def tamper(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
        data = bytearray(data_of(db, 13))
        data[offset] ^= 0x04
        set_row(db, 13, bytes(data))
        return Case(("leaf_hash", 13, None), (("prev", 14, None), ("checkpoint_root", None, 20)))

    return tamper


def flip_byte_and_leaf(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    data = data_of(db, 13).replace(b"LOT-006", b"LOT-007")  # still canonical; the stored leaf is redone
    set_row(db, 13, data, leaf_hash(data))
    return Case(("prev", 14, None), (("checkpoint_root", None, 20), ("checkpoint_root", None, 40)))


def delete_row(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    db.execute("DELETE FROM entries WHERE seq = 17")
    return Case(("missing", 17, None), (("truncated", None, 40),))


def delete_last_row(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    db.execute("DELETE FROM entries WHERE seq = 39")
    return Case(("truncated", None, 40))


def swap_data(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    a, b = data_of(db, 11), data_of(db, 12)
    set_row(db, 11, b)
    set_row(db, 12, a)
    return Case(("leaf_hash", 11, None), (("seq", 11, None), ("leaf_hash", 12, None), ("seq", 12, None)))


def swap_rows(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    a, b = data_of(db, 11), data_of(db, 12)
    set_row(db, 11, b, leaf_hash(b))
    set_row(db, 12, a, leaf_hash(a))
    return Case(("seq", 11, None), (("prev", 11, None), ("seq", 12, None), ("checkpoint_root", None, 20)))


def truncate_below_trusted(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    # A careful forger also removes the stored checkpoints that would betray the cut.
    db.execute("DELETE FROM entries WHERE seq >= 25")
    db.execute("DELETE FROM checkpoints WHERE size > 25")
    return Case(("truncated", None, TRUSTED), trusted=built.checkpoint(TRUSTED))


def truncate_keeping_checkpoints(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    db.execute("DELETE FROM entries WHERE seq >= 25")
    return Case(("truncated", None, 30), (("truncated", None, 40),))


def forged_checkpoint(db: sqlite3.Connection, built: BuiltLedger, *, other: BuiltLedger, **_: object) -> Case:
    # Signed by the market's own key, over a different history of 25 entries: a fork.
    db.execute("INSERT INTO checkpoints (size, note) VALUES (25, ?)", (other.checkpoint(25),))
    # Checkpoint 30 matches the entries and commits to their first 25: the forged 25 contradicts it.
    return Case(("checkpoint_root", None, 25), (("fork", None, 25),))


def forked_trusted(db: sqlite3.Connection, built: BuiltLedger, *, other: BuiltLedger, **_: object) -> Case:
    # The auditor was shown another history earlier (a split view); the stored ledger is untouched.
    return Case(("fork", None, 25), trusted=other.checkpoint(25))


def wrong_key_checkpoint(db: sqlite3.Connection, built: BuiltLedger, *, impostor: Signer, **_: object) -> Case:
    note = sign_note(Checkpoint(ORIGIN, 25, genuine_root(built, 25)).text(), impostor)
    db.execute("INSERT INTO checkpoints (size, note) VALUES (25, ?)", (note,))
    return Case(("checkpoint_signature", None, 25))


def wrong_key_trusted(db: sqlite3.Connection, built: BuiltLedger, *, impostor: Signer, **_: object) -> Case:
    return Case(
        ("trusted_signature", None, None), trusted=sign_note(built.checkpoint(30).split("\n\n")[0] + "\n", impostor)
    )


def altered_checkpoint_note(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    note = built.checkpoint(20)
    db.execute("UPDATE checkpoints SET note = ? WHERE size = 20", (note.replace("\n20\n", "\n21\n", 1),))
    return Case(("checkpoint_signature", None, 20))


def non_canonical_entry(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    data = data_of(db, 39)
    seq = encode({"seq": 39})[-2:]  # 'seq' is followed by the fixint 39 (0x27)
    wide = data.replace(b"\xa3seq" + seq[-1:], b"\xa3seq\xcc" + seq[-1:])  # 39 as uint8: not minimal
    assert wide != data
    set_row(db, 39, wide, leaf_hash(wide))
    return Case(("encoding", 39, None), (("checkpoint_root", None, 40),))


def time_reversed(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    # Rewrite entries 35..39 with a time going backwards at 37, chained and leaf-hashed properly.
    prev = leaf_hash(data_of(db, 34))
    for seq in range(35, 40):
        entry = decode(data_of(db, seq))
        entry["prev"] = prev
        if seq == 37:
            entry["t"] = 1
        data = encode(entry)
        prev = leaf_hash(data)
        set_row(db, seq, data, prev)
    return Case(("time", 37, None), (("checkpoint_root", None, 40),))


def data_as_number(db: sqlite3.Connection, built: BuiltLedger, **_: object) -> Case:
    db.execute("UPDATE entries SET data = 12345 WHERE seq = 13")  # another program wrote a number
    return Case(("leaf_hash", 13, None), (("encoding", 13, None), ("prev", 14, None)))


TAMPERS: dict[str, Callable[..., Case]] = {
    "flip-byte-header": flip_byte(0),
    "flip-byte-middle": flip_byte(60),
    "flip-byte-last": flip_byte(-1),
    "flip-byte-and-redo-leaf": flip_byte_and_leaf,
    "delete-row": delete_row,
    "delete-last-row": delete_last_row,
    "swap-two-rows-data": swap_data,
    "swap-two-rows-data-and-leaf": swap_rows,
    "truncate-below-trusted-checkpoint": truncate_below_trusted,
    "truncate-keeping-checkpoints": truncate_keeping_checkpoints,
    "fork-forged-checkpoint-right-key": forged_checkpoint,
    "fork-trusted-checkpoint": forked_trusted,
    "checkpoint-signed-by-wrong-key": wrong_key_checkpoint,
    "trusted-checkpoint-signed-by-wrong-key": wrong_key_trusted,
    "checkpoint-note-altered": altered_checkpoint_note,
    "non-canonical-entry-with-redone-leaf": non_canonical_entry,
    "time-goes-backwards": time_reversed,
    "entry-replaced-by-a-number": data_as_number,
}


def found(report_problems: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(p["code"], p.get("index"), p.get("checkpoint_size")) for p in report_problems]


def as_dicts(report: AuditReport) -> list[dict[str, object]]:
    return report.to_json()["problems"]


@pytest.fixture
def ledgers(make_ledger: Callable[..., BuiltLedger]) -> tuple[BuiltLedger, BuiltLedger]:
    built = make_ledger(N, every=EVERY)
    other = make_ledger(30, every=25, name="other.db", body=lambda i: {"other": i})
    return built, other


def test_untampered_ledger_passes(ledgers: tuple[BuiltLedger, BuiltLedger]) -> None:
    built, _ = ledgers
    report = audit_store(open_store(str(built.path), readonly=True), built.signer.verifier, built.checkpoint(TRUSTED))
    assert report.ok and report.size == N and report.checkpoints_verified == 4 and report.trusted_size == TRUSTED
    result = CliRunner().invoke(
        main, ["ledger", "verify", str(built.path), "--vkey", str(built.vkey_file), "--trusted", trusted_file(built)]
    )
    assert result.exit_code == 0, result.output
    assert f"ledger {built.path}: OK" in result.output


def trusted_file(built: BuiltLedger, note: str | None = None) -> str:
    path = Path(built.path).with_suffix(".trusted")
    path.write_text(note or built.checkpoint(TRUSTED))
    return str(path)


@pytest.mark.parametrize("name", list(TAMPERS))
def test_tamper_is_detected(name: str, ledgers: tuple[BuiltLedger, BuiltLedger], impostor: Signer) -> None:
    built, other = ledgers
    with sqlite3.connect(built.path) as db:
        case = TAMPERS[name](db, built, other=other, impostor=impostor)
    # audit_store, on the file opened read-only
    store = open_store(str(built.path), readonly=True)
    report = audit_store(store, built.signer.verifier, case.trusted)
    store.close()
    problems = found(as_dicts(report))
    assert not report.ok
    assert problems[0] == case.first, problems
    for expected in case.also:
        assert expected in problems, (expected, problems)
    if not any(code == "fork" for code, _, _ in (case.first, *case.also)):
        # Altered entries are not evidence that the market signed two histories.
        assert all(p[0] != "fork" for p in problems), problems
    first_entry = case.first[1]
    if first_entry is not None:  # nothing is blamed on an entry before the first altered one
        assert all(p[1] is None or p[1] >= first_entry for p in problems), problems

    # the CLI: exit 1, the same findings in --json, and the first one named in the text report
    args = ["ledger", "verify", str(built.path), "--vkey", str(built.vkey_file)]
    if case.trusted is not None:
        args += ["--trusted", trusted_file(built, case.trusted)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 1, result.output
    cli = json.loads(result.stdout)
    assert cli["ok"] is False
    assert found(cli["problems"]) == problems
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 1
    code, index, size = case.first
    where = f"entry {index}" if index is not None else f"checkpoint {size}"
    assert f"FAIL [{code}] {where}: " in text.stdout


def test_truncation_with_checkpoints_removed_needs_a_trusted_checkpoint(
    ledgers: tuple[BuiltLedger, BuiltLedger],
) -> None:
    """Without a checkpoint saved earlier, a clean cut of the tail (checkpoints too) looks like a shorter log."""
    built, _ = ledgers
    with sqlite3.connect(built.path) as db:
        truncate_below_trusted(db, built)
    report = audit_store(open_store(str(built.path), readonly=True), built.signer.verifier)
    assert report.ok and report.size == 25
    assert not audit_store(open_store(str(built.path), readonly=True), built.signer.verifier, built.checkpoint(30)).ok


def test_every_problem_code_is_exercised() -> None:
    """The matrix covers each code that ledger/audit.py can report about a stored ledger."""
    source = (Path(__file__).resolve().parents[2] / "ledger" / "audit.py").read_text()
    codes = set(re.findall(r'add\(\s*"([a-z_]+)"', source))
    assert codes, "no problem codes found in ledger/audit.py"
    covered = {"leaf_hash", "prev", "missing", "truncated", "seq", "checkpoint_root", "fork", "checkpoint_signature"}
    covered |= {"trusted_signature", "encoding", "time"}
    covered |= {"tile"}  # tests/ledger/test_ledger_tiles_audit.py (the matrix's ledgers are too small for tiles)
    # 'kind' and 'checkpoint_size' need a forger who re-signs with the market's key (tested below).
    assert codes - covered <= {"kind", "checkpoint_size"}, codes - covered


def test_kind_and_checkpoint_size_problems(make_ledger: Callable[..., BuiltLedger], signer: Signer) -> None:
    built = make_ledger(12, every=None)
    with sqlite3.connect(built.path) as db:
        entry = decode(data_of(db, 11))
        entry["kind"] = 7
        data = encode(entry)
        set_row(db, 11, data, leaf_hash(data))
        # A checkpoint stored under the wrong size (the note itself is genuine: size 12).
        db.execute("UPDATE checkpoints SET size = 13 WHERE size = 12")
    report = audit_store(open_store(str(built.path), readonly=True), signer.verifier)
    assert found(as_dicts(report)) == [("kind", 11, None), ("checkpoint_size", None, 13)]
    result = CliRunner().invoke(main, ["ledger", "verify", str(built.path), "--vkey", built.vkey, "--json"])
    assert result.exit_code == 1 and found(json.loads(result.stdout)["problems"]) == found(as_dicts(report))


def test_a_column_type_change_alone_is_not_a_content_change(ledgers: tuple[BuiltLedger, BuiltLedger]) -> None:
    """The audit reads bytes: the same bytes stored as TEXT are still the same entry."""
    built, _ = ledgers
    with sqlite3.connect(built.path) as db:
        db.execute("UPDATE entries SET data = CAST(data AS TEXT), leaf = CAST(leaf AS TEXT) WHERE seq = 13")
        assert db.execute("SELECT typeof(data) FROM entries WHERE seq = 13").fetchone() == ("text",)
    assert audit_store(open_store(str(built.path), readonly=True), built.signer.verifier).ok
    exported = CliRunner().invoke(main, ["ledger", "export", str(built.path)]).stdout
    assert exported.split("\n")[:-1] == built.entries_b64()
