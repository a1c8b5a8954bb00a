"""Transaction certificates (技术交易凭证) of this market: issue them from a ledger, verify them, print them.

`ledger.certificate` proves that an entry is in the market's signed log and that the transaction
code names it; this module knows what the entries mean. A certificate here also carries one proven
*record*, the ``txcode`` entry that issued the code: it proves that the market issued the code, and
states what the deal entry does not (the market's name and code prefix, the lot's title and
sub-market, its UTC offset), so that the code's prefix, date and type letter and every human-readable
field are checked against two signed entries. Optionally a *transcript*: every entry of the lot's
session, each with its inclusion proof, which the verifier replays through the rules
(`auction_engine.replay`) to confirm that the winner and the price follow from the published rules
(and that the ``txcode`` entry states what the genesis and listing entries say).

Nothing in a certificate is trusted on its own: human fields are recomputed from the signed entries
and compared, unknown fields are refused. The format is normative in docs/certificates.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import hashlib
import html
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno

from ledger import LedgerError, Log, StoreError, canonical, open_store, strictjson
from ledger.certificate import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREADABLE,
    CertificateError,
    ProvenEntry,
    Verified,
    check_pinned,
    check_pinned_clean,
    check_trusted,
    load_certificate,
    parse_consistency,
    proven_entry_b64,
    verify_certificate,
    verify_proven,
)
from ledger.checkpoint import Checkpoint, TlogProof
from ledger.merkle import leaf_hash
from ledger.note import Verifier, split_note
from ledger.txcode import TxCode, TxCodeError, parse_code

from .engine import MODE_LETTERS
from .model import yuan
from .replay import replay as replay_entries

__all__ = [
    "FORMAT",
    "REASONS",
    "IssueError",
    "Verdict",
    "describe",
    "issue",
    "issue_all",
    "issue_file",
    "issue_from_entries",
    "qr_text",
    "render_html",
    "transcript_indices",
    "verify",
    "verify_file",
]

FORMAT = "auction-engine/certificate@v2"
RECORDS = ("code",)
# What the txcode entry states for the certificate besides the code (the engine copies it from the
# genesis and listing entries when it issues the code): field -> its type.
CONTEXT = {"market": str, "code_prefix": str, "title": str, "submarket": str, "utc_offset_ms": int}

# The auction layer's reasons, after the generic ones of ledger.certificate.REASONS.
REASONS = {
    "not_deal": "the certified entry is not a deal entry",
    "field_mismatch": "a human-readable field does not match the signed entries, or cannot be checked",
    "no_transcript": "--replay was asked but the certificate carries no transcript",
    "transcript": "the transcript is malformed, not proven under the checkpoint, or lacks the deal",
    "replay": "replaying the transcript through the rules gives a different entry (winner, price, ...)",
}

MODE_NAMES = {
    "agreement": "协议定价 agreement pricing",
    "listing": "挂牌交易 listed trading",
    "english": "竞价拍卖 English auction",
    "dutch": "荷兰式拍卖 Dutch auction",
    "sealed": "密封报价 sealed-bid auction",
}

TOP_FIELDS = frozenset(
    {
        "format",
        "code",
        "entry",
        "tlog_proof",
        "market",
        "origin",
        "key",
        "index",
        "leaf_hash",
        "checkpoint_size",
        "checkpoint_root",
        "utc_offset",
        "deal",
        "records",
        "transcript",
    }
)


class IssueError(Exception):
    """A certificate cannot be issued: the message says why; exit 2 for bad input, 1 for a bad ledger."""

    def __init__(self, message: str, exit_code: int = EXIT_UNREADABLE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# -- human-readable fields, derived from the signed entries ---------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@functools.lru_cache(maxsize=64)  # a market has one or two offsets; every certificate shows several times
def _offset_text(offset_ms: int) -> str:
    sign = "-" if offset_ms < 0 else "+"
    minutes = abs(offset_ms) // 60_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=4096)
def _iso_day(days: int) -> str | None:
    """The ISO date `days` after 1970-01-01 (None out of the calendar's range)."""
    try:
        return _dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    except (ValueError, OverflowError):
        return None


_HHMM = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))  # by minute of the day
_SS = tuple(f"{s:02d}" for s in range(60))


def _local(t: Any, offset_ms: int, suffix: str | None = None) -> str | None:
    """An integer ms timestamp as ISO 8601 local time with its offset (None if not a timestamp).

    `suffix` is `_offset_text(offset_ms)` when the caller has it already.
    """
    if type(t) is not int:
        return None
    days, ms = divmod(t + offset_ms, 86_400_000)
    day = _iso_day(days)
    if day is None:
        return None
    seconds, milli = divmod(ms, 1000)
    minutes, sec = divmod(seconds, 60)
    if suffix is None:
        suffix = _offset_text(offset_ms)
    if milli:
        return f"{day}T{_HHMM[minutes]}{_SS[sec]}.{milli:03d}{suffix}"
    return f"{day}T{_HHMM[minutes]}{_SS[sec]}{suffix}"


def _price_yuan(fen: Any) -> str | None:
    if type(fen) is not int:
        return None
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def describe(deal: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The certificate's ``deal`` section: what a person reads, every value derived from signed entries.

    `record` is the txcode entry (its `title`, `submarket`, `utc_offset_ms` and its time `t`).
    """
    offset = record.get("utc_offset_ms")
    if type(offset) is not int:
        offset = 0  # not a certificate's record: _check_record refuses it before the fields are compared
    price = deal.get("price")
    g = deal.get
    return {
        "lot": g("lot"),
        "title": record.get("title"),
        "submarket": record.get("submarket"),
        "seller": g("seller"),
        "buyer": g("buyer"),
        "mode": g("mode"),
        "rule": g("rule"),
        "price_fen": price,
        "price_yuan": _price_yuan(price),
        "price_text": yuan(price) if type(price) is int else None,
        "deal_time": _local(g("t"), offset),
        "payment_due": _local(g("due"), offset),
        "publication_until": _local(g("publication_until"), offset),
        "issued": _local(record.get("t"), offset),
    }


def _key_label(signed_checkpoint: str, origin: str) -> str:
    """name+hex8 of the signature the log made on its checkpoint (the first by the origin's name)."""
    _, sigs = split_note(signed_checkpoint)
    chosen = next((s for s in sigs if s.name == origin), sigs[0])
    return f"{chosen.name}+{chosen.key_id.hex()}"


def _top_fields(record: Mapping[str, Any], cp: Checkpoint, key: str, index: int, leaf: bytes) -> dict[str, Any]:
    offset = record.get("utc_offset_ms")
    return {
        "market": record.get("market"),
        "origin": cp.origin,
        "key": key,
        "index": index,
        "leaf_hash": _b64(leaf),
        "checkpoint_size": cp.size,
        "checkpoint_root": _b64(cp.root),
        "utc_offset": _offset_text(offset) if type(offset) is int else None,
    }


# -- issuing ----------------------------------------------------------------------------------------


def _lot_bytes(lot: str) -> bytes:
    """The msgpack encoding of a lot id as a string value (a fast pre-filter before decoding)."""
    return canonical.encode_value(lot)


_LOT_KEY = canonical.encode_value("lot")  # an entry naming a lot holds these bytes (its key)
_OPEN_SUBMARKET = canonical.encode_value("open_submarket")


def transcript_indices(entries: Sequence[bytes], lot: str, submarket: str = "main") -> list[int]:
    """The entries a lot's session replays from: genesis, its sub-market's opening, every entry naming it.

    Other lots' entries are left out: the rules of one lot do not depend on another lot, and replay
    compares each entry by its own recorded index, so the subset replays byte for byte.
    """
    needle = _lot_bytes(lot)
    sub_needle = _lot_bytes(submarket)
    out = [0]
    for i in range(1, len(entries)):
        data = entries[i]
        if needle not in data and sub_needle not in data:
            continue
        entry = canonical.decode(data)
        if entry.get("lot") == lot or (entry.get("kind") == "open_submarket" and entry.get("submarket") == submarket):
            out.append(i)
    return out


SessionIndex = tuple[Mapping[str, Sequence[int]], Mapping[str, Sequence[int]]]
"""Each lot's entries and each sub-market's openings (`open_submarket` entries), by index."""


def new_session_index(
    factory: Callable[[], MutableSequence[int]],
) -> tuple[defaultdict[str, MutableSequence[int]], defaultdict[str, MutableSequence[int]]]:
    """An empty session index to fill with `index_entry` (`factory` makes each list: `list`, an array...)."""
    return defaultdict(factory), defaultdict(factory)


def index_entry(
    index: tuple[Mapping[str, MutableSequence[int]], ...], seq: int, kind: Any, fields: Mapping[str, Any]
) -> None:
    """Add entry `seq` (its kind and fields) to a session index made by `new_session_index`."""
    by_lot, openings = index
    lot = fields.get("lot")
    if type(lot) is str:
        by_lot[lot].append(seq)
    if kind == "open_submarket" and type(fields.get("submarket")) is str:
        openings[fields["submarket"]].append(seq)


def session_indices(
    by_lot: Mapping[str, Iterable[int]], openings: Mapping[str, Iterable[int]], lot: str, submarket: str, size: int
) -> list[int]:
    """`transcript_indices` of the first `size` entries, from an index of them: each lot's entries and
    each sub-market's openings (`open_submarket` entries)."""
    found = {i for i in by_lot.get(lot, ()) if i < size}
    found.update(i for i in openings.get(submarket, ()) if i < size)
    found.discard(0)
    return [0, *sorted(found)]


class _Issuer:
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
            index = self._sessions = new_session_index(list)
            for i in range(1, len(self.raw)):
                data = self.raw[i]
                if _LOT_KEY in data or _OPEN_SUBMARKET in data:  # else it names no lot, opens no sub-market
                    entry = self.entry(i)
                    index_entry(index, i, entry.get("kind"), entry)
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
        missing = [name for name, kind in CONTEXT.items() if type(record.get(name)) is not kind]
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
        key = _key_label(cp_note, self.log.origin)
        cert: dict[str, Any] = {"format": FORMAT, "code": code.text}
        cert.update(_top_fields(record, cp, key, deal_at, leaf_hash(self.raw[deal_at])))
        cert["deal"] = describe(deal, record)
        cert["entry"] = _b64(self.raw[deal_at])
        cert["tlog_proof"] = TlogProof(deal_at, deal_proof.proof, cp_note).text()
        cert["records"] = {"code": self.proven(record_at, cp.size).to_json()}
        if transcript:
            indices = self.transcript(lot, record["submarket"], cp.size)
            cert["transcript"] = [self.proven(i, cp.size).to_json() for i in indices]
        return cert

    def _covering(self, deal_at: int, record_at: int) -> str:
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


def _open(db: str | Path) -> Log:
    try:
        store = open_store(str(db), readonly=True)
        return Log(store, readonly=True, origin=store.get_meta("origin") or "unknown")
    except (StoreError, LedgerError, ValueError) as exc:
        raise IssueError(f"cannot read ledger {str(db)!r}: {exc}") from None


class SparseEntries(Sequence[bytes]):
    """Some of a ledger's entries, by index, standing for all `size` of them (see `_Issuer`)."""

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
    issuer = _Issuer(log, raw=SparseEntries(entries, size), index=index)
    return issuer.issue(code, transcript=True, record_at=record_at)


def issue(log: Log, code: str, *, transcript: bool = False) -> dict[str, Any]:
    """The certificate (a JSON-ready dict) for the deal that `code` names, under the latest checkpoint."""
    return _Issuer(log).issue(code, transcript=transcript)


def dumps(cert: Mapping[str, Any]) -> str:
    """A certificate's file text (`.cert.json`), as `certificate issue` writes it and the server serves it."""
    return json.dumps(cert, indent=2, ensure_ascii=False) + "\n"


def issue_file(
    db: str | Path,
    code: str,
    out: str | Path,
    *,
    transcript: bool = False,
    html_out: str | Path | None = None,
    base_url: str | None = None,
) -> Path:
    """Issue the certificate for `code` from ledger file `db`, write it to `out` (and an HTML page)."""
    log = _open(db)
    try:
        cert = issue(log, code, transcript=transcript)
    finally:
        log.store.close()
    path = Path(out)
    path.write_text(dumps(cert), encoding="utf-8")
    if html_out is not None:
        Path(html_out).write_text(render_html(cert, base_url=base_url), encoding="utf-8")
    return path


def issue_all(
    db_path: str | Path,
    out_dir: str | Path,
    transcript: bool = True,
    *,
    html_pages: bool = True,
    base_url: str | None = None,
    skip_uncovered: bool = False,
) -> list[Path]:
    """Write ``CODE.cert.json`` (and ``CODE.html``) into `out_dir` for every code issued in the ledger.

    Codes whose entries no signed checkpoint covers yet raise IssueError, or are skipped with
    `skip_uncovered`. Returns the certificate paths in ledger order.
    """
    log = _open(db_path)
    try:
        issuer = _Issuer(log, many=True)
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for code, at in issuer.code_records().items():
            if skip_uncovered and (issuer.stored is None or issuer.stored.size <= at):
                continue
            cert = issuer.issue(code, transcript=transcript, record_at=at)
            path = directory / f"{cert['code']}.cert.json"
            path.write_text(dumps(cert), encoding="utf-8")
            if html_pages:
                (directory / f"{cert['code']}.html").write_text(render_html(cert, base_url=base_url), encoding="utf-8")
            paths.append(path)
        return paths
    finally:
        log.store.close()


# -- verifying --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """The outcome of verifying a certificate: valid, or the first failed check and exactly why."""

    ok: bool
    reason: str | None = None
    message: str | None = None
    exit_code: int = EXIT_OK
    path: str | None = None
    code: str | None = None
    checks: list[str] = field(default_factory=list)  # the checks passed, in order
    facts: dict[str, Any] = field(default_factory=dict)  # read from the signed entries, never the file

    @property
    def status(self) -> str:
        return "VALID" if self.ok else ("UNREADABLE" if self.exit_code == EXIT_UNREADABLE else "INVALID")

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "exit_code": self.exit_code,
            "certificate": self.path,
            "code": self.code,
            "checks": list(self.checks),
            "facts": dict(self.facts),
        }

    def lines(self) -> list[str]:
        """A readable verdict: the deal as the signed entries state it, or the check that failed."""
        name = self.code or self.path or "certificate"
        out = [f"certificate {name}: {self.status}"]
        f = self.facts
        if not self.ok:
            out.append(f"  FAIL [{self.reason}] {self.message}")
            if self.checks:
                out.append(f"  passed before it: {', '.join(self.checks)}")
            return out
        deal = f.get("deal", {})
        title = deal.get("title")
        out.append(
            f"  deal:       lot {deal.get('lot')}" + (f" «{title}»" if title and title != deal.get("lot") else "")
        )
        out.append(f"  mode:       {MODE_NAMES.get(deal.get('mode'), deal.get('mode'))} (rule {deal.get('rule')})")
        out.append(f"  price:      {deal.get('price_text')} ({deal.get('price_fen')} fen)")
        out.append(f"  seller:     {deal.get('seller')}")
        out.append(f"  buyer:      {deal.get('buyer')}")
        out.append(f"  deal time:  {deal.get('deal_time')}")
        out.append(f"  issued:     {deal.get('issued')}")
        out.append(
            f"  ledger:     entry {f.get('index')} in the log {f.get('origin')}, under a checkpoint of size"
            f" {f.get('checkpoint_size')} signed by {f.get('key')}"
        )
        if "trusted_size" in f:
            out.append(f"  trusted:    consistent with the checkpoint of size {f['trusted_size']} saved earlier")
        if "replay" in f:
            r = f["replay"]
            out.append(
                f"  replay:     {r['entries']} transcript entries ({r['commands']} commands) reproduced byte for byte"
                " by the rules: the winner and the price follow from them"
            )
        return out


def _fail(reason: str, message: str, index: int | None = None) -> CertificateError:
    return CertificateError(reason, message, index)


def _same(a: Any, b: Any) -> bool:
    """Equal with the same JSON type (so true is not 1 and 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _check_record(v: Verified) -> dict[str, Any]:
    """The code's own record: present, the txcode entry issuing this code for this deal, stating its context."""
    deal = v.entry
    for name in RECORDS:
        if name not in v.records:
            raise _fail("code_mismatch", f"the certificate has no proven {name!r} record to check the code against")
    extra = set(v.records) - set(RECORDS)
    if extra:
        raise _fail("field_mismatch", f"unknown record {sorted(extra)[0]!r} (not part of the format)")
    code_at, _, record = v.records["code"]
    if record.get("kind") != "txcode" or record.get("code") != v.code.text:
        raise _fail("code_mismatch", f"record 'code' (entry {code_at}) is not the txcode entry issuing {v.code.text}")
    if record.get("deal_seq") != v.index or record.get("lot") != deal.get("lot") or code_at <= v.index:
        raise _fail(
            "code_mismatch",
            f"the txcode entry {code_at} issues {v.code.text} for deal entry {record.get('deal_seq')!r} of lot"
            f" {record.get('lot')!r}, not for entry {v.index} of lot {deal.get('lot')!r}",
        )
    for name, kind in CONTEXT.items():
        if type(record.get(name)) is not kind:
            raise _fail(
                "code_mismatch",
                f"the txcode entry {code_at} does not state {name!r} as {kind.__name__}"
                f" (it says {record.get(name)!r}; a ledger written before {FORMAT}?)",
                code_at,
            )
    return record


def _check_code_meaning(v: Verified, record: Mapping[str, Any]) -> None:
    """The code's prefix, date (the deal's local date) and type letter say what the signed entries say."""
    code, deal = v.code, v.entry
    prefix = record["code_prefix"]
    if prefix != code.prefix:
        raise _fail("code_mismatch", f"code {code.text} has prefix {code.prefix}; the market's is {prefix!r}")
    letter = MODE_LETTERS.get(deal.get("mode"), "X")
    if code.kind != letter:
        raise _fail(
            "code_mismatch", f"code {code.text} has type letter {code.kind}; a {deal.get('mode')} deal has {letter}"
        )
    dealt = _local(deal.get("t"), record["utc_offset_ms"])
    date = f"{dealt[2:4]}{dealt[5:7]}{dealt[8:10]}" if dealt else None
    if code.date != date:
        raise _fail("code_mismatch", f"code {code.text} has date {code.date}; the deal was struck at {dealt}")


def _check_fields(obj: Mapping[str, Any], v: Verified, record: Mapping[str, Any]) -> dict[str, Any]:
    """Every human-readable field must equal its value derived from the signed entries."""
    for key in obj:
        if key not in TOP_FIELDS:
            raise _fail("field_mismatch", f"field {key!r} is not part of the format (it cannot be checked)")
    expected = _top_fields(record, v.checkpoint, f"{v.verifier.name}+{v.verifier.key_id.hex()}", v.index, v.leaf)
    for key, want in expected.items():
        if key in obj and not _same(obj[key], want):
            raise _fail("field_mismatch", f"field {key!r} says {obj[key]!r}; the signed entries say {want!r}")
    deal = describe(v.entry, record)
    shown = obj.get("deal", {})
    if type(shown) is not dict:
        raise _fail("field_mismatch", "field 'deal' must be an object")
    for key, value in shown.items():
        if key not in deal:
            raise _fail("field_mismatch", f"field 'deal.{key}' is not part of the format (it cannot be checked)")
        if not _same(value, deal[key]):
            raise _fail(
                "field_mismatch", f"field 'deal.{key}' says {value!r}; the signed deal entry says {deal[key]!r}"
            )
    facts = dict(expected)
    facts["deal"] = deal
    return facts


# -- the single pass ----------------------------------------------------------------------------------
#
# The checks above run one by one, in the normative order, and name the first that fails. A valid
# certificate needs no names: `_verify_clean` makes the same checks in one pass with the least Python
# overhead (one JSON parse, each entry decoded once, the proofs hashed in a tight loop, the fields
# compared as whole dictionaries) and answers None at the first thing it does not like; `verify` then
# runs the checks above, which find the failure and say exactly what it is. It never accepts what they
# refuse: every check below is one of theirs, or implies it. The signature is verified every time.

_ALL_CHECKS = (
    "readable",
    "encoding",
    "checkpoint_signature",
    "inclusion",
    "code_binding",
    "deal",
    "code_meaning",
    "fields",
)
_a2b, _b2a = binascii.a2b_base64, binascii.b2a_base64
_sha256 = hashlib.sha256
_PROVEN_KEYS = frozenset({"index", "entry", "proof"})  # a proven entry's fields (ledger.certificate)
_key_labels: dict[tuple[str, bytes], str] = {}  # (name, public key) -> name+hex8: few keys, each once


def _verify_clean(raw: Any, verifier: Verifier, origin: str | None) -> tuple[str, dict[str, Any]] | None:
    """The code and the facts of a certificate that passes every check (no replay, no trusted checkpoint), else None."""
    try:
        obj = strictjson.quick_loads(raw) if type(raw) is bytes or type(raw) is str else raw
        if obj is None:
            obj = strictjson.loads(raw)
        if type(obj) is not dict or obj.get("format", FORMAT) != FORMAT or not TOP_FIELDS.issuperset(obj):
            return None
        code = obj["code"]
        if type(code) is not str or type(obj["entry"]) is not str or type(obj["tlog_proof"]) is not str:
            return None
        # -- the pinned fields: entry, proof, signature, inclusion, the code's form and binding
        clean = check_pinned_clean(obj, verifier, origin)
        if clean is None:
            return None
        deal, index, cp = clean.entry, clean.index, clean.checkpoint
        if deal.get("kind") != "deal":
            return None
        # -- the one record: the txcode entry, proven under the same checkpoint
        records = obj["records"]
        if type(records) is not dict or len(records) != 1:
            return None
        rec = records["code"]
        if type(rec) is not dict or rec.keys() != _PROVEN_KEYS:
            return None
        at, rec64, proof64 = rec["index"], rec["entry"], rec["proof"]
        if type(at) is not int or type(rec64) is not str or type(proof64) is not str:
            return None
        proven = proven_entry_b64(rec64, at, proof64, cp.size, cp.root)
        if proven is None or at <= index:
            return None
        record = proven[2]
        g = record.get
        d = deal.get
        lot = d("lot")
        if g("kind") != "txcode" or g("code") != code or g("deal_seq") != index or g("lot") != lot:
            return None
        market, prefix, offset = g("market"), g("code_prefix"), g("utc_offset_ms")
        title, submarket = g("title"), g("submarket")
        if (
            type(market) is not str
            or type(prefix) is not str
            or type(title) is not str
            or type(submarket) is not str
            or type(offset) is not int
        ):
            return None
        # -- the code's meaning: the market's prefix, the deal's mode letter, the deal's local date
        suffix = _offset_text(offset)
        expected = describe(deal, record)
        dealt = expected["deal_time"]
        mode = d("mode")
        if (
            clean.prefix != prefix
            or clean.kind != MODE_LETTERS.get(mode, "X")
            or dealt is None
            or clean.date != f"{dealt[2:4]}{dealt[5:7]}{dealt[8:10]}"
        ):
            return None
        # -- the human fields: each one shown equals its value from the signed entries (same JSON type:
        # a shown value equal to a string is a string; integers are checked for their type)
        ident = (verifier.name, verifier.public_key)
        key = _key_labels.get(ident)
        if key is None:
            key = _key_labels[ident] = f"{verifier.name}+{verifier.key_id.hex()}"
        leaf64 = _b2a(clean.leaf, newline=False).decode()
        origin_, size, root64 = cp.origin, cp.size, clean.root64
        get = obj.get
        shown_index, shown_size = get("index", index), get("checkpoint_size", size)
        if (
            get("market", market) != market
            or get("origin", origin_) != origin_
            or get("key", key) != key
            or get("leaf_hash", leaf64) != leaf64
            or get("checkpoint_root", root64) != root64
            or get("utc_offset", suffix) != suffix
            or shown_index != index
            or type(shown_index) is not int
            or shown_size != size
            or type(shown_size) is not int
        ):
            return None
        price, seller, buyer, rule = d("price"), d("seller"), d("buyer"), d("rule")
        shown = get("deal", expected)
        # Equal dictionaries have the same keys (a partial deal section goes to the reference). Equal values
        # of different JSON types can only be numbers and booleans (1 == 1.0 == true) or containers holding
        # them: with the deal's own fields strings and its price an integer, the shown price is the one
        # value whose type remains to be checked.
        if shown is not expected and (
            type(shown) is not dict
            or shown != expected
            or type(shown["price_fen"]) is not int
            or type(price) is not int
            or type(lot) is not str
            or type(seller) is not str
            or type(buyer) is not str
            or type(mode) is not str
            or type(rule) is not str
        ):
            return None
    except (KeyError, TypeError, ValueError, StopIteration, binascii.Error):  # ValueError: JSON, base64, ...
        return None
    facts = {
        "market": market,
        "origin": origin_,
        "key": key,
        "index": index,
        "leaf_hash": leaf64,
        "checkpoint_size": size,
        "checkpoint_root": root64,
        "utc_offset": suffix,
        "deal": expected,
    }
    return code, facts


def _check_transcript(obj: Mapping[str, Any], v: Verified) -> dict[str, Any]:
    """Every transcript entry proven under the checkpoint, the deal among them, then replayed by the rules."""
    raw_list = obj.get("transcript")
    if raw_list is None:
        raise _fail("no_transcript", "the certificate carries no transcript to replay (issue it with --transcript)")
    if type(raw_list) is not list or not raw_list:
        raise _fail("transcript", "the transcript must be a non-empty list of proven entries")
    entries = [
        ProvenEntry.from_json(item, f"transcript item {n}", reason="transcript") for n, item in enumerate(raw_list)
    ]
    previous = -1
    by_index: dict[int, bytes] = {}
    for n, p in enumerate(entries):
        if p.index <= previous:
            raise _fail(
                "transcript", f"transcript item {n}: entry {p.index} is out of order (after {previous})", p.index
            )
        previous = p.index
        verify_proven(p, v.checkpoint, f"transcript item {n}", reason="transcript")
        try:
            decoded = canonical.decode(p.data)
        except canonical.CanonicalError as exc:
            raise _fail("transcript", f"transcript entry {p.index} is not canonical: {exc}", p.index) from None
        if decoded.get("seq") != p.index:
            raise _fail("transcript", f"transcript entry {p.index} says seq {decoded.get('seq')!r}", p.index)
        by_index[p.index] = p.data
    if entries[0].index != 0:
        raise _fail("transcript", "the transcript must begin with the market's genesis entry 0")
    if by_index.get(v.index) != v.data:
        raise _fail("transcript", f"the transcript does not contain the certified deal entry {v.index}", v.index)
    for name, (at, data, _) in v.records.items():
        if by_index.get(at) != data:
            raise _fail("transcript", f"the transcript does not contain record {name!r} (entry {at})", at)
    report = replay_entries([p.data for p in entries])
    if not report.ok:
        n = report.index if report.index is not None else len(entries)
        if n < len(entries):
            at = entries[n].index
            kind = canonical.decode(entries[n].data).get("kind")
            where = f"entry {at} ({kind})"
        else:
            at, where = None, "after the last transcript entry"
        raise _fail("replay", f"{where}: {report.message}", at)
    return {"entries": report.entries, "commands": report.commands, "deals": len(report.deals)}


def verify(
    obj: Mapping[str, Any] | bytes | str,
    verifier: Verifier,
    *,
    replay: bool = False,
    trusted: str | None = None,
    consistency: Sequence[bytes] | str | None = None,
    origin: str | None = None,
    path: str | None = None,
) -> Verdict:
    """Verify a certificate (loaded JSON, or its text) with the market's verifier key; never raises.

    `trusted` is a signed checkpoint the auditor saved earlier and `consistency` the consistency
    proof between it and the certificate's checkpoint (hashes, or the text `ledger consistency` prints).
    """
    if not replay and trusted is None:
        clean = _verify_clean(obj, verifier, origin)
        if clean is not None:
            return Verdict(True, path=path, code=clean[0], checks=list(_ALL_CHECKS), facts=clean[1])
    verdict = Verdict(ok=False, path=path)
    checks = verdict.checks
    try:
        cert = load_certificate(obj) if isinstance(obj, bytes | str) else check_pinned(obj)
        if cert.get("format", FORMAT) != FORMAT:
            raise _fail(
                "unreadable", f"unsupported certificate format {cert.get('format')!r} (this verifier reads {FORMAT})"
            )
        verdict.code = cert["code"]
        checks.append("readable")
        v = verify_certificate(cert, verifier, origin=origin)
        checks += ["encoding", "checkpoint_signature", "inclusion", "code_binding"]
        if v.entry.get("kind") != "deal":
            raise _fail("not_deal", f"entry {v.index} is a {v.entry.get('kind')!r} entry, not a deal", v.index)
        checks.append("deal")
        record = _check_record(v)
        _check_code_meaning(v, record)
        checks.append("code_meaning")
        verdict.facts = _check_fields(cert, v, record)
        checks.append("fields")
        if trusted is not None:
            proof = parse_consistency(consistency) if isinstance(consistency, str) else consistency
            t = check_trusted(
                v.checkpoint, trusted, list(proof) if proof is not None else None, verifier, origin=origin
            )
            verdict.facts["trusted_size"] = t.size
            checks.append("consistency")
        if replay:
            verdict.facts["replay"] = _check_transcript(cert, v)
            checks.append("replay")
    except CertificateError as exc:
        verdict.reason, verdict.message, verdict.exit_code = exc.reason, exc.message, exc.exit_code
        if exc.index is not None:
            verdict.facts["failed_index"] = exc.index
        return verdict
    except ValueError as exc:  # a consistency proof text that is not one base64 hash a line
        verdict.reason, verdict.message, verdict.exit_code = "unreadable", f"consistency proof: {exc}", EXIT_UNREADABLE
        return verdict
    verdict.ok = True
    return verdict


def verify_file(
    path: str | Path,
    verifier: Verifier,
    replay: bool = False,
    *,
    trusted: str | None = None,
    consistency: Sequence[bytes] | str | None = None,
    origin: str | None = None,
) -> Verdict:
    """Read and verify a ``.cert.json`` file (an unreadable file is a verdict with exit code 2)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return Verdict(False, "unreadable", f"cannot read {path}: {exc.strerror or exc}", EXIT_UNREADABLE, str(path))
    return verify(raw, verifier, replay=replay, trusted=trusted, consistency=consistency, origin=origin, path=str(path))


# -- printing ----------------------------------------------------------------------------------------


def _decoded_parts(cert: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], bytes]:
    data = base64.b64decode(cert["entry"])
    records = {
        name: canonical.decode(base64.b64decode(rec["entry"])) for name, rec in (cert.get("records") or {}).items()
    }
    return canonical.decode(data), records, leaf_hash(data)


def qr_text(cert: Mapping[str, Any], base_url: str | None = None) -> str:
    """What the printed page's QR code carries: where to fetch the certificate, and what pins it.

    ``{base}{CODE}.cert.json#leaf={base64url leaf hash, unpadded}&key={name%2Bkeyid}``; base defaults to
    ``https://{origin}/certificates/``. The fragment lets a verifier check that the file fetched is the
    one printed (the leaf hash) and which market key to verify it with (a key the auditor must already
    trust: the QR names the key, it does not vouch for it).
    """
    _, _, leaf = _decoded_parts(cert)
    origin = Checkpoint.parse(_checkpoint_text(cert["tlog_proof"])).origin
    base = base_url if base_url is not None else f"https://{origin}/certificates/"
    key = cert.get("key") or _key_label(cert["tlog_proof"].split("\n\n", 1)[1], origin)
    leaf64 = base64.urlsafe_b64encode(leaf).decode().rstrip("=")
    return f"{base}{cert['code']}.cert.json#leaf={leaf64}&key={quote(key, safe='')}"


def _checkpoint_text(proof_text: str) -> str:
    signed = proof_text.split("\n\n", 1)[1]
    return signed[: signed.index("\n\n") + 1]


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;max-width:46rem;margin:2rem auto;color:#111}
h1{font-size:1.4rem;margin-bottom:.2rem} .sub{color:#555;margin-top:0}
.code{font-family:"DejaVu Sans Mono",Consolas,monospace;font-variant-numeric:slashed-zero;font-size:1.7rem;
letter-spacing:.08em;border:2px solid #111;padding:.4rem .8rem;display:inline-block;margin:.6rem 0}
table{border-collapse:collapse;width:100%} th{text-align:left;font-weight:600;width:13rem;vertical-align:top}
th,td{padding:.25rem .4rem;border-bottom:1px solid #ddd} .mono{font-family:monospace;word-break:break-all}
.qr{float:right;margin:0 0 1rem 1rem;text-align:center;font-size:.7rem;max-width:12rem;word-break:break-all}
.note{font-size:.85rem;color:#444;margin-top:1.2rem}
"""


def render_html(cert: Mapping[str, Any], *, base_url: str | None = None) -> str:
    """A printable page: the code, the deal, the ledger evidence and a QR code (inline SVG).

    Every value shown is read from the certificate's signed entries, not from its human fields; the
    page is a rendering for people, the ``.cert.json`` file is the evidence.
    """
    deal_entry, records, leaf = _decoded_parts(cert)
    record = records.get("code", {})
    d = describe(deal_entry, record)
    cp = Checkpoint.parse(_checkpoint_text(cert["tlog_proof"]))
    link = qr_text(cert, base_url)
    svg = segno.make(link, error="m").svg_inline(scale=3, title=f"QR: {cert['code']}")
    e = html.escape
    rows = [
        ("标的 Lot", f"{d['lot']} — {d['title']}" if d["title"] != d["lot"] else d["lot"]),
        ("转让方 Seller", d["seller"]),
        ("受让方 Buyer", d["buyer"]),
        ("定价方式 Mode", f"{MODE_NAMES.get(d['mode'], d['mode'])} ({d['rule']})"),
        ("成交价 Price", f"{d['price_text']} = {d['price_fen']} fen"),
        ("成交时间 Deal time", d["deal_time"]),
        ("付款期限 Payment due", d["payment_due"]),
        ("公示截止 Publication until", d["publication_until"]),
        ("发码时间 Code issued", d["issued"]),
        ("分市场 Sub-market", d["submarket"]),
    ]
    evidence = [
        ("市场 Market", f"{record.get('market')} (log {cp.origin})"),
        ("验证密钥 Verifier key", cert.get("key") or ""),
        ("账本位置 Ledger entry", f"{deal_entry.get('seq')} of a checkpoint of {cp.size} entries"),
        ("叶哈希 Leaf hash", _b64(leaf)),
        ("树根 Checkpoint root", _b64(cp.root)),
    ]

    def table(items: Iterable[tuple[str, Any]]) -> str:
        return "\n".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in items)

    code = e(cert["code"])
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>技术交易凭证 {code}</title>
<style>{_CSS}</style></head>
<body>
<div class="qr">{svg}<br><span class="mono">{e(link)}</span></div>
<h1>技术交易凭证 · Transaction certificate</h1>
<p class="sub">技术交易码 Transaction code</p>
<div class="code">{code}</div>
<table>
{table(rows)}
</table>
<h2 style="font-size:1.05rem;margin-top:1.4rem">存证 Ledger evidence</h2>
<table class="mono">
{table(evidence)}
</table>
<p class="note">This page is a rendering for people; the evidence is the file
<span class="mono">{code}.cert.json</span>. Verify it offline with nothing but the market's verifier key:
<span class="mono">auction-engine verify {code}.cert.json --vkey market.vkey --replay</span>
(see docs/auditor.md and docs/certificates.md; any implementation of RFC 6962 and C2SP tlog-proof can check it).</p>
</body></html>
"""
