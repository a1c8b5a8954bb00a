"""The agent of a lot of each pricing mode: how its bidders (and its seller and operator) act.

`EnglishBidding` is the English behaviour shared by English lots and by listing and agreement
lots that convert to an auction; `LOT_AGENTS` maps a mode to its agent class.
"""

from __future__ import annotations

import functools
import math

from ..engine import Event
from ..rules.base import Lot
from ..rules.sealed import commitment
from .lot_agent import OPERATOR, LotAgent, grid_floor, random_bytes
from .negotiation import make_negotiation
from .strategies import BidContext, EnglishPlan

# -- English ------------------------------------------------------------------------------------------


class EnglishBidding:
    """Bidders taking part in an English auction on `agent`'s lot, each following its EnglishPlan."""

    def __init__(self, agent: LotAgent) -> None:
        self.a = agent
        self.plans: dict[int, EnglishPlan] = {}
        self.manual: list[int] = []  # bidders who bid by hand (react when outbid)
        self.waiting: set[int] = set()

    def begin(self, bidders: list[int], t0: int, window: int, admit_basis: int | None = None) -> None:
        a = self.a
        p = a.lot.params  # the English lot as it stands (a converted lot starts at its list or agreed price)
        unit = a.terms.unit
        ctx = BidContext(
            mode="english",
            n=a.n,
            dist=a.m.bidder_dist,
            reserve=(p.reserve or 0) / unit,
            floor=p.start_price / unit,
            rng=a.m.rng,
        )
        s = a.lot.state
        nxt = p.start_price if s.high is None else s.high + p.increment
        entrants = []  # bidders who will pay up to the next valid bid at least: admitted now, in one entry
        for j in bidders:
            plan = a.strategies[j].english(float(a.values[j]), ctx)
            if plan is None:
                continue
            self.plans[j] = plan
            if grid_floor(math.floor(plan.cap * unit), p.start_price, p.increment) >= nxt:
                entrants.append(j)
            if plan.kind != "proxy":
                self.manual.append(j)
            t = a.arrival(j, t0, window)
            if plan.timing == "snipe":
                a.m.at(t, functools.partial(self._snipe, j, admit_basis))
            else:
                a.m.at(t, functools.partial(self._act, j, admit_basis))
        a.admit_all(entrants, admit_basis)
        a.handlers["bid"] = a.handlers["auto_bid"] = a.handlers["opening_bid"] = self._on_price

    def _open(self) -> bool:
        lot = self.a.lot
        return lot.mode == "english" and lot.phase in ("free", "timed")

    def _snipe(self, j: int, basis: int | None) -> None:
        if not self._open():
            return
        lead = self.plans[j].lead_ms
        lot = self.a.lot
        deadline = lot.state.deadline
        if lot.phase == "free" and lot.params.countdown_ms > lead:
            self.a.m.at(deadline, functools.partial(self._snipe, j, basis))  # wait for the countdown
            return
        if self.a.m.now < deadline - lead:
            self.a.m.at(deadline - lead, functools.partial(self._snipe, j, basis))
            return
        self._act(j, basis)

    def _act(self, j: int, basis: int | None = None) -> None:
        if not self._open():
            return
        a = self.a
        lot = a.lot
        p, s = lot.params, lot.state
        if s.leader == f"b{j}":
            return
        plan = self.plans[j]
        nxt = p.start_price if s.high is None else s.high + p.increment
        cap = grid_floor(math.floor(plan.cap * a.terms.unit), p.start_price, p.increment)
        if cap < nxt:
            return  # the price has passed what this bidder will pay
        a.admit(j, basis)
        if plan.kind == "proxy":
            a.m.submit({"op": "proxy", "actor": f"b{j}", "lot": a.id, "max": cap})
            return
        if plan.kind == "increment":
            amount = nxt
        elif plan.kind == "jump":
            jump = math.floor(plan.jump * a.terms.unit)
            amount = max(nxt, min(cap, grid_floor((s.high or p.start_price) + jump, p.start_price, p.increment)))
        else:  # zi: uniform on the grid between the next valid bid and the cap
            steps = (cap - nxt) // p.increment
            amount = nxt + int(a.m.rng.integers(0, steps + 1)) * p.increment
        a.m.submit({"op": "bid", "actor": f"b{j}", "lot": a.id, "amount": amount})

    def _on_price(self, e: Event) -> None:
        if not self.manual:
            return
        leader = str(e.data.get("bidder") or e.data.get("actor"))
        if e.kind == "bid" and not e.data.get("ok"):
            return
        for j in self.manual:
            if f"b{j}" == leader or j in self.waiting:
                continue
            self.waiting.add(j)
            delay = int(self.plans[j].delay_ms * (0.5 + float(self.a.m.rng.random())))
            self.a.m.at(e.t + max(1, delay), functools.partial(self._react, j))

    def _react(self, j: int) -> None:
        self.waiting.discard(j)
        self._act(j)


class EnglishLot(LotAgent):
    def start(self) -> None:
        self.open()
        lot = self.lot
        p = lot.params
        window = self.option["arrival_window_ms"] or (p.free_ms if p.free_ms > 0 else max(p.countdown_ms // 2, 1))
        EnglishBidding(self).begin(list(range(self.n)), self.m.now, window)


# -- Dutch --------------------------------------------------------------------------------------------


class DutchLot(LotAgent):
    def start(self) -> None:
        self.open()
        lot = self.lot
        p, s = lot.params, lot.state
        ctx = self.ctx(0, "dutch")
        entrants = []  # bidders who will accept at some price: admitted now, in one entry
        for j in range(self.n):
            price = self.strategies[j].dutch_price(self.values[j], ctx)
            if price is None:
                continue
            limit = math.floor(price * self.terms.unit)
            if limit < p.floor:
                continue
            k = max(0, -(-(p.start_price - limit) // p.step))
            t = min(s.starts_at + k * p.step_ms, s.floor_at)  # from floor_at on the price is the floor
            entrants.append(j)
            self.m.at(t, functools.partial(self._accept, j))
        self.admit_all(entrants)

    def _accept(self, j: int) -> None:
        lot = self.lot
        if lot.phase != "clock":
            return  # somebody accepted first: nothing to do
        self.m.submit({"op": "accept", "actor": f"b{j}", "lot": self.id})
        if self.m.detail and lot.state.price is not None:
            self.rec.bid_pairs.append((float(self.values[j]) * self.rec.scale, int(lot.state.price)))


# -- sealed bids --------------------------------------------------------------------------------------


class SealedLot(LotAgent):
    def start(self) -> None:
        self.open()
        lot = self.lot
        p, s = lot.params, lot.state
        window = self.option["arrival_window_ms"] or p.bid_ms
        ctx = BidContext(
            mode="sealed",
            n=self.n,
            dist=self.m.bidder_dist,
            reserve=max(self.terms.reserve, self.terms.floor),
            floor=self.terms.floor,
            price_rule=p.price_rule,
            rng=self.m.rng,
        )
        nonces = random_bytes(self.m.rng, 16 * self.n)  # each bidder's secret: 16 bytes of the mechanism's stream
        unit, now, reveal_span = self.terms.unit, self.m.now, max(p.reveal_ms - 2, 0)
        entrants = []  # bidders who will bid: admitted now, in one entry
        for j in range(self.n):
            bid = self.strategies[j].sealed_bid(self.values[j], ctx)
            if bid is None:
                continue
            entrants.append(j)
            amount = max(p.min_price, round(bid * unit))
            nonce = nonces[16 * j : 16 * j + 16]
            t = min(self.arrival(j, now, window), s.commit_end - 1)
            self.m.at(t, functools.partial(self._commit, j, amount, nonce))
            t_reveal = s.commit_end + 1 + int(self.u_arrive[j] * reveal_span)
            self.m.at(t_reveal, functools.partial(self._reveal, j, amount, nonce))
        self.admit_all(entrants)

    def _commit(self, j: int, amount: int, nonce: bytes) -> None:
        self.m.submit(
            {"op": "commit", "actor": f"b{j}", "lot": self.id, "hash": commitment(self.id, f"b{j}", amount, nonce)}
        )

    def _reveal(self, j: int, amount: int, nonce: bytes) -> None:
        if self.lot.phase == "reveal":
            self.m.submit({"op": "reveal", "actor": f"b{j}", "lot": self.id, "amount": amount, "nonce": nonce})
            if self.m.detail:
                self.rec.bid_pairs.append((float(self.values[j]) * self.rec.scale, amount))


class ConvertingLot(LotAgent):
    """A lot whose mode may convert to an English auction (listing, agreement): on its `convert` entry the
    lot's bidders start bidding as in an English lot, over the auction's free bidding (or half a countdown)."""

    def _convert(self, e: Event) -> None:
        self.rec.final_mode = "english"
        self.m.at(e.t, self._auction)  # the entry is written before the lot switches: act once it has

    def _auction(self) -> None:
        lot = self.lot
        p = lot.params
        window = self.option["arrival_window_ms"] or (p.free_ms if p.free_ms > 0 else max(p.countdown_ms // 2, 1))
        bidders, admit_basis = self.auction_bidders(lot)
        EnglishBidding(self).begin(bidders, self.m.now, window, admit_basis=admit_basis)

    def auction_bidders(self, lot: Lot) -> tuple[list[int], int | None]:  # pragma: no cover - abstract
        """Who bids in the auction, and the opening price their deposit is computed on (None: already admitted)."""
        raise NotImplementedError


# -- listing ------------------------------------------------------------------------------------------


class ListingLot(ConvertingLot):
    def start(self) -> None:
        self.open()
        self.registered: list[int] = []
        self.handlers["relist"] = self._relist
        self.handlers["relist_needs_approval"] = self._needs_approval
        self.handlers["convert"] = self._convert
        self._round(self.m.now)

    def _round(self, t0: int) -> None:
        lot = self.lot
        window = self.option["arrival_window_ms"] or max(lot.state.end - t0, 1)
        for j in range(self.n):
            if j not in self.registered:
                self.m.at(self.arrival(j, t0, window), functools.partial(self._consider, j, lot.state.round))

    def _consider(self, j: int, round_: int) -> None:
        lot = self.lot
        if lot.mode != "listing" or lot.phase != "listing" or lot.state.round != round_ or j in self.registered:
            return
        price = lot.state.price / self.terms.unit
        ctx = self.ctx(j, "listing")
        if not self.strategies[j].registers(float(self.values[j]), price, ctx):
            return
        self.m.submit({"op": "register", "actor": f"b{j}", "lot": self.id})
        self.registered.append(j)
        self.admit(j, basis=lot.state.price)

    def _relist(self, e: Event) -> None:
        self.m.at(e.t, lambda: self._round(e.t))

    def _needs_approval(self, e: Event) -> None:
        approve = float(self.u_b[6]) < float(self.m.data["behaviour"]["relist_approval"])
        delay = int(self.m.data["behaviour"]["operator_delay_ms"])

        def decide() -> None:
            if self.lot.phase == "awaiting_approval":
                self.m.submit({"op": "approve_relist", "actor": OPERATOR, "lot": self.id, "approved": approve})

        self.m.at(e.t + delay, decide)

    def auction_bidders(self, lot: Lot) -> tuple[list[int], int | None]:
        """The registered buyers who paid their deposit: the operator admitted them while the lot was listed."""
        return [j for j in self.registered if f"b{j}" in lot.deposits], None


# -- agreement pricing --------------------------------------------------------------------------------


class AgreementLot(ConvertingLot):
    def start(self) -> None:
        neg = self.option["negotiation"]
        model = make_negotiation(neg)
        if self.n == 0:
            self._failed("no_counterpart")
            return
        j = 0 if neg["counterpart"] == "first" else max(range(self.n), key=self.values.__getitem__)
        dist = self.m.bidder_dist
        lo, hi = dist.lo, dist.top
        seller = float(self.m.pop.seller[self.i])
        outcome = model.negotiate(float(self.values[j]), seller, lo, hi)
        if not outcome.agreed:
            self._failed("negotiation_failed")
            return
        self.buyer = j
        self.model = model
        delay = int(neg["duration_ms"]) * max(outcome.rounds, 1)
        self.m.at(self.m.now + delay, functools.partial(self._open_notice, outcome.price))

    def _failed(self, reason: str) -> None:
        self.rec.outcome = "failed"
        self.rec.reason = reason
        self._end()

    def _open_notice(self, price: float) -> None:
        params = {**self.terms.params, "price": self.fen(price), "buyer": f"b{self.buyer}"}
        self.open(extra={"negotiation": self.model.label}, params=params)
        self.handlers["convert"] = self._convert
        lot = self.lot
        s = lot.state
        window = max(s.notice_end - self.m.now, 1)
        b = self.m.data["behaviour"]
        if float(self.u_b[3]) < float(b["objection_probability"]):
            t = self.m.now + int(float(self.u_b[4]) * (window - 1))
            self.m.at(t, self._object)
        if lot.params.competing_offers:
            least = lot.params.min_offer()
            for j in range(self.n):
                if j == self.buyer:
                    continue
                ctx = self.ctx(j, "agreement")
                if self.strategies[j].registers(float(self.values[j]), least / self.terms.unit, ctx):
                    self.m.at(self.arrival(j, self.m.now, window), functools.partial(self._offer, j))

    def _object(self) -> None:
        lot = self.lot
        if lot.mode != "agreement" or lot.phase != "notice":
            return
        if not self.m.submit({"op": "object", "actor": "public", "lot": self.id, "grounds": "simulated objection"}):
            return
        index = len(lot.state.objections) - 1
        b = self.m.data["behaviour"]
        upheld = float(self.u_b[5]) < float(b["objection_upheld"])

        def resolve() -> None:
            cur = self.lot
            if cur.mode == "agreement" and cur.state.objections[index].status == "pending":
                self.m.submit(
                    {"op": "resolve_objection", "actor": OPERATOR, "lot": self.id, "objection": index, "upheld": upheld}
                )

        self.m.at(self.m.now + int(b["operator_delay_ms"]), resolve)

    def _offer(self, j: int) -> None:
        lot = self.lot
        if lot.mode != "agreement" or lot.phase != "notice":
            return
        self.admit(j, basis=lot.params.price)
        self.m.submit({"op": "offer", "actor": f"b{j}", "lot": self.id, "amount": lot.params.min_offer()})

    def auction_bidders(self, lot: Lot) -> tuple[list[int], int | None]:
        """Every bidder, each admitted with the auction's deposit as it first bids."""
        return list(range(self.n)), lot.params.start_price


LOT_AGENTS: dict[str, type[LotAgent]] = {
    "english": EnglishLot,
    "dutch": DutchLot,
    "sealed": SealedLot,
    "listing": ListingLot,
    "agreement": AgreementLot,
}
