"""Bring your own agent: a seed-protocol agent written in numpy, trained by OnlineTrainer unchanged.

    python examples/own_numpy_agent.py            # 2 seeds x 40k env steps, about 15 seconds
    python examples/own_numpy_agent.py --total_steps 10000

The agent is a linear softmax policy learned by REINFORCE with a running-mean baseline. It is a plain object
with the protocol's methods (``reset``, ``set_num_env``, ``act``, ``update``, ``save`` and the classmethod
``load``; ``log``, ``train``, ``eval`` and ``set_hp`` are optional and left out), not a LightningModule:
rl_lightning wraps it. ``rl_lightning.SeedAgent`` spells the protocol out; ``rl_lightning.check_agent(agent)``
checks an agent against it.

``--total_steps`` (or the ``RL_LIGHTNING_EXAMPLE_STEPS`` environment variable) sets the env steps per run.
"""

import argparse
import os
from typing import Callable, Optional

import gymnasium as gym
import numpy as np
import torch

from rl_lightning import OnlineTrainer

EXP_DIR = "runs/own_numpy_agent"


class LinearReinforce:
    """Softmax policy ``pi(a|s) = softmax(s @ W)``; one REINFORCE step per finished episode of each sub-env.

    Args:
        obs_dim: length of one sub-env's observation vector.
        num_actions: number of discrete actions.
        lr: step size of the gradient ascent on the return.
        gamma: discount factor of the returns.
    """

    def __init__(self, obs_dim: int, num_actions: int, lr: float = 0.01, gamma: float = 0.99):
        self.obs_dim, self.num_actions, self.lr, self.gamma = obs_dim, num_actions, lr, gamma
        self.weights = np.zeros((obs_dim, num_actions))
        self.baseline = 0.0
        self.rng = np.random.default_rng(0)
        self.set_num_env(1)

    # ------------------------------------------------------------------ the seed protocol
    def reset(self, seed: int) -> None:
        """A fresh agent whose sampling is seeded by ``seed``."""
        self.rng = np.random.default_rng(seed)
        self.weights = np.zeros((self.obs_dim, self.num_actions))
        self.baseline = 0.0
        self.set_num_env(self.num_envs)

    def set_num_env(self, num_envs: int) -> None:
        """Act for ``num_envs`` sub-envs: one trajectory of ``(observation, action, reward)`` per sub-env."""
        self.num_envs = num_envs
        self.trajectories: list[list] = [[] for _ in range(num_envs)]

    def act(self, observation: np.ndarray, greedy: bool = False) -> np.ndarray:
        """One action per sub-env (``observation`` has one row per sub-env); ``greedy`` takes the likeliest."""
        probs = self._probs(observation)
        if greedy:
            actions = probs.argmax(-1)
        else:  # inverse-CDF sampling, one uniform draw per sub-env
            actions = (self.rng.random((len(probs), 1)) > probs.cumsum(-1)).sum(-1).clip(0, self.num_actions - 1)
        self._last = (observation, actions)
        return actions

    def update(self, next_observation: np.ndarray, reward: np.ndarray, terminated: np.ndarray,
               truncated: np.ndarray, call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Record the step of each sub-env; learn from a sub-env's episode when it ends."""
        observation, actions = self._last
        for i in range(self.num_envs):
            self.trajectories[i].append((observation[i], actions[i], float(reward[i])))
            if terminated[i] or truncated[i]:
                loss = self._learn(self.trajectories[i])
                self.trajectories[i] = []
                if call_back is not None:  # logged under agents/run_{r} at the current env step
                    call_back({"loss": loss, "baseline": self.baseline})

    def save(self, file_path: Optional[str] = None) -> dict:
        """The agent as a dict; with ``file_path`` also written to ``f"{file_path}_agent.t"``."""
        checkpoint = {"weights": self.weights.copy(), "baseline": self.baseline, "obs_dim": self.obs_dim,
                      "num_actions": self.num_actions, "lr": self.lr, "gamma": self.gamma}
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path: Optional[str], checkpoint: Optional[dict] = None) -> "LinearReinforce":
        """The agent saved at ``file_path`` (or given as its ``checkpoint`` dict)."""
        if checkpoint is None:
            checkpoint = torch.load(file_path, weights_only=False)
        agent = cls(checkpoint["obs_dim"], checkpoint["num_actions"], checkpoint["lr"], checkpoint["gamma"])
        agent.weights = checkpoint["weights"].copy()
        agent.baseline = checkpoint["baseline"]
        return agent

    # ------------------------------------------------------------------ the algorithm
    def _probs(self, observation: np.ndarray) -> np.ndarray:
        logits = observation @ self.weights
        logits -= logits.max(axis=-1, keepdims=True)  # a stable softmax
        p = np.exp(logits)
        return p / p.sum(axis=-1, keepdims=True)

    def _learn(self, trajectory: list) -> float:
        """One gradient-ascent step on ``sum_t log pi(a_t|s_t) (G_t - baseline)``; returns the negated objective."""
        ret, returns = 0.0, []
        for _, _, reward in reversed(trajectory):
            ret = reward + self.gamma * ret
            returns.append(ret)
        returns.reverse()
        self.baseline += 0.05 * (returns[0] - self.baseline)
        grad = np.zeros_like(self.weights)
        for (obs, action, _), g in zip(trajectory, returns):
            probs = self._probs(obs[None])[0]
            grad += np.outer(obs, np.eye(self.num_actions)[action] - probs) * (g - self.baseline)
        self.weights += self.lr * grad / len(trajectory)
        return float(-(np.array(returns) - self.baseline).mean())


def make_env() -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)])


def make_agent(env: gym.vector.VectorEnv) -> LinearReinforce:
    return LinearReinforce(env.single_observation_space.shape[0], int(env.single_action_space.n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int, default=int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", "40000")),
                        help="env steps per run, summed over the 4 sub-envs (default 40000)")
    args = parser.parse_args()

    trainer = OnlineTrainer(make_env, make_agent, exp_dir=EXP_DIR)
    runs = trainer.multi_run(num_runs=2, total_steps=args.total_steps, seed_offset=0, checkpoint_freq=0,
                             overwrite=True)
    for run, episodes in enumerate(runs, 1):
        first = np.mean([e["ep_return"] for e in episodes[:20]])
        last = np.mean([e["ep_return"] for e in episodes[-20:]])
        print(f"run {run}: mean return of the first 20 episodes {first:.1f}, of the last 20 {last:.1f}")

    agent = LinearReinforce.load(os.path.join(EXP_DIR, "Run1_Last_agent.t"))
    print(f"reloaded {EXP_DIR}/Run1_Last_agent.t; greedy actions, pole leaning left then right:",
          agent.act(np.array([[0.0, 0.0, -0.1, -0.5], [0.0, 0.0, 0.1, 0.5]]), greedy=True))


if __name__ == "__main__":
    main()
