"""Crash safety: a writer killed with SIGKILL at random moments never loses or changes an acknowledged entry."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_testkit import ORIGIN, SEED

from ledger import Log, Signer, SQLiteStore, audit_store, leaf_hash

# The child: append under load in batches of random size, commit, then acknowledge by printing the
# durable size and the last entry's leaf hash. It never stops by itself: the test kills it.
WRITER = f"""
import random, sys, time
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore

path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
policy = CheckpointPolicy(every_entries=rng.choice([8, 32, 128]), every_ms=rng.choice([None, 20]))
log = Log(SQLiteStore(path), Signer({ORIGIN!r}, {SEED!r}), policy=policy)
out = sys.stdout
out.write(f"{{log.durable_size}} {{log.last_leaf.hex()}}\\n")
out.flush()
t = log.last_time
while True:
    for _ in range(rng.randint(1, 48)):
        t += rng.randint(0, 3)
        log.append("crash.test", {{"n": log.size, "seed": seed, "pad": "x" * rng.randint(0, 80)}}, t=t)
    size = log.commit()
    out.write(f"{{size}} {{log.last_leaf.hex()}}\\n")  # the acknowledgement
    out.flush()
    if rng.random() < 0.3:
        time.sleep(rng.uniform(0, 0.002))
"""


def acknowledged(output: bytes) -> tuple[int, str] | None:
    """The last complete acknowledgement line the child printed before it died."""
    lines = output.decode().split("\n")[:-1]  # the last piece is empty or a torn line
    if not lines:
        return None
    size, leaf = lines[-1].split(" ")
    return int(size), leaf


def run_crashes(workdir: Path, repo_root: Path, rounds: int, seed: int, fresh_every: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    signer = Signer(ORIGIN, SEED)
    script = workdir / "writer.py"
    script.write_text(WRITER)
    path = workdir / "crash-0.db"
    known: list[bytes] = []  # every entry seen after an earlier crash: it must never change
    stats = {"rounds": 0, "acknowledged": 0, "killed_before_first_ack": 0, "unacknowledged_but_durable": 0}
    for r in range(rounds):
        if fresh_every and r and r % fresh_every == 0:
            path, known = workdir / f"crash-{r}.db", []
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), str(rng.randrange(2**32))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=repo_root,
        )
        if rng.random() < 0.15:
            time.sleep(rng.uniform(0.0, 0.4))  # sometimes kill during start-up, open or tail repair
            head = b""
        else:
            head = proc.stdout.readline() if proc.stdout else b""  # the log is open
            if not head:
                proc.wait()
                pytest.fail(f"the writer died on its own: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(rng.uniform(0.0, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        ack = acknowledged(head + rest)

        log = Log(SQLiteStore(path), signer)  # reopening runs the tail repair
        repaired, size = log.repaired, log.size
        log.close()
        store = SQLiteStore(path, readonly=True)
        report = audit_store(store, signer.verifier)
        entries = [row.data for row in store.rows()]
        store.close()
        assert report.ok, (r, report.problems[:3])
        assert repaired == 0, f"round {r}: SQLite left a torn tail of {repaired} entries"
        assert entries[: len(known)] == known, f"round {r}: an entry seen after an earlier crash changed"
        if ack is None:
            stats["killed_before_first_ack"] += 1
        else:
            acked_size, acked_leaf = ack
            assert size >= acked_size, f"round {r}: {acked_size} entries were acknowledged, {size} survived"
            if acked_size:  # the chain makes the last acknowledged leaf vouch for every earlier entry
                assert leaf_hash(entries[acked_size - 1]).hex() == acked_leaf, f"round {r}: acknowledged bytes changed"
            stats["acknowledged"] = max(stats["acknowledged"], acked_size)
            stats["unacknowledged_but_durable"] += size > acked_size
        known = entries
        stats["rounds"] += 1
    return stats


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path: Path, repo_root: Path) -> None:
    stats = run_crashes(tmp_path, repo_root, rounds=30, seed=20261121)
    assert stats["rounds"] == 30 and stats["acknowledged"] > 0


@pytest.mark.slow
def test_sigkill_soak(tmp_path: Path, repo_root: Path) -> None:
    stats = run_crashes(tmp_path, repo_root, rounds=400, seed=7, fresh_every=50)
    assert stats["rounds"] == 400
