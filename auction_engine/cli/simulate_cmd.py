"""`auction-engine simulate` and `auction-engine sweep`: run a scenario's experiment into a directory.

    auction-engine simulate SCENARIO --runs N --seed S --out DIR [--workers K] [--executor serial|process|dask|ray]
    auction-engine sweep SCENARIO --set PARAM=V1,V2,... [--set ...] --runs N --seed S --out DIR [--executor ...]

Both write DIR/results.csv and .parquet, summary.json, manifest.json, report.md with plots, the
first run's ledger per mechanism (all of them with --all-ledgers) and runs.jsonl, which makes a
re-run of the same command resume where it stopped. Exit codes: 0 done, 2 bad usage or an
invalid scenario (the message names the file, line and key), 1 a run failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import EXIT_FAILED, EXIT_UNREADABLE

__all__ = ["simulate", "sweep"]

_EXECUTORS = click.Choice(["serial", "process", "dask", "ray"])


def _common(fn: Any) -> Any:
    options = [
        click.argument("scenario", type=click.Path(dir_okay=False)),
        click.option(
            "--runs",
            type=click.IntRange(min=1),
            default=None,
            help="Replications per cell and mechanism (default: the scenario's experiment.runs).",
        ),
        click.option(
            "--seed",
            type=click.IntRange(min=0),
            default=None,
            help="Root seed (default: the scenario's experiment.seed).",
        ),
        click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output directory."),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes for process/dask/ray (default: the CPU count).",
        ),
        click.option(
            "--executor",
            type=_EXECUTORS,
            default="serial",
            show_default=True,
            help="Who runs the runs; results are identical whichever.",
        ),
        click.option(
            "--address",
            default=None,
            help="dask: a scheduler address (tcp://host:8786); ray: a cluster address or 'auto'. "
            "Default: start a local cluster.",
        ),
        click.option("--all-ledgers", is_flag=True, help="Write every run's ledger, not only the first's."),
        click.option("--no-report", is_flag=True, help="Skip report.md and its plots."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run(
    command: str,
    scenario_path: str,
    sets: tuple[str, ...],
    *,
    runs: int | None,
    seed: int | None,
    out: str,
    workers: int | None,
    executor: str,
    address: str | None,
    all_ledgers: bool,
    no_report: bool,
    quiet: bool,
) -> None:
    """What `simulate` and `sweep` do (`command`), with the options `_common` declares."""
    from ..sim.executors import ExecutorUnavailable
    from ..sim.experiment import Experiment, check_sweep, plan
    from ..sim.scenario import ScenarioError, apply_overrides, load, parse_set

    try:
        scenario = load(scenario_path)
        parsed = [parse_set(s) for s in sets]
        if command == "simulate" and parsed:  # one value each: a variant of the scenario (e.g. a quick cut)
            many = [path for path, values in parsed if len(values) != 1]
            if many:
                raise ScenarioError(many[0], "simulate --set takes one value; use `auction-engine sweep` for several")
            scenario = apply_overrides(scenario, {path: values[0] for path, values in parsed})
        sweep = check_sweep(scenario, parsed) if command == "sweep" else {}
        if command == "simulate" and scenario.data["sweep"]:
            click.echo(
                f"note: {scenario_path} has a [sweep]; `simulate` runs the base scenario "
                "(use `auction-engine sweep` to run the sweep)",
                err=True,
            )
        runs = runs or int(scenario.data["experiment"]["runs"])
        seed = int(scenario.data["experiment"]["seed"]) if seed is None else seed
        ledgers = "all" if all_ledgers else str(scenario.data["experiment"]["ledger"])
        specs = plan(scenario, runs, seed, sweep, ledgers=ledgers)
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    if command == "sweep" and not sweep:
        click.echo("error: sweep needs --set PARAM=V1,V2,... (or a [sweep] table in the scenario)", err=True)
        sys.exit(EXIT_UNREADABLE)
    experiment = Experiment(scenario, Path(out), specs, command=command, sweep=sweep, executor=executor)
    try:
        if quiet:
            ran = experiment.execute(executor, workers, address)
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            ) as bar:
                task = bar.add_task(f"{scenario.name} ({executor})", total=len(specs))

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                ran = experiment.execute(executor, workers, address, progress)
    except ExecutorUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    except Exception as exc:  # a run failed: keep what finished (resumable), say which
        click.echo(f"error: a run failed: {type(exc).__name__}: {exc}", err=True)
        click.echo(f"finished runs are kept in {out}/runs.jsonl; re-run the same command to resume", err=True)
        sys.exit(EXIT_FAILED)
    summary = experiment.finish(report=not no_report)
    resumed = len(specs) - ran
    click.echo(f"{len(specs)} runs ({ran} run now{f', {resumed} resumed' if resumed else ''}) → {out}/")
    for group in summary["groups"]:
        rev = group["metrics"].get("revenue", {})
        eff = group["metrics"].get("efficiency", {})
        if rev.get("mean") is None:
            continue
        cell = "" if group["cell"] == "base" else f"[{group['cell']}] "
        se = f" ± {rev['se']:.4g}" if rev.get("se") is not None else ""
        eff_text = f", efficiency {eff['mean']:.4g}" if eff.get("mean") is not None else ""
        click.echo(f"  {cell}{group['mechanism']}: revenue {rev['mean']:.4g}{se}{eff_text}")


@click.command()
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PARAM=VALUE",
    help="Override one scenario key for this run, e.g. population.arrival.days=55 (a quick cut).",
)
@_common
def simulate(scenario: str, sets: tuple[str, ...], **options: Any) -> None:
    """Run SCENARIO's mechanisms side by side on common random numbers; write tables, summary and report to OUT."""
    _run("simulate", scenario, sets, **options)


@click.command()
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PARAM=V1,V2,...",
    help="Sweep a parameter (a dotted key path of the scenario, e.g. population.bidders=2,3,5 or "
    "mechanism.english.seller.reserve.value=0,0.25,0.5; `*` for every mechanism). Repeat for a grid.",
)
@_common
def sweep(scenario: str, sets: tuple[str, ...], **options: Any) -> None:
    """Run SCENARIO over a grid of parameter values (resumable); write tables, summary and report to OUT."""
    _run("sweep", scenario, sets, **options)
