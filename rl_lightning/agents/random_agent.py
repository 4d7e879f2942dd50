"""``RandomAgent``: uniform random actions, the baseline every learning agent must beat."""

from __future__ import annotations

from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np
import torch

from rl_lightning.agents.files import decode_space, encode_space, load_agent_file
from rl_lightning.agents.registry import register_agent

__all__ = ["RandomAgent"]


@register_agent
class RandomAgent:
    """A seed-protocol agent that samples every sub-env's action uniformly from the action space.

    Args:
        action_space: the action space of one sub-env (``env.single_action_space``).
        num_envs: number of sub-envs it acts for (``set_num_env`` changes it).
    """

    #: Vector steps of actions a ``Discrete`` action space draws at once (one numpy call instead of one per step).
    BLOCK = 256

    def __init__(self, action_space: gym.Space, num_envs: int = 1):
        self.action_space = action_space
        self.num_envs = num_envs
        self.batch_space = gym.vector.utils.batch_space(action_space, num_envs)
        self.training = True
        self._block: Optional[np.ndarray] = None
        self._next = 0

    @classmethod
    def for_env(cls, env: gym.vector.VectorEnv) -> "RandomAgent":
        """An agent factory's body: ``OnlineTrainer(make_env, RandomAgent.for_env)``."""
        return cls(env.single_action_space, env.num_envs)

    def reset(self, seed: int) -> None:
        self.batch_space.seed(seed)
        self._block = None

    def set_num_env(self, num_envs: int) -> None:
        if num_envs != self.num_envs:
            self.num_envs = num_envs
            self.batch_space = gym.vector.utils.batch_space(self.action_space, num_envs)
            self._block = None

    def train(self) -> None:
        self.training = True

    def eval(self) -> None:
        self.training = False

    def act(self, observation: Any) -> np.ndarray:
        """One uniform action per sub-env. For a ``Discrete`` space they come from a block of ``BLOCK`` vector
        steps drawn at once from the space's generator (seeded by :meth:`reset`); other spaces sample per call."""
        space = self.action_space
        if not isinstance(space, gym.spaces.Discrete):
            return self.batch_space.sample()
        if self._block is None or self._next == len(self._block):
            start = int(space.start)
            self._block = self.batch_space.np_random.integers(start, start + int(space.n),
                                                              size=(self.BLOCK, self.num_envs), dtype=np.int64)
            self._next = 0
        self._next += 1
        return self._block[self._next - 1]

    def update(self, observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Nothing to learn."""

    def save(self, file_path: Optional[str] = None) -> dict:
        """The space, the sub-env count and where the action stream is (generator state, unused drawn actions),
        so a loaded agent, and a run resumed with it, acts exactly as this one would have."""
        checkpoint = {"action_space": encode_space(self.action_space), "num_envs": self.num_envs,
                      "generator": self.batch_space.np_random.bit_generator.state,
                      "block": None if self._block is None else torch.from_numpy(self._block.copy()),
                      "next": self._next}
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path: str, checkpoint: Optional[dict] = None, *, trust: bool = False) -> "RandomAgent":
        """Restore an agent written by ``save`` (plain data: ``torch.load(weights_only=True)``; files of earlier
        versions without running code too, see :mod:`rl_lightning.agents.files`)."""
        if checkpoint is None:
            checkpoint = load_agent_file(file_path, trust)
        agent = cls(decode_space(checkpoint["action_space"]), checkpoint["num_envs"])
        if checkpoint.get("generator") is not None:  # files of earlier versions hold no stream position
            agent.batch_space.np_random.bit_generator.state = checkpoint["generator"]
            block = checkpoint["block"]
            agent._block = block.numpy() if isinstance(block, torch.Tensor) else block
            agent._next = checkpoint["next"]
        return agent
