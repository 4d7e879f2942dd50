"""Learning curves of several runs put on one x-axis, ready for a mean line and a bootstrap band.

Two x-axes:

- **episodes**: the episode number within the run (1, 2, ...), cut to the shortest run, so every point
  has a value from every run;
- **env steps**: env steps summed over sub-envs, taken as the cumulative episode length of each run (see
  :mod:`rl_lightning.analysis.loading`). Runs finish episodes at different env steps, so each run's curve
  is linearly interpolated onto a common grid of ``num_points`` env steps, from the latest first episode
  end to the earliest last episode end among the runs (the span every run covers).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rl_lightning.analysis.loading import RunCurve
from rl_lightning.validation import check_int

__all__ = ["smooth", "episode_curves", "env_step_curves", "curves", "X_AXES"]

#: The x-axes :func:`curves` understands.
X_AXES = ("episodes", "env_steps")


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` episodes; the first points average the episodes so far.

    ``smooth([1, 2, 3, 4], 2) == [1, 1.5, 2.5, 3.5]``; ``window=1`` returns the values unchanged.
    """
    check_int("window", window, minimum=1)
    values = np.asarray(values, dtype=np.float64)
    if window == 1 or values.size == 0:
        return values.copy()
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _non_empty(runs: Sequence[RunCurve]) -> list:
    kept = [run for run in runs if run.num_episodes > 0]
    if not kept:
        raise ValueError("no run has a finished episode: there is no learning curve to draw.")
    return kept


def episode_curves(runs: Sequence[RunCurve], window: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: episode numbers ``1..T`` and the smoothed returns ``[num_runs, T]``, ``T`` the shortest run.

    Raises:
        ValueError: no run has an episode.
    """
    runs = _non_empty(runs)
    length = min(run.num_episodes for run in runs)
    y = np.stack([smooth(run.returns, window)[:length] for run in runs])
    return np.arange(1, length + 1), y


def env_step_curves(runs: Sequence[RunCurve], window: int = 1,
                    num_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: a grid of env steps and each run's smoothed return interpolated onto it, ``[num_runs, P]``.

    Raises:
        ValueError: no run has an episode, or the runs' env-step spans do not overlap.
    """
    check_int("num_points", num_points, minimum=2)
    runs = _non_empty(runs)
    steps = [run.env_steps.astype(np.float64) for run in runs]
    start = max(s[0] for s in steps)
    stop = min(s[-1] for s in steps)
    if start > stop:
        raise ValueError(f"the runs' env-step spans do not overlap (latest first episode end {start:g} > earliest "
                         f"last episode end {stop:g}); plot against episodes instead.")
    grid = np.linspace(start, stop, num_points) if stop > start else np.array([start])
    y = np.stack([np.interp(grid, s, smooth(run.returns, window)) for s, run in zip(steps, runs)])
    return grid, y


def curves(runs: Sequence[RunCurve], x: str = "episodes", window: int = 1,
           num_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """:func:`episode_curves` or :func:`env_step_curves`, by ``x`` (one of :data:`X_AXES`)."""
    if x == "episodes":
        return episode_curves(runs, window)
    if x == "env_steps":
        return env_step_curves(runs, window, num_points)
    raise ValueError(f"x={x!r} is not supported; valid values are {', '.join(map(repr, X_AXES))}.")
