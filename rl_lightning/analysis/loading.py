"""Experiments read back for analysis: per run, the returns and lengths of its episodes, in finishing order.

An *experiment* is one ``exp_dir`` written by ``OnlineTrainer.multi_run`` (its ``metrics_run{r}.pkl``
streams); a *run* is one of its seeds. Only ``ep_return`` and ``ep_length`` are kept, so frames and
transitions do not stay in memory.

Env steps: a run's x-axis in env steps is the cumulative sum of its episodes' lengths. That counts the
env steps of finished episodes, summed over sub-envs; it leaves out reset steps and the steps of
episodes still running at the end, so it runs slightly behind the trainer's own ``env_steps`` counter.

Security: metrics files are pickles; they are read without running code by default (``safe=True``: plain data
only), so ``rl-lightning plot`` can open a folder from anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from rl_lightning.loading import load_run_metrics, run_indices

__all__ = ["RunCurve", "Experiment", "load_experiment", "load_experiments"]


@dataclass(frozen=True)
class RunCurve:
    """One run's episodes, in the order they finished.

    Attributes:
        run: the 1-based run index (``metrics_run{run}.pkl``).
        returns: ``ep_return`` per episode, float64.
        lengths: ``ep_length`` per episode in env steps, int64.
    """

    run: int
    returns: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_episodes(cls, run: int, episodes: Sequence[dict]) -> "RunCurve":
        returns = np.array([float(e["ep_return"]) for e in episodes], dtype=np.float64)
        lengths = np.array([int(e["ep_length"]) for e in episodes], dtype=np.int64)
        return cls(run, returns, lengths)

    @property
    def env_steps(self) -> np.ndarray:
        """Env steps (summed over sub-envs) at the end of each episode: the cumulative episode lengths."""
        return np.cumsum(self.lengths)

    @property
    def num_episodes(self) -> int:
        return int(self.returns.size)


@dataclass
class Experiment:
    """The runs of one experiment folder.

    Attributes:
        name: the label used in tables and legends.
        path: the experiment folder.
        runs: one :class:`RunCurve` per run, in run-index order.
    """

    name: str
    path: str
    runs: list = field(default_factory=list)

    @property
    def returns(self) -> list:
        """Per run, its episode returns."""
        return [run.returns for run in self.runs]


def load_experiment(exp_dir: str | os.PathLike, name: Optional[str] = None, safe: bool = True) -> Experiment:
    """Read every ``metrics_run{r}.pkl`` of ``exp_dir``.

    Args:
        exp_dir: an ``OnlineTrainer`` experiment folder.
        name: the label; default: the folder's name.
        safe: read the metrics files without running code (plain data only; see :mod:`rl_lightning.loading`);
            ``False`` trusts them.

    Raises:
        FileNotFoundError: the folder does not exist, or holds no metrics file (its content is listed).
    """
    path = os.fspath(exp_dir)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"experiment folder {path!r} does not exist.")
    indices = run_indices(path)
    if not indices:
        content = sorted(os.listdir(path))
        shown = ", ".join(content[:10]) + (", ..." if len(content) > 10 else "") if content else "nothing"
        raise FileNotFoundError(
            f"{path!r} holds no metrics_run{{r}}.pkl file (it holds: {shown}). Run OnlineTrainer.multi_run with "
            "exp_dir set and dump_metrics=True to write them."
        )
    runs = [RunCurve.from_episodes(r, load_run_metrics(path, r, safe)) for r in indices]
    return Experiment(name or _folder_name(path), path, runs)


def load_experiments(exp_dirs: Sequence[str | os.PathLike], names: Optional[Sequence[str]] = None,
                     safe: bool = True) -> list:
    """:func:`load_experiment` for each folder; labels default to folder names, made unique with their parents.

    Raises:
        ValueError: ``names`` is given with another length than ``exp_dirs``.
    """
    paths = [os.fspath(p) for p in exp_dirs]
    if names is not None and len(names) != len(paths):
        raise ValueError(f"names has {len(names)} entries for {len(paths)} experiment folders; give one per folder.")
    labels = list(names) if names is not None else _unique_labels(paths)
    return [load_experiment(p, label, safe) for p, label in zip(paths, labels)]


def _folder_name(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def _unique_labels(paths: Sequence[str]) -> list:
    """Folder names; where two are equal, the last two path components (then the whole path)."""
    labels = [_folder_name(p) for p in paths]
    for depth in (2, None):
        duplicates = {label for label in labels if labels.count(label) > 1}
        if not duplicates:
            break
        for i, p in enumerate(paths):
            if labels[i] in duplicates:
                parts = os.path.normpath(os.path.abspath(p)).split(os.sep)
                labels[i] = "/".join(parts[-depth:]) if depth else os.path.normpath(p)
    return labels
