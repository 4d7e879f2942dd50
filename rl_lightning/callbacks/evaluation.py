"""``PeriodicEvaluation``: greedy episodes on separate eval envs every N env steps of training.

Every ``every_n_steps`` env steps (summed over sub-envs, ``pl_module.rollout.env_steps``) the training
agent plays ``num_episodes`` greedy episodes on an env of its own, and the callback logs

- ``eval/ep_return_mean``, ``eval/ep_return_std``, ``eval/ep_length_mean`` through ``pl_module.log`` (so
  ``ModelCheckpoint(monitor="eval/ep_return_mean", mode="max")`` and the progress bar see them), and
- ``ep_return_mean``, ``ep_return_std``, ``ep_length_mean`` under the tag ``eval/run_{r}`` through the
  run's seed-style logger (``pl_module.call_back(..., force=True)``), at the env-step count, beside
  ``ep_return/run_{r}``.

Greedy acting follows the seed protocol: ``agent.eval()`` before and the agent's earlier mode
(``train()`` or ``eval()``) restored after, for agents that have both; otherwise ``act(obs, greedy=True)``
where ``act`` takes it. ``update`` is never called and the agent's ``reset`` neither, so a greedy agent's
learning is not disturbed. The eval env steps through a :class:`~rl_lightning.data.rollout.RolloutDataset`,
so its episodes are counted exactly as the trainer counts them (reset steps left out), and every
evaluation resets sub-env ``i`` with ``seed + i``: the same starts each time, so changes between
evaluations come from the agent.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Callable, Optional, Sequence

import lightning.pytorch as pl
import numpy as np
import torch

from rl_lightning.analysis.video import VideoRecorder
from rl_lightning.data.envs import as_vector_env
from rl_lightning.data.rollout import greedy_episodes
from rl_lightning.protocol import greedy_act
from rl_lightning.validation import check_int

__all__ = ["PeriodicEvaluation"]

log = logging.getLogger(__name__)


class PeriodicEvaluation(pl.Callback):
    """Every ``every_n_steps`` env steps, ``num_episodes`` greedy episodes of the training agent on an eval env.

    An evaluation runs at the end of the first segment (``training_step``) at or past each multiple of
    ``every_n_steps``; a segment that passes several multiples gives one evaluation.

    Args:
        make_env: zero-argument factory of the eval env (a vector env or a plain ``gymnasium.Env``), built once at
            train start. It must have as many sub-envs as the training env: the agent acts for that many, and
            changing it (``set_num_env``) would reset rollout buffers of agents such as PPO.
        every_n_steps: env steps (summed over sub-envs) between evaluations.
        num_episodes: episodes per evaluation, across the eval env's sub-envs: the first ``num_episodes`` to
            finish are kept (several sub-envs may finish more on the last vector step; those are dropped).
        seed: sub-env ``i`` of the eval env resets with ``seed + i`` at every evaluation.
        video_dir: write the first episode of every evaluation to ``video_dir/run{r}_step{env_steps}.<ext>``
            (the eval env must render ``rgb_array`` or ``ansi``); ``None``: no video.
        video_formats: among ``"gif"``, ``"mp4"``, ``"tensorboard"`` (tag ``eval/run_{r}/video``, step = env steps).
        fps: frames per second of the videos.

    Attributes:
        history: one dict per evaluation, across runs: ``run``, ``env_steps``, ``returns``, ``lengths``,
            ``ep_return_mean``, ``ep_return_std``, ``ep_length_mean``. Saved with the callback's state, so a resumed
            run keeps it; the schedule itself follows the run's env-step count.

    Example::

        eval_cb = PeriodicEvaluation(lambda: gym.make_vec("CartPole-v1", num_envs=4), every_n_steps=10_000,
                                     num_episodes=8)
        best = ModelCheckpoint(monitor="eval/ep_return_mean", mode="max")
        pl.Trainer(callbacks=[eval_cb, best], max_epochs=1).fit(AgentModule(agent, env, total_steps=100_000))
    """

    def __init__(self, make_env: Callable[[], Any], every_n_steps: int, num_episodes: int = 5, *, seed: int = 0,
                 video_dir: Optional[str | os.PathLike] = None, video_formats: Sequence[str] = ("gif",),
                 fps: float = 30):
        if not callable(make_env):
            raise TypeError(f"make_env must be a zero-argument factory of the eval env, got {type(make_env).__name__};"
                            " e.g. lambda: gymnasium.make_vec('CartPole-v1', num_envs=4).")
        check_int("every_n_steps", every_n_steps, minimum=1)
        check_int("num_episodes", num_episodes, minimum=1)
        check_int("seed", seed, minimum=0)
        self.recorder = None if video_dir is None else VideoRecorder(video_dir, video_formats, fps)
        self.make_env = make_env
        self.every_n_steps = every_n_steps
        self.num_episodes = num_episodes
        self.seed = seed
        self.history: list = []
        self._next_eval = every_n_steps
        self._env: Any = None

    # ------------------------------------------------------------------ Lightning hooks
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rollout = getattr(pl_module, "rollout", None)
        if rollout is None or not hasattr(pl_module, "agent"):
            raise TypeError(f"PeriodicEvaluation needs an rl_lightning AgentModule (with .agent and .rollout); got "
                            f"{type(pl_module).__name__}.")
        # From the run's current count: 0 for a fresh run, the restored count for a resumed one.
        self._next_eval = (rollout.env_steps // self.every_n_steps + 1) * self.every_n_steps
        self._env = as_vector_env(self.make_env())
        if self._env.num_envs != rollout.num_envs:
            num_envs = self._env.num_envs
            self._close_env()
            raise ValueError(
                f"the eval env has {num_envs} sub-envs but the training env has {rollout.num_envs}; the agent acts "
                f"for {rollout.num_envs}. Build the eval env with num_envs={rollout.num_envs}."
            )
        agent = pl_module.agent
        if not callable(getattr(agent, "eval", None)) and greedy_act(agent) == agent.act:
            warnings.warn(f"{type(agent).__name__} has neither eval() nor act(..., greedy=...): PeriodicEvaluation "
                          "evaluates its ordinary (exploring) actions.", UserWarning, stacklevel=2)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        env_steps = pl_module.rollout.env_steps
        if env_steps < self._next_eval or self._env is None:
            return
        result = self.evaluate(pl_module, env_steps)
        self._next_eval = (env_steps // self.every_n_steps + 1) * self.every_n_steps
        metrics = {k: result[k] for k in ("ep_return_mean", "ep_return_std", "ep_length_mean")}
        for key, value in metrics.items():
            pl_module.log(f"eval/{key}", value, on_step=True, on_epoch=False, logger=False, batch_size=1)
        call_back = getattr(pl_module, "call_back", None)
        if call_back is not None:
            call_back(metrics, f"eval/run_{getattr(pl_module, 'run_idx', 1)}", env_steps, force=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_env()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._close_env()

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict["history"])

    # ------------------------------------------------------------------ the evaluation
    def evaluate(self, pl_module: pl.LightningModule, env_steps: int) -> dict:
        """Play one evaluation now with ``pl_module.agent``; append it to :attr:`history` and return it."""
        agent = pl_module.agent
        switches_mode = callable(getattr(agent, "eval", None)) and callable(getattr(agent, "train", None))
        was_training = bool(getattr(agent, "training", getattr(pl_module, "train_agent", True)))
        if switches_mode:
            agent.eval()
        try:
            with torch.no_grad():
                episodes = greedy_episodes(self._env, greedy_act(agent), self.num_episodes, self.seed)
        finally:
            if switches_mode:
                agent.train() if was_training else agent.eval()
        returns = np.array([e["ep_return"] for e in episodes], dtype=np.float64)
        lengths = np.array([e["ep_length"] for e in episodes], dtype=np.int64)
        result = {"run": getattr(pl_module, "run_idx", 1), "env_steps": int(env_steps), "returns": returns.tolist(),
                  "lengths": lengths.tolist(),
                  "ep_return_mean": float(returns.mean()), "ep_return_std": float(returns.std()),
                  "ep_length_mean": float(lengths.mean())}
        self.history.append(result)
        if self.recorder is not None:
            run_idx = getattr(pl_module, "run_idx", 1)
            self.recorder.tag = f"eval/run_{run_idx}/video"
            self.recorder.record(episodes[0]["frames"], f"run{run_idx}_step{env_steps}", step=env_steps)
        return result

    def _close_env(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        if self._env is not None:
            self._env.close()
            self._env = None
