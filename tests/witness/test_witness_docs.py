"""docs/witness.md's examples are what the code produces (keys, signed message, cosignature, requests, schema)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from ledger.cosignature import CosignerVerifier, cosigned_message
from ledger.witness_state import _SCHEMA, FORMAT

from .witness_kit import COSIGNER, LOG_SIGNER, honest

DOC = Path(__file__).resolve().parents[2] / "docs" / "witness.md"
EXAMPLE_TIME = 1_750_000_000


def blocks() -> list[str]:
    """The fenced code blocks of the page, each with its final newline."""
    return [m.group(1) for m in re.finditer(r"```[a-z]*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)]


def test_the_example_keys() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"`{COSIGNER.verifier.encode()}`" in text
    assert f"`{LOG_SIGNER.verifier.encode()}`" in text
    assert COSIGNER.seed == bytes(range(0x64, 0x84)) and LOG_SIGNER.seed == bytes(range(32))  # as the page says
    assert f"key ID `{COSIGNER.key_id.hex()}`" in text


def test_the_signed_message_and_the_cosignature_line() -> None:
    found = blocks()
    body = honest().text(5)
    assert cosigned_message(EXAMPLE_TIME, body).decode() in found
    line = COSIGNER.cosign(body, EXAMPLE_TIME).line()
    assert line in found
    prefix = base64.b64decode("CdzwvQAAAABoTuGA")
    assert prefix == COSIGNER.key_id + EXAMPLE_TIME.to_bytes(8, "big")
    assert line.split(" ")[2].startswith("CdzwvQAAAABoTuGA")


def test_the_request_bodies() -> None:
    found = blocks()
    assert honest().body(0, 3).decode() in found
    assert honest().body(3, 5).decode() in found


def test_the_client_snippet_names_the_example_witness() -> None:
    snippet = next(b for b in blocks() if "submit_checkpoint" in b)
    vkey = re.search(r'CosignerVerifier\.parse\("([^"]+)"\)', snippet)
    assert vkey is not None and CosignerVerifier.parse(vkey.group(1)) == COSIGNER.verifier


def test_the_state_schema() -> None:
    sql = next(b for b in blocks() if "CREATE TABLE" in b)
    assert sql.strip() == _SCHEMA.strip()
    assert f"`{FORMAT}`" in DOC.read_text(encoding="utf-8")
