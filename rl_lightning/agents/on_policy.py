"""``OnPolicyAgent``: what on-policy actor-critic agents share (PPO, A2C): the network, the rollout and GAE.

Reads top to bottom: the actor-critic network, GAE as a pure function, the prepared rollout (named fields), then
the base class, which acts (sampling, recording the rollout) and records each step; a subclass writes only
``learn``, its hyperparameters and its optimizer.

Rollouts: ``n_steps`` vector steps of every sub-env. A sub-env's reset step (see :mod:`rl_lightning.agents.base`)
stays in the rollout arrays but is masked out of every loss and of the advantage statistics. GAE follows each
sub-env's steps in order; an episode's last step bootstraps from the value of its *final* observation when it was
truncated, and from 0 when it terminated. Under next-step autoreset that final observation is the ``next_obs`` of
the ending step, which is also the observation the agent acts on at the reset step that follows, so the
rollout's own ``values[t + 1]`` is the bootstrap value.

Sampling: the noise of a whole rollout is drawn when it starts (Gumbel noise added to the logits, whose argmax is
then a sample of the categorical distribution, or Gaussian noise scaled by the std); log-probabilities and values
are computed when the rollout is learned from, in one batch, since the policy does not change during a rollout.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Callable, Mapping, NamedTuple, Optional

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rl_lightning.agents.base import LightningAgent
from rl_lightning.agents.networks import ACTIVATION_FUNCTIONS, flat_dim, init_linear_

__all__ = ["OnPolicyAgent", "ActorCritic", "RolloutBatch", "gae", "normalize", "explained_variance"]


# ---------------------------------------------------------------------------------------------- the network
class ActorCritic(nn.Module):
    """An actor MLP and a critic MLP of the same hidden widths, evaluated together; a state-independent log-std for
    continuous actions (as in SB3).

    ``params`` gives ``net_arch`` (hidden widths of each MLP), ``activation``, ``ortho_init`` and ``log_std_init``.
    The two MLPs are separate networks (no shared weights), stored stacked: hidden layer ``k`` of both is
    ``hidden_weights[k]`` (``2 x out x in``: actor, critic) and ``hidden_biases[k]`` (``2 x 1 x out``), so one batched
    matmul per layer evaluates both (:meth:`forward`); ``action_head`` and ``value_head`` are their last layers.
    The same numbers as two ``nn.Sequential`` MLPs, in fewer operations; state dicts of the earlier two-MLP layout
    (``actor.0.weight``, ...) load into it.
    """

    def __init__(self, obs_dim: int, action_space: gym.Space, params: Any):
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else flat_dim(action_space)
        widths = (obs_dim, *params.net_arch)
        self.hidden_weights = nn.ParameterList(nn.Parameter(torch.empty(2, out, inp))
                                               for inp, out in zip(widths, widths[1:]))
        self.hidden_biases = nn.ParameterList(nn.Parameter(torch.zeros(2, 1, out)) for out in widths[1:])
        self.action_head = nn.Linear(widths[-1], out_dim)
        self.value_head = nn.Linear(widths[-1], 1)
        self.activation = ACTIVATION_FUNCTIONS[params.activation]
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(out_dim))
        self._register_load_state_dict_pre_hook(_stack_two_mlp_layout, with_module=True)
        self._cache_layers()

    def _cache_layers(self) -> None:
        # The (weight, bias) pairs as a plain tuple: iterating ParameterLists costs ~3 µs per item, paid at every
        # vector step and gradient step. Refreshed whenever torch may replace the parameters (_apply).
        self.__dict__["layers"] = tuple(zip(self.hidden_weights, self.hidden_biases))

    def _apply(self, fn: Any, recurse: bool = True) -> "ActorCritic":
        super()._apply(fn, recurse)
        self._cache_layers()
        return self

    def reset_parameters(self, generator: torch.Generator, params: Any) -> None:
        """Orthogonal (or PyTorch's default) weights from ``generator``: gains √2 hidden, 0.01 policy, 1 value; the
        actor's layers drawn first, then the critic's, as two separate MLPs draw them."""
        gain = math.sqrt(2)
        for net, head, head_gain in ((0, self.action_head, 0.01), (1, self.value_head, 1.0)):
            for weight, bias in self.layers:
                init_linear_(weight[net], bias[net], generator, orthogonal=params.ortho_init, gain=gain)
            init_linear_(head.weight, head.bias, generator, orthogonal=params.ortho_init, gain=head_gain)
        if self.log_std is not None:
            with torch.no_grad():
                self.log_std.fill_(params.log_std_init)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's output (logits, or the Gaussian's mean) and the critic's value, ``(B, out)`` and ``(B,)``."""
        hidden = obs.expand(2, *obs.shape)
        for weight, bias in self.layers:
            hidden = self.activation(torch.baddbmm(bias, hidden, weight.transpose(1, 2)))
        return head_output(self.action_head, hidden[0]), head_output(self.value_head, hidden[1]).squeeze(-1)

    def _one(self, net: int, obs: torch.Tensor, head: nn.Linear) -> torch.Tensor:
        hidden = obs
        for weight, bias in self.layers:
            hidden = self.activation(torch.addmm(bias[net], hidden, weight[net].T))
        return head_output(head, hidden)

    def actor(self, obs: torch.Tensor) -> torch.Tensor:
        """The actor's output alone (acting): logits, or the Gaussian's mean."""
        return self._one(0, obs, self.action_head)

    def critic(self, obs: torch.Tensor) -> torch.Tensor:
        """The critic's output alone, ``(B, 1)``."""
        return self._one(1, obs, self.value_head)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor,
                         entropy_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` under the current policy, and the policy's entropy, per sample.

        ``entropy_grad=False`` keeps the (discrete) entropy out of the autograd graph: logged, not learned from.
        """
        return self.distribution_terms(self.actor(obs), actions, entropy_grad)

    def distribution_terms(self, out: torch.Tensor, actions: torch.Tensor,
                           entropy_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`log_prob_entropy` from the actor's output ``out`` (as :meth:`forward` returns it)."""
        if self.discrete:
            log_probs = torch.log_softmax(out, dim=-1)
            entropy_of = log_probs if entropy_grad else log_probs.detach()
            entropy = -(entropy_of.exp() * entropy_of).sum(-1)
            return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy
        log_std = self.log_std.expand_as(out)
        log_prob = (-0.5 * ((actions - out) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_prob, (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)


def head_output(head: nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    """``head(hidden)`` without the module call's own overhead (the same ``F.linear``)."""
    return F.linear(hidden, head.weight, head.bias)


def stack_two_mlp_layout(tensors: Mapping[str, Any], prefix: str = "") -> Optional[dict]:
    """``tensors`` (a state dict, or any per-parameter mapping of the same names) of the earlier two-MLP layout
    (``{prefix}actor.{2k}.weight``, ``{prefix}critic.{2k}.bias``, ...: two ``nn.Sequential``) rewritten into
    :class:`ActorCritic`'s stacked one, other entries kept; ``None`` when ``tensors`` is not of that layout."""
    if f"{prefix}actor.0.weight" not in tensors:
        return None
    mlps = (f"{prefix}actor.", f"{prefix}critic.")
    layers = sum(1 for key in tensors if key.startswith(mlps[0]) and key.endswith(".weight")) - 1

    def pair(kind: str, index: int) -> list:
        return [tensors[f"{mlp}{index}.{kind}"] for mlp in mlps]

    stacked = {f"{prefix}hidden_weights.{k}": torch.stack(pair("weight", 2 * k)) for k in range(layers)}
    stacked.update({f"{prefix}hidden_biases.{k}": torch.stack(pair("bias", 2 * k)).unsqueeze(1) for k in range(layers)})
    for mlp, head in zip(mlps, ("action_head", "value_head")):
        for kind in ("weight", "bias"):
            stacked[f"{prefix}{head}.{kind}"] = tensors[f"{mlp}{2 * layers}.{kind}"]
    result: dict = {}
    for key, value in tensors.items():  # the stacked entries where the two MLPs' were, the others in their order
        if key.startswith(mlps):
            result.update(stacked)
        else:
            result[key] = value
    return result


def _stack_two_mlp_layout(module: ActorCritic, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load hook: a state dict of the earlier two-MLP layout rewritten in place into the stacked one."""
    stacked = stack_two_mlp_layout(state_dict, prefix)
    if stacked is not None:
        state_dict.clear()
        state_dict.update(stacked)


def stack_two_mlp_optimizer_state(state: dict, names: list[str], prefix: str = "") -> dict:
    """An optimizer ``state_dict`` over parameters ``names`` (in order) of the two-MLP layout, rewritten for the
    stacked layout's parameters (in the order :func:`stack_two_mlp_layout` gives them): each per-parameter tensor
    of the same shape as its parameter (Adam's moments) is stacked as the parameter is; scalars (``step``) are
    taken from the first of the pair."""
    new_names = list(stack_two_mlp_layout(dict.fromkeys(names, torch.zeros(0)), prefix) or names)
    per_param = state["state"]
    fields = {field for entry in per_param.values() for field in entry}
    converted: dict[int, dict] = {}
    for field in fields:
        values = {name: per_param[i][field] for i, name in enumerate(names) if i in per_param and field in per_param[i]}
        if not values:
            continue
        if all(torch.as_tensor(v).dim() == 0 for v in values.values()):
            # The same count for every parameter (Adam's step): a stacked parameter takes the first one's.
            first = next(iter(values.values()))
            for j, name in enumerate(new_names):
                converted.setdefault(j, {})[field] = values.get(name, first)
            continue
        stacked = stack_two_mlp_layout(values, prefix) or values
        for j, name in enumerate(new_names):
            if name in stacked:
                converted.setdefault(j, {})[field] = stacked[name]
    groups = [dict(group, params=list(range(len(new_names)))) for group in state["param_groups"]]
    if len(groups) != 1:
        raise ValueError("an optimizer of the two-MLP layout with several parameter groups cannot be converted.")
    return {"state": converted, "param_groups": groups}


# ---------------------------------------------------------------------------------------------- advantages
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


def normalize(advantages: torch.Tensor) -> torch.Tensor:
    """Advantages standardised to mean 0 and standard deviation 1 (left as they are for a single sample)."""
    if advantages.shape[0] < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, 0 no better than a constant."""
    var = returns.var(unbiased=False)
    return 1.0 - (returns - values).var(unbiased=False) / var if var > 0 else torch.tensor(float("nan"))


class RolloutBatch(NamedTuple):
    """A rollout's real transitions, flat (``B`` env steps, reset steps left out), on the agent's device."""

    observations: torch.Tensor  # (B, obs_dim)
    actions: torch.Tensor  # (B,) for discrete actions, (B, action_dim) for continuous ones
    log_probs: torch.Tensor  # (B,) log π(a|s) under the rollout's policy
    values: torch.Tensor  # (B,) V(s) under the rollout's policy
    advantages: torch.Tensor  # (B,) GAE
    returns: torch.Tensor  # (B,) advantages + values: the value targets

    def select(self, index: torch.Tensor) -> "RolloutBatch":
        """The transitions at ``index`` (a minibatch)."""
        return RolloutBatch(*(x[index] for x in self))


# ---------------------------------------------------------------------------------------------- the base
class OnPolicyAgent(LightningAgent):
    """Base of on-policy actor-critic agents, for ``Discrete`` or ``Box`` actions and ``Box`` observations.

    The hyperparameters need ``n_steps`` (vector steps per rollout, per sub-env), ``gamma``, ``gae_lambda`` and the
    network's ``net_arch``, ``activation``, ``ortho_init`` and ``log_std_init``. ``__init__`` builds
    :attr:`policy` (an :class:`ActorCritic`); the subclass then builds its optimizer over ``self.parameters()``,
    fills ``self.optimizer_list``, calls ``self.reset(0)``, and writes :meth:`learn`, called with the next
    observation whenever the rollout is full.

    Attributes:
        policy: the actor-critic network.
        n_updates: rollouts learned from since ``reset``.
        observations, rewards, terminated, dones, real, actions: the rollout, ``[n_steps, num_envs, ...]``
            (``real``: False at reset steps).
    """

    lockstep_updates = True  # one update every n_steps vector steps, on every DDP rank

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Any = None, num_envs: int = 1,
                 **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.obs_dim = flat_dim(observation_space)
        self.policy = ActorCritic(self.obs_dim, action_space, self.params)
        self.n_updates = 0

    @abstractmethod
    def learn(self, next_observation: Any) -> dict:
        """Learn from the full rollout (:meth:`rollout_batch` prepares it) and return the metrics to log."""

    @property
    def segment_steps(self) -> int:
        """One Lightning ``training_step`` per rollout."""
        return self.params.n_steps

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().check_spaces(observation_space, action_space)
        if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise TypeError(f"{cls.__name__} needs a Discrete or Box action space, got {action_space}.")

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.policy.reset_parameters(generator, self.params)

    @classmethod
    def upgrade_saved(cls, saved: dict) -> dict:
        """Weights and optimizer state of the earlier two-MLP :class:`ActorCritic` (``policy.actor.0.weight``, ...)
        rewritten into the stacked layout (before 2026-12-07)."""
        weights = saved["state_dict"]
        stacked = stack_two_mlp_layout(weights, "policy.")
        if stacked is None:
            return saved
        names = [name for name in weights if not name.endswith("_extra_state")]
        optimizers = [stack_two_mlp_optimizer_state(state, names, "policy.") for state in saved["optimizers"]]
        return {**saved, "state_dict": stacked, "optimizers": optimizers}

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.n_updates = 0
        self._allocate_rollout()

    def set_num_env(self, num_envs: int) -> None:
        super().set_num_env(num_envs)
        self._allocate_rollout()

    @property
    def action_dim(self) -> int:
        """Logits per discrete action, or floats per continuous action."""
        return int(self.action_space.n) if self.policy.discrete else flat_dim(self.action_space)

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
        self._noise = torch.zeros(shape + (self.action_dim,), dtype=self.dtype, device=self.device)

    _ROLLOUT = ("observations", "rewards", "terminated", "dones", "real")

    def training_state(self) -> dict:
        state = {name: torch.from_numpy(getattr(self, name)) for name in self._ROLLOUT}
        return {**state, "actions": self.actions, "noise": self._noise, "t": self._t, "n_updates": self.n_updates}

    def load_training_state(self, state: dict) -> None:
        for name in self._ROLLOUT:
            getattr(self, name)[...] = state[name].numpy()
        self.actions.copy_(state["actions"])
        self._noise.copy_(state["noise"])
        self._t, self.n_updates = int(state["t"]), int(state["n_updates"])

    # ------------------------------------------------------------------ acting
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """One action per sub-env: sampled (and recorded in the rollout) in training mode, greedy (the likeliest
        action, or the Gaussian's mean) in eval mode."""
        greedy = greedy or not self.training
        obs = self.obs_tensor(observation, check_batch=not greedy)
        policy, t = self.policy, self._t
        with torch.inference_mode():
            out = policy.actor(obs)
            if greedy:
                return self._to_env_action(out.argmax(-1) if policy.discrete else out)
            if t == 0:
                self._draw_noise()
            if policy.discrete:
                action = (out + self._noise[t]).argmax(-1)
            else:
                action = out + policy.log_std.exp() * self._noise[t]
            self.actions[t] = action
        self.observations[t] = np.asarray(observation).reshape(self.num_envs, -1)
        return self._to_env_action(action)

    def _draw_noise(self) -> None:
        """The sampling noise of a whole rollout, from the agent's generator."""
        rng = self.rng
        if self.policy.discrete:
            uniform = torch.rand(self._noise.shape, generator=rng, device=rng.device).clamp_(min=1e-20)
            self._noise.copy_(-torch.log(-torch.log(uniform)))
        else:
            self._noise.copy_(torch.randn(self._noise.shape, generator=rng, device=rng.device))

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
        """Record one vector step; when the rollout is full, :meth:`learn` from it."""
        if not self.training:
            return
        t = self._t
        self.real[t] = self.count_step(terminated, truncated)
        self.rewards[t] = reward
        self.terminated[t] = terminated
        self.dones[t] = np.logical_or(terminated, truncated)
        t += 1
        full = t == self.params.n_steps
        self.__dict__["_t"] = 0 if full else t  # a plain counter: skips nn.Module.__setattr__'s checks (~3 µs)
        if full:
            metrics = self.learn(next_observation)
            if call_back is not None:
                call_back(metrics)

    @torch.no_grad()
    def rollout_batch(self, next_observation: Any) -> RolloutBatch:
        """The full rollout's real transitions, flat, with log-probs and values under the rollout's policy and GAE
        advantages and returns (``next_observation``: the observation after the rollout's last step)."""
        p, device = self.params, self.device
        steps, num_envs = self.rewards.shape
        obs = torch.from_numpy(self.observations).to(device, self.dtype).reshape(steps * num_envs, self.obs_dim)
        actions = self.actions.reshape((steps * num_envs,) + self.actions.shape[2:])
        # Values of every observation acted on, plus the one after the last step: values[t + 1] is step t's
        # next-state value (for an episode's last step, the value of its final observation; see the docstring).
        out, values = self.policy(torch.cat([obs, self.obs_tensor(next_observation)]))
        log_probs, _ = self.policy.distribution_terms(out[:-num_envs], actions)
        values = values.reshape(steps + 1, num_envs)
        rewards, terminated, dones = (torch.from_numpy(a).to(device, self.dtype)
                                      for a in (self.rewards, self.terminated, self.dones))
        advantages = gae(rewards, values[:-1], values[1:], terminated, dones, p.gamma, p.gae_lambda).reshape(-1)
        real = torch.from_numpy(self.real).to(device).reshape(-1)
        old_values = values[:-1].reshape(-1)[real]
        advantages = advantages[real]
        return RolloutBatch(obs[real], actions[real], log_probs[real], old_values, advantages,
                            advantages + old_values)
