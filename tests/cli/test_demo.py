"""The pinned showcase: `auction-engine demo --out DIR` writes a verified ledger, the same entries every run."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from auction_engine.cli import main


def _export(db: Path) -> str:
    result = CliRunner().invoke(main, ["ledger", "export", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_writes_the_pinned_files_and_repeats_exactly(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        if out is second:  # the same key: a sealed proxy's nonce and box derive from the market's secret
            second.mkdir()
            (second / "market.key").write_bytes((first / "market.key").read_bytes())
        result = CliRunner().invoke(main, ["demo", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "audit:  OK   replay: OK" in result.output
        for name in ("ledger.db", "market.key", "market.vkey"):
            assert (out / name).is_file()
        assert len((out / "market.vkey").read_text().strip().splitlines()) == 1
        certificates = sorted((out / "certificates").glob("*.cert.json"))
        assert len(certificates) == 9, certificates
        flat = " ".join(result.output.split())  # rich wraps lines at 160 columns, and tmp_path's length varies
        assert "9 issued (with transcripts and HTML pages), 9 verified with replay" in flat
    assert _export(first / "ledger.db") == _export(second / "ledger.db")
    verify = CliRunner().invoke(
        main, ["ledger", "verify", str(first / "ledger.db"), "--vkey", str(first / "market.vkey")]
    )
    assert verify.exit_code == 0, verify.output


def test_demo_covers_every_mode_and_a_submarket(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for word in ("english", "dutch", "sealed", "listing → english", "agreement → english", "metrology", "agri"):
        assert word in result.output
    again = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])  # reuses the key, rewrites the ledger
    assert again.exit_code == 0, again.output
