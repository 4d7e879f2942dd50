"""``rl-lightning sweep``: run or resume a sweep from the command line.

::

    rl-lightning sweep --config configs/ppo_cartpole.yaml --search-space configs/sweeps/ppo_cartpole.yaml \
        --n-trials 50 --storage sqlite:///runs/sweep.db --study-name ppo-cartpole --num-runs 3

``--config`` is either

- a YAML agent config (:mod:`rl_lightning.agents.config`: env id, ``num_envs``, agent class, hyperparameters,
  ``total_steps``). Each trial builds the agent with the config's hyperparameters updated by the trial's, so
  any hyperparameter can be tuned, network shapes included; the search space's names and bounds are checked
  against the agent's hyperparameters before anything starts. ``total_steps`` is the budget unless
  ``--total-steps``/``--num-episodes`` is given.
- a Python file defining ``make_env()`` and ``make_agent(env)`` (the agent receives the trial's
  hyperparameters through ``set_hp``, the seed protocol) or ``make_agent(env, hp)`` (it is built with them);
  it may also set ``num_runs``, ``total_steps`` or ``num_episodes`` as defaults.

Rerunning a command resumes its study; the same command in several shells (or ``--n-jobs``) shares it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional

import cloudpickle
import yaml

from rl_lightning.tune.objective import OBJECTIVES
from rl_lightning.tune.space import SearchSpace

__all__ = ["sweep_main", "load_sweep_config", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``rl-lightning sweep`` argument parser."""
    parser = argparse.ArgumentParser(prog="rl-lightning sweep", description=(
        "Tune an agent's hyperparameters with an Optuna study; rerun the same command to resume it."))
    parser.add_argument("--config", required=True, help="Python file defining make_env() and make_agent(env) or "
                        "make_agent(env, hp); or a YAML agent config (needs rl_lightning.agents.config)")
    parser.add_argument("--search-space", required=True, help="YAML file of the search space "
                        "(see rl_lightning.tune.space)")
    parser.add_argument("--n-trials", type=int, default=None, help="trials the study should hold in the end, "
                        "counting earlier runs of the command (default with --grid: every grid point)")
    parser.add_argument("--study-name", required=True, help="the study's name in the storage")
    parser.add_argument("--storage", default=None, help="database URL (default: sqlite:///<sweep-dir>/sweep.db)")
    parser.add_argument("--sweep-dir", default=None, help="folder of the trial folders and the summary "
                        "(default: runs/<study-name>)")
    parser.add_argument("--num-runs", type=int, default=None, help="runs (seeds) per trial (default 1)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--total-steps", type=int, default=None, help="env steps per run, summed over sub-envs")
    budget.add_argument("--num-episodes", type=int, default=None, help="episodes per run, across sub-envs")
    parser.add_argument("--grid", action="store_true", help="grid search (Optuna's GridSampler)")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="last_k",
                        help="last_k: mean return of each run's last k episodes; auc: mean return over all episodes")
    parser.add_argument("--last-k", type=int, default=10, help="episodes per run averaged by --objective last_k")
    parser.add_argument("--direction", choices=("maximize", "minimize"), default="maximize")
    parser.add_argument("--reports-per-run", type=int, default=4, help="intermediate values per run for pruning")
    parser.add_argument("--no-pruning", action="store_true", help="never prune a trial")
    parser.add_argument("--seed", type=int, default=None, help="the sampler's seed")
    parser.add_argument("--seed-offset", type=int, default=0, help="multi_run's seed_offset for every trial")
    parser.add_argument("--no-agents", action="store_true", help="keep no agent files in the trial folders (huge "
                        "sweeps); by default each run keeps its Run{r}_Last_agent.t and Run{r}_Best_agent.t")
    return parser


def sweep_main(argv: Optional[list[str]] = None) -> int:
    """Run ``rl-lightning sweep`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0: the study holds its trials (summary printed, ``summary.csv`` and ``param_importances.png`` written).
    2: bad arguments, config or search space (nothing was started). 130: interrupted (rerun to resume).
    An error inside a trial propagates with its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")  # a command line shows no windows
    except ImportError:
        pass  # no importance plot; summary.plot_param_importances says so
    from rl_lightning.tune.summary import format_table, summarize
    from rl_lightning.tune.sweep import _SweepJob, execute, require_optuna

    try:
        require_optuna()
        config = load_sweep_config(args.config)
        space = SearchSpace.load(args.search_space)
        if isinstance(config["make_agent"], ConfigAgentFactory):
            config["make_agent"].check(space)
        sweep_dir = args.sweep_dir or os.path.join("runs", args.study_name)
        total_steps, num_episodes = args.total_steps, args.num_episodes
        if total_steps is None and num_episodes is None:
            total_steps, num_episodes = config.get("total_steps") or 0, config.get("num_episodes") or 0
        job = _SweepJob.checked(
            make_env=config["make_env"], make_agent=config["make_agent"], hp_to=config["hp_to"],
            search_space=space, n_trials=args.n_trials,
            num_runs=args.num_runs if args.num_runs is not None else config.get("num_runs", 1),
            total_steps=total_steps or 0, num_episodes=num_episodes or 0,
            storage=args.storage or f"sqlite:///{os.path.join(sweep_dir, 'sweep.db')}", study_name=args.study_name,
            sweep_dir=sweep_dir, objective=args.objective, last_k=args.last_k, direction=args.direction,
            grid=args.grid, sampler=None, pruner=_no_pruner() if args.no_pruning else None, sampler_seed=args.seed,
            reports_per_run=args.reports_per_run, n_jobs=args.n_jobs, seed_offset=args.seed_offset,
            segment_steps=None, checkpoint_freq=None if args.no_agents else 0, config_file=args.config,
        )
    except (TypeError, ValueError, FileNotFoundError, ImportError) as err:
        parser.print_usage(sys.stderr)
        print(f"rl-lightning sweep: error: {err}", file=sys.stderr)
        return 2
    try:
        study = execute(job, log_table=False)  # printed below, to stdout
    except KeyboardInterrupt:
        print(f"rl-lightning sweep: interrupted; rerun the same command to resume study {job.study_name!r}.",
              file=sys.stderr)
        return 130
    print(format_table(summarize(study)))
    print()
    _print_outcome(study, job, config)
    return 0


def _print_outcome(study: Any, job: Any, config: dict) -> None:
    """The files the sweep wrote, the best trial, and the commands that re-train or evaluate it. For a YAML agent
    config, the best trial's resolved run configuration is written to ``<sweep-dir>/best_config.yaml``."""
    written = [os.path.join(job.sweep_dir, name) for name in ("summary.csv", "param_importances.png")]
    try:
        best = study.best_trial
    except ValueError:  # no trial completed
        best = None
    commands = []
    if best is not None:
        trial_dir = best.user_attrs.get("exp_dir", os.path.join(job.sweep_dir, f"trial_{best.number}"))
        factory = config["make_agent"]
        if isinstance(factory, ConfigAgentFactory):
            resolved = json.loads(json.dumps(factory.config.to_dict()))  # tuples as lists, for YAML
            resolved["hyperparameters"] = {**resolved.get("hyperparameters", {}), **best.params}
            path = os.path.join(job.sweep_dir, "best_config.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(resolved, f, sort_keys=False)
            written.append(path)
            commands.append(f"re-train it:  rl-lightning multirun --config {path} --exp_dir runs/{job.study_name}_best")
        else:
            path = os.path.join(job.sweep_dir, "best_params.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(dict(best.params), f, sort_keys=False)
            written.append(path)
        if job.checkpoint_freq is not None:
            commands.append(f"evaluate it:  rl-lightning evaluate --exp-dir {trial_dir}")
        print(f"best trial: {best.number} (objective {best.value:.4g}), files in {trial_dir}; hyperparameters: "
              f"{dict(best.params)}")
    print("written: " + ", ".join(p for p in written if os.path.exists(p)) +
          f", and one folder per trial (trial_<number>) in {job.sweep_dir}")
    for command in commands:
        print(command)


def _no_pruner() -> Any:
    import optuna

    return optuna.pruners.NopPruner()


def load_sweep_config(path: str) -> dict:
    """The factories (and optional budget) a sweep config file provides.

    Returns a dict with ``make_env``, ``make_agent``, ``hp_to`` (``"factory"`` when ``make_agent`` takes the
    hyperparameters as a second argument, else ``"set_hp"``) and, when the config sets them, ``num_runs``,
    ``total_steps``, ``num_episodes``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported kind of file, or one that does not define the factories.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config {path!r} does not exist.")
    if path.endswith(".py"):
        found = _load_python_config(path)
    elif path.endswith((".yaml", ".yml")):
        found = _load_yaml_config(path)
    else:
        raise ValueError(f"--config {path!r}: expected a Python file (.py) defining make_env() and make_agent(env), "
                         "or a YAML agent config (.yaml).")
    for name in ("make_env", "make_agent"):
        if not callable(found.get(name)):
            raise ValueError(f"--config {path!r} defines no callable {name}; it must define make_env() and "
                             "make_agent(env) or make_agent(env, hp).")
    found["hp_to"] = "factory" if _positional_count(found["make_agent"]) >= 2 else "set_hp"
    return found


def _load_python_config(path: str) -> dict:
    name = f"rl_lightning_sweep_config_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    # Worker processes cannot import this file by name: send its functions by value.
    cloudpickle.register_pickle_by_value(module)
    keys = ("make_env", "make_agent", "num_runs", "total_steps", "num_episodes")
    return {key: getattr(module, key) for key in keys if hasattr(module, key)}


def _load_yaml_config(path: str) -> dict:
    try:
        from rl_lightning.agents.config import load_agent_config
    except ImportError:
        raise ValueError(f"--config {path!r}: YAML agent configs need rl_lightning.agents.config, which this "
                         "installation lacks; pass a Python file defining make_env() and make_agent(env, hp)."
                         ) from None
    config = load_agent_config(path)
    return {"make_env": config.make_env, "make_agent": ConfigAgentFactory(config), "total_steps": config.total_steps}


@dataclass(frozen=True)
class ConfigAgentFactory:
    """``make_agent(env, hp)`` for a YAML agent config: the config's agent class built by ``for_env`` with the
    config's hyperparameters updated by the trial's (so hyperparameters that shape networks can be tuned)."""

    config: Any

    def __call__(self, env: Any, hp: dict) -> Any:
        return self.config.agent_class.for_env(env, **{**self.config.hyperparameters, **hp})

    def check(self, space: SearchSpace) -> None:
        """Raise ``ValueError`` (before any trial) for a hyperparameter the agent does not have, or a bound,
        choice or grid value its ``Params`` refuse."""
        agent = self.config.agent
        params_class = getattr(self.config.agent_class, "params_class", None)
        if params_class is None:
            raise ValueError(f"agent {agent!r} takes no hyperparameters, so there is nothing to search over.")
        valid = [f.name for f in dataclasses.fields(params_class)]
        unknown = [name for name in space.params if name not in valid]
        if unknown:
            raise ValueError(f"search space names {', '.join(map(repr, unknown))}, which agent {agent!r} does not "
                             f"have; its hyperparameters are: {', '.join(valid)}.")
        for name, param in space.params.items():
            values = param.choices or param.grid or (param.low, param.high)
            for value in values:
                try:
                    params_class.from_dict({**self.config.hyperparameters, name: value})
                except (TypeError, ValueError) as err:
                    raise type(err)(f"search-space entry {name!r}: {value!r} is refused by agent {agent!r}: "
                                    f"{err}") from None


def _positional_count(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in params)


if __name__ == "__main__":
    sys.exit(sweep_main())
