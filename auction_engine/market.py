"""The market's state and the commands that are not a pricing mode's own: sub-markets, lots, deposits.

A market hosts sub-markets (e.g. a sector auction, 行业拍), each with its own rule settings;
every lot belongs to one. Parameters resolve market < sub-market < lot, and the resolved values
are recorded in the lot's `open_lot` entry. Operator actions are refused to anyone else.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, MutableMapping
from typing import Any

from . import bidder_keys
from .bidder_keys import KeyState
from .model import Command, Ms, Rejected
from .params import SettlementParams, field_names, resolve, to_dict
from .rules import MODES, settlement
from .rules.base import Ctx, Lot, Mode, arg, lot_kind, phase_text

__all__ = ["COMMAND_OPS", "MAX_PARTIES", "OPERATOR_OPS", "RESULT_FIELDS", "Market", "deposit_items", "refund_items"]

RESULT_FIELDS = frozenset({"ok", "rule", "reason", "message", "out", "redacted", "lot_seq", "seq", "prev", "t", "kind"})
OPERATOR_OPS = frozenset(
    {
        "open_submarket",
        "open_lot",
        "deposit",
        "pay",
        "resolve_objection",
        "approve_relist",
        "relist",
        "withdraw_lot",
        "close_phase",
        "reset_key",
    }
)
COMMAND_OPS = frozenset(
    OPERATOR_OPS.union(*(mode.commands for mode in MODES.values()), settlement.COMMANDS, bidder_keys.KEY_OPS)
)
"""Every command the rules define: a command entry's kind is always one of these, never an event's kind."""
BIDDING_OPS = frozenset({"bid", "proxy", "accept", "commit", "reveal", "offer", "register"})  # a buyer's acts
_SETTLEMENT_KEYS = field_names(SettlementParams)
MAX_PARTIES = 500
"""The most parties one lot admits (deposits): every entry that lists a lot's parties (a batch refund,
a sealed close) then stays far below the ledger's entry size limit."""
SECRET_FIELDS: dict[str, tuple[str, ...]] = {}  # op -> fields a rejection's entry leaves out (e.g. sealed reveals)
for _mode in MODES.values():
    for _op, _fields in _mode.secret_fields.items():
        SECRET_FIELDS[_op] = tuple(sorted(set(SECRET_FIELDS.get(_op, ())) | set(_fields)))
SEALED_FIELDS: dict[str, tuple[str, ...]] = {}  # op -> fields recorded as a commitment (auction_engine/vault.py)
for _mode in MODES.values():
    for _op, _fields in _mode.sealed_fields.items():
        SEALED_FIELDS[_op] = tuple(sorted(set(SEALED_FIELDS.get(_op, ())) | set(_fields)))


class Market:
    """Sub-markets and lots, and the dispatch of each command to the rule that owns it."""

    __slots__ = ("keys", "lots", "name", "operators", "origin", "params", "submarkets")

    def __init__(
        self, name: str, params: dict[str, Any], operators: tuple[str, ...], origin: str | None = None
    ) -> None:
        try:
            self.check_keys(params, None, " in the market's settings")
        except Rejected as exc:
            raise ValueError(exc.message) from None
        self.name = name
        self.params = params
        self.operators = frozenset(operators)
        self.submarkets: dict[str, dict[str, Any]] = {"main": {"name": name, "params": {}}}
        self.lots: MutableMapping[str, Lot] = {}  # a LotTable on the live server (lot_table.py)
        self.origin = origin if origin is not None else name  # what bidders' key statements name
        self.keys: dict[str, KeyState] = {}  # bidder -> its key in force (auction_engine/bidder_keys.py)

    def mode(self, lot: Lot) -> Mode:
        return MODES[lot.mode]

    def handle(self, ctx: Ctx, cmd: Command) -> Lot | None:
        """Route a command; return the lot it touched (to re-arm its deadline)."""
        op = cmd["op"]
        if op in OPERATOR_OPS and cmd["actor"] not in self.operators:
            raise Rejected("forbidden", f"{op} is an operator action, and {cmd['actor']} is not an operator")
        if op == "open_submarket":
            self._open_submarket(ctx, cmd)
            return None
        if op == "open_lot":
            return self._open_lot(ctx, cmd)
        if op == "bind_key":
            bidder_keys.bind_key(ctx, self.keys, self.origin, cmd)
            return None
        if op == "reset_key":
            bidder_keys.reset_key(ctx, self.keys, cmd)
            return None
        lot_id = cmd.get("lot")
        if type(lot_id) is not str:
            raise Rejected("bad_command", f"the {op} command needs the field 'lot', the id of a lot")
        lot = self.lots.get(lot_id)
        if lot is None:
            raise Rejected("unknown_lot", f"there is no lot {lot_id!r}")
        if op == "deposit":
            self._deposit(ctx, lot, cmd)
            return lot
        if op == "withdraw_lot":
            self._withdraw(ctx, lot, cmd)
            return lot
        if op == "close_phase":
            self._close_phase(ctx, lot, cmd)
            return lot
        if op in BIDDING_OPS:
            actor = cmd["actor"]
            if actor == lot.seller:
                raise Rejected("seller_cannot_bid", f"{actor} is the seller of lot {lot.id} and may not bid on it")
            if actor in self.operators:
                raise Rejected("operator_cannot_bid", f"{actor} is an operator and may not bid (拍卖法 §22)")
        if op not in OPERATOR_OPS:
            bidder_keys.check_signed(self.keys, lot, cmd)
        if lot.phase in settlement.PHASES:
            handler = settlement.COMMANDS.get(op)
            if handler is None:
                possible = settlement.PHASE_COMMANDS.get(lot.phase, ())
                now = f"the commands now are {', '.join(possible)}" if possible else "it takes no more commands"
                raise Rejected(
                    "lot_closed", f"{op} is not possible on lot {lot.id}, which is {phase_text(lot.phase)} ({now})"
                )
        else:
            mode_commands = MODES[lot.mode].commands
            handler = mode_commands.get(op)
            if handler is None:
                commands = ", ".join(sorted(mode_commands))
                raise Rejected(
                    "unknown_command",
                    f"{op} is not a command of lot {lot.id}, {lot_kind(lot.mode)} (whose own commands are {commands})",
                )
        handler(ctx, lot, cmd)
        return lot

    def _open_submarket(self, ctx: Ctx, cmd: Command) -> None:
        sub = arg(cmd, "submarket", str)
        if sub in self.submarkets:
            raise Rejected("duplicate_submarket", f"sub-market {sub!r} already exists; choose another id")
        params = cmd.get("params", {})
        if type(params) is not dict:
            raise Rejected(
                "bad_command", f"field 'params' of sub-market {sub!r} must be a map of parameter names to values"
            )
        self.check_keys(params, None, f" in sub-market {sub!r}")
        ctx.accept("market.submarket")
        self.submarkets[sub] = {"name": cmd.get("name", sub), "params": params}

    @staticmethod
    def check_keys(params: Mapping[str, Any], mode: Mode | None, where: str) -> None:
        known = set(_SETTLEMENT_KEYS)
        for m in [mode] if mode is not None else MODES.values():
            known |= field_names(m.params)
        for key in params:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise Rejected("bad_param", f"unknown parameter {key!r}{where}{hint}")

    def _resolve(self, mode: Mode, submarket: str, lot_params: Mapping[str, Any], what: str) -> tuple[Any, Any]:
        layers = (self.params, self.submarkets[submarket]["params"], lot_params)
        return resolve(mode.params, *layers, what=what), resolve(SettlementParams, *layers, what=what)

    def _open_lot(self, ctx: Ctx, cmd: Command) -> Lot:
        lot_id = arg(cmd, "lot", str)
        mode_name = arg(cmd, "mode", str)
        if lot_id in self.lots:
            raise Rejected("duplicate_lot", f"lot {lot_id!r} already exists; choose another id")
        mode = MODES.get(mode_name)
        if mode is None:
            modes = ", ".join(sorted(MODES))
            raise Rejected("unknown_mode", f"field 'mode' of lot {lot_id!r} must be one of {modes}, not {mode_name!r}")
        submarket = cmd.get("submarket", "main")
        if submarket not in self.submarkets:
            subs = ", ".join(repr(name) for name in sorted(self.submarkets))
            raise Rejected(
                "unknown_submarket",
                f"lot {lot_id!r} names sub-market {submarket!r}, which does not exist (known: {subs})",
            )
        lot_params = cmd.get("params", {})
        if type(lot_params) is not dict:
            raise Rejected(
                "bad_command", f"field 'params' of lot {lot_id!r} must be a map of parameter names to values"
            )
        self.check_keys(lot_params, mode, f" for {lot_kind(mode_name)}")
        params, settle = self._resolve(mode, submarket, lot_params, f" for lot {lot_id!r}")
        target = mode.conversion(params) if mode.conversion is not None else None
        if target is not None:  # a conversion must not fail later, after a command was accepted
            name, overrides = target
            layers = (self.params, self.submarkets[submarket]["params"], overrides)
            resolve(MODES[name].params, *layers, what=f" for lot {lot_id!r} once it becomes {lot_kind(name)}")
        seller = cmd.get("seller", "seller")
        for name in ("seller", "title"):
            if name in cmd and (type(cmd[name]) is not str or not cmd[name]):
                raise Rejected("bad_command", f"field {name!r} of lot {lot_id!r} must be a non-empty string")
        appraisal = cmd.get("appraisal")
        if appraisal is not None and (type(appraisal) is not int or appraisal <= 0):
            raise Rejected(
                "bad_command",
                f"field 'appraisal' of lot {lot_id!r} must be a positive whole number of fen, not {appraisal!r}",
            )
        ctx.accept(f"{mode_name}.open", params=to_dict(params), settlement=to_dict(settle))
        lot = Lot(
            id=lot_id,
            submarket=submarket,
            seller=seller if type(seller) is str else "seller",
            title=cmd.get("title", lot_id) if type(cmd.get("title", lot_id)) is str else lot_id,
            mode=mode_name,
            params=params,
            settlement=settle,
            opened_at=ctx.now,
            appraisal=appraisal,
        )
        lot.history.append(mode_name)
        self.lots[lot_id] = lot
        mode.open(ctx, lot)
        return lot

    def _deposit(self, ctx: Ctx, lot: Lot, cmd: Command) -> None:
        """The operator records a deposit (保证金) received from a party; this admits the party.

        The batch form (`parties`: a list of maps with `party` and `amount`) records several
        parties' deposits in one entry, all or none: an admission of a whole lot's bidders.
        """
        batch = "parties" in cmd
        received = _batch_deposits(lot, cmd) if batch else [(arg(cmd, "party", str), arg(cmd, "amount"))]
        if lot.phase in settlement.PHASES:
            raise Rejected("lot_closed", f"lot {lot.id} is no longer taking deposits: it is {phase_text(lot.phase)}")
        newcomers = {party for party, _ in received if party not in lot.deposits}
        if len(lot.deposits) + len(newcomers) > MAX_PARTIES:
            raise Rejected(
                "too_many_parties",
                f"lot {lot.id} admits at most {MAX_PARTIES} parties (it has {len(lot.deposits)}; "
                f"this deposit adds {len(newcomers)})",
            )
        ctx.accept("market.deposit")
        deposits = lot.deposits
        for party, amount in received:
            deposits[party] = deposits.get(party, 0) + amount

    def _withdraw(self, ctx: Ctx, lot: Lot, cmd: Command) -> None:
        """The operator withdraws a lot before a deal is struck (撤拍): no sale, every deposit refunded."""
        grounds = arg(cmd, "grounds", str)
        if lot.phase in settlement.PHASES:
            raise Rejected("lot_closed", f"lot {lot.id} can no longer be withdrawn: it is {phase_text(lot.phase)}")
        ctx.accept("market.withdraw")
        ctx.emit("withdrawn", lot=lot.id, grounds=grounds)
        ctx.no_sale(lot, "withdrawn")

    def _close_phase(self, ctx: Ctx, lot: Lot, cmd: Command) -> None:
        """The operator ends the current pricing phase now, as if its timer had come (lots that allow it)."""
        grounds = arg(cmd, "grounds", str)
        if not lot.settlement.operator_may_close:
            raise Rejected(
                "not_allowed",
                f"lot {lot.id}'s phases end on their published timers (parameter 'operator_may_close' is off)",
            )
        mode = self.mode(lot)
        if not mode.closable:
            raise Rejected("not_allowed", f"{lot_kind(lot.mode)}'s phases cannot be cut short (lot {lot.id})")
        if lot.phase in settlement.PHASES or mode.next_deadline(lot) is None:
            raise Rejected("no_phase_to_close", f"lot {lot.id} has no timed phase to close now (it is {lot.phase})")
        ctx.accept("market.close_phase")
        ctx.emit("phase_closed", lot=lot.id, phase=lot.phase, grounds=grounds)
        mode.on_deadline(ctx, lot)

    def convert(self, ctx: Ctx, lot: Lot, mode_name: str, overrides: Mapping[str, Any]) -> None:
        """Switch a lot to another pricing mode, keeping its deposits and parties."""
        mode = MODES[mode_name]
        params = resolve(
            mode.params,
            self.params,
            self.submarkets[lot.submarket]["params"],
            overrides,
            what=f" for lot {lot.id!r}",
        )
        ctx.emit("convert", lot=lot.id, to=mode_name, params=to_dict(params))
        setattr(lot, "mode", mode_name)  # noqa: B010 - explicit: the lot changes mode here
        lot.params = params
        lot.opened_at = ctx.now
        lot.history.append(mode_name)
        mode.open(ctx, lot)

    def view(self, lot: Lot, viewer: str | None, now: Ms | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lot": lot.id,
            "title": lot.title,
            "seller": lot.seller,
            "submarket": lot.submarket,
            "mode": lot.mode,
            "phase": lot.phase,
        }
        if lot.phase in settlement.PHASES:
            out.update(settlement.view(lot))
        else:
            mode = self.mode(lot)
            out.update(mode.view(lot, viewer))
            if now is not None and mode.live_view is not None:
                out.update(mode.live_view(lot, now))
        if viewer is not None:
            out["my_deposit"] = lot.deposits.get(viewer, 0)
        return out


def _batch_deposits(lot: Lot, cmd: Command) -> list[tuple[str, int]]:
    """The (party, amount) pairs of a batch `deposit`, or a rejection naming the offending item."""
    for single in ("party", "amount"):
        if single in cmd:
            raise Rejected(
                "bad_command", f"a deposit gives either 'party' and 'amount' or 'parties', not both (field {single!r})"
            )
    items = cmd["parties"]
    if type(items) is not list or not items:
        raise Rejected(
            "bad_command", "field 'parties' must be a non-empty list of maps, each with 'party' and 'amount'"
        )
    received: list[tuple[str, int]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise Rejected("bad_command", f"parties[{i}] must be a map with 'party' and 'amount', not {item!r}")
        party, amount = item.get("party"), item.get("amount")
        if type(party) is not str or not party:
            raise Rejected("bad_command", f"parties[{i}].party must be a non-empty string, not {party!r}")
        if type(amount) is not int or amount < 0:
            raise Rejected(
                "bad_command", f"parties[{i}].amount must be a whole number of fen ≥ 0, not {amount!r} ({party})"
            )
        if party in seen:
            raise Rejected("bad_command", f"parties[{i}]: {party} appears twice in one deposit (lot {lot.id})")
        seen.add(party)
        received.append((party, amount))
    return received


def deposit_items(data: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (party, amount) pairs an accepted `deposit` entry records, in either form (one party or a batch)."""
    if "parties" in data:
        return [(item["party"], item["amount"]) for item in data["parties"]]
    return [(data["party"], data["amount"])]


def refund_items(data: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (party, amount) pairs a `refund` entry returns, in either form (one party or several at once)."""
    return deposit_items(data)
