"""Env-steps/s of OnlineTrainer against a minimal hand-written act/step/update loop, same agent, same process.

    python benchmarks/core.py [--steps 200000] [--repeats 3]

Rows: a random agent on 8 CartPole-v1 sub-envs (SyncVectorEnv), and a per-step numpy agent (a linear
Q-learner that updates after every step) on 1 sub-env. Each figure is the median of ``--repeats`` runs;
the ratio is OnlineTrainer / bare loop, measured in alternation in one process, one thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch

from rl_lightning import EmptyCallBack, JsonlCallback, OnlineTrainer
from rl_lightning.agents import RandomAgent


class LinearQAgent:
    """A seed-protocol agent doing real numpy work every step: epsilon-greedy on a linear Q, one TD update."""

    def __init__(self, env: gym.vector.VectorEnv, lr: float = 0.01, gamma: float = 0.99, epsilon: float = 0.1):
        self.obs_dim = env.single_observation_space.shape[0]
        self.num_actions = int(env.single_action_space.n)
        self.lr, self.gamma, self.epsilon = lr, gamma, epsilon
        self.num_envs = env.num_envs
        self.w = np.zeros((self.num_actions, self.obs_dim))
        self.rng = np.random.default_rng(0)
        self._obs = None
        self._action = None

    def reset(self, seed):
        self.rng = np.random.default_rng(seed)
        self.w[:] = 0.0

    def set_num_env(self, num_envs):
        self.num_envs = num_envs

    def act(self, observation):
        q = observation @ self.w.T
        action = q.argmax(axis=1)
        explore = self.rng.random(self.num_envs) < self.epsilon
        action[explore] = self.rng.integers(0, self.num_actions, explore.sum())
        self._obs, self._action = observation, action
        return action

    def update(self, observation, reward, terminated, truncated, call_back=None):
        target = reward + self.gamma * (observation @ self.w.T).max(axis=1) * (1.0 - terminated)
        rows = np.arange(self.num_envs)
        td = target - (self._obs @ self.w.T)[rows, self._action]
        np.add.at(self.w, self._action, self.lr * td[:, None] * self._obs)
        return td  # the TD errors, for agents built on this one that report them

    def save(self, file_path=None):
        return {"w": self.w.copy()}


def bare_loop(make_env, make_agent, total_steps: int, seed: int = 0) -> float:
    """The minimal loop a user would write: act, step, update, sum returns. Returns env-steps/s."""
    env = make_env()
    agent = make_agent(env)
    agent.reset(seed)
    agent.set_num_env(env.num_envs)
    n = env.num_envs
    obs, _ = env.reset(seed=[seed + i for i in range(n)])
    returns = np.zeros(n, dtype=np.float32)
    finished = []
    steps = 0
    start = time.perf_counter()
    while steps < total_steps:
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        returns += reward
        steps += n
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs
        for i in np.flatnonzero(terminated | truncated):
            finished.append(float(returns[i]))
            returns[i] = 0.0
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def trainer_run(make_env, make_agent, total_steps: int, logger: str, seed: int = 0) -> float:
    """The same work through OnlineTrainer.multi_run (one run, lean mode). Returns env-steps/s."""
    with tempfile.TemporaryDirectory() as exp_dir:
        trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, progress=True)
        trainer.call_back = EmptyCallBack() if logger == "empty" else JsonlCallback(f"{exp_dir}/metrics.jsonl")
        start = time.perf_counter()
        trainer.multi_run(1, total_steps=total_steps, seed_offset=seed, dump_metrics=logger != "empty",
                          keep_metrics_in_memory=False)
        return total_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    cases = [
        ("random agent, 8 sub-envs", lambda: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 8),
         RandomAgent.for_env, args.steps),
        ("per-step numpy agent, 1 sub-env", lambda: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")]),
         LinearQAgent, args.steps // 4),
    ]
    rows = []
    for name, make_env, make_agent, steps in cases:
        bare, empty, jsonl = [], [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(make_env, make_agent, steps))
            empty.append(trainer_run(make_env, make_agent, steps, "empty"))
            jsonl.append(trainer_run(make_env, make_agent, steps, "jsonl"))
        rows.append((name, statistics.median(bare), statistics.median(empty), statistics.median(jsonl)))

    print(f"\n{'case':36s} {'bare loop':>12s} {'OnlineTrainer':>14s} {'ratio':>6s} {'+jsonl+stream':>14s} {'ratio':>6s}")
    for name, bare, empty, jsonl in rows:
        print(f"{name:36s} {bare:12,.0f} {empty:14,.0f} {empty / bare:6.2f} {jsonl:14,.0f} {jsonl / bare:6.2f}")
    print("(env-steps/s, median of repeats; OnlineTrainer rows: EmptyCallBack without metrics stream, then "
          "JsonlCallback with the metrics stream)")


if __name__ == "__main__":
    main()
