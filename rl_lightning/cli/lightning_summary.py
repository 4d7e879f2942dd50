"""The closing summaries of ``rl-lightning fit``, ``validate`` and ``test``, and :class:`FitClock`, the callback that
times a fit for them.

``fit`` ends with::

    fit: PPO on CartPole-v1, 100,000 env steps
      final return  487.12 (mean of the last 100 of 912 episodes)
      best episode  500.00
      validation    val/ep_return 500.00 at the last validation (5 greedy episodes)
      speed         100,000 env steps in 1 min 32 s (1,087 env steps/s)
      files         runs/ppo_cartpole: Run1_Best_agent.t, Run1_Last_agent.t, checkpoints/, config.yaml, ...
      next          rl-lightning plot runs/ppo_cartpole
                    rl-lightning evaluate --exp-dir runs/ppo_cartpole

and ``validate`` / ``test`` with the metrics of their greedy episodes (``val/ep_return``, ``val/ep_return_std``, ...)
and the folder they were logged to.
"""

from __future__ import annotations

import os
import shlex
import time
from typing import Optional

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningCLI

from rl_lightning.cli.output import folder_contents, return_rows, speed, summary_block
from rl_lightning.metrics_stream import metrics_stream_path, read_metrics_stream

__all__ = ["FitClock", "fit_summary", "loop_summary"]


class FitClock(pl.Callback):
    """Times a fit and counts its env steps (summed over sub-envs and DDP ranks), for the closing summary; says on
    an interrupt how to continue the run."""

    def __init__(self) -> None:
        self.start: Optional[tuple] = None  # (perf_counter, env steps) when training started
        self.end: Optional[tuple] = None

    @staticmethod
    def _now(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple:
        return time.perf_counter(), pl_module.rollout.env_steps * trainer.world_size

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = self._now(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.end = self._now(trainer, pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.is_global_zero and self.start is not None:
            # Called after LastCheckpoint's on_exception, which writes last.ckpt where the run's state allows.
            path = os.path.join(trainer.default_root_dir, "checkpoints", "last.ckpt")
            then = (f"the same command with --ckpt_path last continues it from {path}" if os.path.isfile(path)
                    else "no checkpoint was written, so the same command starts it anew")
            print(f"\nrl-lightning fit: interrupted at {self._now(trainer, pl_module)[1]:,} env steps; {then}.",
                  flush=True)

    def elapsed(self) -> tuple:
        """``(env steps, seconds)`` of this fit (a resumed run counts from where it resumed)."""
        if self.start is None or self.end is None:
            return 0, 0.0
        return self.end[1] - self.start[1], self.end[0] - self.start[0]


def fit_summary(cli: LightningCLI) -> str:
    """The closing summary of ``rl-lightning fit``: env steps, final and best return, the last validation's
    ``val/ep_return``, env steps/s and wall time, the run's files and the commands to run next."""
    module, trainer = cli.model, cli.trainer
    root = module.exp_dir or trainer.default_root_dir
    path = metrics_stream_path(root, 1)
    returns = [e["ep_return"] for e in read_metrics_stream(path, safe=True)] if os.path.isfile(path) else []
    clock = next((c for c in trainer.callbacks if isinstance(c, FitClock)), FitClock())
    run = getattr(module, "run_config", None)
    what = f"{run.agent} on {run.env_id}, " if run is not None else ""
    done = module.rollout.env_steps * trainer.world_size
    header = f"fit: {what}{done:,} env steps"
    rows = return_rows(returns)
    if "val/ep_return" in trainer.callback_metrics:
        value = float(trainer.callback_metrics["val/ep_return"])
        episodes = f"{module.val_episodes} greedy episodes"
        rows.append(("validation", f"val/ep_return {value:.2f} at the last validation ({episodes})"))
    steps, seconds = clock.elapsed()
    rows += [("speed", speed(steps, seconds) if steps else "no env steps in this fit"),
             ("files", folder_contents(root))]
    folder = shlex.quote(root)
    commands = [f"rl-lightning plot {folder}", f"rl-lightning evaluate --exp-dir {folder}"]
    if not module.rollout.budget_reached:
        header += f" of its {module.total_steps:,}: a Trainer limit (max_time, max_steps, max_epochs) stopped it"
        commands.insert(0, "the same command with --ckpt_path last, and that limit raised, continues it")
    rows.append(("next", "\n".join(commands)))
    return summary_block(header, rows)


def loop_summary(cli: LightningCLI, seconds: float) -> str:
    """The closing summary of ``rl-lightning validate`` or ``test``: the metrics of the greedy episodes, the wall
    time and where the metrics were logged."""
    subcommand, trainer = cli.subcommand, cli.trainer
    prefix = "val/" if subcommand == "validate" else "test/"
    ckpt_path = cli.config[subcommand].get("ckpt_path")
    weights = ckpt_path or "an untrained agent (no --ckpt_path)"
    header = f"{subcommand}: {cli.model.val_episodes} greedy episodes of {weights} in {seconds:.1f} s"
    rows = [(name, f"{float(value):.2f}") for name, value in trainer.callback_metrics.items()
            if name.startswith(prefix)]
    if trainer.loggers:
        rows.append(("logged to", trainer.log_dir))
    return summary_block(header, rows)
