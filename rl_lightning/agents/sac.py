"""SAC: soft actor-critic with twin Q-networks and automatic entropy tuning (Haarnoja et al., 2018).

Reads top to bottom: hyperparameters, the tanh-squashed Gaussian actor (the twin critics are
:class:`~rl_lightning.agents.networks.TwinCritic`), the losses as pure functions, then the agent (``act`` samples,
``learn`` takes the gradient steps). The replay buffer and the schedule of learning phases are the off-policy
base's (:mod:`rl_lightning.agents.off_policy`, which also says how reset steps and truncation are stored). The
defaults are Stable-Baselines3's; ``configs/sac_pendulum.yaml`` has rl-baselines3-zoo's Pendulum settings.

Actions: the networks work in ``[-1, 1]^d`` (what the replay buffer stores); ``act`` rescales to the action
space's bounds.
"""

from __future__ import annotations

import math
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

__all__ = ["SAC", "SACParams", "squashed_gaussian", "soft_td_target", "critic_loss", "actor_loss", "alpha_loss"]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


# ---------------------------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class SACParams(Params):
    """SAC's hyperparameters (Stable-Baselines3's defaults).

    Args:
        learning_rate: Adam's learning rate, for the actor, the critics and the entropy coefficient.
        buffer_size: transitions kept in the replay buffer.
        learning_starts: env steps (summed over sub-envs) of uniformly random acting before learning starts.
        batch_size: transitions per gradient step.
        tau: Polyak coefficient of the target critics.
        gamma: discount factor.
        train_freq: vector steps between learning phases.
        gradient_steps: gradient steps per learning phase.
        target_update_interval: gradient steps between target-critic updates.
        ent_coef: a fixed entropy coefficient α; ``None`` tunes α automatically towards ``target_entropy``.
        ent_coef_init: α's initial value when tuned.
        target_entropy: the entropy α is tuned towards; ``None``: ``-action_dim``.
        net_arch: hidden widths of the actor and of each critic.
        adam_eps: Adam's ε.
    """

    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    target_update_interval: int = 1
    ent_coef: Optional[float] = None
    ent_coef_init: float = 1.0
    target_entropy: Optional[float] = None
    net_arch: tuple[int, ...] = (256, 256)
    adam_eps: float = 1e-8

    def check(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "target_update_interval"):
            self._range(name, 1)
        self._range("learning_starts", 0)
        self._range("gamma", 0, 1)
        self._range("tau", 0, 1, low_inclusive=False)
        for name in ("learning_rate", "ent_coef", "ent_coef_init", "adam_eps"):
            self._range(name, 0, low_inclusive=False)
        self._hidden_widths()


# ---------------------------------------------------------------------------------------------- networks
class Actor(nn.Module):
    """A ReLU MLP giving the mean and log-std of a Gaussian, squashed by tanh into ``[-1, 1]^d``."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: tuple[int, ...]):
        super().__init__()
        self.trunk = nn.Sequential(mlp(obs_dim, net_arch[:-1], net_arch[-1], "relu"), nn.ReLU())
        self.head = nn.Linear(net_arch[-1], 2 * action_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.trunk(obs)).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)


# ---------------------------------------------------------------------------------------------- losses
def squashed_gaussian(mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor,
                                                                                             torch.Tensor]:
    """A reparameterised sample ``tanh(mean + std * noise)`` and its log-probability (with the tanh correction).

    ``log π(a|s) = log N(u; mean, std) - Σ log(1 - tanh(u)²)``, the correction written as
    ``2 (log 2 - u - softplus(-2u))`` for numerical stability.
    """
    u = mean + log_std.exp() * noise
    log_prob = (-0.5 * noise ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prob = log_prob - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), log_prob


def soft_td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q_min: torch.Tensor,
                   next_log_prob: torch.Tensor, alpha: torch.Tensor, gamma: float) -> torch.Tensor:
    """``r + γ (1 - terminated) (min_i Q_target_i(s', a') - α log π(a'|s'))`` with ``a' ~ π(·|s')``."""
    return rewards + gamma * (1.0 - terminated) * (next_q_min - alpha * next_log_prob)


def critic_loss(q1: torch.Tensor, q2: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``½ (MSE(Q_1, y) + MSE(Q_2, y))``."""
    return 0.5 * (F.mse_loss(q1, targets) + F.mse_loss(q2, targets))


def actor_loss(log_prob: torch.Tensor, q_min: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``mean(α log π(a|s) - min_i Q_i(s, a))`` with ``a ~ π(·|s)`` reparameterised."""
    return (alpha * log_prob - q_min).mean()


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """``-mean(log α (log π(a|s) + target_entropy))``: raises α while the entropy is below its target."""
    return -(log_alpha * (log_prob + target_entropy).detach()).mean()


# ---------------------------------------------------------------------------------------------- the agent
@register_agent
class SAC(OffPolicyAgent):
    """SAC for bounded ``Box`` actions and ``Box`` observations (see :class:`SACParams`).

    Logged through ``call_back`` once per learning phase (means over its gradient steps): ``critic_loss``,
    ``actor_loss``, ``alpha_loss`` (when tuned), ``ent_coef`` (α) and ``n_updates``.

    Under DDP use ``strategy="ddp_find_unused_parameters_true"``: α, the critics and the actor are updated by
    separate backward passes (in that order, as in the reference implementations), each of which leaves the
    other parameters without gradients.
    """

    params_class = SACParams
    structural_params = ("net_arch", "buffer_size", "ent_coef", "adam_eps")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[SACParams] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        p = self.params
        self.action_dim = flat_dim(action_space)
        self.actor = Actor(self.obs_dim, self.action_dim, p.net_arch)
        self.critic = TwinCritic(self.obs_dim, self.action_dim, p.net_arch)
        self.critic_target = TwinCritic(self.obs_dim, self.action_dim, p.net_arch).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(())) if p.ent_coef is None else None
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=p.learning_rate, eps=p.adam_eps, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=p.learning_rate, eps=p.adam_eps,
                                                 fused=True)
        self.optimizer_list = [self.actor_optimizer, self.critic_optimizer]
        if self.log_alpha is not None:
            self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=p.learning_rate, eps=p.adam_eps)
            self.optimizer_list.append(self.alpha_optimizer)
        self.reset(0)

    @property
    def target_entropy(self) -> float:
        return -float(self.action_dim) if self.params.target_entropy is None else self.params.target_entropy

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().check_spaces(observation_space, action_space)
        cls.check_bounded_box_actions(action_space)

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_mlp_(self.actor, generator, orthogonal=False)
        init_mlp_(self.critic, generator, orthogonal=False)
        self.critic_target.load_state_dict(self.critic.state_dict())
        if self.log_alpha is not None:
            with torch.no_grad():
                self.log_alpha.fill_(math.log(self.params.ent_coef_init))

    def alpha(self) -> torch.Tensor:
        """The entropy coefficient α (detached)."""
        if self.log_alpha is None:
            return torch.tensor(self.params.ent_coef, device=self.device)
        return self.log_alpha.detach().exp()

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """Sampled actions in training mode (uniform before ``learning_starts``), ``tanh(mean)`` in eval mode."""
        n = self.num_envs
        greedy = greedy or not self.training
        obs = self.obs_tensor(observation, check_batch=not greedy)
        with torch.inference_mode():
            if greedy:
                return self.to_env_action(torch.tanh(self.actor(obs)[0]).float().cpu().numpy())
            if self.warming_up:
                action = torch.rand((n, self.action_dim), generator=self.rng, device=self.rng.device) * 2.0 - 1.0
            else:
                mean, log_std = self.actor(obs)
                noise = torch.randn(mean.shape, generator=self.rng, device=mean.device, dtype=mean.dtype)
                action = squashed_gaussian(mean, log_std, noise)[0]
            action = action.float().cpu().numpy()  # float32 for numpy, whatever the precision
        self.record_action(observation, action)
        return self.to_env_action(action)

    # ------------------------------------------------------------------ learning
    def learn(self, gradient_steps: int) -> dict:
        """``gradient_steps`` SAC updates (α, critics, actor, targets); returns the metrics."""
        stats = [self._learn_step() for _ in range(gradient_steps)]
        names = ["critic_loss", "actor_loss", "ent_coef"] + (["alpha_loss"] if self.log_alpha is not None else [])
        means = torch.stack([torch.stack(s) for s in stats]).mean(0).tolist()
        return {**dict(zip(names, means, strict=True)), "n_updates": self.n_updates}

    def _learn_step(self) -> list:
        p = self.params
        batch = self.sample_batch()
        mean, log_std = self.actor(batch.observations)
        actions_pi, log_prob = squashed_gaussian(mean, log_std, self._noise(mean))
        # α is read before its own update, as in the reference implementations.
        alpha = self.alpha()
        stats = []
        if self.log_alpha is not None:
            loss_alpha = alpha_loss(self.log_alpha, log_prob, self.target_entropy)
            self.gradient_step(self.alpha_optimizer, loss_alpha)
            stats.append(loss_alpha.detach())

        with torch.no_grad():
            next_mean, next_log_std = self.actor(batch.next_observations)
            next_actions, next_log_prob = squashed_gaussian(next_mean, next_log_std, self._noise(next_mean))
            next_q_min = torch.min(*self.critic_target(batch.next_observations, next_actions))
            targets = soft_td_target(batch.rewards, batch.terminated, next_q_min, next_log_prob, alpha, p.gamma)
        loss_critic = critic_loss(*self.critic(batch.observations, batch.actions), targets)
        self.gradient_step(self.critic_optimizer, loss_critic)

        with frozen(self.critic):
            q_min = torch.min(*self.critic(batch.observations, actions_pi))
        loss_actor = actor_loss(log_prob, q_min, alpha)
        self.gradient_step(self.actor_optimizer, loss_actor)

        self.n_updates += 1
        if self.n_updates % p.target_update_interval == 0:
            polyak_update(self.critic_target.parameters(), self.critic.parameters(), p.tau)
        return [loss_critic.detach(), loss_actor.detach(), alpha] + stats

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.rng, device=like.device, dtype=like.dtype)
