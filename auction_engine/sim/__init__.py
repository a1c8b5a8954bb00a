"""The research simulator: scenarios (TOML data) → agents driving the real engine → metrics and reports.

Modules, one job each: `scenario` (load and validate TOML), `values` (distributions and the
common random numbers of a run), `strategies` (named, versioned bidder strategies and equilibrium
bid functions), `negotiation` (bargaining models for agreement pricing), `seller` (how a seller
chooses a lot's mode by rule, price-rule noise, the rule's records), `mechanism` (seller
rules → a lot's rule parameters in fen), `agents` (scheduled participants submitting
commands to an `Engine`), `metrics` (rows and summaries), `experiment` (run specs, the pure
`run(spec)`, the resumable output directory), `executors` (serial, process, Dask, Ray) and
`report` (Markdown with plots). The command line is `auction-engine simulate` / `sweep`.
"""

from __future__ import annotations

from .experiment import Experiment, RunResult, RunSpec, plan, run
from .scenario import Scenario, ScenarioError, apply_overrides, load, loads

__all__ = [
    "Experiment",
    "RunResult",
    "RunSpec",
    "Scenario",
    "ScenarioError",
    "apply_overrides",
    "load",
    "loads",
    "plan",
    "run",
]
