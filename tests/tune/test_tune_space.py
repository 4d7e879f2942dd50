"""The search-space schema: what each type accepts, the values grid search visits, and the errors a bad space
gets before any study, database or trial folder exists."""

import pytest

from rl_lightning.testing import RecordingAgent, make_counting_vec_env
from rl_lightning.tune import SearchSpace, run_sweep

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "grid": [1e-4, 1e-3, 1e-2]},
    "clip": {"type": "float", "low": 0.1, "high": 0.3, "step": 0.1},
    "n_steps": {"type": "int", "low": 16, "high": 64, "step": 16},
    "act": {"type": "categorical", "choices": ["tanh", "relu"]},
}


def test_grid_search_visits_the_listed_the_stepped_and_the_categorical_values():
    space = SearchSpace.from_dict(SPACE)
    assert space.grid() == {
        "lr": [1e-4, 1e-3, 1e-2],  # the grid key
        "clip": [0.1, 0.2, 0.3],  # low, low + step, ... high
        "n_steps": [16, 32, 48, 64],
        "act": ["tanh", "relu"],  # the choices
    }
    assert space.grid_size() == 3 * 3 * 4 * 2


def test_log_float_is_a_float_on_a_log_scale_and_needs_a_grid_for_grid_search():
    space = SearchSpace.from_dict({"gamma": {"type": "log-float", "low": 0.9, "high": 0.999}})
    assert space.to_dict() == {"gamma": {"type": "float", "low": 0.9, "high": 0.999, "log": True}}
    with pytest.raises(ValueError, match="'gamma' is a float without a finite set of values; grid search needs grid"):
        space.grid()


def test_a_yaml_file_may_write_numbers_the_way_pyyaml_reads_as_text(tmp_path):
    path = tmp_path / "space.yaml"
    # PyYAML reads 1e-4 (no dot) as the string "1e-4"; the space takes it as the number it means.
    path.write_text("lr: {type: float, low: 1e-4, high: 1e-2, log: true}\nact: {type: categorical, choices: [a, b]}\n")
    assert SearchSpace.load(path).to_dict() == {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "act": {"type": "categorical", "choices": ["a", "b"]},
    }


@pytest.mark.parametrize("space, error, message", [
    ({"lr": {"type": "uniform", "low": 0, "high": 1}}, ValueError,
     "'lr' has type='uniform'; valid types are float, log-float, int, categorical"),
    ({"lr": {"low": 0, "high": 1}}, ValueError, "'lr' has no type; valid types are float, log-float, int, categorical"),
    ({"lr": {"type": "float", "low": 0.1, "high": 0.01}}, ValueError,
     "'lr': low=0.1 is greater than high=0.01; need low <= high"),
    ({"act": {"type": "categorical", "choices": []}}, ValueError,
     "'act': choices must be a non-empty list, got \\[\\]"),
    ({"lr": {"type": "float", "low": 0.1}}, ValueError,
     "'lr' \\(type float\\) is missing high; required keys: type, low, high"),
    ({"act": {"type": "categorical"}}, ValueError, "'act' \\(type categorical\\) is missing choices"),
    ({"lr": {"type": "float", "low": 0, "high": 1, "lo": 0}}, ValueError,
     "'lr' \\(type float\\) has unknown key\\(s\\) lo; valid keys: type, low, high, log, step, grid"),
    ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, ValueError, "a log scale needs low > 0"),
    ({"n": {"type": "int", "low": 1.5, "high": 4}}, TypeError, "'n': low must be an integer for type int, got 1.5"),
    ({"n": {"type": "int", "low": 1, "high": 8, "grid": [2, 9]}}, ValueError,
     "'n': grid values \\[9\\] lie outside \\[low, high\\] = \\[1, 8\\]"),
    ({"arch": {"type": "categorical", "choices": [[64, 64], [32]]}}, TypeError,
     "choice \\[64, 64\\] is a list; choices must be str, int, float, bool or null"),
    ({"lr": 0.1}, TypeError, "entry 'lr' must be a mapping such as"),
    ({}, ValueError, "the search space is empty"),
])
def test_a_bad_search_space_is_refused_before_any_study_or_folder_exists(tmp_path, space, error, message):
    with pytest.raises(error, match=message):
        run_sweep(make_counting_vec_env(2), lambda env: RecordingAgent(), space, n_trials=4, total_steps=20,
                  storage=f"sqlite:///{tmp_path}/sweep.db", study_name="bad", sweep_dir=tmp_path / "sweep")
    assert list(tmp_path.iterdir()) == []  # no database, no lock file, no trial folder


def test_grid_search_over_a_continuous_float_is_refused_before_any_study(tmp_path):
    space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    with pytest.raises(ValueError, match="'lr' is a float without a finite set of values; grid search needs "
                                         "grid: \\[...\\] \\(the values to visit\\) or step"):
        run_sweep(make_counting_vec_env(2), lambda env: RecordingAgent(), space, grid=True, total_steps=20,
                  storage=f"sqlite:///{tmp_path}/sweep.db", study_name="bad", sweep_dir=tmp_path / "sweep")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_trials=4), ValueError, "Exactly one of num_episodes or total_steps"),
    (dict(n_trials=0, total_steps=20), ValueError, "n_trials must be an integer >= 1, got 0"),
    (dict(total_steps=20), ValueError, "n_trials is required"),
    (dict(n_trials=4, total_steps=20, storage="runs/sweep.db"), ValueError,
     "storage='runs/sweep.db' is not a database URL; pass e.g. 'sqlite:///runs/sweep.db'"),
    (dict(n_trials=4, total_steps=20, storage="sqlite:///x.db", study_name=None), ValueError,
     "a study in a storage needs a name"),
    (dict(n_trials=4, total_steps=20, n_jobs=2), ValueError, "n_jobs=2 needs a storage that processes share"),
    (dict(n_trials=4, total_steps=20, objective="best"), ValueError,
     "objective='best' is not supported; valid values are last_k, auc"),
    (dict(n_trials=4, total_steps=20, direction="up"), ValueError, "direction='up' is not supported"),
    (dict(n_trials=4, total_steps=20, hp_to="init"), ValueError, "hp_to='init' is not supported"),
])
def test_bad_sweep_arguments_are_refused_before_any_work(tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        run_sweep(make_counting_vec_env(2), lambda env: RecordingAgent(), {"x": {"type": "int", "low": 0, "high": 3}},
                  **{"study_name": "s", **kwargs})
    assert list(tmp_path.iterdir()) == []
