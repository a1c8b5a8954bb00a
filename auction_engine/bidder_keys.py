"""Bidder keys bound in the ledger: proof of possession, rotation, the operator's reset, signed commands.

A bidder's Ed25519 key is part of the market's state, written by entries every replay folds:

- `bind_key` (the bidder): binds a key. Its `statement` is a C2SP signed note (normative text below)
  signed by the new key under the bidder's id as the key name — the proof of possession — and, when
  a key is in force, also by that old key — the rotation. The note names the market's origin, the
  bidder and the bidder's key epoch, so a statement binds once, on one market, for one bidder.
- `reset_key` (the operator): clears a bidder's key, with its `grounds`; the entry is public, so the
  bidder and every auditor see that the operator, not the bidder, changed the key.

The epoch counts a bidder's `bind_key` and `reset_key` entries so far (0 before the first). The
statement text is exactly:

    auction-engine/bidder-key/v1
    origin <the market's origin>
    bidder <bidder id>
    epoch <epoch before this binding, decimal>
    old <base64 of the key in force, or '-' when none>
    new <base64 of the new 32-byte key>

While a key is in force every command the bidder sends on a lot carries `key` (that key), `sig`
(64 bytes) and `idem`; a lot whose parameter `require_signed_bids` is on refuses a command from a
bidder without a key. The rules check that the key is the one in force; the signature itself is
checked against it by the server before the command runs and by every replay (`auction_engine.replay`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import note

from .model import Command, Rejected

if TYPE_CHECKING:
    from .rules.base import Ctx, Lot

__all__ = [
    "HEADER",
    "KEY_OPS",
    "MAX_STATEMENT",
    "KeyState",
    "bind_key",
    "check_signed",
    "parse_statement",
    "reset_key",
    "sign_statement",
    "statement_text",
]

HEADER = "auction-engine/bidder-key/v1"
MAX_STATEMENT = 1024
"""Characters: the longest statement the rules read (a real one, with two signatures, is about 330)."""
KEY_OPS = frozenset({"bind_key", "reset_key"})


@dataclass(frozen=True, slots=True)
class KeyState:
    """A bidder's key in force (None after a reset) and how many key entries it has had."""

    key: bytes | None
    epoch: int


NO_KEY = KeyState(None, 0)


def _b64(key: bytes | None) -> str:
    return "-" if key is None else base64.b64encode(key).decode("ascii")


def statement_text(origin: str, bidder: str, epoch: int, old: bytes | None, new: bytes) -> str:
    """The note text of a key statement (normative, see the module's text)."""
    return f"{HEADER}\norigin {origin}\nbidder {bidder}\nepoch {epoch}\nold {_b64(old)}\nnew {_b64(new)}\n"


def sign_statement(origin: str, bidder: str, epoch: int, new_seed: bytes, old_seed: bytes | None = None) -> str:
    """A bidder's signed statement binding the key of `new_seed` (a 32-byte Ed25519 seed).

    With `old_seed` (the key in force) it is a rotation, signed by the old key and the new one.
    """
    new = note.Signer(bidder, new_seed)
    signers = [new]
    old_key = None
    if old_seed is not None:
        old = note.Signer(bidder, old_seed)
        old_key = old.verifier.public_key
        signers.insert(0, old)
    return note.sign_note(statement_text(origin, bidder, epoch, old_key, new.verifier.public_key), *signers)


def parse_statement(statement: str) -> tuple[str, str, int, bytes | None, bytes]:
    """A statement's (origin, bidder, epoch, old key, new key), or a Rejected naming what is wrong.

    Only the text is read here; `bind_key` checks the signatures.
    """
    try:
        text, _ = note.split_note(statement)
    except note.NoteError as exc:
        raise Rejected("bad_statement", f"field 'statement' is not a signed note: {exc}") from None
    lines = text[:-1].split("\n")
    names = ("origin", "bidder", "epoch", "old", "new")
    if len(lines) != 6 or lines[0] != HEADER:
        raise Rejected("bad_statement", f"field 'statement' must be a {HEADER} note of 6 lines")
    values: list[str] = []
    for n, (line, name) in enumerate(zip(lines[1:], names, strict=True), start=2):
        label, _, value = line.partition(" ")
        if label != name or not value:
            raise Rejected("bad_statement", f"line {n} of field 'statement' must be '{name} <value>'")
        values.append(value)
    origin, bidder, epoch_text, old_text, new_text = values
    if not epoch_text.isdigit() or not epoch_text.isascii() or len(epoch_text) > 15:
        raise Rejected("bad_statement", f"line 4 of field 'statement': epoch {epoch_text!r} is not a count")
    old = None if old_text == "-" else _key(old_text, 5)
    return origin, bidder, int(epoch_text), old, _key(new_text, 6)


def _key(text: str, line: int) -> bytes:
    try:
        raw = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise Rejected("bad_statement", f"line {line} of field 'statement' is not base64") from None
    if len(raw) != 32:
        raise Rejected("bad_statement", f"line {line} of field 'statement' is not a 32-byte Ed25519 key")
    return raw


def bind_key(ctx: Ctx, keys: dict[str, KeyState], origin: str, cmd: Command) -> None:
    """The rule of `bind_key`: a statement for this market, bidder and epoch, signed by the new key
    (and by the key in force, if any), binds the new key."""
    actor = cmd["actor"]
    if ctx.is_operator(actor):
        raise Rejected("operator_cannot_bid", f"{actor} is an operator: only bidders bind keys")
    statement = cmd.get("statement")
    if type(statement) is not str:
        raise Rejected("bad_command", "the bind_key command needs the field 'statement', a signed note")
    if len(statement) > MAX_STATEMENT:
        raise Rejected("bad_statement", f"field 'statement' is longer than {MAX_STATEMENT} characters")
    said_origin, bidder, epoch, old, new = parse_statement(statement)
    state = keys.get(actor, NO_KEY)
    if said_origin != origin:
        raise Rejected("bad_statement", f"the statement is for market {said_origin!r}, not {origin!r}")
    if bidder != actor:
        raise Rejected("bad_statement", f"the statement binds a key for {bidder!r}, not for {actor}")
    if epoch != state.epoch:
        raise Rejected(
            "stale_statement", f"the statement is for key epoch {epoch}; {actor}'s key epoch is {state.epoch}"
        )
    if old != state.key:
        held = "no key" if state.key is None else f"key {_b64(state.key)}"
        raise Rejected("bad_statement", f"the statement's old key is not {actor}'s key in force ({held})")
    if new == state.key:
        raise Rejected("same_key", f"{actor}'s key in force is already {_b64(new)}")
    verifiers = [note.Verifier(actor, new)] + ([note.Verifier(actor, old)] if old is not None else [])
    try:
        opened = note.open_note(statement, *verifiers)
    except note.NoteError as exc:
        raise Rejected("bad_signature", f"the statement's signatures do not hold: {exc}") from None
    signed_by = {s.key_id for s in opened.signatures}
    for verifier, role in zip(verifiers, ("new", "old"), strict=False):
        if verifier.key_id not in signed_by:
            what = "proof of possession" if role == "new" else "rotation"
            raise Rejected("bad_signature", f"the statement lacks its {what}: a signature by the {role} key")
    ctx.accept("keys.rotate" if old is not None else "keys.bind", key=new, epoch=state.epoch + 1)
    keys[actor] = KeyState(new, state.epoch + 1)


def reset_key(ctx: Ctx, keys: dict[str, KeyState], cmd: Command) -> None:
    """The rule of `reset_key` (the operator's): the bidder's key is cleared, on stated grounds."""
    bidder, grounds = cmd.get("bidder"), cmd.get("grounds")
    if type(bidder) is not str or not bidder:
        raise Rejected("bad_command", "the reset_key command needs the field 'bidder', a bidder id")
    if type(grounds) is not str or not grounds.strip():
        raise Rejected("bad_command", "the reset_key command needs the field 'grounds', why the key is reset")
    state = keys.get(bidder, NO_KEY)
    if state.key is None:
        raise Rejected("no_key", f"{bidder} has no key in force to reset")
    ctx.accept("keys.reset", epoch=state.epoch + 1)
    keys[bidder] = KeyState(None, state.epoch + 1)


def check_signed(keys: dict[str, KeyState], lot: Lot, cmd: Command) -> None:
    """A bidder's command on a lot carries the key in force and a signature, or none when it has no key."""
    state = keys.get(cmd["actor"])
    if state is None or state.key is None:
        if "sig" in cmd or "key" in cmd:
            raise Rejected("no_key", f"{cmd['actor']} has no key in force: a command signed by it cannot be checked")
        if lot.settlement.require_signed_bids:
            raise Rejected(
                "signature_required",
                f"lot {lot.id} takes only signed commands, and {cmd['actor']} has bound no key (bind_key)",
            )
        return
    if cmd.get("key") != state.key:
        raise Rejected(
            "signature_required", f"{cmd['actor']}'s commands must carry its key in force, {_b64(state.key)}"
        )
    sig: Any = cmd.get("sig")
    if type(sig) is not bytes or len(sig) != 64:
        raise Rejected("signature_required", f"{cmd['actor']}'s commands must carry 'sig', 64 bytes")
    if type(cmd.get("idem")) is not str:
        raise Rejected("signature_required", "a signed command must carry 'idem', its idempotency key")
