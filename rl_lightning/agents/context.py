"""``AgentContext``: what a run tells a learning agent, in one explicit object.

An agent learns in two settings: alone (a bare loop calls ``act``/``update``; the agent calls ``loss.backward()`` and
``optimizer.step()`` itself) and fitted by a Lightning ``Trainer`` (every backward pass, clipping and optimizer step
goes through Lightning, so precision and DDP apply). The second setting hands the agent an :class:`AgentContext`
through :meth:`~rl_lightning.agents.LightningAgent.attach`; the agent reads nothing else from the module or the
trainer.

Units: ``total_steps`` counts env steps summed over sub-envs and DDP ranks, the same count as the run's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

__all__ = ["AgentContext", "CountedOptimizer"]


@dataclass(frozen=True)
class AgentContext:
    """The run an agent learns in. ``AgentContext()`` is learning alone (a bare loop, or after a fit).

    Attributes:
        total_steps: the run's step budget, env steps summed over sub-envs and DDP ranks; ``None`` without one
            (a bare loop, or a run counted in episodes). Linear schedules without their own horizon use it.
        world_size: processes (DDP ranks) training copies of the agent, each on its own sub-envs.
        device: where the run keeps the agent's parameters (``None``: where they are; the agent's ``device``).
        optimizers: the agent's optimizers as the trainer wraps them (Lightning's ``LightningOptimizer``), in the
            order of ``agent.optimizer_list``; empty: the agent steps its own.
            A module whose ``direct_gradient_steps`` is True gets :class:`CountedOptimizer` instead.
        backward: ``backward(loss)``, the trainer's backward pass (loss scaling, DDP hooks); ``None``:
            ``loss.backward()``.
        clip_gradients: ``clip_gradients(optimizer, max_norm)``, clipping the total gradient norm of one
            optimizer's parameters the trainer's way (unscaling first under fp16); ``None``: torch's
            ``clip_grad_norm_``.
        is_fitting: ``is_fitting()`` says whether the trainer is fitting now; while it returns False (or is
            ``None``) the agent learns alone, so an agent keeps learning in a bare loop after a fit.
    """

    total_steps: Optional[int] = None
    world_size: int = 1
    device: Optional[torch.device] = None
    optimizers: Sequence[Any] = ()
    backward: Optional[Callable[[torch.Tensor], None]] = None
    clip_gradients: Optional[Callable[[torch.optim.Optimizer, float], None]] = None
    is_fitting: Optional[Callable[[], bool]] = None

    def __post_init__(self) -> None:
        if self.total_steps is not None and (isinstance(self.total_steps, bool) or self.total_steps < 1):
            raise ValueError(f"AgentContext.total_steps={self.total_steps!r}; allowed: None or an integer >= 1.")
        if isinstance(self.world_size, bool) or not isinstance(self.world_size, int) or self.world_size < 1:
            raise ValueError(f"AgentContext.world_size={self.world_size!r}; allowed: an integer >= 1.")

    @property
    def fitting(self) -> bool:
        """Whether a trainer is fitting the agent now (learning goes through :attr:`backward` and
        :attr:`optimizers`)."""
        return self.is_fitting is not None and self.is_fitting()

    @classmethod
    def from_module(cls, module: Any) -> "AgentContext":
        """The context of a ``LightningModule`` being fitted, read from its public attributes only:
        ``total_steps`` (0: no step budget), ``device``, ``optimizers()``, ``manual_backward``, ``clip_gradients``
        and its trainer's ``world_size``, ``training`` and ``precision_plugin``."""
        trainer = module.trainer
        wrapped = module.optimizers()
        wrapped = list(wrapped) if isinstance(wrapped, (list, tuple)) else [wrapped]
        scaler = getattr(trainer.precision_plugin, "scaler", None)

        def clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
            if not getattr(optimizer, "_step_supports_amp_scaling", False):
                module.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
                return
            # A fused optimizer unscales inside its own step, so Lightning's mixed precision refuses to clip its
            # gradients. Unscale them first where a grad scaler is in use (fp16); the scaler's step then skips
            # its own unscaling. Without a scaler (fp32, bf16) the gradients are true ones already.
            if scaler is not None:
                scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], max_norm)

        def is_fitting() -> bool:
            try:
                current = module.trainer
            except RuntimeError:  # the module left its trainer
                return False
            return current is not None and current.training

        total_steps = getattr(module, "total_steps", 0) or None
        if getattr(module, "direct_gradient_steps", False):
            # Lightning's wrappers would only count the steps (rl_lightning.direct_steps): plain torch calls instead.
            counted = [CountedOptimizer(opt.optimizer, module.count_optimizer_step) for opt in wrapped]
            return cls(total_steps=total_steps, world_size=trainer.world_size, device=module.device,
                       optimizers=counted, is_fitting=is_fitting)
        return cls(total_steps=total_steps, world_size=trainer.world_size, device=module.device, optimizers=wrapped,
                   backward=module.manual_backward, clip_gradients=clip_gradients, is_fitting=is_fitting)


class CountedOptimizer:
    """An optimizer whose ``step()`` is the optimizer's own followed by ``count()``: what an agent steps while a
    trainer fits it on the direct path (:mod:`rl_lightning.direct_steps`), so the trainer's step count advances."""

    def __init__(self, optimizer: torch.optim.Optimizer, count: Callable[[], None]):
        self.optimizer = optimizer
        self._count = count

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        result = self.optimizer.step(closure)
        self._count()
        return result

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)
