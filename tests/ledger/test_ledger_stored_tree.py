"""The Merkle tree in storage (ledger.stored_tree): exactly MerkleTree's answers, from tiles and the edge.

Properties (hypothesis): for trees grown in random batches, committed with their tiles, reopened
and truncated, every root, inclusion proof, consistency proof and hash tile equals MerkleTree's.
Then the tile boundaries (255/256/257 and 65535/65536/65537), what opening reads, the upgrade of a
store written before tiles existed, the read-only fallback, the commit hand-off through the Log,
and readers on another thread while the tree grows.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import CheckpointPolicy, Log, MerkleTree, Signer, audit_store
from ledger.store import MemoryStore, Row, SQLiteStore, Store, Tile
from ledger.stored_tree import CACHE_TILES, StoredTree, open_tree
from ledger.tiles import TILE_BYTES, TileBuilder, read_edge

SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNER = Signer("stored-tree.test.example", bytes(range(32)))


def leaf_of(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest()


class Grower:
    """Appends leaves to a StoredTree and commits them with their tiles, as the log does (rows carry no data)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tree = open_tree(store)
        assert isinstance(self.tree, StoredTree)
        self.leaves: list[bytes] = [self.tree.leaf(i) for i in range(self.tree.size)]
        self.durable = self.tree.size

    def grow(self, count: int, *, commit: bool = True) -> None:
        start = self.tree.size
        new = [leaf_of(i) for i in range(start, start + count)]
        for leaf in new:
            self.tree.append(leaf)
        self.leaves += new
        if commit:
            self.commit()

    def commit(self) -> None:
        """Everything appended since the last commit, with the tiles it changed, in one batch."""
        tree = self.tree
        rows = [Row(seq, b"", self.leaves[seq]) for seq in range(self.durable, tree.size)]
        tiles = tree.pending_tiles()
        tree.hand_off()
        self.store.commit(rows, (), tiles)
        tree.mark_durable(tree.size)
        self.durable = tree.size

    def reopen(self) -> StoredTree:
        """Open the tree again from the store (what is not committed is lost, as it would be)."""
        del self.leaves[self.durable :]
        tree = open_tree(self.store)
        assert isinstance(tree, StoredTree)
        self.tree = tree
        return tree


def assert_same(tree: StoredTree | MerkleTree, ref: MerkleTree, rnd: random.Random, samples: int = 30) -> None:
    """Every root, and sampled proofs and tiles, of `tree` equal those of `ref` (the same leaves)."""
    n = ref.size
    assert tree.size == n
    for size in range(n + 1):
        assert tree.root(size) == ref.root(size), size
    if n == 0:
        return
    for _ in range(samples):
        size = rnd.randint(1, n)
        index = rnd.randrange(size)
        assert tree.inclusion_proof(index, size) == ref.inclusion_proof(index, size), (index, size)
        old = rnd.randint(1, size)
        assert tree.consistency_proof(old, size) == ref.consistency_proof(old, size), (old, size)
        height = rnd.choice([0, 1, 7, 8, 9, 16])
        complete = size >> height
        if complete:
            start = rnd.randrange(complete)
            count = rnd.randint(0, min(complete - start, 300))
            assert tree.subtree_hashes(height, start, count, size) == ref.subtree_hashes(height, start, count, size)
    assert tree.leaf(n - 1) == ref.leaf(n - 1) and tree.leaf(0) == ref.leaf(0)
    assert tree.inclusion_proof(n - 1) == ref.inclusion_proof(n - 1)


@pytest.fixture(params=["memory", "sqlite"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes fresh stores of one kind (each SQLite one in a file of its own)."""
    opened: list[Store] = []

    def make() -> Store:
        store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / f"s{len(opened)}.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


# -- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 700), st.booleans(), st.booleans()), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_the_stored_tree_answers_as_merkle_tree(steps: list[tuple[int, bool, bool]], rnd: random.Random) -> None:
    """Random batches, each committed or not, the tree reopened or not: the same answers at every size."""
    grower = Grower(MemoryStore())
    for count, commit, reopen in steps:
        grower.grow(count, commit=False)
        assert_same(grower.tree, MerkleTree(grower.leaves), rnd, samples=10)
        if commit:
            grower.commit()
        if reopen:
            assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd, samples=10)
    assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd)


@SETTINGS
@given(st.integers(1, 1400), st.data(), st.randoms(use_true_random=False))
def test_truncate_then_regrow(n: int, data: st.DataObject, rnd: random.Random) -> None:
    grower = Grower(MemoryStore())
    grower.grow(n)
    cut = data.draw(st.integers(0, n))
    grower.tree.truncate(cut)
    del grower.leaves[cut:]
    grower.store.quarantine(cut, "cut by the test")
    grower.durable = cut
    assert_same(grower.tree, MerkleTree(grower.leaves), rnd, samples=10)
    assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd, samples=5)
    assert not read_edge(grower.store, cut).beyond  # the stored tiles were cut too
    grower.grow(data.draw(st.integers(0, 600)))
    assert_same(grower.tree, MerkleTree(grower.leaves), rnd, samples=10)
    assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd, samples=5)


def test_on_sqlite_too(new_store: Callable[[], Store]) -> None:
    rnd = random.Random(7)
    grower = Grower(new_store())
    for count in [1, 254, 1, 1, 300, 0, 2000]:
        grower.grow(count)
        assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd)
    grower.tree.truncate(600)
    del grower.leaves[600:]
    grower.store.quarantine(600, "cut by the test")
    grower.durable = 600
    assert_same(grower.reopen(), MerkleTree(grower.leaves), rnd)


# -- tile boundaries --------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(255, 256, 257), (65535, 65536, 65537)])
def test_tile_boundaries(sizes: tuple[int, ...], new_store: Callable[[], Store]) -> None:
    rnd = random.Random(sizes[0])
    leaves = [leaf_of(i) for i in range(sizes[-1] + 1)]
    ref = MerkleTree(leaves)
    for size in sizes:
        grower = Grower(new_store())
        grower.grow(size - 1)
        grower.grow(1)  # the boundary crossed by one entry, in its own commit
        reopened = grower.reopen()
        assert reopened.root() == ref.root(size)
        for tree in (grower.tree, reopened):
            for index in {0, size // 2, size - 2, size - 1}:
                assert tree.inclusion_proof(index, size) == ref.inclusion_proof(index, size)
            for old in {1, 255, 256, 257, size - 1, size} - {0}:
                if old <= size:
                    assert tree.consistency_proof(old, size) == ref.consistency_proof(old, size)
            for level in range(3):
                count = min(size >> (8 * level), 256)
                assert tree.subtree_hashes(8 * level, 0, count, size) == ref.subtree_hashes(8 * level, 0, count, size)
                last = (size >> (8 * level)) // 256
                width = (size >> (8 * level)) % 256
                got = tree.subtree_hashes(8 * level, last * 256, width, size)
                assert got == ref.subtree_hashes(8 * level, last * 256, width, size)
        reopened.append(leaves[size])  # and one more across (or after) the boundary
        assert reopened.root() == ref.root(size + 1)
        assert_same_at = [rnd.randrange(size + 1) for _ in range(5)]
        for index in assert_same_at:
            assert reopened.inclusion_proof(index) == ref.inclusion_proof(index, size + 1)


def test_what_is_stored_at_65536(tmp_path: Path) -> None:
    """A tree of 65,536 leaves: one full tile at level 1 (no partial one), and tile 2/0 of one hash."""
    grower = Grower(SQLiteStore(tmp_path / "t.db"))
    grower.grow(65536)
    ref = MerkleTree(grower.leaves)
    with sqlite3.connect(tmp_path / "t.db") as db:
        rows = db.execute("SELECT level, idx, length(hashes) FROM tiles ORDER BY level, idx").fetchall()
    assert rows == [(1, 0, TILE_BYTES), (2, 0, 32)]
    tile = next(grower.store.tiles(2, 0))
    assert tile == Tile(2, 0, ref.root(65536))
    grower.store.close()


# -- opening ----------------------------------------------------------------------------------------


class CountingStore:
    """A store that counts what is read from it (leaf hashes by any route, tiles)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.leaves_read = 0
        self.tiles_read = 0
        self.rows_read = 0

    def leaves(self, start: int, end: int) -> list[bytes]:
        got = self.inner.leaves(start, end)
        self.leaves_read += len(got)
        return got

    def leaf_hashes(self) -> Iterator[bytes]:
        for leaf in self.inner.leaf_hashes():
            self.leaves_read += 1
            yield leaf

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        for row in self.inner.rows(start, end):
            self.rows_read += 1
            yield row

    def tiles(self, level: int, start: int = 0, end: int | None = None) -> Iterator[Tile]:
        for tile in self.inner.tiles(level, start, end):
            self.tiles_read += 1
            yield tile

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_opening_reads_only_the_edge(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    for i in range(70_100):
        log.append("x", {"i": i}, t=i)
        if i % 5000 == 0:
            log.commit()
    log.close()
    store = CountingStore(SQLiteStore(path))
    reopened = Log(store, SIGNER)  # type: ignore[arg-type]
    assert reopened.size == 70_100
    assert store.leaves_read <= 255 + 256 * 8  # the edge, and the level-0 tiles of the checkpoints checked
    assert store.tiles_read <= 30
    assert store.rows_read <= 1000 + 1  # the tail after the last checkpoint (it is checked), and the last entry
    assert reopened.tree.root() == MerkleTree(SQLiteStore(path, readonly=True).leaf_hashes()).root()
    reopened.close()


def test_memory_is_bounded(tmp_path: Path) -> None:
    grower = Grower(SQLiteStore(tmp_path / "t.db"))
    grower.grow(300_000)
    tree = grower.tree
    assert not tree._fresh  # every completed tile is durable: none kept
    for i in range(0, 300_000, 97):
        tree.leaf(i)
    assert len(tree._cache) <= CACHE_TILES
    assert sum(len(edge) for edge in tree._edges) <= 3 * TILE_BYTES
    grower.grow(1000, commit=False)
    assert len(tree._fresh) == 4  # the level-0 tiles the pending entries completed, until durable
    grower.commit()
    assert not tree._fresh
    grower.store.close()


# -- errors: the same as MerkleTree's -----------------------------------------------------------------


def test_bad_arguments_are_refused_as_merkle_tree_refuses_them() -> None:
    grower = Grower(MemoryStore())
    grower.grow(5)
    ref = MerkleTree(grower.leaves)
    calls: list[Callable[[Any], Any]] = [
        lambda t: t.root(6),
        lambda t: t.root(-1),
        lambda t: t.inclusion_proof(5, 5),
        lambda t: t.inclusion_proof(-1),
        lambda t: t.consistency_proof(4, 6),
        lambda t: t.consistency_proof(5, 4),
        lambda t: t.consistency_proof(0, 5),
        lambda t: t.subtree_hashes(1, 2, 1),
        lambda t: t.subtree_hashes(-1, 0, 1),
        lambda t: t.leaf(5),
        lambda t: t.leaf(-1),
        lambda t: t.truncate(6),
    ]
    for call in calls:
        with pytest.raises((ValueError, IndexError)) as theirs:
            call(ref)
        with pytest.raises(type(theirs.value), match="^" + __import__("re").escape(str(theirs.value)) + "$"):
            call(grower.tree)
    with pytest.raises(ValueError, match="32 bytes"):
        grower.tree.append(b"short")
    assert grower.tree.size == 5


# -- older stores: upgrade, read-only fallback --------------------------------------------------------


def _older(path: Path, n: int) -> list[bytes]:
    """A ledger of n entries as written before tiles existed: every tile deleted, the table dropped."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=5000, every_ms=None))
    for i in range(n):
        log.append("x", {"i": i}, t=i)
    log.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE tiles")
        leaves = [bytes(leaf) for (leaf,) in db.execute("SELECT leaf FROM entries ORDER BY seq")]
    return leaves


def test_a_writer_upgrades_a_store_without_tiles(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    leaves = _older(path, 70_000)
    reader = Log(SQLiteStore(path, readonly=True), readonly=True)
    assert isinstance(reader.tree, MerkleTree)  # read-only on an older store: the tree in memory
    assert reader.tree.root() == MerkleTree(leaves).root()
    reader.store.close()
    log = Log(SQLiteStore(path), SIGNER)
    assert isinstance(log.tree, StoredTree) and log.tree.root() == MerkleTree(leaves).root()
    log.close()
    store = SQLiteStore(path, readonly=True)
    assert read_edge(store, 70_000).covered
    builder = TileBuilder()
    builder.add(b"".join(leaves))
    expected = sorted([*builder.full, *builder.edge()])
    assert sorted(t for level in (1, 2) for t in store.tiles(level)) == expected
    assert audit_store(store, SIGNER.verifier).ok
    reader = Log(store, readonly=True)
    assert isinstance(reader.tree, StoredTree)  # now read-only opens the stored tree
    assert_same(reader.tree, MerkleTree(leaves), random.Random(3))
    store.close()


def test_an_upgrade_cut_short_is_done_again(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    leaves = _older(path, 66_000)
    SQLiteStore(path).close()  # creates the empty tiles table
    with sqlite3.connect(path) as db:  # some of the full tiles written, not the edge
        builder = TileBuilder()
        builder.add(b"".join(leaves))
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?)", builder.full[:100])
    store = SQLiteStore(path, readonly=True)
    assert not read_edge(store, 66_000).covered
    assert audit_store(store, SIGNER.verifier).ok  # what it has is right; the rest is for the next writer
    store.close()
    log = Log(SQLiteStore(path), SIGNER)
    assert log.tree.root() == MerkleTree(leaves).root()
    log.close()
    assert read_edge(SQLiteStore(path, readonly=True), 66_000).covered


def test_entries_appended_by_an_older_version_are_tiled_on_open(tmp_path: Path) -> None:
    """Tiles written at 300 entries, then entries appended without them: the edge is behind, so rebuilt."""
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), SIGNER)
    for i in range(300):
        log.append("x", {"i": i}, t=i)
    log.close()
    store = SQLiteStore(path)
    older = Log(store, SIGNER)
    for i in range(300, 1000):
        older.append("x", {"i": i}, t=i)
    rows, cps, _ = older.take_pending()
    store.commit(rows, cps)  # as an older version would: no tiles
    store.close()
    reader = SQLiteStore(path, readonly=True)
    assert not read_edge(reader, 1000).covered
    assert audit_store(reader, SIGNER.verifier).ok
    reader.close()
    log = Log(SQLiteStore(path), SIGNER)
    leaves = [leaf_of_row for leaf_of_row in SQLiteStore(path, readonly=True).leaf_hashes()]
    assert log.tree.root() == MerkleTree(leaves).root()
    log.close()


# -- the Log's commits carry the tiles ------------------------------------------------------------------


def test_take_pending_hands_the_tiles_to_the_committer(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    store = SQLiteStore(path)
    log = Log(store, SIGNER, policy=CheckpointPolicy(every_entries=100, every_ms=None))
    handed: list[Tile] = []
    for i in range(1000):
        log.append("x", {"i": i}, t=i)
        if i % 37 == 0:
            rows, cps, tiles = log.take_pending()
            handed += tiles
            store.commit(rows, cps, tiles)
            log.mark_durable(rows[-1].seq + 1)
    rows, cps, tiles = log.take_pending()
    store.commit(rows, cps, tiles)
    log.mark_durable(1000)
    handed += tiles
    # Tile 1/0 is handed each time it grows (at 256, 512, 768), as a partial tile of 1, 2, 3 hashes.
    assert [len(t.hashes) // 32 for t in handed] == [1, 2, 3]
    log.close()
    assert audit_store(SQLiteStore(path, readonly=True), SIGNER.verifier).ok


def test_a_failed_commit_keeps_the_tiles_for_the_next(tmp_path: Path) -> None:
    class Failing(MemoryStore):
        fail = True

        def commit(self, rows: Any, checkpoints: Any = (), tiles: Any = ()) -> None:
            if self.fail:
                raise OSError("disk full")
            super().commit(rows, checkpoints, tiles)

    store = Failing()
    log = Log(store, SIGNER)
    for i in range(300):
        log.append("x", {"i": i}, t=i)
    with pytest.raises(OSError):
        log.commit()
    store.fail = False
    log.commit()
    assert [t.idx for t in store.tiles(1)] == [0]
    assert audit_store(store, SIGNER.verifier).ok


# -- readers on other threads ---------------------------------------------------------------------------


def test_readers_on_another_thread_while_the_tree_grows(tmp_path: Path) -> None:
    grower = Grower(SQLiteStore(tmp_path / "t.db"))
    grower.grow(1000)
    ref = MerkleTree(grower.leaves)
    roots = {size: ref.root(size) for size in range(1, 1001)}
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        rnd = random.Random(5)
        try:
            while not done.is_set():
                size = rnd.randint(1, 1000)
                index = rnd.randrange(size)
                path = grower.tree.inclusion_proof(index, size)
                assert path == ref.inclusion_proof(index, size)
                assert grower.tree.root(size) == roots[size]
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(40):
        grower.grow(1000, commit=False)  # tiles completed, not durable: read from memory
        grower.commit()
    done.set()
    reader.join()
    assert not errors, errors[0]
    grower.store.close()
