"""`witness keygen` and `witness serve`'s refusals (exit 2 with a precise message)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from auction_engine.cli.witness_cmd import witness
from ledger.cosignature import Cosigner, CosignerVerifier

from .witness_kit import COSIGNER, LOG_SIGNER, ORIGIN


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(witness, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keygen_writes_a_0600_key_and_prints_its_0x04_verifier_key(tmp_path: Path) -> None:
    out = tmp_path / "w.key"
    code, stdout, _ = run("keygen", "--name", "witness.example/w9", "--out", str(out))
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cosigner = Cosigner.parse(out.read_text())
    vkey = stdout.strip()
    assert CosignerVerifier.parse(vkey) == cosigner.verifier
    assert vkey.startswith("witness.example/w9+" + cosigner.key_id.hex() + "+")
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "w.key"
    out.write_text("precious\n")
    code, _, stderr = run("keygen", "--name", "witness.example/w9", "--out", str(out))
    assert code == 2 and "already exists" in stderr
    assert out.read_text() == "precious\n"


def test_keygen_refuses_a_bad_name(tmp_path: Path) -> None:
    code, _, stderr = run("keygen", "--name", "two words", "--out", str(tmp_path / "k"))
    assert code == 2 and "not a valid note key name" in stderr
    assert not (tmp_path / "k").exists()


def test_keygen_into_a_missing_directory(tmp_path: Path) -> None:
    code, _, stderr = run("keygen", "--name", "w.example/a", "--out", str(tmp_path / "no" / "k"))
    assert code == 2 and "cannot write" in stderr


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.key"
    path.write_text(COSIGNER.encode() + "\n")
    return path


LOG = f"{ORIGIN}={LOG_SIGNER.verifier.encode()}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--key", "missing.key", "--log", LOG], "cannot read witness key file 'missing.key'"),
        (["--log", "no-equals-sign"], "expected ORIGIN=VKEY"),
        (["--log", f"{ORIGIN}=not-a-key"], f"--log {ORIGIN}: verifier key must be"),
        (["--log", f"={LOG_SIGNER.verifier.encode()}"], "expected ORIGIN=VKEY"),
        (["--log", LOG, "--db", "/nonexistent/dir/w.db"], "cannot open lock file"),
    ],
)
def test_serve_refuses_bad_input_with_exit_2(tmp_path: Path, key_file: Path, args: list[str], message: str) -> None:
    base = ["serve", "--db", str(tmp_path / "w.db"), "--port", "0"]
    if "--key" not in args:
        base += ["--key", str(key_file)]
    code, _, stderr = run(*base, *args)
    assert code == 2, stderr
    assert message in stderr


def test_serve_refuses_a_key_that_is_not_a_signer_key(tmp_path: Path) -> None:
    path = tmp_path / "vkey"
    path.write_text(COSIGNER.verifier.encode() + "\n")
    code, _, stderr = run("serve", "--key", str(path), "--db", str(tmp_path / "w.db"), "--log", LOG)
    assert code == 2 and "must be PRIVATE+KEY" in stderr


def test_serve_needs_a_log(tmp_path: Path, key_file: Path) -> None:
    code, _, stderr = run("serve", "--key", str(key_file), "--db", str(tmp_path / "w.db"))
    assert code == 2 and "--log" in stderr


def test_serve_refuses_a_state_of_another_witness(tmp_path: Path, key_file: Path) -> None:
    from ledger.witness_state import WitnessState

    WitnessState(tmp_path / "w.db", Cosigner("witness.example/w1", bytes(32)).verifier.encode()).close()
    code, _, stderr = run("serve", "--key", str(key_file), "--db", str(tmp_path / "w.db"), "--log", LOG)
    assert code == 2 and "belongs to cosigner" in stderr


def test_serve_refuses_a_taken_port_and_frees_the_state(tmp_path: Path, key_file: Path) -> None:
    import socket

    from ledger.witness_state import WitnessState

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = str(taken.getsockname()[1])
        code, _, stderr = run(
            "serve", "--key", str(key_file), "--db", str(tmp_path / "w.db"), "--log", LOG, "--port", port
        )
    finally:
        taken.close()
    assert code == 2 and "cannot listen on 127.0.0.1" in stderr
    WitnessState(tmp_path / "w.db", COSIGNER.verifier.encode()).close()  # the lock was released
