"""A hypothesis state machine over a whole market: every mode at once, random commands and waits.

Invariants checked after every step: money is conserved to the fen for every lot (deposited =
held + refunded + forfeited + applied); no bid, acceptance or commitment is accepted after its lot
closed; no sealed amount is in the ledger before its reveal window. At the end, the ledger
replays to the same bytes (replay equals live) and passes a full audit.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from auction_engine.model import DAY, HOUR, MINUTE
from auction_engine.rules.sealed import commitment
from ledger import audit_store

from .harness import Harness

PARTIES = ["A", "B", "C", "D"]
MODES: dict[str, dict[str, Any]] = {
    "english": {"start_price": 100_000, "increment": 10_000, "free_ms": 20 * MINUTE, "reserve": 120_000},
    "dutch": {"start_price": 300_000, "step": 20_000, "floor": 100_000, "step_ms": 5 * MINUTE},
    "sealed": {"price_rule": "second", "min_price": 100_000, "bid_ms": HOUR, "reveal_ms": HOUR},
    "listing": {"list_price": 150_000, "listing_working_days": 2, "on_no_buyer": "relist", "max_rounds": 2},
    "agreement": {"price": 200_000, "buyer": "A", "notice_days": 1, "competing_offers": True},
}
NONCE = b"state-machine-nonce-0123"


class Market(RuleBasedStateMachine):
    """Random sessions over lots of every mode sharing one engine and one ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.lots: list[str] = []
        self.sealed_amounts: dict[tuple[str, str], int] = {}

    def pick(self, data: st.DataObject, *modes: str) -> str:
        """A lot currently in one of `modes` (any lot if none is: the command is then refused)."""
        fitting = [lot for lot in self.lots if self.h.engine.lot(lot).mode in modes]
        return data.draw(st.sampled_from(fitting or self.lots))

    # -- commands -------------------------------------------------------------------------------

    @initialize()
    def open_one_lot_of_each_mode(self) -> None:
        for mode in sorted(MODES):
            self.open_lot(mode)
            for party in PARTIES[:3]:  # D never pays a deposit
                self.h.ok("deposit", lot=self.lots[-1], party=party, amount=30_000)

    @precondition(lambda self: len(self.lots) < 8)
    @rule(mode=st.sampled_from(sorted(MODES)))
    def open_lot(self, mode: str) -> None:
        lot = f"{mode[:2].upper()}{len(self.lots)}"
        closable = len(self.lots) % 2 == 1 and mode != "agreement"  # every other lot lets the operator close
        params = {**MODES[mode], "operator_may_close": True} if closable else MODES[mode]
        self.h.ok("open_lot", lot=lot, mode=mode, appraisal=160_000, params=params)
        self.lots.append(lot)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES), amount=st.sampled_from([0, 5_000, 30_000, 30_000]))
    def deposit(self, data: st.DataObject, party: str, amount: int) -> None:
        lot = data.draw(st.sampled_from(self.lots))
        self.h.submit("deposit", lot=lot, party=party, amount=amount)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES), steps=st.integers(0, 6))
    def bid(self, data: st.DataObject, party: str, steps: int) -> None:
        lot = self.pick(data, "english")
        state = self.h.engine.lot(lot).state
        high = getattr(state, "high", None)
        self.h.submit("bid", party, lot=lot, amount=(high or 100_000) + steps * 10_000)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES), cap=st.integers(10, 40))
    def proxy(self, data: st.DataObject, party: str, cap: int) -> None:
        self.h.submit("proxy", party, lot=self.pick(data, "english"), max=cap * 10_000)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES))
    def accept(self, data: st.DataObject, party: str) -> None:
        self.h.submit("accept", party, lot=self.pick(data, "dutch"))

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES), amount=st.integers(9, 30))
    def commit(self, data: st.DataObject, party: str, amount: int) -> None:
        lot = self.pick(data, "sealed")
        value = amount * 10_000 + 7  # unlikely to collide with other numbers in the ledger
        if self.h.submit("commit", party, lot=lot, hash=commitment(lot, party, value, NONCE)).ok:
            self.sealed_amounts[(lot, party)] = value

    @precondition(lambda self: self.sealed_amounts)
    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        (lot, party), value = data.draw(st.sampled_from(sorted(self.sealed_amounts.items())))
        self.h.submit("reveal", party, lot=lot, amount=value, nonce=NONCE)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES))
    def register(self, data: st.DataObject, party: str) -> None:
        self.h.submit("register", party, lot=self.pick(data, "listing"))

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), party=st.sampled_from(PARTIES), steps=st.integers(1, 3))
    def offer(self, data: st.DataObject, party: str, steps: int) -> None:
        self.h.submit("offer", party, lot=self.pick(data, "agreement"), amount=200_000 + steps * 2_000)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), upheld=st.sampled_from([False, False, True]))
    def object_and_resolve(self, data: st.DataObject, upheld: bool) -> None:
        lot = self.pick(data, "agreement")
        if self.h.submit("object", "citizen", lot=lot, grounds="price too low").ok:
            self.h.submit("resolve_objection", lot=lot, objection=len(self.h.events("object", lot)) - 1, upheld=upheld)

    @precondition(lambda self: self.lots)
    @rule(data=st.data(), part=st.sampled_from([1, 2]))
    def pay(self, data: st.DataObject, part: int) -> None:
        owing = [x for x in self.lots if self.h.engine.lot(x).phase == "awaiting_payment"]
        lot = self.h.engine.lot(data.draw(st.sampled_from(owing or self.lots)))
        if lot.deal is not None and lot.phase == "awaiting_payment":
            due = lot.deal.cash - lot.deal.paid
            self.h.submit("pay", lot=lot.id, amount=max(1, due // part))

    @precondition(lambda self: self.lots)
    @rule(data=st.data())
    def close_phase(self, data: st.DataObject) -> None:
        self.h.submit("close_phase", lot=data.draw(st.sampled_from(self.lots)), grounds="operator's decision")

    @rule(ms=st.sampled_from([MINUTE, 3 * MINUTE, 10 * MINUTE, HOUR, DAY, 5 * DAY]))
    def wait(self, ms: int) -> None:
        self.h.run(ms)

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        for lot_id in self.lots:
            lot = self.h.engine.lot(lot_id)
            m = self.h.money(lot_id)
            held = sum(lot.deposits.values())
            assert m["deposit"] == held + m["refund"] + m["forfeit"] + m["deposit_applied"], (lot_id, m, held)

    @invariant()
    def nothing_accepted_after_close(self) -> None:
        closed_at: dict[str, int] = {}
        for e in self.h.engine.events:
            lot = e.data.get("lot")
            if e.kind in ("close", "no_sale", "deal") and lot not in closed_at:
                closed_at[lot] = e.t
            if e.kind in ("convert", "second_chance_offer", "phase_closed"):
                closed_at.pop(lot, None)  # a new pricing round (conversion) or a runner-up's turn
            if e.kind in ("bid", "accept", "commit", "proxy") and e.data.get("ok") and lot in closed_at:
                raise AssertionError(f"{e.kind} accepted on {lot} after it closed: entry {e.seq}")

    @invariant()
    def sealed_amounts_stay_secret_until_reveal(self) -> None:
        for (lot, _party), value in self.sealed_amounts.items():
            if self.h.engine.lot(lot).phase == "commit":
                for e in self.h.events(lot=lot):
                    assert value not in e.data.values(), f"sealed amount {value} leaked in entry {e.seq}"
                    assert NONCE not in e.data.values()

    def teardown(self) -> None:
        self.h.run(60 * DAY)
        for lot_id in self.lots:  # label the outcomes so --hypothesis-show-statistics shows coverage
            lot = self.h.engine.lot(lot_id)
            defaulted = any(e.kind == "default" for e in self.h.events(lot=lot_id))
            event(f"{'→'.join(lot.history)}: {lot.phase}{' after a default' if defaulted else ''}")
        self.h.log.sign_checkpoint()
        self.h.log.commit()
        self.h.assert_replays()
        report = audit_store(self.h.log.store, self.h.log.signer.verifier)
        assert report.ok, report.problems


Market.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
TestMarket = Market.TestCase
