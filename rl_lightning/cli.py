"""The ``rl-lightning`` command (also ``python -m rl_lightning``).

Subcommands:

* ``fit``: one run on a Lightning ``Trainer`` through ``LightningCLI``: ``--config configs/ppo_cartpole.yaml``,
  overrides such as ``--trainer.max_steps 1000`` or ``--model.hyperparameters '{n_steps: 16}'``,
  ``--print_config``. The env is given by id, with kwargs and wrappers: ``--model.env_id CartPole-v1
  --model.num_envs 8``. Writes TensorBoard logs and ``checkpoints/last.ckpt`` / ``best.ckpt`` under
  ``--trainer.default_root_dir`` (``runs/fit`` by default).
* ``multirun``: ``OnlineTrainer.multi_run`` with the seed's files in ``--exp_dir``.
* ``validate``: greedy evaluation episodes of a saved agent (:func:`rl_lightning.evaluation.validate_main`).
* ``plot``: summary table and figures of experiment folders (:func:`rl_lightning.analysis.report.plot_main`).
* ``sweep``: an Optuna study (:func:`rl_lightning.tune.cli.sweep_main`).

Configs: the flat files of ``configs/`` (the schema of :mod:`rl_lightning.agents.config`) work for ``fit`` and
``multirun`` alike; ``fit`` reads them as the ``model`` section of its own configuration, so ``fit
--print_config`` prints that configuration and feeding it back with ``--config`` reproduces the run.

Bad input exits with status 2 and a message naming what is wrong (an unknown env id with its close
matches, an agent class that cannot be imported, a YAML syntax error with its file and line, a config key
that does not exist with the nearest valid ones) before anything is written.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import os
import shutil
import sys
import tempfile
from typing import Any, Literal, Optional, Sequence

import yaml

from rl_lightning.module import AgentModule

__all__ = ["CLIError", "ConfiguredAgentModule", "main", "multirun_main"]

#: Keys of the flat agent configs (``configs/*.yaml``).
FLAT_KEYS = ("env_id", "num_envs", "vectorization_mode", "env_kwargs", "agent", "hyperparameters", "total_steps",
             "solve_threshold")
SUBCOMMANDS = {
    "fit": "train one run on a Lightning Trainer (LightningCLI)",
    "multirun": "OnlineTrainer.multi_run over several seeds, writing the seed's files",
    "validate": "greedy evaluation episodes of a saved Best or Last agent",
    "plot": "summary table, learning curves and aggregate scores of experiment folders",
    "sweep": "hyperparameter sweep with Optuna",
}


class CLIError(ValueError):
    """Bad command-line input; ``main`` prints it and exits with status 2."""


# ---------------------------------------------------------------------------------------------- checks
def check_env_id(env_id: str) -> None:
    """Refuse an env id gymnasium does not know, naming its close matches."""
    import gymnasium as gym

    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else " See gymnasium.registry for the ids."
    raise CLIError(f"env_id={env_id!r} is not a registered gymnasium env.{hint}")


def import_object(path: str, what: str) -> Any:
    """``package.module.Name`` imported, or a :class:`CLIError` naming ``what`` and ``path``."""
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise CLIError(f"{what}={path!r} cannot be imported ({error}); give a path 'package.module.Name'.") from None


def nearest(key: str, valid: Sequence[str]) -> str:
    """`` (nearest: 'a', 'b')`` for the close matches of ``key`` in ``valid``, or an empty string."""
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    return f" (nearest: {', '.join(map(repr, close))})" if close else ""


def read_yaml(path: str) -> Any:
    """A YAML file's content; a syntax error names the file and line."""
    from rl_lightning.agents.config import _Loader

    if not os.path.isfile(path):
        raise CLIError(f"--config {path!r}: no such file.")
    with open(path) as f:
        try:
            return yaml.load(f, Loader=_Loader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
            problem = getattr(error, "problem", None) or str(error)
            raise CLIError(f"invalid YAML in {where}: {problem}.") from None


def is_flat_config(values: Any) -> bool:
    """Whether a config mapping is a flat agent config (``configs/*.yaml``) rather than the CLI's own layout."""
    return isinstance(values, dict) and "env_id" in values and "model" not in values


# ---------------------------------------------------------------------------------------------- the module
class ConfiguredAgentModule(AgentModule):
    """An :class:`~rl_lightning.AgentModule` built from typed settings: what ``rl-lightning fit`` configures.

    Args:
        env_id: a registered gymnasium id, e.g. ``"CartPole-v1"``.
        num_envs: sub-envs of the vector env.
        vectorization_mode: ``"sync"``, ``"async"``, or ``"vector_entry_point"`` (gymnasium's native vector env
            where the id has one).
        env_kwargs: keyword arguments for ``gymnasium.make_vec``.
        wrappers: class paths of wrappers applied to each sub-env in order, each taking only the env (e.g.
            ``"gymnasium.wrappers.RecordEpisodeStatistics"``); the vector env is then a ``SyncVectorEnv``.
        agent: a built-in agent (``PPO``, ``DQN``, ``SAC``, ``RandomAgent``) or a class path with ``for_env``.
        hyperparameters: the agent's hyperparameters (its ``Params`` fields).
        total_steps: env steps of the run, summed over sub-envs (and DDP ranks).
        seed: the run's seed; sub-env ``i`` resets with ``seed + i``.
        solve_threshold: a 100-episode mean return that counts as solved (kept with the hyperparameters).
    """

    def __init__(self, env_id: str = "CartPole-v1", num_envs: int = 1,
                 vectorization_mode: Literal["sync", "async", "vector_entry_point"] = "sync",
                 env_kwargs: Optional[dict[str, Any]] = None, wrappers: Optional[list[str]] = None,
                 agent: str = "PPO", hyperparameters: Optional[dict[str, Any]] = None, total_steps: int = 10_000,
                 seed: int = 0, solve_threshold: Optional[float] = None):
        from rl_lightning.agents.config import AgentConfig, resolve_agent_class

        check_env_id(env_id)
        try:
            resolve_agent_class(agent)
        except ValueError as error:
            raise CLIError(str(error)) from None
        wrapper_classes = [import_object(path, "wrappers") for path in (wrappers or [])]
        config = AgentConfig(env_id=env_id, agent=agent, total_steps=total_steps, num_envs=num_envs,
                             vectorization_mode=vectorization_mode, env_kwargs=dict(env_kwargs or {}),
                             hyperparameters=dict(hyperparameters or {}), solve_threshold=solve_threshold)
        if wrapper_classes:
            import gymnasium as gym

            env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                               wrappers=wrapper_classes, **config.env_kwargs)
        else:
            env = config.make_env()
        super().__init__(config.make_agent, env, total_steps=total_steps, seed=seed)
        self.save_hyperparameters()


# ---------------------------------------------------------------------------------------------- fit
def _lightning_cli_class() -> type:
    from lightning.pytorch.cli import LightningCLI

    class RLLightningCLI(LightningCLI):
        """LightningCLI with ``fit`` only: RL runs have no validation or test loop of Lightning's."""

        @staticmethod
        def subcommands() -> dict[str, set[str]]:
            return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

        def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> Any:
            """Add what every RL fit wants, under ``default_root_dir``: the episode progress bar, ``last.ckpt`` and
            ``best.ckpt`` in ``checkpoints/``, and a TensorBoard logger unless one was configured."""
            from rl_lightning.callbacks import BestReturnCheckpoint, EpisodeProgressBar, LastCheckpoint
            from rl_lightning.loggers import TBCallBack

            root = config.get("default_root_dir") or "runs/fit"
            folder = os.path.join(root, "checkpoints")
            ours = [LastCheckpoint(folder), BestReturnCheckpoint(folder)]
            if config.get("enable_progress_bar", True) is not False:
                ours.insert(0, EpisodeProgressBar())
            if config.get("logger") in (None, True):
                config["logger"] = TBCallBack(root, flush_every=1)
            return super()._instantiate_trainer(config, [*callbacks, *ours])

    return RLLightningCLI


FIT_TRAINER_DEFAULTS = {"max_epochs": 1, "default_root_dir": "runs/fit", "enable_model_summary": False,
                        "num_sanity_val_steps": 0}


def _fit_argv(argv: list[str], scratch: str) -> list[str]:
    """``argv`` with flat configs translated into the CLI's layout, and unknown ``--model.`` keys refused."""
    out = []
    i = 0
    model_keys = list(inspect.signature(ConfiguredAgentModule.__init__).parameters)[1:]
    while i < len(argv):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv) or arg.startswith("--config="):
            path = argv[i + 1] if arg == "--config" else arg.split("=", 1)[1]
            values = read_yaml(path)
            if is_flat_config(values):
                unknown = [k for k in values if k not in FLAT_KEYS]
                if unknown:
                    raise CLIError(f"{path}: unknown config key {unknown[0]!r}{nearest(unknown[0], FLAT_KEYS)}; "
                                   f"valid keys are: {', '.join(FLAT_KEYS)}.")
                translated = os.path.join(scratch, os.path.basename(path))
                with open(translated, "w") as f:
                    yaml.safe_dump({"model": values}, f, sort_keys=False)
                path = translated
            elif isinstance(values, dict) and isinstance(values.get("model"), dict):
                unknown = [k for k in values["model"] if k not in model_keys]
                if unknown:
                    raise CLIError(f"{path}: unknown config key 'model.{unknown[0]}'{nearest(unknown[0], model_keys)}"
                                   f"; valid model keys are: {', '.join(model_keys)}.")
            out += ["--config", path]
            i += 2 if arg == "--config" else 1
            continue
        for section, valid in (("model", model_keys), ("trainer", _trainer_keys())):
            if arg.startswith(f"--{section}."):
                key = arg[len(section) + 3:].split("=", 1)[0].split(".", 1)[0]
                if key not in valid:
                    raise CLIError(f"unknown option --{section}.{key}{nearest(key, valid)}; valid {section} options "
                                   f"are: {', '.join(valid)}.")
        out.append(arg)
        i += 1
    return out


def _trainer_keys() -> list[str]:
    import lightning.pytorch as pl

    return list(inspect.signature(pl.Trainer.__init__).parameters)[1:]


def fit_main(argv: list[str]) -> int:
    """``rl-lightning fit ...`` through LightningCLI; returns the exit status."""
    import warnings

    # AgentModule takes dataloader_iter on purpose (it turns Lightning's prefetch off); Lightning flags it.
    warnings.filterwarnings("ignore", message=".*dataloader_iter.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    with tempfile.TemporaryDirectory() as scratch:
        cli_argv = _fit_argv(argv, scratch)
        saved_argv, sys.argv = sys.argv, sys.argv[:1]  # arguments go through args=; LightningCLI warns if both
        try:
            _lightning_cli_class()(ConfiguredAgentModule, trainer_defaults=FIT_TRAINER_DEFAULTS, args=["fit", *cli_argv],
                                   save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
                                   seed_everything_default=False)
        finally:
            sys.argv = saved_argv
    return 0


# ---------------------------------------------------------------------------------------------- multirun
def _multirun_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rl-lightning multirun",
                                     description="OnlineTrainer.multi_run from a YAML config (configs/*.yaml).")
    parser.add_argument("--config", required=True, help="a flat agent config, or a `fit --print_config` output")
    parser.add_argument("--num_runs", type=int, default=1, help="runs (seeds)")
    parser.add_argument("--seed_offset", type=int, default=0, help="run r uses seed (r-1)*total_steps + seed_offset")
    parser.add_argument("--num_workers", type=int, default=1, help="runs at once, in separate processes")
    parser.add_argument("--total_steps", type=int, default=None, help="env steps per run (default: the config's)")
    parser.add_argument("--exp_dir", default=None, help="experiment folder (default: runs/<config name>)")
    parser.add_argument("--checkpoint_freq", type=int, default=0,
                        help="env steps between periodic agent files (0: only Last and Best)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace earlier results in exp_dir")
    group.add_argument("--resume", action="store_true", help="continue interrupted runs in exp_dir")
    return parser


def multirun_main(argv: list[str]) -> int:
    """``rl-lightning multirun ...``; returns the exit status."""
    from rl_lightning.agents.config import AgentConfig, resolve_agent_class
    from rl_lightning.trainer import OnlineTrainer

    parser = _multirun_parser()
    args = parser.parse_args(argv)
    values = read_yaml(args.config)
    if isinstance(values, dict) and isinstance(values.get("model"), dict):
        values = values["model"]  # a `fit --print_config` output
    if not isinstance(values, dict):
        raise CLIError(f"{args.config}: a config is a YAML mapping of keys to values.")
    values = {k: v for k, v in values.items() if k not in ("seed", "wrappers") or k == "wrappers" and v}
    unknown = [k for k in values if k not in FLAT_KEYS]
    if unknown:
        raise CLIError(f"{args.config}: unknown config key {unknown[0]!r}{nearest(unknown[0], FLAT_KEYS)}; valid keys "
                       f"are: {', '.join(FLAT_KEYS)}.")
    if "env_id" in values:
        check_env_id(values["env_id"])
    if "agent" in values:
        try:
            resolve_agent_class(values["agent"])
        except ValueError as error:
            raise CLIError(str(error)) from None
    if args.total_steps is not None:
        values["total_steps"] = args.total_steps
    try:
        config = AgentConfig(**values)
    except TypeError as error:
        raise CLIError(f"{args.config}: {error}") from None
    name = os.path.splitext(os.path.basename(args.config))[0]
    exp_dir = args.exp_dir or os.path.join("runs", name)
    resolved = {**config.to_dict(), "num_runs": args.num_runs, "seed_offset": args.seed_offset,
                "num_workers": args.num_workers, "checkpoint_freq": args.checkpoint_freq, "exp_dir": exp_dir,
                "config_file": os.path.abspath(args.config)}
    trainer = OnlineTrainer(config.make_env, config.make_agent, exp_dir=exp_dir, config=args.config, args=resolved,
                            progress=not args.no_progress)
    trainer.multi_run(args.num_runs, total_steps=config.total_steps, seed_offset=args.seed_offset,
                      checkpoint_freq=args.checkpoint_freq, num_workers=args.num_workers, overwrite=args.overwrite,
                      resume=args.resume)
    shutil.copyfile(args.config, os.path.join(exp_dir, os.path.basename(args.config)))
    print(f"multirun: {args.num_runs} run(s) of {config.agent} on {config.env_id} written to {exp_dir}")
    return 0


# ---------------------------------------------------------------------------------------------- entry point
def _usage() -> str:
    lines = ["usage: rl-lightning {" + ",".join(SUBCOMMANDS) + "} ...", "", "subcommands:"]
    lines += [f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "`rl-lightning SUBCOMMAND --help` shows a subcommand's options."]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """The ``rl-lightning`` entry point; returns (and, as a console script, exits with) the status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"rl-lightning: unknown subcommand {command!r}{nearest(command, list(SUBCOMMANDS))}.\n\n{_usage()}",
              file=sys.stderr)
        return 2
    try:
        if command == "fit":
            return fit_main(rest)
        if command == "multirun":
            return multirun_main(rest)
        if command == "validate":
            from rl_lightning.evaluation import validate_main

            return validate_main(rest)
        if command == "plot":
            from rl_lightning.analysis.report import plot_main

            return plot_main(rest)
        from rl_lightning.tune.cli import sweep_main

        return sweep_main(rest)
    except (CLIError, TypeError, ValueError) as error:
        if isinstance(error, CLIError) or not _raised_by_user_code(error):
            print(f"rl-lightning {command}: error: {error}", file=sys.stderr)
            return 2
        raise


def _raised_by_user_code(error: BaseException) -> bool:
    """Whether an error came from inside a run (re-raised with its traceback) rather than from the checks."""
    notes = getattr(error, "__notes__", None) or []
    return any("rl_lightning: raised in" in note for note in notes)


if __name__ == "__main__":
    sys.exit(main())
