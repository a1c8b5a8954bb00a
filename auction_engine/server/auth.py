"""Credentials and roles of the live server: one operator token, one token per admitted bidder, and
auditor tokens, which read the whole log and nothing else.

Tokens are 256-bit random strings shown once, when they are made; the server keeps only their
SHA-256 (a token has full entropy, so a plain hash is as good as a slow one) and looks a request's
`Authorization: Bearer …` token up by that hash. Credentials never enter the ledger: they live in
the ledger database's `meta` table under the key `server.credentials` (one JSON document), which
both stores (SQLite, PostgreSQL) provide and which the log, audit and export never read.

A bidder's Ed25519 key is not a credential: it is bound in the ledger (`auction_engine/bidder_keys.py`,
a `bind_key` entry with its proof of possession), so a token alone can neither clear it nor replace it,
and every auditor sees it. An older credentials document's `pubkey` fields are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .schemas import ID_PATTERN

__all__ = [
    "BIDDER_ID",
    "META_KEY",
    "Credentials",
    "Principal",
    "format_number",
    "make_token",
    "token_hash",
]

META_KEY = "server.credentials"
BIDDER_ID = re.compile(ID_PATTERN)
"""A bidder id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."""

OPERATOR = "operator"
BIDDER = "bidder"


NUMBER_DIGITS = 4


def format_number(n: int) -> str:
    """A bidder number as shown and as a generated bidder id: at least four digits ("0007")."""
    return str(n).zfill(NUMBER_DIGITS)


def make_token(prefix: str) -> str:
    """A new random token: the role prefix and 43 URL-safe characters (256 bits)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """The stored form of a token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the actor id written into commands, and the role."""

    actor: str
    role: str  # "operator" or "bidder"

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR


@dataclass
class Credentials:
    """The operator's and the bidders' token hashes and keys, as kept in the store's meta table."""

    operator: str = OPERATOR  # the operator's actor id (one of the market's operators)
    operator_hash: str | None = None
    bidders: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"hash", "number", "name"?}
    auditors: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"hash", "name"?}
    _by_hash: dict[str, Principal] = field(default_factory=dict, repr=False)
    _seen: dict[str, Principal] = field(default_factory=dict, repr=False)  # token -> principal, for the hot path
    numbers: dict[str, str] = field(default_factory=dict, repr=False)  # bidder id -> bidder number (竞买号)
    _auditor_by_hash: dict[str, str] = field(default_factory=dict, repr=False)  # token hash -> auditor id

    def __post_init__(self) -> None:
        # An older document has no bidder numbers: number its bidders in id order, after the numbered ones.
        for bidder in sorted(b for b, rec in self.bidders.items() if not rec.get("number")):
            self.bidders[bidder]["number"] = self._next_number()
        self._reindex()

    # -- persistence ----------------------------------------------------------------------------

    def dumps(self) -> str:
        doc = {
            "version": 1,
            "operator": self.operator,
            "operator_hash": self.operator_hash,
            "bidders": self.bidders,
            "auditors": self.auditors,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None, operator: str = OPERATOR) -> Credentials:
        if not text:
            return cls(operator=operator)
        doc = json.loads(text)
        return cls(
            operator=doc.get("operator") or operator,
            operator_hash=doc.get("operator_hash"),
            bidders=dict(doc.get("bidders") or {}),
            auditors=dict(doc.get("auditors") or {}),
        )

    def _next_number(self) -> str:
        """The next bidder number: one more than the highest given, skipping any that is already a bidder id."""
        used = {int(rec["number"]) for rec in self.bidders.values() if str(rec.get("number", "")).isdigit()}
        n = max(used, default=0) + 1
        while format_number(n) in self.bidders:
            n += 1
        return format_number(n)

    def _reindex(self) -> None:
        index: dict[str, Principal] = {}
        numbers: dict[str, str] = {}
        if self.operator_hash:
            index[self.operator_hash] = Principal(self.operator, OPERATOR)
        for bidder, rec in self.bidders.items():
            index[rec["hash"]] = Principal(bidder, BIDDER)
            numbers[bidder] = rec["number"]
        self._by_hash = index
        self.numbers = numbers
        self._auditor_by_hash = {rec["hash"]: auditor for auditor, rec in self.auditors.items()}
        self._seen = {}

    # -- lookups ----------------------------------------------------------------------------------

    def principal(self, token: str) -> Principal | None:
        """The principal a bearer token stands for (None if unknown).

        The lookup is by the token's SHA-256, so timing reveals nothing useful about stored tokens
        (an attacker would need a preimage); known tokens are then remembered for the hot path.
        """
        found = self._seen.get(token)
        if found is not None:
            return found
        digest = token_hash(token)
        found = self._by_hash.get(digest)
        if found is None:
            return None
        stored = self.operator_hash if found.role == OPERATOR else self.bidders[found.actor]["hash"]
        if not hmac.compare_digest(stored, digest):
            return None
        if len(self._seen) < 100_000:
            self._seen[token] = found
        return found

    def auditor(self, token: str) -> str | None:
        """The auditor a bearer token stands for (None if unknown). Auditors are not principals: no route that
        acts or reads as a party accepts their tokens, only the log's (`dependencies.LogReader`)."""
        return self._auditor_by_hash.get(token_hash(token))

    def bidder_ids(self) -> Iterable[str]:
        return self.bidders.keys()

    # -- changes (the caller persists with `dumps` before answering) ------------------------------

    def set_operator_token(self, token: str) -> None:
        self.operator_hash = token_hash(token)
        self._reindex()

    def new_bidder_id(self) -> str:
        """The id of a bidder admitted without one: its bidder number, so the ledger names it by number only."""
        return self._next_number()

    def admit(self, bidder: str, name: str | None = None) -> str:
        """Create (or replace) a bidder's credential; return its new token.

        A new bidder gets the next bidder number (竞买号), which it keeps when its token is replaced.
        """
        token = make_token("bd")
        old = self.bidders.get(bidder)
        number = old["number"] if old is not None else self._next_number()
        rec: dict[str, Any] = {"hash": token_hash(token), "number": number}
        if name:
            rec["name"] = name
        elif old is not None and old.get("name"):
            rec["name"] = old["name"]
        self.bidders[bidder] = rec
        self._reindex()
        return token

    def new_auditor_id(self) -> str:
        """`auditor-N`: one more than the highest such id given."""
        used = [int(a[8:]) for a in self.auditors if a.startswith("auditor-") and a[8:].isdigit()]
        return f"auditor-{max(used, default=0) + 1}"

    def add_auditor(self, auditor: str, name: str | None = None) -> str:
        """Create (or replace) an auditor's credential; return its new token (the old one stops working)."""
        token = make_token("au")
        rec: dict[str, Any] = {"hash": token_hash(token)}
        name = name or self.auditors.get(auditor, {}).get("name")
        if name:
            rec["name"] = name
        self.auditors[auditor] = rec
        self._reindex()
        return token

    def remove_auditor(self, auditor: str) -> None:
        """Revoke an auditor's token (KeyError if there is no such auditor)."""
        del self.auditors[auditor]
        self._reindex()

    def auditor_public(self, auditor: str) -> dict[str, Any]:
        return {"auditor": auditor, "name": self.auditors[auditor].get("name")}

    def public(self, bidder: str) -> dict[str, Any]:
        """What may be shown of a bidder's credential (never the hash)."""
        rec = self.bidders[bidder]
        return {"bidder": bidder, "number": rec["number"], "name": rec.get("name")}
