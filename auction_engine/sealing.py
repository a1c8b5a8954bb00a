"""The engine's side of sealed command fields: what a command's entry records, what a rule may read.

A pricing mode declares fields the ledger records only as a commitment while the lot is priced (an
English proxy's `max`; auction_engine/vault.py has the byte formats). For the command being handled,
`SealedCommands` gives the command as its entry records it (live: the sealed fields replaced by
`commitment` and `sealed`; replay: the recorded form, checked against what the vault opens), hands a
rule the fields in clear when it asks (`unsealed`), and remembers what rules read on each lot: the
engine publishes those in `<op>_reveal` entries when the lot's pricing ends (`read_on`).
"""

from __future__ import annotations

from typing import Any

from .model import Command
from .vault import SealError, Vault, commitment

__all__ = ["SealedCommands"]

Read = tuple[int, str, str, dict[str, Any], bytes]
"""A sealed command a rule read: (its entry's index, op, actor, the clear fields, nonce)."""


class SealedCommands:
    """The current command's sealed fields and, per lot, the sealed commands its rules have read."""

    __slots__ = ("_names", "_opened", "_read", "_unrevealed", "vault")

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        # The current command's sealed fields: (its entry's index, op, the clear fields or None when they
        # cannot be opened, nonce), or None for a command without them; whether a rule has read them.
        self._opened: tuple[int, str, dict[str, Any] | None, bytes] | None = None
        self._names: tuple[str, ...] = ()  # the names of the current command's sealed fields
        self._read = False
        self._unrevealed: dict[str, list[Read]] = {}  # lot id -> what rules read on it, in ledger order

    def state(self) -> dict[str, list[Read]]:
        """What outlasts the current command: per lot, the sealed commands its rules have read."""
        return self._unrevealed

    def restore(self, unrevealed: dict[str, list[Read]]) -> None:
        self._unrevealed = unrevealed

    def without(self) -> None:
        """The current command has no sealed fields."""
        self._opened = None

    def record(self, cmd: Command, op: str, names: tuple[str, ...], seq: int, *, replaying: bool) -> Command:
        """The command as its entry `seq` records it, its sealed fields being `names`; remember what a rule may read."""
        self._read = False
        self._names = names
        clear = {name: cmd[name] for name in names if name in cmd}
        recorded = "commitment" in cmd or "sealed" in cmd
        actor, lot = cmd["actor"], cmd.get("lot")
        if not replaying:  # live: the engine seals what the sender sent
            if recorded:
                raise ValueError(f"the fields 'commitment' and 'sealed' of a {op} command are written by the engine")
            if not clear:  # nothing to seal (the rule refuses the missing field)
                self._opened = (seq, op, {}, b"")
                return cmd
            nonce, digest, box = self.vault.seal(seq, op, actor, lot, clear)
            out = {k: v for k, v in cmd.items() if k not in clear}
            out["commitment"] = digest
            out["sealed"] = box
            self._opened = (seq, op, clear, nonce)
            return out
        # replay: the entry holds the recorded form; the vault opens it, or knows it from a reveal
        if clear:
            shown = ", ".join(repr(name) for name in clear)
            raise SealError(seq, f"this {op} entry records {shown} in clear, which these rules seal")
        if not recorded:
            self._opened = (seq, op, {}, b"")
            return cmd
        opened = self.vault.open(seq, cmd)
        if opened is None:
            self._opened = (seq, op, None, b"")
            return cmd
        fields, nonce = opened
        if not set(fields) <= set(names) or commitment(op, actor, lot, fields, nonce) != cmd.get("commitment"):
            raise SealError(seq, f"the sealed fields of this {op} entry do not open its commitment")
        self._opened = (seq, op, fields, nonce)
        return cmd

    def unsealed(self, cmd: Command, current: Command | None) -> Command:
        """`cmd` with its sealed fields in clear when it is the `current` command; what is read is remembered
        for its lot's reveal."""
        opened = self._opened
        if opened is None or cmd is not current:  # a command without sealed fields, or not the current one
            return cmd
        seq, op, fields, nonce = opened
        if fields is None:
            what, lot = ", ".join(self._names), cmd.get("lot")
            raise SealError(
                seq,
                f"the {op} {what} of entry {seq} is sealed and not revealed yet (the ledger publishes it when the "
                f"pricing of lot {lot!r} ends; until then only the market's key opens it)",
                unrevealed=True,
            )
        if not fields:
            return cmd
        if not self._read:
            self._read = True
            self._unrevealed.setdefault(cmd["lot"], []).append((seq, op, cmd["actor"], fields, nonce))
        out = {k: v for k, v in cmd.items() if k not in ("commitment", "sealed")}
        out.update(fields)
        return out

    def read_on(self, lot_id: str) -> list[Read]:
        """The sealed commands rules read on the lot since it opened, forgotten here: its pricing has ended."""
        return self._unrevealed.pop(lot_id, [])
