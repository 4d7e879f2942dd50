"""``compat="rlbase"``: the origin's own scripts see exactly the origin's files and objects (issue 24).

The origin's ``train.py`` writes ``str(trainer.agent)`` to ``agent.txt`` after ``multi_run``; its ``test.py`` plays
a saved agent greedily (``train=False``) into a folder inside the experiment. Scripts list, copy and sync these
folders, so the file set is part of the contract.
"""

import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.testing import CountingEnv


class OriginStyleAgent:
    """An agent as the origin's are written: numpy only, its own generator, train()/eval() and a training flag,
    save() dicts read back by its class's load(path, checkpoint=None)."""

    def __init__(self, action_space, observation_space, hyper_params=None, num_envs=1, feature_extractor_class=None,
                 device="cpu"):
        self.action_space, self.observation_space = action_space, observation_space
        self.hyper_params = dict(hyper_params or {"step_size": 0.1})
        self.num_envs, self.device = num_envs, device
        self.training = True
        self.q = np.zeros(2)
        self.rng = np.random.default_rng(0)

    def reset(self, seed):
        self.rng = np.random.default_rng(seed)
        self.q = np.zeros(2)

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def set_num_env(self, num_envs):
        self.num_envs = num_envs

    def act(self, observation):
        if not self.training:
            return np.full(self.num_envs, int(np.argmax(self.q)))
        return self.rng.integers(0, 2, size=self.num_envs)

    def update(self, observation, reward, terminated, truncated, call_back=None):
        if self.training:
            self.q += self.hyper_params["step_size"] * (np.mean(reward) - self.q)

    def save(self, file_path=None):
        checkpoint = {"q": self.q.copy(), "hyper_params": self.hyper_params, "num_envs": self.num_envs}
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path, checkpoint=None):
        if checkpoint is None:
            checkpoint = torch.load(file_path, weights_only=False)
        agent = cls(gym.spaces.Discrete(2), gym.spaces.Box(0.0, 7.0, (1,)), checkpoint["hyper_params"],
                    checkpoint["num_envs"])
        agent.q = checkpoint["q"].copy()
        return agent

    def __repr__(self):
        return f"OriginStyleAgent(q={self.q.tolist()})"


def make_env():
    return gym.vector.SyncVectorEnv([CountingEnv for _ in range(2)])


def make_agent(env):
    return OriginStyleAgent(env.single_action_space, env.single_observation_space, num_envs=env.num_envs)


def file_set(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder)
                  for name in names)


def origin_files(num_runs, config=True, args=True):
    names = [f for r in range(1, num_runs + 1)
             for f in (f"metrics_run{r}.pkl", f"Run{r}_Best_agent.t", f"Run{r}_Last_agent.t")]
    return sorted(names + (["config.py"] if config else []) + (["args.yaml"] if args else []))


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "my_config.py"
    path.write_text("step_size = 0.1\n")
    return path


@pytest.mark.parametrize("num_workers", [1, 2])
def test_an_rlbase_experiment_folder_holds_exactly_the_origins_files(tmp_path, config, num_workers):
    exp_dir = tmp_path / "exp"
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, config=config, args={"seed": 0},
                            compat="rlbase", progress=False)
    trainer.multi_run(3, total_steps=200, seed_offset=0, checkpoint_freq=0, num_workers=num_workers)
    assert file_set(exp_dir) == origin_files(3)


def test_rlbase_keeps_resumable_checkpoints_when_asked_for_them(tmp_path, config):
    exp_dir = tmp_path / "exp"
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, config=config, args={"seed": 0},
                            compat="rlbase", progress=False, checkpoint_interval=300)
    trainer.multi_run(2, total_steps=200, seed_offset=0, checkpoint_freq=0)
    checkpoints = [os.path.join("checkpoints", f"run{r}", name) for r in (1, 2) for name in ("best.ckpt", "last.ckpt")]
    assert file_set(exp_dir) == sorted(origin_files(2) + checkpoints)
    # ... and they resume: the finished runs are read back, nothing is run again.
    again = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, compat="rlbase", progress=False,
                          checkpoint_interval=300)
    again.multi_run(2, total_steps=200, seed_offset=0, checkpoint_freq=0, resume=True)
    assert file_set(exp_dir) == sorted(origin_files(2) + checkpoints)


@pytest.mark.parametrize("compat", ["default", "rlbase"])
def test_a_greedy_evaluation_run_writes_no_lightning_checkpoints(tmp_path, compat):
    exp_dir = tmp_path / "exp"
    OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, compat=compat, progress=False, checkpoint_interval=300,
                  ).multi_run(1, total_steps=100, seed_offset=0, checkpoint_freq=0)
    # As the origin's test.py: the best agent, loaded, played greedily into a folder of the experiment.
    best = OriginStyleAgent.load(str(exp_dir / "Run1_Best_agent.t"))
    eval_dir = exp_dir / "Run1_Best_agent"
    evaluation = OnlineTrainer(make_env, best, exp_dir=eval_dir, train=False, compat=compat, progress=False,
                               checkpoint_interval=300)
    evaluation.call_back = EmptyCallBack()
    evaluation.multi_run(1, num_episodes=4, seed_offset=100)
    kept_in_memory = ["all_metrics.pkl"] if compat == "default" else []  # keep_metrics_in_memory's default
    assert file_set(eval_dir) == sorted(["metrics_run1.pkl", *kept_in_memory])


@pytest.mark.parametrize("compat", ["default", "rlbase"])
def test_after_multi_run_with_workers_trainer_agent_and_env_are_the_last_runs(tmp_path, compat):
    exp_dir = tmp_path / "exp"
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, compat=compat, progress=False)
    trainer.multi_run(3, total_steps=300, seed_offset=0, checkpoint_freq=0, num_workers=2)
    last = torch.load(exp_dir / "Run3_Last_agent.t", weights_only=False)
    assert isinstance(trainer.agent, OriginStyleAgent)
    assert np.array_equal(trainer.agent.q, last["q"]) and trainer.agent.q.any()  # run 3's agent, trained
    assert str(trainer.agent) == f"OriginStyleAgent(q={last['q'].tolist()})"  # what train.py writes to agent.txt
    assert isinstance(trainer.env, gym.vector.SyncVectorEnv) and trainer.env.num_envs == 2
    # The same objects as a one-worker multi_run leaves.
    serial = OnlineTrainer(make_env, make_agent, exp_dir=tmp_path / "serial", compat=compat, progress=False)
    serial.multi_run(3, total_steps=300, seed_offset=0, checkpoint_freq=0)
    assert np.array_equal(serial.agent.q, trainer.agent.q)
