"""Dutch auction (降价拍卖): a descending clock; the first qualified bidder to accept buys at the clock price.

The clock starts `wait_ms` after the lot opens at `start_price` and drops by `step` every
`step_ms`, never below `floor` (the floor is the reserve): at time t the price is
start_price − k × step with k = ⌊(t − start) / step_ms⌋, clamped to the floor. The price is a
function of time, so clock ticks are not ledger entries; only state changes are (the acceptance,
the close, the deal or the no-sale). The floor stands for one `step_ms` like every other level;
if nobody accepts by then, the lot closes without a sale. An acceptance may carry the price the
bidder saw: if it is not the clock price at the acceptance's time, it is refused (`price_moved`),
so nobody buys at a price they did not see. The first acceptance wins; every later one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import MINUTE, Command, Fen, Ms, Rejected, duration, yuan
from .base import Ctx, Lot, Mode, Ranked, arg, at, phase_text, require_qualified, required_deposit

__all__ = ["MODE", "DutchParams", "DutchState", "price_at"]


@dataclass(frozen=True)
class DutchParams:
    """Dutch auction rule settings (DOMAIN §3.3)."""

    start_price: Fen  # the clock's first price
    step: Fen  # the price drops by this much every step_ms
    floor: Fen  # the clock stops here; it is also the reserve (nothing sells below it)
    step_ms: Ms = MINUTE  # how long each price level stands
    wait_ms: Ms = 0  # the clock starts this long after the lot opens (time to register and pay deposits)

    def check(self) -> None:
        """Reject settings that make no clock (each message names the field)."""
        if self.step <= 0:
            raise Rejected("bad_param", f"parameter 'step' must be positive (it is {yuan(self.step)})")
        if self.step_ms <= 0:
            raise Rejected("bad_param", f"parameter 'step_ms' must be positive (it is {duration(self.step_ms)})")
        if self.wait_ms < 0:
            raise Rejected("bad_param", f"parameter 'wait_ms' must not be negative (it is {duration(self.wait_ms)})")
        if self.floor <= 0:
            raise Rejected("bad_param", f"parameter 'floor' must be positive (it is {yuan(self.floor)})")
        if self.start_price < self.floor:
            raise Rejected(
                "bad_param",
                f"parameter 'start_price' ({yuan(self.start_price)}) must not be below 'floor' ({yuan(self.floor)})",
            )


@dataclass(slots=True)
class DutchState:
    """The live state of one Dutch auction (the schedule is fixed when the lot opens)."""

    starts_at: Ms  # the clock starts (first price level)
    floor_at: Ms  # the clock reaches the floor
    ends_at: Ms  # the floor has stood for step_ms: no sale if nobody accepted
    buyer: str | None = None
    price: Fen | None = None  # the accepted price


def _steps_to_floor(p: DutchParams) -> int:
    """How many drops take the clock from start_price to the floor (the last one may be partial)."""
    return -(-(p.start_price - p.floor) // p.step)


def price_at(p: DutchParams, starts_at: Ms, t: Ms) -> Fen:
    """The clock price at time t (start_price before the clock starts, never below the floor)."""
    if t <= starts_at:
        return p.start_price
    k = (t - starts_at) // p.step_ms
    return max(p.floor, p.start_price - k * p.step)


def _open(ctx: Ctx, lot: Lot) -> None:
    p: DutchParams = lot.params
    starts_at = lot.opened_at + p.wait_ms
    floor_at = starts_at + _steps_to_floor(p) * p.step_ms
    lot.state = DutchState(starts_at=starts_at, floor_at=floor_at, ends_at=floor_at + p.step_ms)
    lot.phase = "clock"


def _accept(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    p: DutchParams = lot.params
    s: DutchState = lot.state
    bidder = cmd["actor"]
    if lot.phase != "clock":
        raise Rejected("lot_closed", f"lot {lot.id} is not taking acceptances: it is {phase_text(lot.phase)}")
    if ctx.now >= s.ends_at:  # the engine fires due deadlines first; this is the belt to those braces
        raise Rejected("late_accept", f"the clock of lot {lot.id} ended at {at(lot, s.ends_at)}")
    if ctx.now < s.starts_at:
        raise Rejected(
            "clock_not_started",
            f"the clock of lot {lot.id} has not started: it starts at {yuan(p.start_price)} on {at(lot, s.starts_at)}",
        )
    seen = arg(cmd, "price") if "price" in cmd else None
    require_qualified(lot, bidder, required_deposit(lot, p.start_price))
    price = price_at(p, s.starts_at, ctx.now)
    if seen is not None and seen != price:
        raise Rejected(
            "price_moved",
            f"field 'price' is {yuan(seen)} but the clock of lot {lot.id} is now at {yuan(price)} ({price} fen)",
        )
    ctx.accept("dutch.accept", price=price)
    s.buyer, s.price = bidder, price
    lot.phase = "closed"
    ctx.emit("close", lot=lot.id, price=price, buyer=bidder)
    ctx.deal(lot, bidder, price, "dutch.first_accept", [Ranked(bidder, price, ctx.now, 0)])


def _next_deadline(lot: Lot) -> Ms | None:
    if lot.phase == "clock":
        return lot.state.ends_at
    return None


def _on_deadline(ctx: Ctx, lot: Lot) -> None:
    p: DutchParams = lot.params
    lot.phase = "closed"
    ctx.emit("close", lot=lot.id, price=p.floor, buyer=None)
    ctx.no_sale(lot, "no_acceptance")


def _view(lot: Lot, viewer: str | None) -> dict[str, Any]:
    """The clock's schedule (the same for everyone); the price now comes from `_live_view`."""
    p: DutchParams = lot.params
    s: DutchState = lot.state
    return {
        "start_price": p.start_price,
        "step": p.step,
        "step_ms": p.step_ms,
        "floor": p.floor,
        "starts_at": s.starts_at,
        "floor_at": s.floor_at,
        "deadline": s.ends_at,
    }


def _live_view(lot: Lot, now: Ms) -> dict[str, Any]:
    """The clock price at `now` and when it next drops (None at the floor)."""
    p: DutchParams = lot.params
    s: DutchState = lot.state
    price = price_at(p, s.starts_at, now)
    if now < s.starts_at:
        next_drop: Ms | None = s.starts_at + p.step_ms
    elif price > p.floor:
        next_drop = s.starts_at + ((now - s.starts_at) // p.step_ms + 1) * p.step_ms
    else:
        next_drop = None
    return {"price": price, "next_drop": next_drop, "started": now >= s.starts_at}


MODE = Mode(
    name="dutch",
    params=DutchParams,
    open=_open,
    commands={"accept": _accept},
    next_deadline=_next_deadline,
    on_deadline=_on_deadline,
    opening_price=lambda params: params.start_price,
    view=_view,
    live_view=_live_view,
)
