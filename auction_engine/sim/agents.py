"""Agents: the bidders, sellers and operator of one simulated market, as scheduled decisions.

Why: the simulator must drive the real engine — the same rules, the same ledger — exactly as a
live market would, so agents only ever *submit commands* to an `Engine` on simulated time and learn
what happened from the engine's entries (its `on_event` hook) and from what the rules publish
(`engine.lot(id).state`, the same facts the public view shows). They never touch rule state.

Each decision is a callback on a simpy timeout, scheduled through the run's `Agenda` — simulated
time in integer ms, which is also the engine's clock: entries run in order of time, then of
scheduling (a callback per timeout costs less than a generator process per bidder).
A lot's agent (`LotAgent` and a subclass per pricing mode) opens the lot, admits bidders (the
operator's `deposit`, each party carrying the bidder's strategy label: that is how strategies
reach the ledger; English, Dutch and sealed lots admit every bidder who will take part in one
batch entry as they open, listing and agreement lots each buyer as it registers or offers),
schedules each bidder's first action at its arrival time in the lot's bidding window, reacts to
the lot's entries (outbids, phase changes, conversions, re-lists, deals), and keeps a
`LotRecord` for the metrics. Amounts are decided in value units by the strategies and converted
to integer fen here (rounded down onto the bid grid where the rules have one).

Reading guide: `Market` (one run: engine, clock, lots, stop condition) → `LotAgent` (common
admission, settlement and bookkeeping) → `EnglishLot`, `DutchLot`, `SealedLot`, `ListingLot`,
`AgreementLot`; `EnglishBidding` is the English behaviour shared by English lots and by listing
and agreement lots that convert to an auction.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from ..engine import Engine, Event
from ..model import Command
from ..rules import MODES
from ..rules.base import required_deposit
from ..rules.sealed import commitment
from .mechanism import LotTerms, lot_terms, market_params, to_fen
from .negotiation import make_negotiation
from .seller import NOISE_COLUMNS, Clause, choose, compile_mode_rule, label, noise_factor
from .strategies import BidContext, EnglishPlan, Strategy, make_strategy
from .values import Dist, Point, Population, make_dist

__all__ = ["OPERATOR", "Agenda", "LotRecord", "Market", "collector_paused"]

OPERATOR = "operator"
DAY_MS = 86_400_000
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


class Agenda:
    """Simulated time for one run, on simpy: the agents' decisions and the engine's wake-ups.

    It is the engine's clock (`now`, `call_at`: the `Clock` protocol, like `clock.SimClock`) and the
    agents' scheduler. Each entry is a callback on a simpy timeout, so entries run in order of time,
    then of scheduling, and a run is deterministic. `t` is the current time (int ms). An entry pushed
    with an `engine` first fires that engine's rule deadlines due by then (see `Market.at`).
    """

    __slots__ = ("env", "stopped")

    def __init__(self, start: int) -> None:
        self.env: simpy.Environment | None = simpy.Environment(initial_time=start)
        self.stopped = False  # set by a callback: `run` returns after it

    @property
    def t(self) -> int:
        return self.env.now  # type: ignore[union-attr]

    def now(self) -> int:
        return self.env.now  # type: ignore[union-attr]

    def call_at(self, t: int, callback: Callable[[], None]) -> None:
        """Call back at t (now if t is past): the engine's wake-ups."""
        self.push(t, callback)

    def push(self, t: int, callback: Callable[[], None], engine: Engine | None = None) -> None:
        """Call back at t (now if t is past), after `engine`'s deadlines due by then when it is given."""
        env = self.env
        now = env.now  # type: ignore[union-attr]
        event = env.timeout(t - now if t > now else 0)  # type: ignore[union-attr]
        if engine is None:
            event.callbacks.append(lambda _event: callback())
        else:
            event.callbacks.append(lambda _event: (engine.fire_due(self.env.now), callback()))  # type: ignore[union-attr]

    def run(self) -> None:
        """Run entries in order until one sets `stopped` (the schedule must not run dry first)."""
        step = self.env.step  # type: ignore[union-attr]
        while not self.stopped:
            step()

    def close(self) -> None:
        """Drop the schedule (and with it the reference cycles of its pending callbacks)."""
        self.env = None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector meanwhile (restored after, even on an error; nestable).

    A run allocates mostly objects that live to its end (ledger rows, tree hashes, lots, records)
    or die by reference counting, so the collector's repeated passes over them find nothing; they
    cost 5–8% of a run's CPU time. `Market.close` breaks the run's reference cycles, so that what
    is left is freed by reference counting, not by a later collection.
    """
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _random_bytes(rng: np.random.Generator, length: int) -> bytes:
    """`rng.bytes(length)`, the same bytes and the same state after, at a tenth of its cost.

    `Generator.bytes` draws ⌈length/4⌉ 32-bit words, and a PCG64 word pair is one 64-bit output,
    low half first; with no half-word buffered and length a multiple of 8 that is exactly
    `random_raw(length // 8)` in little-endian order (checked by a test against `rng.bytes`).
    """
    bits = rng.bit_generator
    if length % 8 or type(bits) is not np.random.PCG64 or bits.state["has_uint32"]:
        return rng.bytes(length)
    return bits.random_raw(length // 8).astype("<u8").tobytes()


def _grid_floor(amount: int, start: int, inc: int) -> int:
    """The largest amount start + k·inc ≤ amount (k ≥ 0), or start − inc if none."""
    if amount < start:
        return start - inc
    return start + (amount - start) // inc * inc


class Market:
    """One run of one mechanism: an engine on a simulated clock, its lots and their agents."""

    def __init__(
        self,
        data: dict[str, Any],
        mechanism: dict[str, Any],
        pop: Population,
        rng: np.random.Generator,
        log: Any,
        detail: bool = False,
    ) -> None:
        self.data = data
        self.mechanism = mechanism
        self.pop = pop
        self.rng = rng
        self.detail = detail
        self.scale = float(data["scenario"]["scale"])
        self.clock = Agenda(int(data["scenario"]["start"]))
        self.agents: dict[str, LotAgent] = {}
        self.records: list[LotRecord] = []
        self.settle = data["settlement"]["mode"] == "pay"
        self.bidder_dist = make_dist(data["values"]["bidder"])
        self._scale_dists: dict[int, Dist] = {}
        self._mixes: dict[int, tuple[list[tuple[float, Strategy]], dict[int, Strategy]]] = {}
        self._terms: dict[tuple[Any, ...], LotTerms] = {}
        self._labels: dict[tuple[int, str | None], str] = {}
        policy = mechanism.get("seller")
        self.policy: dict[str, Any] | None = policy
        self.clauses: list[Clause] | None = (
            compile_mode_rule(policy["mode"], mechanism["options"]) if policy and policy.get("mode") else None
        )
        self.pending = pop.lots
        self.done = False  # every lot finished (the run then stops once the instant's earlier entries ran)
        self._ending = False  # the end is scheduled: every lot finished, or the horizon came
        self.engine = Engine(
            market=data["scenario"]["market"],
            clock=self.clock,
            log=log,
            params=market_params(data),
            keep_events=False,
            on_event=self._on_event,
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def at(self, t: int, fn: Callable[[], None]) -> None:
        """Call fn at simulated time t (now if t is past), after every rule deadline due by then has fired.

        Firing due deadlines first (`Engine.fire_due`, as `submit` itself does) means an agent reads
        the lot's state as it stands at that instant, whatever order same-time callbacks run in.
        """
        self.clock.push(int(t), fn, self.engine)

    @property
    def now(self) -> int:
        return self.clock.t

    def submit(self, cmd: Command) -> bool:
        return self.engine.submit(cmd).ok

    def _on_event(self, event: Event) -> None:
        lot = event.data.get("lot")
        if lot is not None:
            agent = self.agents.get(lot)
            if agent is not None:
                agent.on_event(event)

    def finished(self, agent: LotAgent) -> None:
        """A lot reached its end (priced, or settled when settlement is simulated)."""
        self.pending -= 1
        if self.pending == 0 and not self.done:
            self.done = True
            self.clock.push(self.now, self._end_due)

    def _end_due(self) -> None:
        """Every lot finished, or the horizon came: stop after the entries already due at this instant.

        Two steps, as simpy's `run(until=any_of([done, horizon]))` takes them (the ending event, then
        the condition's own), so the entries that run before the stop are the same.
        """
        if not self._ending:
            self._ending = True
            self.clock.push(self.now, self._stop)

    def _stop(self) -> None:
        self.clock.stopped = True

    # -- strategies and terms -----------------------------------------------------------------------

    def mix(
        self, option_index: int, option: dict[str, Any]
    ) -> tuple[list[tuple[float, Strategy]], dict[int, Strategy]]:
        """The option's strategy mix: (cumulative share, strategy) pairs, and strategies fixed to bidder indices."""
        hit = self._mixes.get(option_index)
        if hit is None:
            specs = option.get("strategy") or self.data["strategy"]
            cum, shares, fixed = 0.0, [], {}
            for spec in specs:
                strat = make_strategy(spec)
                for j in spec.get("bidders") or ():
                    fixed[int(j)] = strat
                if not spec.get("bidders"):
                    cum += float(spec["share"])
                    shares.append((cum, strat))
            hit = (shares, fixed)
            self._mixes[option_index] = hit
        return hit

    def terms(
        self,
        index: int,
        option: dict[str, Any],
        lot_scale: float,
        seller: float,
        appraisal: float,
        n_hint: int,
        u_noise: np.ndarray | None = None,
    ) -> LotTerms:
        rules = option["seller"]
        uses_seller = any(r.get("rule") in ("seller_value", "optimal") for r in rules.values())
        uses_appraisal = any(r.get("rule") == "appraisal" for r in rules.values())
        noise = None
        if u_noise is not None and any(r.get("noise") for r in rules.values()):
            noise = {
                k: noise_factor(float(r["noise"]), float(u_noise[NOISE_COLUMNS[k]]))
                for k, r in rules.items()
                if r.get("noise")
            }
        key = (
            index,
            lot_scale,
            seller if uses_seller else None,
            appraisal if uses_appraisal else None,
            n_hint,
            tuple(sorted(noise.items())) if noise else None,
        )
        hit = self._terms.get(key)
        if hit is None:
            hit = lot_terms(
                option,
                self.data,
                lot_scale=lot_scale,
                seller_value=seller,
                appraisal=appraisal,
                n_hint=n_hint,
                noise=noise,
            )
            if len(self._terms) < 10_000:
                self._terms[key] = hit
        return hit

    def lot_scale(self, index: int, option: dict[str, Any], u: float) -> float:
        dist = self._scale_dists.get(index)
        if dist is None:
            dist = make_dist(option["lot_scale"] or self.data["values"]["lot_scale"])
            self._scale_dists[index] = dist
        if isinstance(dist, Point):
            return dist.value
        return float(dist.ppf(np.array([u]))[0])

    # -- the run ------------------------------------------------------------------------------------

    def run(self) -> None:
        """Open the sub-markets, let the lots arrive, and run until every lot is done (or the horizon).

        The cyclic garbage collector is paused meanwhile (`collector_paused`).
        """
        start = int(self.data["scenario"]["start"])
        for sub in self.data["submarkets"]:
            self.submit(
                {
                    "op": "open_submarket",
                    "actor": OPERATOR,
                    "submarket": sub["name"],
                    "name": sub["title"],
                    "params": market_params({"scenario": self.data["scenario"], "market": {"params": sub["params"]}}),
                }
            )
        for i in range(self.pop.lots):
            self.at(start + int(self.pop.arrival[i]), functools.partial(self._arrive, i))
        if self.pending == 0:
            self.done = True
            self.clock.push(self.now, self._end_due)
        self.clock.push(self.now + int(float(self.data["experiment"]["horizon_days"]) * DAY_MS), self._end_due)
        with collector_paused():
            self.clock.run()

    def close(self) -> None:
        """After the run: break its reference cycles (agents, market, engine, agenda), freeing it at once.

        The records stay; the market, its engine and its agents are no longer usable.
        """
        self.engine.on_event = None
        for agent in self.agents.values():
            agent.handlers.clear()
        self.agents.clear()
        self.clock.close()

    def choose_option(self, i: int) -> tuple[int, str | None, float | None]:
        """Lot i's option: (index, what chose it, the lot's scale when a mode rule needed it first).

        A mode rule tests the lot's facts (seller.FIELDS), so the lot's scale — from values.lot_scale,
        options have none then — is drawn first; otherwise the option is drawn by its share.
        """
        options = self.mechanism["options"]
        if self.clauses is not None:
            lot_scale = self.lot_scale(0, options[0], float(self.pop.u_scale[i]))
            fen = max(1, round(float(self.pop.appraisal[i]) * (lot_scale * self.scale)))  # as open_lot records it
            facts = {
                "appraisal": fen / self.scale,
                "appraisal_yuan": fen / 100,
                "seller_value": float(self.pop.seller[i]) * lot_scale,
                "lot_scale": lot_scale,
            }
            index, choice = choose(self.clauses, facts)
            return index, choice, lot_scale
        index = 0
        if len(options) > 1:
            u, cum = float(self.pop.u_option[i]), 0.0
            index = len(options) - 1
            for k, o in enumerate(options):
                cum += float(o["share"])
                if u < cum:
                    index = k
                    break
        return index, ("share" if len(options) > 1 else None), None

    def seller_label(self, index: int, choice: str | None) -> str | None:
        """The `seller_rule` text of a lot's open_lot entry, when the mechanism names a seller rule."""
        if self.policy is None:
            return None
        key = (index, choice)
        hit = self._labels.get(key)
        if hit is None:
            hit = self._labels[key] = label(self.policy, self.mechanism["options"], index, choice)
        return hit

    def _arrive(self, i: int) -> None:
        options = self.mechanism["options"]
        index, choice, ruled_scale = self.choose_option(i)
        option = options[index]
        submarket = option["submarket"]
        if submarket is None:
            submarket, u, cum = "main", float(self.pop.u_submarket[i]), 0.0
            for sub in self.data["submarkets"]:
                cum += float(sub["share"])
                if u < cum:
                    submarket = sub["name"]
                    break
        lot_scale = ruled_scale
        if lot_scale is None:
            lot_scale = self.lot_scale(index, option, float(self.pop.u_scale[i]))
        n_hint = int(self.pop.n_bidders[i])
        terms = self.terms(
            index,
            option,
            lot_scale,
            float(self.pop.seller[i]),
            float(self.pop.appraisal[i]),
            n_hint,
            self.pop.u_seller[i],
        )
        n = int(self.pop.n_bidders[i])
        record = LotRecord(
            lot=f"L{i}",
            option=index,
            mode=option["mode"],
            submarket=submarket,
            scale=lot_scale,
            unit=terms.unit,
            n=n,
            values=self.pop.true_values[i, :n] * lot_scale,
            seller_value=float(self.pop.seller[i]) * lot_scale,
            arrived=self.now,
            final_mode=option["mode"],
            seller_rule=self.seller_label(index, choice),
        )
        self.records.append(record)
        cls = _AGENTS[option["mode"]]
        agent = cls(self, i, option, terms, record)
        self.agents[record.lot] = agent
        agent.start()


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
            if _grid_floor(math.floor(plan.cap * unit), p.start_price, p.increment) >= nxt:
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
        cap = _grid_floor(math.floor(plan.cap * a.terms.unit), p.start_price, p.increment)
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
            amount = max(nxt, min(cap, _grid_floor((s.high or p.start_price) + jump, p.start_price, p.increment)))
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
        nonces = _random_bytes(self.m.rng, 16 * self.n)  # each bidder's secret: 16 bytes of the mechanism's stream
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


# -- listing ------------------------------------------------------------------------------------------


class ListingLot(LotAgent):
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

    def _convert(self, e: Event) -> None:
        self.rec.final_mode = "english"
        self.m.at(e.t, self._auction)  # the entry is written before the lot switches: act once it has

    def _auction(self) -> None:
        lot = self.lot
        p = lot.params
        window = self.option["arrival_window_ms"] or (p.free_ms if p.free_ms > 0 else max(p.countdown_ms // 2, 1))
        qualified = [j for j in self.registered if f"b{j}" in lot.deposits]
        EnglishBidding(self).begin(qualified, self.m.now, window)


# -- agreement pricing --------------------------------------------------------------------------------


class AgreementLot(LotAgent):
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

    def _convert(self, e: Event) -> None:
        self.rec.final_mode = "english"
        self.m.at(e.t, self._auction)  # the entry is written before the lot switches: act once it has

    def _auction(self) -> None:
        lot = self.lot
        p = lot.params
        window = self.option["arrival_window_ms"] or (p.free_ms if p.free_ms > 0 else max(p.countdown_ms // 2, 1))
        EnglishBidding(self).begin(list(range(self.n)), self.m.now, window, admit_basis=p.start_price)


_AGENTS: dict[str, type[LotAgent]] = {
    "english": EnglishLot,
    "dutch": DutchLot,
    "sealed": SealedLot,
    "listing": ListingLot,
    "agreement": AgreementLot,
}
