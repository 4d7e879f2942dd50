"""Lightning checkpoints of RL runs: the last state (for exact resume) and the best-return agent.

Both are ``ModelCheckpoint`` subclasses, so ``Trainer(callbacks=[LastCheckpoint(...), BestReturnCheckpoint(...)])``
works for plain Lightning users and ``trainer.fit(module, ckpt_path="last")`` finds the last one. Lightning's
own ``ModelCheckpoint`` schedules by optimizer steps, which a seed-protocol agent never takes (its
``global_step`` stays 0); these schedule by segments and wall time instead.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta
from typing import Any, Optional, Union

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

__all__ = ["BestReturnCheckpoint", "LastCheckpoint"]


def _can_save(trainer: pl.Trainer) -> bool:
    return not (trainer.fast_dev_run or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING)


class LastCheckpoint(ModelCheckpoint):
    """Keeps ``last.ckpt``: the whole run state, written after the first segment, then every
    ``every_n_segments`` segments and/or every ``train_time_interval``, at the end of the run, and when the
    run is interrupted.

    Ctrl-C (SIGINT) is deferred to the end of the current vector step and SIGTERM (cluster preemption) to
    the end of the current segment; either way the unwritten episodes are flushed to the metrics stream and
    ``last.ckpt`` is written before the process exits, at a consistent point. When an error stops the run,
    the finished episodes are flushed too, and ``last.ckpt`` is written only if the failing call left the
    state consistent (``agent.act`` failed before the env moved); otherwise the previous one is kept.

    Args:
        dirpath: folder of ``last.ckpt``.
        every_n_segments: write after every this many ``training_step`` s (segments); ``None`` for never.
        train_time_interval: write when at least this much wall time (a ``timedelta`` or seconds) passed since
            the last write; ``None`` for never.
    """

    def __init__(self, dirpath: Optional[str] = None, every_n_segments: Optional[int] = None,
                 train_time_interval: Optional[Union[timedelta, float]] = timedelta(minutes=5)):
        if every_n_segments is not None and (isinstance(every_n_segments, bool) or not isinstance(
                every_n_segments, int) or every_n_segments < 1):
            raise ValueError(f"every_n_segments must be a positive integer or None, got {every_n_segments!r}.")
        if isinstance(train_time_interval, (int, float)) and not isinstance(train_time_interval, bool):
            if train_time_interval < 0:
                raise ValueError(f"train_time_interval must be >= 0 seconds or None, got {train_time_interval!r}.")
            train_time_interval = timedelta(seconds=train_time_interval)
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0, enable_version_counter=False)
        self.every_n_segments = every_n_segments
        self.time_interval = train_time_interval
        self._segments = 0
        self._last_write = time.monotonic()
        self._previous_sigint: Any = None
        # Only a run that started may overwrite last.ckpt: a failed restore must leave the file as it was.
        self._started = False

    def write_last(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` now."""
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._last_write = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_write = time.monotonic()
        self._started = True
        rollout = getattr(pl_module, "rollout", None)
        if rollout is None or threading.current_thread() is not threading.main_thread():
            return

        def defer_interrupt(signum: int, frame: Any) -> None:
            if rollout.interrupt_requested:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            rollout.interrupt_requested = True

        self._previous_sigint = signal.signal(signal.SIGINT, defer_interrupt)

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not _can_save(trainer):
            return
        self._segments += 1
        due = self._segments == 1 or self.every_n_segments is not None and self._segments % self.every_n_segments == 0
        if self.time_interval is not None:
            due = due or time.monotonic() - self._last_write >= self.time_interval.total_seconds()
        if due:
            self.write_last(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing at epoch ends: ``last.ckpt`` follows segments and wall time; ``on_train_end`` writes the final
        state."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing at validation ends: ``last.ckpt`` follows segments and wall time."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_sigint()
        if _can_save(trainer):
            self.write_last(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Flush the finished episodes; write ``last.ckpt`` when the run's state is consistent (Ctrl-C, SIGTERM,
        an ``agent.act`` failure); after a failure mid vector step keep the previous ``last.ckpt``."""
        self._restore_sigint()
        flush = getattr(pl_module, "flush_metrics", None)
        if callable(flush):
            flush()
        rollout = getattr(pl_module, "rollout", None)
        if self._started and getattr(rollout, "consistent", True) and _can_save(trainer):
            self.write_last(trainer)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["segments"] = self._segments
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._segments = state_dict.get("segments", 0)


class BestReturnCheckpoint(ModelCheckpoint):
    """Keeps ``best.ckpt``: the agent as it was when the training episode with the highest return so far finished.

    The module snapshots the agent at the very vector step the best episode finishes (the seed's
    ``Run{r}_Best_agent.t`` holds the same agent); this callback writes that snapshot, with the rest of the run's
    state, at the end of every segment in which the best return was reached again. Ties go to the later episode,
    as the seed trainer's ``>=``. ``best_model_score`` is that episode's return: the score the agent in the file
    earned.

    For the best *evaluated* agent, use Lightning's own ``ModelCheckpoint(monitor="val/ep_return", mode="max")``:
    ``AgentModule`` validates (greedy episodes on an evaluation env) at every epoch end.

    Args:
        dirpath: folder of ``best.ckpt``.
        filename: the file's name without ``.ckpt``.
        monitor: ``"ep_return"`` (the training episodes' return), the only value this callback follows.
    """

    def __init__(self, dirpath: Optional[str] = None, filename: str = "best", monitor: str = "ep_return"):
        if monitor != "ep_return":
            raise ValueError(
                f"BestReturnCheckpoint(monitor={monitor!r}): it follows only the training episodes' return "
                "('ep_return'). To keep the best evaluated agent use Lightning's "
                "ModelCheckpoint(monitor='val/ep_return', mode='max'); AgentModule logs val/ep_return at every "
                "validation (every epoch by default).")
        super().__init__(dirpath=dirpath, filename=filename, monitor=None, save_top_k=1, save_last=False,
                         enable_version_counter=False, auto_insert_metric_name=False)
        self._written_best = 0  # the module's state.best_updates when best.ckpt was last written

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        state = getattr(pl_module, "state", None)
        if not _can_save(trainer) or state is None or state.best_updates == self._written_best:
            return
        filepath = os.path.join(self.dirpath, f"{self.filename}{self.FILE_EXTENSION}")
        self._save_checkpoint(trainer, filepath)
        self.best_model_path = filepath
        self.best_model_score = torch.tensor(float(state.best_return))
        self._written_best = state.best_updates

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing: the best checkpoint is written when the best return is reached."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing: this checkpoint follows training episodes, not validation."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        module = trainer.lightning_module
        module.checkpoint_kind = "best"  # the agent of the best training episode, snapshotted when it ended
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            module.checkpoint_kind = "last"

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["written_best"] = self._written_best
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._written_best = state_dict.get("written_best", 0)
