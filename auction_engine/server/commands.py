"""Every command the HTTP API accepts: its schema and the engine fields it gives, in one table.

A request's body is validated against its command's schema before anything reaches the rules: an
unknown field, a wrong type or an amount out of range is a 422 naming the field, and nothing the
schema refuses is written to the ledger. The typed routes (`POST /api/lots/{lot}/bids` …) and the
generic `POST /api/lots/{lot}/commands/{op}` use the same table, so a command has one schema
whichever way it is sent, and a refusal's entry holds exactly the fields the schema let through.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..market import COMMAND_OPS, Market
from ..model import Rejected
from ..rules import MODES
from ..rules.base import lot_kind
from . import schemas
from .responses import ApiError

__all__ = ["SPECS", "CommandSpec", "fields_of", "validate", "validation_message"]

Fields = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class CommandSpec:
    """One command: the schema of its request body and how a valid body becomes the engine's fields."""

    model: type[BaseModel]
    fields: Fields
    lot_scoped: bool = True  # sent to a lot (`/api/lots/{lot}/…`); open_submarket is not


def _signed_only(_: Any) -> dict[str, Any]:
    return {}


def _open_lot(body: schemas.OpenLotFields) -> dict[str, Any]:
    fields = body.model_dump(exclude_none=True, exclude={"lot"})
    check_params(body.params, body.mode)
    return fields


def _open_submarket(body: schemas.OpenSubmarketIn) -> dict[str, Any]:
    check_params(body.params, None)
    fields: dict[str, Any] = {"submarket": body.submarket, "params": body.params}
    if body.name is not None:
        fields["name"] = body.name
    return fields


def check_params(params: Mapping[str, Any], mode: str | None) -> None:
    """Refuse (422, naming `params.<key>`) a parameter the lot's mode (or, with no mode, any mode) does not know.

    The names come from the rules' own parameter classes (`Market.check_keys`), so the schema and
    the rules cannot disagree on which parameters exist.
    """
    try:
        where = f" for {lot_kind(mode)}" if mode is not None else " in a sub-market's settings"
        Market.check_keys(params, MODES[mode] if mode is not None else None, where)
    except Rejected as exc:
        key = next((k for k in params if exc.message.startswith(f"unknown parameter {k!r}")), None)
        raise ApiError(422, "bad_param", exc.message, field=f"params.{key}" if key else "params") from None


SPECS: dict[str, CommandSpec] = {
    # bidders
    "bid": CommandSpec(schemas.BidIn, lambda b: {"amount": b.amount}),
    "proxy": CommandSpec(schemas.ProxyIn, lambda b: {"max": b.max}),
    "accept": CommandSpec(schemas.AcceptIn, lambda b: {} if b.price is None else {"price": b.price}),
    "commit": CommandSpec(schemas.CommitIn, lambda b: {"hash": bytes.fromhex(b.hash)}),
    "reveal": CommandSpec(schemas.RevealIn, lambda b: {"amount": b.amount, "nonce": bytes.fromhex(b.nonce)}),
    "register": CommandSpec(schemas.EmptyIn, _signed_only),
    "withdraw_registration": CommandSpec(schemas.EmptyIn, _signed_only),
    "object": CommandSpec(schemas.ObjectIn, lambda b: {"grounds": b.grounds}),
    "offer": CommandSpec(schemas.OfferIn, lambda b: {"amount": b.amount}),
    "confirm": CommandSpec(schemas.EmptyIn, _signed_only),
    "payment_plan": CommandSpec(
        schemas.PaymentPlanIn, lambda b: {"down": b.down, "schedule": [[d, a] for d, a in b.schedule]}
    ),
    "accept_offer": CommandSpec(schemas.EmptyIn, _signed_only),
    "decline_offer": CommandSpec(schemas.EmptyIn, _signed_only),
    # the operator
    "open_submarket": CommandSpec(schemas.OpenSubmarketIn, _open_submarket, lot_scoped=False),
    "open_lot": CommandSpec(schemas.OpenLotFields, _open_lot),
    "deposit": CommandSpec(schemas.DepositIn, lambda b: b.command()),
    "pay": CommandSpec(schemas.PayIn, lambda b: b.model_dump(exclude_none=True)),
    "resolve_objection": CommandSpec(
        schemas.ResolveObjectionIn, lambda b: {"objection": b.objection, "upheld": b.upheld}
    ),
    "approve_relist": CommandSpec(schemas.ApproveRelistIn, lambda b: {"approved": b.approved}),
    "relist": CommandSpec(schemas.RelistIn, lambda b: {"price": b.price}),
    "withdraw_lot": CommandSpec(schemas.WithdrawIn, lambda b: {"grounds": b.grounds}),
    "close_phase": CommandSpec(schemas.WithdrawIn, lambda b: {"grounds": b.grounds}),
    # bidder keys (routes/bidders.py): not a lot's commands
    "bind_key": CommandSpec(schemas.KeyIn, lambda b: {"statement": b.statement}, lot_scoped=False),
    "reset_key": CommandSpec(schemas.KeyResetIn, lambda b: {"grounds": b.grounds}, lot_scoped=False),
}
"""op -> its spec, for every command the rules define (checked at import below)."""

_missing = COMMAND_OPS - set(SPECS)
if _missing:  # a new rule command must get its schema here before the server can accept it
    raise RuntimeError(f"commands without an HTTP schema: {sorted(_missing)}")


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """The first error of a schema validation as (message naming the field, field path)."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    path = ".".join(loc) if loc else None
    kind = first.get("type")
    if kind == "extra_forbidden":
        return f"field {path!r} is not a field of this command", path
    if kind == "missing":
        return f"field {path!r} is required", path
    if path is None:
        return f"the request body: {first.get('msg')}", None
    return f"field {path!r}: {first.get('msg')}", path


def validate(op: str, body: Any) -> tuple[dict[str, Any], str | None]:
    """A generic command's body checked against the command's schema: (engine fields, signature hex or None).

    Raises ApiError 422 for an unknown command or a body its schema refuses (naming the field).
    """
    spec = SPECS.get(op)
    if spec is None:
        close = difflib.get_close_matches(op, sorted(SPECS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ApiError(422, "unknown_command", f"{op!r} is not a command of these rules{hint}")
    if not spec.lot_scoped:
        raise ApiError(422, "unknown_command", f"{op} is not a lot's command: use its own endpoint")
    if not isinstance(body, dict):
        raise ApiError(422, "malformed", "the request body must be a JSON object")
    try:
        model = spec.model.model_validate(body)
    except ValidationError as exc:
        message, path = validation_message(exc)
        raise ApiError(422, "malformed", message, field=path) from None
    return fields_of(op, model), getattr(model, "sig", None)


def fields_of(op: str, model: BaseModel) -> dict[str, Any]:
    """The engine's fields for a validated body of command `op`."""
    return SPECS[op].fields(model)
