"""PPO: proximal policy optimisation with a clipped surrogate objective and GAE (Schulman et al., 2017).

Reads top to bottom: hyperparameters, the actor-critic network, the loss functions as pure functions named as
in the paper, then the agent (``act`` fills the rollout, ``update`` records each step and learns when the
rollout is full). The defaults are Stable-Baselines3's; ``configs/ppo_cartpole.yaml`` has rl-baselines3-zoo's
CartPole settings.

Rollouts: ``n_steps`` vector steps of every sub-env. A sub-env's reset step (see
:mod:`rl_lightning.agents.base`) stays in the rollout arrays but is masked out of every loss and of the
advantage statistics. GAE follows each sub-env's steps in order; an episode's last step bootstraps from
the value of its *final* observation when it was truncated, and from 0 when it terminated. Under next-step
autoreset that final observation is the ``next_obs`` of the ending step, which is also the observation the
agent acts on at the reset step that follows, so the rollout's own ``values[t + 1]`` is the bootstrap value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_lightning.agents.base import LightningAgent
from rl_lightning.agents.hparams import Params
from rl_lightning.agents.networks import flat_dim, init_mlp_, linear_schedule, mlp

__all__ = ["PPO", "PPOParams", "gae", "pg_loss", "v_loss", "approx_kl", "clipfrac", "normalize", "explained_variance"]


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


# ---------------------------------------------------------------------------------------------- networks
class ActorCritic(nn.Module):
    """Separate actor and critic MLPs; a state-independent log-std for continuous actions (as in SB3)."""

    def __init__(self, obs_dim: int, action_space: gym.Space, params: PPOParams):
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else flat_dim(action_space)
        self.actor = mlp(obs_dim, params.net_arch, out_dim, params.activation)
        self.critic = mlp(obs_dim, params.net_arch, 1, params.activation)
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(out_dim))

    def reset_parameters(self, generator: torch.Generator, params: PPOParams) -> None:
        init_mlp_(self.actor, generator, orthogonal=params.ortho_init, output_gain=0.01)
        init_mlp_(self.critic, generator, orthogonal=params.ortho_init, output_gain=1.0)
        if self.log_std is not None:
            with torch.no_grad():
                self.log_std.fill_(params.log_std_init)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor,
                         entropy_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` under the current policy, and the policy's entropy, per sample.

        ``entropy_grad=False`` keeps the (discrete) entropy out of the autograd graph: logged, not learned from.
        """
        out = self.actor(obs)
        if self.discrete:
            log_probs = torch.log_softmax(out, dim=-1)
            entropy_of = log_probs if entropy_grad else log_probs.detach()
            entropy = -(entropy_of.exp() * entropy_of).sum(-1)
            return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy
        log_std = self.log_std.expand_as(out)
        log_prob = (-0.5 * ((actions - out) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_prob, (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)


# ---------------------------------------------------------------------------------------------- losses
def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
        dones: torch.Tensor, gamma: float, gae_lambda: float) -> torch.Tensor:
    """Generalised advantage estimates, ``[T, N]`` (T steps of N sub-envs, in step order).

    ``next_values[t]`` is the value of the observation step ``t`` led to (for an episode's last step: its final
    observation). ``terminated[t]`` zeroes that bootstrap; ``dones[t]`` (terminated or truncated) stops the
    sum from running into the next episode. So a truncated step bootstraps from its final observation::

        delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
        A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    """
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    carry = gamma * gae_lambda * (1.0 - dones)
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages


def pg_loss(advantages: torch.Tensor, ratio: torch.Tensor, clip_range: float) -> torch.Tensor:
    """The clipped surrogate objective, negated: ``-mean(min(ratio * A, clip(ratio, 1 ± ε) * A))``."""
    return -torch.min(ratio * advantages, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages).mean()


def v_loss(values: torch.Tensor, returns: torch.Tensor, old_values: Optional[torch.Tensor] = None,
           clip_range_vf: Optional[float] = None) -> torch.Tensor:
    """Mean squared error of the value prediction; with ``clip_range_vf``, the larger of the unclipped error
    and the error of the prediction clipped to ``old_values ± clip_range_vf`` (as OpenAI baselines)."""
    error = (values - returns) ** 2
    if clip_range_vf is None:
        return error.mean()
    clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return torch.max(error, (clipped - returns) ** 2).mean()


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """Estimate of KL(old ‖ new) from ``log(π_new / π_old)`` of the sampled actions: ``mean((r - 1) - log r)``."""
    return (log_ratio.exp() - 1.0 - log_ratio).mean()


def clipfrac(ratio: torch.Tensor, clip_range: float) -> torch.Tensor:
    """Fraction of samples whose probability ratio left ``[1 - ε, 1 + ε]``."""
    return ((ratio - 1.0).abs() > clip_range).float().mean()


def normalize(advantages: torch.Tensor) -> torch.Tensor:
    """Advantages standardised to mean 0 and standard deviation 1 (left as they are for a single sample)."""
    if advantages.shape[0] < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, 0 no better than a constant."""
    var = returns.var(unbiased=False)
    return 1.0 - (returns - values).var(unbiased=False) / var if var > 0 else torch.tensor(float("nan"))


# ---------------------------------------------------------------------------------------------- the agent
class PPO(LightningAgent):
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
        self.obs_dim = flat_dim(observation_space)
        self.policy = ActorCritic(self.obs_dim, action_space, self.params)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.params.learning_rate, eps=self.params.adam_eps,
                                          fused=True)
        self.optimizer_list = [self.optimizer]
        self.n_updates = 0
        self.reset(0)

    @property
    def lockstep_updates(self) -> bool:
        """Gradient steps on a fixed schedule (every ``n_steps`` vector steps) unless ``target_kl`` may end an
        update early on one rank's data: then DDP ranks could take different numbers of steps."""
        return self.params.target_kl is None

    @property
    def segment_steps(self) -> int:
        """One Lightning ``training_step`` per rollout."""
        return self.params.n_steps

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise TypeError(f"PPO needs a Discrete or Box action space, got {action_space}.")

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.policy.reset_parameters(generator, self.params)

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.n_updates = 0
        self._allocate_rollout()

    def set_num_env(self, num_envs: int) -> None:
        super().set_num_env(num_envs)
        self._allocate_rollout()

    def _allocate_rollout(self) -> None:
        """Empty rollout arrays, ``[n_steps, num_envs, ...]``: numpy for what the env gives, torch for the actions."""
        shape = (self.params.n_steps, self.num_envs)
        self._t = 0
        self.observations = np.zeros(shape + (self.obs_dim,), dtype=np.float32)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=np.float32)
        self.dones = np.zeros(shape, dtype=np.float32)
        self.real = np.zeros(shape, dtype=bool)
        action_shape = shape if self.policy.discrete else shape + (self.action_dim,)
        self.actions = torch.zeros(action_shape, dtype=self.dtype, device=self.device)
        self.noise = torch.zeros(shape + (self.action_dim,), dtype=self.dtype, device=self.device)

    _ROLLOUT = ("observations", "rewards", "terminated", "dones", "real")

    def training_state(self) -> dict:
        state = {name: torch.from_numpy(getattr(self, name)) for name in self._ROLLOUT}
        return {**state, "actions": self.actions, "noise": self.noise, "t": self._t, "n_updates": self.n_updates}

    def load_training_state(self, state: dict) -> None:
        for name in self._ROLLOUT:
            getattr(self, name)[...] = state[name].numpy()
        self.actions.copy_(state["actions"])
        self.noise.copy_(state["noise"])
        self._t, self.n_updates = int(state["t"]), int(state["n_updates"])

    @property
    def action_dim(self) -> int:
        """Logits per discrete action, or floats per continuous action."""
        return int(self.action_space.n) if self.policy.discrete else flat_dim(self.action_space)

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """One action per sub-env: sampled (and recorded in the rollout) in training mode, greedy in eval mode.

        Sampling uses noise drawn for the whole rollout when it starts: Gumbel noise added to the logits
        (their argmax is a sample of the categorical distribution) or Gaussian noise scaled by the std. The
        log-probabilities and values of the rollout are computed when it is learned from, in one batch: the
        policy does not change during a rollout.
        """
        greedy = greedy or not self.training
        obs = self._obs_tensor(observation, check_batch=not greedy)
        policy, t = self.policy, self._t
        with torch.inference_mode():
            out = policy.actor(obs)
            if greedy:
                return self._to_env_action(out.argmax(-1) if policy.discrete else out)
            if t == 0:
                self._draw_noise()
            if policy.discrete:
                action = (out + self.noise[t]).argmax(-1)
            else:
                action = out + policy.log_std.exp() * self.noise[t]
            self.actions[t] = action
        self.observations[t] = np.asarray(observation).reshape(self.num_envs, -1)
        return self._to_env_action(action)

    def _draw_noise(self) -> None:
        """The sampling noise of a whole rollout, from the agent's generator."""
        rng = self._rng
        if self.policy.discrete:
            uniform = torch.rand(self.noise.shape, generator=rng, device=rng.device).clamp_(min=1e-20)
            self.noise.copy_(-torch.log(-torch.log(uniform)))
        else:
            self.noise.copy_(torch.randn(self.noise.shape, generator=rng, device=rng.device))

    def _to_env_action(self, action: torch.Tensor) -> np.ndarray:
        """Discrete actions as int64; continuous ones clipped into the action space's bounds (a copy)."""
        if self.policy.discrete:
            return action.cpu().numpy()
        # float32 for numpy: under mixed precision the network's output may be bfloat16.
        action = action.float().cpu().numpy().reshape((-1,) + self.action_space.shape)
        return np.clip(action, self.action_space.low, self.action_space.high)

    # ------------------------------------------------------------------ learning
    def update(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Record one vector step; when the rollout is full, learn from it (``n_epochs`` over minibatches)."""
        if not self.training:
            return
        t = self._t
        self.real[t] = self._real_transitions(terminated, truncated)
        self.rewards[t] = reward
        self.terminated[t] = terminated
        self.dones[t] = np.logical_or(terminated, truncated)
        self.env_steps += self.num_envs
        self._t = t + 1
        if self._t == self.params.n_steps:
            self._t = 0
            metrics = self.learn(next_observation)
            if call_back is not None:
                call_back(metrics)

    def learn(self, next_observation: Any) -> dict:
        """GAE over the full rollout, then ``n_epochs`` of minibatch gradient steps; returns the metrics."""
        p, device = self.params, self.device
        constant = p.learning_rate_schedule == "constant" and p.clip_range_schedule == "constant"
        progress = 0.0 if constant else self._schedule_progress()
        learning_rate = linear_schedule(p.learning_rate, progress) if p.learning_rate_schedule == "linear" \
            else p.learning_rate
        clip_range = linear_schedule(p.clip_range, progress) if p.clip_range_schedule == "linear" else p.clip_range
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        rollout = self._prepare_rollout(next_observation)
        n = rollout[0].shape[0]
        one_minibatch = n <= p.batch_size
        if one_minibatch and p.normalize_advantage:
            rollout[4] = normalize(rollout[4])  # the same minibatch every epoch: normalise once

        stats = []
        for _ in range(p.n_epochs):
            # One minibatch holding the whole rollout needs no shuffling.
            order = None if one_minibatch else torch.randperm(n, generator=self._rng, device=self._rng.device)
            for start in range(0, n, p.batch_size):
                batch = rollout if order is None else [x[order[start:start + p.batch_size].to(device)]
                                                       for x in rollout]
                if p.normalize_advantage and not one_minibatch:
                    batch[4] = normalize(batch[4])
                loss, step_stats = self.losses(batch, clip_range)
                if p.target_kl is not None and step_stats[3] > 1.5 * p.target_kl:
                    break
                self.gradient_step(self.optimizer, loss, p.max_grad_norm)
                stats.append(step_stats)
            else:
                continue
            break  # target_kl reached: no more epochs
        self.n_updates += 1
        means = torch.stack([torch.stack(s) for s in stats]).mean(0).tolist() if stats else [math.nan] * 5
        metrics = dict(zip(("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac"), means, strict=True))
        old_values, returns = rollout[3], rollout[5]
        metrics.update(explained_variance=float(explained_variance(old_values, returns)), learning_rate=learning_rate,
                       clip_range=clip_range, n_updates=self.n_updates)
        return metrics

    @torch.no_grad()
    def _prepare_rollout(self, next_observation: Any) -> list:
        """The real transitions of the rollout, flat: observations, actions, log-probs and values under the
        rollout's policy, advantages (GAE) and returns."""
        p, device = self.params, self.device
        steps, num_envs = self.rewards.shape
        obs = torch.from_numpy(self.observations).to(device, self.dtype).reshape(steps * num_envs, self.obs_dim)
        actions = self.actions.reshape((steps * num_envs,) + self.actions.shape[2:])
        log_probs, _ = self.policy.log_prob_entropy(obs, actions)
        # Values of every observation acted on, plus the one after the last step: values[t + 1] is step t's
        # next-state value (for an episode's last step, the value of its final observation; see the docstring).
        values = self.policy.value(torch.cat([obs, self._obs_tensor(next_observation)])).reshape(steps + 1, num_envs)
        rewards, terminated, dones = (torch.from_numpy(a).to(device, self.dtype) for a in (self.rewards,
                                                                                            self.terminated, self.dones))
        advantages = gae(rewards, values[:-1], values[1:], terminated, dones, p.gamma, p.gae_lambda).reshape(-1)
        real = torch.from_numpy(self.real).to(device).reshape(-1)
        old_values = values[:-1].reshape(-1)[real]
        advantages = advantages[real]
        return [obs[real], actions[real], log_probs[real], old_values, advantages, advantages + old_values]

    def losses(self, batch: list, clip_range: float) -> tuple[torch.Tensor, list]:
        """PPO's loss on a minibatch, and its detached pg_loss, v_loss, entropy, approx_kl and clipfrac."""
        p = self.params
        obs, actions, old_log_probs, old_values, advantages, returns = batch
        log_prob, entropy = self.policy.log_prob_entropy(obs, actions, entropy_grad=p.ent_coef > 0)
        values = self.policy.value(obs)
        log_ratio = log_prob - old_log_probs
        ratio = log_ratio.exp()
        policy_loss = pg_loss(advantages, ratio, clip_range)
        value_loss = v_loss(values, returns, old_values, p.clip_range_vf)
        entropy = entropy.mean()
        loss = policy_loss + p.vf_coef * value_loss
        if p.ent_coef > 0:
            loss = loss - p.ent_coef * entropy
        with torch.no_grad():
            stats = [policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl(log_ratio),
                     clipfrac(ratio, clip_range)]
        return loss, stats
