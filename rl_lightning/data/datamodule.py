"""``EnvDataModule``: a run's envs as a ``LightningDataModule``.

A Lightning user keeps data in a datamodule; for a run the data are envs. ``EnvDataModule`` holds the training
env and the evaluation env (instances or factories); ``AgentModule(agent)`` without an env takes them from the
datamodule it is fitted with::

    dm = EnvDataModule(lambda: gymnasium.make_vec("CartPole-v1", num_envs=8))
    trainer.fit(AgentModule(PPO.for_env, total_steps=100_000), datamodule=dm)

The rollout itself stays the module's: which steps are collected, and when, depends on the agent (its segment
length, its update schedule), so the datamodule's loaders are the module's. Seeds stay on the module too
(``seed``, ``val_seed``), so one module's run is the same with or without a datamodule.
"""

from __future__ import annotations

from typing import Optional

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from rl_lightning.data.envs import EnvLike, as_vector_env

__all__ = ["EnvDataModule"]


class EnvDataModule(pl.LightningDataModule):
    """The envs of a run.

    Args:
        train_env: the env the agent trains on: a vector env, a plain ``gymnasium.Env`` or a zero-argument factory of
            either (a factory is called once per fit, in ``setup``).
        val_env: the evaluation env of the validation and test loops (greedy episodes), with as many sub-envs as
            ``train_env``; default: ``train_env``'s factory called again, or a copy of an env instance.
    """

    def __init__(self, train_env: EnvLike, val_env: Optional[EnvLike] = None):
        super().__init__()
        for name, env in (("train_env", train_env), ("val_env", val_env)):
            if env is None and name == "val_env":
                continue
            if env is None or not callable(env):
                as_vector_env(env)  # raises TypeError naming what an env may be
        self.train_env = train_env
        self.val_env = val_env

    def _module_loader(self, name: str) -> DataLoader:
        module = self.trainer.lightning_module if self.trainer is not None else None
        loader = getattr(module, name, None)
        if not callable(loader):
            raise TypeError(f"EnvDataModule serves an rl_lightning AgentModule, whose rollout depends on its agent; "
                            f"this fit's module is {type(module).__name__}.")
        return loader()

    def train_dataloader(self) -> DataLoader:
        """The module's rollout, stepping ``train_env``."""
        return self._module_loader("train_dataloader")

    def val_dataloader(self) -> DataLoader:
        """The module's validation requests (greedy episodes on ``val_env``)."""
        return self._module_loader("val_dataloader")

    def test_dataloader(self) -> DataLoader:
        """The module's test requests (greedy episodes on ``val_env`` with the test seeds)."""
        return self._module_loader("test_dataloader")
