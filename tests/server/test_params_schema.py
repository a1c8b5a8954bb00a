"""`GET /api/params-schema`: every parameter of every mode and of settlement, with its kind, default and bounds."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from auction_engine.model import MAX_INT, Ms, Rejected
from auction_engine.params import SettlementParams, from_dict
from auction_engine.rules import MODES
from auction_engine.server.routes import params_schema
from auction_engine.server.routes.params_schema import SchemaError, describe_class, schema

from .conftest import Market, make_app

CLASSES: dict[str, type] = {**{name: mode.params for name, mode in MODES.items()}, "settlement": SettlementParams}

# Every field's kind, written by hand: the schema derives them from the annotations and names.
KINDS: dict[str, dict[str, str]] = {
    "english": {
        "start_price": "money",
        "increment": "money",
        "reserve": "money",
        "free_ms": "duration",
        "countdown_ms": "duration",
        "max_extensions": "integer",
        "hard_close_ms": "duration",
        "proxy": "boolean",
        "leader_may_raise": "boolean",
    },
    "dutch": {"start_price": "money", "step": "money", "floor": "money", "step_ms": "duration", "wait_ms": "duration"},
    "sealed": {
        "price_rule": "choice",
        "min_price": "money",
        "reserve": "money",
        "bid_ms": "duration",
        "reveal_ms": "duration",
        "unrevealed": "choice",
        "min_nonce_bytes": "integer",
    },
    "listing": {
        "list_price": "money",
        "listing_working_days": "integer",
        "approval_floor_bp": "basis_points",
        "on_no_buyer": "choice",
        "extend_working_days": "integer",
        "relist_price_bp": "basis_points",
        "max_rounds": "integer",
        "auction_increment": "money",
        "auction_increment_bp": "basis_points",
        "auction_free_ms": "duration",
        "auction_countdown_ms": "duration",
    },
    "agreement": {
        "price": "money",
        "buyer": "text",
        "notice_days": "integer",
        "competing_offers": "boolean",
        "competing_min_premium_bp": "basis_points",
        "auction_increment": "money",
        "auction_increment_bp": "basis_points",
        "auction_free_ms": "duration",
        "auction_countdown_ms": "duration",
    },
    "settlement": {
        "deposit": "money",
        "deposit_bp": "basis_points",
        "refund_working_days": "integer",
        "publication_working_days": "integer",
        "payment_working_days": "integer",
        "require_confirmation": "boolean",
        "operator_may_close": "boolean",
        "require_signed_bids": "boolean",
        "instalments": "boolean",
        "min_down_payment_bp": "basis_points",
        "max_instalment_days": "integer",
        "second_chance": "boolean",
        "second_chance_offers": "integer",
        "second_chance_working_days": "integer",
        "institutional": "boolean",
        "inventor_share_bp": "basis_points",
        "transfer_staff_bp": "basis_points",
        "fee_bp": "basis_points",
        "utc_offset_ms": "duration",
        "holidays": "dates",
        "workdays": "dates",
    },
}


def _described(which: str) -> list[dict[str, Any]]:
    doc = schema()
    return doc["settlement"]["fields"] if which == "settlement" else doc["modes"][which]["fields"]


def _baseline(cls: type) -> dict[str, Any]:
    """Values for the required fields of `cls` that its check() accepts."""
    out: dict[str, Any] = {}
    for field in describe_class(cls):
        if field["required"]:
            out[field["name"]] = {"money": 1_000_000, "text": "acme"}.get(field["kind"]) or field.get("choices", [0])[0]
    from_dict(cls, out)  # valid
    return out


def test_the_hand_table_covers_every_mode() -> None:
    assert set(KINDS) == set(MODES) | {"settlement"}


@pytest.mark.parametrize("which", sorted(CLASSES))
def test_every_field_is_described_in_order_with_its_kind(which: str) -> None:
    fields = _described(which)
    assert [f["name"] for f in fields] == [f.name for f in dataclasses.fields(CLASSES[which])]
    assert {f["name"]: f["kind"] for f in fields} == KINDS[which]
    assert all(f["kind"] in params_schema.KINDS for f in fields)


@pytest.mark.parametrize("which", sorted(CLASSES))
def test_defaults_and_required_match_the_dataclass(which: str) -> None:
    cls = CLASSES[which]
    by_name = {f["name"]: f for f in _described(which)}
    for f in dataclasses.fields(cls):
        d = by_name[f.name]
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert d["required"] is (not has_default), f.name
        if f.default is not dataclasses.MISSING:
            expected = list(f.default) if isinstance(f.default, tuple) else f.default
            assert d["default"] == expected and type(d["default"]) is type(expected), f.name
        elif not has_default:
            assert d["default"] is None
    instance = from_dict(cls, _baseline(cls))  # a default instance agrees field by field
    for name, d in by_name.items():
        if not d["required"]:
            value = getattr(instance, name)
            assert d["default"] == (list(value) if isinstance(value, tuple) else value), name


@pytest.mark.parametrize("which", sorted(CLASSES))
def test_choices_nullable_and_bounds(which: str) -> None:
    cls = CLASSES[which]
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    for d in _described(which):
        assert d["nullable"] is ("None" in hints[d["name"]]), d["name"]
        if d["kind"] == "choice":
            assert d["choices"] and all(type(c) is str for c in d["choices"])
            assert d["default"] is None or d["default"] in d["choices"]
        else:
            assert "choices" not in d
        if d["kind"] in ("money", "duration", "basis_points", "integer"):
            assert -MAX_INT <= d["min"] <= d["max"] <= MAX_INT
            assert d["min"] >= 0 or d["name"] in params_schema.UNCHECKED_BOUNDS
            if d["default"] is not None:
                assert d["min"] <= d["default"] <= d["max"], d["name"]
            if d["kind"] == "basis_points" and d["max"] < MAX_INT:
                assert d["max"] == 10_000
        else:
            assert "min" not in d and "max" not in d


@pytest.mark.parametrize("which", sorted(CLASSES))
def test_every_bound_beyond_zero_is_one_the_rules_refuse_to_cross(which: str) -> None:
    """A bound other than ≥ 0 comes from the class's check(): one fen, millisecond or unit beyond is refused."""
    cls = CLASSES[which]
    base = _baseline(cls)
    probed = 0
    for d in _described(which):
        if "min" not in d or d["name"] in params_schema.UNCHECKED_BOUNDS:
            continue
        if d["min"] > 0:
            with pytest.raises(Rejected, match=d["name"]):
                from_dict(cls, {**base, d["name"]: d["min"] - 1})
            probed += 1
        if d["max"] < MAX_INT:
            with pytest.raises(Rejected, match=d["name"]):
                from_dict(cls, {**base, d["name"]: d["max"] + 1})
            probed += 1
    assert probed > 0


def test_the_bound_tables_name_real_fields() -> None:
    names = {f.name for cls in CLASSES.values() for f in dataclasses.fields(cls)}
    assert set(params_schema._BOUNDS) <= names
    for cls_name, name in params_schema._CLASS_BOUNDS:
        cls = next(c for c in CLASSES.values() if c.__name__ == cls_name)
        assert name in {f.name for f in dataclasses.fields(cls)}


def test_the_endpoint_is_public_and_describes_every_mode(market: Market) -> None:
    r = market.client.get("/api/params-schema")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["modes"]) == set(MODES)
    assert body["settlement"] == schema()["settlement"] and body["modes"] == schema()["modes"]
    assert body["market"] == {}
    assert body["modes"]["agreement"]["closable"] is False
    assert body["modes"]["listing"]["operator_commands"] == ["approve_relist", "relist"]
    assert body["modes"]["agreement"]["operator_commands"] == ["resolve_objection"]


def test_one_mode_and_an_unknown_mode(market: Market) -> None:
    r = market.client.get("/api/params-schema/sealed")
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "sealed" and body["fields"] == schema()["modes"]["sealed"]["fields"]
    assert body["settlement"] == schema()["settlement"]
    r = market.client.get("/api/params-schema/vickrey")
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_mode" and r.json()["field"] == "mode"
    assert "english" in r.json()["message"]
    assert market.client.get("/api/params-schema/English!").status_code == 422


def test_the_market_wide_values_are_the_layer_below(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    app = make_app(tmp_path / "l.db", params={"countdown_ms": 120_000, "fee_bp": 500})
    with TestClient(app) as client:
        body = client.get("/api/params-schema").json()
    assert body["market"] == {"countdown_ms": 120_000, "fee_bp": 500}


def test_a_field_whose_name_and_unit_disagree_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Wait:
        wait: Ms = 0

    @dataclasses.dataclass(frozen=True)
    class Count:
        wait_ms: int = 0

    @dataclasses.dataclass(frozen=True)
    class Other:
        table: dict[str, int] = dataclasses.field(default_factory=dict)

    for cls, words in ((Wait, "disagree"), (Count, "disagree"), (Other, "no form kind")):
        with pytest.raises(SchemaError, match=words):
            describe_class(cls)


def test_a_class_with_evaluated_annotations_is_read_from_its_source(tmp_path: Path) -> None:
    """Without `from __future__ import annotations` a field's type is `int`: the source still says `Fen`."""
    source = (
        "import dataclasses\n"
        "from auction_engine.model import BasisPoints, Fen, Ms\n\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class Evaluated:\n"
        "    price: Fen\n"
        "    rounds: int = 2\n"
        "    wait_ms: Ms = 5\n"
        "    share_bp: BasisPoints = 10\n"
        "    reserve: Fen | None = None\n"
    )
    path = tmp_path / "evaluated_params.py"
    path.write_text(source, "utf-8")
    spec = importlib.util.spec_from_file_location("evaluated_params", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluated_params"] = module
    try:
        spec.loader.exec_module(module)
        cls = module.Evaluated
        assert dataclasses.fields(cls)[0].type is int
        kinds = {f["name"]: f["kind"] for f in describe_class(cls)}
    finally:
        del sys.modules["evaluated_params"]
    assert kinds == {
        "price": "money",
        "rounds": "integer",
        "wait_ms": "duration",
        "share_bp": "basis_points",
        "reserve": "money",
    }
