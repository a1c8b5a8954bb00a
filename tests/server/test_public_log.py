"""The public log over HTTP: a monitor checks everything with nothing but the market's verifier key."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import pytest

from auction_engine.server.public_log import TileError, encode_index, parse_tile_path
from ledger import Verifier, canonical, verify_signed_checkpoint
from ledger.checkpoint import TlogProof
from ledger.merkle import MerkleTree, verify_consistency

from .conftest import Market, english


def _fill(m: Market, bids: int) -> None:
    """Bids from two alternating bidders: bids + a handful of entries in all."""
    m.admit("acme", "bolt")
    m.open_lot("L1", params=english(leader_may_raise=True), deposits={"acme": 1000, "bolt": 1000})
    for i in range(bids):
        m.ok("/api/lots/L1/bids", {"amount": 10_000 + 100 * i}, who=("acme", "bolt")[i % 2])


def _settled(m: Market) -> bool:
    info = m.client.get("/api/market").json()
    return bool(info["checkpoint_size"] == info["entries"])


def _checkpoint(m: Market, at_least: int) -> tuple[Any, Verifier]:
    """The latest signed checkpoint once it covers the whole (quiet) log, verified with the key."""
    vkey = Verifier.parse(m.client.get("/api/log/vkey").text.strip())
    m.wait_for(
        lambda: m.client.get("/api/log/checkpoint").json().get("size", 0) >= at_least and _settled(m),
        what="a checkpoint covering the log",
    )
    note = m.client.get("/log/checkpoint").text
    cp, _ = verify_signed_checkpoint(note, vkey, vkey.name)
    return cp, vkey


def test_tile_paths() -> None:
    assert encode_index(0) == "000"
    assert encode_index(1234067) == "x001/x234/067"
    assert parse_tile_path("0/x001/x234/067") == ("0", 1234067, None)
    assert parse_tile_path("1/005.p/17") == ("1", 5, 17)
    assert parse_tile_path("entries/000.p/3") == ("entries", 0, 3)
    for bad in ("0", "0/5", "0/x000/005", "0/005.p/0", "0/005.p/256", "64/000", "01/000", "0/005.p/07", "x/000"):
        with pytest.raises(TileError):
            parse_tile_path(bad)


def test_checkpoint_tiles_and_entry_bundles_rebuild_the_root(market: Market) -> None:
    m = market
    _fill(m, 600)
    cp, _ = _checkpoint(m, 512)
    size = cp.size
    # level-0 tiles: every leaf hash, in full tiles of 256 and a partial last one
    leaves = b""
    for n in range(size // 256):
        r = m.client.get(f"/log/tile/0/{encode_index(n)}")
        assert r.status_code == 200 and len(r.content) == 256 * 32
        assert "immutable" in r.headers["cache-control"]
        leaves += r.content
    rest = size % 256
    if rest:
        r = m.client.get(f"/log/tile/0/{encode_index(size // 256)}.p/{rest}")
        assert r.status_code == 200 and len(r.content) == rest * 32
        leaves += r.content
        assert m.client.get(f"/log/tile/0/{encode_index(size // 256)}").status_code == 404  # not full yet
        assert m.client.get(f"/log/tile/0/{encode_index(size // 256)}.p/{rest + 1}").status_code == 404
    tree = MerkleTree(leaves[i : i + 32] for i in range(0, len(leaves), 32))
    assert tree.size == size and tree.root() == cp.root
    # level-1 tile: the roots of each complete 256-leaf subtree
    r = m.client.get(f"/log/tile/1/000.p/{size // 256}")
    assert r.status_code == 200
    for k in range(size // 256):
        sub = MerkleTree(leaves[i : i + 32] for i in range(k * 256 * 32, (k + 1) * 256 * 32, 32))
        assert r.content[k * 32 : (k + 1) * 32] == sub.root()
    # entry bundles: uint16 length-prefixed canonical entries whose hashes are the leaves
    r = m.client.get("/log/tile/entries/000")  # the public: hash tiles only
    assert r.status_code == 401 and r.json()["code"] == "auditors_only", r.text
    assert r.headers["www-authenticate"] == "Bearer"
    bidder = m.client.get("/log/tile/entries/000", headers=m.auth("acme"))
    assert bidder.status_code == 403 and bidder.json()["code"] == "forbidden"
    unknown = m.client.get("/log/tile/entries/000", headers={"Authorization": "Bearer au_nobody"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "unauthenticated"
    r = m.client.get("/log/tile/entries/000", headers=m.auditor)
    assert r.status_code == 200
    data, at, seq = r.content, 0, 0
    while at < len(data):
        (n,) = struct.unpack(">H", data[at : at + 2])
        entry = data[at + 2 : at + 2 + n]
        assert hashlib.sha256(b"\x00" + entry).digest() == leaves[seq * 32 : (seq + 1) * 32]
        assert canonical.decode(entry)["seq"] == seq
        at, seq = at + 2 + n, seq + 1
    assert seq == 256
    assert m.client.get("/log/tile/entries/x999/999", headers=m.auditor).status_code == 404
    assert m.client.get("/log/tile/0/abc").json()["code"] == "bad_tile_path"


def test_entries_inclusion_and_consistency_proofs(market: Market) -> None:
    m = market
    _fill(m, 40)
    first, vkey = _checkpoint(m, 10)
    _fill_more = [
        m.ok("/api/lots/L1/bids", {"amount": 20_000 + 100 * i}, who=("acme", "bolt")[i % 2]) for i in range(30)
    ]
    assert _fill_more
    second, _ = _checkpoint(m, first.size + 30)
    # entries, decoded, and their leaf hashes
    page = m.client.get("/api/log/entries", params={"start": 0, "limit": 5}, headers=m.auditor).json()
    assert page["size"] == second.size and page["audience"] == "auditor"
    assert [e["seq"] for e in page["entries"]] == [0, 1, 2, 3, 4]
    raw = base64.b64decode(page["entries"][1]["data"])
    assert hashlib.sha256(b"\x00" + raw).hexdigest() == page["entries"][1]["leaf"]
    assert page["entries"][0]["entry"]["kind"] == "open_market"
    one = m.client.get("/api/log/entries/3", headers=m.auditor).json()
    assert one["seq"] == 3 and one["entry"]["seq"] == 3
    assert m.client.get(f"/api/log/entries/{second.size + 1000}").status_code == 404
    # inclusion: a tlog-proof@v1 verified with the key alone
    for seq in (0, 7, second.size - 1):
        text = m.client.get(f"/api/log/proof/{seq}").text
        proof = TlogProof.parse(text)
        data = base64.b64decode(m.client.get(f"/api/log/entries/{seq}", headers=m.op).json()["data"])
        verified = proof.verify(hashlib.sha256(b"\x00" + data).digest(), vkey, vkey.name)
        assert verified.size >= second.size
    assert m.client.get(f"/api/log/proof/{10**6}").status_code == 404
    # consistency: the second checkpoint extends the first
    r = m.client.get("/api/log/consistency", params={"old": first.size, "new": second.size}).json()
    verify_consistency(first.size, second.size, [base64.b64decode(h) for h in r["proof"]], first.root, second.root)
    bad = m.client.get("/api/log/consistency", params={"old": second.size + 5, "new": second.size})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_sizes"
    assert m.client.get("/api/log/consistency", params={"old": 0}).status_code == 422
