"""The tree in storage on PostgreSQL (a throwaway server, started by the fixtures of tests/store/conftest.py)."""

from __future__ import annotations

import random

from ledger import CheckpointPolicy, Log, MerkleTree, Signer, audit_store
from ledger.store import PostgresStore
from ledger.stored_tree import StoredTree
from ledger.tiles import read_edge
from tests.store.conftest import PgCluster, pg_url, postgres_server  # noqa: F401 - fixtures used below

SIGNER = Signer("tiles-pg.test.example", bytes(range(32)))


def test_the_tree_in_postgres(pg_url: str, postgres_server: PgCluster) -> None:  # noqa: F811
    log = Log(PostgresStore(pg_url), SIGNER, policy=CheckpointPolicy(every_entries=5000, every_ms=None))
    for i in range(66_000):
        log.append("x", {"i": i}, t=i)
        if i % 3000 == 0:
            log.commit()
    log.close()
    store = PostgresStore(pg_url, readonly=True)
    leaves = list(store.leaf_hashes())
    ref = MerkleTree(leaves)
    assert read_edge(store, 66_000).covered
    reader = Log(store, readonly=True)
    assert isinstance(reader.tree, StoredTree)
    rnd = random.Random(1)
    for _ in range(50):
        size = rnd.randint(1, 66_000)
        index = rnd.randrange(size)
        assert reader.tree.inclusion_proof(index, size) == ref.inclusion_proof(index, size)
        old = rnd.randint(1, size)
        assert reader.tree.consistency_proof(old, size) == ref.consistency_proof(old, size)
        assert reader.tree.root(size) == ref.root(size)
    assert audit_store(store, SIGNER.verifier).ok
    # An older database: no tiles table. Read-only, the tree is built in memory; a writer builds the tiles.
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    postgres_server.sql(f"DROP TABLE {schema}.tiles")
    old_reader = Log(PostgresStore(pg_url, readonly=True), readonly=True)
    assert isinstance(old_reader.tree, MerkleTree) and old_reader.tree.root() == ref.root()
    assert audit_store(old_reader.store, SIGNER.verifier).ok
    writer = Log(PostgresStore(pg_url), SIGNER)
    assert isinstance(writer.tree, StoredTree) and writer.tree.root() == ref.root()
    writer.close()
    tiles = postgres_server.sql(f"SELECT level, idx, length(hashes) FROM {schema}.tiles ORDER BY level, idx")
    assert tiles == [(1, 0, 8192), (1, 1, 1 * 32), (2, 0, 32)]
    # Cutting the stored tiles (as a repair of the tail does).
    cutter = PostgresStore(pg_url)
    cutter.cut_tiles(65_600)
    tiles = postgres_server.sql(f"SELECT level, idx, length(hashes) FROM {schema}.tiles ORDER BY level, idx")
    assert tiles == [(1, 0, 8192), (2, 0, 32)]
    cutter.cut_tiles(300)
    tiles = postgres_server.sql(f"SELECT level, idx, length(hashes) FROM {schema}.tiles ORDER BY level, idx")
    assert tiles == [(1, 0, 32)]
    cutter.close()
    store.close()
    old_reader.store.close()
