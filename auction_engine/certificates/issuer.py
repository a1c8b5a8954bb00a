"""Issuing a certificate from a ledger: find the code's txcode entry and its deal, prove both, fill the fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger import LedgerError, Log, StoreError, canonical, open_store
from ledger.certificate import EXIT_FAILED, EXIT_UNREADABLE, ProvenEntry
from ledger.checkpoint import Checkpoint, TlogProof
from ledger.merkle import leaf_hash
from ledger.txcode import TxCode, TxCodeError, parse_code

from .fields import FORMAT, b64, describe, missing_context, signing_key_label, top_fields
from .sessions import SessionIndex, index_sessions, session_indices, transcript_indices


class IssueError(Exception):
    """A certificate cannot be issued: the message says why; exit 2 for bad input, 1 for a bad ledger."""

    def __init__(self, message: str, exit_code: int = EXIT_UNREADABLE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def open_ledger(db: str | Path) -> Log:
    """A ledger (a SQLite file or a store URL) opened read-only; IssueError (exit 2) if it cannot be read."""
    try:
        store = open_store(str(db), readonly=True)
        return Log(store, readonly=True, origin=store.get_meta("origin") or "unknown")
    except (StoreError, LedgerError, ValueError) as exc:
        raise IssueError(f"cannot read ledger {str(db)!r}: {exc}") from None


class SparseEntries(Sequence[bytes]):
    """Some of a ledger's entries, by index, standing for all `size` of them (see `Issuer`)."""

    def __init__(self, entries: Mapping[int, bytes], size: int) -> None:
        self._entries = entries
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i: Any) -> Any:
        found = self._entries.get(i) if type(i) is int else None
        if found is None:
            raise IssueError(f"ledger entry {i} was not read for this certificate", EXIT_FAILED)
        return found


class Issuer:
    """Issues certificates from one read of a ledger (a `Log` opened read-only).

    `raw` and `index` let a caller that keeps its own index of the ledger (the live server) give only
    the entries a certificate needs: `raw` is then a `SparseEntries`, `index` each lot's entries and
    each sub-market's openings (as `session_indices` reads them), and `issue` must be told each
    code's `record_at`.
    """

    def __init__(
        self,
        log: Log,
        *,
        many: bool = False,
        raw: Sequence[bytes] | None = None,
        index: SessionIndex | None = None,
    ) -> None:
        self.log = log
        self.many = many  # issuing many certificates: index every lot's session once (see `transcript`)
        self.raw = list(log.entries()) if raw is None else raw
        self._decoded: dict[int, dict[str, Any]] = {}
        self._sessions = index
        try:
            self.stored = log.checkpoint()
        except LedgerError:
            self.stored = None

    def entry(self, i: int) -> dict[str, Any]:
        """Entry `i` decoded (once); IssueError (exit 1) if it is not canonical."""
        found = self._decoded.get(i)
        if found is None:
            try:
                found = self._decoded[i] = canonical.decode(self.raw[i])
            except canonical.CanonicalError as exc:
                raise IssueError(f"ledger entry {i} is not canonical: {exc}", EXIT_FAILED) from None
        return found

    def code_records(self) -> dict[str, int]:
        """Every issued code -> the index of its txcode entry (a code issued twice is a ledger fault)."""
        out: dict[str, int] = {}
        for i, data in enumerate(self.raw):
            if b"txcode" in data and self.entry(i).get("kind") == "txcode":
                code = self.entry(i).get("code")
                if code in out:
                    raise IssueError(f"code {code} is issued twice (entries {out[code]} and {i})", EXIT_FAILED)
                out[code] = i
        return out

    def transcript(self, lot: str, submarket: str, size: int) -> list[int]:
        """`transcript_indices(self.raw[:size], lot, submarket)`: from the caller's session index; issuing
        many certificates, from one built in one pass on first use (the ledger read once, not once each);
        else by a byte search that decodes only the lot's own entries."""
        if self._sessions is None and not self.many:
            return transcript_indices(self.raw[:size], lot, submarket)
        if self._sessions is None:
            self._sessions = index_sessions(self.raw, self.entry)
        return session_indices(*self._sessions, lot, submarket, size)

    def find_record(self, code: TxCode) -> int:
        """The index of the one txcode entry that issued `code` (after its deal entry)."""
        text = code.text
        needle = canonical.encode_value(text)
        found = []
        for i in range(code.index + 1, len(self.raw)):
            if needle in self.raw[i]:
                entry = self.entry(i)
                if entry.get("kind") == "txcode" and entry.get("code") == text:
                    found.append(i)
        if not found:
            raise IssueError(f"no transaction code {text} was issued in this ledger ({len(self.raw)} entries)")
        if len(found) > 1:
            raise IssueError(f"code {text} is issued more than once (entries {found})", EXIT_FAILED)
        return found[0]

    def proven(self, i: int, size: int) -> ProvenEntry:
        """Entry `i` with its inclusion proof in the tree of `size` (its stored leaf hash checked first)."""
        if leaf_hash(self.raw[i]) != self.log.tree.leaf(i):
            raise IssueError(f"ledger entry {i} does not match its stored leaf hash (altered)", EXIT_FAILED)
        return ProvenEntry(i, self.raw[i], tuple(self.log.tree.inclusion_proof(i, size)))

    def issue(self, code_text: str, *, transcript: bool = False, record_at: int | None = None) -> dict[str, Any]:
        """The certificate of a code; `record_at`, the index of its txcode entry where the caller knows it
        (from `code_records`), spares the search for it."""
        try:
            code = parse_code(code_text)
        except TxCodeError as exc:
            raise IssueError(f"code {code_text!r}: {exc}") from None
        if code.index >= len(self.raw):
            raise IssueError(f"code {code.text} names entry {code.index}; the ledger has {len(self.raw)} entries")
        if record_at is None:
            record_at = self.find_record(code)
        record = self.entry(record_at)
        deal_at = record.get("deal_seq")
        if deal_at != code.index:
            raise IssueError(f"the txcode entry {record_at} names deal entry {deal_at!r}, the code {code.index}", 1)
        deal = self.entry(deal_at)
        if deal.get("kind") != "deal" or deal.get("lot") != record.get("lot"):
            raise IssueError(f"entry {deal_at} is not the deal of lot {record.get('lot')!r}", EXIT_FAILED)
        if not code.matches(deal_at, leaf_hash(self.raw[deal_at])):
            raise IssueError(f"code {code.text} does not match the leaf hash of deal entry {deal_at}", EXIT_FAILED)
        missing = missing_context(record)
        if missing:
            raise IssueError(
                f"the txcode entry {record_at} does not state the {', '.join(missing)} a certificate shows"
                " (a ledger written before certificate@v2: replay and certificates need that engine version)",
                EXIT_FAILED,
            )
        cp_note = self._covering(deal_at, record_at)
        cp = Checkpoint.parse(cp_note[: cp_note.index("\n\n") + 1])
        if cp.root != self.log.tree.root(cp.size):
            raise IssueError(f"the stored checkpoint of size {cp.size} does not match the entries", EXIT_FAILED)
        lot = deal["lot"]
        deal_proof = self.proven(deal_at, cp.size)
        key = signing_key_label(cp_note, self.log.origin)
        cert: dict[str, Any] = {"format": FORMAT, "code": code.text}
        cert.update(top_fields(record, cp, key, deal_at, b64(leaf_hash(self.raw[deal_at])), b64(cp.root)))
        cert["deal"] = describe(deal, record)
        cert["entry"] = b64(self.raw[deal_at])
        cert["tlog_proof"] = TlogProof(deal_at, deal_proof.proof, cp_note).text()
        cert["records"] = {"code": self.proven(record_at, cp.size).to_json()}
        if transcript:
            indices = self.transcript(lot, record["submarket"], cp.size)
            cert["transcript"] = [self.proven(i, cp.size).to_json() for i in indices]
        return cert

    def _covering(self, deal_at: int, record_at: int) -> str:
        """The latest signed checkpoint's note, if it covers the deal and its record; else IssueError (exit 2)."""
        if self.stored is None:
            raise IssueError(
                f"no checkpoint has been signed yet: deal entry {deal_at} and its code record {record_at} are not"
                " covered (the market signs checkpoints on its policy; try again after the next one)"
            )
        if self.stored.size <= record_at:
            what = f"deal entry {deal_at}" if self.stored.size <= deal_at else f"the code record (entry {record_at})"
            raise IssueError(
                f"{what} is not covered by a signed checkpoint yet: the latest covers entries 0-{self.stored.size - 1}"
                f" ({self.stored.size} entries); try again after the next checkpoint"
            )
        return self.stored.note


def issue(log: Log, code: str, *, transcript: bool = False) -> dict[str, Any]:
    """The certificate (a JSON-ready dict) for the deal that `code` names, under the latest checkpoint."""
    return Issuer(log).issue(code, transcript=transcript)


def issue_from_entries(
    log: Log,
    code: str,
    entries: Mapping[int, bytes],
    *,
    size: int,
    record_at: int,
    index: SessionIndex,
) -> dict[str, Any]:
    """`issue(log, code, transcript=True)` from only the entries the certificate needs, for a caller that
    keeps its own index of the ledger (the live server): the deal, its txcode entry at `record_at`, and
    the lot's session, found by `index` (each lot's entries, each sub-market's openings; see
    `session_indices`). `log` gives the tree and the checkpoint; `size` is the ledger's (the
    checkpoint's) size. An entry it needs and was not given is an IssueError.
    """
    issuer = Issuer(log, raw=SparseEntries(entries, size), index=index)
    return issuer.issue(code, transcript=True, record_at=record_at)
