"""Run specs are pure: same spec, same row and ledger head; CRN, resumability, executors, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.sim.experiment import Experiment, RunSpec, plan, run

from .conftest import make

SMALL = """
[scenario]
name = "cli-test"
description = "a tiny comparison for the CLI tests"

[experiment]
runs = 3
seed = 5

[market]
params = { deposit = 0 }

[population]
lots = 6
bidders = 3

[[mechanism]]
name = "english"
mode = "english"
params = { increment = 0.001, free_ms = 60_000, countdown_ms = 60_000 }

[[mechanism]]
name = "first-price"
mode = "sealed"
params = { price_rule = "first", bid_ms = 60_000, reveal_ms = 60_000 }
"""


def test_same_spec_same_row_and_ledger_head() -> None:
    sc = make()
    spec = plan(sc, 2, 9)[3]
    a, b = run(spec), run(spec)
    assert a.row == b.row and a.row["ledger_root"] and len(a.row["ledger_root"]) == 64
    other = run(replace(spec, seed=10))
    assert other.row["ledger_root"] != a.row["ledger_root"]
    assert spec.key == replace(spec, detail=True, keep_ledger=True).key  # flags for output only do not change it


def test_common_random_numbers_across_mechanisms_and_cells() -> None:
    sc = make()
    specs = plan(sc, 1, 3)
    values = [run(s, keep_records=True).records for s in specs]
    for ra, rb in zip(*values, strict=True):
        assert (ra.values == rb.values).all()
    cells = plan(sc, 1, 3, {"mechanism.english.params.increment": [0.001, 0.002]})
    by_cell = [run(s, keep_records=True).records for s in cells if s.mechanism == "english"]
    assert any((a.values != b.values).any() for a, b in zip(*by_cell, strict=True))  # crn = "cell": fresh draws
    sweep_sc = make(experiment={"runs": 1, "seed": 1, "crn": "sweep"})
    cells = plan(sweep_sc, 1, 3, {"mechanism.english.params.increment": [0.001, 0.002]})
    by_cell = [run(s, keep_records=True).records for s in cells if s.mechanism == "english"]
    assert all((a.values == b.values).all() for a, b in zip(*by_cell, strict=True))  # crn = "sweep": shared


def _experiment(tmp: Path, sc, runs: int = 3) -> Experiment:
    return Experiment(
        sc,
        tmp,
        plan(sc, runs, 4, {"population.bidders": [2, 3]}),
        command="sweep",
        sweep={"population.bidders": [2, 3]},
    )


def test_resume_gives_the_same_tables(tmp_path: Path) -> None:
    sc = make(population={"lots": 5, "bidders": 2})
    full = _experiment(tmp_path / "full", sc)
    full.execute()
    full.finish(report=False)
    part = _experiment(tmp_path / "part", sc)
    first = part.pending()[:5]
    for spec in first:
        part.record(run(spec))
    with (part.store).open("a") as f:
        f.write('{"key": "torn')  # a crash mid-line
    again = _experiment(tmp_path / "part", sc)
    assert len(again.pending()) == len(again.specs) - 5
    assert again.execute() == len(again.specs) - 5
    again.finish(report=False)
    a = (tmp_path / "full" / "results.csv").read_text()
    b = (tmp_path / "part" / "results.csv").read_text()
    assert a == b


def test_process_executor_matches_serial(tmp_path: Path) -> None:
    sc = make(population={"lots": 5, "bidders": 3})
    serial = _experiment(tmp_path / "serial", sc, runs=2)
    serial.execute("serial")
    serial.finish(report=False)
    pool = _experiment(tmp_path / "pool", sc, runs=2)
    pool.execute("process", workers=2)
    pool.finish(report=False)
    assert (tmp_path / "serial" / "results.csv").read_text() == (tmp_path / "pool" / "results.csv").read_text()
    roots = pd.read_csv(tmp_path / "pool" / "results.csv")["ledger_root"]
    assert roots.str.len().eq(64).all() and roots.nunique() == len(roots)


def test_cli_simulate_writes_everything_and_resumes(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", str(scenario), "--runs", "3", "--seed", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in (
        "results.csv",
        "results.parquet",
        "summary.json",
        "manifest.json",
        "report.md",
        "runs.jsonl",
        "plots/revenue.png",
        "plots/efficiency.png",
        "plots/price_paths.png",
        "plots/bid_timing.png",
        "ledgers/english_r0.db",
        "ledgers/english_r0.vkey",
        "ledgers/first-price_r0.db",
    ):
        assert (out / name).exists(), name
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) == 6 and set(frame["mechanism"]) == {"english", "first-price"}
    summary = json.loads((out / "summary.json").read_text())
    group = summary["groups"][0]
    assert set(group["metrics"]["revenue"]) == {"n", "mean", "sd", "se", "ci95"}
    assert summary["groups"][1]["versus"]["mechanism"] == "english"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2 and manifest["strategies"]["english[0]"][0]["name"] == "bne"
    assert "git" in manifest["code_version"] or "package" in manifest["code_version"]
    verify = runner.invoke(
        main, ["ledger", "verify", str(out / "ledgers/english_r0.db"), "--vkey", str(out / "ledgers/english_r0.vkey")]
    )
    assert verify.exit_code == 0, verify.output
    again = runner.invoke(main, ["simulate", str(scenario), "--runs", "3", "--seed", "2", "--out", str(out), "-q"])
    assert again.exit_code == 0 and "0 run now, 6 resumed" in again.output
    assert pd.read_csv(out / "results.csv").equals(pd.read_csv(out / "results.csv"))


def test_cli_sweep_and_errors(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "sw"
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "sweep",
            str(scenario),
            "--set",
            "population.bidders=2,4",
            "--set",
            "mechanism.english.params.increment=0.001,0.01",
            "--runs",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 2 * 2 * 2 * 2 and {"cell.population.bidders"} <= set(frame.columns)
    assert (out / "plots" / "sweep_revenue.png").exists()
    bad = runner.invoke(
        main, ["sweep", str(scenario), "--set", "population.bidders=0", "--runs", "1", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "population.bidders: must be at least 1" in bad.output
    scenario.write_text(SMALL.replace("increment = 0.001", "incremnt = 0.001"))
    bad = runner.invoke(main, ["simulate", str(scenario), "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2
    assert "s.toml:20: mechanism[0].params.incremnt: unknown rule parameter" in bad.output
    nosweep = runner.invoke(main, ["sweep", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "z")])
    assert nosweep.exit_code == 2 and "cannot read" in nosweep.output


@pytest.mark.parametrize("executor", ["dask"])
def test_distributed_executor_matches_serial(tmp_path: Path, executor: str) -> None:
    pytest.importorskip("distributed")
    sc = make(population={"lots": 5, "bidders": 3})
    serial = _experiment(tmp_path / "serial", sc, runs=2)
    serial.execute("serial")
    serial.finish(report=False)
    cluster = _experiment(tmp_path / executor, sc, runs=2)
    cluster.execute(executor, workers=2)
    cluster.finish(report=False)
    assert (tmp_path / "serial" / "results.csv").read_text() == (tmp_path / executor / "results.csv").read_text()


@pytest.mark.slow
def test_ray_executor_matches_serial(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is the optional `ray` extra: `make soak` installs it (pip install '.[ray]')")
    sc = make(population={"lots": 5, "bidders": 3})
    serial = _experiment(tmp_path / "serial", sc, runs=2)
    serial.execute("serial")
    serial.finish(report=False)
    cluster = _experiment(tmp_path / "ray", sc, runs=2)
    cluster.execute("ray", workers=2)
    cluster.finish(report=False)
    assert (tmp_path / "serial" / "results.csv").read_text() == (tmp_path / "ray" / "results.csv").read_text()


def test_run_spec_is_plain_data() -> None:
    spec = plan(make(), 1, 1)[0]
    assert isinstance(spec, RunSpec) and json.dumps(spec.scenario)
