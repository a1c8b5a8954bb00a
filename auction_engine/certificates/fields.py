"""A certificate's fields: which there are, and each one's value as the signed entries state it.

The issuer writes these values and both verifiers (`checks`, `single_pass`) recompute them from the
deal entry and its ``txcode`` record, so that every human-readable field is derived in one place.
"""

from __future__ import annotations

import binascii
import datetime as _dt
import functools
from collections.abc import Mapping
from typing import Any

from ledger.checkpoint import Checkpoint
from ledger.note import Verifier, split_note

from ..model import yuan

FORMAT = "auction-engine/certificate@v2"
RECORDS = ("code",)
# What the txcode entry states for the certificate besides the code (the engine copies it from the
# genesis and listing entries when it issues the code): field -> its type.
CONTEXT = {"market": str, "code_prefix": str, "title": str, "submarket": str, "utc_offset_ms": int}

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


def b64(data: bytes) -> str:
    """Standard base64 with padding, as every binary field of a certificate is written."""
    return binascii.b2a_base64(data, newline=False).decode()


_CONTEXT_ITEMS = tuple(CONTEXT.items())


def missing_context(record: Mapping[str, Any]) -> list[str]:
    """The CONTEXT fields the txcode entry does not state with their type (none for a certificate's record)."""
    missing = []
    for name, kind in _CONTEXT_ITEMS:
        if type(record.get(name)) is not kind:
            missing.append(name)
    return missing


# -- times, offsets and prices as a person reads them -------------------------------------------------


@functools.lru_cache(maxsize=64)  # a market has one or two offsets; every certificate shows one several times
def offset_text(offset_ms: int) -> str:
    """A UTC offset in ms as ISO 8601 text: +08:00."""
    sign = "-" if offset_ms < 0 else "+"
    minutes = abs(offset_ms) // 60_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=4096)  # the deal's few days recur in every field and every certificate
def _iso_day(days: int) -> str | None:
    """The ISO date `days` after 1970-01-01 (None out of the calendar's range)."""
    try:
        return _dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    except (ValueError, OverflowError):
        return None


# "HH:MM:" by minute of the day and "SS" by second: a time of day is two look-ups, not four formats.
_HHMM = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SS = tuple(f"{s:02d}" for s in range(60))


def local_time(t: Any, offset_ms: int) -> str | None:
    """An integer ms timestamp as ISO 8601 local time with its offset (None if not a timestamp)."""
    return _local_time(t, offset_ms, offset_text(offset_ms))


def _local_time(t: Any, offset_ms: int, suffix: str) -> str | None:
    """`local_time`, given the offset's text `suffix` (a certificate shows four times at one offset)."""
    if type(t) is not int:
        return None
    days, ms = divmod(t + offset_ms, 86_400_000)
    day = _iso_day(days)
    if day is None:
        return None
    seconds, milli = divmod(ms, 1000)
    minutes, sec = divmod(seconds, 60)
    if milli:
        return f"{day}T{_HHMM[minutes]}{_SS[sec]}.{milli:03d}{suffix}"
    return f"{day}T{_HHMM[minutes]}{_SS[sec]}{suffix}"


def price_yuan(fen: Any) -> str | None:
    """Integer fen as yuan with two decimals and no grouping: 1600.00 (None if not an integer)."""
    if type(fen) is not int:
        return None
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


# -- the sections -------------------------------------------------------------------------------------


def describe(deal: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The certificate's ``deal`` section: what a person reads, every value derived from signed entries.

    `record` is the txcode entry (its `title`, `submarket`, `utc_offset_ms` and its time `t`).
    """
    offset = record.get("utc_offset_ms")
    if type(offset) is not int:
        offset = 0  # not a certificate's record: the checks refuse it before the fields are compared
    suffix = offset_text(offset)
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
        "price_yuan": price_yuan(price),
        "price_text": yuan(price) if type(price) is int else None,
        "deal_time": _local_time(g("t"), offset, suffix),
        "payment_due": _local_time(g("due"), offset, suffix),
        "publication_until": _local_time(g("publication_until"), offset, suffix),
        "issued": _local_time(record.get("t"), offset, suffix),
    }


def key_label(name: str, key_id: bytes) -> str:
    """The ``key`` field: the verifier key's name+hex8."""
    return f"{name}+{key_id.hex()}"


_verifier_labels: dict[tuple[str, bytes], str] = {}  # (name, public key) -> label; a market has a key or two


def verifier_label(verifier: Verifier) -> str:
    """`key_label` of a verifier key."""
    ident = (verifier.name, verifier.public_key)
    label = _verifier_labels.get(ident)
    if label is None:
        label = _verifier_labels[ident] = key_label(verifier.name, verifier.key_id)
    return label


def signing_key_label(signed_checkpoint: str, origin: str) -> str:
    """name+hex8 of the signature the log made on its checkpoint (the first by the origin's name)."""
    _, sigs = split_note(signed_checkpoint)
    chosen = next((s for s in sigs if s.name == origin), sigs[0])
    return key_label(chosen.name, chosen.key_id)


def top_fields(
    record: Mapping[str, Any], cp: Checkpoint, key: str, index: int, leaf64: str, root64: str
) -> dict[str, Any]:
    """The human-readable top-level fields of the certificate of deal entry `index` under checkpoint `cp`.

    `record` is the txcode entry, `key` the ``key`` field, `leaf64` and `root64` the deal's leaf hash
    and the checkpoint's root in base64. Verifying, these are also the verdict's facts.
    """
    offset = record.get("utc_offset_ms")
    return {
        "market": record.get("market"),
        "origin": cp.origin,
        "key": key,
        "index": index,
        "leaf_hash": leaf64,
        "checkpoint_size": cp.size,
        "checkpoint_root": root64,
        "utc_offset": offset_text(offset) if type(offset) is int else None,
    }
