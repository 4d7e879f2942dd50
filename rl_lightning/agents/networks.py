"""What the built-in agents share: plain MLPs, twin critics, their seeded initialisation, and the linear schedule.

Weights are initialised from an explicit ``torch.Generator`` (never torch's global RNG), on the CPU, then
copied into the parameters: the same seed gives the same weights on every device and whatever else the
process draws.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

__all__ = ["ACTIVATIONS", "ACTIVATION_FUNCTIONS", "mlp", "TwinCritic", "frozen", "init_mlp_", "init_linear_",
           "linear_schedule", "flat_dim"]

#: Hidden-layer activations by the name the hyperparameters use.
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
#: The same activations as functions, for networks that call them directly rather than through modules.
ACTIVATION_FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu}


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "tanh") -> nn.Sequential:
    """``Linear → activation`` for each hidden width, then a last ``Linear`` to ``out_dim`` (no activation)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), ACTIVATIONS[activation]()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class TwinCritic(nn.Module):
    """Two independent ReLU MLPs ``Q_i(s, a)`` on the concatenated observation and action (SAC, TD3)."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: Sequence[int]):
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, net_arch, 1, "relu")
        self.q2 = mlp(obs_dim + action_dim, net_arch, 1, "relu")

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def first(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``Q_1(s, a)`` alone (TD3's actor loss)."""
        return self.q1(torch.cat([obs, actions], dim=-1)).squeeze(-1)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Compute no parameter gradients for ``module`` inside the block (gradients still flow through its inputs)."""
    params = list(module.parameters())
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)


@torch.no_grad()
def init_mlp_(net: nn.Module, generator: torch.Generator, *, orthogonal: bool, hidden_gain: float = math.sqrt(2),
              output_gain: float = 1.0) -> None:
    """Re-initialise every ``Linear`` of ``net`` in place from ``generator``.

    ``orthogonal=True``: orthogonal weights (``hidden_gain`` for hidden layers, ``output_gain`` for the last
    layer) and zero biases, as PPO implementations do. ``orthogonal=False``: PyTorch's default
    ``nn.Linear`` initialisation, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases.
    """
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for k, layer in enumerate(linears):
        init_linear_(layer.weight, layer.bias, generator, orthogonal=orthogonal,
                     gain=output_gain if k == len(linears) - 1 else hidden_gain)


@torch.no_grad()
def init_linear_(weight: torch.Tensor, bias: Optional[torch.Tensor], generator: torch.Generator, *, orthogonal: bool,
                 gain: float) -> None:
    """One layer's ``weight`` (``out x in``) and ``bias`` drawn as :func:`init_mlp_` draws them, CPU-first."""
    out_features, in_features = weight.shape
    drawn = torch.empty(out_features, in_features)
    drawn_bias = torch.zeros(out_features)
    if orthogonal:
        nn.init.orthogonal_(drawn, gain=gain, generator=generator)
    else:
        bound = 1.0 / math.sqrt(in_features)
        drawn.uniform_(-bound, bound, generator=generator)
        drawn_bias.uniform_(-bound, bound, generator=generator)
    weight.copy_(drawn)
    if bias is not None:
        bias.copy_(drawn_bias.view_as(bias))


def linear_schedule(initial: float, progress: float) -> float:
    """``initial`` scaled down linearly to 0 as ``progress`` (fraction of the budget spent) goes from 0 to 1."""
    return initial * max(0.0, 1.0 - progress)


def flat_dim(space: gym.Space) -> int:
    """Number of floats in one flattened sample of a ``Box`` space."""
    return int(np.prod(space.shape)) if space.shape else 1
