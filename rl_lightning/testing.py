"""Test doubles for users' own tests and ours: a counting env and a call-recording seed-protocol agent.

``CountingEnv`` makes every quantity predictable: the observation is the number of steps taken since the
reset, every step pays ``reward`` (and reports ``info["actual_reward"] = 2 * reward`` when asked), and an
episode lasts a length drawn from the reset seed. ``RecordingAgent`` follows the seed agent protocol with
numpy only and records the name of every method called on it, in order, in :attr:`RecordingAgent.calls`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np
import torch

__all__ = ["CountingEnv", "RecordingAgent", "make_counting_vec_env"]


class CountingEnv(gym.Env):
    """An env whose episode length is drawn from the reset seed, in ``[min_length, max_length]`` steps.

    Args:
        min_length: shortest episode, in env steps.
        max_length: longest episode, in env steps.
        reward: reward paid per step.
        actual_reward: also report ``info["actual_reward"] = 2 * reward`` (a shaped-reward wrapper's view).
        truncate: end episodes by truncation instead of termination.
        render_mode: ``None``, ``"ansi"`` (a text frame ``"t=<steps>"``) or ``"rgb_array"`` (a 4x4x3 image).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 30}

    def __init__(self, min_length: int = 3, max_length: int = 7, reward: float = 1.0, actual_reward: bool = False,
                 truncate: bool = False, render_mode: Optional[str] = None):
        self.min_length, self.max_length = min_length, max_length
        self.reward = reward
        self.actual_reward = actual_reward
        self.truncate = truncate
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, float(max_length), shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0
        self.length = min_length

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self.t = 0
        self.length = int(self.np_random.integers(self.min_length, self.max_length + 1))
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action: Any):
        self.t += 1
        done = self.t >= self.length
        info = {"actual_reward": 2 * self.reward} if self.actual_reward else {}
        observation = np.array([float(self.t)], dtype=np.float32)
        return observation, self.reward, done and not self.truncate, done and self.truncate, info

    def render(self):
        if self.render_mode == "ansi":
            return f"t={self.t}"
        if self.render_mode == "rgb_array":
            return np.full((4, 4, 3), self.t, dtype=np.uint8)
        return None


def make_counting_vec_env(num_envs: int = 2, **kwargs: Any) -> Callable[[], gym.vector.SyncVectorEnv]:
    """A factory of ``SyncVectorEnv`` s of ``num_envs`` :class:`CountingEnv` s (keyword arguments go to each)."""
    return lambda: gym.vector.SyncVectorEnv([lambda: CountingEnv(**kwargs) for _ in range(num_envs)])


class RecordingAgent:
    """A seed-protocol agent (numpy only) that records every call made on it.

    It acts at random from its own generator (seeded by ``reset``); when greedy (``eval()`` or
    ``greedy=True``) it always plays action ``greedy_action``. ``update`` adds the reward to a running
    total, the agent's only "weight", and reports it through ``call_back``. ``log()`` returns, for every
    sub-env, ``{"reward": array([r])}`` of the last update.

    Args:
        num_actions: size of the discrete action space.
        greedy_action: the action played when greedy.
        with_log: offer ``log()``.
    """

    def __init__(self, num_actions: int = 2, greedy_action: int = 1, with_log: bool = True):
        self.num_actions = num_actions
        self.greedy_action = greedy_action
        self.calls: list[str] = []
        self.training = True
        self.num_envs = 1
        self.weight = 0.0
        self.updates = 0
        self.rng = np.random.default_rng(0)
        self._last_reward: Optional[np.ndarray] = None
        if not with_log:
            self.log = None  # type: ignore[assignment]

    def set_hp(self, hp: Any) -> None:
        self.calls.append("set_hp")
        self.hp = hp

    def reset(self, seed: int) -> None:
        self.calls.append("reset")
        self.rng = np.random.default_rng(seed)
        self.weight = 0.0
        self.updates = 0

    def train(self) -> None:
        self.calls.append("train")
        self.training = True

    def eval(self) -> None:
        self.calls.append("eval")
        self.training = False

    def set_num_env(self, num_envs: int) -> None:
        self.calls.append("set_num_env")
        self.num_envs = num_envs

    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        self.calls.append("act")
        if greedy or not self.training:
            return np.full(self.num_envs, self.greedy_action, dtype=np.int64)
        return self.rng.integers(0, self.num_actions, size=self.num_envs)

    def update(self, observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        self.calls.append("update")
        self.weight += float(np.sum(reward))
        self.updates += 1
        self._last_reward = np.asarray(reward, dtype=np.float64)
        if call_back is not None:
            call_back({"weight": self.weight})

    def log(self) -> list:  # noqa: F811 - replaced by None when with_log=False
        self.calls.append("log")
        if self._last_reward is None:
            return [None] * self.num_envs
        return [{"reward": self._last_reward[i:i + 1]} for i in range(self.num_envs)]

    def save(self, file_path: Optional[str] = None) -> dict:
        self.calls.append("save")
        checkpoint = {"weight": self.weight, "updates": self.updates, "num_actions": self.num_actions,
                      "greedy_action": self.greedy_action, "rng_state": self.rng.bit_generator.state}
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path: str, checkpoint: Optional[dict] = None) -> "RecordingAgent":
        """Restore an agent from a file written by ``save(path)`` (or from its ``checkpoint`` dict)."""
        if checkpoint is None:
            checkpoint = torch.load(file_path, weights_only=True)  # plain data only
        agent = cls(num_actions=checkpoint["num_actions"], greedy_action=checkpoint["greedy_action"])
        agent.weight, agent.updates = checkpoint["weight"], checkpoint["updates"]
        agent.rng.bit_generator.state = checkpoint["rng_state"]
        return agent
