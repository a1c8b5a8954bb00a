"""The showcase market: a few lots in every pricing mode and two sub-markets, settled and coded.

A scripted session on a simulated clock starting 2021-03-01 09:00 in Hangzhou: English auctions
(with proxies, an unmet reserve, a defaulting winner and a second-chance offer), a Dutch clock,
sealed first- and second-price bids (one never revealed), listings (one buyer; two buyers turning
into an auction) and agreement pricing (an objection dismissed; a competing offer turning into an
auction). Everything is deterministic: the same code writes the same ledger entries every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import SimClock
from .engine import Engine, Result
from .model import DAY, HOUR, MINUTE, Ms
from .rules.sealed import commitment

__all__ = ["MARKET", "START", "Showcase", "run_showcase"]

MARKET = "zhejiang-pai.demo"
START: Ms = 1_614_560_400_000  # 2021-03-01 09:00 Asia/Shanghai (01:00 UTC), a Monday
OP = "operator"
YUAN = 100  # fen per yuan


def _nonce(bidder: str, lot: str) -> bytes:
    """A sealed bid's nonce; fixed here so the showcase repeats exactly (a real bidder uses random bytes)."""
    return f"showcase-nonce:{lot}:{bidder}".encode().ljust(24, b".")


@dataclass
class Showcase:
    """The engine after the session, with what the script submitted and what was refused."""

    engine: Engine
    clock: SimClock
    rejections: list[tuple[dict[str, Any], Result]] = field(default_factory=list)


Step = tuple[Ms, Callable[[Engine], Any]]


def _cmd(op: str, actor: str = OP, **fields: Any) -> Callable[[Engine], Result]:
    return lambda engine: engine.submit({"op": op, "actor": actor, **fields})


def _deposits(lot: str, amount: int, *parties: str) -> list[Callable[[Engine], Result]]:
    return [_cmd("deposit", lot=lot, party=p, amount=amount) for p in parties]


def _sealed(lot: str, bidder: str, amount: int) -> tuple[Callable[[Engine], Result], Callable[[Engine], Result]]:
    nonce = _nonce(bidder, lot)
    return (
        _cmd("commit", bidder, lot=lot, hash=commitment(lot, bidder, amount, nonce)),
        _cmd("reveal", bidder, lot=lot, amount=amount, nonce=nonce),
    )


def _pay_everything_due(except_buyers: frozenset[str] = frozenset()) -> Callable[[Engine], list[Result]]:
    """Every buyer awaiting payment pays the rest in full (except the named defaulters)."""

    def pay(engine: Engine) -> list[Result]:
        results = []
        for lot in sorted(engine.lots.values(), key=lambda x: x.id):
            if lot.phase != "awaiting_payment" or lot.deal.buyer in except_buyers:
                continue
            due = lot.deal.cash - lot.deal.paid
            results.append(engine.submit({"op": "pay", "actor": OP, "lot": lot.id, "amount": due}))
        return results

    return pay


def _script() -> list[Step]:
    """The session, as (offset from START, action) in time order."""
    m = MINUTE
    e1_commit = _sealed("ZJ-S1", "hz-vision", 420_000 * YUAN), _sealed("ZJ-S1", "nb-robot", 380_000 * YUAN)
    e1_third = _sealed("ZJ-S1", "sx-optics", 360_000 * YUAN)
    s2 = [_sealed("ZJ-S2", b, a * YUAN) for b, a in (("jx-pack", 210_000), ("tz-green", 190_000), ("hz-eco", 230_000))]
    steps: list[Step] = [
        (0, _cmd("open_submarket", submarket="metrology", name="计量拍", params={"countdown_ms": 3 * m})),
        (0, _cmd("open_submarket", submarket="agri", name="农业拍", params={"deposit_bp": 500})),
        # --- English, main market: proxies, timed bidding, a tie won by the earlier proxy.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-E1",
                mode="english",
                title="高效锂电池正极材料制备方法 (patent)",
                seller="浙江大学",
                appraisal=520_000 * YUAN,
                params={"start_price": 500_000 * YUAN, "increment": 10_000 * YUAN, "reserve": 550_000 * YUAN},
            ),
        ),
        *[(1 * m, s) for s in _deposits("ZJ-E1", 50_000 * YUAN, "hz-zhizao", "nb-xincai", "wz-dianzi")],
        (5 * m, _cmd("bid", "hz-zhizao", lot="ZJ-E1", amount=500_000 * YUAN)),
        (10 * m, _cmd("proxy", "nb-xincai", lot="ZJ-E1", max=650_000 * YUAN)),
        (50 * m, _cmd("bid", "wz-dianzi", lot="ZJ-E1", amount=600_000 * YUAN)),
        (50 * m, _cmd("bid", "wz-dianzi", lot="ZJ-E1", amount=605_000 * YUAN)),  # refused: not a whole increment
        (62 * m, _cmd("bid", "hz-zhizao", lot="ZJ-E1", amount=650_000 * YUAN)),  # ties the proxy: proxy keeps it
        (64 * m, _cmd("bid", "wz-dianzi", lot="ZJ-E1", amount=700_000 * YUAN)),
        (66 * m, _cmd("bid", "hz-zhizao", lot="ZJ-E1", amount=710_000 * YUAN)),
        # --- English, metrology sub-market (3-minute countdown): the reserve is not met.
        (
            0,
            _cmd(
                "open_lot",
                lot="MT-E2",
                mode="english",
                submarket="metrology",
                title="智能电能表校准装置",
                seller="浙江省计量科学研究院",
                params={
                    "start_price": 200_000 * YUAN,
                    "increment": 5_000 * YUAN,
                    "reserve": 300_000 * YUAN,
                    "free_ms": 30 * m,
                },
            ),
        ),
        *[(2 * m, s) for s in _deposits("MT-E2", 20_000 * YUAN, "hz-meter", "nb-grid")],
        (10 * m, _cmd("bid", "hz-meter", lot="MT-E2", amount=200_000 * YUAN)),
        (31 * m, _cmd("bid", "nb-grid", lot="MT-E2", amount=250_000 * YUAN)),
        # --- Dutch, agri sub-market: the clock falls ¥20,000 every 5 minutes; the first to accept wins.
        (
            0,
            _cmd(
                "open_lot",
                lot="AG-D1",
                mode="dutch",
                submarket="agri",
                title="一种水稻抗病基因及其应用",
                seller="浙江省农业科学院",
                params={
                    "start_price": 800_000 * YUAN,
                    "step": 20_000 * YUAN,
                    "step_ms": 5 * m,
                    "floor": 400_000 * YUAN,
                    "wait_ms": 10 * m,
                },
            ),
        ),
        *[(3 * m, s) for s in _deposits("AG-D1", 40_000 * YUAN, "zj-seed", "hz-agri")],
        (72 * m, _cmd("accept", "zj-seed", lot="AG-D1", price=560_000 * YUAN)),
        (73 * m, _cmd("accept", "hz-agri", lot="AG-D1")),  # too late: the first acceptance won
        # --- Sealed second-price (Vickrey): the highest bid wins and pays the second-highest.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-S1",
                mode="sealed",
                title="工业视觉缺陷检测软件 V3",
                seller="之江实验室",
                params={
                    "price_rule": "second",
                    "min_price": 300_000 * YUAN,
                    "reserve": 350_000 * YUAN,
                    "bid_ms": 2 * HOUR,
                    "reveal_ms": HOUR,
                },
            ),
        ),
        *[(4 * m, s) for s in _deposits("ZJ-S1", 30_000 * YUAN, "hz-vision", "nb-robot", "sx-optics")],
        (20 * m, e1_commit[0][0]),
        (25 * m, e1_commit[1][0]),
        (30 * m, e1_third[0]),
        (40 * m, e1_commit[0][1]),  # refused: reveals open after the bidding window (and the amount stays secret)
        (2 * HOUR + 5 * m, e1_commit[0][1]),
        (2 * HOUR + 6 * m, e1_commit[1][1]),
        (2 * HOUR + 7 * m, e1_third[1]),
        # --- Sealed first-price: one bidder never reveals and forfeits the deposit.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-S2",
                mode="sealed",
                title="可降解食品包装材料配方",
                seller="浙江工业大学",
                params={"price_rule": "first", "min_price": 150_000 * YUAN, "bid_ms": 2 * HOUR, "reveal_ms": HOUR},
            ),
        ),
        *[(4 * m, s) for s in _deposits("ZJ-S2", 15_000 * YUAN, "jx-pack", "tz-green", "hz-eco")],
        *[(21 * m + i * m, s[0]) for i, s in enumerate(s2)],
        (2 * HOUR + 10 * m, s2[0][1]),
        (2 * HOUR + 11 * m, s2[1][1]),  # hz-eco never reveals
        # --- Listing with one qualified buyer: a deal at the list price after 20 working days.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-L1",
                mode="listing",
                title="光纤传感器封装工艺",
                seller="中国计量大学",
                appraisal=130_000 * YUAN,
                params={"list_price": 120_000 * YUAN},
            ),
        ),
        (1 * DAY, _cmd("register", "hz-fibre", lot="ZJ-L1")),
        (1 * DAY, _cmd("deposit", lot="ZJ-L1", party="hz-fibre", amount=12_000 * YUAN)),
        # --- Listing with two qualified buyers: it converts to an English auction at the list price.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-L2",
                mode="listing",
                title="医用导管亲水涂层技术",
                seller="浙江大学医学院附属第二医院",
                appraisal=300_000 * YUAN,
                params={"list_price": 300_000 * YUAN, "auction_increment": 5_000 * YUAN},
            ),
        ),
        (2 * DAY, _cmd("register", "nb-medical", lot="ZJ-L2")),
        (2 * DAY, _cmd("register", "hz-bio", lot="ZJ-L2")),
        *[(2 * DAY, s) for s in _deposits("ZJ-L2", 30_000 * YUAN, "nb-medical", "hz-bio")],
        # The listing ends on Monday 2021-03-29 09:00 (20 working days); the auction opens then.
        (28 * DAY + 15 * m, _cmd("bid", "nb-medical", lot="ZJ-L2", amount=305_000 * YUAN)),
        (28 * DAY + 40 * m, _cmd("bid", "hz-bio", lot="ZJ-L2", amount=320_000 * YUAN)),
        (28 * DAY + 62 * m, _cmd("bid", "nb-medical", lot="ZJ-L2", amount=330_000 * YUAN)),
        # --- Agreement pricing with an objection that the operator dismisses.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-A1",
                mode="agreement",
                title="中药有效成分提取工艺专利包",
                seller="浙江中医药大学",
                params={"price": 2_500_000 * YUAN, "buyer": "kangenbei"},
            ),
        ),
        (3 * DAY, _cmd("object", "citizen-42", lot="ZJ-A1", grounds="the price looks low against the appraisal")),
        (5 * DAY, _cmd("resolve_objection", lot="ZJ-A1", objection=0, upheld=False)),
        (5 * DAY, _cmd("deposit", lot="ZJ-A1", party="kangenbei", amount=250_000 * YUAN)),
        # --- Agreement pricing with competing offers: a higher offer turns the sale into an auction.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-A2",
                mode="agreement",
                title="工业机器人减速器设计",
                seller="浙江理工大学",
                params={
                    "price": 1_000_000 * YUAN,
                    "buyer": "hz-robotics",
                    "competing_offers": True,
                    "auction_increment": 20_000 * YUAN,
                },
            ),
        ),
        *[(1 * DAY, s) for s in _deposits("ZJ-A2", 100_000 * YUAN, "hz-robotics", "sz-drive")],
        (4 * DAY, _cmd("offer", "sz-drive", lot="ZJ-A2", amount=1_100_000 * YUAN)),
        (4 * DAY + 20 * m, _cmd("bid", "hz-robotics", lot="ZJ-A2", amount=1_120_000 * YUAN)),
        (4 * DAY + 30 * m, _cmd("proxy", "sz-drive", lot="ZJ-A2", max=1_200_000 * YUAN)),
        # --- English where the winner never pays: forfeit, then a second-chance offer to the runner-up.
        (
            0,
            _cmd(
                "open_lot",
                lot="ZJ-E3",
                mode="english",
                title="氢燃料电池双极板涂层",
                seller="浙江工业大学",
                params={"start_price": 300_000 * YUAN, "increment": 10_000 * YUAN, "free_ms": 2 * HOUR},
            ),
        ),
        *[(1 * m, s) for s in _deposits("ZJ-E3", 30_000 * YUAN, "hz-hydro", "nb-energy")],
        (30 * m, _cmd("bid", "nb-energy", lot="ZJ-E3", amount=300_000 * YUAN)),
        (40 * m, _cmd("bid", "hz-hydro", lot="ZJ-E3", amount=340_000 * YUAN)),
        # --- Payments: everyone pays but the defaulter; later the runner-up accepts and pays.
        (1 * DAY, _pay_everything_due(frozenset({"hz-hydro"}))),
        (6 * DAY, _pay_everything_due(frozenset({"hz-hydro"}))),
        (15 * DAY, _cmd("accept_offer", "nb-energy", lot="ZJ-E3")),  # after the default on 2021-03-15
        (16 * DAY, _pay_everything_due()),
        (35 * DAY, _pay_everything_due()),
        (60 * DAY, _pay_everything_due()),
    ]
    return sorted(steps, key=lambda s: s[0])  # stable: same-time steps keep their written order


def run_showcase(engine_factory: Callable[[SimClock], Engine], until: Ms = 90 * DAY) -> Showcase:
    """Run the scripted session on a fresh engine made by `engine_factory(clock)`."""
    clock = SimClock(start=START)
    engine = engine_factory(clock)
    show = Showcase(engine, clock)
    for offset, action in _script():
        if START + offset > clock.now():
            clock.run(START + offset)
        outcome = action(engine)
        for result in outcome if isinstance(outcome, list) else [outcome]:
            if isinstance(result, Result) and not result.ok:
                show.rejections.append(({"seq": result.seq}, result))
    clock.run(START + until)
    return show
