"""Agents: the bidders, sellers and operator of one simulated market, as scheduled decisions.

Why: the simulator must drive the real engine — the same rules, the same ledger — exactly as a
live market would, so agents only ever *submit commands* to an `Engine` on simulated time and learn
what happened from the engine's entries (its `on_event` hook) and from what the rules publish
(`engine.lot(id).state`, the same facts the public view shows). They never touch rule state.

Each decision is a callback on a simpy timeout, scheduled through the run's `Agenda` (agenda.py) —
simulated time in integer ms, which is also the engine's clock: entries run in order of time, then
of scheduling. A lot's agent (`LotAgent` in lot_agent.py, a subclass per pricing mode in
mode_agents.py) opens the lot, admits bidders (the operator's `deposit`, each party carrying the
bidder's strategy label: that is how strategies reach the ledger; English, Dutch and sealed lots
admit every bidder who will take part in one batch entry as they open, listing and agreement lots
each buyer as it registers or offers), schedules each bidder's first action at its arrival time in
the lot's bidding window, reacts to the lot's entries (outbids, phase changes, conversions,
re-lists, deals), and keeps a `LotRecord` for the metrics. Amounts are decided in value units by
the strategies and converted to integer fen there (rounded down onto the bid grid where the rules
have one).

Reading guide: `Market` (here: one run, its engine, clock, lots and stop condition) → `LotAgent`
(common admission, settlement and bookkeeping) → `EnglishLot`, `DutchLot`, `SealedLot`,
`ListingLot`, `AgreementLot`; `EnglishBidding` is the English behaviour shared by English lots and
by listing and agreement lots that convert to an auction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import Engine, Event
from ..model import Command
from .agenda import Agenda, collector_paused
from .lot_agent import OPERATOR, LotAgent, LotRecord
from .mechanism import LotTerms, lot_terms, market_params
from .mode_agents import LOT_AGENTS
from .seller import NOISE_COLUMNS, Clause, choose, compile_mode_rule, label, noise_factor
from .strategies import Strategy, make_strategy
from .values import Dist, Point, Population, make_dist

__all__ = ["OPERATOR", "Agenda", "LotRecord", "Market", "collector_paused"]

DAY_MS = 86_400_000


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
        cls = LOT_AGENTS[option["mode"]]
        agent = cls(self, i, option, terms, record)
        self.agents[record.lot] = agent
        agent.start()
