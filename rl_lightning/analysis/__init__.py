"""Analysis of experiment folders: summary tables, learning curves, aggregate scores and episode videos.

- :mod:`~rl_lightning.analysis.loading`: :func:`load_experiment` reads an ``exp_dir``'s runs.
- :mod:`~rl_lightning.analysis.summary`: mean ± std of return and length per run and overall.
- :mod:`~rl_lightning.analysis.curves`: runs on one x-axis (episodes, or env steps).
- :mod:`~rl_lightning.analysis.aggregate`: IQM, bootstrap and stratified-bootstrap intervals (rliable's method).
- :mod:`~rl_lightning.analysis.plots`: learning-curve and aggregate figures (matplotlib, Agg).
- :mod:`~rl_lightning.analysis.video`: GIF, MP4, TensorBoard video summaries, ANSI text files.
- :mod:`~rl_lightning.analysis.report`: :func:`write_report` and the ``rl-lightning plot`` command.

matplotlib, Pillow, imageio and imageio-ffmpeg are imported only when a figure or a video is written.
"""

from rl_lightning.analysis.aggregate import (
    AGGREGATES,
    Interval,
    aggregate_scores,
    bootstrap_band,
    bootstrap_ci,
    final_scores,
    iqm,
    stratified_bootstrap_ci,
)
from rl_lightning.analysis.curves import curves, env_step_curves, episode_curves, smooth
from rl_lightning.analysis.loading import Experiment, RunCurve, load_experiment, load_experiments
from rl_lightning.analysis.plots import plot_aggregate, plot_learning_curves, save_figure
from rl_lightning.analysis.report import plot_main, write_report
from rl_lightning.analysis.summary import format_summary, summary_rows, write_summary
from rl_lightning.analysis.video import VideoRecorder, save_ansi, save_gif, save_mp4, save_video, write_video_summary

__all__ = [
    "AGGREGATES",
    "Interval",
    "aggregate_scores",
    "bootstrap_band",
    "bootstrap_ci",
    "final_scores",
    "iqm",
    "stratified_bootstrap_ci",
    "curves",
    "env_step_curves",
    "episode_curves",
    "smooth",
    "Experiment",
    "RunCurve",
    "load_experiment",
    "load_experiments",
    "plot_aggregate",
    "plot_learning_curves",
    "save_figure",
    "plot_main",
    "write_report",
    "format_summary",
    "summary_rows",
    "write_summary",
    "VideoRecorder",
    "save_ansi",
    "save_gif",
    "save_mp4",
    "save_video",
    "write_video_summary",
]
