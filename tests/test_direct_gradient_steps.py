"""Built-in agents step torch directly when Lightning's wrappers would only count (rl_lightning.direct_steps).

A plain fit has nothing for Lightning's ``manual_backward`` and wrapped ``optimizer.step()`` to do but count the
step, so built-in agents skip them; the moment a user adds something those wrappers serve (a gradient hook, a
profiler, another precision, a custom ``backward``), every step goes through Lightning again. Either way the run is
the same: the same weights, the same episodes, the same ``global_step``.
"""

import gymnasium as gym
import lightning.pytorch as pl
import pytest
import torch

from rl_lightning import AgentModule
from rl_lightning.agents import PPO


class CountsOptimizerSteps(pl.Callback):
    """A user's gradient monitor: Lightning calls it before every optimizer step."""

    def __init__(self):
        self.calls = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls += 1


class WatchesBackward(pl.Callback):
    def on_after_backward(self, trainer, pl_module):
        pass


class OwnBackward(AgentModule):
    def backward(self, loss, *args, **kwargs):
        loss.backward(*args, **kwargs)


def ppo_module(module_class=AgentModule):
    torch.manual_seed(0)
    return module_class(lambda env: PPO.for_env(env, n_steps=16, batch_size=32, n_epochs=2),
                        lambda: gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point"),
                        total_steps=2_048, seed=1, keep_metrics_in_memory=True)


def fit(module, **kwargs):
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, max_epochs=-1, limit_val_batches=0, **kwargs)
    trainer.fit(module)
    return trainer


def test_a_plain_fit_steps_directly_and_equals_a_fit_through_lightnings_wrappers():
    direct = ppo_module()
    direct_trainer = fit(direct)
    monitor = CountsOptimizerSteps()
    wrapped = ppo_module()
    wrapped_trainer = fit(wrapped, callbacks=[monitor])

    assert direct.direct_gradient_steps and not wrapped.direct_gradient_steps
    # The user's hook saw every gradient step, and both fits counted them all.
    assert monitor.calls == wrapped_trainer.global_step == direct_trainer.global_step == 2_048 // 64 * 2 * 2
    assert [e["ep_return"] for e in direct.episodes] == [e["ep_return"] for e in wrapped.episodes]
    for (name, ours), theirs in zip(direct.agent.state_dict().items(), wrapped.agent.state_dict().values()):
        if isinstance(ours, torch.Tensor):
            assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("what, module_class, trainer_kwargs", [
    ("a callback's on_after_backward", AgentModule, {"callbacks": [WatchesBackward()]}),
    ("a profiler", AgentModule, {"profiler": "simple"}),
    ("64-bit precision", AgentModule, {"precision": "64-true"}),
    ("the module's own backward", OwnBackward, {}),
])
def test_anything_lightnings_wrappers_serve_puts_every_step_through_them(what, module_class, trainer_kwargs):
    module = ppo_module(module_class)
    trainer = fit(module, **trainer_kwargs)
    assert not module.direct_gradient_steps, what
    assert trainer.global_step == 2_048 // 64 * 2 * 2
