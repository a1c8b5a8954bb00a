"""The pages' money arithmetic, run in Node.js on the pages' own common.js: typed yuan become fen exactly.

`AE.parseYuan` reads what a person typed ("12500", "12,500.5", "¥12 500", "1.25万") as fen with integer
arithmetic only; `AE.yuan` and `AE.plainYuan` write fen back. Hypothesis draws amounts and spellings; the
reference is Python's `Decimal`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.model import yuan
from auction_engine.server import i18n

COMMON = Path(__file__).resolve().parents[2] / "auction_engine" / "server" / "pages" / "common.js"
HARNESS = """
const fs = require("fs");
const messages = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
globalThis.document = {
  getElementById: (id) => (id === "ae-i18n" ? { textContent: JSON.stringify(messages) } : null),
  documentElement: { lang: "en", dataset: { timezone: "Asia/Shanghai" } },
  querySelectorAll: () => [],
};
globalThis.location = { search: "" };
eval(fs.readFileSync(process.argv[2], "utf8") + "; globalThis.AE = AE;");
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const out = cases.map(([op, value]) => op === "parse" ? AE.parseYuan(value, true)
  : op === "yuan" ? AE.yuan(value) : AE.plainYuan(value));
process.stdout.write(JSON.stringify(out));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the pages' amount arithmetic is checked with node")
    return node


def _run(cases: list[tuple[str, object]], tmp_path: Path) -> list[object]:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(i18n.catalogue("en")))
    done = subprocess.run(
        [_node(), str(harness), str(COMMON), str(messages)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("13000", 1_300_000),
        ("13,000.50", 1_300_050),
        ("¥13 000.5", 1_300_050),
        ("￥13，000", 1_300_000),
        ("1.3万", 1_300_000),
        ("1.25万元", 1_250_000),
        ("0.000001万", 1),
        ("620000元", 62_000_000),
        ("0.01", 1),
        ("10.", 1_000),
    ],
)
def test_typed_yuan_are_read_as_exact_fen(typed: str, fen: int, tmp_path: Path) -> None:
    assert _run([("parse", typed)], tmp_path) == [{"fen": fen}]


@pytest.mark.parametrize(
    "typed", ["", "abc", "1.234", "1e3", "-5", "0x10", "1.0000001万", "12.5.1", "10000000000000.01"]
)
def test_what_is_not_an_amount_is_refused_in_words(typed: str, tmp_path: Path) -> None:
    (answer,) = _run([("parse", typed)], tmp_path)
    assert isinstance(answer, dict) and "fen" not in answer and answer["error"], answer


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**13), st.sampled_from(["plain", "comma", "wan", "yen"])), min_size=1, max_size=40
    )
)
def test_any_amount_written_any_way_reads_back_to_its_fen(amounts: list[tuple[int, str]]) -> None:
    import tempfile

    cases: list[tuple[str, object]] = []
    for fen, style in amounts:
        text = str(Decimal(fen) / 100)
        if style == "comma":
            whole, _, frac = text.partition(".")
            text = f"{int(whole):,}" + (f".{frac}" if frac else "")
        elif style == "wan":
            text = f"{Decimal(fen) / 1_000_000}万"
        elif style == "yen":
            text = "¥" + text
        cases += [("parse", text), ("yuan", fen), ("plain", fen)]
    with tempfile.TemporaryDirectory() as tmp:
        out = _run(cases, Path(tmp))
    for i, (fen, _style) in enumerate(amounts):
        parsed, shown, plain = out[3 * i : 3 * i + 3]
        assert parsed == {"fen": fen}, (cases[3 * i], parsed)
        assert shown == yuan(fen), (fen, shown)  # the same text as the rules' own messages
        assert Decimal(str(plain)) * 100 == fen  # what a person would type back
