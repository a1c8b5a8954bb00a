"""cosignature/v1 against the C2SP texts (tlog-cosignature, signed-note) and public test vectors."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from ledger import Signer, Verifier, sign_note
from ledger.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureError,
    Cosigner,
    CosignerKeyTypeError,
    CosignerVerifier,
    cosigned_message,
    cosigner_key_id,
    generate_cosigner,
    verify_cosignatures,
)
from ledger.note import NoteError, key_id

from .witness_kit import COSIGNER, LOG_SIGNER, WITNESS_NAME, honest

# The example checkpoint of c2sp.org/tlog-checkpoint and tlog-cosignature (C2SP/C2SP, tlog-cosignature.md).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# tlog-cosignature.md's example cosignature line, and the signed message it shows for it ("time 1679315147").
SPEC_COSIGNATURE_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0"
    "xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()

# transparency-dev/formats, note/note_cosigv1_test.go (TestCoSigV1NewVerifier): a native type 0x04 verifier
# key, and an Ed25519 type 0x01 one (which NewVerifierForCosignatureV1 converts, with another key ID).
FORMATS_COSIGNER_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
FORMATS_ED25519_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
# Same file (TestCoSigV1Timestamp): a cosignature whose embedded timestamp is 1727964367.
FORMATS_SIGNATURE = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)


def test_key_id_is_sha256_of_name_newline_0x04_key() -> None:
    public = COSIGNER.public_key
    expected = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + public).digest()[:4]
    assert cosigner_key_id(WITNESS_NAME, public) == expected == COSIGNER.key_id == COSIGNER.verifier.key_id
    assert expected != key_id(WITNESS_NAME, public)  # the 0x01 note key ID of the same key differs


def test_public_vector_native_cosigner_key_round_trips() -> None:
    verifier = CosignerVerifier.parse(FORMATS_COSIGNER_VKEY)
    assert verifier.name == "remora.n621.de"
    assert verifier.key_id.hex() == "da77ade7"
    assert verifier.encode() == FORMATS_COSIGNER_VKEY


def test_public_vector_ed25519_key_is_not_a_cosigner_key_but_converts_with_another_id() -> None:
    with pytest.raises(CosignerKeyTypeError, match="type 0x01, not a cosignature/v1 key"):
        CosignerVerifier.parse(FORMATS_ED25519_VKEY)
    plain = Verifier.parse(FORMATS_ED25519_VKEY)
    converted = CosignerVerifier(plain.name, plain.public_key)
    assert plain.key_id.hex() == "7997405c" != converted.key_id.hex()
    assert CosignerVerifier.parse(converted.encode()) == converted
    assert base64.b64decode(converted.encode().split("+", 2)[2])[0] == 0x04


@pytest.mark.parametrize(
    "vkey, message",
    [
        ("remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "does not match the key"),
        ("remora.n621.de+DA77ADE7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "8 lower-case hex digits"),
        ("remora.n621.de+da77ade7", "name\\+hex8\\+base64"),
        ("remora.n621.de+da77ade7+THIS_IS_NOT_BASE64!", "not valid base64"),
        ("remora.n621.de+da77ade7+BOvN63jn", "not a cosignature/v1 key"),
        ("bad name+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "not a valid note key name"),
        ("PRIVATE+KEY+w+00000000+BA==", "signer key"),
    ],
)
def test_malformed_cosigner_keys_are_refused_saying_why(vkey: str, message: str) -> None:
    with pytest.raises(CosignatureError, match=message):
        CosignerVerifier.parse(vkey)


def test_timestamp_vectors() -> None:
    spec = Cosignature.parse_line(SPEC_COSIGNATURE_LINE)
    assert spec.name == "witness.example.com/w1"
    assert spec.timestamp == 1679315147  # the "time" line of the spec's example message
    assert cosigned_message(spec.timestamp, SPEC_BODY) == SPEC_MESSAGE
    assert Cosignature.parse_line(f"— remora.n621.de {FORMATS_SIGNATURE}").timestamp == 1727964367


def test_signed_message_is_header_time_line_then_the_whole_body() -> None:
    assert cosigned_message(0, SPEC_BODY) == b"cosignature/v1\ntime 0\n" + SPEC_BODY.encode()
    assert cosigned_message(MAX_TIMESTAMP, SPEC_BODY).startswith(b"cosignature/v1\ntime 9223372036854775807\n")
    with_extension = SPEC_BODY + "an extension line\n"
    assert cosigned_message(7, with_extension).endswith(
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nan extension line\n"
    )


@pytest.mark.parametrize("bad", [-1, MAX_TIMESTAMP + 1, True, "5"])
def test_timestamps_outside_u63_are_refused(bad: object) -> None:
    with pytest.raises(CosignatureError, match="not an integer from 0 to 2\\^63-1"):
        cosigned_message(bad, SPEC_BODY)  # type: ignore[arg-type]


def test_only_checkpoints_are_cosigned() -> None:
    with pytest.raises(CosignatureError, match="not a checkpoint"):
        COSIGNER.cosign("just one line\n", 5)


def test_timestamp_beyond_2_63_in_a_line_is_refused() -> None:
    raw = COSIGNER.key_id + (1 << 63).to_bytes(8, "big") + bytes(64)
    with pytest.raises(CosignatureError, match="beyond 2\\^63-1"):
        Cosignature.parse_line(f"— {WITNESS_NAME} {base64.b64encode(raw).decode()}")


def test_line_format_and_an_independent_ed25519_check() -> None:
    body = honest().text(7)
    cosignature = COSIGNER.cosign(body, 1_700_000_123)
    line = cosignature.line()
    assert re.fullmatch(r"— witness\.example/w1 [A-Za-z0-9+/]+=*\n", line)
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == COSIGNER.key_id
    assert int.from_bytes(raw[4:12], "big") == 1_700_000_123
    message = b"cosignature/v1\ntime 1700000123\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(COSIGNER.public_key).verify(raw[12:], message)  # raises if wrong
    assert Cosignature.parse_line(line) == cosignature


def test_verify_finds_the_cosignature_and_ignores_other_keys() -> None:
    note = honest().note(7)
    text = honest().text(7)
    other = Cosigner("witness.example/w2", bytes(range(50, 82)))
    cosigned = note + COSIGNER.cosign(text, 10).line() + other.cosign(text, 11).line()
    found = verify_cosignatures(cosigned, [COSIGNER.verifier])
    assert [(c.name, c.timestamp) for c in found] == [(WITNESS_NAME, 10)]
    both = verify_cosignatures(cosigned, [other.verifier, COSIGNER.verifier])
    assert [c.timestamp for c in both] == [10, 11]
    assert verify_cosignatures(note, [COSIGNER.verifier]) == []  # the log's own signature is not a cosignature


@pytest.mark.parametrize("change", ["body", "timestamp", "signature", "extension"])
def test_a_changed_byte_fails_verification(change: str) -> None:
    text = honest().text(9)
    good = COSIGNER.cosign(text, 1000)
    if change == "body":
        text = honest().text(10)
    elif change == "extension":
        text = text + "extension\n"
    elif change == "timestamp":
        good = Cosignature(good.name, good.key_id, 1001, good.signature)
    else:
        good = Cosignature(good.name, good.key_id, good.timestamp, bytes([good.signature[0] ^ 1]) + good.signature[1:])
    with pytest.raises(CosignatureError, match="does not verify"):
        COSIGNER.verifier.verify(text, good)
    note = sign_note(text, LOG_SIGNER) + good.line()
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(note, [COSIGNER.verifier])


def test_two_cosignatures_by_one_key_are_refused() -> None:
    text = honest().text(3)
    note = honest().note(3) + COSIGNER.cosign(text, 1).line() + COSIGNER.cosign(text, 2).line()
    with pytest.raises(CosignatureError, match=r"two cosignatures by witness\.example/w1"):
        verify_cosignatures(note, [COSIGNER.verifier])


def test_a_log_signature_is_not_accepted_as_a_cosignature() -> None:
    """The log's 0x01 signature and a cosignature by the same key have different key IDs: never confused."""
    as_cosigner = Cosigner(LOG_SIGNER.name, LOG_SIGNER.seed)
    assert verify_cosignatures(honest().note(3), [as_cosigner.verifier]) == []


def test_signer_key_encoding_round_trips_and_is_not_a_log_key() -> None:
    text = COSIGNER.encode()
    assert text.startswith(f"PRIVATE+KEY+{WITNESS_NAME}+{COSIGNER.key_id.hex()}+")
    assert base64.b64decode(text.split("+", 4)[4])[0] == 0x04
    again = Cosigner.parse(text + "\n")
    assert again.public_key == COSIGNER.public_key and again.key_id == COSIGNER.key_id
    with pytest.raises(NoteError, match="not an Ed25519 key"):
        Signer.parse(text)  # a witness key cannot be given to `serve --key` by mistake


def test_a_plain_ed25519_signer_key_can_cosign_under_its_0x04_key_id() -> None:
    plain = Signer(WITNESS_NAME, COSIGNER.seed).encode()
    cosigner = Cosigner.parse(plain)
    assert cosigner.key_id == COSIGNER.key_id


@pytest.mark.parametrize(
    "skey, message",
    [
        ("KEY+w+00000000+BA==", "must be PRIVATE\\+KEY"),
        (COSIGNER.encode().replace(COSIGNER.key_id.hex(), "00000000"), "does not match the key"),
        ("PRIVATE+KEY+w+00000000+BQ==", "not an Ed25519 key"),
    ],
)
def test_malformed_signer_keys_are_refused(skey: str, message: str) -> None:
    with pytest.raises(CosignatureError, match=message):
        Cosigner.parse(skey)


def test_generated_cosigners_differ_and_names_are_checked() -> None:
    assert generate_cosigner("w.example/a").public_key != generate_cosigner("w.example/a").public_key
    with pytest.raises(CosignatureError, match="not a valid note key name"):
        generate_cosigner("has+plus")


@given(timestamp=st.integers(0, MAX_TIMESTAMP), size=st.integers(0, 40))
def test_every_cosignature_verifies_and_carries_its_timestamp(timestamp: int, size: int) -> None:
    text = honest().text(size)
    cosignature = COSIGNER.cosign(text, timestamp)
    parsed = Cosignature.parse_line(cosignature.line())
    assert parsed.timestamp == timestamp
    COSIGNER.verifier.verify(text, parsed)
    assert cosigned_message(timestamp, text) == f"cosignature/v1\ntime {timestamp}\n{text}".encode()
