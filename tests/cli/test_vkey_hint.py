"""`verify` and `ledger verify` given the signer key file instead of the verifier key: say so, and where to get it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore

SIGNER = Signer("market.example.cn", bytes(range(32)))
HINT = "holds a signer key (PRIVATE+KEY+…, the market's secret), not a verifier key"
WHERE = "`auction-engine keygen` printed it, and a running server publishes it at /api/log/vkey"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "market.key"
    key.write_text(SIGNER.encode() + "\n")
    db = tmp_path / "ledger.db"
    log = Log(SQLiteStore(db), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    log.append("test.entry", {"n": 1}, t=1)
    log.sign_checkpoint()
    log.close()
    return key, db


def _refused(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert HINT in result.output and WHERE in result.output
    assert SIGNER.encode().split("+")[-1] not in result.output  # the secret itself is never shown
    assert "8 lower-case hex digits" not in result.output
    return result.output


def test_ledger_verify_with_the_signer_file(files: tuple[Path, Path]) -> None:
    key, db = files
    out = _refused(["ledger", "verify", str(db), "--vkey", str(key)])
    assert f"the file {str(key)!r}" in out


def test_certificate_verify_with_the_signer_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    key, _ = files
    cert = tmp_path / "deal.cert.json"
    cert.write_text("{}")
    _refused(["verify", str(cert), "--vkey", str(key)])


def test_the_signer_key_given_inline(files: tuple[Path, Path]) -> None:
    _, db = files
    out = _refused(["ledger", "verify", str(db), "--vkey", SIGNER.encode()])
    assert "the key given" in out


def test_the_verifier_key_still_works(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, db = files
    vkey = tmp_path / "market.vkey"
    vkey.write_text(SIGNER.verifier.encode() + "\n")
    result = CliRunner().invoke(main, ["ledger", "verify", str(db), "--vkey", str(vkey)])
    assert result.exit_code == 0, result.output
