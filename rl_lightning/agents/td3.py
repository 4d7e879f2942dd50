"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al., 2018).

Reads top to bottom: hyperparameters, the deterministic actor (the twin critics are
:class:`~rl_lightning.agents.networks.TwinCritic`), the losses as pure functions, then the agent (``act`` adds
Gaussian exploration noise, ``learn`` updates the critics every gradient step and the actor and both targets every
``policy_delay`` of them). The replay buffer and the schedule of learning phases are the off-policy base's
(:mod:`rl_lightning.agents.off_policy`, which also says how reset steps and truncation are stored). The defaults are
Stable-Baselines3's, with the paper's exploration noise (std 0.1; Stable-Baselines3 adds none unless given one);
``configs/td3_pendulum.yaml`` has rl-baselines3-zoo's Pendulum settings.

Actions: the networks work in ``[-1, 1]^d`` (what the replay buffer stores); ``act`` rescales to the action
space's bounds, so the noise's std is a fraction of each action's half-range.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rl_lightning.agents.hparams import Params
from rl_lightning.agents.networks import TwinCritic, flat_dim, frozen, init_mlp_, mlp
from rl_lightning.agents.off_policy import OffPolicyAgent, polyak_update
from rl_lightning.agents.registry import register_agent

__all__ = ["TD3", "TD3Params", "smoothed_target_action", "td_target", "critic_loss", "actor_loss"]


# ---------------------------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class TD3Params(Params):
    """TD3's hyperparameters (Stable-Baselines3's defaults, with the paper's exploration noise).

    Args:
        learning_rate: Adam's learning rate, for the actor and the critics.
        buffer_size: transitions kept in the replay buffer.
        learning_starts: env steps (summed over sub-envs) of uniformly random acting before learning starts.
        batch_size: transitions per gradient step.
        tau: Polyak coefficient of the target networks.
        gamma: discount factor.
        train_freq: vector steps between learning phases.
        gradient_steps: gradient steps per learning phase.
        policy_delay: critic gradient steps per actor step (and per target update).
        action_noise_std: std of the Gaussian exploration noise, in units of the action's half-range (0: none).
        target_policy_noise: std of the noise added to the target actor's actions (target policy smoothing).
        target_noise_clip: that noise is clipped to ``± target_noise_clip``.
        net_arch: hidden widths of the actor and of each critic.
        adam_eps: Adam's ε.
    """

    learning_rate: float = 1e-3
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    policy_delay: int = 2
    action_noise_std: float = 0.1
    target_policy_noise: float = 0.2
    target_noise_clip: float = 0.5
    net_arch: tuple[int, ...] = (400, 300)
    adam_eps: float = 1e-8

    def check(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "policy_delay"):
            self._range(name, 1)
        self._range("learning_starts", 0)
        self._range("gamma", 0, 1)
        self._range("tau", 0, 1, low_inclusive=False)
        for name in ("action_noise_std", "target_policy_noise", "target_noise_clip"):
            self._range(name, 0)
        for name in ("learning_rate", "adam_eps"):
            self._range(name, 0, low_inclusive=False)
        self._hidden_widths()


# ---------------------------------------------------------------------------------------------- networks
class DeterministicActor(nn.Module):
    """A ReLU MLP whose output is squashed by tanh into ``[-1, 1]^d``."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: tuple[int, ...]):
        super().__init__()
        self.net = mlp(obs_dim, net_arch, action_dim, "relu")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


# ---------------------------------------------------------------------------------------------- losses
def smoothed_target_action(target_action: torch.Tensor, noise: torch.Tensor, noise_clip: float) -> torch.Tensor:
    """Target policy smoothing: ``clip(π_target(s') + clip(ε, ±c), -1, 1)`` with ``ε ~ N(0, σ)`` given as ``noise``."""
    return (target_action + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q_min: torch.Tensor, gamma: float) -> torch.Tensor:
    """Clipped double-Q target: ``r + γ (1 - terminated) min_i Q_target_i(s', ã')``."""
    return rewards + gamma * (1.0 - terminated) * next_q_min


def critic_loss(q1: torch.Tensor, q2: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``MSE(Q_1, y) + MSE(Q_2, y)``."""
    return F.mse_loss(q1, targets) + F.mse_loss(q2, targets)


def actor_loss(q1: torch.Tensor) -> torch.Tensor:
    """The deterministic policy gradient's loss, ``-mean(Q_1(s, π(s)))``."""
    return -q1.mean()


# ---------------------------------------------------------------------------------------------- the agent
@register_agent
class TD3(OffPolicyAgent):
    """TD3 for bounded ``Box`` actions and ``Box`` observations (see :class:`TD3Params`).

    Logged through ``call_back`` once per learning phase (means over its gradient steps): ``critic_loss``,
    ``actor_loss`` (when the phase updated the actor) and ``n_updates`` (critic gradient steps so far).

    Under DDP use ``strategy="ddp_find_unused_parameters_true"``: the critics and the actor are updated by separate
    backward passes, each of which leaves the other's parameters without gradients.
    """

    params_class = TD3Params
    structural_params = ("net_arch", "buffer_size", "adam_eps")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[TD3Params] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        p = self.params
        self.action_dim = flat_dim(action_space)
        self.actor = DeterministicActor(self.obs_dim, self.action_dim, p.net_arch)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = TwinCritic(self.obs_dim, self.action_dim, p.net_arch)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=p.learning_rate, eps=p.adam_eps, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=p.learning_rate, eps=p.adam_eps,
                                                 fused=True)
        self.optimizer_list = [self.actor_optimizer, self.critic_optimizer]
        self.reset(0)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().check_spaces(observation_space, action_space)
        cls.check_bounded_box_actions(action_space)

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_mlp_(self.actor, generator, orthogonal=False)
        init_mlp_(self.critic, generator, orthogonal=False)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """``π(s)`` plus Gaussian noise in training mode (uniform before ``learning_starts``), ``π(s)`` in eval
        mode."""
        n = self.num_envs
        greedy = greedy or not self.training
        obs = self.obs_tensor(observation, check_batch=not greedy)
        with torch.inference_mode():
            if greedy:
                return self.to_env_action(self.actor(obs).float().cpu().numpy())
            if self.warming_up:
                action = torch.rand((n, self.action_dim), generator=self.rng, device=self.rng.device) * 2.0 - 1.0
            else:
                action = self.actor(obs)
                noise = torch.randn(action.shape, generator=self.rng, device=action.device, dtype=action.dtype)
                action = (action + self.params.action_noise_std * noise).clamp(-1.0, 1.0)
            action = action.float().cpu().numpy()  # float32 for numpy, whatever the precision
        self.record_action(observation, action)
        return self.to_env_action(action)

    # ------------------------------------------------------------------ learning
    def learn(self, gradient_steps: int) -> dict:
        """``gradient_steps`` critic steps; every ``policy_delay``-th also steps the actor and moves both targets."""
        p = self.params
        critic_losses, actor_losses = [], []
        for _ in range(gradient_steps):
            batch = self.sample_batch()
            with torch.no_grad():
                noise = p.target_policy_noise * torch.randn(batch.actions.shape, generator=self.rng,
                                                            device=batch.actions.device, dtype=batch.actions.dtype)
                next_actions = smoothed_target_action(self.actor_target(batch.next_observations), noise,
                                                      p.target_noise_clip)
                next_q_min = torch.min(*self.critic_target(batch.next_observations, next_actions))
                targets = td_target(batch.rewards, batch.terminated, next_q_min, p.gamma)
            loss_critic = critic_loss(*self.critic(batch.observations, batch.actions), targets)
            self.gradient_step(self.critic_optimizer, loss_critic)
            critic_losses.append(loss_critic.detach())
            self.n_updates += 1
            if self.n_updates % p.policy_delay == 0:
                with frozen(self.critic):
                    loss_actor = actor_loss(self.critic.first(batch.observations, self.actor(batch.observations)))
                self.gradient_step(self.actor_optimizer, loss_actor)
                actor_losses.append(loss_actor.detach())
                polyak_update(self.critic_target.parameters(), self.critic.parameters(), p.tau)
                polyak_update(self.actor_target.parameters(), self.actor.parameters(), p.tau)
        metrics = {"critic_loss": float(torch.stack(critic_losses).mean()), "n_updates": self.n_updates}
        if actor_losses:
            metrics["actor_loss"] = float(torch.stack(actor_losses).mean())
        return metrics
