"""Real checkpoints for the witness tests: a log (and forks of it) built with `ledger.Log`, signed by a fixed key."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ledger import Log, MemoryStore, Signer
from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosigner
from ledger.note import split_note
from ledger.witness_client import request_body

ORIGIN = "example.com/auction-log"
LOG_SEED = bytes(range(32))
IMPOSTOR_SEED = bytes(range(1, 33))
WITNESS_NAME = "witness.example/w1"
WITNESS_SEED = bytes(range(100, 132))

LOG_SIGNER = Signer(ORIGIN, LOG_SEED)
IMPOSTOR = Signer(ORIGIN, IMPOSTOR_SEED)  # the log's name, another key: what a forger without the key has
COSIGNER = Cosigner(WITNESS_NAME, WITNESS_SEED)


@dataclass
class Branch:
    """A log of `size` entries whose first `shared` entries are the honest ones and the rest are `tag`'s own.

    `note(n)` is the signed checkpoint after n entries; two branches with different tags agree on
    every checkpoint up to `shared` and on none after (a fork).
    """

    size: int
    shared: int = 0
    tag: str = "honest"
    signer: Signer = LOG_SIGNER
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log = Log(MemoryStore(), self.signer, origin=ORIGIN)
        self.notes.append(self.log.sign_checkpoint(0))
        for i in range(self.size):
            author = "honest" if i < self.shared else self.tag
            self.log.append("entry", {"i": i, "by": author}, i)
            self.notes.append(self.log.sign_checkpoint(i))
        self.log.commit()

    def note(self, n: int) -> str:
        return self.notes[n]

    def text(self, n: int) -> str:
        return split_note(self.notes[n])[0]

    def checkpoint(self, n: int) -> Checkpoint:
        return Checkpoint.parse(self.text(n))

    def proof(self, old: int, new: int) -> list[bytes]:
        """The RFC 6962 consistency proof from `old` to `new` (empty from 0, as the witness protocol wants, and
        when there is none: `old` at or above `new`)."""
        return [] if old == 0 or old >= new else self.log.consistency(old, new)

    def body(self, old: int, new: int) -> bytes:
        """An add-checkpoint request claiming `old` was cosigned last, for this branch's checkpoint `new`."""
        return request_body(old, self.proof(old, new), self.note(new))


@functools.cache
def honest(size: int = 40) -> Branch:
    return Branch(size, shared=size)


@functools.cache
def fork(shared: int, size: int = 40, tag: str = "fork") -> Branch:
    """A branch that agrees with `honest()` on its first `shared` entries only."""
    return Branch(size, shared=shared, tag=tag)
