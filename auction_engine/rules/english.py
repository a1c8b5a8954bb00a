"""English auction (竞价拍卖): free bidding until a fixed time, then timed bidding whose countdown
restarts on every valid bid, with increments, a reserve, proxy (maximum) bids and soft-close caps.

Every bid lies on the grid start_price + k × increment (k ≥ 0): the first bid must be at least
the starting price, every later bid must exceed the current high by a whole multiple of the
increment. Priority is price, then time: a proxy's priority time is when it was placed, so an
earlier proxy keeps the lead against a later bid of the same amount. Accepted bids stand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import MINUTE, Command, Fen, Ms, Rejected, duration, percent, yuan
from .base import (
    Ctx,
    Lot,
    Mode,
    Ranked,
    arg,
    at,
    nearest_valid,
    phase_text,
    require_qualified,
    required_deposit,
)

__all__ = ["MODE", "EnglishParams", "EnglishState", "check_conversion_settings", "conversion_settings", "opening_bid"]


@dataclass(frozen=True, slots=True)
class EnglishParams:
    """English auction rule settings (defaults from DOMAIN §3.3)."""

    start_price: Fen  # 起拍价
    increment: Fen  # 加价幅度
    reserve: Fen | None = None  # 保留价: unmet → no sale
    free_ms: Ms = 60 * MINUTE  # free bidding (自由竞价) lasts this long from the lot's opening
    countdown_ms: Ms = 5 * MINUTE  # timed bidding (限时竞价) countdown, restarted by each valid bid
    max_extensions: int | None = None  # cap on countdown restarts (None: unlimited)
    hard_close_ms: Ms | None = None  # absolute cap: no bid after opening + hard_close_ms
    proxy: bool = True  # allow proxy (maximum) bids
    leader_may_raise: bool = False  # may the current leader outbid themselves?

    def check(self) -> None:
        if self.increment <= 0:
            raise Rejected("bad_param", f"parameter 'increment' must be positive (it is {yuan(self.increment)})")
        if self.start_price <= 0:
            raise Rejected("bad_param", f"parameter 'start_price' must be positive (it is {yuan(self.start_price)})")
        if self.countdown_ms <= 0:
            raise Rejected(
                "bad_param", f"parameter 'countdown_ms' must be positive (it is {duration(self.countdown_ms)})"
            )
        if self.free_ms < 0:
            raise Rejected("bad_param", f"parameter 'free_ms' must not be negative (it is {duration(self.free_ms)})")
        if self.hard_close_ms is not None and self.hard_close_ms < self.free_ms:
            raise Rejected(
                "bad_param",
                f"parameter 'hard_close_ms' ({duration(self.hard_close_ms)}) must not end before free bidding, "
                f"which lasts 'free_ms' ({duration(self.free_ms)})",
            )


@dataclass(slots=True)
class Proxy:
    cap: Fen  # the maximum, rounded down to the bid grid
    t: Ms  # when it was placed (its priority time)
    order: int


@dataclass(slots=True)
class EnglishState:
    """The live state of one English auction."""

    free_end: Ms
    hard_close: Ms | None
    deadline: Ms  # when the current phase ends (free end, or the running countdown's end)
    high: Fen | None = None  # current price
    leader: str | None = None
    leader_priority: Ms = 0  # the leader's priority time for the current price
    leader_order: int = 0  # ... and its arrival order (the last tie-break)
    bids: int = 0  # accepted bids so far
    order: int = 0  # arrival order of bids and proxies (the last tie-break)
    extensions: int = 0
    proxies: dict[str, Proxy] = field(default_factory=dict)
    best: dict[str, Ranked] = field(default_factory=dict)  # each bidder's best accepted bid


def _open(ctx: Ctx, lot: Lot) -> None:
    p: EnglishParams = lot.params
    free_end = lot.opened_at + p.free_ms
    hard = None if p.hard_close_ms is None else lot.opened_at + p.hard_close_ms
    lot.state = EnglishState(free_end=free_end, hard_close=hard, deadline=free_end)
    lot.phase = "free"


def _next_level(p: EnglishParams, s: EnglishState) -> Fen:
    return p.start_price if s.high is None else s.high + p.increment


def _floor_level(p: EnglishParams, amount: Fen) -> Fen:
    """The largest grid amount ≤ amount (may fall below the start price)."""
    return p.start_price + (amount - p.start_price) // p.increment * p.increment


def _check_open_for_bids(lot: Lot, now: Ms) -> None:
    if lot.phase not in ("free", "timed"):
        raise Rejected("lot_closed", f"lot {lot.id} is not taking bids: it is {phase_text(lot.phase)}")
    s: EnglishState = lot.state
    if now >= s.deadline:  # the engine fires due deadlines first; this is the belt to those braces
        raise Rejected("late_bid", f"lot {lot.id} closed for bidding at {at(lot, s.deadline)}")


def _record_bid(ctx: Ctx, lot: Lot, bidder: str, amount: Fen, priority: Ms, order: int | None = None) -> None:
    """Make an accepted bid the current price, restart the countdown in timed bidding.

    `priority`/`order` rank the bid under price-then-time: a manual bid's own time and arrival
    order, or for an automatic bid the time and order its proxy was placed.
    """
    p: EnglishParams = lot.params
    s: EnglishState = lot.state
    s.order += 1
    order = s.order if order is None else order
    s.high, s.leader, s.leader_priority, s.leader_order = amount, bidder, priority, order
    s.bids += 1
    prior = s.best.get(bidder)
    if prior is None or amount > prior.amount:
        s.best[bidder] = Ranked(bidder, amount, priority, order)
    if lot.phase == "timed" and (p.max_extensions is None or s.extensions < p.max_extensions):
        new = ctx.now + p.countdown_ms
        if s.hard_close is not None:
            new = min(new, s.hard_close)
        if new > s.deadline:
            s.deadline = new
            s.extensions += 1


def _bid(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    p: EnglishParams = lot.params
    s: EnglishState = lot.state
    bidder = cmd["actor"]
    amount = arg(cmd, "amount")
    now = ctx.now  # one instant for the whole command
    _check_open_for_bids(lot, now)
    require_qualified(lot, bidder, required_deposit(lot, p.start_price))
    if s.leader == bidder and not p.leader_may_raise:
        raise Rejected(
            "already_leading",
            f"{bidder} already holds the highest bid on lot {lot.id}, {yuan(s.high or 0)}, and may not raise it",
        )
    rule = _grid_rule(lot, p, s.high, amount)
    ctx.accept(f"{rule}.{lot.phase}")
    _record_bid(ctx, lot, bidder, amount, now)
    if s.proxies:  # standing proxies answer the new price
        _resolve_proxies(ctx, lot)


def _grid_rule(lot: Lot, p: EnglishParams, high: Fen | None, amount: Fen) -> str:
    """The rule that takes `amount` as the lot's next bid, or the refusal of an amount off the bid grid.

    The grid steps by the increment from the starting price, which the first bid must reach, or from
    the current price, which every later bid must exceed. A refusal names the nearest valid bids.
    """
    inc = p.increment
    if high is None:
        base, least, rule = p.start_price, p.start_price, "english.start"
        below = amount < base
    else:
        base, least, rule = high, high + inc, "english.increment"
        below = amount <= base
    if not below and not (amount - base) % inc:
        return rule
    if high is None:
        subject, must = f"the first bid on lot {lot.id}", f"be the starting price of {yuan(base)} plus"
        if below:
            raise Rejected("below_start", f"{subject} must be at least the starting price of {yuan(base)} ({base} fen)")
    else:
        subject, must = f"a bid on lot {lot.id}", f"exceed the current price of {yuan(base)} by"
        if below:
            raise Rejected(
                "below_increment",
                f"{subject} must {must} at least {yuan(inc)}; the next valid bid is {yuan(least)} ({least} fen)",
            )
    raise Rejected(
        "not_increment_multiple",
        f"{subject} must {must} a whole multiple of {yuan(inc)}; {nearest_valid(base, inc, amount, least)}",
    )


def _proxy(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """A proxy (maximum) bid. Its `max` is sealed (`MODE.sealed_fields`): the ledger holds only a commitment
    until the lot closes, so this rule reads it (`ctx.unsealed`) only once the checks that do not need it
    have passed, and no message states a maximum. What it read is revealed when the lot's pricing ends."""
    p: EnglishParams = lot.params
    s: EnglishState = lot.state
    bidder = cmd["actor"]
    if not p.proxy:
        raise Rejected("proxy_not_allowed", f"lot {lot.id} does not accept proxy bids; bid an amount instead")
    _check_open_for_bids(lot, ctx.now)
    require_qualified(lot, bidder, required_deposit(lot, p.start_price))
    maximum = arg(ctx.unsealed(cmd), "max", secret=True)
    cap = _floor_level(p, maximum)
    floor_needed = s.high if s.leader == bidder and s.high is not None else _next_level(p, s)
    if cap < floor_needed:  # the bound is public (the price, or the next valid bid); the maximum is not stated
        what = f"the current price, which {bidder} holds" if floor_needed == s.high else "the next valid bid"
        raise Rejected(
            "proxy_too_low",
            f"field 'max' on lot {lot.id} must be at least {what}, {yuan(floor_needed)} ({floor_needed} fen)",
        )
    old = s.proxies.get(bidder)
    if old is not None and cap < old.cap:
        raise Rejected(
            "proxy_lowered",
            f"field 'max' is below {bidder}'s standing proxy maximum on lot {lot.id}: a proxy maximum can be "
            "raised, never lowered",
        )
    ctx.accept("english.proxy")  # no `out.cap`: the rounded maximum would reveal the maximum
    s.order += 1
    s.proxies[bidder] = Proxy(cap, ctx.now, s.order)
    _resolve_proxies(ctx, lot)


def conversion_settings(start_price: Fen, increment: Fen, settings: Any) -> dict[str, Any]:
    """The lot-level settings of the English auction another mode converts to (listing, agreement).

    `settings` carries the converting mode's `auction_free_ms` and `auction_countdown_ms`.
    """
    out: dict[str, Any] = {"start_price": start_price, "increment": increment, "free_ms": settings.auction_free_ms}
    if settings.auction_countdown_ms is not None:
        out["countdown_ms"] = settings.auction_countdown_ms
    return out


def check_conversion_settings(settings: Any, *, free_ms_positive: bool) -> None:
    """Check the `auction_*` parameters of a mode that may convert to an English auction (names the field)."""
    if settings.auction_increment is not None and settings.auction_increment <= 0:
        raise Rejected(
            "bad_param", f"parameter 'auction_increment' must be positive (it is {yuan(settings.auction_increment)})"
        )
    if settings.auction_increment_bp <= 0:
        raise Rejected(
            "bad_param",
            f"parameter 'auction_increment_bp' must be at least 0.01% (it is {percent(settings.auction_increment_bp)})",
        )
    if free_ms_positive and settings.auction_free_ms <= 0:
        raise Rejected(
            "bad_param", f"parameter 'auction_free_ms' must be positive (it is {duration(settings.auction_free_ms)})"
        )
    if settings.auction_free_ms < 0:
        raise Rejected(
            "bad_param",
            f"parameter 'auction_free_ms' must not be negative (it is {duration(settings.auction_free_ms)})",
        )
    if settings.auction_countdown_ms is not None and settings.auction_countdown_ms <= 0:
        raise Rejected(
            "bad_param",
            f"parameter 'auction_countdown_ms' must be positive (it is {duration(settings.auction_countdown_ms)})",
        )


def opening_bid(ctx: Ctx, lot: Lot, bidder: str, amount: Fen, rule: str) -> None:
    """Place a binding opening bid carried over from another mode (a competing offer at conversion)."""
    if lot.state.high is not None:
        raise ValueError(f"an opening bid of {amount} on lot {lot.id}, which has bids already")
    try:
        _grid_rule(lot, lot.params, None, amount)
    except Rejected as exc:
        raise ValueError(
            f"an opening bid of {amount} is not a valid first bid on lot {lot.id}: {exc.message}"
        ) from None
    ctx.emit("opening_bid", lot=lot.id, bidder=bidder, amount=amount, rule=rule)
    _record_bid(ctx, lot, bidder, amount, ctx.now)
    _resolve_proxies(ctx, lot)


def _auto_bid(ctx: Ctx, lot: Lot, bidder: str, amount: Fen, priority: Ms, rule: str) -> None:
    ctx.emit("auto_bid", lot=lot.id, bidder=bidder, amount=amount, rule=rule, priority_t=priority)
    _record_bid(ctx, lot, bidder, amount, priority, lot.state.proxies[bidder].order)


def _resolve_proxies(ctx: Ctx, lot: Lot) -> None:
    """Let standing proxies respond, in closed form: at most two automatic bids per change."""
    p: EnglishParams = lot.params
    s: EnglishState = lot.state
    if not s.proxies:
        return
    leader = s.leader
    high = s.high
    # Every bidder's standing capacity: (cap, priority time, order). The leader stands at least
    # at the current price with its priority time.
    caps: dict[str, tuple[Fen, Ms, int]] = {}
    for bidder, px in s.proxies.items():
        if high is None or px.cap >= high:
            caps[bidder] = (px.cap, px.t, px.order)
    if leader is not None:
        lc = caps.get(leader)
        if lc is None or lc[0] <= (high or 0):
            caps[leader] = (high or 0, s.leader_priority, s.leader_order)
    ranked = sorted(caps.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[1][2]))
    top, (top_cap, top_t, _) = ranked[0]
    second = ranked[1] if len(ranked) > 1 else None
    next_level = _next_level(p, s)
    if top == leader:
        if second is None or second[1][0] < next_level:
            return  # nobody can outbid the leader
        _proxies_bid_up(ctx, lot, (top, top_cap, top_t), second)
        return
    # The top is a proxy holder who is not leading: it takes the lead at the lowest price that
    # beats the best other standing capacity.
    if top_cap < next_level and not (high is not None and top_cap == high):
        return
    if second is not None and second[0] != leader and second[1][0] >= next_level:
        _proxies_bid_up(ctx, lot, (top, top_cap, top_t), second)
        return
    if high is not None and top_cap == high:
        # A later bid matched this proxy's maximum: the earlier commitment wins the tie.
        _auto_bid(ctx, lot, top, high, top_t, "english.proxy_priority")
        return
    beat = next_level
    if second is not None and second[1][0] >= next_level:
        beat = min(top_cap, second[1][0] + p.increment)
    _auto_bid(ctx, lot, top, min(top_cap, beat), top_t, "english.proxy")


def _proxies_bid_up(ctx: Ctx, lot: Lot, top: tuple[str, Fen, Ms], second: tuple[str, tuple[Fen, Ms, int]]) -> None:
    """The two highest standing capacities meet: the second bids its whole maximum, then the top answers
    one increment above it (at most its own maximum), or at the same amount when the maxima are equal,
    where the earlier commitment keeps the price."""
    p: EnglishParams = lot.params
    bidder, cap, priority = top
    sec, (sec_cap, sec_t, _) = second
    _auto_bid(ctx, lot, sec, sec_cap, sec_t, "english.proxy")
    if cap == sec_cap:
        _auto_bid(ctx, lot, bidder, sec_cap, priority, "english.proxy_priority")
    else:
        _auto_bid(ctx, lot, bidder, min(cap, sec_cap + p.increment), priority, "english.proxy")


def _next_deadline(lot: Lot) -> Ms | None:
    if lot.phase in ("free", "timed"):
        return lot.state.deadline
    return None


def _on_deadline(ctx: Ctx, lot: Lot) -> None:
    p: EnglishParams = lot.params
    s: EnglishState = lot.state
    if lot.phase == "free":
        end = ctx.now + p.countdown_ms
        if s.hard_close is not None:
            end = min(end, s.hard_close)
        if end > ctx.now:
            lot.phase = "timed"
            s.deadline = end
            ctx.emit("phase", lot=lot.id, phase="timed", until=end)
            return
    lot.phase = "closed"
    ctx.emit("close", lot=lot.id, bids=s.bids, extensions=s.extensions)
    if s.high is None or s.leader is None:
        ctx.no_sale(lot, "no_bids")
    elif p.reserve is not None and s.high < p.reserve:
        ctx.no_sale(lot, "reserve_not_met")
    else:
        # Every bidder's best bid; settlement ranks them (price, then time, then order) itself.
        ctx.deal(lot, s.leader, s.high, "english.highest", list(s.best.values()))


def _view(lot: Lot, viewer: str | None) -> dict[str, Any]:
    s: EnglishState = lot.state
    p: EnglishParams = lot.params
    out: dict[str, Any] = {
        "price": s.high,
        "leader": s.leader,
        "next_bid": _next_level(p, s),
        "increment": p.increment,
        "deadline": s.deadline,
        "bids": s.bids,
        "extensions": s.extensions,
    }
    if viewer is not None and viewer in s.proxies:
        out["my_proxy"] = s.proxies[viewer].cap
    return out


MODE = Mode(
    name="english",
    params=EnglishParams,
    open=_open,
    commands={"bid": _bid, "proxy": _proxy},
    sealed_fields={"proxy": ("max",)},
    next_deadline=_next_deadline,
    on_deadline=_on_deadline,
    opening_price=lambda params: params.start_price,
    view=_view,
)
