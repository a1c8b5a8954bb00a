"""docs/researcher.md stays true: its first scenario runs as written, and its reference covers every key."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.sim.scenario import loads
from auction_engine.sim.strategies import STRATEGIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "researcher.md"


def test_first_scenario_runs(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    toml = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    loads(toml)
    (tmp_path / "first.toml").write_text(toml)
    res = CliRunner().invoke(
        main,
        [
            "simulate",
            str(tmp_path / "first.toml"),
            "--runs",
            "2",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "out"),
            "-q",
            "--no-report",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "english: revenue" in res.output and "vickrey: revenue" in res.output


def test_reference_names_every_strategy_and_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, versions in STRATEGIES.items():
        for version in versions:
            assert f"`{name}@{version}`" in text, name
    for table in (
        "[scenario]",
        "[experiment]",
        "[sweep]",
        "[market]",
        "[[submarket]]",
        "[population]",
        "[values]",
        "[strategy]",
        "[settlement]",
        "[behaviour]",
        "[[mechanism]]",
        "[[mechanism.option]]",
    ):
        assert table in text, table
