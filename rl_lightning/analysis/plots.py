"""Figures: learning curves (mean line and bootstrap band per experiment) and aggregate-score intervals.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot``: no
window opens, no global state changes, and any backend the user chose stays as it was. A figure saved
with :func:`save_figure` is ``figsize * dpi`` pixels (no tight bounding box), so its size is known in
advance. matplotlib is imported when a figure is made, so ``import rl_lightning`` works without it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from rl_lightning.analysis.aggregate import Interval, bootstrap_band
from rl_lightning.analysis.curves import curves
from rl_lightning.analysis.loading import Experiment

__all__ = ["FIGURE_FORMATS", "plot_learning_curves", "plot_aggregate", "save_figure"]

#: File formats :func:`save_figure` writes.
FIGURE_FORMATS = ("png", "svg", "pdf")

_X_LABELS = {"episodes": "episode", "env_steps": "env steps (cumulative episode length, summed over sub-envs)"}


def _new_figure(figsize: tuple, dpi: int) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install matplotlib (or the rl_lightning[analysis] extra).") \
            from err
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curves(experiments: Sequence[Experiment], x: str = "episodes", *, window: int = 1,
                         confidence: float = 0.95, reps: int = 1000, seed: int = 0, num_points: int = 200,
                         show_runs: bool = False, title: Optional[str] = None, figsize: tuple = (8.0, 5.0),
                         dpi: int = 100) -> Any:
    """Episode return against episodes or env steps: per experiment, the mean over runs and its bootstrap band.

    Args:
        experiments: overlaid on one axes, one colour each.
        x: ``"episodes"`` or ``"env_steps"`` (see :mod:`rl_lightning.analysis.curves`).
        window: trailing moving average over this many episodes, applied per run before averaging.
        confidence: coverage of the band (percentile bootstrap over runs, :func:`bootstrap_band`).
        reps: bootstrap resamples per experiment.
        seed: seed of the resampling.
        num_points: grid points of the env-step axis.
        show_runs: also draw every run's curve, thin.
        title: the axes title; default: "Episode return".
        figsize: inches; the saved image is ``figsize * dpi`` pixels.
        dpi: pixels per inch.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot(1, 1, 1)
    for i, exp in enumerate(experiments):
        color = f"C{i % 10}"
        xs, ys = curves(exp.runs, x, window, num_points)
        mean, low, high = bootstrap_band(ys, confidence=confidence, reps=reps, seed=seed)
        if show_runs:
            for y in ys:
                ax.plot(xs, y, color=color, alpha=0.25, linewidth=0.7)
        ax.plot(xs, mean, color=color, linewidth=1.8,
                label=f"{exp.name} ({len(ys)} run{'s' if len(ys) != 1 else ''})")
        if len(ys) > 1:  # one run has no spread to bootstrap
            ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel(_X_LABELS[x])
    ax.set_ylabel("episode return" + (f" (mean of {window} episodes)" if window > 1 else ""))
    banded = any(len(exp.runs) > 1 for exp in experiments)
    ax.set_title(title or (f"Episode return: mean over runs, {confidence:.0%} bootstrap CI" if banded
                           else "Episode return (one run: no interval)"))
    ax.grid(True, alpha=0.3)
    if experiments:
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def plot_aggregate(estimates: Mapping[str, Mapping[str, Interval]], *, confidence: float = 0.95,
                   score_label: str = "score", figsize: Optional[tuple] = None, dpi: int = 100) -> Any:
    """One panel per aggregate (IQM, mean, median, ...): each experiment's point estimate and interval.

    Args:
        estimates: ``{experiment: {aggregate: Interval}}``, as :func:`~rl_lightning.analysis.aggregate_scores`
            returns; every experiment must have the same aggregates.
        confidence: the intervals' coverage, for the title.
        score_label: the x-axis label: what a score is.
        figsize: inches; default ``(3 * aggregates + 1.5, max(2.5, 1.5 + 0.5 * experiments))``.
        dpi: pixels per inch.
    """
    names = list(estimates)
    if not names:
        raise ValueError("estimates is empty: give at least one experiment's aggregate scores.")
    metrics = list(estimates[names[0]])
    if figsize is None:
        figsize = (3.0 * len(metrics) + 1.5, 1.5 + 0.5 * len(names))
    fig = _new_figure(figsize, dpi)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    rows = np.arange(len(names))
    for ax, metric in zip(axes, metrics):
        for row, name in zip(rows, names):
            interval = estimates[name][metric]
            color = f"C{row % 10}"
            ax.plot([interval.low, interval.high], [row, row], color=color, linewidth=6, alpha=0.5,
                    solid_capstyle="butt")
            ax.plot([interval.point], [row], marker="|", color="black", markersize=14)
        ax.set_title(metric.upper() if metric == "iqm" else metric.capitalize())
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xlabel(score_label)
    axes[0].set_yticks(rows, names)
    axes[0].set_ylim(-0.7, len(names) - 0.3)
    axes[0].invert_yaxis()
    fig.suptitle(f"Aggregate scores, {confidence:.0%} stratified bootstrap CI", fontsize="medium")
    fig.tight_layout()
    return fig


def save_figure(fig: Any, out_dir: str | os.PathLike, stem: str, formats: Sequence[str] = ("png", "svg")) -> list:
    """Write ``out_dir/stem.<format>`` for each format; return the paths.

    Raises:
        ValueError: a format outside :data:`FIGURE_FORMATS`.
    """
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise ValueError(f"formats={list(formats)!r} is not supported; choose among {', '.join(FIGURE_FORMATS)}.")
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    paths = []
    for fmt in formats:
        path = os.path.join(out, f"{stem}.{fmt}")
        fig.savefig(path, format=fmt, dpi=fig.dpi)
        paths.append(path)
    return paths
