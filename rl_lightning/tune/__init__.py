"""Hyperparameter sweeps: Optuna studies whose trials train ``OnlineTrainer(...).multi_run(...)``.

Needs the ``sweep`` extra (``pip install 'rl_lightning[sweep]'``: Optuna, matplotlib); Optuna is imported
only when a sweep runs, so ``import rl_lightning.tune`` works without it.

* :func:`run_sweep` - run or resume a study (random/TPE or grid search, pruning, several processes).
* :class:`SearchSpace` - the YAML/dict schema of the hyperparameters (:mod:`rl_lightning.tune.space`).
* :func:`summarize`, :func:`format_table`, :func:`write_csv`, :func:`plot_param_importances` - results.
* :func:`sweep_main` - the ``rl-lightning sweep`` command line.
* :class:`TrialReporter`, :func:`last_k_return`, :func:`auc_return` - objectives and pruning reports.
"""

from rl_lightning.tune.cli import sweep_main
from rl_lightning.tune.objective import OBJECTIVES, TrialReporter, auc_return, last_k_return
from rl_lightning.tune.space import PARAM_TYPES, Param, SearchSpace
from rl_lightning.tune.summary import format_table, plot_param_importances, summarize, write_csv
from rl_lightning.tune.sweep import run_sweep

__all__ = [
    "run_sweep",
    "sweep_main",
    "SearchSpace",
    "Param",
    "PARAM_TYPES",
    "OBJECTIVES",
    "TrialReporter",
    "last_k_return",
    "auc_return",
    "summarize",
    "format_table",
    "write_csv",
    "plot_param_importances",
]
