"""Gradient steps without Lightning's per-step machinery, where that machinery has nothing to do.

Under manual optimization every ``manual_backward`` and wrapped ``optimizer.step()`` dispatches the
``on_before_backward``, ``on_after_backward`` and ``on_before_optimizer_step`` hooks to every callback and to the
module, opens profiler sections and goes through the precision plugin: about 120 µs per gradient step on a CPU,
a tenth of a small network's whole step (PPO and DQN take 20 to 128 of them per rollout). When no callback and no
module overrides those hooks, the precision is plain 32-bit, there is one device and no profiler, all of that does
nothing; then a built-in agent calls ``loss.backward()``, torch's ``clip_grad_norm_`` and ``optimizer.step()``
itself and counts the step the way Lightning's wrapper does, so ``global_step``, ``max_steps`` and
``ModelCheckpoint``'s schedules are the same. The numbers are the same too: it is the same torch calls without
the dispatch around them. Any one of those features turns the direct path off for the whole fit.
"""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden

__all__ = ["GRADIENT_HOOKS", "lightning_step_machinery_idle", "count_optimizer_step"]

#: The hooks Lightning calls around a manual backward pass and optimizer step.
GRADIENT_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def lightning_step_machinery_idle(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether Lightning's backward and optimizer-step wrappers would do nothing but count the step in this fit:
    one device (``SingleDeviceStrategy``), ``precision="32-true"``, no profiler, no gradient clipping by the
    trainer, and no callback or module overriding :data:`GRADIENT_HOOKS` (nor the module its ``backward``)."""
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if not isinstance(trainer.profiler, PassThroughProfiler) or trainer.gradient_clip_val:
        return False
    if is_overridden("backward", module, pl.LightningModule):
        return False
    return not any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks
                   for hook in GRADIENT_HOOKS) \
        and not any(is_overridden(hook, module, pl.LightningModule) for hook in GRADIENT_HOOKS)


def count_optimizer_step(trainer: pl.Trainer) -> None:
    """Count one optimizer step of a manually optimized fit, as Lightning's optimizer wrapper does (it advances
    ``trainer.global_step``)."""
    progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
    progress.increment_ready()
    progress.increment_completed()

