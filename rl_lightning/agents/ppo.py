"""PPO: proximal policy optimisation with a clipped surrogate objective and GAE (Schulman et al., 2017).

Reads top to bottom: hyperparameters, the loss functions as pure functions named as in the paper, then the agent
(``learn``: the schedules, then ``n_epochs`` of minibatch gradient steps over the rollout). The network, acting,
the rollout and GAE are the on-policy base's (:mod:`rl_lightning.agents.on_policy`, whose docstring says how
reset steps and truncation are handled). The defaults are Stable-Baselines3's; ``configs/ppo_cartpole.yaml`` has
rl-baselines3-zoo's CartPole settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional

import gymnasium as gym
import torch
from torch.nn import functional as F

from rl_lightning.agents.hparams import Params
from rl_lightning.agents.networks import linear_schedule
from rl_lightning.agents.on_policy import ActorCritic, OnPolicyAgent, RolloutBatch, explained_variance, gae, normalize
from rl_lightning.agents.registry import register_agent

__all__ = ["PPO", "PPOParams", "ActorCritic", "gae", "pg_loss", "v_loss", "approx_kl", "clipfrac", "normalize",
           "explained_variance", "statistics"]


# ---------------------------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class PPOParams(Params):
    """PPO's hyperparameters (Stable-Baselines3's defaults).

    Args:
        n_steps: vector steps per rollout, per sub-env; a rollout holds ``n_steps * num_envs`` env steps.
        batch_size: transitions (env steps) per minibatch.
        n_epochs: passes over the rollout per update.
        gamma: discount factor.
        gae_lambda: GAE's λ (1: Monte-Carlo returns; 0: one-step TD).
        learning_rate: Adam's learning rate (its initial value under the linear schedule).
        learning_rate_schedule: ``"constant"``, or ``"linear"`` down to 0 over ``anneal_steps`` env steps.
        clip_range: ε of the clipped objective (initial value under the linear schedule).
        clip_range_schedule: ``"constant"`` or ``"linear"``, as ``learning_rate_schedule``.
        clip_range_vf: clip the value prediction to ``old ± clip_range_vf`` (``None``: no value clipping).
        normalize_advantage: standardise advantages per minibatch.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss.
        max_grad_norm: clip the global gradient norm to this (``None``: no clipping).
        target_kl: stop the update's epochs early once a minibatch's approx_kl exceeds ``1.5 * target_kl``.
        net_arch: hidden widths of the actor and of the critic (two separate MLPs).
        activation: hidden activation, ``"tanh"`` or ``"relu"``.
        ortho_init: orthogonal initialisation (gains √2 hidden, 0.01 policy output, 1 value output).
        log_std_init: initial log standard deviation of the Gaussian policy (continuous actions).
        adam_eps: Adam's ε.
        anneal_steps: env steps (summed over sub-envs and DDP ranks) over which linear schedules reach 0;
            ``None``: the run's ``total_steps`` when trained by AgentModule / OnlineTrainer in step mode.
    """

    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    learning_rate: float = 3e-4
    learning_rate_schedule: Literal["constant", "linear"] = "constant"
    clip_range: float = 0.2
    clip_range_schedule: Literal["constant", "linear"] = "constant"
    clip_range_vf: Optional[float] = None
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: Optional[float] = 0.5
    target_kl: Optional[float] = None
    net_arch: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu"] = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    adam_eps: float = 1e-5
    anneal_steps: Optional[int] = None

    def check(self) -> None:
        for name in ("n_steps", "batch_size", "n_epochs", "anneal_steps"):
            self._range(name, 1)
        for name in ("gamma", "gae_lambda"):
            self._range(name, 0, 1)
        for name in ("learning_rate", "clip_range", "clip_range_vf", "max_grad_norm", "target_kl", "adam_eps"):
            self._range(name, 0, low_inclusive=False)
        for name in ("ent_coef", "vf_coef"):
            self._range(name, 0)
        for width in self.net_arch:
            if width < 1:
                raise ValueError(f"PPOParams.net_arch={self.net_arch!r} has a width out of range; valid range: "
                                 "[1, inf) for every hidden width.")


# ---------------------------------------------------------------------------------------------- losses
def pg_loss(advantages: torch.Tensor, ratio: torch.Tensor, clip_range: float) -> torch.Tensor:
    """The clipped surrogate objective, negated: ``-mean(min(ratio * A, clip(ratio, 1 ± ε) * A))``."""
    return -torch.min(ratio * advantages, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages).mean()


def v_loss(values: torch.Tensor, returns: torch.Tensor, old_values: Optional[torch.Tensor] = None,
           clip_range_vf: Optional[float] = None) -> torch.Tensor:
    """Mean squared error of the value prediction; with ``clip_range_vf``, the larger of the unclipped error
    and the error of the prediction clipped to ``old_values ± clip_range_vf`` (as OpenAI baselines)."""
    if clip_range_vf is None:
        return F.mse_loss(values, returns)
    error = (values - returns) ** 2
    clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return torch.max(error, (clipped - returns) ** 2).mean()


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """Estimate of KL(old ‖ new) from ``log(π_new / π_old)`` of the sampled actions: ``mean((r - 1) - log r)``
    over the last dimension (one estimate per row of a stack of minibatches)."""
    return (log_ratio.exp() - 1.0 - log_ratio).mean(-1)


def clipfrac(ratio: torch.Tensor, clip_range: float) -> torch.Tensor:
    """Fraction of samples whose probability ratio left ``[1 - ε, 1 + ε]`` (over the last dimension)."""
    return ((ratio - 1.0).abs() > clip_range).float().mean(-1)


# ---------------------------------------------------------------------------------------------- the agent
STATS = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac")


@register_agent
class PPO(OnPolicyAgent):
    """PPO for ``Discrete`` or ``Box`` actions and ``Box`` observations (see :class:`PPOParams`).

    Example::

        trainer = OnlineTrainer(lambda: gym.make_vec("CartPole-v1", num_envs=8),
                                lambda env: PPO.for_env(env, n_steps=32, batch_size=256))
        trainer.multi_run(1, total_steps=100_000, seed_offset=0)

    Logged through ``call_back`` once per update: ``pg_loss``, ``v_loss``, ``entropy``, ``approx_kl``,
    ``clipfrac``, ``explained_variance``, ``learning_rate``, ``clip_range`` and ``n_updates``.
    """

    params_class = PPOParams
    structural_params = ("net_arch", "activation", "adam_eps")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[PPOParams] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.params.learning_rate, eps=self.params.adam_eps,
                                          fused=True)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    @property
    def lockstep_updates(self) -> bool:
        """Gradient steps on a fixed schedule (every ``n_steps`` vector steps) unless ``target_kl`` may end an
        update early on one rank's data: then DDP ranks could take different numbers of steps."""
        return self.params.target_kl is None

    def learn(self, next_observation: Any) -> dict:
        """GAE over the full rollout, then ``n_epochs`` of minibatch gradient steps; returns the metrics."""
        p, device = self.params, self.device
        constant = p.learning_rate_schedule == "constant" and p.clip_range_schedule == "constant"
        progress = 0.0 if constant else self.schedule_progress()
        learning_rate = linear_schedule(p.learning_rate, progress) if p.learning_rate_schedule == "linear" \
            else p.learning_rate
        clip_range = linear_schedule(p.clip_range, progress) if p.clip_range_schedule == "linear" else p.clip_range
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        rollout = self.rollout_batch(next_observation)
        n = rollout.observations.shape[0]
        one_minibatch = n <= p.batch_size
        if one_minibatch and p.normalize_advantage:
            rollout = rollout._replace(advantages=normalize(rollout.advantages))  # the same minibatch every epoch

        terms = []  # per gradient step, the detached terms its statistics are computed from after the update
        for _ in range(p.n_epochs):
            # One minibatch holding the whole rollout needs no shuffling.
            order = None if one_minibatch else torch.randperm(n, generator=self.rng, device=self.rng.device)
            for start in range(0, n, p.batch_size):
                batch = rollout if order is None else rollout.select(order[start:start + p.batch_size].to(device))
                if p.normalize_advantage and not one_minibatch:
                    batch = batch._replace(advantages=normalize(batch.advantages))
                loss, step_terms = self._loss(batch, clip_range)
                if p.target_kl is not None and approx_kl(step_terms[3]) > 1.5 * p.target_kl:
                    break
                self.gradient_step(self.optimizer, loss, p.max_grad_norm)
                terms.append(step_terms)
            else:
                continue
            break  # target_kl reached: no more epochs
        self.n_updates += 1
        metrics = statistics(terms, clip_range)
        metrics.update(explained_variance=float(explained_variance(rollout.values, rollout.returns)),
                       learning_rate=learning_rate, clip_range=clip_range, n_updates=self.n_updates)
        return metrics

    def losses(self, batch: RolloutBatch, clip_range: float) -> tuple[torch.Tensor, dict[str, float]]:
        """PPO's loss on a minibatch, and its ``pg_loss``, ``v_loss``, ``entropy``, ``approx_kl`` and ``clipfrac``."""
        loss, terms = self._loss(batch, clip_range)
        return loss, statistics([terms], clip_range)

    def _loss(self, batch: RolloutBatch, clip_range: float) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The loss, and the detached terms of its statistics: policy loss, value loss, per-sample entropy and
        log-ratio (see :func:`statistics`)."""
        p = self.params
        out, values = self.policy(batch.observations)
        log_prob, entropy = self.policy.distribution_terms(out, batch.actions, entropy_grad=p.ent_coef > 0)
        log_ratio = log_prob - batch.log_probs
        ratio = log_ratio.exp()
        policy_loss = pg_loss(batch.advantages, ratio, clip_range)
        value_loss = v_loss(values, batch.returns, batch.values, p.clip_range_vf)
        loss = policy_loss + p.vf_coef * value_loss
        if p.ent_coef > 0:
            loss = loss - p.ent_coef * entropy.mean()
        return loss, (policy_loss.detach(), value_loss.detach(), entropy.detach(), log_ratio.detach())


def statistics(terms: list[tuple[torch.Tensor, ...]], clip_range: float) -> dict[str, float]:
    """The update's logged statistics, each the mean over its gradient steps of the step's value: ``pg_loss``,
    ``v_loss``, ``entropy`` (mean), ``approx_kl`` and ``clipfrac``; NaN without gradient steps.

    ``terms`` holds, per gradient step, its policy loss, value loss, per-sample entropy and per-sample log-ratio.
    Computed once after the update (stacked when the minibatches are of one size), not at every gradient step.
    """
    if not terms:
        return dict.fromkeys(STATS, math.nan)
    policy_losses, value_losses, entropies, log_ratios = zip(*terms, strict=True)
    if len({t.shape for t in log_ratios}) == 1:
        entropy, log_ratio = torch.stack(entropies), torch.stack(log_ratios)
        per_step = (torch.stack(policy_losses), torch.stack(value_losses), entropy.mean(-1), approx_kl(log_ratio),
                    clipfrac(log_ratio.exp(), clip_range))
    else:  # a last, smaller minibatch
        per_step = (torch.stack(policy_losses), torch.stack(value_losses),
                    torch.stack([e.mean() for e in entropies]), torch.stack([approx_kl(r) for r in log_ratios]),
                    torch.stack([clipfrac(r.exp(), clip_range) for r in log_ratios]))
    means = torch.stack([x.mean() for x in per_step]).tolist()
    return dict(zip(STATS, means, strict=True))
