"""What the public sees of the market: bidders by bidder number (竞买号) only, nobody's refusals or money.

The ledger is the market's evidence and names every party by its id; the operator sees it whole. Everyone
else — the public feed, the public lot views, the bidder rooms — sees it through this module:

- every bidder id is replaced by the bidder's number, assigned at admission (`auth.Credentials.numbers`);
  an id with no credential (a party the operator named, such as an agreement's buyer) is shown as it is;
- a refused command is nobody else's business: its entry is left out (the party has its own answer and
  receipt, the operator its console);
- deposits, refunds, forfeits and payments are the party's and the operator's only;
- a deal is shown with its price and buyer (by number), not the buyer's cash, plan or due dates, except to
  the buyer itself.

Names are never in a view or an event: they live in the credentials and are shown to the operator and to
the bidder itself (`GET /api/bidders`, `GET /api/me`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ENTRY_HEADER", "PARTY_FIELDS", "PRIVATE_KINDS", "public_entry", "public_event", "public_view"]

ENTRY_HEADER = ("seq", "prev", "t", "kind")
"""The fields the log writes into every entry; the rest is the event's payload."""

PARTY_FIELDS = frozenset(
    {"actor", "bidder", "buyer", "party", "leader", "backups", "qualified", "unrevealed", "revealed", "out", "params"}
)
"""Event and view fields that hold a party id, a list of them, or a map (or list of maps) holding them."""

PRIVATE_KINDS = frozenset({"deposit", "deposit_applied", "forfeit", "refund", "pay", "payment_plan", "split"})
"""Entries about one party's money: shown to that party (its own answers) and the operator only."""

_DEAL_MONEY = ("cash", "deposit", "deposit_credit", "plan", "due", "paid", "backups", "confirmed")
"""A deal's fields that are the buyer's business: its cash, deposit credit, payment plan and dates."""


def _map_ids(value: Any, numbers: Mapping[str, str]) -> Any:
    if type(value) is str:
        return numbers.get(value, value)
    if type(value) is list:
        return [_map_ids(v, numbers) for v in value]
    if type(value) is dict:
        return {k: (_map_ids(v, numbers) if k in PARTY_FIELDS else v) for k, v in value.items()}
    return value


def public_event(kind: str, data: Mapping[str, Any], numbers: Mapping[str, str]) -> dict[str, Any] | None:
    """The event as the public may see it, or None when it is somebody's private business."""
    if data.get("ok") is False or kind in PRIVATE_KINDS:
        return None
    out = {k: (_map_ids(v, numbers) if k in PARTY_FIELDS else v) for k, v in data.items()}
    if kind == "deal":
        for k in _DEAL_MONEY:
            out.pop(k, None)
    return out


def public_entry(entry: Mapping[str, Any], numbers: Mapping[str, str]) -> dict[str, Any] | None:
    """A decoded ledger entry as the public may see it (its header and `public_event` of its payload), or None."""
    payload = {k: v for k, v in entry.items() if k not in ENTRY_HEADER}
    shown = public_event(entry["kind"], payload, numbers)
    if shown is None:
        return None
    return {k: entry[k] for k in ENTRY_HEADER if k in entry} | shown


def public_view(view: Mapping[str, Any], numbers: Mapping[str, str], viewer: str | None = None) -> dict[str, Any]:
    """A lot's view as `viewer` (a bidder id, or None for the public) may see it."""
    out = {k: (_map_ids(v, numbers) if k in PARTY_FIELDS else v) for k, v in view.items()}
    offer = out.get("offer")
    if type(offer) is dict and "party" in offer:
        out["offer"] = {**offer, "party": numbers.get(offer["party"], offer["party"])}
    buyer = view.get("buyer")
    if "deposit_credit" in view and (viewer is None or viewer != buyer):  # a deal in settlement, not the viewer's
        for k in _DEAL_MONEY:
            out.pop(k, None)
    return out
