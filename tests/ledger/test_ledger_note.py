"""C2SP signed notes and Ed25519 note keys: the public Go vector byte for byte, key encodings, and note verification."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ledger import NoteError, Signer, Verifier, generate_signer, open_note, sign_note
from ledger.note import key_id, split_note


@pytest.fixture(scope="module")
def vector(shared_dir: Path) -> dict[str, Any]:
    path = shared_dir / "testvectors" / "note" / "ed25519-note.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the public note vector lives in shared/, beside the checkout")
    return json.loads(path.read_text(encoding="utf-8"))


def test_vector_signer_key_parses_and_gives_the_verifier_key(vector: dict[str, Any]) -> None:
    signer = Signer.parse(vector["signer_key"])
    assert signer.name == "PeterNeumann"
    assert signer.encode() == vector["signer_key"]
    assert signer.verifier.encode() == vector["verifier_key"]
    assert Verifier.parse(vector["verifier_key"]) == signer.verifier


def test_vector_signing_reproduces_the_signed_note(vector: dict[str, Any]) -> None:
    signer = Signer.parse(vector["signer_key"])
    assert sign_note(vector["text"], signer) == vector["signed_note"]


def test_vector_note_opens(vector: dict[str, Any]) -> None:
    opened = open_note(vector["signed_note"], Verifier.parse(vector["verifier_key"]))
    assert opened.text == vector["text"]
    assert [s.name for s in opened.signatures] == ["PeterNeumann"]
    assert opened.unverified == ()


def test_vector_bad_verifier_keys_are_rejected(vector: dict[str, Any]) -> None:
    assert vector["bad_verifier_keys"]
    for bad in vector["bad_verifier_keys"]:
        with pytest.raises(NoteError):
            Verifier.parse(bad)


def test_key_id_is_sha256_of_name_newline_alg_key(vector: dict[str, Any]) -> None:
    verifier = Verifier.parse(vector["verifier_key"])
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + verifier.public_key).digest()[:4]
    assert verifier.key_id == expected == key_id("PeterNeumann", verifier.public_key)
    assert vector["verifier_key"].split("+")[1] == expected.hex()


def test_unknown_extra_signatures_still_verify(vector: dict[str, Any]) -> None:
    market = Signer.parse(vector["signer_key"])
    witness = Signer("witness.example", bytes(range(32)))
    stranger = Signer("PeterNeumann", bytes(range(1, 33)))  # same name, other key: just another unknown signer
    note = sign_note(vector["text"], witness, market, stranger)
    opened = open_note(note, market.verifier)
    assert [s.name for s in opened.signatures] == ["PeterNeumann"]
    assert {s.key_id for s in opened.unverified} == {witness.key_id, stranger.key_id}
    both = open_note(note, market.verifier, witness.verifier)
    assert len(both.signatures) == 2


def test_note_without_a_known_signature_fails(vector: dict[str, Any]) -> None:
    witness = Signer("witness.example", bytes(range(32)))
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(sign_note(vector["text"], witness), Verifier.parse(vector["verifier_key"]))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("answer", "Answer", 1),  # text changed
        lambda n: n.replace("SffcvIAQ", "SffcvIAR", 1),  # signature changed
    ],
    ids=["text", "signature"],
)
def test_tampered_note_fails(vector: dict[str, Any], mutate: Any) -> None:
    with pytest.raises(NoteError, match="does not verify"):
        open_note(mutate(vector["signed_note"]), Verifier.parse(vector["verifier_key"]))


def test_repeated_signature_by_one_key_is_rejected(vector: dict[str, Any]) -> None:
    note = vector["signed_note"]
    sig_line = note[note.rindex("\u2014") :]
    with pytest.raises(NoteError, match="two signatures by the same key"):
        open_note(note + sig_line, Verifier.parse(vector["verifier_key"]))


@pytest.mark.parametrize(
    ("signed", "message"),
    [
        ("hello\n", "no blank line"),
        ("hello\n\n— k AAAA", "must end with a newline"),
        ("hello\n\n- k AAAAAAAA\n", "does not start with"),
        ("hello\n\n— k\n", "is not '— name base64'"),
        ("hello\n\n— k a b\n", "is not '— name base64'"),
        ("hello\n\n— k !!!!\n", "not valid base64"),
        ("hello\n\n— k AAAA\n", "too short"),
        ("hel\x01lo\n\n— k AAAAAAA=\n", "control character"),
    ],
)
def test_malformed_notes(signed: str, message: str) -> None:
    verifier = Signer("k", bytes(32)).verifier
    with pytest.raises(NoteError, match=message):
        open_note(signed, verifier)


def test_too_many_signatures() -> None:
    line = "— k " + base64.b64encode(bytes(68)).decode() + "\n"
    with pytest.raises(NoteError, match="more than 100"):
        split_note("hello\n\n" + line * 101)


def test_sign_note_requires_a_final_newline() -> None:
    with pytest.raises(NoteError, match="end with a newline"):
        sign_note("no newline", Signer("k", bytes(32)))


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("justaname", "name\\+hex8\\+base64"),
        ("bad name+00000000+AQ==", "not a valid note key name"),
        ("name+0000000+AQ==", "8 lower-case hex"),
        ("name+ABCDEF01+AQ==", "8 lower-case hex"),
        ("name+00000000+!!", "not valid base64"),
        ("name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(), "not an Ed25519 key"),
        ("name+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "not an Ed25519 key"),
        ("name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "does not match the key"),
    ],
)
def test_bad_verifier_keys(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Verifier.parse(vkey)


@pytest.mark.parametrize(
    ("skey", "message"),
    [
        ("PRIVATE+KEY+name+00000000", "PRIVATE\\+KEY\\+name\\+hex8\\+base64"),
        ("PUBLIC+KEY+name+00000000+AQ==", "PRIVATE\\+KEY"),
        ("PRIVATE+KEY+name+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "not an Ed25519 key"),
        ("PRIVATE+KEY+name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "does not match"),
        ("PRIVATE+KEY+a b+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "not a valid note key name"),
    ],
)
def test_bad_signer_keys(skey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Signer.parse(skey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteError):
        Signer(name, bytes(32))


def test_generated_keys_round_trip() -> None:
    signer = generate_signer("market.example")
    again = Signer.parse(signer.encode())
    assert again.public_key == signer.public_key and again.seed == signer.seed
    assert Verifier.parse(signer.verifier.encode()) == signer.verifier
    assert generate_signer("market.example").seed != signer.seed
    note = sign_note("text\n", signer)
    assert open_note(note, again.verifier).text == "text\n"
