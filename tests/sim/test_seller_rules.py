"""Seller rules: the mode rule, noisy list prices and reserves, their validation, records and determinism."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from auction_engine.replay import replay
from auction_engine.sim.experiment import Experiment, RunSpec, plan, run
from auction_engine.sim.mechanism import lot_terms
from auction_engine.sim.scenario import ScenarioError, apply_overrides, load, loads
from auction_engine.sim.seller import FIELDS, OPS, choose, compile_mode_rule, noise_factor
from auction_engine.sim.strategies import myerson_reserve
from auction_engine.sim.values import Exponential, Lognormal, Uniform, make_dist
from ledger import canonical

from .conftest import make, run_one

REPO = Path(__file__).resolve().parents[2]
SCALE = 1_000_000

# A market whose lots differ in size; two sellers choose among the same three options.
OPTIONS: list[dict[str, Any]] = [
    {
        "mode": "agreement",
        "negotiation": {"model": "nash", "params": {"power": 0.5}, "duration_ms": 3_600_000},
        "params": {"notice_days": 1},
    },
    {
        "mode": "listing",
        "seller": {"list_price": {"rule": "appraisal", "factor": 1.0}},
        "params": {"listing_working_days": 1, "auction_free_ms": 60_000, "auction_countdown_ms": 60_000},
    },
    {
        "mode": "english",
        "seller": {"start": {"rule": "appraisal", "factor": 0.5}},
        "params": {"increment": 0.01, "free_ms": 60_000, "countdown_ms": 60_000},
    },
]
RULE = [
    {"if": {"field": "appraisal", "op": ">=", "value": 15.0}, "then": "agreement"},
    {
        "if": [{"field": "appraisal", "op": "<", "value": 6.0}, {"field": "seller_value", "op": "<=", "value": 100.0}],
        "then": "listing",
    },
    {"else": "english"},
]


def _market(**mech: Any) -> dict[str, Any]:
    return {
        "population": {"lots": 40, "bidders": 3, "arrival": {"every_ms": 3_600_000}},
        "values": {
            "dist": "uniform",
            "low": 0.5,
            "high": 1.5,
            "seller": 0.3,
            "lot_scale": {"dist": "lognormal", "median": 8.0, "sigma": 0.8},
            "appraisal": {"rule": "expected_value", "noise": 0.2},
        },
        "mechanism": [
            {
                "name": "mix",
                "seller": {"name": "mix"},
                "option": [{"share": s, **o} for s, o in zip((0.3, 0.3, 0.4), OPTIONS, strict=True)],
            },
            {"name": "rule", "seller": {"name": "by-size", "version": 2, "mode": RULE}, "option": list(OPTIONS)},
            *mech.get("extra", []),
        ],
    }


def _opens(result: Any) -> list[dict[str, Any]]:
    return [e for e in (canonical.decode(r[1]) for r in result.ledger["rows"]) if e["kind"] == "open_lot"]


# -- the optimal reserve ------------------------------------------------------------------------------


def test_optimal_reserve_solves_the_virtual_value_equation() -> None:
    assert myerson_reserve(Uniform(0.0, 1.0), 0.0) == pytest.approx(0.5, abs=1e-9)  # DOMAIN §5
    assert myerson_reserve(Uniform(0.0, 1.0), 0.2) == pytest.approx(0.6, abs=1e-9)  # (1 + c)/2
    assert myerson_reserve(Uniform(0.5, 1.5), 0.4) == pytest.approx(0.95, abs=1e-9)  # (high + c)/2
    assert myerson_reserve(Exponential(2.0, 0.0), 0.5) == pytest.approx(2.5, abs=1e-9)  # c + mean
    dist = Lognormal(0.0, 0.5)  # no closed form: check r − (1 − F(r))/f(r) = c numerically
    r = myerson_reserve(dist, 0.3)
    x = np.array([r])
    assert float(r - (1 - dist.cdf(x)[0]) / dist.pdf(x)[0]) == pytest.approx(0.3, abs=1e-7)


def test_the_optimal_reserve_rule_sets_one_half_for_uniform_values() -> None:
    sc = make(
        mechanism=[
            {
                "name": "english",
                "mode": "english",
                "params": {"increment": 0.01},
                "seller": {"reserve": {"rule": "optimal"}},
            }
        ]
    )
    option = sc.data["mechanisms"][0]["options"][0]
    terms = lot_terms(option, sc.data, lot_scale=1.0, seller_value=0.0, appraisal=1.0, n_hint=4)
    assert terms.reserve == pytest.approx(0.5) and terms.params["reserve"] == SCALE // 2
    res = run_one(sc, keep_ledger=True)
    assert all(e["params"]["reserve"] == SCALE // 2 for e in _opens(res))
    assert all((r.outcome == "deal") == (r.values.max() >= 0.5) for r in res.records)


# -- the price rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"rule": "none"}, None),
        ({"rule": "appraisal", "factor": 0.8}, lambda ap, c: 0.8 * ap),
        ({"rule": "seller_value", "factor": 1.0}, lambda ap, c: c),
        ({"rule": "optimal"}, lambda ap, c: (1.5 + c) / 2),
    ],
)
def test_each_reserve_rule(rule: dict[str, Any], expected: Any) -> None:
    sc = make(
        values={
            "dist": "uniform",
            "low": 0.5,
            "high": 1.5,
            "seller": {"dist": "uniform", "low": 0.1, "high": 0.6},
            "appraisal": {"rule": "expected_value", "noise": 0.3},
        },
        mechanism=[{"name": "english", "mode": "english", "params": {"increment": 0.001}, "seller": {"reserve": rule}}],
    )
    option = sc.data["mechanisms"][0]["options"][0]
    for ap, c in [(1.0, 0.1), (1.3, 0.5), (0.7, 0.3)]:
        terms = lot_terms(option, sc.data, lot_scale=2.0, seller_value=c, appraisal=ap, n_hint=3)
        if expected is None:
            assert terms.reserve == 0.0 and "reserve" not in terms.params
        else:
            assert terms.reserve == pytest.approx(expected(ap, c), abs=1e-9)
            assert terms.params["reserve"] == round(expected(ap, c) * 2.0 * SCALE)


def test_noisy_list_price_draws_from_the_common_stream() -> None:
    listing = {
        "mode": "listing",
        "seller": {"list_price": {"rule": "appraisal", "factor": 1.1, "noise": 0.25}},
        "params": {"listing_working_days": 1, "auction_free_ms": 60_000, "auction_countdown_ms": 60_000},
    }
    plain = {**listing, "seller": {"list_price": {"rule": "appraisal", "factor": 1.1}}}
    sc = make(
        population={"lots": 300, "bidders": 2},
        values={"dist": "uniform", "appraisal": {"rule": "expected_value", "noise": 0.1}},
        mechanism=[{"name": "noisy", **listing}, {"name": "other", **listing}, {"name": "plain", **plain}],
    )
    ratios = {}
    for mech in ("noisy", "other", "plain"):
        opens = _opens(run_one(sc, mech, keep_ledger=True))
        ratios[mech] = np.array([e["params"]["list_price"] / e["appraisal"] for e in opens]) / 1.1
    assert np.allclose(ratios["plain"], 1.0, atol=1e-5)
    # the same lot gets the same noise under every mechanism (common random numbers) ...
    assert np.allclose(ratios["noisy"], ratios["other"], atol=1e-9)
    # ... a mean-one lognormal factor with σ = 0.25
    logs = np.log(ratios["noisy"])
    assert abs(logs.mean() + 0.25**2 / 2) < 4 * 0.25 / math.sqrt(logs.size)
    assert logs.std() == pytest.approx(0.25, rel=0.15)
    assert noise_factor(0.0, 0.9) == 1.0 and noise_factor(0.25, 0.5) == pytest.approx(math.exp(-(0.25**2) / 2))


def test_noise_on_the_reserve_and_the_start() -> None:
    sc = make(
        mechanism=[
            {
                "name": "english",
                "mode": "english",
                "params": {"increment": 0.001},
                "seller": {
                    "reserve": {"rule": "optimal", "noise": 0.2},
                    "start": {"rule": "fixed", "value": 0.2, "noise": 0.1},
                },
            }
        ]
    )
    res = run_one(sc, keep_ledger=True)
    opens = _opens(res)
    reserves = np.array([e["params"]["reserve"] for e in opens]) / SCALE
    starts = np.array([e["params"]["start_price"] for e in opens]) / SCALE
    assert len(set(reserves)) == len(opens) and len(set(starts)) == len(opens)
    assert reserves.min() > 0.25 and reserves.max() < 1.0 and abs(np.log(reserves / 0.5).mean()) < 0.15
    assert np.all(np.abs(np.log(starts / 0.2)) < 0.5)
    assert not np.allclose(np.log(reserves / 0.5) / 0.2, np.log(starts / 0.2) / 0.1)  # separate draws
    assert all("seller_rule" not in e for e in opens)  # no named seller rule: the entries are as before


# -- the mode rule ------------------------------------------------------------------------------------


def test_the_mode_rule_follows_the_ledger_s_appraisal() -> None:
    sc = from_market()
    res = run_one(sc, "rule", keep_ledger=True)
    assert replay([r[1] for r in res.ledger["rows"]]).ok
    opens = {e["lot"]: e for e in _opens(res)}
    chosen = {r.mode for r in res.records}
    assert chosen == {"agreement", "listing", "english"}
    for r in res.records:
        if r.lot not in opens:  # a failed negotiation opens nothing
            assert r.mode == "agreement" and r.outcome == "failed"
            continue
        e = opens[r.lot]
        appraisal = e["appraisal"] / SCALE  # an auditor re-derives the choice from the entry alone
        want = "agreement" if appraisal >= 15 else "listing" if appraisal < 6 else "english"
        assert e["mode"] == r.mode == want, (r.lot, appraisal)
        clause = {"agreement": "appraisal>=15", "listing": "appraisal<6&seller_value<=100", "english": "else"}[want]
        assert e["seller_rule"].startswith(f"by-size@2 option={want} if={clause}")
        assert e["mechanism"] == "rule"


def test_the_random_mix_is_unchanged_by_naming_its_rule() -> None:
    named = from_market()
    raw = _market()
    del raw["mechanism"][0]["seller"]
    unnamed = make(**raw)
    a, b = run_one(named, "mix", keep_ledger=True), run_one(unnamed, "mix", keep_ledger=True)
    assert [(r.option, r.price, r.outcome) for r in a.records] == [(r.option, r.price, r.outcome) for r in b.records]
    assert all(e["seller_rule"].startswith("mix@1 option=") and " if=share" in e["seller_rule"] for e in _opens(a))
    assert all("seller_rule" not in e for e in _opens(b))
    strip = [{k: v for k, v in e.items() if k not in ("seller_rule", "seq", "prev")} for e in _opens(a)]
    assert strip == [{k: v for k, v in e.items() if k not in ("seq", "prev")} for e in _opens(b)]


def test_both_sellers_meet_the_same_lots_and_runs_are_deterministic() -> None:
    sc = from_market()
    specs = plan(sc, 1, 11, detail=False)
    first = [run(s, keep_records=True) for s in specs]
    again = [run(s, keep_records=True) for s in specs]
    for x, y in zip(first, again, strict=True):
        assert x.row == y.row and x.row["ledger_root"] == y.row["ledger_root"]
    mix, rule = (r.records for r in first)
    assert [r.lot for r in mix] == [r.lot for r in rule]
    for a, b in zip(mix, rule, strict=True):  # common random numbers: the same lot, size and enterprises
        assert a.scale == pytest.approx(b.scale) and np.array_equal(a.values, b.values)
    other = run(replace(specs[1], seed=12))
    assert other.row["ledger_root"] != first[1].row["ledger_root"]


def test_clauses_pick_named_options_and_the_first_match_wins() -> None:
    options = [
        {"name": "small", "mode": "english", "seller": {}},
        {"name": "big", "mode": "english", "seller": {}},
        {"mode": "listing", "seller": {}},
    ]
    rule = [
        {"if": {"field": "lot_scale", "op": ">", "value": 2.0}, "then": "big"},
        {"if": {"field": "lot_scale", "op": ">", "value": 1.0}, "then": "listing"},
        {"else": "small"},
    ]
    clauses = compile_mode_rule(rule, options)
    facts = {"appraisal": 1.0, "appraisal_yuan": 1.0, "seller_value": 0.0}
    assert choose(clauses, {**facts, "lot_scale": 3.0}) == (1, "lot_scale>2")
    assert choose(clauses, {**facts, "lot_scale": 1.5}) == (2, "lot_scale>1")
    assert choose(clauses, {**facts, "lot_scale": 1.0}) == (0, "else")
    with pytest.raises(ValueError, match="2 options have mode 'english'"):
        compile_mode_rule([{"else": "english"}], options)


# -- validation ---------------------------------------------------------------------------------------

RULED = """
[scenario]
name = "t"

[population]
lots = 2
bidders = 2

[values]
lot_scale = { dist = "lognormal", median = 5.0 }

[[mechanism]]
name = "english"
mode = "english"
params = { increment = 0.01 }

[[mechanism]]
name = "ruled"

[mechanism.seller]
name = "by-size"
mode = [
  { if = { field = "appraisal", op = ">=", value = 10.0 }, then = "listing" },
  { else = "english" },
]

[[mechanism.option]]
mode = "listing"
seller = { list_price = { rule = "appraisal", factor = 1.0, noise = 0.1 } }

[[mechanism.option]]
mode = "english"
params = { increment = 0.01 }
"""


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "path", "needle", "message"),
    [
        ('op = ">="', 'op = "=>"', "mechanism[1].seller.mode[0].if.op", "=>", "must be one of '<', '<=', '>', '>='"),
        ('field = "appraisal"', 'field = "size"', "mechanism[1].seller.mode[0].if.field", '"size"', "must be one of"),
        ("value = 10.0", 'value = "10"', "mechanism[1].seller.mode[0].if.value", '"10"', "must be number"),
        (
            '{ field = "appraisal", op = ">=", value = 10.0 }',
            '"appraisal >= 10"',
            "mechanism[1].seller.mode[0].if",
            "appraisal >= 10",
            'write \'appraisal >= 10\' as { field = "appraisal", op = ">=", value = 10 }',
        ),
        (
            'then = "listing"',
            'then = "dutch"',
            "mechanism[1].seller.mode[0].then",
            "dutch",
            "no option named 'dutch' and none of that mode (options: 'listing', 'english')",
        ),
        ('  { else = "english" },\n', "", "mechanism[1].seller.mode[0]", "then =", "the last clause must be { else"),
        (
            "{ if = { field",
            '{ else = "english" },\n  { if = { field',
            "mechanism[1].seller.mode[0]",
            '{ else = "english" },',
            "must be the last one",
        ),
        (
            'then = "listing" }',
            'then = "listing", else = "english" }',
            "mechanism[1].seller.mode[0].else",
            "then = ",
            "either { if = …, then = … } or { else = … }",
        ),
        ('name = "by-size"\n', "", "mechanism[1].seller", "[mechanism.seller]", "a mode rule needs seller.name"),
        ('name = "by-size"', 'name = "by-size"\ncolour = 1', "mechanism[1].seller.colour", "colour", "unknown key"),
        (
            'name = "by-size"',
            'name = "by-size"\nreserve = 0.5',
            "mechanism[1].seller.reserve",
            "reserve = 0.5",
            "price rules are set in each option's seller table",
        ),
        (
            "noise = 0.1",
            "noise = -0.1",
            "mechanism[1].option[0].seller.list_price.noise",
            "noise = -0.1",
            "must be ≥ 0",
        ),
        (
            "noise = 0.1 } }",
            "noise = 0.1 }, mode = 1 }",
            "mechanism[1].option[0].seller.mode",
            "mode = 1",
            "belong to the mechanism's seller table",
        ),
        (
            '[[mechanism.option]]\nmode = "english"',
            '[[mechanism.option]]\nshare = 0.5\nmode = "english"',
            "mechanism[1].option[1].share",
            "share = 0.5",
            "not used: the mechanism's seller.mode rule",
        ),
        (
            '[[mechanism.option]]\nmode = "english"',
            '[[mechanism.option]]\nmode = "english"\nlot_scale = 2',
            "mechanism[1].option[1].lot_scale",
            "lot_scale = 2",
            "set values.lot_scale",
        ),
        (
            "params = { increment = 0.01 }\n\n[[mechanism]]",
            'params = { increment = 0.01 }\nseller = { name = "x", mode = [{ else = "english" }] }\n\n[[mechanism]]',
            "mechanism[0].seller.mode",
            'seller = { name = "x"',
            "this mechanism has a single mode",
        ),
    ],
)
def test_invalid_rules_name_file_line_and_key(old: str, new: str, path: str, needle: str, message: str) -> None:
    assert old in RULED
    text = RULED.replace(old, new, 1)
    with pytest.raises(ScenarioError) as info:
        loads(text, file="rules.toml")
    err = info.value
    assert err.path == path, str(err)
    assert err.file == "rules.toml" and err.line == _line(text, needle), str(err)
    assert message in err.message, str(err)
    assert str(err).startswith(f"rules.toml:{err.line}: {path}: ")


def test_the_reference_rule_loads_and_round_trips() -> None:
    sc = loads(RULED)
    mech = sc.data["mechanisms"][1]
    assert mech["seller"] == {
        "name": "by-size",
        "version": 1,
        "mode": [{"if": {"field": "appraisal", "op": ">=", "value": 10.0}, "then": "listing"}, {"else": "english"}],
    }
    assert [o["share"] for o in mech["options"]] == [None, None]
    assert apply_overrides(sc, {}).data == sc.data
    swept = apply_overrides(sc, {"mechanism.ruled.seller.mode.0.if.value": 20})
    assert swept.data["mechanisms"][1]["seller"]["mode"][0]["if"]["value"] == 20.0
    single = loads(
        RULED.replace(
            "params = { increment = 0.01 }\n\n[[mechanism]]",
            'params = { increment = 0.01 }\nseller = { name = "myerson", reserve = { rule = '
            '"optimal" } }\n\n[[mechanism]]',
            1,
        )
    )
    assert single.data["mechanisms"][0]["seller"] == {"name": "myerson", "version": 1, "mode": None}
    assert single.data["mechanisms"][0]["options"][0]["seller"] == {"reserve": {"rule": "optimal"}}
    assert apply_overrides(single, {}).data == single.data


def test_existing_scenarios_normalise_as_before() -> None:
    for path in sorted((REPO / "scenarios").rglob("*.toml")):
        if path.name == "seller-rules.toml":
            continue
        for mech in load(path).data["mechanisms"]:
            assert "seller" not in mech
            for o in mech["options"]:
                assert "name" not in o and all("noise" not in r for r in o["seller"].values())


# -- records: the manifest and the shipped scenario -----------------------------------------------------


def test_manifest_records_each_seller_rule(tmp_path: Path) -> None:
    sc = from_market()
    specs = plan(sc, 1, 1, detail=False)
    manifest = json.loads(json.dumps(Experiment(sc, tmp_path, specs).manifest(0)))
    rules = manifest["seller_rules"]
    assert rules["mix"]["name"] == "mix" and rules["mix"]["choice"] == "shares" and rules["mix"]["mode"] is None
    assert [o["share"] for o in rules["mix"]["options"]] == pytest.approx([0.3, 0.3, 0.4])
    assert rules["rule"]["name"] == "by-size" and rules["rule"]["version"] == 2 and rules["rule"]["choice"] == "rule"
    assert rules["rule"]["mode"][2] == {"else": "english"}
    assert rules["rule"]["options"][1]["seller"] == {"list_price": {"rule": "appraisal", "factor": 1.0}}


def test_the_shipped_comparison() -> None:
    sc = load(REPO / "scenarios" / "seller-rules.toml")
    assert sc.mechanisms == ["random-mix", "by-size"]
    spec = RunSpec(sc.data, (), "by-size", 0, 3, keep_ledger=True)
    res = run(spec, keep_records=True)
    assert replay([r[1] for r in res.ledger["rows"]]).ok
    opens = _opens(res)
    unit = {r.lot: r.unit for r in res.records}
    assert {e["mode"] for e in opens} == {"agreement", "listing", "english"}
    for e in opens:
        yuan = e["appraisal"] / 100
        want = "agreement" if yuan >= 170_000 else "listing" if yuan < 60_000 else "english"
        assert e["mode"] == want and e["seller_rule"].startswith(f"by-size@1 option={want} ")
        if want == "english":  # the optimal reserve for U[0.5, 1.5] and seller value 0.4: (1.5 + 0.4)/2
            assert e["params"]["reserve"] == round(0.95 * unit[e["lot"]])
    dist = make_dist(sc.data["values"]["bidder"])
    assert myerson_reserve(dist, 0.4) == pytest.approx(0.95)


def test_the_documented_rule_loads_and_every_field_is_documented() -> None:
    text = (REPO / "docs" / "researcher.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[mechanism.seller]" in b)
    base = (REPO / "scenarios" / "seller-rules.toml").read_text(encoding="utf-8")
    start = base.index('[mechanism.seller]\nname = "by-size"')
    sc = loads(base[:start] + block + "\n" + base[base.index("[[mechanism.option]]", start) :])
    assert len(sc.data["mechanisms"][1]["seller"]["mode"]) == 3
    for name in [*FIELDS, *OPS]:
        assert f"`{name}`" in text, name


def from_market() -> Any:
    return make(**_market())
