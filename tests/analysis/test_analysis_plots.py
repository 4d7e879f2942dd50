"""Summary tables and figures made from tiny real runs (2 experiments x 2 runs), and ``rl-lightning plot``."""

import csv
import importlib
import json
import sys

import numpy as np
import pytest

import rl_lightning
from rl_lightning.analysis import load_experiment, load_experiments, plot_learning_curves, plot_main, summary_rows
from rl_lightning.loading import load_run_metrics


def test_experiment_runs_hold_returns_lengths_and_cumulative_env_steps(two_experiments):
    exp_a, _ = two_experiments
    experiment = load_experiment(exp_a)
    assert experiment.name == "exp_a" and [run.run for run in experiment.runs] == [1, 2]
    for run in experiment.runs:
        episodes = load_run_metrics(str(exp_a), run.run)
        np.testing.assert_array_equal(run.returns, [e["ep_return"] for e in episodes])
        np.testing.assert_array_equal(run.env_steps, np.cumsum([e["ep_length"] for e in episodes]))


def test_summary_rows_give_mean_and_std_per_run_and_overall(two_experiments):
    rows = summary_rows(load_experiments(two_experiments))
    assert [(r["experiment"], r["run"]) for r in rows] == [
        ("exp_a", "1"), ("exp_a", "2"), ("exp_a", "all"), ("exp_b", "1"), ("exp_b", "2"), ("exp_b", "all")]
    exp_a = two_experiments[0]
    runs = [load_run_metrics(str(exp_a), r) for r in (1, 2)]
    for row, episodes in zip(rows[:2], runs):
        returns = np.array([e["ep_return"] for e in episodes])
        lengths = np.array([e["ep_length"] for e in episodes])
        assert row["episodes"] == len(episodes) and row["env_steps"] == lengths.sum()
        assert row["return_mean"] == pytest.approx(returns.mean()) and row["return_std"] == pytest.approx(returns.std())
        assert row["length_mean"] == pytest.approx(lengths.mean()) and row["length_std"] == pytest.approx(lengths.std())
    pooled = np.array([e["ep_return"] for episodes in runs for e in episodes])
    assert rows[2]["episodes"] == pooled.size and rows[2]["return_mean"] == pytest.approx(pooled.mean())


def test_plot_command_writes_figures_of_the_expected_size(two_experiments, tmp_path, capsys):
    image = pytest.importorskip("PIL.Image")
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    assert plot_main([str(p) for p in two_experiments] + ["--out", str(out), "--format", "png", "svg",
                                                           "--reps", "200"]) == 0
    printed = capsys.readouterr().out
    assert "| exp_a      | all |" in printed and "exp_b: iqm" in printed
    # 8 x 5 inches at 100 dpi; the aggregate figure is (3 * 3 aggregates + 1.5) x max(2.5, 1.5 + 0.5 * 2) inches.
    sizes = {"learning_curve_episodes": (800, 500), "learning_curve_env_steps": (800, 500), "aggregate": (1050, 250)}
    for stem, size in sizes.items():
        with image.open(out / f"{stem}.png") as png:
            assert png.format == "PNG" and png.size == size
        svg = (out / f"{stem}.svg").read_text()
        assert svg.startswith("<?xml") and "<svg" in svg
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    aggregate = json.loads((out / "aggregate.json").read_text())
    assert set(aggregate["experiments"]) == {"exp_a", "exp_b"}
    iqm_a = aggregate["experiments"]["exp_a"]["iqm"]
    assert iqm_a["low"] <= iqm_a["point"] <= iqm_a["high"] and aggregate["experiments"]["exp_a"]["runs"] == 2


def test_learning_curve_figure_has_one_mean_line_and_band_per_experiment(two_experiments):
    pytest.importorskip("matplotlib")
    experiments = load_experiments(two_experiments)
    fig = plot_learning_curves(experiments, "env_steps", reps=100, figsize=(4, 3), dpi=50)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["exp_a (2 runs)", "exp_b (2 runs)"]
    assert len(ax.collections) == 2  # one fill_between band each
    assert "env steps" in ax.get_xlabel()


def test_plot_command_reports_a_folder_without_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        plot_main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "holds no metrics_run{r}.pkl file" in capsys.readouterr().err


def test_analysis_imports_without_optional_packages(monkeypatch):
    """matplotlib, Pillow, imageio and imageio-ffmpeg are imported only when a figure or video is written."""
    blocked = ("matplotlib", "PIL", "imageio", "imageio_ffmpeg", "moviepy")
    for name in [m for m in sys.modules if m.split(".")[0] in blocked] + list(blocked):
        monkeypatch.setitem(sys.modules, name, None)  # a None entry makes `import name` fail
    for name in [m for m in sys.modules if m.startswith(("rl_lightning.analysis", "rl_lightning.evaluation",
                                                           "rl_lightning.callbacks.evaluation"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(rl_lightning, "analysis", rl_lightning.analysis, raising=False)
    analysis = importlib.import_module("rl_lightning.analysis")
    importlib.import_module("rl_lightning.evaluation")
    importlib.import_module("rl_lightning.callbacks.evaluation")
    with pytest.raises(ImportError, match="pip install matplotlib"):
        analysis.plot_learning_curves([])
    with pytest.raises(ImportError, match="pip install pillow"):
        analysis.save_gif([np.zeros((2, 2, 3), dtype=np.uint8)], "never.gif")
