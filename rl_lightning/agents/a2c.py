"""A2C: synchronous advantage actor-critic (Mnih et al., 2016), as OpenAI Baselines and Stable-Baselines3 run it.

Reads top to bottom: hyperparameters, the losses as pure functions, then the agent: after every rollout of
``n_steps`` vector steps, one gradient step on all of its real transitions. The network, acting, the rollout and
GAE are the on-policy base's (:mod:`rl_lightning.agents.on_policy`, whose docstring says how reset steps and
truncation are handled). The defaults are Stable-Baselines3's (RMSprop, ``n_steps=5``, ``gae_lambda=1``: n-step
returns); ``configs/a2c_cartpole.yaml`` has rl-baselines3-zoo's CartPole settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import gymnasium as gym
import torch

from rl_lightning.agents.base import SEGMENT_STEPS
from rl_lightning.agents.hparams import Params
from rl_lightning.agents.networks import linear_schedule
from rl_lightning.agents.on_policy import OnPolicyAgent, explained_variance, normalize
from rl_lightning.agents.registry import register_agent

__all__ = ["A2C", "A2CParams", "pg_loss", "v_loss"]


# ---------------------------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class A2CParams(Params):
    """A2C's hyperparameters (Stable-Baselines3's defaults).

    Args:
        n_steps: vector steps per rollout, per sub-env; a rollout holds ``n_steps * num_envs`` env steps and
            gives one gradient step.
        gamma: discount factor.
        gae_lambda: GAE's λ (1: n-step returns bootstrapped from the rollout's last value, as A2C's paper).
        learning_rate: the optimizer's learning rate (its initial value under the linear schedule).
        learning_rate_schedule: ``"constant"``, or ``"linear"`` down to 0 over ``anneal_steps`` env steps.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss.
        max_grad_norm: clip the global gradient norm to this (``None``: no clipping).
        normalize_advantage: standardise the advantages of each rollout.
        use_rms_prop: RMSprop (α = 0.99, as Stable-Baselines3); ``False``: Adam.
        rms_prop_eps: the optimizer's ε (RMSprop's, or Adam's).
        net_arch: hidden widths of the actor and of the critic (two separate MLPs).
        activation: hidden activation, ``"tanh"`` or ``"relu"``.
        ortho_init: orthogonal initialisation (gains √2 hidden, 0.01 policy output, 1 value output).
        log_std_init: initial log standard deviation of the Gaussian policy (continuous actions).
        anneal_steps: env steps (summed over sub-envs and DDP ranks) over which the linear schedule reaches 0;
            ``None``: the run's ``total_steps`` when trained by AgentModule / OnlineTrainer in step mode.
    """

    n_steps: int = 5
    gamma: float = 0.99
    gae_lambda: float = 1.0
    learning_rate: float = 7e-4
    learning_rate_schedule: Literal["constant", "linear"] = "constant"
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: Optional[float] = 0.5
    normalize_advantage: bool = False
    use_rms_prop: bool = True
    rms_prop_eps: float = 1e-5
    net_arch: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu"] = "tanh"
    ortho_init: bool = True
    log_std_init: float = 0.0
    anneal_steps: Optional[int] = None

    def check(self) -> None:
        for name in ("n_steps", "anneal_steps"):
            self._range(name, 1)
        for name in ("gamma", "gae_lambda"):
            self._range(name, 0, 1)
        for name in ("learning_rate", "max_grad_norm", "rms_prop_eps"):
            self._range(name, 0, low_inclusive=False)
        for name in ("ent_coef", "vf_coef"):
            self._range(name, 0)
        self._hidden_widths()


# ---------------------------------------------------------------------------------------------- losses
def pg_loss(advantages: torch.Tensor, log_prob: torch.Tensor) -> torch.Tensor:
    """The policy-gradient loss, negated: ``-mean(A * log π(a|s))`` (the advantages are constants)."""
    return -(advantages * log_prob).mean()


def v_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the value prediction against the returns."""
    return ((values - returns) ** 2).mean()


# ---------------------------------------------------------------------------------------------- the agent
@register_agent
class A2C(OnPolicyAgent):
    """A2C for ``Discrete`` or ``Box`` actions and ``Box`` observations (see :class:`A2CParams`).

    Logged through ``call_back`` once per update: ``pg_loss``, ``v_loss``, ``entropy``, ``explained_variance``,
    ``learning_rate`` and ``n_updates``.
    """

    params_class = A2CParams
    structural_params = ("net_arch", "activation", "use_rms_prop", "rms_prop_eps")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[A2CParams] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        p = self.params
        if p.use_rms_prop:
            self.optimizer = torch.optim.RMSprop(self.parameters(), lr=p.learning_rate, alpha=0.99, eps=p.rms_prop_eps)
        else:
            self.optimizer = torch.optim.Adam(self.parameters(), lr=p.learning_rate, eps=p.rms_prop_eps)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    @property
    def segment_steps(self) -> int:
        """Whole rollouts per Lightning ``training_step``: the multiple of ``n_steps`` nearest 128 vector steps
        (A2C's rollouts are short, and one ``training_step`` each would cost more than the update)."""
        return max(1, round(SEGMENT_STEPS / self.params.n_steps)) * self.params.n_steps

    def learn(self, next_observation: Any) -> dict:
        """One gradient step on the full rollout's real transitions; returns the metrics."""
        p = self.params
        learning_rate = p.learning_rate
        if p.learning_rate_schedule == "linear":
            learning_rate = linear_schedule(p.learning_rate, self.schedule_progress())
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        rollout = self.rollout_batch(next_observation)
        advantages = normalize(rollout.advantages) if p.normalize_advantage else rollout.advantages
        out, values = self.policy(rollout.observations)
        log_prob, entropy = self.policy.distribution_terms(out, rollout.actions, entropy_grad=p.ent_coef > 0)
        policy_loss = pg_loss(advantages, log_prob)
        value_loss = v_loss(values, rollout.returns)
        entropy = entropy.mean()
        loss = policy_loss + p.vf_coef * value_loss
        if p.ent_coef > 0:
            loss = loss - p.ent_coef * entropy
        self.gradient_step(self.optimizer, loss, p.max_grad_norm)
        self.n_updates += 1
        return {"pg_loss": policy_loss.item(), "v_loss": value_loss.item(), "entropy": entropy.item(),
                "explained_variance": float(explained_variance(rollout.values, rollout.returns)),
                "learning_rate": learning_rate, "n_updates": self.n_updates}
