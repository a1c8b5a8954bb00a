"""The pinned showcase: `auction-engine demo --out DIR` writes a verified ledger, the same entries every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.cli.demo import program


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


# -- the commands it prints at the end run as printed ----------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
BESIDE = Path(sys.executable).with_name("auction-engine")  # .venv/bin/auction-engine, as `make demo` runs it


def _fresh_shell() -> dict[str, str]:
    """The environment of a shell after `make demo`: the venv is not activated, so PATH lacks its bin/."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    keep = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BESIDE.parent.resolve()]
    env["PATH"] = os.pathsep.join(keep)
    return env


def _printed_commands(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Check it yourself"))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


@pytest.mark.parametrize("where", ["repository", "elsewhere"])
def test_the_printed_next_commands_run_as_printed(tmp_path: Path, where: str) -> None:
    """As `make demo` runs it (from the repository, the program in .venv/bin, not on PATH), and from another
    directory with a relative --out: every command printed at the end runs in a shell as printed, exit 0."""
    cwd, out = (REPO, str(tmp_path / "demo-out")) if where == "repository" else (tmp_path, "demo-out")
    env = _fresh_shell()
    demo = [str(BESIDE)] if BESIDE.is_file() else [sys.executable, "-m", "auction_engine"]
    done = subprocess.run([*demo, "demo", "--out", out], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = _printed_commands(done.stdout)
    assert len(commands) == 4, done.stdout
    for command, words in zip(
        commands, ("ledger verify", "ledger replay", "ledger checkpoints", "verify"), strict=True
    ):
        assert f" {words} " in command, command
    if where == "repository" and BESIDE.is_file() and BESIDE.is_relative_to(REPO):  # as after `make demo`
        assert commands[0].startswith(f"{BESIDE.relative_to(REPO)} ledger verify "), commands[0]
    for command in commands:
        ran = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, f"{command}: exit {ran.returncode}\n{ran.stdout}{ran.stderr}"


def test_the_program_is_named_bare_when_path_finds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    if not BESIDE.is_file():
        pytest.skip("no auction-engine script beside this interpreter")
    monkeypatch.setenv("PATH", str(BESIDE.parent))
    assert program() == "auction-engine"
    monkeypatch.setenv("PATH", "")
    monkeypatch.chdir(BESIDE.parent.parent)
    assert program() == f"bin{os.sep}auction-engine"
