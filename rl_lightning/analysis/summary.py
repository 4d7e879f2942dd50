"""The summary table: mean ± std of episode return and length, per run and over all runs of an experiment.

Standard deviations are population ones (``ddof=0``), over episodes. The ``all`` row of an experiment
pools every episode of every run (so runs with more episodes weigh more).
"""

from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

from rl_lightning.analysis.loading import Experiment

__all__ = ["SUMMARY_COLUMNS", "summary_rows", "format_summary", "write_summary"]

#: Columns of :func:`summary_rows`, in order. ``env_steps`` sums episode lengths (finished episodes only).
SUMMARY_COLUMNS = ("experiment", "run", "episodes", "env_steps", "return_mean", "return_std", "length_mean",
                   "length_std")


def _row(experiment: str, run: str, returns: np.ndarray, lengths: np.ndarray) -> dict:
    empty = returns.size == 0
    return {
        "experiment": experiment,
        "run": run,
        "episodes": int(returns.size),
        "env_steps": int(lengths.sum()),
        "return_mean": float("nan") if empty else float(returns.mean()),
        "return_std": float("nan") if empty else float(returns.std()),
        "length_mean": float("nan") if empty else float(lengths.mean()),
        "length_std": float("nan") if empty else float(lengths.std()),
    }


def summary_rows(experiments: Sequence[Experiment]) -> list:
    """One dict per run (``run`` = its index as text), then one ``run="all"`` row per experiment."""
    rows = []
    for exp in experiments:
        for run in exp.runs:
            rows.append(_row(exp.name, str(run.run), run.returns, run.lengths))
        returns = np.concatenate([r.returns for r in exp.runs]) if exp.runs else np.zeros(0)
        lengths = np.concatenate([r.lengths for r in exp.runs]) if exp.runs else np.zeros(0, dtype=np.int64)
        rows.append(_row(exp.name, "all", returns, lengths))
    return rows


def format_summary(rows: Sequence[dict], digits: int = 2) -> str:
    """A Markdown table: experiment | run | episodes | env steps | return (mean ± std) | length (mean ± std)."""
    header = ["experiment", "run", "episodes", "env steps", "return (all episodes)", "length (all episodes)"]
    lines = [header]
    for row in rows:
        lines.append([
            row["experiment"], row["run"], str(row["episodes"]), str(row["env_steps"]),
            f"{row['return_mean']:.{digits}f} ± {row['return_std']:.{digits}f}",
            f"{row['length_mean']:.{digits}f} ± {row['length_std']:.{digits}f}",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def write_summary(rows: Sequence[dict], out_dir: str | os.PathLike) -> list:
    """Write ``summary.csv`` (full precision) and ``summary.md`` (:func:`format_summary`); return their paths."""
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    csv_path = os.path.join(out, "summary.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    md_path = os.path.join(out, "summary.md")
    with open(md_path, "w") as f:
        f.write(format_summary(rows) + "\n")
    return [csv_path, md_path]
