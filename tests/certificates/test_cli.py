"""The auditor's CLI: `certificate issue|list|render` and `verify`, their messages and exit codes (0/1/2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.model import DAY

from .market import OTHER, SIGNER, Built, Market, rebuild

VKEY = SIGNER.verifier.encode()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def cert_file(market: Built, tmp_path: Path) -> Path:
    path = tmp_path / "l1.cert.json"
    code, out = run("certificate", "issue", market.path, market.codes["L1"], "--out", path, "--transcript")
    assert code == 0, out
    return path


def test_issue_writes_a_certificate_and_a_page(market: Built, tmp_path: Path) -> None:
    out_file, page = tmp_path / "c.cert.json", tmp_path / "c.html"
    code, out = run("certificate", "issue", market.path, market.codes["L2"], "--out", out_file, "--html", page)
    assert code == 0, out
    assert f"wrote {out_file}: {market.codes['L2']}" in out and "¥2,400.00" in out
    cert = json.loads(out_file.read_text())
    assert cert["code"] == market.codes["L2"] and "transcript" not in cert
    assert "<svg" in page.read_text()


def test_verify_prints_the_deal(cert_file: Path, tmp_path: Path) -> None:
    vkey_file = tmp_path / "market.vkey"
    vkey_file.write_text(VKEY + "\n")
    for key in (VKEY, vkey_file):
        code, out = run("verify", cert_file, "--vkey", key, "--replay")
        assert code == 0, out
        assert ": VALID" in out and "price:      ¥1,600.00\n" in out and "buyer:      C" in out
        assert not re.search(r"\d fen\b", out) and "T07:" not in out  # yuan and local time, not fen or ISO
        assert re.search(r"deal time:  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00\n", out), out
        assert "checkpoint of size" in out and "reproduced byte for byte" in out


def test_verify_json(cert_file: Path) -> None:
    code, out = run("verify", cert_file, "--vkey", VKEY, "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["ok"] and verdict["status"] == "VALID" and verdict["reason"] is None
    assert verdict["facts"]["deal"]["price_fen"] == 160_000 and verdict["facts"]["checkpoint_size"] > 0
    assert verdict["checks"][0] == "readable"


def test_verify_names_the_failed_check(cert_file: Path, tmp_path: Path) -> None:
    cert = json.loads(cert_file.read_text())
    cert["deal"]["price_fen"] = 1
    bad = tmp_path / "bad.cert.json"
    bad.write_text(json.dumps(cert))
    code, out = run("verify", bad, "--vkey", VKEY)
    assert code == 1 and ": INVALID" in out and "FAIL [field_mismatch]" in out and "deal.price_fen" in out
    code, out = run("verify", bad, "--vkey", VKEY, "--json")
    assert code == 1 and json.loads(out)["reason"] == "field_mismatch"
    code, out = run("verify", cert_file, "--vkey", OTHER.verifier.encode())
    assert code == 1 and "FAIL [checkpoint_signature]" in out


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot read"), (b"{not json", "not JSON"), (b'{"code": "x"}', "pinned field 'entry'")],
)
def test_verify_unreadable_input_exits_2(tmp_path: Path, content: bytes | None, fragment: str) -> None:
    path = tmp_path / "x.cert.json"
    if content is not None:
        path.write_bytes(content)
    code, out = run("verify", path, "--vkey", VKEY)
    assert code == 2 and "UNREADABLE" in out and fragment in out
    code, out = run("verify", path, "--vkey", VKEY, "--json")
    assert code == 2 and json.loads(out)["exit_code"] == 2


def test_verify_with_a_bad_key_or_options_exits_2(cert_file: Path, tmp_path: Path) -> None:
    code, out = run("verify", cert_file, "--vkey", "test.market+00000000+AAAA")
    assert code == 2 and "verifier key" in out
    code, out = run("verify", cert_file, "--vkey", tmp_path / "missing.vkey")
    assert code == 2 and "cannot read verifier key file" in out
    code, out = run("verify", cert_file, "--vkey", VKEY, "--consistency", cert_file)
    assert code == 2 and "--consistency needs --trusted" in out
    code, out = run("verify", cert_file, "--vkey", VKEY, "--trusted", tmp_path / "none")
    assert code == 2 and "cannot read trusted checkpoint" in out


def test_trusted_checkpoint_and_consistency_from_the_ledger_commands(
    market: Built, cert_file: Path, tmp_path: Path
) -> None:
    size = json.loads(cert_file.read_text())["checkpoint_size"]
    code, note = run("ledger", "checkpoint", market.path, "--size", "16")
    assert code == 0
    trusted = tmp_path / "trusted.note"
    trusted.write_text(note)
    code, proof = run("ledger", "consistency", market.path, "16", str(size))
    assert code == 0
    proof_file = tmp_path / "proof.txt"
    proof_file.write_text(proof)
    code, out = run("verify", cert_file, "--vkey", VKEY, "--trusted", trusted, "--consistency", proof_file)
    assert code == 0 and "consistent with the checkpoint of size 16" in out, out
    code, out = run("verify", cert_file, "--vkey", VKEY, "--trusted", trusted)
    assert code == 2 and "needs_consistency" in out and f"ledger consistency DB 16 {size}" in out
    proof_file.write_text("\n".join(reversed(proof.splitlines())) + "\n")
    code, out = run("verify", cert_file, "--vkey", VKEY, "--trusted", trusted, "--consistency", proof_file)
    assert code == 1 and "FAIL [consistency]" in out


def test_issue_errors_exit_2_with_the_reason(market: Built, tmp_path: Path) -> None:
    out_file = tmp_path / "x.cert.json"
    typo = market.codes["L1"][:-1] + ("Z" if market.codes["L1"][-1] != "Z" else "Y")
    code, out = run("certificate", "issue", market.path, typo, "--out", out_file)
    assert code == 2 and "check characters" in out and "character" in out
    code, out = run("certificate", "issue", tmp_path / "nope.db", market.codes["L1"], "--out", out_file)
    assert code == 2 and "cannot read ledger" in out
    code, out = run("certificate", "issue", market.path, "ZJ-231115-E-3-ABCD-" + "00", "--out", out_file)
    assert code == 2
    assert not out_file.exists()


def test_issue_says_when_no_checkpoint_covers_the_deal(tmp_path: Path) -> None:
    m = Market(tmp_path / "l.db", every=None)
    m.ok("open_lot", lot="L1", mode="english", params={"start_price": 100_000, "increment": 10_000})
    m.ok("deposit", lot="L1", party="A", amount=10_000)
    m.ok("bid", "A", lot="L1", amount=100_000)
    m.run(DAY)
    m.ok("pay", lot="L1", amount=90_000)
    m.run(10 * DAY)
    m.log.commit()
    code, out = run("certificate", "issue", m.path, next(iter(m.engine.codes)), "--out", tmp_path / "x.json")
    assert code == 2 and "no checkpoint has been signed yet" in out


def test_replay_failure_in_the_cli(market: Built, tmp_path: Path) -> None:
    def forge(entry: dict) -> None:  # type: ignore[type-arg]
        if entry.get("lot") == "L3" and entry["kind"] in ("deal", "settled", "split", "published", "final"):
            entry["buyer"] = "A" if "buyer" in entry else entry.get("buyer")

    path = rebuild(market.entries, tmp_path / "forged.db", forge)
    code, listing = run("certificate", "list", path)
    forged_code = next(line.split()[0] for line in listing.splitlines() if " lot L3 " in line)
    out_file = tmp_path / "f.cert.json"
    assert run("certificate", "issue", path, forged_code, "--out", out_file, "--transcript")[0] == 0
    assert run("verify", out_file, "--vkey", VKEY)[0] == 0
    code, out = run("verify", out_file, "--vkey", VKEY, "--replay")
    assert code == 1 and "FAIL [replay]" in out and "(deal)" in out


def test_list_and_render(market: Built, cert_file: Path, tmp_path: Path) -> None:
    code, out = run("certificate", "list", market.path)
    assert code == 0 and all(c in out for c in market.codes.values()) and "covered" in out
    page = tmp_path / "p.html"
    code, out = run("certificate", "render", cert_file, "--out", page, "--base-url", "https://zjpai.example/c/")
    assert code == 0 and "https://zjpai.example/c/" in page.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run("certificate", "render", bad, "--out", page)[0] == 2
