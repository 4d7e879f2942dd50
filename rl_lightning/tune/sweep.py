"""``run_sweep``: an Optuna study whose trials each train ``OnlineTrainer(...).multi_run(...)``.

Each trial draws ``tuning_hp`` from a :class:`~rl_lightning.tune.space.SearchSpace`, trains ``num_runs`` runs
with it in its own folder ``<sweep_dir>/trial_<number>`` (the usual files: ``metrics_run{r}.pkl``,
``args.yaml`` with the trial's hyperparameters, logger files), and is scored by an objective of
:mod:`rl_lightning.tune.objective`, which also feeds the pruner while the runs train.

Storage and resuming: with ``storage="sqlite:///runs/sweep.db"`` the study lives in that database under
``study_name``. Rerunning the same call resumes it: ``n_trials`` is the number of trials the study should
hold in the end (COMPLETE, PRUNED or still RUNNING), so a study with 4 trials rerun with ``n_trials=6`` runs 2
more. Failed trials do not count: a rerun replaces them. A trial whose process was killed is marked failed
by Optuna's heartbeat two minutes later, when the next trial starts. Several processes (``n_jobs``, or
several commands on one storage) share a study: creating a trial is serialised, so together they run
exactly ``n_trials`` trials (on SQLite; across machines on another database, up to one extra per worker).

Every trial's runs use the same seeds (``seed_offset``, 0 by default): hyperparameters are compared on the
same environment seeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import socket
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Union

import cloudpickle

from rl_lightning.trainer import OnlineTrainer
from rl_lightning.tune.objective import Score, TrialReporter, make_score, objective_name
from rl_lightning.tune.space import SearchSpace
from rl_lightning.validation import check_budget, check_choice, check_int

__all__ = ["run_sweep", "require_optuna", "DIRECTIONS", "HP_TO"]

log = logging.getLogger(__name__)

#: ``direction`` values.
DIRECTIONS = ("maximize", "minimize")
#: ``hp_to`` values: how a trial's hyperparameters reach the agent.
HP_TO = ("set_hp", "factory")
# Study user attribute recording the settings that make its trials comparable; a rerun must match them.
_SETTINGS_ATTR = "rl_lightning_sweep"


def require_optuna() -> Any:
    """Import and return ``optuna``, or raise ``ImportError`` saying how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError("rl_lightning.tune needs Optuna: pip install 'rl_lightning[sweep]' "
                          "(or pip install optuna matplotlib).") from err
    return optuna


def run_sweep(
    make_env: Callable[[], Any],
    make_agent: Callable[..., Any],
    search_space: Union[SearchSpace, Mapping, str, os.PathLike],
    *,
    n_trials: Optional[int] = None,
    num_runs: int = 1,
    total_steps: int = 0,
    num_episodes: int = 0,
    storage: Any = None,
    study_name: Optional[str] = None,
    sweep_dir: Optional[Union[str, os.PathLike]] = None,
    objective: Union[str, Score] = "last_k",
    last_k: int = 10,
    direction: str = "maximize",
    grid: bool = False,
    sampler: Any = None,
    pruner: Any = None,
    sampler_seed: Optional[int] = None,
    reports_per_run: int = 4,
    n_jobs: int = 1,
    seed_offset: Optional[int] = 0,
    hp_to: str = "set_hp",
    segment_steps: Optional[int] = None,
    checkpoint_freq: Optional[int] = 0,
    config_file: Optional[Union[str, os.PathLike]] = None,
    write_summary: bool = True,
) -> Any:
    """Run (or resume) a hyperparameter sweep; every argument is checked before the study or a folder is made.

    Args:
        make_env: zero-argument factory of the env (a vector env, or a ``gymnasium.Env``).
        make_agent: ``make_agent(vector_env)`` (``hp_to="set_hp"``) or ``make_agent(vector_env, hp)``
            (``hp_to="factory"``).
        search_space: a :class:`SearchSpace`, a dict in its schema, or the path of a YAML file holding one.
        n_trials: trials the study should hold in the end, this call's and earlier ones' (see the module
            docstring); with ``grid``, ``None`` means one trial per grid point.
        num_runs: runs per trial (seeds), run one after the other.
        total_steps: env steps per run, summed over sub-envs (step mode).
        num_episodes: episodes per run, across sub-envs (episode mode). Exactly one of the two is set.
        storage: a database URL such as ``"sqlite:///runs/sweep.db"`` (its folder is created), an Optuna
            storage, or ``None`` for a study in memory (no resuming, ``n_jobs=1``).
        study_name: the study's name in ``storage``; required with a storage.
        sweep_dir: folder of the trial folders, ``summary.csv`` and ``param_importances.png``; default
            ``runs/<study_name>``.
        objective: ``"last_k"``, ``"auc"`` or a callable ``f(runs) -> float`` (:mod:`rl_lightning.tune.objective`).
        last_k: episodes per run that ``"last_k"`` averages.
        direction: ``"maximize"`` or ``"minimize"`` the objective.
        grid: grid search over :meth:`SearchSpace.grid` with Optuna's ``GridSampler``.
        sampler: an Optuna sampler (default ``TPESampler``); not with ``grid``.
        pruner: an Optuna pruner; default ``MedianPruner(n_startup_trials=5, n_warmup_steps=reports_per_run // 2)``
            (no pruning in the first half of the first run). ``optuna.pruners.NopPruner()`` turns pruning off.
        sampler_seed: seed of the default sampler (worker ``i`` of ``n_jobs`` uses ``sampler_seed + i``).
        reports_per_run: intermediate objective values reported to the pruner per run.
        n_jobs: worker processes working on the study at once (this one and ``n_jobs - 1`` started ones);
            ``> 1`` needs a database ``storage`` and factories that cloudpickle can send.
        seed_offset: ``multi_run``'s ``seed_offset`` for every trial; ``None`` draws random seeds per run.
        hp_to: ``"set_hp"``: the agent receives the trial's hyperparameters through ``agent.set_hp`` (the seed
            protocol); ``"factory"``: ``make_agent(vector_env, hp)`` builds the agent with them (for
            hyperparameters that shape networks, which a built agent cannot change).
        segment_steps: ``OnlineTrainer``'s vector steps per Lightning ``training_step``; report points are
            checked at the end of each.
        checkpoint_freq: ``multi_run``'s ``checkpoint_freq``: ``0`` (default) keeps each run's last and best agent
            files, so the best trial can be evaluated; ``None`` keeps no agents (huge sweeps).
        config_file: a file copied into every trial's folder as ``config.py`` (the sweep's config), or ``None``.
        write_summary: at the end, write ``summary.csv`` and ``param_importances.png`` to ``sweep_dir``.

    Returns:
        The ``optuna.Study`` (its ``best_params``, ``best_value``, ``trials``); see also
        :func:`rl_lightning.tune.summarize`.

    Example::

        from rl_lightning.testing import RecordingAgent, make_counting_vec_env

        space = {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                 "act": {"type": "categorical", "choices": ["tanh", "relu"]}}
        study = run_sweep(make_counting_vec_env(2), lambda env: RecordingAgent(), space, n_trials=4,
                          num_runs=2, total_steps=200, storage="sqlite:///runs/sweep.db", study_name="demo")
        study.best_params  # {"lr": ..., "act": ...}; runs/demo/summary.csv lists every trial, best first

    Raises:
        TypeError, ValueError: a bad argument or search space, before any work.
        ValueError: the stored study was made with other settings (search space, budget, objective...).
    """
    arguments = dict(locals())
    require_optuna()
    return execute(_SweepJob.checked(**arguments), write_summary=write_summary)


def execute(job: "_SweepJob", write_summary: bool = True, log_table: bool = True) -> Any:
    """Run a checked sweep: this process and ``n_jobs - 1`` started ones work on the study; then the summary
    (``summary.csv``, ``param_importances.png`` and, with ``log_table``, the table logged at INFO level)."""
    optuna = require_optuna()
    if job.storage is None:
        job.storage = optuna.storages.InMemoryStorage()
    workers = min(job.n_jobs, job.n_trials)
    if workers == 1:
        job.work(0)
    else:
        payload = cloudpickle.dumps(job)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=context) as pool:
            futures = [pool.submit(_work_in_process, payload, i) for i in range(1, workers)]
            job.work(0)
            for future in futures:
                future.result()
    study = optuna.load_study(study_name=job.study_name, storage=job.open_storage())
    if write_summary:
        from rl_lightning.tune.summary import format_table, plot_param_importances, summarize, write_csv

        rows = summarize(study)
        write_csv(rows, os.path.join(job.sweep_dir, "summary.csv"))
        plot_param_importances(study, os.path.join(job.sweep_dir, "param_importances.png"))
        if log_table:
            log.info("Sweep %r, best first:\n%s", job.study_name, format_table(rows))
    if isinstance(job.storage, str):
        from rl_lightning.tune._study import remove_free_lock, sqlite_path

        remove_free_lock(sqlite_path(job.storage))
    return study


def _work_in_process(payload: bytes, worker_idx: int) -> None:
    job: _SweepJob = cloudpickle.loads(payload)
    job.work(worker_idx)


@dataclass
class _SweepJob:
    """A checked sweep: what each worker process needs to run trials of the study."""

    make_env: Callable
    make_agent: Callable
    space: SearchSpace
    n_trials: int
    num_runs: int
    total_steps: int
    num_episodes: int
    storage: Any
    study_name: str
    sweep_dir: str
    score: Score
    settings: dict
    direction: str
    grid: bool
    sampler: Any
    pruner: Any
    sampler_seed: Optional[int]
    reports_per_run: int
    n_jobs: int
    seed_offset: Optional[int]
    hp_to: str
    segment_steps: Optional[int]
    checkpoint_freq: Optional[int]
    config_file: Optional[str] = None
    _storage: Any = field(default=None, repr=False)

    @classmethod
    def checked(cls, **kw: Any) -> "_SweepJob":
        """Validate ``run_sweep``'s arguments (all before any file or study exists)."""
        for name in ("make_env", "make_agent"):
            if not callable(kw[name]):
                raise TypeError(f"{name} must be a factory (a callable), got {type(kw[name]).__name__}.")
        space = SearchSpace.load(kw["search_space"])
        check_int("num_runs", kw["num_runs"], minimum=1)
        check_budget(kw["num_episodes"], kw["total_steps"])
        check_int("reports_per_run", kw["reports_per_run"], minimum=1)
        check_int("n_jobs", kw["n_jobs"], minimum=1)
        check_choice("direction", kw["direction"], DIRECTIONS)
        check_choice("hp_to", kw["hp_to"], HP_TO)
        for name in ("seed_offset", "sampler_seed", "checkpoint_freq", "segment_steps"):
            if kw[name] is not None:
                check_int(name, kw[name], minimum=1 if name == "segment_steps" else 0)
        score = make_score(kw["objective"], kw["last_k"])
        n_trials = kw["n_trials"]
        if kw["grid"]:
            if kw["sampler"] is not None:
                raise ValueError("grid=True uses Optuna's GridSampler; pass sampler=None, or grid=False to use your "
                                 "sampler.")
            size = space.grid_size()  # raises for a parameter without a finite set of values
            if n_trials is None or n_trials > size:
                if n_trials is not None:
                    log.warning("n_trials=%d is more than the %d grid points; the sweep runs %d trials.",
                                n_trials, size, size)
                n_trials = size
        if n_trials is None:
            raise ValueError("n_trials is required (the number of trials the study should hold); only grid search "
                             "defaults it, to the number of grid points.")
        check_int("n_trials", n_trials, minimum=1)
        storage, study_name = kw["storage"], kw["study_name"]
        _check_storage(storage, study_name, kw["n_jobs"])
        study_name = study_name or "sweep"
        sweep_dir = os.fspath(kw["sweep_dir"]) if kw["sweep_dir"] is not None else os.path.join("runs", study_name)
        if os.path.isfile(sweep_dir):
            raise ValueError(f"sweep_dir={sweep_dir!r} is a file; pass a folder path (it is created when missing).")
        settings = dict(
            search_space=space.to_dict(), num_runs=kw["num_runs"], total_steps=kw["total_steps"],
            num_episodes=kw["num_episodes"], objective=objective_name(kw["objective"]),
            last_k=kw["last_k"] if kw["objective"] == "last_k" else None, seed_offset=kw["seed_offset"],
            hp_to=kw["hp_to"], grid=kw["grid"],
        )
        return cls(
            make_env=kw["make_env"], make_agent=kw["make_agent"], space=space, n_trials=n_trials,
            num_runs=kw["num_runs"], total_steps=kw["total_steps"], num_episodes=kw["num_episodes"], storage=storage,
            study_name=study_name, sweep_dir=sweep_dir, score=score, settings=json.loads(json.dumps(settings)),
            direction=kw["direction"], grid=kw["grid"], sampler=kw["sampler"], pruner=kw["pruner"],
            sampler_seed=kw["sampler_seed"], reports_per_run=kw["reports_per_run"], n_jobs=kw["n_jobs"],
            seed_offset=kw["seed_offset"],
            hp_to=kw["hp_to"], segment_steps=kw["segment_steps"], checkpoint_freq=kw["checkpoint_freq"],
            config_file=None if kw.get("config_file") is None else os.fspath(kw["config_file"]),
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_storage"] = None  # each process opens its own connection
        return state

    # ------------------------------------------------------------------ one worker
    def open_storage(self) -> Any:
        from rl_lightning.tune._study import make_storage

        if self._storage is None:
            self._storage = make_storage(self.storage)
        return self._storage

    def work(self, worker_idx: int) -> None:
        """Run trials until the study holds ``n_trials`` counted trials (or the grid is exhausted)."""
        import optuna

        from rl_lightning.tune._study import BoundedStudy, StudyFull, StudyLock, sqlite_path

        lock = StudyLock(sqlite_path(self.storage) if isinstance(self.storage, str) else None)
        with lock:  # two processes creating a database's tables at once would collide
            storage = self.open_storage()
            study = optuna.create_study(storage=storage, study_name=self.study_name, direction=self.direction,
                                        load_if_exists=True)
            self._check_settings(study)
        study = BoundedStudy(self.study_name, storage, self._sampler(worker_idx), self._pruner(),
                             n_trials=self.n_trials, lock=lock)
        try:
            study.optimize(self.run_trial)
        except StudyFull:
            pass

    def _check_settings(self, study: Any) -> None:
        wanted = study.direction.name.lower()
        if wanted != self.direction:
            raise ValueError(f"study {self.study_name!r} in this storage was created with direction={wanted!r}, not "
                             f"{self.direction!r}; pass direction={wanted!r} or use another study_name.")
        stored = study.user_attrs.get(_SETTINGS_ATTR)
        if stored is None:
            study.set_user_attr(_SETTINGS_ATTR, self.settings)
            return
        differ = [key for key in sorted(set(stored) | set(self.settings)) if stored.get(key) != self.settings.get(key)]
        if differ:
            details = "; ".join(f"{key}: stored {stored.get(key)!r}, given {self.settings.get(key)!r}"
                                for key in differ)
            raise ValueError(f"study {self.study_name!r} was run with other settings, so its trials would not be "
                             f"comparable ({details}). Pass the stored settings to resume it, or use another "
                             "study_name.")

    def _sampler(self, worker_idx: int) -> Any:
        import optuna

        seed = None if self.sampler_seed is None else self.sampler_seed + worker_idx
        if self.grid:
            return optuna.samplers.GridSampler(self.space.grid(), seed=seed)
        if self.sampler is None:
            return optuna.samplers.TPESampler(seed=seed)
        if worker_idx > 0:
            self.sampler.reseed_rng()  # this process's copy must not repeat worker 0's draws
        return self.sampler

    def _pruner(self) -> Any:
        import optuna

        if self.pruner is not None:
            return self.pruner
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=self.reports_per_run // 2)

    # ------------------------------------------------------------------ one trial
    def run_trial(self, trial: Any) -> float:
        """Train the trial's runs in ``<sweep_dir>/trial_<number>`` and return its objective."""
        hp = self.space.suggest(trial)
        exp_dir = os.path.join(self.sweep_dir, f"trial_{trial.number}")
        trial.set_user_attr("exp_dir", os.path.abspath(exp_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        reporter = TrialReporter(trial, self.score, self.num_runs, self.reports_per_run, total_steps=self.total_steps,
                                 num_episodes=self.num_episodes)
        agent = self.make_agent if self.hp_to == "set_hp" else _AgentWithHp(self.make_agent, hp)
        args = dict(study_name=self.study_name, trial=trial.number, tuning_hp=hp, **{
            k: self.settings[k] for k in ("num_runs", "total_steps", "num_episodes", "seed_offset", "objective")})
        trainer = OnlineTrainer(self.make_env, agent, exp_dir=exp_dir, args=args, progress=False,
                                config=self.config_file,
                                checkpoint_interval=None, segment_steps=self.segment_steps,
                                trainer_kwargs={"callbacks": [reporter]})
        try:
            with _quiet_run_banners():
                runs = trainer.multi_run(
                    self.num_runs, num_episodes=self.num_episodes, total_steps=self.total_steps,
                    seed_offset=self.seed_offset, checkpoint_freq=self.checkpoint_freq,
                    tuning_hp=hp if self.hp_to == "set_hp" else None, keep_metrics_in_memory=True)
        except SystemExit as err:
            # Lightning turns Ctrl-C into SystemExit(1); as KeyboardInterrupt Optuna marks the trial FAIL.
            raise KeyboardInterrupt(f"trial {trial.number} interrupted") from err
        finally:
            trainer.call_back.close()
        empty = [r for r, run in enumerate(runs, 1) if not run]
        if empty:
            budget = f"total_steps={self.total_steps}" if self.total_steps else f"num_episodes={self.num_episodes}"
            raise ValueError(f"trial {trial.number}: run(s) {empty} finished no episode within {budget}, so the "
                             "objective is undefined; raise total_steps.")
        value = self.score(runs)
        if value is None or math.isnan(value):
            raise ValueError(f"trial {trial.number}: the objective returned {value!r}; it must return a number.")
        return float(value)


@dataclass(frozen=True)
class _AgentWithHp:
    """``make_agent(env, hp)`` as the one-argument agent factory ``OnlineTrainer`` calls."""

    make_agent: Callable
    hp: dict

    def __call__(self, env: Any) -> Any:
        return self.make_agent(env, dict(self.hp))


def _check_storage(storage: Any, study_name: Optional[str], n_jobs: int) -> None:
    if storage is None:
        if n_jobs > 1:
            raise ValueError(f"n_jobs={n_jobs} needs a storage that processes share, e.g. "
                             "storage='sqlite:///runs/sweep.db'; a study in memory has one process.")
        return
    if isinstance(storage, str):
        if "://" not in storage:
            raise ValueError(f"storage={storage!r} is not a database URL; pass e.g. 'sqlite:///{storage}' "
                             "(an Optuna RDB storage URL) or None.")
        if n_jobs > 1 and storage.startswith("sqlite") and storage.rstrip("/").endswith((":memory:", "sqlite:")):
            raise ValueError(f"n_jobs={n_jobs} needs a database file that processes share; {storage!r} is in memory.")
    elif not all(callable(getattr(storage, name, None)) for name in ("create_new_study", "create_new_trial")):
        raise TypeError(f"storage must be a database URL, an Optuna storage or None; got {type(storage).__name__}.")
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name={study_name!r}: a study in a storage needs a name (a non-empty string), so "
                         "that a rerun finds and resumes it.")


@contextlib.contextmanager
def _quiet_run_banners() -> Iterator[None]:
    """Hide ``OnlineTrainer``'s per-run banner during trials: Optuna logs one line per trial instead."""
    logger = logging.getLogger("rl_lightning.trainer")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
