"""IQM, bootstrap intervals and curve alignment, checked against hand computations."""

import numpy as np
import pytest

from rl_lightning.analysis import (
    RunCurve,
    aggregate_scores,
    bootstrap_band,
    bootstrap_ci,
    env_step_curves,
    episode_curves,
    final_scores,
    iqm,
    smooth,
    stratified_bootstrap_ci,
)


def _hand_percentile(sorted_values, q):
    """Linear interpolation between order statistics: position q/100 * (n - 1)."""
    position = q / 100 * (len(sorted_values) - 1)
    below = int(np.floor(position))
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (position - below) * (sorted_values[above] - sorted_values[below])


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # mean of 3, 4, 5, 6
    assert iqm([100, 1, 2, 3, 4, 5, 6, -50]) == 3.5  # outliers cut: mean of 2, 3, 4, 5
    assert iqm(np.arange(10)) == 4.5  # int(2.5) = 2 cut from each end: mean of 2..7
    assert iqm([[1, 8], [2, 7], [3, 6], [4, 5]]) == 4.5  # a [runs, tasks] matrix is flattened
    assert iqm([7.0]) == 7.0


def test_iqm_agrees_with_scipy_trim_mean():
    stats = pytest.importorskip("scipy.stats")
    values = np.random.default_rng(0).normal(size=37)
    assert iqm(values) == pytest.approx(stats.trim_mean(values, 0.25))


def test_bootstrap_ci_matches_a_hand_computed_resampling():
    values = np.array([1.0, 2.0, 4.0])
    rng = np.random.default_rng(7)
    means = sorted(values[rng.integers(0, 3, size=3)].mean() for _ in range(5))
    interval = bootstrap_ci(values, confidence=0.9, reps=5, seed=7)
    assert interval.point == pytest.approx(7 / 3)
    assert interval.low == pytest.approx(_hand_percentile(means, 5.0))
    assert interval.high == pytest.approx(_hand_percentile(means, 95.0))


def test_bootstrap_ci_of_two_values_spans_both():
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% points are 0 and 1.
    interval = bootstrap_ci([0.0, 1.0], reps=4000, seed=0)
    assert (interval.point, interval.low, interval.high) == (0.5, 0.0, 1.0)


def test_stratified_bootstrap_resamples_runs_within_each_task():
    scores = np.array([[0.0, 10.0], [1.0, 20.0], [5.0, 30.0]])
    rng = np.random.default_rng(1)
    stats = []
    for _ in range(6):
        idx = rng.integers(0, 3, size=(3, 2))
        stats.append(np.mean([[scores[idx[r, t], t] for t in range(2)] for r in range(3)]))
    stats.sort()
    interval = stratified_bootstrap_ci(scores, np.mean, confidence=0.5, reps=6, seed=1)
    assert interval.point == pytest.approx(scores.mean())
    assert interval.low == pytest.approx(_hand_percentile(stats, 25.0))
    assert interval.high == pytest.approx(_hand_percentile(stats, 75.0))


def test_stratification_keeps_every_task_in_every_resample():
    # Task 0 always scores 0, task 1 always 10: every stratified resample has a mean of exactly 5.
    scores = np.array([[0.0, 10.0]] * 4)
    interval = stratified_bootstrap_ci(scores, np.mean, reps=500, seed=3)
    assert (interval.point, interval.low, interval.high) == (5.0, 5.0, 5.0)


def test_aggregate_scores_gives_iqm_mean_and_median_per_algorithm():
    estimates = aggregate_scores({"a": [[1.0], [2.0], [3.0], [4.0]], "b": [[10.0], [10.0]]}, reps=200, seed=0)
    assert set(estimates) == {"a", "b"} and set(estimates["a"]) == {"iqm", "mean", "median"}
    assert estimates["a"]["iqm"].point == 2.5 and estimates["a"]["median"].point == 2.5
    assert estimates["b"]["mean"].to_dict() == {"point": 10.0, "low": 10.0, "high": 10.0}
    low, high = estimates["a"]["mean"].low, estimates["a"]["mean"].high
    assert 1.0 <= low <= 2.5 <= high <= 4.0


def test_bootstrap_band_over_runs():
    curves = np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])
    mean, low, high = bootstrap_band(curves, reps=2000, seed=0)
    np.testing.assert_array_equal(mean, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(low, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(high, [2.0, 2.0, 2.0])
    single = np.array([[1.0, 3.0, 2.0]])
    for line in bootstrap_band(single, reps=50):
        np.testing.assert_array_equal(line, single[0])


def test_final_scores_average_the_last_fraction_of_each_run():
    np.testing.assert_array_equal(final_scores([np.arange(1, 11), [4.0]], 0.2), [9.5, 4.0])
    with pytest.raises(ValueError, match="final_fraction must be in"):
        final_scores([[1.0]], 0.0)


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(smooth([1, 2, 3, 4], 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(smooth([1, 2, 3, 4], 3), [1.0, 1.5, 2.0, 3.0])


def test_curves_align_runs_on_episodes_and_on_env_steps():
    runs = [RunCurve(1, np.array([1.0, 3.0]), np.array([2, 2])),  # episodes end at env steps 2, 4
            RunCurve(2, np.array([5.0, 7.0, 9.0]), np.array([1, 3, 2]))]  # at 1, 4, 6
    x, y = episode_curves(runs)
    np.testing.assert_array_equal(x, [1, 2])
    np.testing.assert_array_equal(y, [[1.0, 3.0], [5.0, 7.0]])
    # The common span is [2, 4]: the latest first episode end to the earliest last one.
    x, y = env_step_curves(runs, num_points=3)
    np.testing.assert_array_equal(x, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(y, [[1.0, 2.0, 3.0], [5 + 2 / 3, 5 + 4 / 3, 7.0]])


@pytest.mark.parametrize("call, message", [
    (lambda: bootstrap_ci([1.0], confidence=1.5), r"confidence must be a number in \(0, 1\)"),
    (lambda: bootstrap_ci([]), "needs at least one value"),
    (lambda: iqm([]), "needs at least one score"),
    (lambda: stratified_bootstrap_ci(np.zeros((2, 2, 2))), r"\[num_runs, num_tasks\] matrix"),
    (lambda: bootstrap_ci([1.0], reps=0), "reps must be an integer >= 1"),
    (lambda: episode_curves([RunCurve(1, np.zeros(0), np.zeros(0, dtype=np.int64))]), "no run has a finished"),
])
def test_bad_input_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()
