"""The pinned CLI commands (keygen, ledger verify/export/checkpoint/prove/consistency) and their exit codes 0/1/2."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ledger_testkit import ORIGIN, BuiltLedger

from auction_engine.cli import main
from ledger import (
    Checkpoint,
    CheckpointPolicy,
    Log,
    ProofError,
    Signer,
    SQLiteStore,
    TlogProof,
    Verifier,
    decode,
    encode,
    leaf_hash,
    open_note,
    verify_consistency,
    verify_inclusion,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def built(make_ledger: Callable[..., BuiltLedger]) -> BuiltLedger:
    return make_ledger(40, every=10)


# -- keygen --------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_and_prints_the_verifier_key(tmp_path: Path) -> None:
    out = tmp_path / "market.key"
    result = run("keygen", "--name", "market.example", "--out", out)
    assert result.exit_code == 0, result.output
    signer = Signer.parse(out.read_text())
    assert signer.name == "market.example"
    assert Verifier.parse(result.stdout.strip()) == signer.verifier
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "market.key"
    first = run("keygen", "--name", "market.example", "--out", out).stdout
    again = run("keygen", "--name", "market.example", "--out", out)
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert Signer.parse(out.read_text()).verifier.encode() == first.strip()
    forced = run("keygen", "--name", "market.example", "--out", out, "--force")
    assert forced.exit_code == 0 and forced.stdout != first


@pytest.mark.parametrize("name", ["bad name", "a+b", ""])
def test_keygen_rejects_bad_names(tmp_path: Path, name: str) -> None:
    result = run("keygen", "--name", name, "--out", tmp_path / "k")
    assert result.exit_code == 2 and "--name" in result.stderr
    assert not (tmp_path / "k").exists()


def test_keygen_unwritable_path(tmp_path: Path) -> None:
    result = run("keygen", "--name", "m.example", "--out", tmp_path / "no" / "such" / "dir" / "k")
    assert result.exit_code == 2 and "cannot write" in result.stderr


def test_keygen_then_a_ledger_signed_with_that_key_verifies(tmp_path: Path) -> None:
    key = tmp_path / "m.key"
    vkey = run("keygen", "--name", "m.example", "--out", key).stdout.strip()
    log = Log(SQLiteStore(tmp_path / "m.db"), Signer.parse(key.read_text()), policy=CheckpointPolicy(2, None))
    for i in range(5):
        log.append("x", {"i": i}, t=i)
    log.close()
    assert run("ledger", "verify", tmp_path / "m.db", "--vkey", vkey).exit_code == 0


# -- verify ----------------------------------------------------------------------------------------------


def test_verify_ok_text_and_json(built: BuiltLedger) -> None:
    result = run("ledger", "verify", built.path, "--vkey", built.vkey_file)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"ledger {built.path}: OK"
    assert "entries:     40" in result.stdout and "4 verified, latest size 40" in result.stdout
    report = json.loads(run("ledger", "verify", built.path, "--vkey", built.vkey, "--json").stdout)
    assert report["ok"] is True and report["problems"] == [] and report["size"] == 40
    assert report["origin"] == ORIGIN and report["checkpoints_verified"] == 4


def test_verify_with_trusted_checkpoint(built: BuiltLedger, tmp_path: Path) -> None:
    saved = tmp_path / "cp20.txt"
    saved.write_text(run("ledger", "checkpoint", built.path, "--size", "20").stdout)
    result = run("ledger", "verify", built.path, "--vkey", built.vkey_file, "--trusted", saved)
    assert result.exit_code == 0 and "trusted:     checkpoint of size 20" in result.stdout


def test_verify_with_the_wrong_key_fails(built: BuiltLedger, impostor: Signer) -> None:
    result = run("ledger", "verify", built.path, "--vkey", impostor.verifier.encode())
    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "FAIL [checkpoint_signature] checkpoint 10" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vkey", "garbage+zz+!!"], "verifier key: "),
        (["--vkey", "no-such-file"], "cannot read verifier key file"),
        (["--vkey", "VKEY", "--trusted", "no-such-checkpoint"], "cannot read trusted checkpoint"),
    ],
)
def test_verify_bad_input_exits_2(built: BuiltLedger, args: list[str], message: str) -> None:
    args = [built.vkey if a == "VKEY" else a for a in args]
    result = run("ledger", "verify", built.path, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_verify_garbage_vkey_file_exits_2(built: BuiltLedger, tmp_path: Path) -> None:
    bad = tmp_path / "bad.vkey"
    bad.write_text("this is not a key\n")
    result = run("ledger", "verify", built.path, "--vkey", bad)
    assert result.exit_code == 2 and "verifier key" in result.stderr


def test_verify_missing_vkey_option_is_a_usage_error(built: BuiltLedger) -> None:
    assert run("ledger", "verify", built.path).exit_code == 2


@pytest.mark.parametrize("command", [["verify", "--vkey", "VKEY"], ["export"], ["checkpoint"], ["prove", "0"]])
def test_unreadable_databases_exit_2(
    command: list[str], tmp_path: Path, signer: Signer, make_ledger: Callable[..., BuiltLedger]
) -> None:
    vkey = signer.verifier.encode()
    command = [vkey if c == "VKEY" else c for c in command]
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    empty_sqlite = tmp_path / "other.db"
    with sqlite3.connect(empty_sqlite) as db:
        db.execute("CREATE TABLE entries (x)")
    for path in (tmp_path / "missing.db", garbage, empty_sqlite, tmp_path):
        result = run("ledger", command[0], path, *command[1:])
        assert result.exit_code == 2, (path, result.output)
        assert result.stderr.startswith("error: "), result.output
    assert not (tmp_path / "missing.db").exists()  # reading never creates a database


def test_verify_does_not_write_to_the_ledger(built: BuiltLedger) -> None:
    before = built.path.read_bytes()
    os.chmod(built.path, 0o444)
    try:
        assert run("ledger", "verify", built.path, "--vkey", built.vkey).exit_code == 0
    finally:
        os.chmod(built.path, 0o644)
    assert built.path.read_bytes() == before


# -- export ----------------------------------------------------------------------------------------------


def test_export_prints_base64_canonical_bytes_one_per_line(built: BuiltLedger) -> None:
    result = run("ledger", "export", built.path)
    assert result.exit_code == 0
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 41
    assert lines[:-1] == built.entries_b64()
    for i, line in enumerate(lines[:-1]):
        assert decode(base64.b64decode(line, validate=True))["seq"] == i


def test_export_of_an_empty_ledger(make_ledger: Callable[..., BuiltLedger]) -> None:
    empty = make_ledger(0, every=None, final_checkpoint=False)
    result = run("ledger", "export", empty.path)
    assert result.exit_code == 0 and result.stdout == ""


# -- checkpoint ------------------------------------------------------------------------------------------


def test_checkpoint_latest_and_by_size(built: BuiltLedger) -> None:
    latest = run("ledger", "checkpoint", built.path)
    assert latest.exit_code == 0 and latest.stdout == built.checkpoint(40)
    cp = Checkpoint.parse(open_note(latest.stdout, built.signer.verifier).text)
    assert (cp.origin, cp.size) == (ORIGIN, 40)
    assert run("ledger", "checkpoint", built.path, "--size", "10").stdout == built.checkpoint(10)


def test_checkpoint_errors_exit_2(built: BuiltLedger, make_ledger: Callable[..., BuiltLedger]) -> None:
    missing = run("ledger", "checkpoint", built.path, "--size", "11")
    assert missing.exit_code == 2 and "no signed checkpoint of size 11" in missing.stderr
    unsigned = make_ledger(3, every=None, name="unsigned.db", final_checkpoint=False)
    none = run("ledger", "checkpoint", unsigned.path)
    assert none.exit_code == 2 and "no checkpoint has been signed yet" in none.stderr
    assert run("ledger", "checkpoint", built.path, "--size", "ten").exit_code == 2


# -- prove -----------------------------------------------------------------------------------------------


def independent_check(proof_text: str, entry: bytes, vkey: str) -> int:
    """Verify a tlog-proof from first principles (hashlib + cryptography), not with ledger's own parser."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    head, note = proof_text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("index ")
    index = int(lines[1][6:])
    path = [base64.b64decode(h, validate=True) for h in lines[2:]]
    text, sigs = note.rsplit("\n\n", 1)
    text += "\n"
    name, key_hash, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    signed = False
    for line in sigs.splitlines():
        sig_name, sig_b64 = line.removeprefix("\u2014 ").split(" ")
        raw = base64.b64decode(sig_b64)
        if sig_name == name and raw[:4].hex() == key_hash:
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
            signed = True
    assert signed
    origin, size_line, root_b64 = text.split("\n")[:3]
    assert origin == name
    verify_inclusion(leaf_hash(entry), index, int(size_line), path, base64.b64decode(root_b64))
    return int(size_line)


def test_prove_output_verifies_independently(built: BuiltLedger) -> None:
    entries = built.entries()
    for index in (0, 1, 9, 10, 25, 39):
        result = run("ledger", "prove", built.path, index)
        assert result.exit_code == 0, result.output
        assert independent_check(result.stdout, entries[index], built.vkey) == 40
        proof = TlogProof.parse(result.stdout)
        assert proof.index == index
        assert proof.verify(leaf_hash(entries[index]), built.signer.verifier, ORIGIN).size == 40
        with pytest.raises(ProofError):
            independent_check(result.stdout, entries[(index + 1) % 40], built.vkey)


def test_prove_under_an_older_checkpoint(built: BuiltLedger) -> None:
    result = run("ledger", "prove", built.path, "7", "--size", "10")
    assert result.exit_code == 0
    assert independent_check(result.stdout, built.entries()[7], built.vkey) == 10
    assert result.stdout.endswith(built.checkpoint(10))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["40"], "entry 40 does not exist"),
        (["1000"], "entry 1000 does not exist"),
        (["--", "-1"], "entry -1 does not exist"),
        (["12", "--size", "10"], "not covered by the checkpoint of size 10"),
        (["3", "--size", "11"], "no signed checkpoint of size 11"),
        (["x"], "Invalid value"),
    ],
)
def test_prove_errors_exit_2(built: BuiltLedger, args: list[str], message: str) -> None:
    result = run("ledger", "prove", built.path, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_prove_an_entry_after_the_last_checkpoint_exits_2(make_ledger: Callable[..., BuiltLedger]) -> None:
    partial = make_ledger(15, every=10, final_checkpoint=False)
    result = run("ledger", "prove", partial.path, "12")
    assert result.exit_code == 2 and "not covered by a signed checkpoint yet" in result.stderr


# -- consistency -----------------------------------------------------------------------------------------


def signed_checkpoint(built: BuiltLedger, size: int | None = None) -> Checkpoint:
    args = ["ledger", "checkpoint", built.path] + (["--size", str(size)] if size else [])
    note = run(*args).stdout
    return Checkpoint.parse(open_note(note, built.signer.verifier).text)


def hashes(output: str) -> list[bytes]:
    assert output == "" or output.endswith("\n")
    return [base64.b64decode(line, validate=True) for line in output.splitlines()]


@pytest.mark.parametrize(("old", "new"), [(10, 20), (10, 40), (20, 30), (30, 40), (20, None)])
def test_consistency_output_verifies_against_two_checkpoints(built: BuiltLedger, old: int, new: int | None) -> None:
    args = ["ledger", "consistency", built.path, str(old)] + ([str(new)] if new else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    cp_old, cp_new = signed_checkpoint(built, old), signed_checkpoint(built, new)
    verify_consistency(cp_old.size, cp_new.size, hashes(result.stdout), cp_old.root, cp_new.root)


def test_consistency_of_equal_sizes_is_empty(built: BuiltLedger) -> None:
    result = run("ledger", "consistency", built.path, "20", "20")
    assert result.exit_code == 0 and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0"], "size 0"),
        (["0", "10"], "size 0"),
        (["30", "20"], "larger than new size"),
        (["10", "41"], "out of range"),
        (["41"], "larger than new size"),
        (["--", "-5", "10"], "size 0"),
        (["ten"], "Invalid value"),
    ],
)
def test_consistency_errors_exit_2(built: BuiltLedger, args: list[str], message: str) -> None:
    result = run("ledger", "consistency", built.path, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


# -- the installed command -----------------------------------------------------------------------------


def test_python_dash_m_entry_point(built: BuiltLedger, repo_root: Path) -> None:
    """`python -m auction_engine` is the same command, with the same exit codes."""

    def sub(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auction_engine", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=repo_root,
            timeout=60,
        )

    ok = sub("ledger", "verify", built.path, "--vkey", built.vkey_file)
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stderr
    with sqlite3.connect(built.path) as db:
        db.execute("DELETE FROM entries WHERE seq = 5")
    failed = sub("ledger", "verify", built.path, "--vkey", built.vkey_file)
    assert failed.returncode == 1 and "FAIL [missing] entry 5" in failed.stdout
    unreadable = sub("ledger", "verify", built.path.with_name("nope.db"), "--vkey", built.vkey_file)
    assert unreadable.returncode == 2 and "error:" in unreadable.stderr


def test_reading_commands_work_on_a_damaged_ledger(built: BuiltLedger) -> None:
    """An auditor must still export and prove when the last entry is damaged (verify reports it)."""
    with sqlite3.connect(built.path) as db:
        data = db.execute("SELECT data FROM entries WHERE seq = 39").fetchone()[0]
        entry = decode(data)
        del entry["t"]
        damaged = encode(entry)
        db.execute("UPDATE entries SET data = ?, leaf = ? WHERE seq = 39", (damaged, leaf_hash(damaged)))
    exported = run("ledger", "export", built.path)
    assert exported.exit_code == 0 and exported.stdout.split("\n")[39] == base64.b64encode(damaged).decode()
    assert run("ledger", "prove", built.path, "3", "--size", "10").exit_code == 0
    assert run("ledger", "checkpoint", built.path).exit_code == 0
    report = json.loads(run("ledger", "verify", built.path, "--vkey", built.vkey, "--json").stdout)
    first = report["problems"][0]
    assert (first["code"], first["index"]) == ("time", 39)
