"""Follow a market's public log over C2SP tlog-tiles and check each new checkpoint (`auction-engine monitor`).

Each poll (`Monitor.poll`):

1. fetches `/log/checkpoint` and verifies it with the market's key, its origin the key's name; with
   witness keys, demands `quorum` valid cosignatures (`ledger.cosignature.verify_cosignatures`);
2. compares it with the state (`monitor_state.py`): a smaller size than already checked is a
   truncation, the same size with another root a fork;
3. fetches the new entries from the entry bundles, hashes each (RFC 6962 leaf hash), appends them to
   the monitor's own Merkle tree of every entry it holds, and demands that tree's root equal the
   checkpoint's. On a mismatch it reads the server's level-0 hash tiles to name the entry: the first
   stored entry the signed tree does not hold (a fork: history was rewritten), or else the first new
   entry whose bundle bytes are not the signed tree's leaf. Each new entry must then be canonical and
   carry `seq` = its index, `prev` = the previous leaf hash, a time not earlier than the last, a kind;
4. replays the rules over the whole log (`auction_engine.replay.replay`): a divergence is a rules
   violation naming the entry; a sealed value not revealed yet stops the replay there without failing
   (partial), and so does a checkpoint that cuts the entries of its last command or deadline short;
5. records the checkpoint and the entries in the state, only once everything above holds.

A violation is an `Outcome` whose `violation` names the kind, the entry (when one can be named) and
what is wrong; a log that cannot be read (unreachable, an HTTP error, a tile of the wrong shape) is a
MonitorError: nothing could be checked.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger import canonical
from ledger.checkpoint import Checkpoint, CheckpointError, verify_signed_checkpoint
from ledger.cosignature import CosignatureError, CosignerVerifier, verify_cosignatures
from ledger.merkle import MerkleTree, leaf_hash
from ledger.note import NoteError, Verifier
from ledger.tiles_client import TilesError, TilesHTTPError

from .display import market_time
from .monitor_state import MonitorState, StateError
from .replay import ReplayReport, replay
from .vault import RevealVault

__all__ = [
    "LogSource",
    "Monitor",
    "MonitorError",
    "Outcome",
    "Partial",
    "RulesVerdict",
    "Violation",
    "ViolationFound",
    "check_rules",
]

ZERO_HASH = bytes(32)


class MonitorError(Exception):
    """The log could not be read (exit 2): the message names the URL and why."""


class LogSource(Protocol):
    """What the monitor reads (ledger.tiles_client.TilesClient over HTTP)."""

    base_url: str

    def checkpoint(self) -> str: ...
    def entries(self, start: int, end: int) -> list[bytes]: ...
    def leaves(self, end: int, start: int = 0) -> list[bytes]: ...


@dataclass(frozen=True)
class Violation:
    """A check that failed: `kind` (signature, checkpoint, cosignatures, truncation, fork, entry_mismatch,
    entry, rules), the entry it names (None when none can be named) and a sentence saying what is wrong."""

    kind: str
    index: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "message": self.message}


@dataclass(frozen=True)
class Partial:
    """The rules were replayed up to entry `index` only: what follows cannot be checked yet (no failure)."""

    index: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "message": self.message}


class ViolationFound(Exception):
    """A check failed (raised by the check functions; `Monitor.poll` turns it into its outcome). For a
    checkpoint whose signature verified, `checkpoint` and `cosignatures` say what it was."""

    def __init__(self, violation: Violation, checkpoint: Checkpoint | None = None, cosignatures: int = 0) -> None:
        super().__init__(violation.message)
        self.violation = violation
        self.checkpoint = checkpoint
        self.cosignatures = cosignatures


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


@dataclass
class Outcome:
    """One checkpoint checked: what held, or the violation found."""

    origin: str
    size: int | None = None
    root: bytes | None = None
    new_entries: int = 0
    deals: int | None = None
    cosignatures: int = 0
    quorum: int = 0
    witnesses: int = 0
    partial: Partial | None = None
    violation: Violation | None = None

    @property
    def ok(self) -> bool:
        return self.violation is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "size": self.size,
            "root": base64.b64encode(self.root).decode() if self.root is not None else None,
            "new_entries": self.new_entries,
            "deals": self.deals,
            "cosignatures": self.cosignatures,
            "quorum": self.quorum,
            "witnesses": self.witnesses,
            "partial": self.partial.to_json() if self.partial else None,
            "violation": self.violation.to_json() if self.violation else None,
        }

    def line(self) -> str:
        """The human line: `checkpoint N OK: …` or `checkpoint N FAILED: …`."""
        head = f"checkpoint {self.size}" if self.size is not None else "checkpoint"
        if self.violation is not None:
            return f"{head} FAILED: {self.violation.message}"
        deals = _plural(self.deals or 0, "deal")
        text = f"{head} OK: {_plural(self.new_entries, 'new entry', 'new entries')} re-hashed, "
        if self.partial is None:
            text += f"rules replayed ({deals})"
        else:
            text += f"rules replayed up to entry {self.partial.index} ({deals}); partial: {self.partial.message}"
        if self.witnesses:
            text += f"; cosigned by {self.cosignatures} of {self.witnesses} witnesses"
            if self.quorum < self.witnesses:
                text += f" (quorum {self.quorum})"
        return text


# -- the checks ------------------------------------------------------------------------------------------


def check_checkpoint(
    note: str, verifier: Verifier, witnesses: Sequence[CosignerVerifier] = (), quorum: int = 0
) -> tuple[Checkpoint, int]:
    """Verify a signed checkpoint with the market's key (origin: its name) and count the witnesses' valid
    cosignatures; ViolationFound for a bad signature, a bad cosignature or fewer than `quorum` of them."""
    try:
        cp, _ = verify_signed_checkpoint(note, verifier, verifier.name)
    except NoteError as exc:
        message = f"the checkpoint is not signed by the market's key {verifier.encode()}: {exc}"
        raise ViolationFound(Violation("signature", None, message)) from None
    except CheckpointError as exc:
        raise ViolationFound(
            Violation("checkpoint", None, f"the checkpoint is not a valid checkpoint: {exc}")
        ) from None
    if not witnesses:
        return cp, 0
    try:
        found = verify_cosignatures(note, witnesses)
    except CosignatureError as exc:
        message = f"a witness's cosignature does not verify: {exc}"
        raise ViolationFound(Violation("cosignatures", None, message), cp) from None
    if len(found) < quorum:
        names = ", ".join(c.name for c in found) or "none"
        message = (
            f"missing cosignatures: the checkpoint of size {cp.size} carries {len(found)} valid cosignatures of"
            f" the {len(witnesses)} witnesses given ({names}), {quorum} required"
        )
        raise ViolationFound(Violation("cosignatures", None, message), cp, len(found))
    return cp, len(found)


def check_entry_fields(entries: Sequence[bytes], start: int, prev_leaf: bytes, last_t: int) -> list[dict[str, Any]]:
    """Decode entries start … canonically and check `seq`, `prev`, `t` and `kind` (as `ledger verify` does);
    ViolationFound naming the first that fails. Returns the decoded entries."""
    decoded = []
    for i, data in enumerate(entries, start):
        try:
            entry = canonical.decode(data)
        except canonical.CanonicalError as exc:
            raise ViolationFound(Violation("entry", i, f"entry {i} is not a canonical entry: {exc}")) from None
        problem = None
        if entry.get("seq") != i or type(entry.get("seq")) is not int:
            problem = f"entry {i} carries seq {entry.get('seq')!r}, not its index {i}"
        elif entry.get("prev") != prev_leaf:
            problem = f"entry {i}'s prev is not the leaf hash of entry {i - 1}" if i else "entry 0's prev is not zeros"
        elif type(entry.get("t")) is not int:
            problem = f"entry {i}'s time {entry.get('t')!r} is not an integer (ms since the epoch)"
        elif entry["t"] < last_t:  # in the default market zone, UTC+08:00 (the new entries may not hold the genesis)
            shown = market_time(entry["t"]), market_time(last_t)
            problem = f"entry {i}'s time {shown[0]} is before the previous entry's, {shown[1]}"
        elif type(entry.get("kind")) is not str or not entry["kind"]:
            problem = f"entry {i} has no kind"
        if problem:
            raise ViolationFound(Violation("entry", i, problem))
        decoded.append(entry)
        prev_leaf, last_t = leaf_hash(data), entry["t"]
    return decoded


@dataclass
class RulesVerdict:
    """The rules replayed over a log: the deals they reproduced, how far (partial) or where they diverge."""

    deals: int = 0
    partial: Partial | None = None
    violation: Violation | None = None


def _violation(report: ReplayReport) -> Violation:
    return Violation("rules", report.index, f"rules violation at entry {report.index}: {report.message}")


def check_rules(entries: Sequence[bytes], origin: str) -> RulesVerdict:
    """Replay the rules over `entries` (a log's first entries, as a checkpoint covers them).

    Entry 0 must name `origin`. A replay stopped at a sealed value not revealed yet is partial; so is one
    whose rules write more entries than there are (the checkpoint cut the entries of its last command or
    deadline): every entry was reproduced, and the bidder signatures are checked up to that command. Any
    other divergence, or a bidder signature that does not verify, is a rules violation.
    """
    raw = list(entries)
    if not raw:
        return RulesVerdict()
    try:
        decoded = [canonical.decode(data) for data in raw]
    except canonical.CanonicalError as exc:  # `check_entry_fields` names the entry
        return RulesVerdict(violation=Violation("entry", None, f"an entry is not a canonical entry: {exc}"))
    named = decoded[0].get("origin")
    if named != origin:
        return RulesVerdict(violation=Violation("rules", 0, f"entry 0 names origin {named!r}, not the log {origin!r}"))
    report = replay(raw)
    if report.ok:
        return RulesVerdict(len(report.deals))
    vault = RevealVault.from_entries(decoded)  # the whole replay opened the sealed fields with these
    stop = len(raw)
    cut: int | None = None
    while not report.ok and not report.unrevealed and report.index is not None and report.index >= stop:
        # The rules go on writing past the last entry: the checkpoint cut a command's (or a deadline's)
        # entries short. Replay up to the last command, whose entries are complete, for the signatures.
        stop = next((i for i in range(stop - 1, 0, -1) if "ok" in decoded[i]), 0)
        cut = stop
        if stop == 0:
            report = ReplayReport(True, 0)
            break
        report = replay(raw[:stop], vault)
    if report.ok and cut is not None:
        message = (
            f"the entries of entry {cut}'s command (or of a deadline after it) continue past this checkpoint;"
            f" its bidder signatures are checked once a checkpoint covers them"
        )
        return RulesVerdict(len(report.deals), Partial(cut, message))
    if report.unrevealed and report.index is not None:
        at = report.index
        prefix = replay(raw[:at], vault)  # entries 0 … at−1: their counts and bidder signatures
        if not prefix.ok:
            return RulesVerdict(violation=_violation(prefix))
        return RulesVerdict(len(prefix.deals), Partial(at, f"entry {at} waits for a reveal ({report.message})"))
    return RulesVerdict(violation=_violation(report))


# -- the monitor -----------------------------------------------------------------------------------------


class Monitor:
    """Checks each checkpoint `source` publishes against what `state` holds, and records it there."""

    def __init__(
        self,
        source: LogSource,
        verifier: Verifier,
        state: MonitorState,
        witnesses: Sequence[CosignerVerifier] = (),
        quorum: int | None = None,
    ) -> None:
        self.source = source
        self.verifier = verifier
        self.state = state
        self.witnesses = list(witnesses)
        self.quorum = len(self.witnesses) if quorum is None else quorum
        self._rules: tuple[int, RulesVerdict] | None = None  # the verdict at a size (the log only grows)

    def poll(self) -> Outcome:
        """Fetch and check the current checkpoint; MonitorError when the log cannot be read."""
        state = self.state
        outcome = Outcome(state.origin, quorum=self.quorum, witnesses=len(self.witnesses))
        try:
            note = self.source.checkpoint()
        except TilesError as exc:
            raise MonitorError(str(exc)) from None
        before = state.size
        try:
            cp, outcome.cosignatures = check_checkpoint(note, self.verifier, self.witnesses, self.quorum)
            outcome.size, outcome.root = cp.size, cp.root
            new = self._extend(cp, outcome)
            check_entry_fields(new, before, state.tree.leaf(before - 1) if before else ZERO_HASH, state.last_t)
            verdict = self._replay(cp.size, new)
            if verdict.violation is not None:
                raise ViolationFound(verdict.violation)
        except ViolationFound as found:
            outcome.violation = found.violation
            if found.checkpoint is not None:
                outcome.size, outcome.root = found.checkpoint.size, found.checkpoint.root
                outcome.cosignatures = found.cosignatures
            state.tree.truncate(before)
            return outcome
        except BaseException:
            state.tree.truncate(before)
            raise
        outcome.deals, outcome.partial = verdict.deals, verdict.partial
        if new or note != state.checkpoint:
            try:
                state.commit(new, cp.size, cp.root, note)
            except OSError as exc:
                state.tree.truncate(before)
                where = str(state.directory)
                raise StateError(f"cannot write the state in {where!r}: {exc.strerror or exc}") from None
        return outcome

    def _extend(self, cp: Checkpoint, outcome: Outcome) -> list[bytes]:
        """The new entries, appended to the state's tree once its root at the checkpoint's size is the
        checkpoint's; ViolationFound for a truncation, a fork or entries that are not the signed tree's."""
        state = self.state
        if cp.size < state.size:
            prefix = state.tree.root(cp.size) == cp.root
            how = (
                "its root is that of the monitor's first entries (the server went back to an older checkpoint)"
                if prefix
                else f"its root is not that of the monitor's first {cp.size} entries either{self._name_fork(cp)}"
            )
            message = (
                f"truncation: the log's checkpoint has size {cp.size}, smaller than the size {state.size} the monitor"
                f" checked before (entries {cp.size}… are gone); {how}"
            )
            raise ViolationFound(Violation("truncation", cp.size, message))
        if cp.size == state.size:
            if cp.root != state.root:
                raise ViolationFound(self._fork(cp, []))
            return []
        try:
            new = self.source.entries(state.size, cp.size)
        except TilesHTTPError as exc:
            hint = "; give --token-file with an auditor's token (the operator makes one: POST /api/auditors)"
            raise MonitorError(str(exc) + (hint if exc.status in (401, 403) else "")) from None
        except TilesError as exc:
            raise MonitorError(str(exc)) from None
        outcome.new_entries = len(new)
        leaves = [leaf_hash(data) for data in new]
        state.tree.extend(leaves)
        if state.tree.root(cp.size) != cp.root:
            raise ViolationFound(self._fork(cp, leaves))
        return new

    def _fork(self, cp: Checkpoint, new_leaves: list[bytes]) -> Violation:
        """The violation for entries that do not hash to the signed root, naming the entry from the server's
        level-0 hash tiles when they hash to the signed root themselves."""
        state = self.state
        state_size = state.size
        try:
            server = self.source.leaves(cp.size)
        except TilesError as exc:
            server, why = None, f"its hash tiles cannot be read to name the entry ({exc})"
        else:
            if MerkleTree(server).root(cp.size) != cp.root:
                server, why = None, "its level-0 hash tiles do not hash to its signed root either"
        if server is not None:
            first = next((i for i in range(min(state_size, cp.size)) if state.tree.leaf(i) != server[i]), None)
            if first is not None:
                return Violation(
                    "fork",
                    first,
                    f"fork at entry {first}: the checkpoint of size {cp.size} commits to another entry {first} than"
                    f" the one the monitor checked under its checkpoint of size {state_size} (history was rewritten)",
                )
            for j, leaf in enumerate(new_leaves):
                i = state_size + j
                if leaf != server[i]:
                    return Violation(
                        "entry_mismatch",
                        i,
                        f"fork at entry {i}: the server's entry bundle holds an entry {i} that is not the leaf of its"
                        f" signed tree of size {cp.size} (its hash tiles name another)",
                    )
            why = "its hash tiles agree with every entry, yet not with the root"
        if new_leaves:
            message = (
                f"entry mismatch: the entries {state_size}…{cp.size - 1} served do not extend the monitor's"
                f" {state_size} entries to the checkpoint's root; {why}"
            )
            return Violation("entry_mismatch", None, message)
        message = (
            f"fork: the checkpoint of size {cp.size} has another root than the one the monitor checked at that size"
            f" ({base64.b64encode(cp.root).decode()}, not {base64.b64encode(state.root).decode()}); {why}"
        )
        return Violation("fork", None, message)

    def _name_fork(self, cp: Checkpoint) -> str:
        """For a truncation that is also a fork: `: fork at entry N` from the server's hash tiles, if they agree."""
        try:
            server = self.source.leaves(cp.size)
        except TilesError:
            return ""
        if MerkleTree(server).root(cp.size) != cp.root:
            return ""
        first = next((i for i in range(cp.size) if self.state.tree.leaf(i) != server[i]), None)
        return "" if first is None else f": fork at entry {first}"

    def _replay(self, size: int, new: list[bytes]) -> RulesVerdict:
        if self._rules is not None and self._rules[0] == size and not new:
            return self._rules[1]
        verdict = check_rules([*self.state.entries, *new], self.state.origin)
        if verdict.violation is None:
            self._rules = (size, verdict)
        return verdict
