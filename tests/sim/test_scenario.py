"""Scenario files: every shipped scenario loads; invalid ones fail with the key path, file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction_engine.sim.scenario import ScenarioError, apply_overrides, load, loads, parse_set

from .conftest import make

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[scenario]
name = "t"

[population]
lots = 3
bidders = 2

[[mechanism]]
name = "english"
mode = "english"
params = { increment = 0.01 }

[[mechanism]]
name = "sp"
mode = "sealed"
params = { price_rule = "second" }
"""


def test_every_shipped_scenario_loads() -> None:
    files = sorted((REPO / "scenarios").rglob("*.toml"))
    assert len(files) >= 4
    for f in files:
        sc = load(f)
        assert sc.mechanisms, f


def test_defaults_are_filled() -> None:
    sc = loads(GOOD)
    d = sc.data
    assert d["values"]["bidder"] == {"dist": "uniform", "low": 0.0, "high": 1.0}
    assert d["strategy"] == [{"share": 1.0, "name": "bne", "version": 1, "params": {}}]
    assert d["population"]["arrival"] == {"process": "scheduled", "lots": 3, "every_ms": 0}
    assert d["scenario"]["start"] == 1_609_722_000_000  # 2021-01-04 09:00 +08:00
    assert len(sc.hash) == 64


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads(text, file="x.toml")
    return info.value


def test_unknown_rule_parameter_names_path_file_and_line() -> None:
    err = _error(GOOD.replace("increment = 0.01", "incremnt = 0.01"))
    assert err.path == "mechanism[0].params.incremnt" and err.file == "x.toml" and err.line == 12
    assert str(err).startswith("x.toml:12: mechanism[0].params.incremnt: unknown rule parameter 'incremnt'")


def test_wrong_types_and_values() -> None:
    err = _error(GOOD.replace("bidders = 2", 'bidders = "two"'))
    assert err.path == "population.bidders" and err.line == 7
    err = _error(GOOD.replace('price_rule = "second"', 'price_rule = "third"'))
    assert err.path == "mechanism[1].params" and "price_rule" in err.message and err.line == 17
    err = _error(GOOD.replace("increment = 0.01", "increment = -1"))
    assert "non-negative" in err.message
    text = GOOD + '\n[values]\ndist = "lognormal"\nsigma = -1\n'
    err = _error(text)
    assert err.path == "values.sigma" and err.line == _line(text, "sigma = -1")
    err = _error(GOOD.replace('name = "t"', 'name = "t"\ncolour = 1'))
    assert err.path == "scenario.colour" and err.line == 4


def test_engine_checks_run_at_load_time() -> None:
    err = _error(GOOD.replace("increment = 0.01", "increment = 0.01, free_ms = -5"))
    assert err.path == "mechanism[0].params" and "free_ms" in err.message


def test_missing_and_conflicting() -> None:
    assert "at least one [[mechanism]]" in str(_error('[scenario]\nname = "t"\n'))
    err = _error(
        GOOD.replace(
            "params = { increment = 0.01 }", "params = { increment = 0.01, reserve = 0.2 }\nseller = { reserve = 0.3 }"
        )
    )
    assert "either params.reserve or seller.reserve" in err.message
    assert "only for mode = 'agreement'" in str(
        _error(GOOD.replace('mode = "english"', 'mode = "english"\nnegotiation = { model = "nash" }'))
    )
    assert "not valid TOML" in str(_error("[scenario\n"))


def test_bne_needs_independent_private_values() -> None:
    text = GOOD + '\n[values]\ndist = "uniform"\ncommon = { kind = "additive", weight = 0.5 }\n'
    assert "independent private values" in str(_error(text))
    assert loads(text + '\n[strategy]\nname = "truthful"\n')


def test_empirical_csv_is_embedded(tmp_path: Path) -> None:
    (tmp_path / "v.csv").write_text("value\n0.1\n0.4\n0.9\n")
    f = tmp_path / "s.toml"
    f.write_text(GOOD + '\n[values]\ndist = "empirical"\nfile = "v.csv"\ncolumn = "value"\n')
    sc = load(f)
    assert sc.data["values"]["bidder"]["data"] == [0.1, 0.4, 0.9]
    (tmp_path / "v.csv").unlink()
    again = apply_overrides(sc, {"population.lots": 5})  # the data travels with the scenario
    assert again.data["values"]["bidder"]["data"] == [0.1, 0.4, 0.9]
    bad = tmp_path / "b.toml"
    bad.write_text(GOOD + '\n[values]\ndist = "empirical"\nfile = "missing.csv"\n')
    with pytest.raises(ScenarioError, match=rf"b.toml:{_line(bad.read_text(), 'missing.csv')}: values.file: cannot"):
        load(bad)


def test_overrides_and_set_parsing() -> None:
    assert parse_set("population.bidders=2,3,5") == ("population.bidders", [2, 3, 5])
    assert parse_set("mechanism.*.params.price_rule=first,second") == (
        "mechanism.*.params.price_rule",
        ["first", "second"],
    )
    assert parse_set("x=[1, 2],{a = 1}") == ("x", [[1, 2], {"a": 1}])
    sc = make()
    a = apply_overrides(sc, {"mechanism.english.params.increment": 0.01, "population.bidders": 6})
    assert a.data["mechanisms"][0]["options"][0]["params"]["increment"] == 0.01
    assert a.data["population"]["bidders"]["n"] == 6
    b = apply_overrides(sc, {"mechanism.*.params.countdown_ms": 1000}) if False else None
    assert b is None
    with pytest.raises(ScenarioError, match="no mechanism named 'dutch'"):
        apply_overrides(sc, {"mechanism.dutch.params.step": 1})
    with pytest.raises(ScenarioError, match=r"population.bidders: must be at least 1 \(with --set"):
        apply_overrides(sc, {"population.bidders": 0})
    assert apply_overrides(sc, {}).data == sc.data  # the TOML round trip is lossless
