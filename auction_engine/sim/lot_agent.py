"""A lot's agent: what every mode's agent shares (opening the lot, admitting bidders, settlement
behaviour, reacting to the lot's entries) and the `LotRecord` it keeps for the metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import Event
from ..model import Command
from ..rules import MODES
from ..rules.base import required_deposit
from .mechanism import LotTerms, to_fen
from .strategies import BidContext, Strategy

if TYPE_CHECKING:
    from .agents import Market

OPERATOR = "operator"
_BID_KINDS = frozenset({"bid", "proxy", "commit", "accept", "offer"})
_PRICE_KINDS = frozenset({"bid", "auto_bid", "opening_bid"})


@dataclass
class LotRecord:
    """What happened to one lot, in engine units (fen, ms) plus the bidders' values (value units)."""

    lot: str
    option: int
    mode: str  # the mode the seller chose
    submarket: str
    scale: float  # lot scale (value units per normalised unit)
    unit: float  # fen per normalised unit
    n: int
    values: np.ndarray  # true values (normalised)
    seller_value: float
    opening_price: int = 0  # fen: starting / minimum / list / agreed price as opened
    premium_base: int = 0  # fen: the opening price the seller set (0: the simulator filled it in; mechanism.py)
    arrived: int = 0
    opened: int | None = None
    outcome: str | None = None  # deal, no_sale, failed (negotiation), open (unfinished)
    reason: str | None = None
    buyer: int | None = None  # bidder index of the (last) deal
    price: int = 0  # fen, the (last) deal's price
    deal_t: int | None = None  # the first deal's time
    settled: bool = False
    final_mode: str = ""
    bids: int = 0
    extensions: int = 0
    forfeited: int = 0  # fen
    defaults: int = 0
    close_t: int | None = None
    path: list[tuple[int, int]] = field(default_factory=list)  # (t, price) of price changes (detail runs)
    bid_times: list[int] = field(default_factory=list)  # times of bidder actions (detail runs)
    bid_pairs: list[tuple[float, int]] = field(default_factory=list)  # (value, amount in fen): sealed/Dutch (detail)
    seller_rule: str | None = None  # the seller rule's label, as written in the lot's open_lot entry (seller.py)


def random_bytes(rng: np.random.Generator, length: int) -> bytes:
    """`rng.bytes(length)`: the same bytes and the same generator state after, drawn as whole 64-bit words.

    `Generator.bytes` draws ⌈length/4⌉ 32-bit words, and a PCG64 word pair is one 64-bit output,
    low half first; with no half-word buffered and length a multiple of 8 that is exactly
    `random_raw(length // 8)` in little-endian order (checked by a test against `rng.bytes`).
    """
    bits = rng.bit_generator
    if length % 8 or type(bits) is not np.random.PCG64 or bits.state["has_uint32"]:
        return rng.bytes(length)
    return bits.random_raw(length // 8).astype("<u8").tobytes()


def grid_floor(amount: int, start: int, inc: int) -> int:
    """The largest amount start + k·inc ≤ amount (k ≥ 0), or start − inc if none."""
    if amount < start:
        return start - inc
    return start + (amount - start) // inc * inc


class LotAgent:
    """One lot: opening, admissions, settlement behaviour and bookkeeping common to every mode."""

    def __init__(self, market: Market, i: int, option: dict[str, Any], terms: LotTerms, record: LotRecord) -> None:
        self.m = market
        self.i = i
        self.option = option
        self.terms = terms
        self.rec = record
        self.id = record.lot
        self.n = record.n
        pop = market.pop
        self.values: list[float] = pop.values[i, : self.n].tolist()  # what each bidder knows (normalised)
        mix, fixed = market.mix(record.option, option)
        self.strategies: list[Strategy]
        if len(mix) == 1 and not fixed:
            self.strategies = [mix[0][1]] * self.n
        else:
            self.strategies = []
            shares = pop.u_strategy[i, : self.n].tolist()
            for j in range(self.n):
                chosen = fixed.get(j)
                if chosen is None:
                    chosen = mix[-1][1]
                    for cum, strat in mix:
                        if shares[j] < cum:
                            chosen = strat
                            break
                self.strategies.append(chosen)
        self.u_arrive: list[float] = pop.u_arrive[i, : self.n].tolist()
        self.u_b = pop.u_behaviour[i]
        self.admitted: set[int] = set()
        self.deposit = 0
        self.ended = False
        self.handlers: dict[str, Callable[[Event], None]] = {}
        self._lot: Any = None

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def lot(self) -> Any:
        """The lot as the rules hold it (read-only for agents; the same object from its opening on)."""
        lot = self._lot
        if lot is None:
            lot = self._lot = self.m.engine.lot(self.id)
        return lot

    def ctx(self, j: int, mode: str, price_rule: str = "first") -> BidContext:
        return BidContext(
            mode=mode,
            n=self.n,
            dist=self.m.bidder_dist,
            reserve=self.terms.reserve,
            floor=self.terms.floor,
            price_rule=price_rule,
            rng=self.m.rng,
        )

    def fen(self, x: float) -> int:
        return to_fen(x, self.terms.unit)

    def open(self, extra: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> bool:
        cmd: Command = {
            "op": "open_lot",
            "actor": OPERATOR,
            "lot": self.id,
            "mode": self.option["mode"],
            "seller": f"seller{self.i}",
            "params": params if params is not None else self.terms.params,
            "appraisal": max(1, round(float(self.m.pop.appraisal[self.i]) * self.terms.unit)),
            "mechanism": self.m.mechanism["name"],
        }
        if self.rec.seller_rule is not None:
            cmd["seller_rule"] = self.rec.seller_rule
        if self.rec.submarket != "main":
            cmd["submarket"] = self.rec.submarket
        if extra:
            cmd.update(extra)
        result = self.m.engine.submit(cmd)
        if not result.ok:
            raise RuntimeError(f"the engine refused to open lot {self.id}: {result.code}: {result.message}")
        lot = self.lot
        self.rec.opened = self.m.now
        self.rec.opening_price = MODES[lot.mode].opening_price(lot.params)
        key = self.terms.premium_key
        self.rec.premium_base = (getattr(lot.params, key, None) or 0) if key is not None else 0
        self.deposit = required_deposit(lot, self.rec.opening_price)
        return True

    def admit(self, j: int, basis: int | None = None) -> None:
        """The operator records bidder j's deposit (its admission), with the bidder's strategy label."""
        if j in self.admitted:
            return
        amount = self.deposit if basis is None else required_deposit(self.lot, basis)
        self.m.submit(
            {
                "op": "deposit",
                "actor": OPERATOR,
                "lot": self.id,
                "party": f"b{j}",
                "amount": amount,
                "strategy": self.strategies[j].label,
            }
        )
        self.admitted.add(j)

    def admit_all(self, bidders: list[int], basis: int | None = None) -> None:
        """The operator records the deposits of `bidders` not yet admitted in one entry (the batch `deposit`).

        As bidders register and pay before an auction starts, this admits everyone who will take part
        when the lot opens: one ledger entry per lot, each party with its strategy label.
        """
        new = [j for j in bidders if j not in self.admitted]
        if not new:
            return
        amount = self.deposit if basis is None else required_deposit(self.lot, basis)
        strategies = self.strategies
        self.m.submit(
            {
                "op": "deposit",
                "actor": OPERATOR,
                "lot": self.id,
                "parties": [{"party": f"b{j}", "amount": amount, "strategy": strategies[j].label} for j in new],
            }
        )
        self.admitted.update(new)

    def arrival(self, j: int, start: int, window: int) -> int:
        """Bidder j's arrival time in a window of `window` ms from `start` (strictly inside it)."""
        return start + int(float(self.u_arrive[j]) * max(window - 1, 0))

    def bidder_action(self, t: int) -> None:
        self.rec.bids += 1
        if self.m.detail:
            self.rec.bid_times.append(t)

    # -- events -------------------------------------------------------------------------------------

    def on_event(self, e: Event) -> None:
        kind = e.kind
        handler = self.handlers.get(kind)
        if handler is not None:
            handler(e)
        if kind in _PRICE_KINDS and self.m.detail and (kind != "bid" or e.data.get("ok")):
            self.rec.path.append((e.t, int(e.data["amount"])))
        if kind in _BID_KINDS:
            if e.data.get("ok"):
                self.bidder_action(e.t)
        else:
            react = _REACTIONS.get(kind)
            if react is not None:
                react(self, e)

    def _close(self, e: Event) -> None:
        self.rec.close_t = e.t
        ext = e.data.get("extensions")
        if type(ext) is int:
            self.rec.extensions += ext

    def _forfeit(self, e: Event) -> None:
        self.rec.forfeited += int(e.data["amount"])

    def _default(self, e: Event) -> None:
        self.rec.defaults += 1

    def _settled(self, e: Event) -> None:
        self.rec.settled = True

    def _final(self, e: Event) -> None:
        if self.m.settle:
            self._end()

    def _converted(self, e: Event) -> None:
        self.rec.final_mode = str(e.data["to"])

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.m.finished(self)

    def _deal(self, e: Event) -> None:
        if self.ended and not self.m.settle:
            return
        d = e.data
        self.rec.outcome = "deal"
        self.rec.price = int(d["price"])
        self.rec.buyer = int(str(d["buyer"])[1:]) if str(d["buyer"]).startswith("b") else None
        if self.rec.deal_t is None:
            self.rec.deal_t = e.t
        if self.m.detail and d.get("rule") != "english.highest":
            self.rec.path.append((e.t, int(d["price"])))
        if not self.m.settle:
            self._end()
            return
        self._maybe_pay(e, first=d.get("rule") != "settlement.second_chance")

    def _no_sale(self, e: Event) -> None:
        if self.ended and not self.m.settle:
            return  # pricing only: the deal stands in the metrics whatever its settlement deadlines record later
        self.rec.outcome = "no_sale"
        self.rec.reason = str(e.data.get("reason"))
        if self.rec.deal_t is not None:
            self.rec.price = 0
        self._end()

    # -- settlement behaviour -----------------------------------------------------------------------

    def _maybe_pay(self, e: Event, first: bool) -> None:
        s = self.m.data["settlement"]
        d = e.data
        pays = (float(self.u_b[0]) < float(s["pay_probability"])) if first else True
        if not pays:
            return  # the buyer defaults: the payment deadline will fire
        lo, hi = s["pay_delay_working_days"]
        days = int(lo + math.floor(float(self.u_b[1]) * (hi - lo + 1)))
        lot = self.lot
        t_pay = lot.settlement.calendar().add_working_days(e.t, days) if days else e.t
        t_pay = min(t_pay, int(d["due"]) - 1)
        cash = int(d["cash"])
        buyer = str(d["buyer"])
        needs_confirm = lot.settlement.require_confirmation

        def pay() -> None:
            if self.lot.phase != "awaiting_payment":
                return
            if needs_confirm:
                self.m.submit({"op": "confirm", "actor": buyer, "lot": self.id})
            if cash > 0:
                self.m.submit({"op": "pay", "actor": OPERATOR, "lot": self.id, "amount": cash})

        if cash > 0 or needs_confirm:
            self.m.at(max(t_pay, e.t), pay)

    def _second_chance(self, e: Event) -> None:
        s = self.m.data["settlement"]
        party = str(e.data["party"])
        if float(self.u_b[2]) < float(s["second_chance_accept"]):
            self.m.at(e.t + 3_600_000, lambda: self._accept_offer(party))

    def _accept_offer(self, party: str) -> None:
        if self.lot.phase == "second_chance":
            self.m.submit({"op": "accept_offer", "actor": party, "lot": self.id})

    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# What every lot agent does on the entries of its lot that are not bidders' actions, by kind (after
# the mode's own `handlers`).
_REACTIONS: dict[str, Callable[[LotAgent, Event], None]] = {
    "deal": LotAgent._deal,
    "no_sale": LotAgent._no_sale,
    "close": LotAgent._close,
    "forfeit": LotAgent._forfeit,
    "default": LotAgent._default,
    "settled": LotAgent._settled,
    "final": LotAgent._final,
    "second_chance_offer": LotAgent._second_chance,
    "convert": LotAgent._converted,
}
