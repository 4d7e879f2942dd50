"""The ``rl-lightning`` command, run as users run it (``python -m rl_lightning`` in a subprocess) with tiny budgets."""

import os
import pickle
import subprocess
import sys

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lightning.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PPO_CONFIG = os.path.join(ROOT, "configs", "ppo_cartpole.yaml")
RANDOM_CONFIG = os.path.join(ROOT, "configs", "random_cartpole.yaml")


def rl_lightning(*args, cwd):
    return subprocess.run([sys.executable, "-m", "rl_lightning", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONPATH": ROOT})


def test_fit_with_a_shipped_config_writes_checkpoints_and_tensorboard_logs(tmp_path):
    result = rl_lightning("fit", "--config", PPO_CONFIG, "--model.total_steps", "1024",
                          "--model.hyperparameters", "{n_steps: 16, batch_size: 64, n_epochs: 2}",
                          "--trainer.default_root_dir", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = torch.load(tmp_path / "out" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["hyper_parameters"]["total_steps"] == 1024
    assert last["hyper_parameters"]["hyperparameters"]["n_steps"] == 16
    assert (tmp_path / "out" / "checkpoints" / "best.ckpt").exists()
    events = EventAccumulator(str(tmp_path / "out"))
    events.Reload()
    returns = events.Scalars("ep_return/run_1/ep_return")
    assert len(returns) > 10 and returns[-1].step <= 1024


def test_print_config_fed_back_reproduces_the_configuration(tmp_path):
    first = rl_lightning("fit", "--config", PPO_CONFIG, "--model.num_envs", "4", "--print_config", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    printed = yaml.safe_load(first.stdout)
    assert printed["model"]["num_envs"] == 4 and printed["model"]["hyperparameters"]["n_epochs"] == 20
    (tmp_path / "printed.yaml").write_text(first.stdout)
    second = rl_lightning("fit", "--config", "printed.yaml", "--print_config", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert yaml.safe_load(second.stdout) == printed


def test_multirun_writes_the_seed_files_of_two_runs(tmp_path):
    result = rl_lightning("multirun", "--config", RANDOM_CONFIG, "--num_runs", "2", "--total_steps", "400",
                          "--seed_offset", "3", "--exp_dir", "exp", "--no_progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    exp = tmp_path / "exp"
    for run in (1, 2):
        assert (exp / f"Run{run}_Last_agent.t").exists() and (exp / f"Run{run}_Best_agent.t").exists()
        with open(exp / f"metrics_run{run}.pkl", "rb") as f:
            episodes = pickle.load(f)
        assert episodes and episodes[0]["agent_seed"] == (run - 1) * 400 + 3
    args = yaml.safe_load((exp / "args.yaml").read_text())
    assert args["total_steps"] == 400 and args["num_runs"] == 2 and args["agent"] == "RandomAgent"
    assert (exp / "config.py").read_text() == (exp / "random_cartpole.yaml").read_text() == open(RANDOM_CONFIG).read()


def test_a_bad_key_exits_non_zero_naming_it_and_the_nearest_valid_key(tmp_path):
    result = rl_lightning("fit", "--config", PPO_CONFIG, "--model.total_step", "100", cwd=tmp_path)
    assert result.returncode == 2
    assert "--model.total_step" in result.stderr and "'total_steps'" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["fit", "multirun"])
def test_bad_configs_are_refused_before_anything_is_written(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    cases = {
        "env_id: CartPol-v1\nagent: PPO\ntotal_steps: 100\n": ["'CartPol-v1'", "'CartPole-v1'"],
        "env_id: CartPole-v1\nagent: PPO\ntotal_step: 100\n": ["'total_step'", "'total_steps'"],
        "env_id: CartPole-v1\nagent: [PPO\ntotal_steps: 100\n": ["bad.yaml:3:"],
        "env_id: CartPole-v1\nagent: mypkg.agents.Nope\ntotal_steps: 100\n": ["'mypkg.agents.Nope'"],
    }
    for text, expected in cases.items():
        (tmp_path / "bad.yaml").write_text(text)
        assert main([command, "--config", "bad.yaml"]) == 2
        error = capsys.readouterr().err
        assert all(part in error for part in expected), error
    assert sorted(os.listdir(tmp_path)) == ["bad.yaml"]


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert all(name in usage for name in ("fit", "multirun", "validate", "plot", "sweep"))
    assert main(["fitt"]) == 2 and "'fit'" in capsys.readouterr().err
