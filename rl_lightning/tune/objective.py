"""What a trial is scored on, and how it reports to Optuna's pruner while its runs train.

Objectives map a trial's runs (one list of episode dicts per run, as ``OnlineTrainer.multi_run`` returns
them) to one number, higher is better unless the sweep's ``direction`` is ``"minimize"``:

- ``"last_k"``: for each run, the mean ``ep_return`` of its last ``k`` finished episodes (all of them when it
  finished fewer); the objective is the mean over runs. It scores where training ended.
- ``"auc"``: for each run, the mean ``ep_return`` over all its episodes, i.e. the area under the
  return-per-episode learning curve divided by the number of episodes; the mean over runs. It also
  rewards learning fast.
- any callable ``f(runs) -> float``.

Pruning: :class:`TrialReporter` is a Lightning callback on each run's ``Trainer``. It reports the
objective "as if the trial stopped now" (finished runs whole, the current run's episodes so far) at
``reports_per_run`` points of every run: after ``1/R, 2/R, ... R/R`` of the run's budget (env steps in
step mode, episodes in episode mode). The point ``j`` (1-based) of run ``r`` is Optuna step
``(r - 1) * R + j - 1``, so every trial reports the same steps and pruners compare like with like. Points
are checked at the end of each Lightning ``training_step`` (one rollout segment), so a point is reported at
the first segment end at or past it; the last point of a run is reported when the run ends. When the
pruner says so the run stops at the end of its segment (its files are written as for a finished run), no
further run starts, and the trial ends as PRUNED.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Union

import lightning.pytorch as pl
import numpy as np

__all__ = ["OBJECTIVES", "Score", "last_k_return", "auc_return", "make_score", "TrialReporter"]

#: The named objectives.
OBJECTIVES = ("last_k", "auc")

#: An objective: ``runs`` (one list of episode dicts per run) -> a number.
Score = Callable[[Sequence[Sequence[dict]]], float]


def last_k_return(runs: Sequence[Sequence[dict]], k: int = 10) -> float:
    """Mean over runs of the mean ``ep_return`` of each run's last ``k`` episodes.

    Runs that finished no episode are left out; ``nan`` when no run finished one.
    """
    means = [float(np.mean([e["ep_return"] for e in run[-k:]])) for run in runs if len(run)]
    return float(np.mean(means)) if means else math.nan


def auc_return(runs: Sequence[Sequence[dict]]) -> float:
    """Mean over runs of the mean ``ep_return`` over each run's episodes (the normalised area under the curve).

    Runs that finished no episode are left out; ``nan`` when no run finished one.
    """
    means = [float(np.mean([e["ep_return"] for e in run])) for run in runs if len(run)]
    return float(np.mean(means)) if means else math.nan


def make_score(objective: Union[str, Score], last_k: int = 10) -> Score:
    """The objective function for ``objective`` (a name in :data:`OBJECTIVES` or a callable).

    Raises:
        ValueError: an unknown name, or ``last_k < 1``.
        TypeError: neither a name nor a callable.
    """
    if callable(objective):
        return objective
    if not isinstance(objective, str):
        raise TypeError(f"objective must be one of {', '.join(OBJECTIVES)} or a callable f(runs) -> float; got "
                        f"{type(objective).__name__}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not supported; valid values are {', '.join(OBJECTIVES)} "
                         "or a callable f(runs) -> float.")
    if isinstance(last_k, bool) or not isinstance(last_k, int) or last_k < 1:
        raise ValueError(f"last_k must be an integer >= 1 (episodes per run), got {last_k!r}.")
    if objective == "auc":
        return auc_return
    return lambda runs: last_k_return(runs, last_k)


def objective_name(objective: Union[str, Score]) -> str:
    """A name to record for ``objective`` (the callable's qualified name for a custom one)."""
    if isinstance(objective, str):
        return objective
    return f"{getattr(objective, '__module__', '?')}.{getattr(objective, '__qualname__', repr(objective))}"


class TrialReporter(pl.Callback):
    """Reports a trial's running objective to Optuna ``reports_per_run`` times per run and stops a pruned trial.

    One instance serves every run of the trial (``OnlineTrainer`` gives it to each run's Lightning
    ``Trainer``). See the module docstring for when it reports and what.

    Args:
        trial: the ``optuna.Trial``.
        score: the objective, called on the runs so far.
        num_runs: runs in the trial.
        reports_per_run: report points per run, evenly spaced over its budget.
        total_steps: the run's budget in env steps summed over sub-envs (step mode), else 0.
        num_episodes: the run's budget in episodes across sub-envs (episode mode), else 0.

    Attributes:
        finished_runs: the episode dicts of each run that ended.
        pruned_step: the Optuna step at which the trial was pruned, or ``None``.
    """

    def __init__(self, trial: Any, score: Score, num_runs: int, reports_per_run: int, total_steps: int = 0,
                 num_episodes: int = 0):
        self.trial = trial
        self.num_runs = num_runs
        self.score = score
        self.reports_per_run = reports_per_run
        self.budget = total_steps or num_episodes
        self.step_mode = total_steps > 0
        self.finished_runs: list[list[dict]] = []
        self.pruned_step: Optional[int] = None
        self._run_idx = 1
        self._next_point = 1  # the next report point of the current run, 1-based

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._run_idx = pl_module.run_idx
        self._next_point = 1

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        rollout = pl_module.rollout
        progress = rollout.env_steps if self.step_mode else rollout.episodes_done
        reached = False
        # The last point is the run's end, reported by on_train_end.
        points = self.reports_per_run
        while self._next_point < points and progress * points >= self._next_point * self.budget:
            reached = self._report(pl_module) or reached
        if reached and self.trial.should_prune():
            self.pruned_step = self._step(self._next_point - 1)
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if self.pruned_step is None:
            reached = False
            while self._next_point <= self.reports_per_run:
                reached = self._report(pl_module) or reached
            # After the last run the trial is over: nothing left to prune.
            if reached and self._run_idx < self.num_runs and self.trial.should_prune():
                self.pruned_step = self._step(self.reports_per_run)
        self.finished_runs.append(list(pl_module.episodes or []))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        # Raised here, after the run's own on_train_end wrote its files, so that multi_run starts no other run.
        if self.pruned_step is not None:
            import optuna

            raise optuna.TrialPruned(f"pruned at step {self.pruned_step} (run {self._run_idx}).")

    def _step(self, point: int) -> int:
        return (self._run_idx - 1) * self.reports_per_run + point - 1

    def _report(self, pl_module: Any) -> bool:
        """Report the objective so far at the next point; ``False`` when no episode has finished yet."""
        step = self._step(self._next_point)
        self._next_point += 1
        value = self.score([*self.finished_runs, list(pl_module.episodes or [])])
        if value is None or math.isnan(value):
            return False
        self.trial.report(float(value), step)
        return True
