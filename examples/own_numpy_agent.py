"""Bring your own agent: a seed-protocol agent written in numpy, trained by OnlineTrainer unchanged.

    python examples/own_numpy_agent.py

The agent is a linear softmax policy learned by REINFORCE with a running-mean baseline. It is a plain object
with the protocol's methods (``act``, ``update``, ``reset``, ``set_num_env``, ``save``, ``load``, ``log``),
not a LightningModule; rl_lightning wraps it. ``RL_LIGHTNING_EXAMPLE_STEPS`` shrinks the budget.
"""

import os
from typing import Optional

import gymnasium as gym
import numpy as np
import torch

from rl_lightning import OnlineTrainer


class LinearReinforce:
    """Softmax policy ``pi(a|s) = softmax(s @ W)``, one REINFORCE step per finished episode of each sub-env."""

    def __init__(self, obs_dim: int, num_actions: int, lr: float = 0.01, gamma: float = 0.99):
        self.obs_dim, self.num_actions, self.lr, self.gamma = obs_dim, num_actions, lr, gamma
        self.weights = np.zeros((obs_dim, num_actions))
        self.num_envs = 1
        self.rng = np.random.default_rng(0)
        self.baseline = 0.0

    # --- the seed protocol
    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.weights = np.zeros((self.obs_dim, self.num_actions))
        self.set_num_env(self.num_envs)

    def set_num_env(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.trajectories = [[] for _ in range(num_envs)]  # (obs, action, reward) per sub-env

    def _probs(self, obs: np.ndarray) -> np.ndarray:
        logits = obs @ self.weights
        logits -= logits.max(axis=-1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=-1, keepdims=True)

    def act(self, observation: np.ndarray, greedy: bool = False) -> np.ndarray:
        probs = self._probs(observation)
        if greedy:
            actions = probs.argmax(-1)
        else:
            actions = (self.rng.random((len(probs), 1)) > probs.cumsum(-1)).sum(-1).clip(0, self.num_actions - 1)
        self._last = (observation, actions)
        return actions

    def update(self, next_observation, reward, terminated, truncated, call_back=None) -> None:
        observation, actions = self._last
        for i in range(self.num_envs):
            self.trajectories[i].append((observation[i], actions[i], float(reward[i])))
            if terminated[i] or truncated[i]:
                loss = self._learn(self.trajectories[i])
                self.trajectories[i] = []
                if call_back is not None:
                    call_back({"loss": loss, "baseline": self.baseline})

    def _learn(self, trajectory: list) -> float:
        ret, returns = 0.0, []
        for _, _, r in reversed(trajectory):
            ret = r + self.gamma * ret
            returns.append(ret)
        returns.reverse()
        self.baseline += 0.05 * (returns[0] - self.baseline)
        grad = np.zeros_like(self.weights)
        for (obs, action, _), g in zip(trajectory, returns):
            probs = self._probs(obs[None])[0]
            one_hot = np.eye(self.num_actions)[action]
            grad += np.outer(obs, one_hot - probs) * (g - self.baseline)
        self.weights += self.lr * grad / len(trajectory)
        return float(-(np.array(returns) - self.baseline).mean())

    def log(self) -> Optional[list]:
        return None

    def save(self, file_path: Optional[str] = None) -> dict:
        checkpoint = {"weights": self.weights.copy(), "obs_dim": self.obs_dim, "num_actions": self.num_actions,
                      "lr": self.lr, "gamma": self.gamma}
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path: Optional[str], checkpoint: Optional[dict] = None) -> "LinearReinforce":
        if checkpoint is None:
            checkpoint = torch.load(file_path, weights_only=False)
        agent = cls(checkpoint["obs_dim"], checkpoint["num_actions"], checkpoint["lr"], checkpoint["gamma"])
        agent.weights = checkpoint["weights"].copy()
        return agent


def make_env() -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)])


def make_agent(env: gym.vector.VectorEnv) -> LinearReinforce:
    return LinearReinforce(env.single_observation_space.shape[0], int(env.single_action_space.n))


def main() -> None:
    total_steps = int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", 40_000))
    trainer = OnlineTrainer(make_env, make_agent, exp_dir="runs/own_numpy_agent")
    runs = trainer.multi_run(num_runs=2, total_steps=total_steps, seed_offset=0, checkpoint_freq=0, overwrite=True)
    for run, episodes in enumerate(runs, 1):
        first = np.mean([e["ep_return"] for e in episodes[:20]])
        last = np.mean([e["ep_return"] for e in episodes[-20:]])
        print(f"run {run}: mean return of the first 20 episodes {first:.1f}, of the last 20 {last:.1f}")
    best = LinearReinforce.load("runs/own_numpy_agent/Run1_Last_agent.t")
    print("reloaded Run1_Last_agent.t; greedy actions on a zero observation:", best.act(np.zeros((1, 4)), greedy=True))


if __name__ == "__main__":
    main()
