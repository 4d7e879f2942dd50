"""``rl-lightning plot``: the summary table, learning curves and aggregate scores of experiment folders.

``write_report(["runs/ppo", "runs/dqn"], out_dir="plots")`` writes, into ``out_dir``:

- ``summary.csv`` / ``summary.md``: mean ± std of return and length per run and over all runs;
- ``learning_curve_episodes.<fmt>`` and ``learning_curve_env_steps.<fmt>``: every experiment overlaid, a
  mean line over runs with its bootstrap band;
- ``aggregate.<fmt>`` and ``aggregate.json``: IQM, mean and median of the runs' final scores (the mean
  return over each run's last ``final_fraction`` of episodes) with stratified-bootstrap intervals, each
  experiment being one algorithm on one task.

``plot_main(argv)`` is the command line over it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from rl_lightning.analysis.aggregate import aggregate_scores, final_scores
from rl_lightning.analysis.loading import load_experiments
from rl_lightning.analysis.plots import FIGURE_FORMATS, plot_aggregate, plot_learning_curves, save_figure
from rl_lightning.analysis.summary import format_summary, summary_rows, write_summary

__all__ = ["write_report", "plot_main"]


def write_report(exp_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                 formats: Sequence[str] = ("png", "svg"), names: Optional[Sequence[str]] = None, window: int = 1,
                 confidence: float = 0.95, reps: int = 2000, seed: int = 0, final_fraction: float = 0.1,
                 dpi: int = 100, safe: bool = True) -> dict:
    """Write the summary table, learning curves and aggregate scores of ``exp_dirs`` into ``out_dir``.

    Args:
        exp_dirs: experiment folders (``OnlineTrainer`` ``exp_dir`` s), overlaid in every figure.
        out_dir: the output folder, created when missing.
        formats: figure formats among ``png``, ``svg``, ``pdf``.
        names: labels, one per folder; default: the folders' names.
        window: moving average of the learning curves, in episodes.
        confidence: coverage of every band and interval.
        reps: bootstrap resamples.
        seed: seed of every bootstrap.
        final_fraction: share of each run's last episodes averaged into its final score.
        dpi: pixels per inch of PNG figures (8 x 5 inches for curves).
        safe: read the metrics files without running code (plain data only); ``False`` trusts them.

    Returns:
        ``{"summary": rows, "aggregate": {experiment: {aggregate: Interval}}, "files": [paths]}``.
    """
    experiments = load_experiments(exp_dirs, names, safe=safe)
    out = os.fspath(out_dir)
    rows = summary_rows(experiments)
    files = write_summary(rows, out)
    for x in ("episodes", "env_steps"):
        fig = plot_learning_curves(experiments, x, window=window, confidence=confidence, reps=reps, seed=seed, dpi=dpi)
        files += save_figure(fig, out, f"learning_curve_{x}", formats)
    scores = {exp.name: final_scores(exp.returns, final_fraction)[:, None] for exp in experiments}
    estimates = aggregate_scores(scores, confidence=confidence, reps=reps, seed=seed)
    label = f"mean return, last {final_fraction:.0%} of episodes"
    fig = plot_aggregate(estimates, confidence=confidence, score_label=label, dpi=dpi)
    files += save_figure(fig, out, "aggregate", formats)
    json_path = os.path.join(out, "aggregate.json")
    with open(json_path, "w") as f:
        json.dump({
            "score": f"mean return over the last {final_fraction:g} of each run's episodes",
            "confidence": confidence, "reps": reps, "seed": seed, "method": "stratified bootstrap, percentile interval",
            "experiments": {name: {"runs": int(scores[name].shape[0]),
                                   **{agg: interval.to_dict() for agg, interval in aggs.items()}}
                            for name, aggs in estimates.items()},
        }, f, indent=2)
    files.append(json_path)
    return {"summary": rows, "aggregate": estimates, "files": files}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rl-lightning plot",
        description="Summary table, learning curves (mean and bootstrap CI over runs) and aggregate scores "
                    "(IQM, stratified bootstrap) of one or more experiment folders.",
    )
    parser.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR", help="experiment folders written by multi_run")
    parser.add_argument("--out", default=None, help="output folder (default: EXP_DIR/analysis of the first EXP_DIR)")
    parser.add_argument("--format", nargs="+", default=["png", "svg"], choices=FIGURE_FORMATS, dest="formats",
                        help="figure formats (default: png svg)")
    parser.add_argument("--names", nargs="+", default=None, help="labels, one per EXP_DIR (default: folder names)")
    parser.add_argument("--smooth", type=int, default=1, help="moving average of the curves, in episodes (default 1)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--final-fraction", type=float, default=0.1,
                        help="share of each run's last episodes in its final score (default 0.1)")
    parser.add_argument("--trust", action="store_true",
                        help="read the metrics files with Python's plain unpickler (only for files whose author you "
                             "trust; by default they are read as plain data, without running code)")
    return parser


def plot_main(argv: Optional[list] = None) -> int:
    """``rl-lightning plot EXP_DIR [EXP_DIR ...] [--out DIR] [--format png svg]``; returns the exit code.

    Prints the summary table, the aggregate scores and the files written. Bad arguments or unreadable
    folders exit with status 2 and the reason, as argparse does.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.exp_dirs[0], "analysis")
    try:
        report = write_report(args.exp_dirs, out, formats=args.formats, names=args.names, window=args.smooth,
                              confidence=args.confidence, reps=args.reps, seed=args.seed,
                              final_fraction=args.final_fraction, safe=not args.trust)
    except (FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(format_summary(report["summary"]))
    print()
    for name, aggs in report["aggregate"].items():
        parts = [f"{agg} {iv.point:.2f} [{iv.low:.2f}, {iv.high:.2f}]" for agg, iv in aggs.items()]
        print(f"{name}: " + "; ".join(parts))
    print()
    print("wrote:\n" + "\n".join(f"  {path}" for path in report["files"]))
    sys.stdout.flush()
    return 0
