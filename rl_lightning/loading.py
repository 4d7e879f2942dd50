"""Reading an experiment folder back: metrics streams, transitions, agent logs, args and config.

Security: metrics files are pickles. Every metrics loader takes ``safe``: ``True`` reads only plain data (dicts,
lists, tuples, numbers, strings, numpy scalars and arrays) and refuses anything else without running it; the
default ``False`` is the seed's plain ``pickle.load``, for files whose author you trust. ``config.py`` is Python,
executed by :func:`load_config`: load it only from sources you trust.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from typing import Any

import yaml

from rl_lightning.metrics_stream import metrics_stream_path, read_metrics_stream

__all__ = [
    "load_run_metrics",
    "load_all_run_metrics",
    "load_transitions",
    "load_agent_logs",
    "load_run_agent_logs",
    "load_args",
    "load_config",
    "run_indices",
]


def run_indices(exp_dir: str) -> list[int]:
    """The run indices that have a ``metrics_run{r}.pkl`` in ``exp_dir``, ascending."""
    indices = []
    for name in os.listdir(exp_dir):
        if name.startswith("metrics_run") and name.endswith(".pkl"):
            stem = name[len("metrics_run"):-len(".pkl")]
            if stem.isdigit():
                indices.append(int(stem))
    return sorted(indices)


def load_run_metrics(exp_dir: str, run_idx: int, safe: bool = False) -> list:
    """Every episode dict of run ``run_idx`` (1-based), in the order the episodes finished (``safe``: read without
    running code, see the module docstring).

    Raises:
        FileNotFoundError: the run has no metrics file.
    """
    path = metrics_stream_path(exp_dir, run_idx)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No metrics file found for run {run_idx} in {exp_dir} (looked for {path}); runs there: "
            f"{run_indices(exp_dir) if os.path.isdir(exp_dir) else 'none, the folder does not exist'}"
        )
    return read_metrics_stream(path, safe)


def load_all_run_metrics(exp_dir: str, safe: bool = False) -> list:
    """A list with one list of episode dicts per run, in run-index order (``[]`` when there are no runs)."""
    return [load_run_metrics(exp_dir, r, safe) for r in run_indices(exp_dir)]


def load_transitions(exp_dir: str, safe: bool = False) -> list:
    """``[run][episode]`` → that episode's transitions."""
    return [[episode.get("transitions", []) for episode in run] for run in load_all_run_metrics(exp_dir, safe)]


def load_agent_logs(exp_dir: str, safe: bool = False) -> list:
    """``[run][episode]`` → that episode's ``agent_logs`` (dict of arrays or ``None``)."""
    return [[episode.get("agent_logs") for episode in run] for run in load_all_run_metrics(exp_dir, safe)]


def load_run_agent_logs(exp_dir: str, run_idx: int, safe: bool = False) -> list:
    """``[episode]`` → ``agent_logs`` of run ``run_idx``."""
    return [episode.get("agent_logs") for episode in load_run_metrics(exp_dir, run_idx, safe)]


def load_args(exp_dir: str) -> argparse.Namespace:
    """The ``args`` given to the trainer, from ``exp_dir/args.yaml``.

    Raises:
        FileNotFoundError: there is no ``args.yaml``.
    """
    path = os.path.join(exp_dir, "args.yaml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No args.yaml file found in {exp_dir}")
    with open(path) as f:
        return argparse.Namespace(**(yaml.safe_load(f) or {}))


def load_config(exp_dir: str) -> Any:
    """Import ``exp_dir/config.py`` as a module and return it (this executes the file).

    Raises:
        FileNotFoundError: there is no ``config.py``.
    """
    path = os.path.join(exp_dir, "config.py")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No config.py file found in {exp_dir}")
    spec = importlib.util.spec_from_file_location("loaded_module", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Could not load spec from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


