"""The engine: delivers commands and timers to the rules and writes every step to the ledger.

A command is checked by the rules; its entry (accepted with the rule that accepted it, or rejected
with a reason code) is written, then its consequences. Deadlines come from the rules
(`next_deadline(lot)`); the engine keeps a heap of them and asks the clock to wake it, and fires
every deadline due at or before a command's time before the command, stamping timer entries
with the deadline itself, so the same inputs give the same ledger under any clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, NamedTuple, Protocol

from ledger import Log, canonical, txcode

from .calendar import Calendar
from .clock import Clock, SimClock
from .lot_table import LotTable, in_memory
from .market import COMMAND_OPS, OPERATOR_OPS, RESULT_FIELDS, SEALED_FIELDS, SECRET_FIELDS, Market
from .model import MAX_INT, Command, Fen, Ms, Rejected
from .rules import MODES, settlement
from .rules.base import Ctx, Lot, Ranked
from .sealing import SealedCommands
from .vault import MarketVault, Vault, reveal_kind, reveal_seq_field

__all__ = ["Engine", "Event", "Result"]

# The version of the rules this engine runs, recorded in every ledger's genesis entry; replay refuses
# a ledger recorded under another. 2: batch deposits and refunds, the txcode entry's certificate fields.
# 3: sealed fields (a proxy's maximum recorded as a commitment, revealed when the lot's pricing ends; no
# `out.cap`), a sealed-bid lot's refusals withhold amounts, a proxy's maximum is read after its other checks.
# 4: bidder keys bound in the ledger (bind_key, reset_key, require_signed_bids), the genesis names the origin.
RULES_VERSION = "4"
MODE_LETTERS = {"agreement": "A", "listing": "L", "english": "E", "dutch": "D", "sealed": "S"}
_SCALARS = frozenset({int, str, bytes, bool, type(None)})


class Event(NamedTuple):
    """A ledger entry as the engine wrote it: index, time, kind and payload (one is made per entry)."""

    seq: int
    t: Ms
    kind: str
    data: dict[str, Any]


class Result(NamedTuple):
    """What `submit` answers: accepted or not, why, and the ledger index of the command's entry."""

    ok: bool
    seq: int
    code: str | None = None
    message: str | None = None
    rule: str | None = None


def checked_command(cmd: Command) -> tuple[Command, str]:
    """The command as its ledger entry will decode, and its op; a ValueError for what the rules or the
    ledger cannot take (no op or actor, a field reserved for the result, a value the ledger cannot encode),
    before anything is recorded.

    The rules see the command as its entry decodes (maps sorted, lists not tuples), so every byte they
    derive from it, a refusal's message included, is the same in a replay.
    """
    cmd = canonical.normalize(cmd)
    op = cmd.get("op")
    if type(op) is not str or not op:
        raise ValueError("a command needs an 'op' string")
    if op not in COMMAND_OPS:  # an entry of another kind (txcode, deal…) must never be a command's
        raise ValueError(f"{op!r} is not a command of these rules")
    if not RESULT_FIELDS.isdisjoint(cmd):
        bad = RESULT_FIELDS.intersection(cmd)
        raise ValueError(f"command field {sorted(bad)[0]!r} is reserved for the result")
    if type(cmd.get("actor")) is not str or not cmd["actor"]:
        raise ValueError("a command needs an 'actor' string")
    for key, value in cmd.items():  # reject what the ledger cannot encode before anything is recorded
        kind = type(value)  # exact types: what is not a plain scalar goes through the encoder
        if kind is str:
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(f"command field {key!r} is not valid Unicode text (a lone surrogate)") from None
        elif kind is int:
            if not -MAX_INT <= value <= MAX_INT:
                raise ValueError(f"command field {key!r} must be between -10^15 and 10^15, not {value}")
        elif kind not in _SCALARS:
            canonical.encode_value(value)
    return cmd, op


class TimerRules(Protocol):
    """The rules that own a lot's deadlines now: its pricing mode's, or settlement's once it is priced."""

    next_deadline: Callable[[Lot], Ms | None]
    on_deadline: Callable[[Ctx, Lot], None]


def _timer_rules(lot: Lot) -> TimerRules:
    return settlement if lot.phase in settlement.PHASES else MODES[lot.mode]


class Recorder:
    """Where entries go: the ledger (`Log`), or nowhere but a counter (ledger off, for benchmarks)."""

    __slots__ = ("log", "size")

    def __init__(self, log: Log | None) -> None:
        self.log = log
        self.size = log.size if log is not None else 0

    def write(self, kind: str, payload: dict[str, Any], t: Ms) -> tuple[int, bytes | None]:
        """Write one entry; return its index and leaf hash (None with the ledger off)."""
        log = self.log
        leaf = log.append(kind, payload, t).leaf if log is not None else None
        seq = self.size
        self.size = seq + 1
        return seq, leaf


class Engine:
    """One market: its lots, its clock, its ledger. Commands in, ledger entries out."""

    __slots__ = (
        "_accepted",
        "_current",
        "_deal_entries",
        "_expect",
        "_heap",
        "_in_rule",
        "_last_t",
        "_lot_seq",
        "_n",
        "_rule",
        "_sealed",
        "_t",
        "_wakes",
        "clock",
        "code_prefix",
        "codes",
        "events",
        "keep_events",
        "market",
        "on_event",
        "recorder",
        "withheld",
    )

    def __init__(
        self,
        *,
        market: str = "market",
        origin: str | None = None,
        clock: Clock | None = None,
        log: Log | None = None,
        params: Mapping[str, Any] | None = None,
        operators: tuple[str, ...] = ("operator",),
        code_prefix: str = "ZJ",
        keep_events: bool = True,
        on_event: Callable[[Event], None] | None = None,
        expect: Callable[[str, dict[str, Any], Ms], bytes | None] | None = None,
        vault: Vault | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SimClock()
        self.recorder = Recorder(log)
        if origin is None and log is not None:
            origin = log.origin  # bidders' key statements and signatures name the log's origin
        self.market = Market(market, dict(params or {}), tuple(operators), origin)
        self.keep_events = keep_events
        self.events: list[Event] = []
        self.on_event = on_event
        self._heap: list[tuple[Ms, int, str]] = []
        self._n = 0
        self._wakes: list[Ms] = []  # times the clock will wake us (a heap; they fire in order)
        self._last_t = log.last_time if log is not None else 0
        self._current: Command | None = None  # the command being handled
        self._accepted = False
        self._t = 0
        self._in_rule = False
        self._rule: str | None = None
        self._expect = expect
        self.code_prefix = code_prefix
        self._deal_entries: dict[str, tuple[int, bytes | None, Ms]] = {}  # lot -> its deal entry (seq, leaf, t)
        self.codes: dict[str, str] = {}  # transaction code -> lot
        self._lot_seq: dict[str, int] = {}  # lot id not (yet) open -> how many entries name it so far
        # Sealed fields (auction_engine/vault.py): the vault seals them live and opens them in a replay. By
        # default a market signing its ledger derives the secret from its key; without a signer (a
        # simulation) the secret is public, derived from the market's name.
        if vault is None:
            signer = log.signer if log is not None else None
            vault = MarketVault.from_signer(signer) if signer is not None else MarketVault.simulation(market)
        self._sealed = SealedCommands(vault)
        self.withheld: tuple[str, ...] = ()  # the fields the last refused command's entry left out
        if log is None or log.size == 0 or expect is not None:
            self._write(
                "open_market",
                {
                    "market": market,
                    "origin": self.market.origin,
                    "params": dict(params or {}),
                    "operators": list(operators),
                    "rules_version": RULES_VERSION,
                    "code_prefix": code_prefix,
                },
                self._entry_time(self.clock.now()),
            )

    # -- time and timers ------------------------------------------------------------------------

    @property
    def last_time(self) -> Ms:
        """The time of the last entry written (or replayed)."""
        return self._last_t

    @property
    def now(self) -> Ms:
        """The market's time: inside a rule, the instant being handled (a timer's own deadline)."""
        if self._in_rule:
            return self._t
        return self._entry_time(self.clock.now())

    def _entry_time(self, t: Ms) -> Ms:
        """The time of an entry made at `t`: `t`, or the last entry's time if that is later.

        The ledger's times never go back, so its order is also time order and a replay fires every
        timer where it fired live. A clock can be behind the ledger: a wall clock stepped back, a
        replayed market continuing on a clock that reads earlier than its last entry (`attach`), a
        deadline fired after an entry stamped later. Such an entry takes the last entry's time.
        """
        last = self._last_t
        return last if last > t else t

    def _arm(self, lot: Lot) -> None:
        """Make sure the heap holds an entry at or before the lot's next deadline."""
        self._arm_at(lot, self._deadline(lot))

    def _arm_at(self, lot: Lot, due: Ms | None) -> None:
        """`_arm` for the lot's next deadline `due`, already known."""
        if due is None:
            lot.armed = None
            return
        armed = lot.armed
        if armed is not None and armed <= due:
            return  # the earlier heap entry will fire first and re-arm (a restarted countdown)
        lot.armed = due
        self._n += 1
        heapq.heappush(self._heap, (due, self._n, lot.id))
        self._ensure_wake(due)

    def _ensure_wake(self, due: Ms) -> None:
        """Ask the clock to wake us at `due` unless a wake-up at or before it is already pending."""
        if not self._wakes or self._wakes[0] > due:
            heapq.heappush(self._wakes, due)
            self.clock.call_at(due, self._wake)

    def _wake(self) -> None:
        if self._wakes:
            heapq.heappop(self._wakes)  # the clock calls back in time order: this is the earliest
        self.fire_due(self.clock.now())
        if self._heap:
            self._ensure_wake(self._heap[0][0])

    def _deadline(self, lot: Lot) -> Ms | None:
        return _timer_rules(lot).next_deadline(lot)

    def deadline_of(self, lot: Lot) -> Ms | None:
        """The lot's next deadline by its rules (None: it waits for no timer)."""
        return _timer_rules(lot).next_deadline(lot)

    def next_deadline(self) -> Ms | None:
        """The earliest pending deadline of any lot (for a live driver's timer)."""
        return self._heap[0][0] if self._heap else None

    def fire_due(self, now: Ms) -> int:
        """Fire every deadline due at or before `now`, in deadline order; return how many fired."""
        fired = 0
        heap, lots = self._heap, in_memory(self.market.lots)
        while heap and heap[0][0] <= now:
            _, _, lot_id = heapq.heappop(heap)
            lot = lots.get(lot_id)
            if lot is None:
                continue  # a stale entry of a lot that closed and left memory (lot_table.py): it has no deadline
            lot.armed = None
            due = self._deadline(lot)
            if due is None:
                continue
            if due > now:
                self._arm_at(lot, due)  # moved later (countdown restarted): re-arm for the new time
                continue
            self._t = self._entry_time(due)
            self._current, self._accepted = None, True
            before = (lot.mode, lot.phase)
            self._in_rule = True
            try:
                _timer_rules(lot).on_deadline(self, lot)
            finally:
                self._in_rule = False
            fired += 1
            new_due = self._deadline(lot)
            if new_due is not None and new_due <= due and (lot.mode, lot.phase) == before:
                raise RuntimeError(f"rule for lot {lot_id} did not move its deadline past {due}")
            self._arm_at(lot, new_due)
        return fired

    # -- commands ---------------------------------------------------------------------------------

    def submit(self, cmd: Command) -> Result:
        """Handle one command at the clock's current time; its entry is written either way."""
        now = self._entry_time(self.clock.now())
        if self._heap and self._heap[0][0] <= now:  # deadlines due by now fire before the command
            self.fire_due(now)
        cmd, op = checked_command(cmd)
        seq = self.recorder.size
        sealed = SEALED_FIELDS.get(op)
        if sealed is not None:
            cmd = self._sealed.record(cmd, op, sealed, seq, replaying=self._expect is not None)
        else:
            self._sealed.without()
        self._t = now
        self._current, self._accepted = cmd, False
        self._in_rule = True
        try:
            lot = self.market.handle(self, cmd)
        except Rejected as rej:
            self._in_rule = False
            if self._accepted:
                raise RuntimeError(f"rule rejected {op} after accepting it: {rej}") from rej
            secret = () if rej.disclose else SECRET_FIELDS.get(op, ())
            if not rej.disclose and op not in OPERATOR_OPS:
                private = self._private_fields(cmd)
                if private:
                    secret = tuple(sorted(set(secret).union(private)))
            payload = {k: v for k, v in cmd.items() if k != "op" and k not in secret}
            payload.update(ok=False, reason=rej.code, message=rej.message)
            withheld = [k for k in secret if k in cmd]
            if withheld:
                payload["redacted"] = withheld
            self.withheld = tuple(withheld)
            self._write(op, payload, now)
            self._current = None
            return Result(False, seq, rej.code, rej.message)
        finally:
            self._in_rule = False
        if not self._accepted:
            raise RuntimeError(f"rule for {op} neither accepted nor rejected the command")
        self._current = None
        if lot is not None:
            self._arm(lot)
        return Result(True, seq, rule=self._rule)

    # -- sealed fields (auction_engine/sealing.py) -------------------------------------------------

    @property
    def vault(self) -> Vault:
        """What seals the sealed fields live and opens them in a replay."""
        return self._sealed.vault

    @vault.setter
    def vault(self, vault: Vault) -> None:
        self._sealed.vault = vault

    def unsealed(self, cmd: Command) -> Command:
        """Ctx: the current command with its sealed fields in clear; what a rule reads is revealed later."""
        return self._sealed.unsealed(cmd, self._current)

    def _reveal(self, lot: Lot) -> None:
        """The lot's pricing ends: publish every sealed command a rule read on it (`<op>_reveal` entries)."""
        for seq, op, actor, fields, nonce in self._sealed.read_on(lot.id):
            self.emit(reveal_kind(op), lot=lot.id, bidder=actor, **{reveal_seq_field(op): seq}, **fields, nonce=nonce)

    def _private_fields(self, cmd: Command) -> tuple[str, ...]:
        """The fields a refusal on the command's lot withholds: its mode's `private_fields` while it is priced."""
        lot_id = cmd.get("lot")
        lot = self.market.lots.get(lot_id) if type(lot_id) is str else None
        if lot is None or lot.phase in settlement.PHASES:
            return ()
        return MODES[lot.mode].private_fields

    # -- Ctx: what the rules call -----------------------------------------------------------------

    def accept(self, rule: str, **fields: Any) -> None:
        cmd = self._current
        if cmd is None or self._accepted:
            raise RuntimeError("accept() outside a command, or twice")
        payload = dict(cmd)  # the command without its op, in its own order
        del payload["op"]
        payload["ok"] = True
        payload["rule"] = rule
        if fields:
            payload["out"] = fields
        self._accepted = True
        self._rule = rule
        self._write(cmd["op"], payload, self._t)

    def emit(self, kind: str, **fields: Any) -> None:
        if not self._accepted:
            raise RuntimeError(f"emit({kind}) before the command was accepted")
        self._write(kind, fields, self._t)

    def is_operator(self, actor: str) -> bool:
        return actor in self.market.operators

    def deal(self, lot: Lot, buyer: str, price: Fen, rule: str, ranking: list[Ranked]) -> None:
        self._reveal(lot)  # the pricing ends here, whichever rule ends it: its sealed fields become public
        settlement.start(self, lot, buyer, price, rule, ranking)

    def no_sale(self, lot: Lot, reason: str) -> None:
        self._reveal(lot)
        settlement.no_sale(self, lot, reason)

    def convert(self, lot: Lot, mode: str, overrides: Mapping[str, Any]) -> None:
        self.market.convert(self, lot, mode, overrides)

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, kind: str, payload: dict[str, Any], t: Ms) -> None:
        lot_id = payload.get("lot")
        if type(lot_id) is str:  # number each lot's entries, so a lot's transcript provably misses none
            lot = self.market.lots.get(lot_id)
            if lot is None:  # no such lot (yet): a rejection naming it, or open_lot's own entry
                n = self._lot_seq.get(lot_id, 0)
                self._lot_seq[lot_id] = n + 1
            else:
                n = lot.entries
                if n is None:  # its first entry since it opened: the count moves from the map to the lot
                    n = self._lot_seq.pop(lot_id, 0)
                lot.entries = n + 1
            payload["lot_seq"] = n
        expected_leaf = self._expect(kind, payload, t) if self._expect is not None else None
        seq, leaf = self.recorder.write(kind, payload, t)
        leaf = leaf or expected_leaf
        self._last_t = t
        if self.keep_events or self.on_event is not None:
            event = Event(seq, t, kind, payload)
            if self.keep_events:
                self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)
        if kind == "deal":
            self._deal_entries[payload["lot"]] = (seq, leaf, t)
        elif kind == "final":  # settled and published: the code and certificate come last (DOMAIN §3.4)
            self._issue_code(payload["lot"], t)

    def _issue_code(self, lot_id: str, t: Ms) -> None:
        """A final deal gets its transaction code, derived from the deal entry's index and leaf hash."""
        seq, leaf, dealt = self._deal_entries[lot_id]
        if leaf is None:
            return  # the ledger is off: there is no leaf hash to bind a code to
        lot = self.market.lots[lot_id]
        date = Calendar(lot.settlement.utc_offset_ms).date(dealt).strftime("%y%m%d")  # the deal's local date
        code = txcode.make_code(self.code_prefix, date, MODE_LETTERS.get(lot.mode, "X"), seq, leaf)
        self.codes[code] = lot_id
        # What a certificate shows besides the deal entry, copied here so that the deal entry and this
        # one entry prove it all (docs/certificates.md §2.3); replay re-derives every byte of it.
        self._write(
            "txcode",
            {
                "lot": lot_id,
                "deal_seq": seq,
                "code": code,
                "market": self.market.name,
                "code_prefix": self.code_prefix,
                "title": lot.title,
                "submarket": lot.submarket,
                "utc_offset_ms": lot.settlement.utc_offset_ms,
            },
            t,
        )

    def expect_entries(self, expect: Callable[[str, dict[str, Any], Ms], bytes | None]) -> None:
        """Replay from here on: compare every entry written with `expect` (auction_engine/replay.py)."""
        self._expect = expect

    def attach(self, clock: Clock, log: Log | None) -> None:
        """After a replay: continue live on `clock`, appending to `log` (which holds the replayed entries)."""
        if log is not None and log.size != self.recorder.size:
            raise RuntimeError(f"log has {log.size} entries but the engine replayed {self.recorder.size}")
        self._expect = None
        self.recorder = Recorder(log)
        self.set_clock(clock)

    def set_clock(self, clock: Clock) -> None:
        """Run on `clock` from now on: it wakes the engine at the earliest pending deadline."""
        self.clock = clock
        self._wakes = []
        if self._heap:
            self._ensure_wake(self._heap[0][0])

    # -- state (a snapshot's, auction_engine/snapshot.py) ------------------------------------------

    def state(self) -> dict[str, Any]:
        """What the engine carries from one entry to the next, as plain data (the market's state, the
        timers, the codes and the sealed commands read): equal for the live engine and for a replay of
        the same entries, so a snapshot of it can be checked against the ledger.

        The timers are each lot's armed deadline, in the order they fire: the heap also holds entries
        left by deadlines that moved, which fire nothing, and which a live engine pops at other moments
        than a replay does; what fires, and in which order, is the armed entries'.
        """
        market, lots = self.market, in_memory(self.market.lots)
        armed: dict[str, tuple[Ms, int]] = {}
        for due, n, lot_id in self._heap:
            lot = lots.get(lot_id)
            if lot is not None and lot.armed == due and n < armed.get(lot_id, (due, n + 1))[1]:
                armed[lot_id] = (due, n)
        timers = [(due, lot_id) for lot_id, (due, _) in sorted(armed.items(), key=lambda item: item[1])]
        return {
            "market": {
                "name": market.name,
                "origin": market.origin,
                "params": market.params,
                "operators": market.operators,
                "submarkets": market.submarkets,
                "lots": lots,
                "keys": market.keys,
            },
            "last_t": self._last_t,
            "code_prefix": self.code_prefix,
            "timers": timers,
            "deal_entries": self._deal_entries,
            "codes": self.codes,
            "lot_seq": self._lot_seq,
            "sealed_read": self._sealed.state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], size: int, *, log: Log | None, clock: Clock, vault: Vault) -> Engine:
        """An engine that continues from `state()` taken after `size` entries (appending to `log`, if given)."""
        m = state["market"]
        engine = cls.__new__(cls)
        engine.recorder = Recorder(log)
        engine.recorder.size = size
        market = Market.__new__(Market)
        market.name, market.origin, market.params = m["name"], m["origin"], m["params"]
        market.operators, market.submarkets, market.lots, market.keys = (
            m["operators"],
            m["submarkets"],
            m["lots"],
            m["keys"],
        )
        engine.market = market
        engine.keep_events, engine.events, engine.on_event = False, [], None
        engine._heap = [(due, n, lot_id) for n, (due, lot_id) in enumerate(state["timers"], 1)]  # sorted: a heap
        engine._n = len(engine._heap)
        engine._wakes = []
        engine._last_t = state["last_t"]
        engine._current, engine._accepted, engine._t, engine._in_rule, engine._rule = None, False, 0, False, None
        engine._expect = None
        engine.code_prefix = state["code_prefix"]
        engine._deal_entries, engine.codes, engine._lot_seq = state["deal_entries"], state["codes"], state["lot_seq"]
        engine._sealed = SealedCommands(vault)
        engine._sealed.restore(state["sealed_read"])
        engine.withheld = ()
        engine.set_clock(clock)
        return engine

    # -- reading ---------------------------------------------------------------------------------

    @property
    def lots(self) -> MutableMapping[str, Lot]:
        return self.market.lots

    def lot(self, lot_id: str) -> Lot:
        """The lot, for reading (a closed lot the live server keeps in its store stays there: `LotTable.peek`)."""
        lots = self.market.lots
        lot = lots.peek(lot_id) if type(lots) is LotTable else lots.get(lot_id)
        if lot is None:
            raise KeyError(lot_id)
        return lot

    def outcomes(self) -> Iterator[Event]:
        """The entries that end a lot's pricing or settlement (deal, no_sale, settled, default)."""
        return (e for e in self.events if e.kind in ("deal", "no_sale", "settled", "default"))

    def view(self, lot_id: str, viewer: str | None = None) -> dict[str, Any]:
        return self.market.view(self.lot(lot_id), viewer, self.now)
