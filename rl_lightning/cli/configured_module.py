"""``ConfiguredAgentModule``: an :class:`~rl_lightning.AgentModule` built from typed settings, the ``model``
section of ``rl-lightning fit``, ``validate`` and ``test`` (each parameter is a ``--model.NAME`` option)."""

from __future__ import annotations

import inspect
import os
from typing import Any, Literal, Optional, Union

from rl_lightning.cli.run_config import RunConfig
from rl_lightning.module import AgentModule

__all__ = ["ConfiguredAgentModule", "MODEL_KEYS"]


class ConfiguredAgentModule(AgentModule):
    """An :class:`~rl_lightning.AgentModule` built from typed settings: the ``model`` section of the
    LightningCLI subcommands.

    Args:
        env_id: a registered gymnasium id, e.g. ``"CartPole-v1"``.
        agent: a built-in agent (``PPO``, ``DQN``, ``SAC``, ``RandomAgent``) or a class path
            ``"package.module.Class"`` of an agent with a ``for_env(env, **hyperparameters)`` factory.
        total_steps: the run's budget in env steps, summed over sub-envs (and DDP ranks).
        num_envs: sub-envs of the vector env.
        vectorization_mode: ``"sync"``, ``"async"``, or ``"vector_entry_point"`` (gymnasium's native vector env,
            where the id has one).
        env_kwargs: keyword arguments of ``gymnasium.make_vec`` (e.g. ``{max_episode_steps: 200}``).
        wrappers: class paths of wrappers applied to each sub-env in order, each built from the env alone
            (e.g. ``"gymnasium.wrappers.NormalizeObservation"``); needs ``vectorization_mode`` sync or async.
        hyperparameters: the agent's hyperparameters by name (its ``Params`` fields, e.g. ``n_steps``, in
            vector steps per rollout for PPO); names, types and ranges are checked before the run.
        seed: the run's seed (``agent.reset(seed)``; sub-env ``i`` resets with ``seed + i``).
        solve_threshold: a 100-episode mean return counted as solved; kept with the configuration.
        steps_per_epoch: env steps (summed over sub-envs and DDP ranks) per Lightning epoch, rounded up to whole
            segments; ``None`` takes AgentModule's default (``rl_lightning.module.DEFAULT_STEPS_PER_EPOCH``).
            Epoch-end callbacks, validation (every ``trainer.check_val_every_n_epoch`` epochs) and LR schedulers
            follow it; the run still stops at ``total_steps``.
        val_episodes: greedy episodes (across the evaluation env's sub-envs) per validation or test; their mean
            return is logged as ``val/ep_return`` (``test/ep_return``).
        exp_dir: folder of the seed's files (``metrics_run1.pkl``, ``Run1_Last_agent.t``, ``Run1_Best_agent.t``);
            ``None`` writes none. ``fit`` links it to ``trainer.default_root_dir``; ``validate`` and ``test`` leave
            it ``None``.
        trust_checkpoint: read a ``--ckpt_path`` checkpoint's run state with Python's plain unpickler (the command
            line's ``--trust-checkpoint``); never saved with the module's hyperparameters.
    """

    def __init__(self, env_id: str, agent: str, total_steps: int, num_envs: int = 1,
                 vectorization_mode: Literal["sync", "async", "vector_entry_point"] = "sync",
                 env_kwargs: Optional[dict[str, Any]] = None, wrappers: Optional[list[str]] = None,
                 hyperparameters: Optional[dict[str, Any]] = None, seed: int = 0,
                 solve_threshold: Optional[float] = None, steps_per_epoch: Optional[int] = None,
                 val_episodes: int = 5, exp_dir: Optional[str] = None, trust_checkpoint: bool = False):
        run = RunConfig(env_id=env_id, agent=agent, total_steps=total_steps, num_envs=num_envs,
                        vectorization_mode=vectorization_mode, env_kwargs=dict(env_kwargs or {}),
                        wrappers=tuple(wrappers or ()), hyperparameters=dict(hyperparameters or {}), seed=seed,
                        solve_threshold=solve_threshold)
        seed_files = exp_dir is not None
        super().__init__(run.make_agent, run.make_env, total_steps=total_steps, seed=seed, exp_dir=exp_dir,
                         dump_metrics=seed_files, checkpoint_freq=0 if seed_files else None,
                         steps_per_epoch=steps_per_epoch, val_episodes=val_episodes,
                         trust_checkpoint=trust_checkpoint)
        self.run_config = run
        # Rebuilt from its own arguments (LightningCLI's --ckpt_path, load_from_checkpoint), not from AgentModule's
        # description of the env and agent they built.
        self.remove_ignored_hparams(list(self.hparams))
        self.save_hyperparameters(ignore=["trust_checkpoint"])  # a file must not be able to trust itself

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Union[str, os.PathLike], map_location: Any = None,
                             hparams_file: Any = None, strict: Optional[bool] = None,
                             **kwargs: Any) -> "ConfiguredAgentModule":
        """Lightning's ``load_from_checkpoint``: the module is rebuilt from the settings saved in the checkpoint
        (``kwargs`` override them, e.g. ``val_episodes=20``), then its weights and agent are loaded."""
        return super(AgentModule, cls).load_from_checkpoint(checkpoint_path, map_location=map_location,
                                                            hparams_file=hparams_file, strict=strict, **kwargs)


#: The ``model`` keys of the CLI (the run configuration's keys, ``steps_per_epoch`` and ``val_episodes``;
#: ``exp_dir`` follows ``trainer.default_root_dir``).
MODEL_KEYS = tuple(name for name in inspect.signature(ConfiguredAgentModule.__init__).parameters
                   if name not in ("self", "exp_dir"))
