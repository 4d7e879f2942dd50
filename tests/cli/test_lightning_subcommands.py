"""LightningCLI's own ``validate`` and ``test`` beside ``fit``: a checkpoint's greedy episodes as Lightning metrics,
the checkpoint's settings under the command line's, and ``--ckpt_path`` checked before anything is written."""

import csv
import hashlib
import os

import lightning.pytorch as pl
import pytest
import yaml

from rl_lightning.cli import main
from rl_lightning.cli.configured_module import ConfiguredAgentModule

# Lightning's LightningCLI calls jsonargparse APIs that jsonargparse 4.49+ deprecates; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PPO_CONFIG = os.path.join(ROOT, "configs", "ppo_cartpole.yaml")
TINY = ["--model.total_steps", "512", "--model.num_envs", "2", "--model.hyperparameters.n_steps", "16",
        "--model.hyperparameters.n_epochs", "2", "--trainer.enable_progress_bar", "false"]


def digests(folder):
    """Each file under ``folder`` (relative path) -> the SHA-256 of its bytes."""
    out = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def last_row(path):
    with open(path, newline="") as f:
        rows = [row for row in csv.DictReader(f) if any(row.values())]
    return {key: float(value) for key, value in rows[-1].items() if value}


def test_fit_then_validate_and_test_a_checkpoint_without_touching_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", PPO_CONFIG, *TINY]) == 0
    run = tmp_path / "runs" / "ppo_cartpole"
    assert (run / "metrics_run1.pkl").exists() and (run / "checkpoints" / "last.ckpt").exists()
    before = digests(run)
    capsys.readouterr()

    # The config file says n_steps 32: the checkpoint's 16 wins (its agent's weights fit), and the option given
    # after the config wins over the checkpoint's val_episodes (5).
    assert main(["validate", "--config", PPO_CONFIG, "--ckpt_path", "runs/ppo_cartpole/checkpoints/last.ckpt",
                 "--model.val_episodes", "3", "--trainer.enable_progress_bar", "false",
                 "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
                 "--trainer.logger.save_dir", "val_logs"]) == 0
    printed = capsys.readouterr().out
    assert "val/ep_return" in printed and "val/ep_return_std" in printed and "val/ep_length" in printed
    logs = tmp_path / "val_logs" / "lightning_logs" / "version_0"
    metrics = last_row(logs / "metrics.csv")
    assert metrics["val/ep_return"] == metrics["val/ep_length"] >= 8  # CartPole: a reward of 1 per step
    hparams = yaml.safe_load((logs / "hparams.yaml").read_text())
    assert hparams["val_episodes"] == 3 and hparams["hyperparameters"]["n_steps"] == 16
    assert hparams["exp_dir"] is None  # no seed files: nothing written into the run
    assert digests(run) == before

    # The checkpoint alone rebuilds the module, whose validation equals the command's (same weights, same seeds).
    module = ConfiguredAgentModule.load_from_checkpoint(run / "checkpoints" / "last.ckpt", val_episodes=3)
    assert module.hparams["hyperparameters"]["n_steps"] == 16
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (again,) = trainer.validate(module, verbose=False)
    assert again == pytest.approx({key: value for key, value in metrics.items() if key.startswith("val/")})
    assert digests(run) == before

    # test, with Lightning's default logger: a new lightning_logs/version_0 in the run folder, nothing else.
    assert main(["test", "--config", PPO_CONFIG, "--ckpt_path", "last", "--trainer.enable_progress_bar",
                 "false"]) == 0
    printed = capsys.readouterr().out
    assert "test/ep_return" in printed and "test/ep_length" in printed and "val/" not in printed
    after = digests(run)
    assert {key: after[key] for key in before} == before
    assert all(key.startswith(os.path.join("lightning_logs", "version_0", "")) for key in set(after) - set(before))


@pytest.mark.parametrize("command", ["fit", "validate", "test"])
def test_ckpt_path_last_without_a_checkpoint_exits_2_naming_the_path_looked_at(tmp_path, monkeypatch, capsys,
                                                                                command):
    monkeypatch.chdir(tmp_path)
    assert main([command, "--config", PPO_CONFIG, "--ckpt_path", "last"]) == 2
    error = capsys.readouterr().err
    expected = os.path.join("runs", "ppo_cartpole", "checkpoints", "last.ckpt")
    assert error.startswith(f"rl-lightning {command}: error: --ckpt_path last: there is no checkpoint at {expected}")
    assert main([command, "--config", PPO_CONFIG, "--ckpt_path", "nope.ckpt"]) == 2
    assert "--ckpt_path nope.ckpt: no such file" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_validate_refuses_an_unknown_model_key_naming_the_nearest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--config", PPO_CONFIG, "--model.val_episode", "3"]) == 2
    error = capsys.readouterr().err
    assert "'val_episode'" in error and "(nearest: 'val_episodes'" in error
    assert os.listdir(tmp_path) == []


def test_print_config_of_validate_has_the_model_section_of_fit(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--config", PPO_CONFIG, "--model.val_episodes", "7", "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["val_episodes"] == 7 and printed["model"]["agent"] == "PPO"
    assert printed["trainer"]["default_root_dir"] == "runs/ppo_cartpole" and "ckpt_path" in printed
    assert os.listdir(tmp_path) == []
