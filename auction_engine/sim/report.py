"""The readable report: DIR/report.md with PNG plots, from the tables the experiment wrote.

Why: a researcher should be able to open one file and see what was compared, how, and with what
uncertainty. Plots use matplotlib's Agg backend (no display needed): revenue and efficiency by
mechanism with 95% intervals, price paths and bid timing from the first run of each mechanism,
and, for a sweep, each key metric against the swept parameter with error bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_report"]

KEY_METRICS = (
    "revenue",
    "efficiency",
    "deal_rate",
    "bidder_surplus",
    "premium",
    "time_to_deal_h",
    "bids_per_lot",
    "extensions_per_lot",
    "discovery_error",
    "forfeited",
)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:,.0f}"
    return str(x)


def _premium_note(groups: Sequence[dict[str, Any]]) -> list[str]:
    """What the premium column is, when it is left blank, and which mechanisms it covers only in part.

    A ratio to an opening price the simulator filled in (a sealed lot's 1-fen minimum) would read as a
    premium of hundreds of thousands: the metric leaves such deals out (metrics.py), and this says so.
    """
    text = (
        "**premium**: price ÷ opening price − 1, over the deals whose opening price the seller set (starting, "
        "minimum, list or agreed price, or a sealed lot's reserve; ≤ 0 for a Dutch clock, which only falls). "
        "Deals at an opening price the simulator filled in to satisfy the rules — a sealed lot's 1-fen minimum, "
        "an English start of one increment, a Dutch start at the top of the value distribution — are left out, "
        "since a ratio to it means nothing; `–`: no deal had a seller's opening price."
    )
    partial = []
    for g in groups:
        share = g["metrics"].get("premium_share", {}).get("mean")
        if share is not None and 0 < share < 0.995:  # none at all shows as `–` already
            where = "" if g["cell"] == "base" else f" [{g['cell']}]"
            partial.append(f"{g['mechanism']}{where} {share:.0%}")
    if partial:
        text += " Share of deals it covers, where not all: " + ", ".join(partial) + "."
    return [text, ""]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(out: Path, summary: dict[str, Any], metric: str, file: str) -> str | None:
    groups = [g for g in summary["groups"] if metric in g["metrics"] and g["metrics"][metric]["mean"] is not None]
    if not groups:
        return None
    plt = _plt()
    labels = [
        g["mechanism"] if len({x["cell"] for x in groups}) == 1 else f"{g['mechanism']}\n{g['cell']}" for g in groups
    ]
    means = [g["metrics"][metric]["mean"] for g in groups]
    errs = [
        (g["metrics"][metric]["ci95"][1] - g["metrics"][metric]["mean"])
        if g["metrics"][metric]["ci95"][1] is not None
        else 0.0
        for g in groups
    ]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) + 2), 3.6))
    ax.bar(range(len(groups)), means, yerr=errs, capsize=4, color="#4878a8")
    ax.set_xticks(
        range(len(groups)),
        labels,
        rotation=30 if len(groups) > 4 else 0,
        ha="right" if len(groups) > 4 else "center",
        fontsize=8,
    )
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by mechanism (95% intervals)")
    fig.tight_layout()
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file


def _sweep_plot(out: Path, summary: dict[str, Any], sweep: dict[str, list[Any]], metric: str, file: str) -> str | None:
    if not sweep:
        return None
    path = sorted(sweep)[0]
    series: dict[str, list[tuple[Any, float, float]]] = {}
    for g in summary["groups"]:
        m = g["metrics"].get(metric)
        if not m or m["mean"] is None:
            continue
        x = g["cell_values"].get(path)
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            return None
        others = ", ".join(f"{k}={v}" for k, v in sorted(g["cell_values"].items()) if k != path)
        label = g["mechanism"] + (f" ({others})" if others else "")
        err = (m["ci95"][1] - m["mean"]) if m["ci95"][1] is not None else 0.0
        series.setdefault(label, []).append((x, m["mean"], err))
    if not series:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, pts in series.items():
        pts.sort()
        ax.errorbar(
            [p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3, label=label
        )
    ax.set_xlabel(path)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {path} (95% intervals)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file


def _paths_plot(out: Path, details: Sequence[dict[str, Any]], labels: Sequence[str], file: str) -> str | None:
    items = [(lab, p) for d, lab in zip(details, labels, strict=True) for p in d.get("paths", [])[:4]]
    if not items:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for lab, p in items[:16]:
        xs = [q[0] for q in p["points"]]
        ys = [q[1] for q in p["points"]]
        ax.step(xs, ys, where="post", alpha=0.8, label=f"{lab} {p['lot']}")
    ax.set_xlabel("minutes since the first bid")
    ax.set_ylabel("price (value units)")
    ax.set_title("price paths (first run)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file


def _timing_plot(out: Path, details: Sequence[dict[str, Any]], labels: Sequence[str], file: str) -> str | None:
    data = [(lab, d.get("bid_timing_s", [])) for d, lab in zip(details, labels, strict=True)]
    data = [(lab, xs) for lab, xs in data if xs]
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for lab, xs in data:
        ax.hist([x / 60 for x in xs], bins=40, alpha=0.5, label=lab)
    ax.set_xlabel("minutes before the close (negative: earlier)")
    ax.set_ylabel("bidder actions")
    ax.set_title("bid timing (first run)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file


def write_report(
    out: Path,
    scenario: Any,
    frame: Any,
    summary: dict[str, Any],
    manifest: dict[str, Any],
    details: Sequence[dict[str, Any]],
    detail_specs: Sequence[Any],
) -> Path:
    """Write DIR/report.md and its plots into DIR/plots/; return the report's path."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    data = scenario.data
    lines = [f"# {data['scenario']['name']}", ""]
    if data["scenario"]["description"]:
        lines += [data["scenario"]["description"].strip(), ""]
    cv = manifest["code_version"]
    lines += [
        f"- scenario file: `{manifest.get('scenario_file')}` (hash `{manifest['scenario_hash'][:16]}…`)",
        f"- runs per cell and mechanism: {manifest['runs']}, root seed {manifest['seed']}, "
        f"{len(manifest['cells'])} cell(s), executor `{manifest['executor']}`",
        f"- code: auction-engine {cv.get('package')}, simulator v{cv.get('simulator')}"
        + (f", git {cv['git'][:10]}{' (modified)' if cv.get('dirty') else ''}" if cv.get("git") else ""),
        "- common random numbers: every mechanism in a cell meets the same bidders with the same values"
        + (" (and so does every cell)" if data["experiment"]["crn"] == "sweep" else ""),
        "",
        "## Results",
        "",
        "Mean ± standard error over runs (95% intervals in `summary.json`); money in value units "
        f"(1 unit = {data['scenario']['scale']:,} fen = ¥{data['scenario']['scale'] / 100:,.2f}).",
        "",
    ]
    metrics = [m for m in KEY_METRICS if m in summary["metrics"]]
    lines.append("| cell | mechanism | runs | " + " | ".join(metrics) + " |")
    lines.append("|---|---|---|" + "---|" * len(metrics))
    for g in summary["groups"]:
        cells = []
        for m in metrics:
            d = g["metrics"].get(m, {})
            cells.append(f"{_fmt(d.get('mean'))} ± {_fmt(d.get('se'), 2)}" if d.get("mean") is not None else "–")
        lines.append(f"| {g['cell']} | {g['mechanism']} | {g['runs']} | " + " | ".join(cells) + " |")
    lines.append("")
    if "premium" in metrics:
        lines += _premium_note(summary["groups"])
    diffs = [g for g in summary["groups"] if "versus" in g]
    if diffs:
        lines += [
            "### Paired differences (common random numbers)",
            "",
            "Each mechanism minus the first mechanism of its cell, run by run: mean ± standard error.",
            "",
            "| cell | mechanism | versus | revenue | efficiency | deal_rate |",
            "|---|---|---|---|---|---|",
        ]
        for g in diffs:
            d = g["versus"]["differences"]
            cells = [
                f"{_fmt(d[m]['mean'])} ± {_fmt(d[m]['se'], 2)}" if m in d and d[m]["mean"] is not None else "–"
                for m in ("revenue", "efficiency", "deal_rate")
            ]
            lines.append(f"| {g['cell']} | {g['mechanism']} | {g['versus']['mechanism']} | " + " | ".join(cells) + " |")
        lines.append("")
    mode_cols = [c for c in frame.columns if c.startswith("revenue_yuan_")]
    if mode_cols:
        lines += [
            "### By pricing mode (mean per run)",
            "",
            "| mechanism | mode | deals | revenue (¥) |",
            "|---|---|---|---|",
        ]
        for mech, sub in frame.groupby("mechanism", sort=False):
            for col in mode_cols:
                mode = col.removeprefix("revenue_yuan_")
                if f"deals_{mode}" in sub:
                    lines.append(f"| {mech} | {mode} | {sub[f'deals_{mode}'].mean():,.1f} | {sub[col].mean():,.0f} |")
        lines.append("")

    figures = []
    sweep = manifest.get("sweep") or {}
    labels = [f"{s.mechanism}" + (f" [{s.cell_id}]" if s.cell else "") for s in detail_specs]
    if sweep:
        for metric in ("revenue", "efficiency", "deal_rate", "bidder_surplus", "focal_surplus"):
            if metric in summary["metrics"]:
                f = _sweep_plot(plots, summary, sweep, metric, f"sweep_{metric}.png")
                if f:
                    figures.append((f"{metric} against the swept parameter", f))
    figures += [
        (t, f)
        for t, f in (
            ("Revenue by mechanism", _bars(plots, summary, "revenue", "revenue.png")),
            ("Efficiency by mechanism", _bars(plots, summary, "efficiency", "efficiency.png")),
            ("Price paths", _paths_plot(plots, details[:8], labels[:8], "price_paths.png")),
            ("Bid timing", _timing_plot(plots, details[:8], labels[:8], "bid_timing.png")),
        )
        if f
    ]
    if figures:
        lines += ["## Plots", ""]
        for title, f in figures:
            lines += [f"### {title}", "", f"![{title}](plots/{f})", ""]
    lines += ["## Metrics", ""]
    for m, text in summary["metrics"].items():
        if text:
            lines.append(f"- **{m}** — {text}")
    lines += [
        "",
        "## Files",
        "",
        "- `results.csv`, `results.parquet` — one row per run × mechanism (and sweep cell)",
        "- `summary.json` — n, mean, sd, standard error and 95% interval per metric, cell and mechanism",
        "- `manifest.json` — the scenario as run, seed, code version, strategy specifications",
        "- `ledgers/` — the signed ledger of the first run of each mechanism "
        "(`auction-engine ledger verify ledgers/X.db --vkey ledgers/X.vkey`)",
        "- `runs.jsonl` — the resumable store of finished runs (keyed by the run spec's hash)",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
