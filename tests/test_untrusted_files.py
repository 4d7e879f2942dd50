"""Files you did not write (issue 28): opening a checkpoint, an agent file or a metrics file with the default
settings never runs code its author chose; the explicit trust switches still open them."""

import os
import pathlib
import pickle
import re

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from rl_lightning import AgentModule, OnlineTrainer
from rl_lightning.agents import PPO
from rl_lightning.callbacks import LastCheckpoint
from rl_lightning.loading import load_run_metrics
from rl_lightning.safe_pickle import UntrustedFileError
from rl_lightning.testing import RecordingAgent, make_counting_vec_env

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "rl_lightning"


class Payload:
    """Pickles as a call of ``os.system`` that creates ``marker``: the side effect an attacker would choose."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def fit(module, folder, **kwargs):
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                         max_epochs=-1, limit_val_batches=0, callbacks=[LastCheckpoint(folder)])
    trainer.fit(module, **kwargs)
    return module


def module(**kwargs):
    return AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=400, seed=0,
                       segment_steps=10, keep_metrics_in_memory=True, **kwargs)


@pytest.fixture
def crafted_checkpoint(tmp_path):
    """A real last.ckpt of a stopped run whose run state also carries the payload."""
    folder = tmp_path / "ckpt"
    first = module()
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, max_steps=5,
               limit_val_batches=0, callbacks=[LastCheckpoint(folder)]).fit(first)
    path = folder / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    entry = pickle.loads(checkpoint["rl_lightning"])  # the test's own file: safe to open plainly
    entry["payload"] = Payload(tmp_path / "marker")
    checkpoint["rl_lightning"] = pickle.dumps(entry)
    torch.save(checkpoint, path)
    return path


def test_resuming_from_a_crafted_checkpoint_is_refused_before_the_payload_runs(crafted_checkpoint, tmp_path):
    refused = r"names posix\.system.*nothing of it was loaded.*trust_checkpoint=True"
    with pytest.raises(UntrustedFileError, match=refused):
        fit(module(), tmp_path / "ckpt", ckpt_path=crafted_checkpoint)
    assert not (tmp_path / "marker").exists()
    with pytest.raises(UntrustedFileError):
        pl.Trainer(accelerator="cpu", logger=False).validate(module(), ckpt_path=crafted_checkpoint, verbose=False)
    assert not (tmp_path / "marker").exists()


def test_the_trust_switch_opens_the_same_checkpoint(crafted_checkpoint, tmp_path):
    resumed = fit(module(trust_checkpoint=True), tmp_path / "ckpt", ckpt_path=crafted_checkpoint)
    assert (tmp_path / "marker").exists()  # the author's code ran: that is what trusting means
    assert resumed.rollout.env_steps == 400


def test_a_crafted_agent_file_is_refused_and_loads_with_trust(tmp_path):
    agent = PPO.for_env(gym.make_vec("CartPole-v1", num_envs=2), n_steps=16)
    saved = agent.save()
    saved["payload"] = Payload(tmp_path / "marker")
    torch.save(saved, tmp_path / "Run1_Best_agent.t")
    with pytest.raises(UntrustedFileError, match=r"Run1_Best_agent\.t names posix\.system"):
        PPO.load(str(tmp_path / "Run1_Best_agent.t"))
    assert not (tmp_path / "marker").exists()
    loaded = PPO.load(str(tmp_path / "Run1_Best_agent.t"), trust=True)
    assert (tmp_path / "marker").exists() and loaded.params == agent.params


def test_built_in_agent_files_are_plain_data_and_files_of_the_previous_format_load_with_a_warning(tmp_path):
    agent = PPO.for_env(gym.make_vec("CartPole-v1", num_envs=2), n_steps=16)
    agent.save(str(tmp_path / "new"))
    torch.load(tmp_path / "new_agent.t", weights_only=True)  # opens with PyTorch's safe loader
    # The previous format pickled the spaces themselves.
    old = agent.save()
    old["observation_space"], old["action_space"] = agent.observation_space, agent.action_space
    torch.save(old, tmp_path / "old_agent.t")
    import rl_lightning.agents.files as files

    files._warned_old_format = False
    with pytest.warns(UserWarning, match="written by an earlier version"):
        loaded = PPO.load(str(tmp_path / "old_agent.t"))
    assert loaded.observation_space == agent.observation_space and loaded.action_space == agent.action_space
    for a, b in zip(agent.parameters(), loaded.parameters()):
        assert torch.equal(a, b)


def test_a_crafted_metrics_file_is_refused_in_safe_mode_and_by_plot(tmp_path):
    OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / "exp", progress=False,
                  checkpoint_interval=None).multi_run(1, num_episodes=6, seed_offset=0)
    honest = load_run_metrics(str(tmp_path / "exp"), 1, safe=True)
    assert len(honest) >= 6 and isinstance(honest[0]["actions"][0], np.integer)
    with open(tmp_path / "exp" / "metrics_run1.pkl", "ab") as f:
        pickle.dump([{"ep_return": Payload(tmp_path / "marker")}], f)
    with pytest.raises(UntrustedFileError, match=r"metrics_run1\.pkl names posix\.system.*safe=False"):
        load_run_metrics(str(tmp_path / "exp"), 1, safe=True)
    from rl_lightning.analysis.report import plot_main

    with pytest.raises(SystemExit) as stop:  # rl-lightning plot: exit 2 with the reason
        plot_main([str(tmp_path / "exp"), "--out", str(tmp_path / "plots")])
    assert stop.value.code == 2
    assert not (tmp_path / "marker").exists()
    load_run_metrics(str(tmp_path / "exp"), 1)  # the seed's loader trusts, as before
    assert (tmp_path / "marker").exists()


def test_the_package_unpickles_files_only_through_the_restricted_readers():
    unsafe = re.compile(r"weights_only=False|pickle\.loads?\(|cloudpickle\.loads\(")
    found = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if unsafe.search(path.read_text())}
    # safe_pickle: the trust switch; agents/files: trust=True and the restricted pickle_module; trainer and tune:
    # results their own worker processes send back; metrics_stream: safe=False, the seed loaders' trusted default.
    assert found <= {"safe_pickle.py", "agents/files.py", "trainer.py", "tune/sweep.py", "metrics_stream.py"}, found


def test_the_command_line_refuses_a_crafted_checkpoint_unless_told_to_trust_it(tmp_path, monkeypatch):
    from rl_lightning.cli import main

    monkeypatch.chdir(tmp_path)
    root = str(tmp_path / "run")
    fit = ["fit", "--model.env_id", "CartPole-v1", "--model.agent", "RandomAgent", "--model.total_steps", "4096",
           "--trainer.default_root_dir", root, "--trainer.enable_progress_bar", "false"]
    assert main([*fit, "--trainer.max_steps", "1"]) == 0
    path = os.path.join(root, "checkpoints", "last.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    entry = pickle.loads(checkpoint["rl_lightning"])
    entry["payload"] = Payload(tmp_path / "marker")
    checkpoint["rl_lightning"] = pickle.dumps(entry)
    torch.save(checkpoint, path)
    assert main([*fit, "--ckpt_path", "last"]) == 2  # refused, with the reason on stderr
    assert not (tmp_path / "marker").exists()
    assert main([*fit, "--ckpt_path", "last", "--trust-checkpoint"]) == 0
    assert (tmp_path / "marker").exists()
