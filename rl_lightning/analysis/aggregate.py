"""Aggregate scores with honest uncertainty: IQM, percentile bootstrap and the stratified bootstrap.

The method is rliable's (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical Precipice"),
written in numpy so that it needs no extra package (rliable 1.2 does not import with pandas 3). Scores
are matrices ``[num_runs, num_tasks]``: one row per independent run (seed), one column per task
(environment). A *stratified* bootstrap resamples the runs of each task independently, with
replacement, and recomputes the aggregate on each resampled matrix; the confidence interval is the
percentile interval of those values.

Reproducibility: every resampling draws its indices from ``numpy.random.default_rng(seed)`` in one call,
``rng.integers(0, num_runs, size=(reps, num_runs, num_tasks))`` (``size=(reps, num_runs)`` for one
column of values), so an interval is a pure function of the scores, ``reps``, ``confidence`` and ``seed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from rl_lightning.validation import check_int

__all__ = [
    "Interval",
    "iqm",
    "bootstrap_ci",
    "stratified_bootstrap_ci",
    "bootstrap_band",
    "aggregate_scores",
    "final_scores",
    "AGGREGATES",
]

ArrayLike = Union[Sequence[float], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval ``[low, high]``."""

    point: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores (flattened).

    ``int(0.25 * n)`` scores are cut from each end of the sorted scores, as ``scipy.stats.trim_mean(scores,
    0.25)`` (and so rliable) does: ``iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5`` (the mean of 3, 4, 5, 6).

    Raises:
        ValueError: no scores.
    """
    values = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("iqm needs at least one score, got an empty array.")
    cut = int(0.25 * values.size)
    return float(values[cut:values.size - cut].mean())


#: The aggregates :func:`aggregate_scores` computes by default; each maps a ``[runs, tasks]`` matrix to a number.
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "iqm": iqm,
    "mean": lambda m: float(np.mean(m)),
    "median": lambda m: float(np.median(m)),
}


def _check_confidence(confidence: float) -> None:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}.")


def _percentiles(stats: np.ndarray, confidence: float) -> tuple:
    """The percentile interval of bootstrap values along axis 0 (numpy's default linear interpolation)."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    return np.percentile(stats, tail, axis=0), np.percentile(stats, 100.0 - tail, axis=0)


def bootstrap_ci(values: ArrayLike, statistic: Callable[[np.ndarray], float] = np.mean, *, confidence: float = 0.95,
                 reps: int = 2000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over one sample of independent values (e.g. run scores).

    Resample ``i`` is ``values[idx[i]]`` with ``idx = default_rng(seed).integers(0, n, size=(reps, n))``; the
    interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the resampled
    statistics, and the point estimate is ``statistic(values)``.

    Args:
        values: the sample, any shape (flattened).
        statistic: maps a 1-D array to a number.
        confidence: coverage of the interval, in (0, 1).
        reps: number of bootstrap resamples.
        seed: seed of the resampling generator.

    Raises:
        ValueError: no values, or ``confidence`` outside (0, 1).
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value, got an empty array.")
    _check_confidence(confidence)
    check_int("reps", reps, minimum=1)
    idx = np.random.default_rng(seed).integers(0, data.size, size=(reps, data.size))
    stats = np.array([statistic(row) for row in data[idx]], dtype=np.float64)
    low, high = _percentiles(stats, confidence)
    return Interval(float(statistic(data)), float(low), float(high))


def stratified_bootstrap_ci(scores: ArrayLike, aggregate: Callable[[np.ndarray], float] = iqm, *,
                            confidence: float = 0.95, reps: int = 2000, seed: int = 0) -> Interval:
    """Stratified-bootstrap interval of ``aggregate`` over a ``[num_runs, num_tasks]`` score matrix.

    Each resample draws, for every task (column) independently, ``num_runs`` runs with replacement:
    resample ``i`` is ``scores[idx[i], arange(num_tasks)]`` with ``idx = default_rng(seed).integers(0, num_runs,
    size=(reps, num_runs, num_tasks))``. A 1-D ``scores`` is one task.

    Raises:
        ValueError: an empty matrix, more than two dimensions, or ``confidence`` outside (0, 1).
    """
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"scores must be a non-empty [num_runs, num_tasks] matrix, got shape {matrix.shape}.")
    _check_confidence(confidence)
    check_int("reps", reps, minimum=1)
    num_runs, num_tasks = matrix.shape
    idx = np.random.default_rng(seed).integers(0, num_runs, size=(reps, num_runs, num_tasks))
    resampled = matrix[idx, np.arange(num_tasks)]
    stats = np.array([aggregate(m) for m in resampled], dtype=np.float64)
    low, high = _percentiles(stats, confidence)
    return Interval(float(aggregate(matrix)), float(low), float(high))


def aggregate_scores(score_dict: Mapping[str, ArrayLike], aggregates: Optional[Mapping[str, Callable]] = None, *,
                     confidence: float = 0.95, reps: int = 2000, seed: int = 0) -> dict[str, dict[str, Interval]]:
    """``{algorithm: {aggregate name: Interval}}`` with stratified-bootstrap intervals, as rliable's
    ``get_interval_estimates``.

    Args:
        score_dict: ``{algorithm: [num_runs, num_tasks] scores}``; algorithms may have different run counts.
            Scores of different tasks should be normalized first (e.g. to [0, 1] between a random and a
            reference agent), or the aggregate mixes units.
        aggregates: ``{name: fn(matrix) -> float}``; default :data:`AGGREGATES` (IQM, mean, median).
        confidence, reps, seed: as :func:`stratified_bootstrap_ci`; every algorithm uses the same ``seed``.
    """
    aggregates = AGGREGATES if aggregates is None else aggregates
    return {
        name: {agg: stratified_bootstrap_ci(scores, fn, confidence=confidence, reps=reps, seed=seed)
               for agg, fn in aggregates.items()}
        for name, scores in score_dict.items()
    }


def bootstrap_band(curves: ArrayLike, *, confidence: float = 0.95, reps: int = 1000,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve and percentile-bootstrap band over runs, for ``curves`` of shape ``[num_runs, num_points]``.

    Runs (rows) are resampled with replacement, the same resample for every point, with
    ``idx = default_rng(seed).integers(0, num_runs, size=(reps, num_runs))``. With one run the band is the
    curve itself.

    Returns:
        ``(mean, low, high)``, each of shape ``[num_points]``.
    """
    matrix = np.asarray(curves, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"curves must be a [num_runs, num_points] array with at least one run, got {matrix.shape}.")
    _check_confidence(confidence)
    check_int("reps", reps, minimum=1)
    num_runs = matrix.shape[0]
    idx = np.random.default_rng(seed).integers(0, num_runs, size=(reps, num_runs))
    # Chunked so that reps x runs x points never needs more than a few million floats at once.
    chunk = max(1, 4_000_000 // max(1, matrix.size))
    means = np.concatenate([matrix[idx[i:i + chunk]].mean(axis=1) for i in range(0, reps, chunk)])
    low, high = _percentiles(means, confidence)
    return matrix.mean(axis=0), low, high


def final_scores(returns_per_run: Sequence[ArrayLike], final_fraction: float = 0.1) -> np.ndarray:
    """One score per run: the mean return over the last ``final_fraction`` of its episodes (at least one).

    Raises:
        ValueError: ``final_fraction`` outside (0, 1], or a run without episodes.
    """
    if isinstance(final_fraction, bool) or not isinstance(final_fraction, (int, float)) or not 0 < final_fraction <= 1:
        raise ValueError(f"final_fraction must be in (0, 1], e.g. 0.1 for the last 10% of episodes; "
                         f"got {final_fraction!r}.")
    scores = []
    for i, returns in enumerate(returns_per_run):
        values = np.asarray(returns, dtype=np.float64)
        if values.size == 0:
            raise ValueError(f"run {i} has no episodes; a final score needs at least one.")
        count = max(1, int(round(final_fraction * values.size)))
        scores.append(values[-count:].mean())
    return np.asarray(scores, dtype=np.float64)
