"""The auction layer's checks of a certificate, one by one, each naming what fails and why.

They run after `ledger.certificate.verify_certificate` (the entry, the proof, the signature, the code's
binding), in the normative order of docs/certificates.md §3. The rules that the single pass
(`single_pass`) also applies are functions that answer a message or None (`record_mismatch` and
`code_meaning_mismatch` here, `missing_context` in `fields`), so that both read one text of each rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ledger import canonical
from ledger.certificate import CertificateError, ProvenEntry, Verified, verify_proven

from ..engine import MODE_LETTERS
from ..replay import replay as replay_entries
from .fields import (
    CONTEXT,
    FORMAT,
    RECORDS,
    TOP_FIELDS,
    b64,
    describe,
    local_time,
    missing_context,
    top_fields,
    verifier_label,
)

# The auction layer's reasons, after the generic ones of ledger.certificate.REASONS.
REASONS = {
    "not_deal": "the certified entry is not a deal entry",
    "field_mismatch": "a human-readable field does not match the signed entries, or cannot be checked",
    "no_transcript": "--replay was asked but the certificate carries no transcript",
    "transcript": "the transcript is malformed, not proven under the checkpoint, or lacks the deal",
    "replay": "replaying the transcript through the rules gives a different entry (winner, price, ...)",
    "quorum": "the checkpoint carries fewer valid witness cosignatures than --quorum requires",
    "cosignature": "a cosignature line by a given witness does not verify, or the checkpoint cannot be read",
}


class CodeGroups(Protocol):
    """A code's groups as parsed (`ledger.txcode.TxCode`, `ledger.certificate.Clean`)."""

    @property
    def prefix(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def kind(self) -> str: ...


def fail(reason: str, message: str, index: int | None = None) -> CertificateError:
    return CertificateError(reason, message, index)


def same_json(a: Any, b: Any) -> bool:
    """Equal with the same JSON type (so true is not 1 and 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# -- rules shared with the single pass: a message when the rule is broken, else None -----------------


def record_mismatch(record: Mapping[str, Any], at: int, code: str, deal_index: int, deal_lot: Any) -> str | None:
    """Why `record` (entry `at`) is not the txcode entry issuing `code` for deal entry `deal_index` of lot
    `deal_lot`, written after it; None when it is."""
    if record.get("kind") != "txcode" or record.get("code") != code:
        return f"record 'code' (entry {at}) is not the txcode entry issuing {code}"
    if record.get("deal_seq") != deal_index or record.get("lot") != deal_lot or at <= deal_index:
        return (
            f"the txcode entry {at} issues {code} for deal entry {record.get('deal_seq')!r} of lot"
            f" {record.get('lot')!r}, not for entry {deal_index} of lot {deal_lot!r}"
        )
    return None


def code_meaning_mismatch(code: str, groups: CodeGroups, prefix: str, mode: Any, dealt: str | None) -> str | None:
    """Which of the code's prefix, type letter and date disagrees with the market's `prefix`, the deal's
    `mode` and its local time `dealt` (None: all three agree)."""
    if groups.prefix != prefix:
        return f"code {code} has prefix {groups.prefix}; the market's is {prefix!r}"
    letter = MODE_LETTERS.get(mode, "X")
    if groups.kind != letter:
        return f"code {code} has type letter {groups.kind}; a {mode} deal has {letter}"
    if dealt is None or groups.date != f"{dealt[2:4]}{dealt[5:7]}{dealt[8:10]}":  # YYMMDD of YYYY-MM-DD...
        return f"code {code} has date {groups.date}; the deal was struck at {dealt}"
    return None


# -- the checks, in order ------------------------------------------------------------------------------


def check_record(v: Verified) -> dict[str, Any]:
    """The code's own record: present, the txcode entry issuing this code for this deal, stating its context."""
    for name in RECORDS:
        if name not in v.records:
            raise fail("code_mismatch", f"the certificate has no proven {name!r} record to check the code against")
    extra = set(v.records) - set(RECORDS)
    if extra:
        raise fail("field_mismatch", f"unknown record {sorted(extra)[0]!r} (not part of the format)")
    code_at, _, record = v.records["code"]
    mismatch = record_mismatch(record, code_at, v.code.text, v.index, v.entry.get("lot"))
    if mismatch is not None:
        raise fail("code_mismatch", mismatch)
    missing = missing_context(record)
    if missing:
        name = missing[0]
        raise fail(
            "code_mismatch",
            f"the txcode entry {code_at} does not state {name!r} as {CONTEXT[name].__name__}"
            f" (it says {record.get(name)!r}; a ledger written before {FORMAT}?)",
            code_at,
        )
    return record


def check_code_meaning(v: Verified, record: Mapping[str, Any]) -> None:
    """The code's prefix, date (the deal's local date) and type letter say what the signed entries say."""
    dealt = local_time(v.entry.get("t"), record["utc_offset_ms"])
    mismatch = code_meaning_mismatch(v.code.text, v.code, record["code_prefix"], v.entry.get("mode"), dealt)
    if mismatch is not None:
        raise fail("code_mismatch", mismatch)


def check_fields(obj: Mapping[str, Any], v: Verified, record: Mapping[str, Any]) -> dict[str, Any]:
    """Every human-readable field must equal its value derived from the signed entries; the facts."""
    for key in obj:
        if key not in TOP_FIELDS:
            raise fail("field_mismatch", f"field {key!r} is not part of the format (it cannot be checked)")
    cp = v.checkpoint
    expected = top_fields(record, cp, verifier_label(v.verifier), v.index, b64(v.leaf), b64(cp.root))
    for key, want in expected.items():
        if key in obj and not same_json(obj[key], want):
            raise fail("field_mismatch", f"field {key!r} says {obj[key]!r}; the signed entries say {want!r}")
    deal = describe(v.entry, record)
    shown = obj.get("deal", {})
    if type(shown) is not dict:
        raise fail("field_mismatch", "field 'deal' must be an object")
    for key, value in shown.items():
        if key not in deal:
            raise fail("field_mismatch", f"field 'deal.{key}' is not part of the format (it cannot be checked)")
        if not same_json(value, deal[key]):
            raise fail("field_mismatch", f"field 'deal.{key}' says {value!r}; the signed deal entry says {deal[key]!r}")
    facts = dict(expected)
    facts["deal"] = deal
    return facts


def check_transcript(obj: Mapping[str, Any], v: Verified) -> dict[str, Any]:
    """Every transcript entry proven under the checkpoint, the deal among them, then replayed by the rules."""
    raw_list = obj.get("transcript")
    if raw_list is None:
        raise fail("no_transcript", "the certificate carries no transcript to replay (issue it with --transcript)")
    if type(raw_list) is not list or not raw_list:
        raise fail("transcript", "the transcript must be a non-empty list of proven entries")
    entries = [
        ProvenEntry.from_json(item, f"transcript item {n}", reason="transcript") for n, item in enumerate(raw_list)
    ]
    previous = -1
    by_index: dict[int, bytes] = {}
    for n, p in enumerate(entries):
        if p.index <= previous:
            raise fail(
                "transcript", f"transcript item {n}: entry {p.index} is out of order (after {previous})", p.index
            )
        previous = p.index
        verify_proven(p, v.checkpoint, f"transcript item {n}", reason="transcript")
        try:
            decoded = canonical.decode(p.data)
        except canonical.CanonicalError as exc:
            raise fail("transcript", f"transcript entry {p.index} is not canonical: {exc}", p.index) from None
        if decoded.get("seq") != p.index:
            raise fail("transcript", f"transcript entry {p.index} says seq {decoded.get('seq')!r}", p.index)
        by_index[p.index] = p.data
    if entries[0].index != 0:
        raise fail("transcript", "the transcript must begin with the market's genesis entry 0")
    if by_index.get(v.index) != v.data:
        raise fail("transcript", f"the transcript does not contain the certified deal entry {v.index}", v.index)
    for name, (at, data, _) in v.records.items():
        if by_index.get(at) != data:
            raise fail("transcript", f"the transcript does not contain record {name!r} (entry {at})", at)
    report = replay_entries([p.data for p in entries])
    if not report.ok:
        n = report.index if report.index is not None else len(entries)
        if n < len(entries):
            at = entries[n].index
            kind = canonical.decode(entries[n].data).get("kind")
            where = f"entry {at} ({kind})"
        else:
            at, where = None, "after the last transcript entry"
        raise fail("replay", f"{where}: {report.message}", at)
    return {
        "entries": report.entries,
        "commands": report.commands,
        "deals": len(report.deals),
        "signatures_checked": report.signatures_checked,
        "signatures_pending": report.signatures_pending,
    }
