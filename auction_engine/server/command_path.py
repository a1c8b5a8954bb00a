"""The one path of a command from a checked request body to its answer, for the routes and the fast lane.

`answer_command` builds the command as the ledger will record it (`build_command`: the actor from
the credential, the role and signature checks), runs it (`LiveMarket.submit`: idempotency, the
engine, the ledger entry), waits until its entry is durable and returns the answer
(`responses.outcome_answer`) with the entry's signed receipt (`receipts.py`), or the refusal if a
check refused it before the engine ran (no entry, no receipt). Every
command route calls it, and so does the fast lane (`fastlane.py`) for a plain bid, so a bid has the
same answer, byte for byte, whichever of them takes it, and runs exactly once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ledger import canonical

from ..market import OPERATOR_OPS
from . import commands
from .auth import Principal
from .idempotency import IdempotencyConflict
from .live import LiveMarket, Outcome, Unavailable
from .responses import ApiError, JSONAnswer, api_error, outcome_answer, unavailable

__all__ = [
    "BIDDER_OPS",
    "answer_command",
    "answer_typed_command",
    "build_command",
    "check_signature",
    "run_command",
    "submit_command",
]

BIDDER_OPS = frozenset(
    {
        "bid",
        "proxy",
        "accept",
        "commit",
        "reveal",
        "register",
        "withdraw_registration",
        "object",
        "offer",
        "confirm",
        "payment_plan",
        "accept_offer",
        "decline_offer",
        "bind_key",
    }
)
"""Commands a bidder may send (as itself); every other command needs the operator."""


def build_command(
    market: LiveMarket,
    who: Principal,
    op: str,
    lot: str | None,
    fields: dict[str, Any],
    sig: str | None,
    idem: str | None,
) -> dict[str, Any]:
    """The command as the ledger will record it (actor from the credential), after the role checks.

    A signed command gets its `idem`, `key` (the key in force) and `sig`; `check_signature` verifies it.
    Raises ApiError: 403 an operator's command from a bidder, a missing signature; 422 a
    command no bidder can send, a signature without a registered key or an Idempotency-Key, a field
    the canonical encoding cannot hold.
    """
    if op in OPERATOR_OPS and not who.is_operator:
        raise ApiError(403, "forbidden", f"{op} is an operator action; {who.actor} is a bidder")
    if not who.is_operator and op not in BIDDER_OPS:
        raise ApiError(422, "unknown_command", f"{op!r} is not a command a bidder can send")
    cmd: dict[str, Any] = {"op": op, "actor": who.actor}
    if lot is not None:
        cmd["lot"] = lot
    cmd.update(fields)
    state = market.engine.market.keys.get(who.actor)
    pubkey = state.key if state is not None and op != "bind_key" else None  # a key statement signs itself
    if pubkey is not None or sig is not None:
        if pubkey is None:
            raise ApiError(422, "no_key", "a signed command needs a bound key (PUT /api/me/key)", field="sig")
        if sig is None:
            raise ApiError(
                403,
                "signature_required",
                f"{who.actor} has a key in force: every command must carry 'sig'",
                field="sig",
            )
        if idem is None:
            raise ApiError(422, "idempotency_key_required", "a signed command needs an Idempotency-Key header")
        cmd["idem"] = idem
        cmd["key"] = pubkey
        cmd["sig"] = bytes.fromhex(sig)  # checked by `check_signature` before the command runs
    try:
        canonical.encode(cmd)
    except canonical.CanonicalError as exc:
        raise ApiError(422, "malformed", f"field {exc.path!r}: {exc.reason}", field=exc.path or None) from None
    return cmd


async def check_signature(market: LiveMarket, cmd: dict[str, Any]) -> None:
    """A signed command's signature verified (on the signature desk's thread); 403 bad_signature if not."""
    sig = cmd.get("sig")
    if sig is None:
        return
    if not await market.signatures.verify(market.origin, cmd, sig, cmd["key"]):
        raise ApiError(
            403,
            "bad_signature",
            f"'sig' is not {cmd['actor']}'s signature over this command on {market.origin}",
            field="sig",
        )


def submit_command(market: LiveMarket, cmd: dict[str, Any], idem: str | None) -> Outcome:
    """Run the command now; its refusals before the rules (key reused, ledger unavailable, bad shape) as ApiError."""
    try:
        return market.submit(cmd, idem)
    except IdempotencyConflict as exc:
        raise ApiError(422, "idempotency_key_reused", str(exc), field="Idempotency-Key") from None
    except Unavailable as exc:
        raise ApiError(503, "ledger_unavailable", str(exc)) from None
    except ValueError as exc:  # the engine refused the command's shape before recording anything
        raise ApiError(422, "bad_command", str(exc)) from None


async def run_command(
    market: LiveMarket,
    who: Principal,
    op: str,
    lot: str | None,
    fields: dict[str, Any],
    sig: str | None,
    idem: str | None,
) -> Outcome | JSONAnswer:
    """Build and run one command; its outcome once its ledger entry is durable, or the refusal to answer.

    A 503 while waiting means the command ran but its entry is not durable yet: a retry with the same
    Idempotency-Key learns its outcome.
    """
    try:
        cmd = build_command(market, who, op, lot, fields, sig, idem)
        await check_signature(market, cmd)
        outcome = submit_command(market, cmd, idem)
    except ApiError as exc:
        return api_error(exc, market.now())
    try:
        await market.durable(outcome.target)
    except Unavailable as exc:
        return unavailable(exc, market.now())
    return outcome


async def answer_command(
    market: LiveMarket,
    who: Principal,
    op: str,
    lot: str | None,
    fields: dict[str, Any],
    sig: str | None,
    idem: str | None,
) -> JSONAnswer:
    """`run_command`, answered: the outcome with its entry's signed receipt, or the refusal."""
    outcome = await run_command(market, who, op, lot, fields, sig, idem)
    if isinstance(outcome, JSONAnswer):
        return outcome
    return outcome_answer(outcome, market.now(), await market.receipt(outcome))


async def answer_typed_command(
    market: LiveMarket, who: Principal, op: str, lot: str | None, body: BaseModel, idem: str | None
) -> JSONAnswer:
    """`answer_command` for a body its command's schema validated, made fields by the one command table."""
    return await answer_command(market, who, op, lot, commands.fields_of(op, body), getattr(body, "sig", None), idem)
