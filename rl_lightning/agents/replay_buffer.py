"""``ReplayBuffer``: the off-policy agents' memory of transitions (DQN, SAC).

Storage is preallocated CPU tensors written through numpy views (a vector step's rows cost a few numpy
assignments, no tensor ops) and sampled uniformly with replacement from the agent's own generator. The
caller says which sub-envs' rows are real transitions, so reset steps never enter the buffer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["ReplayBuffer", "Batch"]


class Batch(NamedTuple):
    """A sampled minibatch, ``B`` transitions on the agent's device."""

    observations: torch.Tensor  # (B, obs_dim) float32
    actions: torch.Tensor  # (B,) int64 for discrete actions, (B, action_dim) float32 for continuous ones
    rewards: torch.Tensor  # (B,) float32
    next_observations: torch.Tensor  # (B, obs_dim) float32: the step's next observation (an episode's final one)
    terminated: torch.Tensor  # (B,) float32, 1.0 where the episode terminated (truncation is 0: bootstrap)


class ReplayBuffer:
    """A ring buffer of ``(s, a, r, s', terminated)`` transitions; the oldest are overwritten when it is full.

    Args:
        capacity: transitions kept (env steps, summed over sub-envs).
        obs_dim: floats per flattened observation.
        action_shape: shape of one action (``()`` for a discrete action).
        action_dtype: ``torch.int64`` for discrete actions, ``torch.float32`` for continuous ones.
    """

    def __init__(self, capacity: int, obs_dim: int, action_shape: tuple = (), action_dtype: torch.dtype = torch.int64):
        self.capacity = capacity
        self.observations = torch.zeros((capacity, obs_dim))
        self.next_observations = torch.zeros((capacity, obs_dim))
        self.actions = torch.zeros((capacity,) + tuple(action_shape), dtype=action_dtype)
        self.rewards = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self._views = [t.numpy() for t in (self.observations, self.actions, self.rewards, self.next_observations,
                                           self.terminated)]
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_observations: np.ndarray,
            terminated: np.ndarray, keep: np.ndarray) -> None:
        """Store one vector step's transitions of the sub-envs where ``keep`` is True (arrays batched by sub-env)."""
        rows = np.flatnonzero(keep)
        count = len(rows)
        if count == 0:
            return
        index = (self.pos + np.arange(count)) % self.capacity
        n = len(keep)
        for view, values in zip(self._views, (observations.reshape(n, -1), actions, rewards,
                                              next_observations.reshape(n, -1), terminated), strict=True):
            view[index] = values[rows]
        self.pos = (self.pos + count) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def state_dict(self) -> dict:
        """The storage (shared, not copied) and the write position."""
        return {"observations": self.observations, "actions": self.actions, "rewards": self.rewards,
                "next_observations": self.next_observations, "terminated": self.terminated, "pos": self.pos,
                "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        """Restore a buffer of the same capacity saved by :meth:`state_dict`."""
        if state["rewards"].shape[0] != self.capacity:
            raise ValueError(f"the saved replay buffer holds {state['rewards'].shape[0]} transitions, this one "
                             f"{self.capacity}: build the agent with the buffer_size it was saved with.")
        for name in ("observations", "actions", "rewards", "next_observations", "terminated"):
            getattr(self, name).copy_(state[name])
        self.pos, self.size = int(state["pos"]), int(state["size"])

    def sample(self, batch_size: int, generator: torch.Generator, device: torch.device,
               dtype: torch.dtype = torch.float32) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement, on ``device``, floats as ``dtype``."""
        index = torch.randint(self.size, (batch_size,), generator=generator, device=generator.device).cpu()
        return Batch(*(t[index].to(device, dtype if t.is_floating_point() else t.dtype)
                       for t in (self.observations, self.actions, self.rewards, self.next_observations,
                                 self.terminated)))
