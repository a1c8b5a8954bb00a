"""C2SP tlog-checkpoint texts and tlog-proof@v1 files: formatting, strict parsing and verification."""

from __future__ import annotations

import base64
import re

import pytest

from ledger import Checkpoint, CheckpointError, MerkleTree, Signer, TlogProof, leaf_hash, sign_note
from ledger.checkpoint import encode_hashes, verify_signed_checkpoint

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_the_largest_size_is_2_to_the_64_minus_1() -> None:
    cp = Checkpoint("market.example", 2**64 - 1, ROOT)
    assert Checkpoint.parse(cp.text()).size == 2**64 - 1


def test_checkpoint_text_round_trip() -> None:
    cp = Checkpoint("market.example", 42, ROOT)
    assert cp.text() == f"market.example\n42\n{ROOT_B64}\n"
    assert Checkpoint.parse(cp.text()) == cp
    with_ext = Checkpoint("market.example", 0, ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(with_ext.text()) == with_ext


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"o\n1\n{ROOT_B64}", "end with a newline"),
        ("o\n1\n", "needs origin, size and root"),
        (f"\n1\n{ROOT_B64}\n", "line 1 \\(origin\\) is empty"),
        (f"o\n01\n{ROOT_B64}\n", "line 2 \\(size\\)"),
        (f"o\n-1\n{ROOT_B64}\n", "line 2 \\(size\\)"),
        (f"o\n+1\n{ROOT_B64}\n", "line 2 \\(size\\)"),
        (f"o\n１\n{ROOT_B64}\n", "line 2 \\(size\\)"),  # a full-width digit
        ("o\n1\nnot base64!\n", "line 3 \\(root\\) is not valid base64"),
        (f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n", "31 bytes, not 32"),
        (f"o\n1\n{ROOT_B64}\n\n", "line 4 \\(extension\\) is empty"),
        (f"o\n{2**64}\n{ROOT_B64}\n", "line 2 \\(size\\) 18446744073709551616 is larger than 2\\^64 - 1"),
        (f"o\n{'9' * 5000}\n{ROOT_B64}\n", "line 2 \\(size\\) 9{24}… \\(5000 digits\\) is larger than 2\\^64"),
        (f"o\n{'x' * 5000}\n{ROOT_B64}\n", "line 2 \\(size\\) 'x{24}'… \\(5000 characters\\) is not a decimal"),
    ],
)
def test_checkpoint_parse_errors(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.parse(text)


def test_signed_checkpoint_checks_origin_and_key() -> None:
    market = Signer("market.example", bytes(32))
    note = sign_note(Checkpoint("market.example", 3, ROOT).text(), market)
    cp, opened = verify_signed_checkpoint(note, market.verifier, "market.example")
    assert cp.size == 3 and opened.signatures[0].name == "market.example"
    with pytest.raises(CheckpointError, match=re.escape("origin 'market.example' is not the expected 'other'")):
        verify_signed_checkpoint(note, market.verifier, "other")
    other = Signer("market.example", bytes(range(32)))
    with pytest.raises(ValueError, match="no signature by a known key"):
        verify_signed_checkpoint(note, other.verifier)


@pytest.fixture
def proof_case() -> tuple[Signer, MerkleTree, list[bytes], str]:
    market = Signer("market.example", bytes(32))
    data = [f"entry {i}".encode() for i in range(11)]
    tree = MerkleTree(leaf_hash(d) for d in data)
    note = sign_note(Checkpoint("market.example", 11, tree.root()).text(), market)
    return market, tree, data, note


def test_tlog_proof_text_and_round_trip(proof_case: tuple[Signer, MerkleTree, list[bytes], str]) -> None:
    market, tree, data, note = proof_case
    proof = TlogProof(4, tuple(tree.inclusion_proof(4)), note)
    text = proof.text()
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "index 4"
    assert lines[2 : 2 + len(proof.proof)] == [base64.b64encode(h).decode() for h in proof.proof]
    assert text.endswith("\n\n" + note)
    assert TlogProof.parse(text) == proof
    assert proof.verify(leaf_hash(data[4]), market.verifier, "market.example").size == 11
    with_extra = TlogProof(4, proof.proof, note, extra=b"\x00extra")
    assert with_extra.text().split("\n")[1] == "extra " + base64.b64encode(b"\x00extra").decode()
    assert TlogProof.parse(with_extra.text()) == with_extra


def test_tlog_proof_verification_failures(proof_case: tuple[Signer, MerkleTree, list[bytes], str]) -> None:
    market, tree, data, note = proof_case
    proof = TlogProof(4, tuple(tree.inclusion_proof(4)), note)
    with pytest.raises(CheckpointError, match="inclusion proof"):
        proof.verify(leaf_hash(data[5]), market.verifier)
    with pytest.raises(CheckpointError, match="inclusion proof"):
        TlogProof(5, proof.proof, note).verify(leaf_hash(data[4]), market.verifier)
    with pytest.raises(CheckpointError, match="checkpoint signature"):
        proof.verify(leaf_hash(data[4]), Signer("market.example", bytes(range(32))).verifier)
    with pytest.raises(CheckpointError, match="not the expected"):
        proof.verify(leaf_hash(data[4]), market.verifier, origin="elsewhere")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c2sp.org/tlog-proof@v1\nindex 0\n", "no blank line"),
        ("c2sp.org/tlog-proof@v2\nindex 0\n\nx", "line 1 must be"),
        ("c2sp.org/tlog-proof@v1\nindx 0\n\nx", "line 2 must be 'index N'"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nx", "line 2 \\(extra\\) is not valid base64"),
        ("c2sp.org/tlog-proof@v1\nextra AA==\n\nx", "line 3 must be 'index N'"),
        ("c2sp.org/tlog-proof@v1\nindex 007\n\nx", "line 2 \\(index\\)"),
        (f"c2sp.org/tlog-proof@v1\nindex {'1' * 5000}\n\nx", "line 2 \\(index\\) 1{24}… \\(5000 digits\\) is larger"),
        ("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx", "line 3 \\(hash\\) is 3 bytes"),
        (f"c2sp.org/tlog-proof@v1\nindex 1\n{ROOT_B64}\n!\n\nx", "line 4 \\(hash\\) is not valid base64"),
    ],
)
def test_tlog_proof_parse_errors(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        TlogProof.parse(text)


def test_encode_hashes_is_one_base64_hash_per_line() -> None:
    assert encode_hashes([ROOT, bytes(32)]) == f"{ROOT_B64}\n{base64.b64encode(bytes(32)).decode()}\n"
    assert encode_hashes([]) == ""
