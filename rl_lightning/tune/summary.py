"""A sweep's results: its trials best first (rows, a printed table, a CSV) and the parameter-importance plot."""

from __future__ import annotations

import csv
import logging
import math
import os
import warnings
from typing import Any, Optional, Sequence

__all__ = ["summarize", "format_table", "write_csv", "plot_param_importances"]

log = logging.getLogger(__name__)

# Rows come in this order of states; within COMPLETE by objective, within PRUNED by the last reported value.
_STATE_ORDER = ("COMPLETE", "PRUNED", "RUNNING", "WAITING", "FAIL")
_FIXED_COLUMNS = ("number", "state", "value", "last_step", "last_value", "duration_s", "exp_dir")


def summarize(study: Any) -> list[dict]:
    """One row per trial of ``study``, best first.

    Completed trials come first, best objective first (per the study's direction); then pruned trials by
    their last reported value; then running, waiting and failed ones by number.

    Each row: ``number``, ``state`` (``"COMPLETE"``, ``"PRUNED"``...), ``value`` (the objective, ``None``
    unless complete), ``params`` (the trial's ``tuning_hp``), ``last_step`` and ``last_value`` (the last
    report to the pruner), ``duration_s`` (wall-clock seconds) and ``exp_dir`` (the trial's folder).
    """
    maximize = study.direction.name == "MAXIMIZE"
    rows = []
    for trial in study.get_trials(deepcopy=False):
        last_step = max(trial.intermediate_values) if trial.intermediate_values else None
        rows.append({
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value if trial.state.name == "COMPLETE" else None,
            "params": dict(trial.params),
            "last_step": last_step,
            "last_value": None if last_step is None else trial.intermediate_values[last_step],
            "duration_s": None if trial.duration is None else trial.duration.total_seconds(),
            "exp_dir": trial.user_attrs.get("exp_dir"),
        })

    def key(row: dict) -> tuple:
        state = _STATE_ORDER.index(row["state"]) if row["state"] in _STATE_ORDER else len(_STATE_ORDER)
        value = row["value"] if row["state"] == "COMPLETE" else row["last_value"]
        if state > 1 or value is None:
            return state, 1, 0.0, row["number"]
        return state, 0, -value if maximize else value, row["number"]

    return sorted(rows, key=key)


def _flat(rows: Sequence[dict]) -> tuple[list[str], list[dict]]:
    """Columns and flat rows: each hyperparameter becomes a column (prefixed ``hp.`` if it shadows one)."""
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row["params"] if name not in names)
    column = {name: f"hp.{name}" if name in _FIXED_COLUMNS else name for name in names}
    flat = []
    for row in rows:
        out = {k: row[k] for k in ("number", "state", "value")}
        out.update({column[name]: row["params"].get(name) for name in names})
        out.update({k: row[k] for k in _FIXED_COLUMNS[3:]})
        flat.append(out)
    return ["number", "state", "value", *column.values(), *_FIXED_COLUMNS[3:]], flat


def format_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`summarize` as an aligned text table (without ``exp_dir``)."""
    columns, flat = _flat(rows)
    columns = [c for c in columns if c != "exp_dir"]
    cells = [[_cell(row[c]) for c in columns] for row in flat]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> str:
    """Write the rows of :func:`summarize` to a CSV file (replaced atomically); return its path."""
    path = os.fspath(path)
    columns, flat = _flat(rows)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in flat)
    os.replace(tmp, path)
    return path


def plot_param_importances(study: Any, path: str | os.PathLike) -> Optional[str]:
    """Save Optuna's parameter-importance bar chart (``optuna.visualization.matplotlib``, PED-ANOVA importances)
    as a PNG.

    Returns the path, or ``None`` (with a logged warning) when the study cannot rank its parameters yet,
    e.g. with fewer than two completed trials. Uses matplotlib's current backend (Agg when there is no
    display; :func:`rl_lightning.tune.sweep_main` selects Agg) and closes the figure.
    """
    import optuna

    path = os.fspath(path)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        log.warning("No parameter-importance plot: the study has %d completed trial(s); it needs 2.", len(complete))
        return None
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("No parameter-importance plot: matplotlib is not installed (pip install matplotlib).")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # PED-ANOVA needs no scikit-learn (fANOVA, the default of older Optuna releases, does).
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            axes = optuna.visualization.matplotlib.plot_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        log.warning("No parameter-importance plot: %s", err)
        return None
    figure = axes.figure
    try:
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        figure.tight_layout()
        tmp = f"{path}.tmp{os.getpid()}"
        figure.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(figure)
    return path
