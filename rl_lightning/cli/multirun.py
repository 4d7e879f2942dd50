"""``rl-lightning multirun``: :meth:`OnlineTrainer.multi_run <rl_lightning.OnlineTrainer.multi_run>` over seeds,
from a run configuration file, writing the seed's files.

::

    rl-lightning multirun --config configs/dqn_cartpole.yaml --num_runs 5 --seed_offset 0 --num_workers 2

The config is a flat file of ``configs/`` or a ``fit --print_config`` output (its ``model`` section is used, but
for ``steps_per_epoch`` and ``val_episodes``; its ``trainer`` section is not). ``exp_dir`` (default
``runs/<config file name>_multirun``, beside ``fit``'s ``runs/<config file name>``) receives ``metrics_run{r}.pkl``,
``Run{r}_Last_agent.t``, ``Run{r}_Best_agent.t``, ``checkpoints/run{r}/{last,best}.ckpt``, TensorBoard events,
``all_metrics.pkl``, ``args.yaml`` (the resolved configuration: the run configuration and this command's options)
and the config file itself, as ``config.py`` (the seed trainer's name) and under its own name.

Each run logs one line as it starts (env id, agent, seed, budget, sub-envs, folder; ``--verbose`` adds the full env
spec and agent); the command ends with a summary: each run's final return (the mean of its last 100 episodes) over
runs, the best episode, env steps/s, wall time, the files and the commands to run next.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import statistics
import time
import warnings
from typing import Optional

from rl_lightning.cli.checks import CLIError, read_yaml
from rl_lightning.cli.output import (
    FINAL_EPISODES,
    duration,
    final_return,
    folder_contents,
    plain_warnings,
    return_rows,
    speed,
    summary_block,
)
from rl_lightning.cli.run_config import RunConfig
from rl_lightning.trainer import OnlineTrainer

__all__ = ["multirun_main", "multirun_parser", "multirun_summary", "default_exp_dir"]


def default_exp_dir(config: str) -> str:
    """``runs/<config file name>_multirun``: not ``fit``'s ``runs/<config file name>``, so neither command's files
    land among the other's."""
    return os.path.join("runs", os.path.splitext(os.path.basename(config))[0] + "_multirun")


def multirun_parser() -> argparse.ArgumentParser:
    """The arguments of ``rl-lightning multirun``."""
    parser = argparse.ArgumentParser(
        prog="rl-lightning multirun",
        description="OnlineTrainer.multi_run over seeds from a run configuration (configs/*.yaml, or a "
                    "`rl-lightning fit --print_config` output), writing the seed's files in --exp_dir.")
    parser.add_argument("--config", required=True, help="the run configuration file (YAML)")
    parser.add_argument("--num_runs", type=int, default=1, help="runs, one seed each (default 1)")
    parser.add_argument("--seed_offset", type=int, default=None,
                        help="run r uses seed (r-1)*total_steps + seed_offset, or (r-1)*num_episodes + seed_offset "
                             "(default: the config's seed, else 0)")
    parser.add_argument("--num_workers", type=int, default=1, help="runs at once, each in its own process (default 1)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--total_steps", type=int, default=None,
                        help="env steps per run, summed over sub-envs (default: the config's total_steps)")
    budget.add_argument("--num_episodes", type=int, default=None,
                        help="episodes per run, across sub-envs, instead of a step budget")
    parser.add_argument("--exp_dir", default=None,
                        help="experiment folder (default: runs/<config file name>_multirun)")
    parser.add_argument("--checkpoint_freq", type=int, default=0,
                        help="env steps (episodes with --num_episodes) between Run{r}_E{n}_agent.t files; "
                             "0: only Run{r}_Last and Run{r}_Best (default 0)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true",
                        help="also log each run's full env spec, spaces and agent as it starts")
    parser.add_argument("--trust-checkpoint", "--trust_checkpoint", action="store_true", dest="trust_checkpoint",
                        help="with --resume, read the runs' last.ckpt with Python's plain unpickler (only for files "
                             "whose author you trust; by default they are read without running code)")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--overwrite", action="store_true",
                       help="replace earlier results in exp_dir (default: move them into exp_dir/previous/<time>/)")
    reuse.add_argument("--resume", action="store_true", help="continue the interrupted runs of exp_dir")
    return parser


#: ``model`` keys of a ``fit`` config that a multi_run has no use for, with their defaults.
_LIGHTNING_ONLY_KEYS = {"steps_per_epoch": None, "val_episodes": 5, "trust_checkpoint": False}


def _run_values(path: str) -> dict:
    """The run configuration of a config file: the flat file's content, or a fit config's ``model`` section
    (without ``exp_dir``, fit's link to its ``trainer.default_root_dir``, and the keys of Lightning's epochs and
    validation loop, which a multi_run does not have: a warning names one set to another value than its default)."""
    values = read_yaml(path)
    if isinstance(values, dict) and ("model" in values or "trainer" in values):
        values = values.get("model") or {}
        values.pop("exp_dir", None)
        for key, default in _LIGHTNING_ONLY_KEYS.items():
            if values.pop(key, default) != default:
                warnings.warn(f"{path}: model.{key} is ignored: a multirun has no Lightning epochs or validation "
                              f"loop (`rl-lightning fit` uses it).", stacklevel=2)
    return values


def multirun_main(argv: Optional[list[str]] = None) -> int:
    """``rl-lightning multirun ...``; returns the exit status (bad input raises :class:`CLIError`)."""
    args = multirun_parser().parse_args(argv)
    values = _run_values(args.config)
    if args.total_steps is not None and isinstance(values, dict):
        values["total_steps"] = args.total_steps
    if args.num_episodes is not None and isinstance(values, dict):
        values.setdefault("total_steps", 1)  # required by the schema; the episode budget replaces it
    run = RunConfig.from_dict(values, args.config)
    for name in ("num_runs", "num_workers"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be an integer >= 1, got {getattr(args, name)}.")
    if args.num_episodes is not None and args.num_episodes < 1:
        raise CLIError(f"--num_episodes must be an integer >= 1, got {args.num_episodes}.")
    seed_offset = run.seed if args.seed_offset is None else args.seed_offset
    if seed_offset < 0:
        raise CLIError(f"--seed_offset must be an integer >= 0, got {seed_offset}.")

    exp_dir = args.exp_dir or default_exp_dir(args.config)
    budget = {"num_episodes": args.num_episodes} if args.num_episodes else {"total_steps": run.total_steps}
    resolved = {key: value for key, value in run.to_dict().items() if key != "seed"}
    if args.num_episodes:
        resolved.pop("total_steps")
    resolved.update(budget, num_runs=args.num_runs, seed_offset=seed_offset, num_workers=args.num_workers,
                    checkpoint_freq=args.checkpoint_freq, exp_dir=exp_dir, config_file=os.path.abspath(args.config))
    trainer = OnlineTrainer(run.make_env, run.make_agent, exp_dir=exp_dir, config=args.config, args=resolved,
                            progress=not args.no_progress, trust_checkpoint=args.trust_checkpoint)
    logger = logging.getLogger("rl_lightning")
    level = logger.level
    if args.verbose:
        logger.setLevel(logging.DEBUG)  # the trainer's full description of each run's env and agent
    start = time.perf_counter()
    try:
        with plain_warnings("multirun", overwrite_flag="--overwrite"):
            results = trainer.multi_run(args.num_runs, seed_offset=seed_offset, checkpoint_freq=args.checkpoint_freq,
                                        num_workers=args.num_workers, overwrite=args.overwrite, resume=args.resume,
                                        **budget)
    finally:
        logger.setLevel(level)
    seconds = time.perf_counter() - start
    copy = os.path.join(exp_dir, os.path.basename(args.config))
    if not os.path.exists(copy) or not os.path.samefile(args.config, copy):
        shutil.copyfile(args.config, copy)
    env_steps = None if args.resume else (run.total_steps * args.num_runs if not args.num_episodes else
                                          sum(e["ep_length"] for episodes in results for e in episodes))
    print(multirun_summary(f"{run.agent} on {run.env_id}", results, exp_dir, env_steps, seconds), flush=True)
    return 0


def multirun_summary(what: str, results: list, exp_dir: str, env_steps: Optional[int], seconds: float) -> str:
    """The closing summary of ``rl-lightning multirun``.

    Args:
        what: the agent and env, e.g. ``"PPO on CartPole-v1"``.
        results: each run's episode dicts, in run order.
        exp_dir: the experiment folder.
        env_steps: env steps of all runs together (summed over sub-envs); ``None`` leaves out the speed (a
            resumed multirun, whose finished runs took no time now).
        seconds: wall time of the runs.
    """
    finals = {r: final_return([e["ep_return"] for e in episodes]) for r, episodes in enumerate(results, 1) if episodes}
    best = max(((e["ep_return"], r) for r, episodes in enumerate(results, 1) for e in episodes), default=None)
    header = f"multirun: {len(results)} run{'s' if len(results) > 1 else ''} of {what}"
    if len(results) == 1 or not finals:
        rows = return_rows([e["ep_return"] for episodes in results for e in episodes])
    else:
        mean = f"{statistics.mean(finals.values()):.2f}"
        spread = f" ± {statistics.stdev(finals.values()):.2f}" if len(finals) > 1 else ""
        values = ": " + ", ".join(f"{value:.2f}" for value in finals.values()) if len(finals) <= 10 else ""
        final = f"{mean}{spread} over runs (each run's mean over its last {FINAL_EPISODES} episodes{values})"
        rows = [("final return", final), ("best episode", f"{best[0]:.2f} (run {best[1]})")]
    rows.append(("speed", speed(env_steps, seconds) if env_steps is not None else f"wall time {duration(seconds)}"))
    rows.append(("files", folder_contents(exp_dir)))
    folder = shlex.quote(exp_dir)
    run_option = f" --run {best[1]}" if best is not None and best[1] != 1 else ""
    rows.append(("next", f"rl-lightning plot {folder}\nrl-lightning evaluate --exp-dir {folder}{run_option}"))
    return summary_block(header, rows)
