"""The witness as a real process (`witness serve`): restarts, SIGKILL in the middle of requests, a second
instance on one state, and the client helper against it."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ledger.cosignature import Cosigner
from ledger.witness_client import WitnessClientError, WitnessConflict, submit_checkpoint
from ledger.witness_state import WitnessState

from .witness_kit import COSIGNER, LOG_SIGNER, ORIGIN, Branch, fork, honest

# Until `witness` is registered in auction_engine/cli/__init__.py, the module runs on its own.
WITNESS_COMMAND = [sys.executable, "-m", "auction_engine", "witness"]


@dataclass
class WitnessProcess:
    """A `witness serve` process on a state file in `directory`; restartable after a kill."""

    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.directory / "witness.db"

    @property
    def key(self) -> Path:
        return self.directory / "witness.key"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if not self.key.exists():
            self.key.write_text(COSIGNER.encode() + "\n")
        log = f"{ORIGIN}={LOG_SIGNER.verifier.encode()}"
        return [*WITNESS_COMMAND, "serve", "--key", str(self.key), "--db", str(self.db), "--log", log,
                "--port", "0", "--log-level", "warning"]  # fmt: skip

    def start(self, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                break
            self.log.append(line)
            found = re.search(r"listening on http://[^:]+:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                os.set_blocking(self.proc.stderr.fileno(), False)
                return
        code = self.proc.poll()
        self.kill()
        raise AssertionError(f"witness did not start (exit {code}):\n" + "".join(self.log))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """A graceful stop; the exit status."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                code = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
        return code


@pytest.fixture
def witness_process(tmp_path: Path) -> Iterator[WitnessProcess]:
    process = WitnessProcess(tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.kill()


def submit(process: WitnessProcess, branch: Branch, old: int, new: int) -> int:
    """Submit and return the verified cosignature's timestamp."""
    cosignature = submit_checkpoint(
        process.url, branch.note(new), old, branch.proof(old, new), COSIGNER.verifier, timeout=10
    )
    return cosignature.timestamp


def test_state_persists_across_a_graceful_restart_and_a_kill(witness_process: WitnessProcess) -> None:
    before = time.time_ns() // 1_000_000_000
    assert submit(witness_process, honest(), 0, 5) >= before
    assert witness_process.stop(signal.SIGTERM) == 0
    witness_process.start()
    with pytest.raises(WitnessConflict) as conflict:
        submit(witness_process, honest(), 0, 8)
    assert conflict.value.known_size == 5
    submit(witness_process, honest(), 5, 8)
    witness_process.kill()
    witness_process.start()
    with pytest.raises(WitnessClientError) as refused:
        submit(witness_process, fork(6), 8, 12)
    assert refused.value.status == 422
    with pytest.raises(WitnessClientError) as smaller:
        submit(witness_process, honest(), 8, 3)
    assert smaller.value.status == 400
    assert witness_process.stop(signal.SIGINT) == 0
    state = WitnessState(witness_process.db, COSIGNER.verifier.encode())
    try:
        head = state.head(ORIGIN)
        assert head is not None and (head.size, head.root) == (8, honest().checkpoint(8).root)
    finally:
        state.close()


def test_a_second_instance_on_the_same_state_is_refused(witness_process: WitnessProcess) -> None:
    second = subprocess.run(witness_process.command(), capture_output=True, timeout=60)
    assert second.returncode == 2
    assert b"another witness holds the state" in second.stderr
    submit(witness_process, honest(), 0, 3)  # the first one still serves


def test_the_client_checks_the_witness_key(witness_process: WitnessProcess) -> None:
    impostor = Cosigner(COSIGNER.name, bytes(32)).verifier  # the witness's name, another key
    with pytest.raises(WitnessClientError, match="holds no cosignature"):
        submit_checkpoint(witness_process.url, honest().note(4), 0, [], impostor, timeout=10)


def test_the_client_reports_a_dead_witness_quickly(tmp_path: Path) -> None:
    process = WitnessProcess(tmp_path)
    process.start()
    url = process.url
    process.kill()
    started = time.monotonic()
    with pytest.raises(WitnessClientError, match="cannot reach the witness"):
        submit_checkpoint(url, honest().note(4), 0, [], COSIGNER.verifier, timeout=2)
    assert time.monotonic() - started < 5


GROWTH = Branch(150, shared=150)
FORKED = Branch(150, shared=60, tag="kill-fork")


def _hammer(
    process_url: str, seed: int, stop: threading.Event, got: list[tuple[Branch, int]], errors: list[str]
) -> None:
    """Submit growing (and sometimes forked) checkpoints until the witness goes away."""
    rng = random.Random(seed)
    known = 0
    while not stop.is_set():
        branch = FORKED if rng.random() < 0.2 else GROWTH
        new = min(150, known + rng.randint(0, 6))
        try:
            submit_checkpoint(
                process_url, branch.note(new), known, branch.proof(known, new), COSIGNER.verifier, timeout=5
            )
        except WitnessConflict as conflict:
            if conflict.known_size is not None:
                known = conflict.known_size
            continue
        except WitnessClientError as exc:
            if exc.status is None:  # the process is gone (killed, in the middle of this request or before it)
                errors.append(str(exc))
                return
            continue
        got.append((branch, new))
        known = new


def test_sigkill_in_the_middle_of_requests_never_regresses_nor_forks(tmp_path: Path) -> None:
    process = WitnessProcess(tmp_path)
    cosigned: list[tuple[Branch, int]] = []
    lost: list[str] = []
    rng = random.Random(15)
    try:
        for round_no in range(4):
            process.start()
            stop = threading.Event()
            got: list[tuple[Branch, int]] = []
            threads = [
                threading.Thread(target=_hammer, args=(process.url, round_no * 10 + i, stop, got, lost))
                for i in range(4)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 0.6))
            process.kill()  # SIGKILL while the threads are posting
            stop.set()
            for t in threads:
                t.join(30)
            cosigned.extend(got)
            state = WitnessState(process.db, COSIGNER.verifier.encode())  # the lock is free once the process is dead
            try:
                head = state.head(ORIGIN)
            finally:
                state.close()
            answered = [n for _, n in cosigned]
            if answered:
                assert head is not None and head.size >= max(answered)  # nothing answered was lost
            if head is not None:
                assert head.root in {b.checkpoint(head.size).root for b in (GROWTH, FORKED)}
                cosigned.append((GROWTH if head.root == GROWTH.checkpoint(head.size).root else FORKED, head.size))
        for i, (b1, n1) in enumerate(cosigned):  # never two inconsistent checkpoints cosigned, across all restarts
            for b2, n2 in cosigned[i + 1 :]:
                low = min(n1, n2)
                assert b1.checkpoint(low).root == b2.checkpoint(low).root, (b1.tag, n1, b2.tag, n2)
        assert len(cosigned) > 4  # requests were answered between the kills
    finally:
        process.kill()
