"""Shared runs for the analysis and evaluation tests: tiny real experiments, written once per session."""

import gymnasium as gym
import pytest

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env


class ActionRewardEnv(CountingEnv):
    """A CountingEnv that pays the action taken: a greedy RecordingAgent's return is ``greedy_action * length``."""

    def step(self, action):
        observation, _, terminated, truncated, info = super().step(action)
        return observation, float(action), terminated, truncated, info


def action_reward_vec_env(num_envs=1, **kwargs):
    return lambda: gym.vector.SyncVectorEnv([lambda: ActionRewardEnv(**kwargs) for _ in range(num_envs)])


def expected_lengths(seed, count, **kwargs):
    """Episode lengths of one CountingEnv reset with ``seed`` then autoreset (no seed), as a bare loop sees them."""
    env = CountingEnv(**kwargs)
    env.reset(seed=seed)
    lengths = [env.length]
    while len(lengths) < count:
        env.reset()
        lengths.append(env.length)
    return lengths


@pytest.fixture(scope="session")
def action_env():
    return action_reward_vec_env


@pytest.fixture(scope="session")
def lengths_oracle():
    return expected_lengths


def _train(exp_dir, seed_offset, num_runs=2, num_episodes=12, make_env=None):
    trainer = OnlineTrainer(make_env or make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=exp_dir,
                            progress=False, checkpoint_interval=None)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(num_runs, num_episodes=num_episodes, seed_offset=seed_offset, checkpoint_freq=0)
    return exp_dir


@pytest.fixture(scope="session")
def two_experiments(tmp_path_factory):
    """Two experiment folders of 2 runs x 12 episodes each (CountingEnv, 2 sub-envs, RecordingAgent)."""
    root = tmp_path_factory.mktemp("experiments")
    return _train(root / "exp_a", seed_offset=0), _train(root / "exp_b", seed_offset=100)


@pytest.fixture(scope="session")
def trained_greedy_agent(tmp_path_factory):
    """One run of a RecordingAgent on ActionRewardEnv with its Best and Last agent files."""
    exp_dir = tmp_path_factory.mktemp("greedy") / "exp"
    return _train(exp_dir, seed_offset=0, num_runs=1, num_episodes=6, make_env=action_reward_vec_env(1))
