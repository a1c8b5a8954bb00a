"""A C2SP tlog-witness: checks a log's new checkpoint against the last one it cosigned, then cosigns it.

`Witness.add_checkpoint` takes an ``add-checkpoint`` request body (``old <size>``, up to 63 base64
consistency-proof lines, a blank line, the signed checkpoint) and returns the response body (one
cosignature/v1 line), or raises `Refusal` carrying the HTTP status the spec prescribes: 400 malformed,
404 unknown origin, 403 no valid log signature, 409 old size not the one last cosigned (with that
size) or same size with another root, 422 a consistency proof that does not verify. The check against
the stored head and the update of it are one transaction, under one lock, committed before the
answer: no two inconsistent checkpoints are ever cosigned, nor a smaller tree after a larger one.
"""

from __future__ import annotations

import binascii
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .checkpoint import Checkpoint, CheckpointError
from .cosignature import Cosigner
from .merkle import HASH_SIZE, ProofError, verify_consistency
from .note import NoteError, Verifier, open_note, split_note
from .witness_state import MAX_SIZE, CosignedHead, WitnessState

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_PROOF_LINES",
    "AddCheckpoint",
    "Refusal",
    "Witness",
    "parse_add_checkpoint",
    "wall_clock",
]

MAX_PROOF_LINES = 63  # the spec's bound: a client MUST NOT send more
# The largest request body the HTTP interface reads: a checkpoint with a few dozen signatures and 63
# proof lines fits many times over.
DEFAULT_MAX_BODY = 128 * 1024

log = logging.getLogger("ledger.witness")


class Refusal(Exception):
    """The witness does not cosign: the HTTP status to answer, why, and (409) the size it last cosigned."""

    def __init__(self, status: int, message: str, known_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.known_size = known_size


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the client believes was last cosigned, the proof, the checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    signed_checkpoint: str


def _size(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise Refusal(400, f"{what} {text[:40]!r} is not a decimal number without leading zeroes")
    if len(text) > 19 or int(text) > MAX_SIZE:
        raise Refusal(400, f"{what} is larger than 2^63-1")
    return int(text)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body; Refusal(400) naming the line that is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(400, f"request body is not UTF-8 (byte {exc.start})") from None
    first, newline, rest = text.partition("\n")
    if not newline:
        raise Refusal(400, "request line 1 must be 'old <size>' ending in a newline")
    if not first.startswith("old "):
        raise Refusal(400, "request line 1 must be 'old <size>'")
    old_size = _size(first[4:], "request line 1 (old size)")
    proof: list[bytes] = []
    line_no = 1
    while True:
        line, newline, rest = rest.partition("\n")
        line_no += 1
        if not newline:
            raise Refusal(400, "request has no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise Refusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            digest = binascii.a2b_base64(line.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise Refusal(400, f"request line {line_no} (proof hash) is not valid base64") from None
        if len(digest) != HASH_SIZE:
            raise Refusal(400, f"request line {line_no} (proof hash) is {len(digest)} bytes, not {HASH_SIZE}")
        proof.append(digest)
    return AddCheckpoint(old_size, tuple(proof), rest)


def wall_clock() -> int:
    """The current POSIX time in whole seconds (no float on the way)."""
    return time.time_ns() // 1_000_000_000


class Witness:
    """Cosigns the checkpoints of the configured logs that extend what it cosigned before."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        clock: Callable[[], int] = wall_clock,
    ) -> None:
        if not logs:
            raise ValueError("a witness needs at least one log (origin and verifier key)")
        self.cosigner = cosigner
        self.logs = {origin: tuple(verifiers) for origin, verifiers in logs.items()}
        self.state = state
        self.clock = clock
        self._lock = threading.Lock()

    def add_checkpoint(self, body: bytes) -> str:
        """Check and cosign the checkpoint of an add-checkpoint request; return the response body."""
        request = parse_add_checkpoint(body)
        try:
            text, _ = split_note(request.signed_checkpoint)
            checkpoint = Checkpoint.parse(text)
        except (NoteError, CheckpointError) as exc:
            raise Refusal(400, f"checkpoint: {exc}") from None
        except ValueError:  # int() of a size line longer than Python converts (4300 digits)
            raise Refusal(400, "checkpoint line 2 (size) is not a usable decimal number") from None
        if checkpoint.size > MAX_SIZE:
            raise Refusal(400, "checkpoint size is larger than 2^63-1")
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            raise Refusal(404, f"unknown log origin {checkpoint.origin[:200]!r}")
        try:
            open_note(request.signed_checkpoint, *verifiers)
        except NoteError as exc:
            raise Refusal(403, f"checkpoint signature: {exc}") from None
        if request.old_size > checkpoint.size:
            raise Refusal(400, f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}")
        with self._lock:
            try:
                cosignature = self.state.transaction(lambda db: self._advance(db, request, checkpoint, text))
            except sqlite3.Error as exc:
                raise Refusal(503, f"the witness state could not be written ({exc}); nothing was cosigned") from None
        return cosignature

    def _advance(self, db: sqlite3.Connection, request: AddCheckpoint, checkpoint: Checkpoint, text: str) -> str:
        """Inside the state transaction: check the checkpoint against the stored head, cosign, record it."""
        head = WitnessState.read_head(db, checkpoint.origin)
        known = head.size if head is not None else 0
        if request.old_size != known:
            raise Refusal(409, f"old size {request.old_size} is not the size last cosigned, {known}", known)
        if request.old_size == 0 and request.proof:
            raise Refusal(422, "the consistency proof must be empty when the old size is 0")
        if head is not None and checkpoint.size == head.size:
            if checkpoint.root != head.root:
                self._evidence(checkpoint, request, "the same size with another root hash")
                raise Refusal(409, f"size {head.size} was cosigned with another root hash")
            if request.proof:
                raise Refusal(422, "the consistency proof must be empty when the sizes are equal")
        elif head is not None and head.size > 0:
            try:
                verify_consistency(head.size, checkpoint.size, request.proof, head.root, checkpoint.root)
            except ProofError as exc:
                self._evidence(checkpoint, request, f"no consistency with size {head.size} ({exc})")
                raise Refusal(422, f"consistency proof from size {head.size} to {checkpoint.size}: {exc}") from None
        # A cosignature says "as of this time, this is the largest tree": its time never goes back, even
        # if the wall clock does (a later cosignature of a larger tree with an earlier time would contradict).
        timestamp = max(self.clock(), WitnessState.latest_timestamp_in(db))
        cosignature = self.cosigner.cosign(text, timestamp)
        WitnessState.write_head(
            db, CosignedHead(checkpoint.origin, checkpoint.size, checkpoint.root, timestamp, request.signed_checkpoint)
        )
        return cosignature.line()

    @staticmethod
    def _evidence(checkpoint: Checkpoint, request: AddCheckpoint, what: str) -> None:
        """Log a validly signed checkpoint that conflicts with the cosigned head: it may prove the log forked."""
        log.warning(
            "refused a signed checkpoint of %s at size %d: %s; the checkpoint and its proof: %r",
            checkpoint.origin,
            checkpoint.size,
            what,
            request_body_text(request),
        )


def request_body_text(request: AddCheckpoint) -> str:
    """The request as the text it came in (for the log of refused checkpoints)."""
    proof = "".join(binascii.b2a_base64(h).decode() for h in request.proof)
    return f"old {request.old_size}\n{proof}\n{request.signed_checkpoint}"
