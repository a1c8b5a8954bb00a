"""The streaming audit (O(log n) of the tree in memory) against the audit that kept the whole tree.

- `Frontier`, the tree's right edge, gives MerkleTree's root at every size, however the leaves are
  batched, and hands over exactly MerkleTree's complete nodes at the heights it is asked for;
- `audit_store` reports the same problems, in the same order, with the same size, root and counts, as
  `reference_audit` below (the checks of the audit before streaming, verbatim, over a whole
  `MerkleTree`) on ledgers damaged at random: flipped entry bytes or leaf hashes, missing or cut
  entries, re-signed checkpoints with a wrong root, damaged, missing, shortened, lengthened and stray
  tiles, and trusted checkpoints right or wrong, inside or past the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Checkpoint, MerkleTree, Signer, SQLiteStore, audit, canonical, sign_note
from ledger.audit import AuditReport, audit_store
from ledger.checkpoint import CheckpointError, verify_signed_checkpoint
from ledger.frontier import Frontier
from ledger.merkle import ProofError, verify_consistency
from ledger.note import NoteError, Verifier
from ledger.store.base import TILE_HEIGHT, TILE_WIDTH, Row, Store, StoredCheckpoint
from ledger.stored_tree import StoredTree
from ledger.tiles import HASH_SIZE, read_edge

SIGNER = Signer("streaming-audit.test.example", bytes(range(32)))
N = 2 * 65536 + 777  # level 1: tiles 1/0, 1/1 full and 1/2 of 3 hashes; level 2: tile 2/0 of 2 hashes
EVERY = 9973  # a checkpoint every 9,973 entries: sizes that cut the audit's 4,096-row chunks anywhere
LEAVES = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(3000)]


# -- the frontier ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.integers(min_value=0, max_value=90), max_size=40),
    every=st.sampled_from([1, 2, 3, 8]),
)
def test_frontier_root_and_nodes_match_merkle_tree(batches: list[int], every: int) -> None:
    got: dict[tuple[int, int], bytes] = {}

    def sink(height: int, start: int, hashes: bytes) -> None:
        assert height % every == 0 and len(hashes) % HASH_SIZE == 0 and hashes
        for j in range(len(hashes) // HASH_SIZE):
            assert (height, start + j) not in got  # each node is handed over once
            got[height, start + j] = hashes[j * HASH_SIZE : (j + 1) * HASH_SIZE]

    frontier = Frontier(sink, every=every)
    n = min(sum(batches), len(LEAVES))
    tree = MerkleTree(LEAVES[:n])
    assert frontier.root() == tree.root(0)
    at = 0
    for step in batches:
        step = min(step, n - at)
        frontier.extend_joined(b"".join(LEAVES[at : at + step]))
        at += step
        assert frontier.size == at
        assert frontier.root() == tree.root(at)
    # Every complete node at the heights asked for, nothing else; the edge is one subtree per set bit.
    expected = {
        (h, j): tree.subtree_hashes(h, j, 1) for h in range(every, n.bit_length() + 1, every) for j in range(n >> h)
    }
    assert got == expected
    assert [k for k, _ in frontier.edge()] == [k for k in reversed(range(n.bit_length())) if n >> k & 1]


@settings(max_examples=10, deadline=None)
@given(n=st.integers(min_value=0, max_value=600))
def test_frontier_root_at_every_size_one_leaf_at_a_time(n: int) -> None:
    tree = MerkleTree(LEAVES[:n])
    frontier = Frontier()
    for i in range(n):
        frontier.append(LEAVES[i])
        assert frontier.root() == tree.root(i + 1)


def test_frontier_refuses_partial_hashes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().extend_joined(bytes(33))
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(bytes(31))


# -- the audit before streaming, as the oracle ----------------------------------------------------


def reference_audit(store: Store, verifier: Verifier, trusted: str | None = None) -> AuditReport:
    """`audit_store` as it was with the whole tree in memory (its checks copied; the entry checks shared)."""
    report = AuditReport(origin=store.get_meta("origin") or verifier.name)
    tree = MerkleTree()
    audit._check_entries(store, report, tree)
    report.size = tree.size
    report.root = tree.root()
    _ref_checkpoints(store, verifier, report, tree)
    _ref_tiles(store, report, tree)
    if trusted is not None:
        _ref_trusted(trusted, verifier, tree, report)
    return report


def _ref_checkpoints(store: Store, verifier: Verifier, report: AuditReport, tree: MerkleTree) -> None:
    good: list[Checkpoint] = []
    for stored in store.checkpoints():
        try:
            cp, _ = verify_signed_checkpoint(stored.note, verifier, report.origin)
        except (NoteError, CheckpointError) as exc:
            report.add("checkpoint_signature", f"checkpoint of size {stored.size}: {exc}", size=stored.size)
            continue
        if cp.size != stored.size:
            report.add("checkpoint_size", f"checkpoint stored as size {stored.size} says {cp.size}", size=stored.size)
            continue
        if cp.size > tree.size:
            report.add(
                "truncated",
                f"checkpoint of size {cp.size} is signed but the log has only {tree.size} entries",
                size=cp.size,
            )
        elif cp.root != tree.root(cp.size):
            report.add(
                "checkpoint_root",
                f"checkpoint of size {cp.size}: its root does not match the first {cp.size} entries",
                size=cp.size,
            )
        if good:
            old, new = good[-1], cp
            if old.size == new.size:
                if old.root != new.root:
                    report.add("fork", f"two signed checkpoints of size {new.size} with different roots", size=new.size)
            elif new.size <= tree.size and new.root == tree.root(new.size) and old.root != tree.root(old.size):
                report.add(
                    "fork",
                    f"the signed checkpoint of size {old.size} contradicts the signed checkpoint of size {new.size},"
                    " which matches these entries: the log signed two different histories",
                    size=old.size,
                )
        good.append(cp)
        report.checkpoints_verified += 1
    if good:
        report.latest_checkpoint_size = good[-1].size


def _ref_trusted(trusted_note: str, verifier: Verifier, tree: MerkleTree, report: AuditReport) -> None:
    try:
        cp, _ = verify_signed_checkpoint(trusted_note, verifier, report.origin)
    except (NoteError, CheckpointError) as exc:
        report.add("trusted_signature", f"trusted checkpoint: {exc}")
        return
    report.trusted_size = cp.size
    if cp.size > tree.size:
        report.add(
            "truncated",
            f"the trusted checkpoint covers {cp.size} entries but the log now has only {tree.size}",
            size=cp.size,
        )
        return
    if cp.size == 0:
        return
    try:
        verify_consistency(cp.size, tree.size, tree.consistency_proof(cp.size, tree.size), cp.root, tree.root())
    except ProofError:
        report.add(
            "fork",
            f"the log does not extend the trusted checkpoint of size {cp.size}: its first {cp.size} entries differ",
            size=cp.size,
        )


def _ref_tiles(store: Store, report: AuditReport, tree: MerkleTree) -> None:
    size = tree.size
    covered = read_edge(store, size).covered
    complete = store.size() == size

    def add(level: int, idx: int, what: str) -> None:
        span = TILE_WIDTH ** (level + 1)
        report.add(
            "tile", f"tile {level}/{idx} (entries {idx * span}…{(idx + 1) * span - 1}): {what}", index=idx * span
        )

    level = 1
    while level < 64:
        count = size >> (TILE_HEIGHT * level)
        needed = -(-count // TILE_WIDTH)
        seen = 0
        for tile in store.tiles(level):
            if tile.idx >= needed:
                if complete:
                    add(level, tile.idx, f"stored, but the {size} entries do not reach it (entries removed?)")
                continue
            if covered:
                for missing in range(seen, tile.idx):
                    add(level, missing, "missing from the store")
            seen = tile.idx + 1
            width = min(TILE_WIDTH, count - tile.idx * TILE_WIDTH)
            expected = tree.subtree_hashes(TILE_HEIGHT * level, tile.idx * TILE_WIDTH, width)
            stored = tile.hashes
            whole = len(stored) % HASH_SIZE == 0
            longer = whole and len(stored) > len(expected) and stored.startswith(expected)
            older = whole and not covered and len(stored) < len(expected) and expected.startswith(stored)
            if stored == expected or (longer and not complete) or older:
                continue
            if longer:
                add(level, tile.idx, f"holds hashes beyond the {size} entries (entries removed?)")
            elif len(stored) != len(expected) and (covered or not whole):
                add(level, tile.idx, f"holds {len(stored)} bytes where the entries make {len(expected)}")
            else:
                add(level, tile.idx, "its hashes do not match the entries (damaged)")
        if covered:
            for missing in range(seen, needed):
                add(level, missing, "missing from the store")
        if count == 0 and seen == 0:
            break
        level += 1


# -- damaged ledgers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MerkleTree]:
    """A ledger of N entries with its tiles, written through the store as the log writes it; and its tree."""
    path = tmp_path_factory.mktemp("streaming") / "ledger.db"
    store = SQLiteStore(path)
    store.set_meta("origin", SIGNER.name)
    stored = StoredTree(store)
    whole = MerkleTree()
    prev = bytes(32)
    rows: list[Row] = []
    cps: list[StoredCheckpoint] = []
    for seq in range(N):
        data, leaf = canonical.encode_entry_and_leaf({"i": seq}, seq, prev, 1000 + seq, "x")
        stored.append(leaf)
        whole.append(leaf)
        rows.append(Row(seq, data, leaf))
        prev = leaf
        size = seq + 1
        if size % EVERY == 0 or size == N:
            cps.append(StoredCheckpoint(size, sign_note(Checkpoint(SIGNER.name, size, stored.root()).text(), SIGNER)))
        if len(rows) == 4096 or size == N:
            store.commit(rows, cps, stored.pending_tiles())
            stored.hand_off()
            stored.mark_durable(size)
            rows, cps = [], []
    store.close()
    return path, whole


@contextlib.contextmanager
def damaged_copy(src: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ledger.db"
        with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(sqlite3.connect(copy)) as b:
            a.backup(b)
        yield copy


def _sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(statement, params)


TILES = [(1, 0), (1, 1), (1, 2), (2, 0)]
entries = st.integers(min_value=0, max_value=N - 1)
damage = st.one_of(
    st.tuples(st.just("flip_entry"), entries, st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("flip_leaf"), entries),
    st.tuples(st.just("drop_entry"), entries),
    st.tuples(st.just("cut_entries"), entries),
    st.tuples(st.just("wrong_root"), st.integers(min_value=0, max_value=N // EVERY)),
    st.tuples(st.just("bad_signature"), st.integers(min_value=0, max_value=N // EVERY)),
    st.tuples(st.just("flip_tile"), st.sampled_from(TILES), st.integers(min_value=0, max_value=8191)),
    st.tuples(st.just("drop_tile"), st.sampled_from(TILES)),
    st.tuples(st.just("drop_tiles"), st.sets(st.sampled_from(TILES), min_size=2)),  # perhaps uncovered
    st.tuples(st.just("shorten_tile"), st.sampled_from(TILES), st.integers(min_value=0, max_value=300)),
    st.tuples(st.just("lengthen_tile"), st.sampled_from(TILES), st.sampled_from([1, 32, 64])),
    st.tuples(st.just("stray_tile"), st.sampled_from([(1, 3), (1, 9), (2, 1), (3, 0)])),
)


def apply(path: Path, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "flip_entry":  # one byte of an entry's bytes changed (its leaf column left as it was)
        _, seq, at = op
        _sql(
            path,
            "UPDATE entries SET data = substr(data, 1, ?) || x'ff' || substr(data, ?)"
            " WHERE seq = ? AND length(data) > ?",
            (at, at + 2, seq, at),
        )
    elif kind == "flip_leaf":  # the stored leaf hash changed
        _sql(path, "UPDATE entries SET leaf = x'00' || substr(leaf, 2) WHERE seq = ?", (op[1],))
    elif kind == "drop_entry":
        _sql(path, "DELETE FROM entries WHERE seq = ?", (op[1],))
    elif kind == "cut_entries":
        _sql(path, "DELETE FROM entries WHERE seq >= ?", (op[1],))
    elif kind in ("wrong_root", "bad_signature"):  # a checkpoint re-signed with a wrong root, or a signature broken
        size = min((op[1] + 1) * EVERY, N)
        if kind == "wrong_root":
            note = sign_note(Checkpoint(SIGNER.name, size, hashlib.sha256(b"%d" % size).digest()).text(), SIGNER)
        else:
            with contextlib.closing(sqlite3.connect(path)) as db:
                row = db.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
            if row is None:
                return
            note = row[0].replace("\n\u2014 ", "\n\u2014 X", 1)
        _sql(path, "UPDATE checkpoints SET note = ? WHERE size = ?", (note, size))
    elif kind == "flip_tile":
        (level, idx), at = op[1], op[2]
        _sql(
            path,
            "UPDATE tiles SET hashes = substr(hashes, 1, ?) || x'ff' || substr(hashes, ?)"
            " WHERE level = ? AND idx = ? AND length(hashes) > ?",
            (at, at + 2, level, idx, at),
        )
    elif kind == "drop_tile":
        _sql(path, "DELETE FROM tiles WHERE level = ? AND idx = ?", op[1])
    elif kind == "drop_tiles":
        for tile in sorted(op[1]):
            _sql(path, "DELETE FROM tiles WHERE level = ? AND idx = ?", tile)
    elif kind == "shorten_tile":  # to a number of whole hashes (a prefix, as an older writer left it)
        (level, idx), keep = op[1], op[2]
        _sql(
            path,
            "UPDATE tiles SET hashes = coalesce(substr(hashes, 1, ?), x'') WHERE level = ? AND idx = ?",
            (keep * 32, level, idx),
        )
    elif kind == "lengthen_tile":
        (level, idx), extra = op[1], op[2]
        _sql(path, "UPDATE tiles SET hashes = hashes || ? WHERE level = ? AND idx = ?", (bytes(extra), level, idx))
    elif kind == "stray_tile":
        _sql(path, "INSERT OR REPLACE INTO tiles (level, idx, hashes) VALUES (?, ?, ?)", (*op[1], bytes(64)))
    else:  # pragma: no cover
        raise AssertionError(kind)


def trusted_note(tree: MerkleTree, size: int, right: bool) -> str:
    root = tree.root(size) if right and size <= tree.size else hashlib.sha256(b"other %d" % size).digest()
    return sign_note(Checkpoint(SIGNER.name, size, root).text(), SIGNER)


def both(path: Path, trusted: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    store = SQLiteStore(path, readonly=True)
    try:
        return audit_store(store, SIGNER.verifier, trusted).to_json(), reference_audit(
            store, SIGNER.verifier, trusted
        ).to_json()
    finally:
        store.close()


def test_an_intact_ledger_passes_both(built: tuple[Path, MerkleTree]) -> None:
    path, tree = built
    new, old = both(path, trusted_note(tree, 70_001, True))
    assert new == old
    assert new["ok"] and new["size"] == N and new["root"] == tree.root().hex() and new["trusted_size"] == 70_001


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    ops=st.lists(damage, min_size=1, max_size=3),
    trusted=st.none() | st.tuples(st.integers(min_value=0, max_value=N + 5), st.booleans()),
    window=st.sampled_from([1, 2, audit._WINDOW]),
)
def test_the_streamed_audit_agrees_with_the_whole_tree(
    built: tuple[Path, MerkleTree],
    monkeypatch: pytest.MonkeyPatch,
    ops: list[tuple[Any, ...]],
    trusted: tuple[int, bool] | None,
    window: int,
) -> None:
    path, tree = built
    note = None if trusted is None else trusted_note(tree, *trusted)
    with damaged_copy(path) as copy, monkeypatch.context() as patch:
        patch.setattr(audit, "_WINDOW", window)  # the stored tiles read one, two or sixteen at a time
        for op in ops:
            apply(copy, op)
        new, old = both(copy, note)
    assert new == old


def test_an_older_store_is_judged_as_before(built: tuple[Path, MerkleTree]) -> None:
    """Tiles that do not cover the entries (an upgrade cut short): a missing tile is no problem, a wrong one is."""
    path, _ = built
    with damaged_copy(path) as copy:
        apply(copy, ("drop_tiles", {(1, 0), (1, 2)}))  # the level-1 edge gone: the store is not covered
        new, old = both(copy, None)
        assert new == old and new["ok"]
        apply(copy, ("shorten_tile", (1, 1), 100))  # as an older writer left it: right as far as it goes
        new, old = both(copy, None)
        assert new == old and new["ok"]
        apply(copy, ("flip_tile", (1, 1), 40))
        new, old = both(copy, None)
    assert new == old
    assert [p["message"] for p in new["problems"]] == [
        "tile 1/1 (entries 65536…131071): its hashes do not match the entries (damaged)"
    ]


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (("flip_entry", 70_000, 5), "leaf_hash"),
        (("wrong_root", 3), "checkpoint_root"),
        (("flip_tile", (1, 1), 100), "tile"),
        (("drop_tile", (1, 0)), "tile"),
        (("flip_leaf", 131_000), "leaf_hash"),
        (("drop_entry", 66_000), "missing"),
        (("stray_tile", (1, 9)), "tile"),
    ],
)
def test_each_kind_of_damage_is_found_as_before(built: tuple[Path, MerkleTree], op: tuple[Any, ...], code: str) -> None:
    path, _ = built
    with damaged_copy(path) as copy:
        apply(copy, op)
        new, old = both(copy, None)
    assert new == old
    assert not new["ok"] and code in [p["code"] for p in new["problems"]]
