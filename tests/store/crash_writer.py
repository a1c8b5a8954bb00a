"""A child process for the crash test: append to a PostgreSQL-backed log until killed.

Usage: python crash_writer.py URL SEED. Prints `open SIZE` once the log is open, then after
every commit `ack DURABLE_SIZE LAST_LEAF_HEX` — a line printed is an acknowledged batch, which
must survive the SIGKILL that ends this process.
"""

from __future__ import annotations

import random
import sys

from ledger import CheckpointPolicy, Log, Signer
from ledger.store import PostgresStore

ORIGIN = "crash.test.example"
SIGNER = Signer(ORIGIN, bytes(range(32)))


def main(url: str, seed: int) -> None:
    """Open the log (waiting for the killed predecessor's lock), then append and commit forever."""
    rng = random.Random(seed)
    log = Log(PostgresStore(url, lock_wait=15), SIGNER, policy=CheckpointPolicy(every_entries=200, every_ms=None))
    print(f"open {log.size}", flush=True)
    t = log.last_time
    while True:
        for _ in range(rng.randint(1, 60)):
            t += rng.randint(0, 3)
            log.append("crash.entry", {"n": log.size, "pad": rng.randbytes(rng.randint(0, 400))}, t=t)
        durable = log.commit()
        print(f"ack {durable} {log.last_leaf.hex()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
