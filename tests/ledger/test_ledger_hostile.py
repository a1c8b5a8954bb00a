"""A hostile but correctly signed ledger: entries no honest log writes, chained, leaf-hashed and covered
by checkpoints the market's key signed, written straight into the SQLite store.

`ledger verify` must report each one at its entry index and exit 1, never with a traceback (issue 13:
a 495-deep object in an entry made it die with a RecursionError); the reading commands still work.
`make test` runs it on the native kernels and again on pure Python (LEDGER_PURE_PYTHON=1): the same
report from both.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner, Result
from ledger_testkit import ORIGIN

from auction_engine.cli import main
from ledger import Checkpoint, MerkleTree, Signer, SQLiteStore, audit_store, leaf_hash, sign_note
from ledger.canonical import encode_entry
from ledger.store.base import Row, StoredCheckpoint


def _deep(levels: int) -> bytes:
    """msgpack bytes of {"a": {"a": … nil}} with `levels` maps (canonical but for the depth)."""
    return b"\x81\xa1a" * levels + b"\xc0"


def _hostile(fields: list[tuple[bytes, bytes]], seq: int, prev: bytes, t: int, kind: str) -> bytes:
    """An entry map of the ledger's four fields and `fields` (raw key and value bytes), keys sorted."""
    pack = msgpack.Packer(use_bin_type=True).pack
    pairs = [
        (pack("kind"), pack(kind)),
        (pack("prev"), pack(prev)),
        (pack("seq"), pack(seq)),
        (pack("t"), pack(t)),
        *fields,
    ]
    pairs.sort(key=lambda kv: msgpack.unpackb(kv[0]).encode())
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


# index -> (the entry's bytes from (seq, prev, t), what `ledger verify` must say about it); None: a good entry
HOSTILE = {
    # The bid: an extra field holding a 495-deep object.
    1: (
        lambda seq, prev, t: _hostile([(b"\xa5extra", _deep(495))], seq, prev, t, "bid"),
        "extra" + ".a" * 31 + ": nested deeper than 32 levels of maps and lists",
    ),
    # Deeper than msgpack's own stack.
    2: (
        lambda seq, prev, t: _hostile([(b"\xa1x", _deep(100_000))], seq, prev, t, "bid"),
        "x" + ".a" * 31 + ": nested deeper than 32 levels of maps and lists",
    ),
    # Not canonical: the amount 5 as a uint16.
    4: (
        lambda seq, prev, t: _hostile([(b"\xa6amount", b"\xcd\x00\x05")], seq, prev, t, "bid"),
        "not canonical: non-minimal encoding at byte offset",
    ),
    # A map with a duplicate key (and a kind the certificate listing reads).
    5: (
        lambda seq, prev, t: _hostile([(b"\xa1a", b"\x01"), (b"\xa1a", b"\x02")], seq, prev, t, "txcode"),
        "a: duplicate map key",
    ),
    # Huge lengths: an array of 4,294,967,295 items and a 4 GiB string, neither there.
    6: (
        lambda seq, prev, t: _hostile([(b"\xa1z", b"\xdd\xff\xff\xff\xff\x01")], seq, prev, t, "bid"),
        "not valid msgpack",
    ),
    7: (
        lambda seq, prev, t: _hostile([(b"\xa1z", b"\xdb\xff\xff\xff\xffab")], seq, prev, t, "bid"),
        "not valid msgpack",
    ),
}
SIZE = 10


@pytest.fixture
def hostile_db(tmp_path: Path, signer: Signer) -> Path:
    """Entries 0-9, those of HOSTILE hostile, every one chained to its predecessor's leaf hash; checkpoints of
    sizes 5 and 10 signed by the market's key over exactly these bytes."""
    rows: list[Row] = []
    prev = bytes(32)
    for seq in range(SIZE):
        t = 1_000 * seq
        if seq in HOSTILE:
            data = HOSTILE[seq][0](seq, prev, t)
        else:
            data = encode_entry({"lot": "L1", "amount": seq}, seq, prev, t, "test.entry")
        prev = leaf_hash(data)
        rows.append(Row(seq, data, prev))
    tree = MerkleTree(row.leaf for row in rows)
    checkpoints = [
        StoredCheckpoint(size, sign_note(Checkpoint(ORIGIN, size, tree.root(size)).text(), signer)) for size in (5, 10)
    ]
    path = tmp_path / "hostile.db"
    store = SQLiteStore(path)
    store.set_meta("origin", ORIGIN)
    store.commit(rows, checkpoints)
    store.close()
    return path


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_hostile_entries_are_what_they_claim(hostile_db: Path) -> None:
    """The fixture's own check: deep, non-canonical, duplicate and huge entries, and no honest encoder
    writes the deep one."""
    store = SQLiteStore(hostile_db, readonly=True)
    rows = list(store.rows())
    store.close()
    assert [r.seq for r in rows] == list(range(SIZE))
    assert rows[1].data.count(b"\x81\xa1a") == 495
    assert msgpack.unpackb(rows[5].data)["a"] == 2  # msgpack keeps the last copy, silently
    with pytest.raises(ValueError, match="nested deeper than 32"):
        encode_entry({"extra": msgpack.unpackb(_deep(495))}, 1, bytes(32), 0, "bid")


def test_ledger_verify_reports_each_hostile_entry_at_its_index(hostile_db: Path, signer: Signer) -> None:
    result = run("ledger", "verify", hostile_db, "--vkey", signer.verifier.encode())
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # sys.exit(1), not an exception escaping
    assert "Traceback" not in result.output
    assert f"ledger {hostile_db}: FAILED" in result.output
    assert "checkpoints: 2 verified, latest size 10" in result.output  # signed over exactly these bytes
    fails = [line.strip() for line in result.output.splitlines() if line.startswith("  FAIL ")]
    assert len(fails) == len(HOSTILE), result.output
    for line, (index, (_, message)) in zip(fails, sorted(HOSTILE.items()), strict=True):
        assert line.startswith(f"FAIL [encoding] entry {index}: entry {index}: "), line
        assert message in line, line

    report = json.loads(run("ledger", "verify", hostile_db, "--vkey", signer.verifier.encode(), "--json").output)
    assert not report["ok"]
    assert [(p["code"], p["index"]) for p in report["problems"]] == [("encoding", i) for i in sorted(HOSTILE)]


def test_the_audit_api_gives_the_same_report(hostile_db: Path, signer: Signer) -> None:
    store = SQLiteStore(hostile_db, readonly=True)
    try:
        report = audit_store(store, signer.verifier)
    finally:
        store.close()
    assert [(p.code, p.index) for p in report.problems] == [("encoding", i) for i in sorted(HOSTILE)]
    assert report.size == SIZE and report.checkpoints_verified == 2


def test_reading_commands_still_work_and_the_certificate_listing_names_the_entry(
    hostile_db: Path, signer: Signer
) -> None:
    exported = run("ledger", "export", hostile_db)
    assert exported.exit_code == 0 and len(exported.output.splitlines()) == SIZE
    assert run("ledger", "prove", hostile_db, "1").exit_code == 0
    assert run("ledger", "checkpoint", hostile_db).exit_code == 0
    listed = run("certificate", "list", hostile_db)
    assert listed.exit_code == 1 and isinstance(listed.exception, SystemExit)
    assert "error: entry 5 is not canonical: a: duplicate map key" in listed.output
