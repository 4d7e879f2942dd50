"""benchmarks/learning.py: its solve-step rule and one tiny run end to end."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
_spec = importlib.util.spec_from_file_location("learning_benchmark", os.path.join(ROOT, "benchmarks", "learning.py"))
learning = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(learning)


def test_first_solved_step_uses_the_trailing_hundred_episode_mean():
    episodes = [(10 * k, 0.0) for k in range(1, 101)] + [(2000 + k, 500.0) for k in range(1, 101)]
    # 100 zeros then 500s: the 100-episode mean reaches 475 once 95 of the last 100 are 500s.
    assert learning.first_solved_step(episodes, 475.0) == 2095
    assert learning.first_solved_step([(5, 480.0)], 475.0) == 5  # fewer than 100 episodes: their mean
    assert learning.first_solved_step(episodes, None) is None
    assert learning._median_step([100, 300], 3) == "300" and learning._median_step([100], 3) == "never"


def test_a_tiny_run_prints_and_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "results.json"
    results = learning.main(["--config", os.path.join(ROOT, "configs", "random_cartpole.yaml"), "--seeds", "2",
                             "--total-steps", "400", "--eval-episodes", "2", "--json", str(out)])
    printed = capsys.readouterr().out
    assert [r["seed"] for r in results] == [0, 1]
    assert all(word in printed for word in ("last100", "greedy", "steps/s", "solved by the budget: 0/2"))
    saved = json.loads(out.read_text())
    assert saved["config"]["total_steps"] == 400 and len(saved["results"]) == 2
    assert all(r["solved_at"] is None and 5 < r["last100"] < 60 for r in results)
    with pytest.raises(SystemExit):
        learning.main(["--config", "x.yaml", "--seeds", "0"])
