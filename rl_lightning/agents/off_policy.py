"""``OffPolicyAgent``: what replay-based agents share (DQN, SAC, TD3): the replay buffer, the schedule of learning
phases, and target-network updates.

Schedule, as Stable-Baselines3's: every training vector step stores its real transitions (reset steps never enter
the buffer; see :mod:`rl_lightning.agents.base`), calls :meth:`OffPolicyAgent.on_vector_step`, and every
``train_freq`` vector steps, once more than ``learning_starts`` env steps were taken, runs a learning phase of
``gradient_steps`` gradient steps (:meth:`OffPolicyAgent.learn`). Before ``learning_starts`` agents act uniformly
at random (:attr:`OffPolicyAgent.warming_up`).

Transitions: a truncated episode's last transition is stored with ``terminated = 0`` and its final observation as
next observation, so its target bootstraps from it; only termination zeroes the bootstrap.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Iterable, Optional

import gymnasium as gym
import numpy as np
import torch

from rl_lightning.agents.base import SEGMENT_STEPS, LightningAgent
from rl_lightning.agents.networks import flat_dim
from rl_lightning.agents.replay_buffer import Batch, ReplayBuffer

__all__ = ["OffPolicyAgent", "polyak_update"]


@torch.no_grad()
def polyak_update(target: Iterable[torch.Tensor], online: Iterable[torch.Tensor], tau: float) -> None:
    """``target ← (1 - τ) target + τ online`` for each pair of tensors (a copy when ``tau == 1``)."""
    target, online = list(target), list(online)
    if tau == 1.0:
        torch._foreach_copy_(target, online)
    else:
        torch._foreach_lerp_(target, online, tau)


class OffPolicyAgent(LightningAgent):
    """Base of replay-based agents for ``Box`` observations and ``Discrete`` or ``Box`` actions.

    The hyperparameters need ``learning_rate``, ``buffer_size`` (transitions), ``learning_starts`` (env steps),
    ``batch_size``, ``train_freq`` (vector steps) and ``gradient_steps``. A subclass builds its networks and
    optimizers, calls ``self.reset(0)``, and writes:

    - ``act``, calling :meth:`record_action` in training mode with what the buffer stores of each action
      (a Discrete action's index, a Box action in ``[-1, 1]``, which :meth:`to_env_action` rescales);
    - :meth:`learn`, the gradient steps of one learning phase (:meth:`sample_batch` draws a minibatch;
      :func:`polyak_update` moves target networks);
    - optionally :meth:`on_vector_step`, work at every training vector step (DQN's ε and target copies).

    Attributes:
        buffer: the :class:`~rl_lightning.agents.ReplayBuffer` (rebuilt by ``reset``).
        vector_steps: training vector steps since ``reset``.
        n_updates: gradient steps since ``reset``.
    """

    lockstep_updates = True  # learning phases every train_freq vector steps, on every DDP rank

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Any = None, num_envs: int = 1,
                 **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.obs_dim = flat_dim(observation_space)
        discrete = isinstance(action_space, gym.spaces.Discrete)
        self._action_shape = () if discrete else (flat_dim(action_space),)
        self._action_dtype = torch.int64 if discrete else torch.float32
        if not discrete:
            low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
            self._action_center, self._action_scale = (high + low) / 2.0, (high - low) / 2.0
        self.vector_steps = 0
        self.n_updates = 0

    @abstractmethod
    def learn(self, gradient_steps: int) -> dict:
        """Take ``gradient_steps`` gradient steps on minibatches from the buffer; return the metrics to log."""

    def on_vector_step(self) -> None:
        """Called at every training vector step, after its transitions are stored and before a learning phase."""

    @property
    def segment_steps(self) -> int:
        """Whole learning phases per Lightning ``training_step``: the multiple of ``train_freq`` nearest 128."""
        train_freq = self.params.train_freq
        return max(1, round(SEGMENT_STEPS / train_freq)) * train_freq

    @property
    def warming_up(self) -> bool:
        """True while fewer than ``learning_starts`` env steps were taken: act uniformly at random then."""
        return self.env_steps < self.params.learning_starts

    def reset(self, seed: int) -> None:
        super().reset(seed)
        for optimizer in self.optimizer_list:
            for group in optimizer.param_groups:
                group["lr"] = self.params.learning_rate
        self.buffer = ReplayBuffer(self.params.buffer_size, self.obs_dim, self._action_shape, self._action_dtype)
        self.vector_steps = 0
        self.n_updates = 0
        self._allocate_last_step()

    def set_num_env(self, num_envs: int) -> None:
        super().set_num_env(num_envs)
        self._allocate_last_step()

    def _allocate_last_step(self) -> None:
        self._last_obs = np.zeros((self.num_envs, self.obs_dim), dtype=np.float32)
        dtype = np.int64 if self._action_dtype == torch.int64 else np.float32
        self._last_actions = np.zeros((self.num_envs,) + self._action_shape, dtype=dtype)

    def training_state(self) -> dict:
        return {"buffer": self.buffer.state_dict(), "vector_steps": self.vector_steps, "n_updates": self.n_updates,
                "last_obs": torch.from_numpy(self._last_obs), "last_actions": torch.from_numpy(self._last_actions)}

    def load_training_state(self, state: dict) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.vector_steps, self.n_updates = int(state["vector_steps"]), int(state["n_updates"])
        self._last_obs[...] = state["last_obs"].numpy()
        self._last_actions[...] = state["last_actions"].numpy()

    # ------------------------------------------------------------------ acting and learning
    def record_action(self, observation: Any, actions: np.ndarray) -> None:
        """Remember this vector step's observations and actions (as the buffer stores them) for :meth:`update`."""
        self._last_obs[:] = np.asarray(observation).reshape(self.num_envs, -1)
        self._last_actions[:] = actions

    def update(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Store the step's real transitions; every ``train_freq`` vector steps after ``learning_starts``, learn."""
        if not self.training:
            return
        p = self.params
        real = self.count_step(terminated, truncated)
        self.buffer.add(self._last_obs, self._last_actions, reward, np.asarray(next_observation), terminated, real)
        self.vector_steps += 1
        self.on_vector_step()
        if self.vector_steps % p.train_freq == 0 and self.env_steps > p.learning_starts:
            metrics = self.learn(p.gradient_steps)
            if call_back is not None:
                call_back(metrics)

    def to_env_action(self, action: np.ndarray) -> np.ndarray:
        """Box actions in ``[-1, 1]`` (what the networks and the buffer use) rescaled to the action space's bounds."""
        env_action = self._action_center + self._action_scale * action
        return env_action.astype(self.action_space.dtype).reshape((-1,) + self.action_space.shape)

    _to_env_action = to_env_action  # its earlier name

    def sample_batch(self) -> Batch:
        """``batch_size`` transitions drawn uniformly from the buffer with :attr:`rng`, on the agent's device."""
        return self.buffer.sample(self.params.batch_size, self.rng, self.device, self.dtype)
