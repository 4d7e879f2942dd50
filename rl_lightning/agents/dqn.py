"""DQN: deep Q-learning with a replay buffer and a target network (Mnih et al., 2015), optionally double Q-learning
(van Hasselt et al., 2016).

Reads top to bottom: hyperparameters, the losses as pure functions, then the agent (the Q-network, ``act``
ε-greedy, ``on_vector_step`` decays ε and refreshes the target network, ``learn`` takes the gradient steps). The
replay buffer and the schedule of learning phases are the off-policy base's (:mod:`rl_lightning.agents.off_policy`,
which also says how reset steps and truncation are stored). The defaults are Stable-Baselines3's;
``configs/dqn_cartpole.yaml`` has rl-baselines3-zoo's CartPole settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from rl_lightning.agents.hparams import Params
from rl_lightning.agents.networks import init_mlp_, mlp
from rl_lightning.agents.off_policy import OffPolicyAgent, polyak_update
from rl_lightning.agents.registry import register_agent

__all__ = ["DQN", "DQNParams", "epsilon", "td_target", "q_loss"]


# ---------------------------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class DQNParams(Params):
    """DQN's hyperparameters (Stable-Baselines3's defaults).

    Args:
        learning_rate: Adam's learning rate.
        buffer_size: transitions kept in the replay buffer.
        learning_starts: env steps (summed over sub-envs) of uniformly random acting before learning starts.
        batch_size: transitions per gradient step.
        gamma: discount factor.
        tau: target-network update coefficient (1: copy; below 1: Polyak averaging).
        train_freq: vector steps between learning phases.
        gradient_steps: gradient steps per learning phase.
        target_update_interval: env steps (summed over sub-envs) between target-network updates.
        exploration_fraction: fraction of the schedule's horizon over which ε decays linearly.
        exploration_initial_eps: ε at the start.
        exploration_final_eps: ε once decayed.
        max_grad_norm: clip the global gradient norm to this (``None``: no clipping).
        double_q: pick the next action with the online network, value it with the target network.
        net_arch: hidden widths of the Q-network.
        activation: hidden activation, ``"relu"`` or ``"tanh"``.
        adam_eps: Adam's ε.
        anneal_steps: env steps (summed over sub-envs and DDP ranks) over which the ε schedule runs; ``None``:
            the run's ``total_steps`` when trained by AgentModule / OnlineTrainer in step mode.
    """

    learning_rate: float = 1e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 32
    gamma: float = 0.99
    tau: float = 1.0
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 10_000
    exploration_fraction: float = 0.1
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: Optional[float] = 10.0
    double_q: bool = False
    net_arch: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh"] = "relu"
    adam_eps: float = 1e-8
    anneal_steps: Optional[int] = None

    def check(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "target_update_interval",
                     "anneal_steps"):
            self._range(name, 1)
        self._range("learning_starts", 0)
        for name in ("gamma", "exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
            self._range(name, 0, 1)
        self._range("tau", 0, 1, low_inclusive=False)
        for name in ("learning_rate", "max_grad_norm", "adam_eps"):
            self._range(name, 0, low_inclusive=False)
        for width in self.net_arch:
            if width < 1:
                raise ValueError(f"DQNParams.net_arch={self.net_arch!r} has a width out of range; valid range: "
                                 "[1, inf) for every hidden width.")


# ---------------------------------------------------------------------------------------------- losses
def epsilon(progress: float, initial: float, final: float, fraction: float) -> float:
    """ε after ``progress`` (fraction of the horizon spent): linear from ``initial`` to ``final`` over ``fraction``."""
    if fraction == 0:
        return final
    return initial + (final - initial) * min(1.0, progress / fraction)


def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q_target: torch.Tensor, gamma: float,
              next_q_online: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``r + γ (1 - terminated) max_a' Q_target(s', a')``; with ``next_q_online`` (double Q-learning) the next
    action is ``argmax_a' Q_online(s', a')`` and ``Q_target`` values it."""
    if next_q_online is None:
        next_value = next_q_target.max(-1).values
    else:
        next_value = next_q_target.gather(-1, next_q_online.argmax(-1, keepdim=True)).squeeze(-1)
    return rewards + gamma * (1.0 - terminated) * next_value


def q_loss(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The Huber (smooth L1) loss between ``Q(s, a)`` and the TD targets."""
    return F.smooth_l1_loss(q_values, targets)


# ---------------------------------------------------------------------------------------------- the agent
@register_agent
class DQN(OffPolicyAgent):
    """DQN for ``Discrete`` actions and ``Box`` observations (see :class:`DQNParams`).

    Logged through ``call_back`` once per learning phase: ``q_loss``, ``q_values`` (mean Q(s, a) of the
    batches), ``exploration_rate`` and ``n_updates`` (gradient steps so far).
    """

    params_class = DQNParams
    structural_params = ("net_arch", "activation", "buffer_size", "adam_eps")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[DQNParams] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.num_actions = int(action_space.n)
        self.q_net = mlp(self.obs_dim, self.params.net_arch, self.num_actions, self.params.activation)
        self.q_target = copy.deepcopy(self.q_net).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=self.params.learning_rate,
                                          eps=self.params.adam_eps, fused=True)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise TypeError(f"DQN needs a Discrete action space, got {action_space}; use SAC or PPO for Box actions.")

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_mlp_(self.q_net, generator, orthogonal=False)
        self.q_target.load_state_dict(self.q_net.state_dict())

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.exploration_rate = self.params.exploration_initial_eps

    def training_state(self) -> dict:
        return {**super().training_state(), "exploration_rate": self.exploration_rate}

    def load_training_state(self, state: dict) -> None:
        super().load_training_state(state)
        self.exploration_rate = float(state["exploration_rate"])

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """ε-greedy actions in training mode (uniformly random before ``learning_starts``), greedy in eval mode."""
        if greedy or not self.training:
            with torch.inference_mode():
                return self.q_net(self.obs_tensor(observation)).argmax(-1).cpu().numpy()
        n = self.num_envs
        obs = self.obs_tensor(observation, check_batch=True)
        eps = 1.0 if self.warming_up else self.exploration_rate
        explore = torch.rand(n, generator=self.rng, device=self.rng.device) < eps
        actions = torch.randint(self.num_actions, (n,), generator=self.rng, device=self.rng.device)
        if not bool(explore.all()):
            with torch.inference_mode():
                greedy_actions = self.q_net(obs).argmax(-1)
            actions = torch.where(explore.to(self.device), actions.to(self.device), greedy_actions)
        actions = actions.cpu().numpy()
        self.record_action(observation, actions)
        return actions

    # ------------------------------------------------------------------ learning
    def on_vector_step(self) -> None:
        """Decay ε and, every ``target_update_interval`` env steps, copy the online network into the target."""
        p = self.params
        progress = self.schedule_progress() if p.exploration_fraction > 0 else 1.0  # no decay: no horizon needed
        self.exploration_rate = epsilon(progress, p.exploration_initial_eps, p.exploration_final_eps,
                                        p.exploration_fraction)
        if self.vector_steps % max(p.target_update_interval // self.num_envs, 1) == 0:
            self.update_target()

    def update_target(self) -> None:
        """Move the target network towards the online one (a copy when ``tau == 1``)."""
        polyak_update(self.q_target.parameters(), self.q_net.parameters(), self.params.tau)

    def learn(self, gradient_steps: int) -> dict:
        """``gradient_steps`` gradient steps on minibatches from the replay buffer; returns the metrics."""
        p = self.params
        losses, q_means = [], []
        for _ in range(gradient_steps):
            batch = self.sample_batch()
            with torch.no_grad():
                next_q_online = self.q_net(batch.next_observations) if p.double_q else None
                targets = td_target(batch.rewards, batch.terminated, self.q_target(batch.next_observations), p.gamma,
                                    next_q_online)
            q_values = self.q_net(batch.observations).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
            loss = q_loss(q_values, targets)
            self.gradient_step(self.optimizer, loss, p.max_grad_norm)
            losses.append(loss.detach())
            q_means.append(q_values.detach().mean())
        self.n_updates += gradient_steps
        return {"q_loss": float(torch.stack(losses).mean()), "q_values": float(torch.stack(q_means).mean()),
                "exploration_rate": self.exploration_rate, "n_updates": self.n_updates}
