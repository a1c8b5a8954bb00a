"""A certificate that repeats a key is invalid (issue 13): json keeps the last copy, a person or a
first-occurrence reader sees the first, so a forged first `deal`, `code`, `entry` or `tlog_proof` with the
genuine one last used to verify as VALID while showing the forgery. Now `verify` fails it (exit 1,
reason `duplicate_key`) naming the key and its path, on the single pass and the reference alike (on the
ledger kernels the session runs; `make test` runs these tests again with LEDGER_PURE_PYTHON=1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auction_engine import certificates
from auction_engine.certificates import dumps, verification, verify
from auction_engine.cli import main

from .market import SIGNER, Built

VKEY = SIGNER.verifier.encode()


def with_first(cert: dict[str, Any], key: str, forged: Any, *, file_form: bool = False) -> bytes:
    """The certificate's text with `"key": forged` written before all its fields (the genuine one stays later)."""
    text = dumps(cert) if file_form else json.dumps(cert, ensure_ascii=False)
    assert text.startswith("{") and f'"{key}"' in text
    return ("{" + json.dumps(key) + ": " + json.dumps(forged, ensure_ascii=False) + ", " + text[1:]).encode()


def verdicts(raw: bytes, monkeypatch: pytest.MonkeyPatch, **options: Any) -> list[certificates.Verdict]:
    """`verify` as it runs, and the reference checks alone (the single pass switched off)."""
    fast = verify(raw, SIGNER.verifier, **options)
    with monkeypatch.context() as m:
        m.setattr(verification, "verify_clean", lambda *a: None)
        reference = verify(raw, SIGNER.verifier, **options)
    return [fast, reference]


@pytest.mark.parametrize("key", ["deal", "code", "entry", "tlog_proof"])
@pytest.mark.parametrize("file_form", [False, True])
def test_a_forged_first_copy_with_the_genuine_last_is_invalid(
    market: Built, key: str, file_form: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, other = market.cert("L1"), market.cert("L2")
    forged = other[key]  # another deal's own, genuine-looking value
    assert forged != cert[key]
    raw = with_first(cert, key, forged, file_form=file_form)
    assert json.loads(raw)[key] == cert[key]  # what json alone sees: the genuine copy (it used to verify)
    assert json.loads(dumps(cert)) == cert and verify(dumps(cert).encode(), SIGNER.verifier).ok
    expected = f"duplicate key {key!r} at {key}: a reader keeping the first copy would see another certificate"
    for verdict in verdicts(raw, monkeypatch) + verdicts(raw, monkeypatch, replay=True):
        assert (verdict.ok, verdict.reason, verdict.exit_code, verdict.message) == (
            False,
            "duplicate_key",
            1,
            expected,
        )
        assert verdict.status == "INVALID" and verdict.checks == []

    path = tmp_path / "forged.cert.json"
    path.write_bytes(raw)
    result = CliRunner().invoke(main, ["verify", str(path), "--vkey", VKEY])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"certificate {path}: INVALID" in result.output
    assert f"FAIL [duplicate_key] duplicate key {key!r} at {key}:" in result.output
    result = CliRunner().invoke(main, ["verify", str(path), "--vkey", VKEY, "--json", "--replay"])
    out = json.loads(result.output)
    assert result.exit_code == 1 and (out["reason"], out["exit_code"], out["ok"]) == ("duplicate_key", 1, False)


def test_the_genuine_copy_first_and_a_forged_one_last_is_invalid_for_the_same_reason(
    market: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = market.cert("L1")
    text = json.dumps(cert)
    raw = (text[:-1] + ', "deal": ' + json.dumps(market.cert("L2")["deal"]) + "}").encode()
    for verdict in verdicts(raw, monkeypatch):
        assert (verdict.reason, verdict.exit_code) == ("duplicate_key", 1)
        assert verdict.message is not None and verdict.message.startswith("duplicate key 'deal' at deal:")


@pytest.mark.parametrize(
    ("where", "path"),
    [("deal", "deal.price_fen"), ("records", "records.code.index"), ("transcript", "transcript[0].proof")],
)
def test_a_key_repeated_deeper_is_named_with_its_path(
    market: Built, where: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = market.cert("L1")
    text = json.dumps(cert)
    key = path.rsplit(".", 1)[1]
    # The repeated key goes first in the nested object, the genuine copy later in the same object.
    if where == "deal":
        forged, genuine = '"deal": {"price_fen": 1, ', '"deal": {'
    elif where == "records":
        forged, genuine = '"records": {"code": {"index": 0, ', '"records": {"code": {'
    else:
        forged, genuine = '"transcript": [{"proof": "", ', '"transcript": [{'
    assert text.count(genuine) == 1
    raw = text.replace(genuine, forged).encode()
    # The transcript is not even read without --replay: the repeat is refused all the same.
    for verdict in verdicts(raw, monkeypatch) + verdicts(raw, monkeypatch, replay=True):
        assert (verdict.reason, verdict.exit_code) == ("duplicate_key", 1)
        assert verdict.message is not None and verdict.message.startswith(f"duplicate key {key!r} at {path}:")


def test_render_refuses_a_certificate_with_a_repeated_key(market: Built, tmp_path: Path) -> None:
    cert = market.cert("L1")
    path = tmp_path / "forged.cert.json"
    path.write_bytes(with_first(cert, "deal", market.cert("L2")["deal"]))
    result = CliRunner().invoke(main, ["certificate", "render", str(path), "--out", str(tmp_path / "p.html")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "duplicate key 'deal' at deal" in result.output
    assert not (tmp_path / "p.html").exists()
