"""``rl-lightning fit``: one run on a Lightning ``Trainer``, configured through ``LightningCLI``.

The configuration has Lightning's sections: ``model`` (a :class:`ConfiguredAgentModule`: env, agent,
hyperparameters, budget, seed) and ``trainer`` (every ``lightning.pytorch.Trainer`` argument). A flat file
of ``configs/`` is read as the ``model`` section, so both of these run::

    rl-lightning fit --config configs/ppo_cartpole.yaml --model.hyperparameters.n_steps 16
    rl-lightning fit --config configs/ppo_cartpole.yaml --print_config > run.yaml
    rl-lightning fit --config run.yaml --trainer.max_time 00:00:05:00

A run writes into ``trainer.default_root_dir`` (default ``runs/<config file name>``, or ``runs/fit`` without
a config): TensorBoard events (unless ``--trainer.logger`` names other loggers), ``config.yaml`` (the
resolved configuration), ``checkpoints/last.ckpt`` (exact resume with ``--ckpt_path``) and
``checkpoints/best.ckpt`` (the best episode's agent), and the seed's files ``metrics_run1.pkl``,
``Run1_Last_agent.t`` and ``Run1_Best_agent.t``, which ``rl-lightning plot`` and ``rl-lightning validate`` read.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import warnings
from typing import Any, Literal, Optional

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from rl_lightning.cli.checks import CLIError, check_keys, read_yaml
from rl_lightning.cli.run_config import RUN_KEYS, RunConfig
from rl_lightning.module import AgentModule

__all__ = ["ConfiguredAgentModule", "RLLightningCLI", "fit_main", "DEFAULT_ROOT_DIR"]

#: Where ``fit`` writes when neither ``--trainer.default_root_dir`` nor a config file names a folder.
DEFAULT_ROOT_DIR = "runs/fit"
# Lightning's defaults changed where an RL run differs: one pass over the rollout dataset is the whole run
# (the module stops at its budget), and there is no validation loop to sanity-check.
_TRAINER_DEFAULTS = {"max_epochs": 1, "default_root_dir": DEFAULT_ROOT_DIR, "enable_model_summary": False,
                     "num_sanity_val_steps": 0}
_DESCRIPTION = (
    "Train one run on a Lightning Trainer. --config takes a flat run configuration (configs/*.yaml) or a "
    "--print_config output; --model.KEY overrides a run setting (--model.hyperparameters.NAME one hyperparameter) "
    "and --trainer.KEY a Trainer argument. The budget is --model.total_steps env steps (--trainer.max_steps counts "
    "optimizer steps, as in Lightning). Files go to --trainer.default_root_dir (default runs/<config file name>): "
    "TensorBoard events, config.yaml, checkpoints/last.ckpt and best.ckpt, metrics_run1.pkl, Run1_Last_agent.t, "
    "Run1_Best_agent.t. --ckpt_path last resumes an interrupted run."
)
# The top-level keys of fit's configuration besides the sections checked key by key.
_TOP_LEVEL_KEYS = ("seed_everything", "trainer", "model", "data", "ckpt_path", "weights_only")


class ConfiguredAgentModule(AgentModule):
    """An :class:`~rl_lightning.AgentModule` built from typed settings: the ``model`` section of ``fit``.

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
        exp_dir: folder of the seed's files (``metrics_run1.pkl``, ``Run1_Last_agent.t``, ``Run1_Best_agent.t``);
            ``None`` writes none. ``fit`` links it to ``trainer.default_root_dir``.
    """

    def __init__(self, env_id: str, agent: str, total_steps: int, num_envs: int = 1,
                 vectorization_mode: Literal["sync", "async", "vector_entry_point"] = "sync",
                 env_kwargs: Optional[dict[str, Any]] = None, wrappers: Optional[list[str]] = None,
                 hyperparameters: Optional[dict[str, Any]] = None, seed: int = 0,
                 solve_threshold: Optional[float] = None, exp_dir: Optional[str] = None):
        run = RunConfig(env_id=env_id, agent=agent, total_steps=total_steps, num_envs=num_envs,
                        vectorization_mode=vectorization_mode, env_kwargs=dict(env_kwargs or {}),
                        wrappers=tuple(wrappers or ()), hyperparameters=dict(hyperparameters or {}), seed=seed,
                        solve_threshold=solve_threshold)
        seed_files = exp_dir is not None
        super().__init__(run.make_agent, run.make_env, total_steps=total_steps, seed=seed, exp_dir=exp_dir,
                         dump_metrics=seed_files, checkpoint_freq=0 if seed_files else None)
        self.run_config = run
        self.save_hyperparameters()


#: The ``model`` keys of ``fit`` (the run configuration's keys; ``exp_dir`` follows ``trainer.default_root_dir``).
MODEL_KEYS = tuple(name for name in inspect.signature(ConfiguredAgentModule.__init__).parameters
                   if name not in ("self", "exp_dir"))


class RLLightningCLI(LightningCLI):
    """``LightningCLI`` with ``fit`` only (an RL run has no validation or test loop of Lightning's) and what
    every RL fit wants: the episode progress bar, ``last.ckpt`` and ``best.ckpt`` in
    ``default_root_dir/checkpoints``, and a TensorBoard logger in ``default_root_dir`` unless
    ``--trainer.logger`` says otherwise."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("trainer.default_root_dir", "model.exp_dir")

    def before_instantiate_classes(self) -> None:
        """Refuse to resume a finished run: it spent its budget, so ``--ckpt_path`` would train nothing."""
        from rl_lightning.resume import load_checkpoint_entry

        config = self.config[self.subcommand]
        path = config.get("ckpt_path")
        if path == "last":
            path = os.path.join(config["trainer"].get("default_root_dir") or DEFAULT_ROOT_DIR, "checkpoints",
                                "last.ckpt")
        if not path or not os.path.isfile(path):
            return
        try:
            finished = load_checkpoint_entry(path).get("finished", False)
        except ValueError as error:
            raise CLIError(f"--ckpt_path {path}: {error}") from None
        if finished:
            raise CLIError(f"--ckpt_path {path}: this run is finished (it spent its budget); there is nothing to "
                           "resume. Start a new run, e.g. with another --trainer.default_root_dir.")

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        from rl_lightning.callbacks import BestReturnCheckpoint, EpisodeProgressBar, LastCheckpoint
        from rl_lightning.loggers import TBCallBack

        config = self.config_init[self.subcommand]["trainer"]
        root = config.get("default_root_dir") or DEFAULT_ROOT_DIR
        folder = os.path.join(root, "checkpoints")
        ours = [LastCheckpoint(folder), BestReturnCheckpoint(folder)]
        if config.get("enable_progress_bar") is not False:
            ours.insert(0, EpisodeProgressBar())
        kwargs.setdefault("callbacks", [*(config.get("callbacks") or []), *ours])
        if config.get("logger") in (None, True):
            kwargs.setdefault("logger", TBCallBack(root, flush_every=1))
        return super().instantiate_trainer(**kwargs)


def _trainer_keys() -> tuple:
    import lightning.pytorch as pl

    return tuple(name for name in inspect.signature(pl.Trainer.__init__).parameters if name != "self")


def _check_cli_config(values: dict, path: str) -> None:
    """Refuse unknown keys of a config in fit's own layout (``model:``/``trainer:`` sections)."""
    check_keys(values, _TOP_LEVEL_KEYS, path)
    for section, valid in (("model", MODEL_KEYS), ("trainer", _trainer_keys())):
        if isinstance(values.get(section), dict):
            check_keys(values[section], valid, f"{path}, section {section}")


def _config_path(argv: list[str], i: int) -> Optional[tuple[str, int]]:
    """``(path, args used)`` when ``argv[i]`` is ``--config PATH`` or ``--config=PATH``, else ``None``."""
    if argv[i] in ("--config", "-c") and i + 1 < len(argv):
        return argv[i + 1], 2
    if argv[i].startswith("--config="):
        return argv[i].split("=", 1)[1], 1
    return None


def _check_option(arg: str) -> None:
    """Refuse ``--model.KEY`` or ``--trainer.KEY`` with a ``KEY`` that does not exist, naming the nearest."""
    for section, valid in (("model", MODEL_KEYS), ("trainer", None)):
        if arg.startswith(f"--{section}."):
            key = arg[len(section) + 3:].split("=", 1)[0].split(".", 1)[0]
            valid = valid or _trainer_keys()
            if key not in valid and key not in ("help", "init_args"):
                check_keys([key], valid, f"--{section}.{key}")


def translate_argv(argv: list[str], scratch: str) -> list[str]:
    """``argv`` as ``LightningCLI`` takes it: each flat config file rewritten into ``scratch`` as a ``model``
    section, ``trainer.default_root_dir`` defaulting to ``runs/<first config's name>``, and unknown keys refused.

    Args:
        argv: the arguments after ``fit``.
        scratch: a folder for the rewritten config files (deleted by the caller after the run).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        found = _config_path(argv, i)
        if found is None:
            _check_option(argv[i])
            out.append(argv[i])
            i += 1
            continue
        path, used = found
        values = read_yaml(path)
        if not isinstance(values, dict):
            raise CLIError(f"{path}: a config is a mapping of keys to values, got {type(values).__name__}.")
        if any(key in _TOP_LEVEL_KEYS for key in values):  # fit's own layout, e.g. a --print_config output
            _check_cli_config(values, path)
        else:
            check_keys(values, RUN_KEYS, path)
            translated = os.path.join(scratch, f"{len(out)}_{os.path.basename(path)}")
            with open(translated, "w") as f:
                yaml.safe_dump({"model": values}, f, sort_keys=False)
            path = translated
        if not any(a == "--config" or a.startswith("--config=") for a in out) and not any(
                a.startswith("--trainer.default_root_dir") for a in argv):
            name = os.path.splitext(os.path.basename(found[0]))[0]
            out += ["--trainer.default_root_dir", os.path.join("runs", name)]  # the config and later args win
        out += ["--config", path]
        i += used
    return out


def fit_main(argv: list[str]) -> int:
    """``rl-lightning fit ...``; returns the exit status (2 for bad input, with the reason on stderr)."""
    # AgentModule takes dataloader_iter on purpose (no prefetch); Lightning flags that as experimental.
    warnings.filterwarnings("ignore", message=".*dataloader_iter.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    with tempfile.TemporaryDirectory() as scratch:
        cli_argv = translate_argv(argv, scratch)
        saved_argv, sys.argv = sys.argv, [sys.argv[0]]  # arguments go through args=; LightningCLI warns if both
        try:
            RLLightningCLI(ConfiguredAgentModule, trainer_defaults=_TRAINER_DEFAULTS, args=["fit", *cli_argv],
                           parser_kwargs={"prog": "rl-lightning",
                                          "fit": {"prog": "rl-lightning fit", "description": _DESCRIPTION}},
                           save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
                           seed_everything_default=False)
        except SystemExit as stop:  # --help, --print_config, or jsonargparse's own error (already printed)
            return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        finally:
            sys.argv = saved_argv
    return 0
