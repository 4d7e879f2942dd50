"""``rl-lightning evaluate``: greedy evaluation episodes of a saved agent (:func:`rl_lightning.evaluation.evaluate`).

It plays the seed's agent files (``Run{r}_Best_agent.t``, ``Run{r}_Last_agent.t``) of an experiment folder;
LightningCLI's own ``rl-lightning validate`` and ``rl-lightning test`` (:mod:`~rl_lightning.cli.lightning_cli`)
run a checkpoint's validation or test loop instead. It is :func:`rl_lightning.evaluation.evaluate_main`, plus one
convenience: for a folder written by ``rl-lightning fit`` or ``rl-lightning multirun``, ``--agent-class`` and
``--env-id`` may be left out; they are read from the folder's ``config.yaml`` (fit) or ``args.yaml`` (multirun)::

    rl-lightning fit --config configs/ppo_cartpole.yaml
    rl-lightning evaluate --exp-dir runs/ppo_cartpole --episodes 10 --which best

Options are spelled with hyphens (``--exp-dir``) as ``evaluate_main`` defines them; underscores
(``--exp_dir``), as ``fit`` and ``multirun`` spell theirs, are accepted too.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from rl_lightning.cli.checks import import_class, read_yaml
from rl_lightning.cli.run_config import RunConfig
from rl_lightning.evaluation import evaluate_main as evaluation_main

__all__ = ["evaluate_main", "saved_run_config"]


def saved_run_config(exp_dir: str) -> Optional[RunConfig]:
    """The run configuration saved in ``exp_dir`` by ``fit`` (``config.yaml``) or ``multirun`` (``args.yaml``);
    ``None`` when the folder holds neither."""
    for name, section in (("config.yaml", "model"), ("args.yaml", None)):
        path = os.path.join(exp_dir, name)
        if not os.path.isfile(path):
            continue
        values = read_yaml(path)
        if not isinstance(values, dict):
            continue
        if section is not None:
            values = values.get(section)
        if isinstance(values, dict) and "env_id" in values and "agent" in values:
            keys = ("env_id", "agent", "num_envs", "vectorization_mode", "env_kwargs", "wrappers", "hyperparameters")
            return RunConfig.from_dict({**{k: values.get(k) for k in keys}, "total_steps": 1}, path)
    return None


def _hyphenated(argv: list[str]) -> list[str]:
    """``--exp_dir X`` as ``--exp-dir X`` (option names only; values are left as they are)."""
    out = []
    for arg in argv:
        if arg.startswith("--"):
            name, sep, value = arg.partition("=")
            arg = name.replace("_", "-") + sep + value
        out.append(arg)
    return out


def _inferred(argv: list[str]) -> tuple[list[str], Optional[RunConfig]]:
    """The ``--agent-class`` and ``--env-id`` arguments that ``argv`` leaves out, read from its ``--exp-dir``, and
    the run configuration saved there (whose ``env_kwargs`` and ``wrappers`` rebuild the training env)."""
    known = argparse.ArgumentParser(add_help=False)
    for option in ("--exp-dir", "--agent-class", "--env-id"):
        known.add_argument(option)
    given, _ = known.parse_known_args(argv)
    if given.exp_dir is None:
        return [], None
    run = saved_run_config(given.exp_dir)
    if run is None:
        return [], None  # evaluate_main names the missing options
    extra = []
    if not given.agent_class:
        extra += ["--agent-class", run.agent_class_path]
    if not given.env_id:
        extra += ["--env-id", run.env_id]
    elif given.env_id != run.env_id:
        return extra, None  # another env than the training one: nothing of the training env applies
    return extra, run


def evaluate_main(argv: Optional[list[str]] = None) -> int:
    """``rl-lightning evaluate ...``; returns the exit status (2 for bad input, with the reason on stderr)."""
    argv = _hyphenated(list(sys.argv[1:] if argv is None else argv))
    try:
        extra, run = _inferred(argv)
        if run is None:
            return evaluation_main([*argv, *extra])
        wrappers = [import_class(path, "wrappers") for path in run.wrappers]
        return evaluation_main([*argv, *extra], env_kwargs=run.env_kwargs, wrappers=wrappers)
    except SystemExit as stop:  # argparse's --help and errors (already printed)
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
