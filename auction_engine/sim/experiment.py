"""Experiments: run specs (data) → result rows, and the resumable output directory around them.

Why: reproducibility at scale needs a run to be a pure function of a small piece of data. A
`RunSpec` is exactly that — the validated scenario with one sweep cell applied, one mechanism,
one replication and the root seed — and `run(spec)` is the one function every executor calls
(serial, process pool, Dask, Ray), so results cannot depend on who runs them or in what order.

Seeds (numpy SeedSequence, never the wall clock):
- the market's population (values, arrivals, lot draws, behaviour draws) comes from
  SeedSequence(seed, spawn_key=(crn cell, replication)); the crn cell is a hash of the sweep
  cell, or 0 when the scenario says `crn = "sweep"` (then every cell sees the same draws too);
  it does not depend on the mechanism, so every mechanism meets the same bidders (common
  random numbers);
- each mechanism's own randomness (zero-intelligence draws, sealed-bid nonces, reaction
  jitter) comes from SeedSequence(seed, spawn_key=(cell, replication, mechanism, 1));
- the ledger's Ed25519 signing key is 32 bytes of SeedSequence(seed, spawn_key=(cell,
  replication, mechanism, 2)), so a run's signed checkpoint is reproducible too.

A spec's `key` (SHA-256 of its canonical JSON plus the simulator version) names its result in
DIR/runs.jsonl; a re-run of the same command skips the keys already there (resume).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..model import MINUTE
from .agents import LotRecord, Market, collector_paused
from .metrics import METRICS, run_row, summarise
from .scenario import Scenario, apply_overrides, canonical_json
from .seller import describe as describe_seller
from .strategies import describe as describe_strategies
from .values import draw_population

__all__ = [
    "SIM_VERSION",
    "Experiment",
    "RunResult",
    "RunSpec",
    "plan",
    "run",
    "run_batch",
]

SIM_VERSION = "3"
"""Bumped whenever the simulator's behaviour changes for the same spec (invalidates resumed results)."""


def _word(text: str) -> int:
    """A stable 32-bit integer from text (for SeedSequence spawn keys)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class RunSpec:
    """One run as data: a scenario cell, a mechanism, a replication and the root seed."""

    scenario: dict[str, Any]  # validated data, the cell's overrides already applied
    cell: tuple[tuple[str, Any], ...]  # the sweep cell: ((path, value), ...), sorted; () without a sweep
    mechanism: str
    replication: int
    seed: int
    ledger: bool = True  # record the ledger (off: the engine only counts entries; for benchmarks)
    keep_ledger: bool = False  # return the ledger's entries (to write them to disk)
    detail: bool = False  # return price paths and bid timing (for the report)

    @property
    def cell_id(self) -> str:
        """A readable, stable name of the cell: 'path=value,path=value' (or 'base')."""
        return ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in self.cell) or "base"

    @cached_property
    def key(self) -> str:
        body = {
            "sim": SIM_VERSION,
            "version": __version__,
            "scenario": self.scenario,
            "cell": [list(c) for c in self.cell],
            "mechanism": self.mechanism,
            "replication": self.replication,
            "seed": self.seed,
            "ledger": self.ledger,
        }
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()

    def seeds(self) -> tuple[np.random.SeedSequence, np.random.SeedSequence, bytes]:
        """(population seed, mechanism seed, 32-byte ledger signing seed)."""
        cell = _word(self.cell_id)
        crn = 0 if self.scenario["experiment"]["crn"] == "sweep" else cell
        mech = _word(self.mechanism)
        population = np.random.SeedSequence(self.seed, spawn_key=(crn, self.replication))
        behaviour = np.random.SeedSequence(self.seed, spawn_key=(cell, self.replication, mech, 1))
        signing = np.random.SeedSequence(self.seed, spawn_key=(cell, self.replication, mech, 2))
        return population, behaviour, signing.generate_state(8, np.uint32).tobytes()


@dataclass
class RunResult:
    """What a run returns: its key, its result row, and optionally its ledger and details."""

    key: str
    row: dict[str, Any]
    ledger: dict[str, Any] | None = None  # {"origin", "vkey", "rows": [(seq, data, leaf)], "checkpoints": [...]}
    detail: dict[str, Any] | None = None
    records: list[LotRecord] = field(default_factory=list)


def run(spec: RunSpec, keep_records: bool = False) -> RunResult:
    """Simulate one run; the same spec gives the same result anywhere (the pure function executors call)."""
    with collector_paused():  # see agents.collector_paused; the run's objects are freed by `Market.close`
        return _run(spec, keep_records)


def _run(spec: RunSpec, keep_records: bool) -> RunResult:
    from ledger import CheckpointPolicy, Log, MemoryStore, Signer

    data = spec.scenario
    mechanism = next(m for m in data["mechanisms"] if m["name"] == spec.mechanism)
    pop_seq, beh_seq, key_seed = spec.seeds()
    pop = draw_population(data, pop_seq)
    rng = np.random.Generator(np.random.PCG64(beh_seq))
    log = None
    signer = None
    if spec.ledger:
        signer = Signer(data["scenario"]["market"], key_seed)
        log = Log(MemoryStore(), signer, policy=CheckpointPolicy(None, None))
    market = Market(data, mechanism, pop, rng, log, detail=spec.detail)
    market.run()
    modes = sorted({o["mode"] for o in mechanism["options"]})
    row: dict[str, Any] = {
        "scenario": data["scenario"]["name"],
        "cell": spec.cell_id,
        "cell_values": {k: v for k, v in spec.cell},
        "mechanism": spec.mechanism,
        "replication": spec.replication,
        "seed": spec.seed,
        "key": spec.key,
    }
    row.update(run_row(market.records, float(data["scenario"]["scale"]), market.settle, modes))
    row["sim_end_h"] = (market.now - int(data["scenario"]["start"])) / 3_600_000
    ledger_out = None
    if log is not None and signer is not None:
        note = log.sign_checkpoint(market.now)
        log.commit()
        row["ledger_size"] = log.size
        row["ledger_root"] = log.tree.root(log.size).hex()
        if spec.keep_ledger:
            ledger_out = {
                "origin": log.origin,
                "vkey": signer.verifier.encode(),
                "rows": [tuple(r) for r in log.store.rows()],
                "checkpoints": [tuple(c) for c in log.store.checkpoints()],
                "note": note,
            }
    else:
        row["ledger_size"] = market.engine.recorder.size
        row["ledger_root"] = ""
    detail = _detail(market.records, float(data["scenario"]["scale"])) if spec.detail else None
    market.close()
    return RunResult(spec.key, row, ledger_out, detail, market.records if keep_records else [])


def run_batch(specs: Sequence[RunSpec]) -> list[RunResult]:
    """Run several specs in order (one task for a worker: amortises scheduling overhead)."""
    return [run(s) for s in specs]


def _detail(records: Sequence[LotRecord], scale: float) -> dict[str, Any]:
    """Price paths of the first lots with bidding, bid timing relative to the close, and bids against values."""
    paths = []
    timing: list[float] = []
    pairs: list[list[float]] = []
    for r in records:
        to_value = r.scale / r.unit
        if len(paths) < 12 and len(r.path) >= 2:
            t0 = r.path[0][0]  # from the first bid (a converted lot's auction starts long after it opened)
            paths.append(
                {"lot": r.lot, "mode": r.final_mode, "points": [[(t - t0) / MINUTE, p * to_value] for t, p in r.path]}
            )
        if r.close_t is not None:
            timing.extend((t - r.close_t) / 1000 for t in r.bid_times)
        pairs.extend([[float(v), float(a) * to_value] for v, a in r.bid_pairs])
    return {"paths": paths, "bid_timing_s": timing, "bids": pairs[:20_000]}


# -- planning -----------------------------------------------------------------------------------------


def cells_of(sweep: Mapping[str, Sequence[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    """The cartesian product of a sweep, each cell sorted by path (no sweep: one empty cell)."""
    if not sweep:
        return [()]
    keys = sorted(sweep)
    return [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*(sweep[k] for k in keys))]


def plan(
    scenario: Scenario,
    runs: int,
    seed: int,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    ledgers: str = "first",
    detail: bool = True,
    ledger_on: bool = True,
) -> list[RunSpec]:
    """Every run spec of an experiment, ordered by cell, replication, mechanism (validates each cell)."""
    specs = []
    for cell in cells_of(dict(sweep or {})):
        data = apply_overrides(scenario, dict(cell)).data if cell else scenario.data
        for rep in range(runs):
            for mech in data["mechanisms"]:
                keep = ledger_on and (ledgers == "all" or (ledgers == "first" and rep == 0))
                specs.append(
                    RunSpec(
                        data,
                        cell,
                        mech["name"],
                        rep,
                        seed,
                        ledger=ledger_on,
                        keep_ledger=keep,
                        detail=detail and rep == 0,
                    )
                )
    return specs


def code_version() -> dict[str, Any]:
    """The package and simulator versions, and the git commit (with a dirty flag) when available."""
    out: dict[str, Any] = {"package": __version__, "simulator": SIM_VERSION}
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if head.returncode == 0:
            out["git"] = head.stdout.strip()
            out["dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


# -- the output directory -----------------------------------------------------------------------------


class Experiment:
    """An experiment's output directory: resumable results, ledgers, tables, summary, manifest, report."""

    def __init__(
        self,
        scenario: Scenario,
        out: Path,
        specs: Sequence[RunSpec],
        *,
        command: str = "simulate",
        sweep: Mapping[str, Sequence[Any]] | None = None,
        executor: str = "serial",
    ) -> None:
        self.scenario = scenario
        self.out = Path(out)
        self.specs = list(specs)
        self.command = command
        self.sweep = dict(sweep or {})
        self.executor = executor
        self.rows: dict[str, dict[str, Any]] = {}
        self.details: dict[str, dict[str, Any]] = {}
        self._by_key = {s.key: s for s in self.specs}

    @property
    def store(self) -> Path:
        return self.out / "runs.jsonl"

    def load_done(self) -> set[str]:
        """Keys already in DIR/runs.jsonl (a torn last line is ignored)."""
        self.out.mkdir(parents=True, exist_ok=True)
        done: set[str] = set()
        if self.store.exists():
            for line in self.store.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.rows[item["key"]] = item["row"]
                if item.get("detail") is not None:
                    self.details[item["key"]] = item["detail"]
                done.add(item["key"])
        wanted = {s.key for s in self.specs}
        return done & wanted

    def pending(self) -> list[RunSpec]:
        done = self.load_done()
        return [s for s in self.specs if s.key not in done]

    def record(self, result: RunResult) -> None:
        """Store one result durably (its ledger first, then its line in runs.jsonl)."""
        spec = self._by_key.get(result.key)
        if result.ledger is not None and spec is not None:
            self._write_ledger(spec, result.ledger)
        with self.store.open("a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {"key": result.key, "row": _jsonable(result.row), "detail": result.detail}, ensure_ascii=False
                )
                + "\n"
            )
        self.rows[result.key] = result.row
        if result.detail is not None:
            self.details[result.key] = result.detail

    def _write_ledger(self, spec: RunSpec, ledger: dict[str, Any]) -> None:
        from ledger import SQLiteStore
        from ledger.store.base import Row, StoredCheckpoint

        directory = self.out / "ledgers"
        directory.mkdir(parents=True, exist_ok=True)
        stem = ledger_name(spec)
        db = directory / f"{stem}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        store = SQLiteStore(db)
        try:
            store.set_meta("origin", ledger["origin"])
            store.commit([Row(*r) for r in ledger["rows"]], [StoredCheckpoint(*c) for c in ledger["checkpoints"]])
        finally:
            store.close()
        (directory / f"{stem}.vkey").write_text(ledger["vkey"] + "\n", encoding="utf-8")

    def ordered_rows(self) -> list[dict[str, Any]]:
        """Rows in plan order (cell, replication, mechanism): independent of completion order."""
        return [self.rows[s.key] for s in self.specs if s.key in self.rows]

    def finish(self, report: bool = True) -> dict[str, Any]:
        """Write results.csv/.parquet, summary.json, manifest.json and the report; return the summary."""
        import pandas as pd

        rows = self.ordered_rows()
        flat = [
            {k: v for k, v in r.items() if k != "cell_values"} | {f"cell.{k}": v for k, v in r["cell_values"].items()}
            for r in rows
        ]
        frame = pd.DataFrame(flat)
        frame.to_csv(self.out / "results.csv", index=False)
        try:
            frame.to_parquet(self.out / "results.parquet", index=False)
        except (ImportError, ValueError) as exc:  # pragma: no cover - pyarrow missing
            (self.out / "results.parquet.txt").write_text(f"Parquet not written: {exc}\n")
        metrics = [m for m in METRICS if m in frame.columns] + sorted(
            c for c in frame.columns if c.startswith(("deals_", "revenue_yuan_")) or c == "focal_surplus"
        )
        summary = {
            "scenario": self.scenario.name,
            "metrics": {m: METRICS.get(m, "") for m in metrics},
            "groups": summarise(rows, metrics),
        }
        (self.out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False) + "\n")
        manifest = self.manifest(len(rows))
        (self.out / "manifest.json").write_text(json.dumps(_jsonable(manifest), indent=2, ensure_ascii=False) + "\n")
        if report:
            from .report import write_report

            details = [self.details[s.key] for s in self.specs if s.key in self.details]
            detail_specs = [s for s in self.specs if s.key in self.details]
            write_report(self.out, self.scenario, frame, summary, manifest, details, detail_specs)
        return summary

    def manifest(self, completed: int) -> dict[str, Any]:
        specs = self.specs
        strategies = {}
        sellers = {}
        for s in specs[:1] or []:
            for mech in s.scenario["mechanisms"]:
                for i, o in enumerate(mech["options"]):
                    strategies[f"{mech['name']}[{i}]"] = o.get("strategy") or s.scenario["strategy"]
                sellers[mech["name"]] = describe_seller(mech)
        return {
            "command": self.command,
            "scenario": self.scenario.data,
            "scenario_file": self.scenario.file,
            "scenario_hash": self.scenario.hash,
            "seed": specs[0].seed if specs else None,
            "runs": max((s.replication for s in specs), default=-1) + 1,
            "sweep": self.sweep,
            "cells": sorted({s.cell_id for s in specs}, key=[s.cell_id for s in specs].index),
            "mechanisms": list(dict.fromkeys(s.mechanism for s in specs)),
            "specs": len(specs),
            "completed": completed,
            "executor": self.executor,
            "code_version": code_version(),
            "strategies": strategies,
            "strategy_catalogue": describe_strategies(),
            "seller_rules": sellers,
            "seeding": "population: SeedSequence(seed, spawn_key=(crn cell, replication)); mechanism: "
            "SeedSequence(seed, spawn_key=(cell, replication, mechanism, 1)); ledger key: (…, 2)",
        }

    def execute(
        self,
        executor: str = "serial",
        workers: int | None = None,
        address: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Run what is pending with `executor`; return how many runs were executed now."""
        from .executors import execute

        todo = self.pending()
        total = len(self.specs)
        done = total - len(todo)
        if progress:
            progress(done, total)
        for result in execute(todo, executor=executor, workers=workers, address=address):
            self.record(result)
            done += 1
            if progress:
                progress(done, total)
        return len(todo)


def ledger_name(spec: RunSpec) -> str:
    """File stem of a run's ledger: mechanism, cell (if any) and replication."""
    parts = [spec.mechanism]
    if spec.cell:
        parts.append("_".join(f"{k.split('.')[-1]}-{v}" for k, v in spec.cell))
    parts.append(f"r{spec.replication}")
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in "_".join(parts))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, bytes):
        return value.hex()
    return value


def check_sweep(scenario: Scenario, sets: Iterable[tuple[str, list[Any]]]) -> dict[str, list[Any]]:
    """The scenario's own [sweep] with command-line sets added (a set replaces the same path)."""
    sweep = {k: list(v) for k, v in scenario.data.get("sweep", {}).items()}
    for path, values in sets:
        sweep[path] = values
    for path, values in sweep.items():  # validate each value alone, for an early and precise error
        for v in values:
            apply_overrides(scenario, {path: v})
    return sweep
