"""The Optuna pieces a sweep worker needs: its storage, the lock around trial creation, a study that stops
at ``n_trials``. Imported only once Optuna is known to be installed (it imports Optuna at the top)."""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

try:
    import fcntl
except ImportError:  # Windows: trials are counted without a lock between processes
    fcntl = None  # type: ignore[assignment]

#: Trials that take one of the ``n_trials`` places. FAIL trials do not: a rerun runs them again.
COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Seconds between a running trial's heartbeats; a trial silent for ``2 *`` this (its process was killed) is
#: marked FAIL by the next trial that starts, so a rerun replaces it.
HEARTBEAT_INTERVAL = 60


class StudyFull(Exception):
    """Raised by :meth:`BoundedStudy.ask` when the study already holds ``n_trials`` trials."""


def sqlite_path(url: str) -> Optional[str]:
    """The database file of a ``sqlite:///`` URL; ``None`` for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def make_storage(storage: Any) -> Any:
    """An Optuna storage for a database URL (SQLite waits up to a minute for a lock; heartbeats on), else as is."""
    if not isinstance(storage, str):
        return storage
    path = sqlite_path(storage)
    if path is not None and os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
        return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL)


class StudyLock:
    """Makes "count the trials, then create one" atomic: across threads always, and across processes on
    one machine for a SQLite study (an exclusive ``flock`` on ``<database>.lock``).

    Other databases shared by several machines get no process lock: they may run up to one trial per
    extra worker past ``n_trials``.
    """

    def __init__(self, path: Optional[str]):
        self.path = None if path is None or fcntl is None else path + ".lock"
        self._thread_lock = threading.Lock()
        self._file: Any = None

    def __enter__(self) -> "StudyLock":
        self._thread_lock.acquire()
        if self.path is not None:
            if os.path.dirname(self.path):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._file = open(self.path, "a")  # noqa: SIM115 - held open until __exit__
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        self._thread_lock.release()


def remove_free_lock(database: Optional[str]) -> None:
    """Remove ``<database>.lock`` when no process holds it (the sweep is over); leave it to a sweep still running."""
    if database is None or fcntl is None or not os.path.exists(database + ".lock"):
        return
    with open(database + ".lock", "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another worker still uses it
        os.remove(database + ".lock")
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class BoundedStudy(optuna.Study):
    """A study whose ``ask`` refuses (:class:`StudyFull`) to create a trial past ``n_trials`` counted trials
    (:data:`COUNTED_STATES`), so that every worker's ``optimize`` loop ends when the study is complete.

    Trials waiting in the queue (``enqueue_trial``) are popped first, and counted once they run.
    """

    def __init__(self, study_name: str, storage: Any, sampler: Any, pruner: Any, *, n_trials: int, lock: StudyLock):
        super().__init__(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
        self._n_trials = n_trials
        self._lock = lock

    def ask(self, fixed_distributions: Optional[dict] = None) -> optuna.Trial:
        with self._lock:
            if len(self.get_trials(deepcopy=False, states=COUNTED_STATES)) >= self._n_trials:
                raise StudyFull
            return super().ask(fixed_distributions)
