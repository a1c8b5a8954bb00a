"""The market's witnesses: each new checkpoint sent for cosigning, off the bid path (C2SP tlog-witness).

`serve --witness URL=VKEY ... [--quorum K]` names the witnesses. A task on the event loop notices
each newly published checkpoint and posts it to every witness at once (`ledger.witness_client`, each
on its own thread, with a timeout), with a consistency proof from the size that witness last
cosigned (learned from its 409 answers when the market does not know it). The cosignature lines of
the witnesses that answered are added to the checkpoint; once at least K carry it, it is the
market's **cosigned checkpoint**: stored in the ledger database's meta table (so a restart serves it
at once), served at `/log/checkpoint`, and the checkpoint that certificates are issued under.

Nothing here is on a command's path: a command is acknowledged once its entry is durable, whatever
the witnesses do. A slow or dead witness only delays the cosigned checkpoint; while fewer than K
answer, the previous cosigned checkpoint stays published (and with none yet, `/log/checkpoint` says
so). Each round asks for the newest checkpoint only: checkpoints signed while a round runs are
skipped, since a cosignature of a newer checkpoint covers everything before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger import LedgerError
from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.cosignature import Cosignature, CosignatureError, CosignerVerifier, verify_cosignatures
from ledger.note import NoteError, split_note
from ledger.store import StoredCheckpoint
from ledger.witness_client import WitnessClientError, WitnessConflict, submit_checkpoint

if TYPE_CHECKING:
    from .live import LiveMarket

__all__ = ["META_KEY", "Witness", "WitnessPool", "parse_witness"]

log = logging.getLogger("auction_engine.server")

META_KEY = "server.cosigned_checkpoint"
POLL_S = 0.2  # how often the task looks for a newly published checkpoint
RETRY_S = 2.0  # after a round that did not reach the quorum, before asking again for the same checkpoint
TIMEOUT_S = 10.0  # one witness request


@dataclass
class Witness:
    """One witness: where it listens, its cosigner key, what it last cosigned for this log, its last error."""

    url: str
    verifier: CosignerVerifier
    size: int = 0
    last_error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.verifier.name} at {self.url}"


def parse_witness(text: str) -> Witness:
    """`URL=VKEY` (the witness's URL and its cosigner verifier key); ValueError saying what is wrong."""
    url, sep, vkey = text.partition("=")
    if not sep or not url or not vkey:
        raise ValueError(f"--witness {text!r} must be URL=VKEY (the witness's URL and its verifier key)")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--witness {text!r}: the URL must start with http:// or https://")
    try:
        verifier = CosignerVerifier.parse(vkey)
    except CosignatureError as exc:
        raise ValueError(f"--witness {text!r}: {exc}") from None
    return Witness(url.rstrip("/"), verifier)


class WitnessPool:
    """Gets each new checkpoint cosigned by the witnesses; holds the newest one carrying the quorum."""

    def __init__(self, market: LiveMarket, witnesses: Sequence[Witness], quorum: int) -> None:
        if not 1 <= quorum <= len(witnesses):
            raise ValueError(f"--quorum {quorum} must be between 1 and the number of witnesses ({len(witnesses)})")
        self.market = market
        self.witnesses = list(witnesses)
        self.quorum = quorum
        self.cosigned: StoredCheckpoint | None = self._restored()
        self.rounds = 0
        self._pool = ThreadPoolExecutor(len(self.witnesses), thread_name_prefix="witness")
        self._task: asyncio.Task[None] | None = None

    def _restored(self) -> StoredCheckpoint | None:
        """The cosigned checkpoint stored before a restart, if it still carries the quorum for these witnesses."""
        note = self.market.store.get_meta(META_KEY)
        if not note:
            return None
        try:
            size = Checkpoint.parse(split_note(note)[0]).size
            ours = self.market.log.checkpoint(size).note
        except (NoteError, CheckpointError, LedgerError):
            ours = None
        if ours is None or not note.startswith(ours) or len(self._valid(note)) < self.quorum:
            log.warning("the stored cosigned checkpoint is not one of this ledger's with the quorum; not served")
            return None
        return StoredCheckpoint(size, note)

    def _valid(self, note: str) -> list[Cosignature]:
        try:
            return verify_cosignatures(note, [w.verifier for w in self.witnesses])
        except CosignatureError:
            return []

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="witnesses")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the rounds --------------------------------------------------------------------------------

    async def _run(self) -> None:
        failed: int | None = None  # the size of the last round that did not reach the quorum
        while True:
            published = self.market.published
            done = self.cosigned.size if self.cosigned is not None else 0
            if published is None or published.size <= done:
                await asyncio.sleep(POLL_S)
                continue
            if published.size == failed:  # the same checkpoint again, after a pause (a newer one goes at once)
                await asyncio.sleep(RETRY_S)
                failed = None
                continue
            try:
                reached = await self.round(published)
            except Exception:  # a bug must not end the witnessing: logged, tried again later
                log.exception("a witness round failed")
                reached = False
            failed = None if reached else published.size

    async def round(self, checkpoint: StoredCheckpoint) -> bool:
        """Ask every witness to cosign `checkpoint`; True when the quorum did (then it is the cosigned one)."""
        self.rounds += 1
        found = await asyncio.gather(*(self._ask(w, checkpoint) for w in self.witnesses))
        lines = [cosignature.line() for cosignature in found if cosignature is not None]
        if len(lines) < self.quorum:
            failing = "; ".join(f"{w.label}: {w.last_error}" for w in self.witnesses if w.last_error)
            found_n, size = len(lines), checkpoint.size
            log.warning("checkpoint %d: %d of the %d cosignatures needed (%s)", size, found_n, self.quorum, failing)
            return False
        cosigned = StoredCheckpoint(checkpoint.size, checkpoint.note + "".join(lines))
        await self.market.committer.run(self.market.store.set_meta, META_KEY, cosigned.note)
        if self.cosigned is None or cosigned.size > self.cosigned.size:
            self.cosigned = cosigned
        return True

    async def _ask(self, witness: Witness, checkpoint: StoredCheckpoint) -> Cosignature | None:
        loop = asyncio.get_running_loop()
        for _ in range(2):  # a 409 teaches the size the witness holds: then once more, from it
            old = witness.size if witness.size < checkpoint.size else 0
            proof = self.market.log.consistency(old, checkpoint.size) if old else []  # on the loop: the tree grows here
            try:
                ask = functools.partial(
                    submit_checkpoint, witness.url, checkpoint.note, old, proof, witness.verifier, timeout=TIMEOUT_S
                )
                found = await loop.run_in_executor(self._pool, ask)
            except WitnessConflict as exc:
                witness.last_error = str(exc)
                if exc.known_size is None or exc.known_size == old or exc.known_size >= checkpoint.size:
                    return None
                witness.size = exc.known_size
                continue
            except (WitnessClientError, ValueError) as exc:
                witness.last_error = str(exc)
                return None
            witness.size, witness.last_error = checkpoint.size, None
            return found
        return None
