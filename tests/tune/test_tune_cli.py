"""Several processes work on one study: ``rl-lightning sweep --n-jobs 2`` runs trials in this process and in one
it starts, both on one SQLite database. Together they run exactly ``n_trials`` trials, none lost and none twice.
(Separate commands on one storage share a study the same way: each worker is such a command's process.)

A :class:`~tune_doubles.Barrier` env factory holds each worker's first trial until both have started one, so
they really run side by side.
"""

import contextlib
import multiprocessing
import os
import re
import signal
import textwrap

import optuna
import pytest

from rl_lightning.tune import SearchSpace, sweep_main
from rl_lightning.tune.cli import load_sweep_config

HERE = os.path.dirname(os.path.abspath(__file__))
SPACE_YAML = "action: {type: categorical, choices: [0, 1]}\nnoise: {type: float, low: 0.0, high: 1.0}\n"


def _config(tmp_path, parties):
    """A sweep config file: make_env() and make_agent(env), as users write one for the command line."""
    path = tmp_path / "config.py"
    path.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {HERE!r})
        from tune_doubles import Barrier, ChosenActionAgent, make_action_pays_env

        make_env = Barrier({str(tmp_path / "barrier")!r}, parties={parties}, make_env=make_action_pays_env())

        def make_agent(env):
            return ChosenActionAgent()
    """))
    (tmp_path / "space.yaml").write_text(SPACE_YAML)
    return path


@contextlib.contextmanager
def _time_limit(seconds):
    """Fail (and kill this test's worker processes) instead of hanging when the work takes over ``seconds``."""
    def expire(signum, frame):
        for child in multiprocessing.active_children():
            child.kill()
        raise TimeoutError(f"the sweep took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_worker_processes_share_one_study_and_run_exactly_n_trials(tmp_path, capsys):
    config = _config(tmp_path, parties=2)
    storage = f"sqlite:///{tmp_path}/sweep.db"
    with _time_limit(150):
        status = sweep_main(["--config", str(config), "--search-space", str(tmp_path / "space.yaml"), "--n-trials", "6",
                             "--storage", storage, "--study-name", "shared", "--sweep-dir", str(tmp_path / "sweep"),
                             "--total-steps", "20", "--seed", "0", "--n-jobs", "2", "--no-pruning"])
    assert status == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["number", "state", "value"]  # the summary table

    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes ran trials
    for t in trials:
        assert os.path.isfile(tmp_path / "sweep" / f"trial_{t.number}" / "metrics_run1.pkl")


def test_the_command_line_refuses_a_bad_search_space_with_status_2(tmp_path, capsys):
    config = _config(tmp_path, parties=1)
    (tmp_path / "bad.yaml").write_text("lr: {type: float, low: 0.1, high: 0.01}\n")
    status = sweep_main(["--config", str(config), "--search-space", str(tmp_path / "bad.yaml"), "--n-trials", "4",
                         "--study-name", "bad", "--sweep-dir", str(tmp_path / "sweep"), "--total-steps", "20"])
    assert status == 2
    assert "error: " in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("name, text, message", [
    ("config.py", "def make_env():\n    pass\n", re.escape("defines no callable make_agent; it must define make_env() "
                                                          "and make_agent(env) or make_agent(env, hp)")),
    ("config.txt", "", re.escape("expected a Python file (.py) defining make_env() and make_agent(env)")),
    ("missing.py", None, "--config '.*missing.py' does not exist"),
])
def test_the_command_line_names_what_is_wrong_with_a_config_file(tmp_path, capsys, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    (tmp_path / "space.yaml").write_text(SPACE_YAML)
    status = sweep_main(["--config", str(tmp_path / name), "--search-space", str(tmp_path / "space.yaml"),
                         "--n-trials", "1", "--study-name", "s", "--sweep-dir", str(tmp_path / "sweep"),
                         "--total-steps", "20"])
    assert status == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "sweep").exists()


AGENT_CONFIG = """\
env_id: ActionPays-v0
num_envs: 2
agent: tune_doubles.ConfiguredAgent
hyperparameters: {width: 4}
total_steps: 20
"""


def test_a_yaml_agent_config_builds_each_trial_agent_with_its_hyperparameters(tmp_path, capsys):
    (tmp_path / "agent.yaml").write_text(AGENT_CONFIG)
    (tmp_path / "space.yaml").write_text("action: {type: categorical, choices: [0, 1]}\n"
                                         "width: {type: int, low: 1, high: 64, log: true, grid: [1, 64]}\n")
    status = sweep_main(["--config", str(tmp_path / "agent.yaml"), "--search-space", str(tmp_path / "space.yaml"),
                         "--grid", "--study-name", "yaml", "--sweep-dir", str(tmp_path / "sweep")])
    assert status == 0
    study = optuna.load_study(study_name="yaml", storage=f"sqlite:///{tmp_path}/sweep/sweep.db")  # the default
    assert sorted((t.params["action"], t.params["width"]) for t in study.trials) == [(0, 1), (0, 64), (1, 1), (1, 64)]
    # The budget is the config's total_steps; the objective follows the action the trial chose.
    assert all(t.value > 0 for t in study.trials if t.params["action"] == 1)
    assert all(t.value == 0 for t in study.trials if t.params["action"] == 0)
    assert study.user_attrs["rl_lightning_sweep"]["total_steps"] == 20


@pytest.mark.parametrize("space, message", [
    ("gamma: {type: float, low: 0.9, high: 0.99}\n",
     ("search space names 'gamma', which agent 'tune_doubles.ConfiguredAgent' does not have; its hyperparameters "
      "are: action, width")),
    ("width: {type: int, low: 0, high: 8}\n", "search-space entry 'width': 0 is refused by agent"),
])
def test_a_search_space_the_configs_agent_refuses_fails_before_any_trial(tmp_path, capsys, space, message):
    (tmp_path / "agent.yaml").write_text(AGENT_CONFIG)
    (tmp_path / "space.yaml").write_text(space)
    status = sweep_main(["--config", str(tmp_path / "agent.yaml"), "--search-space", str(tmp_path / "space.yaml"),
                         "--n-trials", "2", "--study-name", "yaml", "--sweep-dir", str(tmp_path / "sweep")])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()


def test_the_shipped_sweep_configs_are_valid():
    configs = os.path.join(HERE, os.pardir, os.pardir, "configs")
    ppo = load_sweep_config(os.path.join(configs, "ppo_cartpole.yaml"))
    assert ppo["hp_to"] == "factory"  # YAML agent configs build each agent with the trial's hyperparameters
    for name in ("ppo_cartpole.yaml", "ppo_cartpole_grid.yaml"):
        ppo["make_agent"].check(SearchSpace.load(os.path.join(configs, "sweeps", name)))
    assert SearchSpace.load(os.path.join(configs, "sweeps", "ppo_cartpole_grid.yaml")).grid_size() == 18
    example = load_sweep_config(os.path.join(configs, "sweeps", "python_config_example.py"))
    assert example["hp_to"] == "set_hp" and example["total_steps"] == 20_000
    SearchSpace.load(os.path.join(configs, "sweeps", "python_config_space.yaml"))


def test_a_bundled_sweep_keeps_each_trials_files_and_points_at_its_best_trial(tmp_path, capsys):
    root = os.path.dirname(os.path.dirname(HERE))
    sweep_dir = tmp_path / "sweep"
    status = sweep_main(["--config", os.path.join(root, "configs", "ppo_cartpole.yaml"),
                         "--search-space", os.path.join(root, "configs", "sweeps", "ppo_cartpole.yaml"),
                         "--n-trials", "2", "--study-name", "ppo", "--sweep-dir", str(sweep_dir),
                         "--total-steps", "512", "--seed", "0", "--no-pruning"])
    assert status == 0
    out = capsys.readouterr().out
    for trial in ("trial_0", "trial_1"):
        names = os.listdir(sweep_dir / trial)
        assert {"metrics_run1.pkl", "Run1_Best_agent.t", "Run1_Last_agent.t", "config.py", "args.yaml"} <= set(names)
    assert not os.path.exists(sweep_dir / "sweep.db.lock")
    best = optuna.load_study(study_name="ppo", storage=f"sqlite:///{sweep_dir}/sweep.db").best_trial
    from rl_lightning.agents import load_agent_config

    resolved = load_agent_config(str(sweep_dir / "best_config.yaml"))  # a run config `multirun --config` takes
    assert all(resolved.hyperparameters[name] == value for name, value in best.params.items())
    assert "param_importances.png" in out and "best_config.yaml" in out
    assert f"rl-lightning evaluate --exp-dir {sweep_dir / f'trial_{best.number}'}" in out
    assert f"rl-lightning multirun --config {sweep_dir / 'best_config.yaml'}" in out
