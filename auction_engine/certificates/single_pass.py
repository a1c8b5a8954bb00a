"""The single pass: a valid certificate verified without naming each check on the way.

Why it exists: the named checks (`ledger.certificate.verify_certificate`, then `checks`) build a
failure's name and message at every step, decode each field into objects to say what is wrong with
it, and compare field by field; the certificate that needs none of that, the valid one, is what a
server serving certificates and an auditor checking a batch verify almost always, and it is meant to
cost little more than its one Ed25519 signature (docs/performance.md). So `verify` tries this pass
first and, at the first thing it does not accept, answers None and runs the named checks, which find
the failure and say exactly what it is.

It never accepts what the named checks refuse: each step is one of theirs, through the same function
where the rule is more than a comparison (`check_pinned_clean` for the pinned fields, `record_mismatch`,
`missing_context`, `code_meaning_mismatch`, `describe`, `top_fields`), or a comparison that implies
theirs (the top fields, scalars, compared as `same_json` compares scalars; the deal section compared as
a whole). The signature is verified every time. Tests run both on the same texts and on tampered
certificates and require one verdict.
"""

from __future__ import annotations

import binascii
from typing import Any

from ledger import strictjson
from ledger.certificate import ProvenEntry, check_pinned_clean, proven_entry_b64
from ledger.note import Verifier

from .checks import code_meaning_mismatch, record_mismatch
from .fields import FORMAT, RECORDS, TOP_FIELDS, b64, describe, missing_context, top_fields, verifier_label

# The checks a certificate passes without --replay or --trusted, in the order `verify` runs them.
ALL_CHECKS = (
    "readable",
    "encoding",
    "checkpoint_signature",
    "inclusion",
    "code_binding",
    "deal",
    "code_meaning",
    "fields",
)
_RECORD_NAMES = frozenset(RECORDS)
_PROVEN_FIELDS = frozenset(ProvenEntry(0, b"", ()).to_json())  # a proven entry's JSON fields


def verify_clean(raw: Any, verifier: Verifier, origin: str | None) -> tuple[str, dict[str, Any]] | None:
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
        # -- the one record: the txcode entry, proven under the same checkpoint, stating its context
        records = obj["records"]
        if type(records) is not dict or records.keys() != _RECORD_NAMES:
            return None
        rec = records["code"]
        if type(rec) is not dict or rec.keys() != _PROVEN_FIELDS:
            return None
        at, rec64, proof64 = rec["index"], rec["entry"], rec["proof"]
        if type(at) is not int or type(rec64) is not str or type(proof64) is not str:
            return None
        proven = proven_entry_b64(rec64, at, proof64, cp.size, cp.root)
        if proven is None:
            return None
        record = proven[2]
        lot, mode = deal.get("lot"), deal.get("mode")
        if record_mismatch(record, at, code, index, lot) is not None or missing_context(record):
            return None
        # -- the code's meaning: the market's prefix, the deal's mode letter, the deal's local date
        expected = describe(deal, record)
        if code_meaning_mismatch(code, clean, record["code_prefix"], mode, expected["deal_time"]) is not None:
            return None
        # -- the human fields: each one shown equals its value from the signed entries, with its JSON type
        facts = top_fields(record, cp, verifier_label(verifier), index, b64(clean.leaf), clean.root64)
        get = obj.get
        for name, want in facts.items():  # `same_json` of scalars (every top field is a string or an integer)
            shown = get(name, want)
            if shown is not want and (type(shown) is not type(want) or shown != want):
                return None
        shown = get("deal", expected)
        # Equal dictionaries have the same keys (a partial deal section goes to the named checks). Equal
        # values of different JSON types can only be numbers and booleans (1 == 1.0 == true) or containers
        # holding them: with the deal's own fields strings and its price an integer, every value of
        # `expected` is a string, None or the price, so the shown price is the one value whose type
        # remains to be checked for `same_json` to hold key by key.
        if shown is not expected and (
            type(shown) is not dict
            or shown != expected
            or type(shown["price_fen"]) is not int
            or type(deal.get("price")) is not int
            or type(lot) is not str
            or type(deal.get("seller")) is not str
            or type(deal.get("buyer")) is not str
            or type(mode) is not str
            or type(deal.get("rule")) is not str
        ):
            return None
    except (KeyError, TypeError, ValueError, StopIteration, binascii.Error):  # ValueError: JSON, base64, ...
        return None
    facts["deal"] = expected
    return code, facts
