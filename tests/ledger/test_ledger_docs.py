"""The worked examples in docs/formats.md match the code, and docs/auditor.md's independent verifier works.

(docs/auditor.md's transcripts are the demo ledger's: tests/cli/test_auditor_guide.py runs them.)
"""

# Run this file as a script to print every example afresh (to update the docs after a format change):
#     python tests/ledger/test_ledger_docs.py

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ledger import CheckpointPolicy, Log, SQLiteStore, leaf_hash
from ledger.checkpoint import encode_hashes
from ledger.note import Signer
from ledger.store.sqlite import SCHEMA

REPO = Path(__file__).resolve().parents[2]
FORMATS = REPO / "docs" / "formats.md"
AUDITOR = REPO / "docs" / "auditor.md"

EXAMPLE_NAME = "market.example/ledger"
EXAMPLE_SEED = bytes(range(32))  # a published example key: never use it for a real market
T0 = 1_795_219_200_000  # 2026-11-21T00:00:00Z in milliseconds
EXAMPLE_ENTRIES = [
    ("lot.listed", {"lot": "L-0001", "mode": "auction", "start_price": 10_000_000}, T0),
    ("deposit.paid", {"lot": "L-0001", "party": "B-0007", "amount": 500_000}, T0 + 60_000),
    ("bid.placed", {"lot": "L-0001", "party": "B-0007", "price": 10_500_000}, T0 + 120_000),
    ("bid.placed", {"lot": "L-0001", "party": "B-0012", "price": 11_000_000}, T0 + 125_500),
    ("lot.closed", {"lot": "L-0001", "winner": "B-0012", "price": 11_000_000}, T0 + 425_500),
]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def build_example(directory: Path) -> dict[str, str]:
    """Build the example ledger (checkpoints at 3 and 5 entries) and return every worked example."""
    signer = Signer(EXAMPLE_NAME, EXAMPLE_SEED)
    path = directory / "example.db"
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=3, every_ms=None))
    appended = [log.append(kind, body, t) for kind, body, t in EXAMPLE_ENTRIES]
    log.sign_checkpoint()
    log.commit()
    entry0 = appended[0].data
    cp3, cp5 = log.checkpoint(3).note, log.checkpoint(5).note
    pub = signer.public_key
    out = {
        "entry0_hex": entry0.hex(),
        "entry0_b64": b64(entry0),
        "entry0_leaf_hex": leaf_hash(entry0).hex(),
        "entry0_leaf_b64": b64(leaf_hash(entry0)),
        "entry1_prev_b64": b64(appended[0].leaf),
        "root5_b64": b64(log.tree.root()),
        "root3_b64": b64(log.tree.root(3)),
        "checkpoint3": cp3,
        "checkpoint5": cp5,
        "checkpoint5_text": cp5.split("\n\n")[0] + "\n",
        "vkey": signer.verifier.encode(),
        "skey": signer.encode(),
        "public_key_hex": pub.hex(),
        "key_id_input_hex": (EXAMPLE_NAME.encode() + b"\n\x01" + pub).hex(),
        "key_id_hex": hashlib.sha256(EXAMPLE_NAME.encode() + b"\n\x01" + pub).digest()[:4].hex(),
        "proof2": log.prove(2).text(),
        "consistency_3_5": encode_hashes(log.consistency(3, 5)),
        "export": "".join(b64(a.data) + "\n" for a in appended),
        "schema": SCHEMA.strip(),
    }
    log.close()
    return out


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return build_example(tmp_path_factory.mktemp("docs-example"))


def fenced_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"```[a-z]*\n(.*?)```", text, flags=re.S)]


@pytest.mark.parametrize(
    "name",
    [
        "entry0_hex",
        "entry0_b64",
        "entry0_leaf_hex",
        "entry0_leaf_b64",
        "entry1_prev_b64",
        "root3_b64",
        "root5_b64",
        "checkpoint5",
        "checkpoint5_text",
        "vkey",
        "skey",
        "public_key_hex",
        "key_id_input_hex",
        "key_id_hex",
        "proof2",
        "consistency_3_5",
        "export",
        "schema",
    ],
)
def test_formats_md_shows_what_the_code_produces(examples: dict[str, str], name: str) -> None:
    text = FORMATS.read_text(encoding="utf-8")
    value = examples[name]
    flat = re.sub(r"\s+", "", text)
    # Long hex strings are wrapped in the document; everything else appears verbatim.
    assert value in text or (name.endswith("_hex") and value in flat), f"docs/formats.md lacks the current {name}"


def test_auditor_md_has_the_placeholders() -> None:
    text = AUDITOR.read_text(encoding="utf-8")
    assert re.search(r"^## .*Certificates", text, flags=re.M)
    assert re.search(r"^## .*Replaying a session", text, flags=re.M)


def independent_verifier() -> str:
    """The standalone verifier from docs/auditor.md (the fenced block starting with its file name)."""
    for block in fenced_blocks(AUDITOR.read_text(encoding="utf-8")):
        if block.startswith("# verify_tlog_proof.py"):
            return block
    raise AssertionError("docs/auditor.md has no '# verify_tlog_proof.py' block")


def test_independent_verifier_uses_only_hashlib_and_cryptography() -> None:
    imports = set(re.findall(r"^(?:from|import) ([\w.]+)", independent_verifier(), flags=re.M))
    allowed = {
        "base64",
        "hashlib",
        "sys",
        "cryptography.exceptions",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
    }
    assert imports <= allowed, imports


def run_independent(tmp_path: Path, proof: str, entry_b64: str, vkey: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "verify_tlog_proof.py"
    script.write_text(independent_verifier(), encoding="utf-8")
    proof_file = tmp_path / "entry.tlog-proof"
    proof_file.write_text(proof, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), str(proof_file), entry_b64, vkey],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_independent_verifier_accepts_the_example(examples: dict[str, str], tmp_path: Path) -> None:
    entry2 = examples["export"].split("\n")[2]
    done = run_independent(tmp_path, examples["proof2"], entry2, examples["vkey"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"OK: entry 2 is in {EXAMPLE_NAME} at size 5"


@pytest.mark.parametrize("what", ["entry", "proof-hash", "index", "signature", "key"])
def test_independent_verifier_rejects_forgeries(examples: dict[str, str], tmp_path: Path, what: str) -> None:
    lines = examples["export"].split("\n")
    entry, proof, vkey = lines[2], examples["proof2"], examples["vkey"]
    if what == "entry":
        entry = lines[3]
    elif what == "proof-hash":
        first_hash = proof.split("\n")[2]
        proof = proof.replace(first_hash, b64(bytes(32)), 1)
    elif what == "index":
        proof = proof.replace("index 2\n", "index 3\n", 1)
    elif what == "signature":
        proof = proof.replace("\n5\n", "\n6\n", 1)
    else:
        vkey = Signer(EXAMPLE_NAME, bytes(range(1, 33))).verifier.encode()
    done = run_independent(tmp_path, proof, entry, vkey)
    assert done.returncode != 0
    assert done.stderr.startswith("FAILED") or "FAILED" in done.stderr, done.stderr


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        for key, value in build_example(Path(d)).items():
            print(f"==== {key}\n{value}")
