"""One tqdm bar per run, counting episodes (episode mode) or env steps (step mode)."""

from __future__ import annotations

from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks.progress import ProgressBar
from tqdm.auto import tqdm

__all__ = ["EpisodeProgressBar"]


class EpisodeProgressBar(ProgressBar):
    """A Lightning progress bar for :class:`~rl_lightning.module.AgentModule` runs.

    It replaces Lightning's own bar (which counts ``training_step`` calls): the bar counts episodes in
    episode mode and env steps in step mode, updated once per segment, with the episode count and the
    last episode's return in its postfix.

    Args:
        leave: keep the finished bar on screen.
    """

    def __init__(self, leave: bool = True):
        super().__init__()
        self.leave = leave
        self._enabled = True
        self.bar: Optional[tqdm] = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._enabled:
            return
        episode_mode = getattr(pl_module, "num_episodes", 0) > 0
        total = pl_module.num_episodes if episode_mode else getattr(pl_module, "total_steps", None)
        desc = f"Run {getattr(pl_module, 'run_idx', 1)}: " + ("episodes" if episode_mode else "env steps")
        self.bar = tqdm(total=total, desc=desc, leave=self.leave, dynamic_ncols=True)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.bar is None or batch is None:
            return
        done = batch.episodes_done if pl_module.num_episodes > 0 else batch.env_steps
        self.bar.update(done - self.bar.n)
        postfix = {"episodes": batch.episodes_done}
        last_return = pl_module.state.last_return
        if last_return is not None:
            postfix["return"] = f"{last_return:.4g}"
        self.bar.set_postfix(postfix, refresh=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
