"""The ``rl-lightning`` command as users run it (``python -m rl_lightning`` in a subprocess, tiny budgets), and its
error messages (in-process through ``main``, which is what the console script calls)."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lightning.agents import load_agent_config
from rl_lightning.cli import RunConfig, main
from rl_lightning.cli.checks import read_yaml
from rl_lightning.cli.run_config import RUN_KEYS
from rl_lightning.metrics_stream import read_metrics_stream

# Lightning's LightningCLI calls jsonargparse APIs that jsonargparse 4.49+ deprecates; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "configs")
PPO_CONFIG = os.path.join(CONFIGS, "ppo_cartpole.yaml")
RANDOM_CONFIG = os.path.join(CONFIGS, "random_cartpole.yaml")
SHIPPED = sorted(name for name in os.listdir(CONFIGS) if name.endswith(".yaml"))


def rl_lightning(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rl_lightning", *args], cwd=cwd, check=False, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "PYTHONPATH": ROOT})


def test_fit_writes_checkpoints_tensorboard_logs_and_the_seed_files_then_evaluate_reads_them(tmp_path, capsys,
                                                                                             monkeypatch):
    result = rl_lightning("fit", "--config", PPO_CONFIG, "--model.total_steps", "1024",
                          "--model.hyperparameters.n_steps", "16", "--model.hyperparameters.n_epochs", "2",
                          "--trainer.enable_progress_bar", "false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "runs" / "ppo_cartpole"  # the default folder: runs/<config name>
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["hyper_parameters"]["total_steps"] == 1024
    assert last["hyper_parameters"]["hyperparameters"] == {**load_agent_config(PPO_CONFIG).hyperparameters,
                                                           "n_steps": 16, "n_epochs": 2}
    assert torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)["rl_lightning"]
    events = EventAccumulator(str(out))
    events.Reload()
    returns = events.Scalars("ep_return/run_1/ep_return")
    episodes = read_metrics_stream(str(out / "metrics_run1.pkl"))
    assert len(returns) == len(episodes) > 10 and returns[-1].step <= 1024
    assert [r.value for r in returns] == pytest.approx([e["ep_return"] for e in episodes])
    assert (out / "Run1_Last_agent.t").exists() and (out / "Run1_Best_agent.t").exists()
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["total_steps"] == 1024

    monkeypatch.chdir(tmp_path)
    # evaluate reads the agent class and env id from the folder's config.yaml.
    assert main(["evaluate", "--exp_dir", "runs/ppo_cartpole", "--episodes", "2", "--which", "last"]) == 0
    summary = json.loads((out / "eval" / "run1_last" / "summary.json").read_text())
    assert summary["num_episodes"] == 2 and summary["agent_path"].endswith("Run1_Last_agent.t")
    # A finished run has nothing to resume: refused before its files are touched.
    capsys.readouterr()
    assert main(["fit", "--config", PPO_CONFIG, "--model.total_steps", "2048", "--ckpt_path", "last"]) == 2
    assert "this run is finished" in capsys.readouterr().err
    assert len(read_metrics_stream(str(out / "metrics_run1.pkl"))) == len(episodes)


def test_print_config_fed_back_with_config_reproduces_the_configuration(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", PPO_CONFIG, "--model.num_envs", "4", "--model.hyperparameters.gamma", "0.9",
                 "--trainer.max_time", "00:00:01:00", "--print_config"]) == 0
    first = capsys.readouterr().out
    printed = yaml.safe_load(first)
    assert printed["model"]["num_envs"] == 4 and printed["model"]["hyperparameters"]["gamma"] == 0.9
    assert printed["model"]["hyperparameters"]["n_epochs"] == 20 and printed["model"]["agent"] == "PPO"
    assert printed["trainer"]["default_root_dir"] == "runs/ppo_cartpole"
    (tmp_path / "printed.yaml").write_text(first)
    assert main(["fit", "--config", "printed.yaml", "--print_config"]) == 0
    assert capsys.readouterr().out == first
    assert os.listdir(tmp_path) == ["printed.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_is_read_unchanged_as_the_model_section(name, capsys):
    path = os.path.join(CONFIGS, name)
    assert main(["fit", "--config", path, "--print_config"]) == 0
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    flat = read_yaml(path)
    assert {key: model[key] for key in flat} == flat
    assert model["steps_per_epoch"] is None and model["val_episodes"] == 5  # AgentModule's defaults
    run = RunConfig.from_dict({key: model[key] for key in RUN_KEYS if key in model}, name)
    assert run.agent_config.to_dict() == load_agent_config(path).to_dict()


def test_multirun_writes_the_seed_files_of_two_runs(tmp_path):
    result = rl_lightning("multirun", "--config", RANDOM_CONFIG, "--num_runs", "2", "--total_steps", "400",
                          "--seed_offset", "3", "--exp_dir", "exp", "--no_progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    exp = tmp_path / "exp"
    for run in (1, 2):
        assert (exp / f"Run{run}_Last_agent.t").exists() and (exp / f"Run{run}_Best_agent.t").exists()
        assert (exp / "checkpoints" / f"run{run}" / "last.ckpt").exists()
        with open(exp / f"metrics_run{run}.pkl", "rb") as f:
            episodes = pickle.load(f)
        assert episodes and {e["agent_seed"] for e in episodes} == {(run - 1) * 400 + 3}
    args = yaml.safe_load((exp / "args.yaml").read_text())
    assert args == {**load_agent_config(RANDOM_CONFIG).to_dict(), "total_steps": 400, "wrappers": [],
                    "num_runs": 2, "seed_offset": 3, "num_workers": 1, "checkpoint_freq": 0, "exp_dir": "exp",
                    "config_file": RANDOM_CONFIG}
    original = Path(RANDOM_CONFIG).read_text()
    assert (exp / "config.py").read_text() == (exp / "random_cartpole.yaml").read_text() == original


def test_multirun_reads_a_print_config_output_and_names_the_settings_it_ignores(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", RANDOM_CONFIG, "--model.steps_per_epoch", "100", "--print_config"]) == 0
    (tmp_path / "printed.yaml").write_text(capsys.readouterr().out)
    with pytest.warns(UserWarning, match="printed.yaml: model.steps_per_epoch is ignored"):
        assert main(["multirun", "--config", "printed.yaml", "--total_steps", "200", "--exp_dir", "exp",
                     "--no_progress"]) == 0
    assert read_metrics_stream(str(tmp_path / "exp" / "metrics_run1.pkl"))


def test_an_unknown_option_exits_2_naming_it_and_the_nearest_valid_key(tmp_path):
    result = rl_lightning("fit", "--config", PPO_CONFIG, "--model.total_step", "100", cwd=tmp_path)
    assert result.returncode == 2
    assert "'total_step'" in result.stderr and "(nearest: 'total_steps')" in result.stderr
    assert os.listdir(tmp_path) == []


BAD_CONFIGS = {
    "unknown env id": ("env_id: CartPol-v1\nagent: PPO\ntotal_steps: 100\n", ["'CartPol-v1'", "'CartPole-v1'"]),
    "unknown key": ("env_id: CartPole-v1\nagent: PPO\ntotal_step: 100\n", ["'total_step'", "nearest: 'total_steps'"]),
    "invalid YAML": ("env_id: CartPole-v1\nagent: [PPO\ntotal_steps: 100\n", ["bad.yaml:3:"]),
    "unknown agent class path": ("env_id: CartPole-v1\nagent: mypkg.agents.Nope\ntotal_steps: 100\n",
                                 ["'mypkg.agents.Nope'", "cannot import module 'mypkg.agents'"]),
    "unknown built-in agent": ("env_id: CartPole-v1\nagent: PP0\ntotal_steps: 100\n", ["'PP0'", "nearest: 'PPO'"]),
    "unknown hyperparameter": ("env_id: CartPole-v1\nagent: PPO\nhyperparameters: {n_step: 8}\ntotal_steps: 100\n",
                               ["'n_step'", "nearest: 'n_steps'"]),
    "bad hyperparameter value": ("env_id: CartPole-v1\nagent: PPO\nhyperparameters: {gamma: 2}\ntotal_steps: 100\n",
                                 ["gamma=2.0", "valid range: [0, 1]"]),
    "unknown wrapper": ("env_id: CartPole-v1\nagent: PPO\ntotal_steps: 100\nwrappers: [gymnasium.wrappers.Nope]\n",
                        ["'gymnasium.wrappers.Nope'", "no class 'Nope'"]),
    "unknown trainer key": ("trainer: {max_step: 5}\nmodel: {env_id: CartPole-v1, agent: PPO, total_steps: 100}\n",
                            ["section trainer", "'max_step'", "'max_steps'"]),
}


@pytest.mark.parametrize("command, case", [(command, case) for command in ("fit", "multirun") for case in BAD_CONFIGS
                                           if (command, case) != ("multirun", "unknown trainer key")])
def test_bad_configs_exit_2_with_the_reason_before_anything_is_written(tmp_path, capsys, monkeypatch, command, case):
    text, expected = BAD_CONFIGS[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    assert main([command, "--config", "bad.yaml"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"rl-lightning {command}: error:") and all(part in error for part in expected), error
    assert os.listdir(tmp_path) == ["bad.yaml"]


def test_a_mistyped_value_is_refused_by_the_typed_parser(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", PPO_CONFIG, "--model.vectorization_mode", "fast"]) == 2
    assert "model.vectorization_mode" in capsys.readouterr().err
    assert main(["fit", "--model.env_id", "CartPole-v1"]) == 2
    assert "model.agent" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_help_lists_every_subcommand_and_a_typo_names_the_nearest(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert all(f"\n  {name} " in usage for name in ("fit", "validate", "test", "multirun", "evaluate", "plot",
                                                    "sweep"))
    assert main(["fitt"]) == 2 and "(nearest: 'fit'" in capsys.readouterr().err
    assert main(["evaluate", "--help"]) == 0 and "--agent-class" in capsys.readouterr().out
    for command, prefix in (("validate", "val/"), ("test", "test/")):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert f"usage: rl-lightning [options] {command}" in text and "--ckpt_path" in text
        assert "--model.val_episodes" in text and "--model.steps_per_epoch" in text
        assert f"{prefix}ep_return" in text


def test_evaluate_rebuilds_the_training_env_with_its_env_kwargs_and_wrappers(tmp_path, monkeypatch):
    config = tmp_path / "short_cartpole.yaml"
    config.write_text("env_id: CartPole-v1\nagent: RandomAgent\ntotal_steps: 200\n"
                      "env_kwargs: {max_episode_steps: 5}\nwrappers: [gymnasium.wrappers.RecordEpisodeStatistics]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["multirun", "--config", str(config), "--no_progress"]) == 0

    # Evaluated on CartPole-v1 as trained: episodes cut at 5 steps, not CartPole's 500.
    assert main(["evaluate", "--exp_dir", "runs/short_cartpole_multirun", "--episodes", "4", "--which", "last"]) == 0
    summary = json.loads((tmp_path / "runs" / "short_cartpole_multirun" / "eval" / "run1_last" /
                          "summary.json").read_text())
    assert summary["num_episodes"] == 4 and summary["ep_length_mean"] <= 5
