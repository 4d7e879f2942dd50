"""Helpers for the agent tests: a tiny continuous-control env, a greedy evaluation, and run wrappers."""

from __future__ import annotations

from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np

from rl_lightning import EmptyCallBack, OnlineTrainer


class TargetEnv(gym.Env):
    """Say where you are: the observation is a point in ``[-1, 1]``, the reward ``-(action - point)^2``.

    Episodes last ``length`` steps and end by truncation. A uniformly random policy earns about ``-2/3`` per
    step; the optimal one earns 0. Learnable in a few hundred gradient steps, so smoke tests stay fast.
    """

    def __init__(self, length: int = 10):
        self.length = length
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._point = np.zeros(1, dtype=np.float32)
        self._t = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self._t = 0
        self._point = self.np_random.uniform(-1, 1, size=1).astype(np.float32)
        return self._point.copy(), {}

    def step(self, action: Any):
        reward = -float((np.asarray(action, dtype=np.float32)[0] - self._point[0]) ** 2)
        self._t += 1
        self._point = self.np_random.uniform(-1, 1, size=1).astype(np.float32)
        return self._point.copy(), reward, False, self._t >= self.length, {}


def make_target_env(num_envs: int = 4) -> Callable[[], gym.vector.SyncVectorEnv]:
    return lambda: gym.vector.SyncVectorEnv([TargetEnv for _ in range(num_envs)])


def make_cartpole(num_envs: int = 8) -> Callable[[], gym.vector.VectorEnv]:
    return lambda: gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")


def reset_env(env: gym.vector.VectorEnv, seed: int) -> Any:
    """Reset as the rollout does: one seed per sub-env for Sync/Async envs, the first for a native vector env."""
    per_sub_env = isinstance(env, (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv))
    return env.reset(seed=[seed + i for i in range(env.num_envs)] if per_sub_env else seed)[0]


def bare_loop(agent: Any, env: gym.vector.VectorEnv, vector_steps: int, seed: int = 0) -> None:
    """The seed trainer's calls without a trainer: reset, set_num_env, then act → step → update."""
    agent.reset(seed)
    agent.set_num_env(env.num_envs)
    obs = reset_env(env, seed)
    for _ in range(vector_steps):
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs


def train(make_env: Callable, make_agent: Callable, total_steps: int, seed: int = 0) -> tuple[Any, list]:
    """One OnlineTrainer run; returns the trained agent and its episode dicts."""
    trainer = OnlineTrainer(make_env, make_agent, progress=False)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, total_steps=total_steps, seed_offset=seed, dump_metrics=False,
                                 keep_metrics_in_memory=True)[0]
    return trainer.agent, episodes


def evaluate(agent: Any, make_env: Callable, num_episodes: int, seed: int = 1234) -> float:
    """Mean return of ``num_episodes`` greedy episodes through ``OnlineTrainer(train=False)``."""
    trainer = OnlineTrainer(make_env, agent, train=False, progress=False)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, num_episodes=num_episodes, seed_offset=seed, dump_metrics=False,
                                 keep_metrics_in_memory=True)[0]
    return float(np.mean([e["ep_return"] for e in episodes[:num_episodes]]))
