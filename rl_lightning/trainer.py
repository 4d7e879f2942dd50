"""``OnlineTrainer``: the seed trainer's front door, each run one Lightning ``Trainer.fit``.

``OnlineTrainer(env, agent, exp_dir, train, config, args).multi_run(...)`` keeps the seed trainer's
signature, files, seeds, stopping rules and call order (``trainers-seed.md``, ``agent-protocol.md``,
``origin-behaviour.md``); ``compat="rlbase"`` switches every deliberate difference back to the origin's
behaviour. Files written to ``exp_dir``:

- ``metrics_run{r}.pkl``: the run's episode dicts, a stream of pickled chunks (``dump_metrics``);
- ``all_metrics.pkl``: every run's list, when ``dump_metrics`` and ``keep_metrics_in_memory``;
- ``Run{r}_Last_agent.t``, ``Run{r}_Best_agent.t``, ``Run{r}_E{n}_agent.t`` (``checkpoint_freq``);
- ``config.py`` (a copy of ``config``) and ``args.yaml`` (``args``);
- the logger's files (TensorBoard event files by default).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator, Optional, Union

import cloudpickle
import lightning.pytorch as pl
import yaml
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rl_lightning import loading
from rl_lightning.callbacks.checkpoint import BestReturnCheckpoint, LastCheckpoint
from rl_lightning.callbacks.progress import EpisodeProgressBar
from rl_lightning.data.envs import EnvLike, as_vector_env, autoreset_mode, check_render_mode
from rl_lightning.data.episodes import concat_dicts_of_arrays, extract_actual_rewards, get_single_observation
from rl_lightning.module import AgentModule
from rl_lightning.preflight import check_can_create_dir, check_writable_dir, preflight
from rl_lightning.protocol import check_agent
from rl_lightning.resume import load_checkpoint_entry
from rl_lightning.safe_pickle import modules_of
from rl_lightning.seeding import capture_global_rng, restore_global_rng, run_seed
from rl_lightning.validation import COMPAT_MODES, check_bool, check_budget, check_choice, check_int

__all__ = ["OnlineTrainer", "ExpDirMovedWarning"]

log = logging.getLogger(__name__)

# Files and folders of an earlier multi_run in exp_dir: moved aside (or removed with overwrite=True).
_RESULT_FILE = re.compile(
    r"^(metrics_run\d+\.pkl|all_metrics\.pkl|Run\d+_.*|option_rollouts_run\d+\.pkl|args\.yaml|config\.py|agent\.txt"
    r"|events\.out\.tfevents\..*|.*\.jsonl|checkpoints)$"
)
# Any of these means exp_dir already holds runs.
_RUN_OUTPUT = re.compile(r"^(metrics_run\d+\.pkl|all_metrics\.pkl|Run\d+_.*_agent\.t|events\.out\.tfevents\..*)$")
PREVIOUS_DIR = "previous"
#: Lightning checkpoints of each run: ``exp_dir/checkpoints/run{r}/last.ckpt`` and ``best.ckpt``.
CHECKPOINT_DIR = "checkpoints"
#: Seconds between writes of each run's ``last.ckpt`` by default (not with ``compat="rlbase"``).
DEFAULT_CHECKPOINT_INTERVAL = 300.0


class ExpDirMovedWarning(UserWarning):
    """``multi_run`` moved the results of an earlier run out of ``exp_dir``.

    Attributes:
        exp_dir: the experiment folder.
        moved_to: the folder that now holds them, ``exp_dir/previous/<time>``.
        earlier: what wrote them, as far as the folder tells: ``"fit"`` (``rl-lightning fit``) or ``"multi_run"``.
    """

    def __init__(self, message: str, exp_dir: str, moved_to: str, earlier: str):
        super().__init__(message)
        self.exp_dir, self.moved_to, self.earlier = exp_dir, moved_to, earlier


class OnlineTrainer:
    """Runs an agent on vectorized environments for several independent runs and records every episode.

    Args:
        env: a vector env, a plain ``gymnasium.Env`` (wrapped into a one-sub-env ``SyncVectorEnv``), or a
            zero-argument factory of either. Factories give every run a fresh env and allow ``num_workers > 1``;
            ``multi_run`` calls a factory once more, for the env it checks before writing any file.
        agent: a seed-protocol agent, or a factory ``agent(vector_env)``; with an env factory too, ``multi_run``
            calls it once more, on the env it checks.
        exp_dir: folder for metrics, agent files, ``config.py``, ``args.yaml`` and logs; created when needed.
        train: ``True`` trains; ``False`` acts greedily without updates (a loaded agent keeps its weights).
        config: path of a config file copied to ``exp_dir/config.py``.
        args: an ``argparse.Namespace`` or dict written to ``exp_dir/args.yaml``; ``None`` writes no file.
        compat: ``"default"``, or ``"rlbase"`` to reproduce the origin trainer exactly (see the README).
        segment_steps: vector steps per Lightning ``training_step``; default: the agent's ``segment_steps``, else
            ``4096 // num_envs`` kept between 128 and 1024 (see ``rl_lightning.module.default_segment_steps``).
        progress: show one tqdm bar per run.
        checkpoint_interval: with an ``exp_dir``, seconds of wall time between writes of the Lightning
            checkpoint ``exp_dir/checkpoints/run{r}/last.ckpt`` (also written at the end of a run and on Ctrl-C
            or SIGTERM) that ``multi_run(resume=True)`` continues from; ``None`` writes none. Default: 300 seconds;
            ``None`` with ``compat="rlbase"`` (the origin's folder holds no checkpoints: pass a number to have them).
            A ``train=False`` run (greedy evaluation) writes none in either mode: there is nothing to resume.
        check_rewards: raise ``ValueError`` on a NaN or infinite reward instead of recording it as it is.
        trust_checkpoint: ``multi_run(resume=True)`` reads the runs' ``last.ckpt`` with Python's plain unpickler;
            by default without running code (see :mod:`rl_lightning.safe_pickle`).
        trainer_kwargs: extra keyword arguments for each run's ``lightning.pytorch.Trainer``.

    Attributes:
        env, agent: the env and agent of the run started last (``trainer.env`` closed, ``trainer.agent`` trained),
            as the origin trainer leaves them: after ``multi_run`` the last run's, whatever ``num_workers``
            (from a worker process the agent travels back pickled; ``None`` where it cannot be pickled).
        call_back: the seed-style logger; ``TBCallBack(log_dir=exp_dir, flush_every=1)`` by default
            (``EmptyCallBack`` without ``exp_dir`` or with ``compat="rlbase"``). Assign another before
            ``multi_run`` to swap it.
    """

    def __init__(
        self,
        env: EnvLike,
        agent: Any,
        exp_dir: Optional[Union[str, os.PathLike]] = None,
        train: bool = True,
        config: Optional[Union[str, os.PathLike]] = None,
        args: Optional[Union[argparse.Namespace, dict]] = None,
        *,
        compat: str = "default",
        segment_steps: Optional[int] = None,
        progress: bool = True,
        checkpoint_interval: Union[float, None, str] = "default",
        check_rewards: bool = False,
        trust_checkpoint: bool = False,
        trainer_kwargs: Optional[dict] = None,
    ):
        check_choice("compat", compat, COMPAT_MODES)
        check_bool("train", train)
        if segment_steps is not None:
            check_int("segment_steps", segment_steps, minimum=1)
        if exp_dir is not None:
            exp_dir = os.fspath(exp_dir)
            if os.path.exists(exp_dir) and not os.path.isdir(exp_dir):
                raise ValueError(f"exp_dir={exp_dir!r} is a file; pass a folder path (it is created when missing).")
            check_can_create_dir("exp_dir", exp_dir)
        if config is not None and not os.path.isfile(config):
            raise ValueError(f"config={os.fspath(config)!r} does not exist; pass the path of an existing config file, "
                             "or config=None.")
        if checkpoint_interval == "default":
            checkpoint_interval = DEFAULT_CHECKPOINT_INTERVAL if compat == "default" else None
        if checkpoint_interval is not None and (isinstance(checkpoint_interval, bool) or not isinstance(
                checkpoint_interval, (int, float)) or checkpoint_interval < 0):
            raise ValueError(f"checkpoint_interval must be a number of seconds >= 0 or None, "
                             f"got {checkpoint_interval!r}.")
        if args is not None and not isinstance(args, (argparse.Namespace, dict)):
            raise TypeError(f"args must be an argparse.Namespace, a dict or None; got {type(args).__name__}.")
        self._env_is_factory = callable(env)
        self._agent_is_factory = callable(agent)
        self._make_env: Callable[[], Any] = env if self._env_is_factory else (lambda: env)
        self._make_agent: Callable[[Any], Any] = agent if self._agent_is_factory else (lambda _env: agent)
        self.exp_dir = exp_dir
        self.train = train
        self.config = None if config is None else os.fspath(config)
        self.args = args
        self.compat = compat
        self.segment_steps = segment_steps
        self.progress = progress
        self.checkpoint_interval = checkpoint_interval
        check_bool("check_rewards", check_rewards)
        self.check_rewards = check_rewards
        check_bool("trust_checkpoint", trust_checkpoint)
        self.trust_checkpoint = trust_checkpoint
        self.trainer_kwargs = dict(trainer_kwargs or {})
        # The origin trainer's switch, kept for scripts that set it: False leaves every episode's ``actions`` empty.
        # True records them whenever the episode dicts are dumped or kept (a run that does neither has no reader).
        self._dump_actions = True
        self.env: Any = None
        self.agent: Any = None
        self._options: dict = {}
        self._resumable: dict = {}
        if exp_dir is not None and compat == "default":
            from rl_lightning.loggers import TBCallBack

            self.call_back = TBCallBack(log_dir=exp_dir, flush_every=1)
        else:
            from rl_lightning.loggers import EmptyCallBack

            self.call_back = EmptyCallBack(log_dir=exp_dir)

    # ------------------------------------------------------------------ the run loop
    def multi_run(
        self,
        num_runs: int,
        num_episodes: int = 0,
        total_steps: int = 0,
        seed_offset: Optional[int] = None,
        dump_metrics: bool = True,
        checkpoint_freq: Optional[int] = None,
        dump_transitions: bool = False,
        num_workers: int = 1,
        tuning_hp: Any = None,
        metrics_dump_every: int = 50,
        keep_metrics_in_memory: Optional[bool] = None,
        *,
        overwrite: bool = False,
        resume: bool = False,
    ) -> Optional[list]:
        """Run ``num_runs`` independent runs, each with a fresh env and agent when given factories.

        Args:
            num_runs: number of runs, indexed from 1.
            num_episodes: episodes per run, across sub-envs (episode mode).
            total_steps: env steps per run, summed over sub-envs (step mode). Exactly one of the two is set.
            seed_offset: run ``r`` uses seed ``(r - 1) * num_episodes + seed_offset`` (episode mode) or
                ``(r - 1) * total_steps + seed_offset`` (step mode); ``None`` draws a random seed per run.
            dump_metrics: stream episode dicts to ``metrics_run{r}.pkl`` (needs ``exp_dir``).
            checkpoint_freq: ``None``: no agent files. ``0``: ``Run{r}_Last``/``Run{r}_Best`` agent files.
                ``n > 0``: those plus ``Run{r}_E{k}_agent.t`` every ``n`` episodes (episode mode) or env steps.
            dump_transitions: keep each step's ``(obs, action, reward, terminated, truncated)``.
            num_workers: runs at once, each in its own process (needs factories; results equal ``1``).
            tuning_hp: passed to ``agent.set_hp`` before each run.
            metrics_dump_every: episodes per chunk of the metrics stream.
            keep_metrics_in_memory: return the runs' episode dicts (and write ``all_metrics.pkl``); default
                ``True`` (``False`` with ``compat="rlbase"``).
            overwrite: replace the results of an earlier ``multi_run`` in ``exp_dir`` instead of moving them
                aside into ``exp_dir/previous/<time>/``.
            resume: continue an interrupted ``multi_run`` in ``exp_dir``: runs with a finished checkpoint are
                kept, interrupted runs continue exactly from ``checkpoints/run{r}/last.ckpt``, runs never
                started start now.

        Returns:
            With ``keep_metrics_in_memory``, one list of episode dicts per run; else ``None``.
        """
        check_int("num_runs", num_runs, minimum=1)
        check_budget(num_episodes, total_steps)
        if seed_offset is not None:
            check_int("seed_offset", seed_offset, minimum=0)
        check_bool("dump_metrics", dump_metrics)
        check_bool("dump_transitions", dump_transitions)
        check_bool("overwrite", overwrite)
        check_bool("resume", resume)
        if resume and overwrite:
            raise ValueError("resume=True and overwrite=True contradict each other: resume continues the runs in "
                             "exp_dir, overwrite replaces them. Pass one of them.")
        if resume and (self.exp_dir is None or self.checkpoint_interval is None or not self.train):
            raise ValueError("resume=True needs exp_dir, checkpoint_interval (the runs' last.ckpt files; with "
                             "compat='rlbase' pass e.g. checkpoint_interval=300) and train=True; got "
                             f"exp_dir={self.exp_dir!r}, checkpoint_interval={self.checkpoint_interval!r}, "
                             f"train={self.train!r}.")
        if checkpoint_freq is not None:
            check_int("checkpoint_freq", checkpoint_freq, minimum=0)
        check_int("num_workers", num_workers, minimum=1)
        check_int("metrics_dump_every", metrics_dump_every, minimum=1)
        if keep_metrics_in_memory is None:
            keep_metrics_in_memory = self.compat == "default"
        check_bool("keep_metrics_in_memory", keep_metrics_in_memory)
        if dump_metrics and self.exp_dir is None:
            raise ValueError("dump_metrics=True requires exp_dir to be set in the constructor "
                             "(or pass dump_metrics=False).")
        if checkpoint_freq is not None and self.exp_dir is None:
            raise ValueError(f"checkpoint_freq={checkpoint_freq!r} requires exp_dir to be set in the constructor "
                             "(or pass checkpoint_freq=None).")
        if num_workers > 1 and not (self._env_is_factory and self._agent_is_factory):
            warnings.warn("env or agent is an instance, not a factory: runs cannot be built in other processes; "
                          "falling back to num_workers=1.", UserWarning, stacklevel=2)
            num_workers = 1
        self._options = dict(
            num_episodes=num_episodes, total_steps=total_steps, dump_metrics=dump_metrics,
            checkpoint_freq=checkpoint_freq, dump_transitions=dump_transitions, tuning_hp=tuning_hp,
            metrics_dump_every=metrics_dump_every, keep_metrics_in_memory=keep_metrics_in_memory,
        )

        # Run 1 is built first so that a broken env or agent is reported before any file is written.
        first_seed = run_seed(1, seed_offset, num_episodes, total_steps)
        env, agent = self._build_run(1)
        resumable = self._resumable_runs(num_runs, modules_of(env, agent)) if resume else {}
        # The check runs on a second env and agent from the factories rather than on copies of the run's (see
        # preflight), built with the global random generators put back afterwards, so the run sees them as if it
        # were not.
        check_env, check_agent = self._check_stand_ins(agent)
        preflight(env, agent, first_seed, self.train, tuning_hp, check_env=check_env, check_agent=check_agent)
        config_bytes = self._read_config()
        if self.exp_dir is not None:
            check_writable_dir("exp_dir", self.exp_dir)
        if self.exp_dir is not None and not resume:
            self._prepare_exp_dir(overwrite)
            self._write_artifacts(config_bytes)
        self._resumable = resumable

        results: list = [None] * num_runs
        if num_workers == 1:
            for run_idx in range(1, num_runs + 1):
                if run_idx > 1:
                    seed = run_seed(run_idx, seed_offset, num_episodes, total_steps)
                    env, agent = self._build_run(run_idx)
                else:
                    seed = first_seed
                results[run_idx - 1] = self._one_run(run_idx, seed, env, agent)
        else:
            env.close()
            seeds = [first_seed] + [run_seed(r, seed_offset, num_episodes, total_steps) for r in range(2, num_runs + 1)]
            results = self._parallel_runs(seeds, num_workers)

        if not keep_metrics_in_memory:
            self.call_back.close()
            return None
        if dump_metrics:
            with open(os.path.join(self.exp_dir, "all_metrics.pkl"), "wb") as f:
                pickle.dump(results, f)
        self.call_back.close()
        return results

    def _check_stand_ins(self, agent: Any) -> tuple:
        """``(env, agent)`` for the check before run 1, each built by the user's factory where there is one (the
        agent on that env), else ``None``; ``None`` too where a factory fails or hands out the run's agent."""
        if not self._env_is_factory:
            return None, None
        check_env = check_agent = None
        rng = capture_global_rng()
        try:
            check_env = as_vector_env(self._make_env())
            if self._agent_is_factory:
                check_agent = self._make_agent(check_env)
        except Exception:  # noqa: BLE001 - a factory that cannot build twice: the check copies what it lacks
            pass
        finally:
            restore_global_rng(rng)
        if check_agent is agent:  # e.g. an agent instance that returns itself when called
            check_agent = None
        if check_agent is not None and getattr(agent, "dump_path", None) is not None:
            check_agent.dump_path = agent.dump_path
        return check_env, check_agent

    def _build_run(self, run_idx: int) -> tuple:
        """A run's fresh env and agent, checked before use."""
        env = as_vector_env(self._make_env())
        check_render_mode(env)
        autoreset_mode(env)
        agent = self._make_agent(env)
        check_agent(agent, train=self.train, tuning_hp=self._options["tuning_hp"],
                    calls_update=self.train or self.compat == "rlbase")
        if getattr(agent, "dump_path", None) is not None and self.exp_dir is not None:
            agent.dump_path = os.path.join(self.exp_dir, f"option_rollouts_run{run_idx}.pkl")
        return env, agent

    def _resumable_runs(self, num_runs: int, allowed_modules: frozenset) -> dict:
        """``{run_idx: (last.ckpt path, finished, seed)}`` of the runs that have a last checkpoint, read without
        running code unless ``trust_checkpoint`` (the run's env and agent classes, from ``allowed_modules``).

        Raises:
            FileNotFoundError: no run has one (nothing to resume), naming the paths looked at.
        """
        found = {}
        for run_idx in range(1, num_runs + 1):
            path = self._last_checkpoint_path(run_idx)
            if os.path.exists(path):
                entry = load_checkpoint_entry(path, self.trust_checkpoint, allowed_modules)
                found[run_idx] = (path, entry["finished"], entry["run"]["seed"])
        if not found:
            looked = ", ".join(self._last_checkpoint_path(r) for r in range(1, min(num_runs, 3) + 1))
            raise FileNotFoundError(f"resume=True but no run of exp_dir={self.exp_dir!r} has a checkpoint to resume "
                                    f"from (looked for {looked}{', ...' if num_runs > 3 else ''}).")
        return found

    def _checkpoint_dir(self, run_idx: int) -> str:
        return os.path.join(self.exp_dir, CHECKPOINT_DIR, f"run{run_idx}")

    def _last_checkpoint_path(self, run_idx: int) -> str:
        return os.path.join(self._checkpoint_dir(run_idx), "last.ckpt")

    def _one_run(self, run_idx: int, seed: int, env: Any, agent: Any) -> Optional[list]:
        """One run: a fresh ``AgentModule`` fitted by a fresh Lightning ``Trainer`` (or continued from its last
        checkpoint, or, when that run already finished, read back from its files)."""
        ckpt_path, finished, saved_seed = self._resumable.get(run_idx, (None, False, None))
        opts = self._options
        if finished:
            env.close()
            if not opts["keep_metrics_in_memory"]:
                return None
            return loading.load_run_metrics(self.exp_dir, run_idx) if opts["dump_metrics"] else None
        if ckpt_path is not None:
            seed = saved_seed
        self._log_banner(run_idx, seed, env, agent)
        self.env, self.agent = env, agent
        module = AgentModule(
            agent, env, total_steps=opts["total_steps"], num_episodes=opts["num_episodes"], seed=seed,
            run_idx=run_idx, train=self.train, call_back=self.call_back, exp_dir=self.exp_dir,
            dump_metrics=opts["dump_metrics"], checkpoint_freq=opts["checkpoint_freq"],
            dump_transitions=opts["dump_transitions"], metrics_dump_every=opts["metrics_dump_every"],
            keep_metrics_in_memory=opts["keep_metrics_in_memory"], tuning_hp=opts["tuning_hp"],
            compat=self.compat, segment_steps=self.segment_steps, check_rewards=self.check_rewards,
            trust_checkpoint=self.trust_checkpoint,
            record_actions=None if self._dump_actions else False,
        )
        with _quiet_lightning():
            trainer = pl.Trainer(**self._lightning_trainer_kwargs(run_idx))
            try:
                trainer.fit(module, ckpt_path=ckpt_path)
            except SIGTERMException as stop:
                # Lightning exits with status 0 on SIGTERM; a preempted job must not look finished.
                log.warning("Run %d stopped by SIGTERM after %d env steps; its state is in %s. Continue with "
                            "multi_run(..., resume=True).", run_idx, module.rollout.env_steps,
                            self._last_checkpoint_path(run_idx) if self.exp_dir else "no checkpoint (no exp_dir)")
                raise SystemExit(128 + signal.SIGTERM) from stop
        self.env, self.agent = module.env, module.agent  # a resumed run restored them into new objects
        return module.episodes

    def _lightning_trainer_kwargs(self, run_idx: int) -> dict:
        checkpoints: list = []
        if self.exp_dir is not None and self.checkpoint_interval is not None and self.train:
            folder = self._checkpoint_dir(run_idx)
            checkpoints.append(LastCheckpoint(folder, train_time_interval=self.checkpoint_interval))
            if self._options["checkpoint_freq"] is not None:
                checkpoints.append(BestReturnCheckpoint(folder))
        # Epochs of env steps run until the module stops at the budget; no validation loop: the seed trainer's call
        # order has no greedy episodes in it (trainer_kwargs may turn it on: limit_val_batches=1).
        kwargs = dict(
            accelerator="cpu", devices=1, max_epochs=-1, logger=False, enable_checkpointing=bool(checkpoints),
            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, enable_progress_bar=self.progress,
            callbacks=([EpisodeProgressBar()] if self.progress else []) + checkpoints, default_root_dir=self.exp_dir,
        )
        kwargs.update(self.trainer_kwargs)
        return kwargs

    def _parallel_runs(self, seeds: list, num_workers: int) -> list:
        """Run every run in a pool of ``num_workers`` processes; factories travel with cloudpickle. The last run's
        agent and env come back pickled, for :attr:`agent` and :attr:`env`."""
        payload = cloudpickle.dumps(self)
        context = multiprocessing.get_context("spawn")
        last = len(seeds)
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
            futures = [pool.submit(_run_in_worker, payload, run_idx, seed, run_idx == last)
                       for run_idx, seed in enumerate(seeds, 1)]
            outcomes = [future.result() for future in futures]
        agent_bytes, env_bytes = outcomes[-1][1]
        self.agent = None if agent_bytes is None else cloudpickle.loads(agent_bytes)
        self.env = None if env_bytes is None else cloudpickle.loads(env_bytes)
        if self.agent is None:
            warnings.warn("the last run's agent could not be pickled in its worker process, so trainer.agent is None "
                          "after multi_run(num_workers>1); its files in exp_dir hold it.", UserWarning, stacklevel=3)
        return [episodes for episodes, _ in outcomes]

    def _fresh_run(self, run_idx: int, seed: int, send_back: bool) -> tuple:
        """Build and run one run in this process, then close this process's copy of the logger. Returns the run's
        episodes and, with ``send_back``, its agent and env pickled (``None`` each where that fails)."""
        env, agent = self._build_run(run_idx)
        try:
            episodes = self._one_run(run_idx, seed, env, agent)
        finally:
            self.call_back.close()
        return episodes, (_pickled(self.agent), _pickled(self.env)) if send_back else (None, None)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["env"] = state["agent"] = None  # live objects stay in the parent; workers build their own
        return state

    def _log_banner(self, run_idx: int, seed: int, env: Any, agent: Any) -> None:
        """One INFO line per run start (env id, agent, seed, budget, folder); the full specs (env, spec, spaces,
        agent, device) at DEBUG, for a log file: ``logging.getLogger("rl_lightning").setLevel(logging.DEBUG)``."""
        first = env.envs[0] if hasattr(env, "envs") else env
        spec = getattr(first, "spec", None) or getattr(env, "spec", None)
        opts = self._options
        budget = f"{opts['total_steps']:,} env steps" if opts["total_steps"] else f"{opts['num_episodes']:,} episodes"
        num_envs = getattr(env, "num_envs", 1)
        log.info("Run %d | %s | %s | seed %d | %s | %d sub-env%s%s", run_idx,
                 getattr(spec, "id", None) or type(first).__name__, type(agent).__name__, seed, budget,
                 num_envs, "" if num_envs == 1 else "s", f" | {self.exp_dir}" if self.exp_dir else "")
        if log.isEnabledFor(logging.DEBUG):
            lines = [
                f"Starting run {run_idx} | seed {seed}",
                f"  env               : {env}",
                f"  spec              : {spec if spec is not None else type(first).__name__}",
                f"  observation space : {env.single_observation_space}",
                f"  action space      : {env.single_action_space}",
                f"  agent             : {agent}",
            ]
            if hasattr(agent, "device"):
                lines.append(f"  device            : {agent.device}")
            log.debug("\n".join(lines))

    # ------------------------------------------------------------------ exp_dir
    def _read_config(self) -> Optional[bytes]:
        if self.config is None:
            return None
        with open(self.config, "rb") as f:
            return f.read()

    def _prepare_exp_dir(self, overwrite: bool) -> None:
        """Create exp_dir; move an earlier multi_run's results aside (or delete them with ``overwrite``)."""
        os.makedirs(self.exp_dir, exist_ok=True)
        names = [n for n in sorted(os.listdir(self.exp_dir)) if _RESULT_FILE.match(n)]
        if not any(_RUN_OUTPUT.match(n) for n in names):
            return
        if overwrite:
            for name in names:
                path = os.path.join(self.exp_dir, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = os.path.join(self.exp_dir, PREVIOUS_DIR, stamp)
        suffix = 1
        while os.path.exists(target):
            suffix += 1
            target = os.path.join(self.exp_dir, PREVIOUS_DIR, f"{stamp}-{suffix}")
        os.makedirs(target)
        for name in names:
            shutil.move(os.path.join(self.exp_dir, name), os.path.join(target, name))
        # `rl-lightning fit` leaves its config.yaml (not moved: multi_run never writes one); a multi_run writes
        # args.yaml or config.py.
        earlier = ("fit" if os.path.isfile(os.path.join(self.exp_dir, "config.yaml"))
                   and not {"args.yaml", "config.py"} & set(names) else "multi_run")
        warnings.warn(ExpDirMovedWarning(
            f"exp_dir={self.exp_dir!r} held the results of an earlier run; they were moved to {target!r}. Pass "
            "overwrite=True to replace them instead.", self.exp_dir, target, earlier), stacklevel=3)

    def _write_artifacts(self, config_bytes: Optional[bytes]) -> None:
        if config_bytes is not None:
            with open(os.path.join(self.exp_dir, "config.py"), "wb") as f:
                f.write(config_bytes)
        if self.args is not None:
            values = vars(self.args) if isinstance(self.args, argparse.Namespace) else dict(self.args)
            with open(os.path.join(self.exp_dir, "args.yaml"), "w") as f:
                yaml.dump(values, f)

    # ------------------------------------------------------------------ loaders (the seed trainer's names)
    load_run_metrics = staticmethod(loading.load_run_metrics)
    load_all_run_metrics = staticmethod(loading.load_all_run_metrics)
    load_transitions = staticmethod(loading.load_transitions)
    load_agent_logs = staticmethod(loading.load_agent_logs)
    load_run_agent_logs = staticmethod(loading.load_run_agent_logs)
    load_args = staticmethod(loading.load_args)
    load_config = staticmethod(loading.load_config)
    concat_dicts_of_arrays = staticmethod(concat_dicts_of_arrays)
    get_single_observation = staticmethod(get_single_observation)

    def extract_actual_rewards(self, info: Any, reward: Any) -> Any:
        """Rewards summed into returns (``info["actual_reward"]`` where present)."""
        return extract_actual_rewards(info, reward)


def _run_in_worker(payload: bytes, run_idx: int, seed: int, send_back: bool) -> tuple:
    trainer: OnlineTrainer = cloudpickle.loads(payload)
    return trainer._fresh_run(run_idx, seed, send_back)


def _pickled(obj: Any) -> Optional[bytes]:
    try:
        return cloudpickle.dumps(obj)
    except Exception:  # noqa: BLE001 - an agent or env may hold what cannot travel (sockets, subprocesses)
        return None


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Hide Lightning's per-Trainer device banner and the warnings that do not apply to RL rollouts."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # The rollout steps envs in the main process on purpose: the agent acts there.
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*configure_optimizers` returned `None`.*")
            # training_step takes dataloader_iter on purpose: it turns off prefetch (see rl_lightning.module).
            warnings.filterwarnings("ignore", message=r".*`dataloader_iter`.*")
            # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates; nothing for users to act on.
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
