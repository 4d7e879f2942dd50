"""``AgentModule``: a seed-protocol agent trained by a real Lightning ``Trainer``.

Each ``training_step`` pulls one :class:`~rl_lightning.data.rollout.Segment` from the
:class:`~rl_lightning.data.rollout.RolloutDataset`; pulling it is what collects it, so every vector step
runs act → env.step → update with the current agent and nothing is collected ahead (``training_step``
takes ``dataloader_iter``, which turns off Lightning's prefetch). What the seed trainer does per finished
episode happens at the vector step the episode finished on: the metrics stream, the best-agent
snapshot, the ``ep_return``/``ep_length`` callback and the periodic checkpoint. Per-episode logging goes
straight to the ``call_back`` logger, bypassing ``self.log``'s per-call machinery.

How Lightning's concepts map onto a run (the README's table says the same):

- **epoch**: ``steps_per_epoch`` env steps, rounded up to whole segments (the dataset's ``len``); epoch-end
  callbacks, validation, LR schedulers and ``on_epoch`` metrics follow it.
- **training metrics**: ``train/ep_return`` (mean), ``train/ep_return_min``, ``train/ep_return_max``,
  ``train/ep_length``, ``train/episodes``, ``train/env_steps``, ``train/env_steps_per_s`` through ``self.log``
  after each epoch's last segment (an epoch cut short by a stop included), aggregated over the episodes that
  finished in it (:mod:`rl_lightning.train_metrics`).
- **validation / test**: greedy episodes on a separate evaluation env (``val_episodes`` of them, sub-env ``i``
  reset with ``val_seed + i``; test with ``val_seed + 1_000_000 + i``), logged as ``val/ep_return`` (mean),
  ``val/ep_return_std``, ``val/ep_length`` and ``test/...``. Global RNGs are put back afterwards, so a run with
  validation collects exactly what it would collect without.
- **global_step**: a Lightning-native agent's optimizer steps; a seed-protocol agent (whose optimizers Lightning
  cannot see) advances it once per segment, so ``max_steps`` and ``ModelCheckpoint`` schedules count segments.
- **stop**: the module stops the fit itself when the budget is spent (``trainer.should_stop``), so a run ends at
  its budget with ``max_epochs=-1``; any other stop (``max_time``, ``max_steps``, ``max_epochs``, callbacks) ends
  between segments and the run continues from ``fit(..., ckpt_path="last")``.
"""

from __future__ import annotations

import math
import os
import warnings
from time import perf_counter
from typing import Any, Callable, Iterator, Optional, Union

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader

from rl_lightning.data.envs import EnvLike, as_vector_env
from rl_lightning.data.rollout import RolloutDataset, Segment
from rl_lightning.direct_steps import count_optimizer_step, lightning_step_machinery_idle
from rl_lightning.greedy_evaluation import EVAL_METRICS, GreedyEvaluation
from rl_lightning.loggers.empty import EmptyCallBack
from rl_lightning.loggers.fanout import as_call_back
from rl_lightning.protocol import check_agent, greedy_act
from rl_lightning.recorder import RunRecorder, RunState
from rl_lightning.resume import (CHECKPOINT_KEY, check_compatible, describe_agent, describe_env, load_hyperparameters,
                                 load_seed_agent, pack_entry, read_entry, rebuild_agent, rebuild_env, recorder_state,
                                 run_entry)
from rl_lightning.safe_pickle import modules_of
from rl_lightning.seeding import capture_global_rng, restore_global_rng
from rl_lightning.timing import TIMING_LOG_EVERY, StepTimer
from rl_lightning.train_metrics import TRAIN_METRICS, EpochTrainMetrics
from rl_lightning.validation import COMPAT_MODES, check_bool, check_budget, check_choice, check_int

# The rollout dataset's len() is its epoch length in segments, read in the main process (num_workers=0), where
# Lightning's warning about len() and several loader workers does not apply.
warnings.filterwarnings("ignore", message=r".*`IterableDataset` has `__len__` defined.*")

__all__ = ["AgentModule", "RunState", "DEFAULT_SEGMENT_STEPS", "DEFAULT_STEPS_PER_EPOCH", "default_segment_steps"]

#: Vector steps per ``training_step`` for agents that do not ask for another length (measured: ~0.9x a bare loop).
DEFAULT_SEGMENT_STEPS = 128
#: Env steps a default segment holds at least, up to :data:`MAX_DEFAULT_SEGMENT_STEPS` vector steps: Lightning's
#: fixed cost per ``training_step`` (~550 µs here) stays near 1% of a segment of a cheap env (512 vector steps of
#: 8 CartPole sub-envs take ~75 ms; 128 of them took ~19 ms, and the fixed cost was ~3% of the run).
DEFAULT_SEGMENT_ENV_STEPS = 4096
#: The most vector steps a default segment holds (1, 2 or 4 sub-envs), so a slow per-step agent still reaches
#: Lightning (progress bar, checkpoints, ``max_time``) every few seconds.
MAX_DEFAULT_SEGMENT_STEPS = 1024
#: Env steps per Lightning epoch when ``steps_per_epoch`` is not given (rounded up to whole segments): a 100k-step
#: run has about ten epochs, so epoch-end callbacks, validation and schedulers run several times in a run.
DEFAULT_STEPS_PER_EPOCH = 10_000
#: Added to ``val_seed`` for the test loop's sub-env seeds, so test episodes start elsewhere than validation's.
TEST_SEED_OFFSET = 1_000_000


def default_segment_steps(num_envs: int) -> int:
    """Vector steps per segment when neither the caller nor the agent says: ``4096 // num_envs``, kept between
    128 and 1024 (1024 for up to 4 sub-envs, 512 for 8, 128 from 32 on)."""
    per_env = DEFAULT_SEGMENT_ENV_STEPS // max(int(num_envs), 1)
    return max(DEFAULT_SEGMENT_STEPS, min(MAX_DEFAULT_SEGMENT_STEPS, per_env))


def _keep_as_is(item: Any) -> Any:
    # DataLoader(batch_size=None) would convert numpy arrays to tensors item by item; segments pass untouched.
    return item


class AgentModule(pl.LightningModule):
    """Wraps a seed-protocol agent (a plain object with ``act``/``update``/...) as a LightningModule.

    Args:
        agent: the agent, or a factory ``agent(env)`` called with the vector env.
        env: a vector env, a plain ``gymnasium.Env`` (wrapped into a one-sub-env ``SyncVectorEnv``), or a
            zero-argument factory of either.
        total_steps: step budget, env steps summed over sub-envs (step mode).
        num_episodes: episode budget across sub-envs (episode mode). Exactly one of the two is positive.
        seed: the run's seed (``agent.reset(seed)``; sub-env ``i`` resets with ``seed + i``).
        run_idx: 1-based run index, used in tags (``ep_return/run_{run_idx}``) and file names.
        train: ``True`` trains (``reset``, ``train()``, ``update`` every vector step); ``False`` acts greedily
            without updates (``eval()`` only; see ``compat``).
        call_back: the seed-style logger called as ``call_back(dict, tag, counter, force=...)``;
            ``EmptyCallBack`` when ``None``. The module does not close it: its owner does.
        exp_dir: folder for the metrics stream and agent files; needed by ``dump_metrics`` and
            ``checkpoint_freq``.
        dump_metrics: stream episode dicts to ``exp_dir/metrics_run{run_idx}.pkl``.
        checkpoint_freq: ``None`` writes no agent files; otherwise ``Run{r}_Last_agent.t`` and
            ``Run{r}_Best_agent.t`` at the end, and, when positive, ``Run{r}_E{n}_agent.t`` every
            ``checkpoint_freq`` episodes (episode mode) or env steps (step mode).
        dump_transitions: keep every step's ``(obs, action, reward, terminated, truncated)`` per episode.
        metrics_dump_every: episodes per chunk of the metrics stream.
        keep_metrics_in_memory: keep every episode dict in :attr:`episodes`.
        tuning_hp: passed to ``agent.set_hp`` before ``reset`` when not ``None``.
        compat: ``"default"`` or ``"rlbase"`` (the origin trainer's behaviour: reset steps counted into the
            next episode, ``update`` called also with ``train=False``).
        segment_steps: vector steps collected per ``training_step``; default: the agent's own
            ``segment_steps`` attribute when it has one (a native agent's rollout length), else
            :func:`default_segment_steps` (``4096 // num_envs``, kept between 128 and 1024).
        check_rewards: raise ``ValueError`` when the env pays a NaN or infinite reward; by default such rewards
            are recorded and logged as they are.
        record_actions: keep every action in its episode dict's ``actions`` list. ``None`` (default): when
            someone reads the episode dicts, i.e. with ``dump_metrics`` or ``keep_metrics_in_memory``; a run that
            keeps neither leaves ``actions`` empty and saves the per-step copying. Pass ``True`` where a subclass
            reads the actions of :attr:`Segment.episodes <rl_lightning.data.rollout.Segment>` itself.
        steps_per_epoch: env steps (summed over sub-envs and DDP ranks) per Lightning epoch, rounded up to whole
            segments; default :data:`DEFAULT_STEPS_PER_EPOCH`. Epoch-end callbacks, validation and schedulers
            run at each epoch's end.
        val_episodes: greedy episodes (across the evaluation env's sub-envs) per validation or test.
        val_env: the evaluation env (or a factory of it), with as many sub-envs as ``env``; default: the env factory
            called again, or a copy of an env instance. Built when a validation or test first runs.
        val_seed: validation resets evaluation sub-env ``i`` with ``val_seed + i`` every time (test: ``val_seed +
            1_000_000 + i``); default ``seed + 1_000_000``.
        trust_checkpoint: read the run state of a checkpoint this module loads with Python's plain unpickler. By
            default it is read without running code (:mod:`rl_lightning.safe_pickle`): only plain data, numpy,
            torch tensors, gymnasium's classes and the classes of this module's own env and agent.

    ``env=None`` takes the envs from the datamodule the module is fitted with
    (``trainer.fit(module, datamodule=EnvDataModule(...))``); the agent factory is then called in ``setup``.
    """

    def __init__(
        self,
        agent: Any,
        env: Optional[EnvLike] = None,
        *,
        total_steps: int = 0,
        num_episodes: int = 0,
        seed: int = 0,
        run_idx: int = 1,
        train: bool = True,
        call_back: Optional[Callable] = None,
        exp_dir: Optional[Union[str, os.PathLike]] = None,
        dump_metrics: bool = False,
        checkpoint_freq: Optional[int] = None,
        dump_transitions: bool = False,
        metrics_dump_every: int = 50,
        keep_metrics_in_memory: bool = False,
        tuning_hp: Any = None,
        compat: str = "default",
        segment_steps: Optional[int] = None,
        check_rewards: bool = False,
        record_actions: Optional[bool] = None,
        steps_per_epoch: Optional[int] = None,
        val_episodes: int = 5,
        val_env: Optional[EnvLike] = None,
        val_seed: Optional[int] = None,
        trust_checkpoint: bool = False,
    ):
        super().__init__()
        check_budget(num_episodes, total_steps)
        check_choice("compat", compat, COMPAT_MODES)
        check_int("seed", seed, minimum=0)
        check_int("run_idx", run_idx, minimum=1)
        check_int("metrics_dump_every", metrics_dump_every, minimum=1)
        if checkpoint_freq is not None:
            check_int("checkpoint_freq", checkpoint_freq, minimum=0)
        if record_actions is not None and not isinstance(record_actions, bool):
            raise TypeError(f"record_actions must be True, False or None (record them when the episode dicts are "
                            f"dumped or kept), got {record_actions!r} ({type(record_actions).__name__}).")
        if segment_steps is not None:
            check_int("segment_steps", segment_steps, minimum=1)
        if steps_per_epoch is not None:
            check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        check_int("val_episodes", val_episodes, minimum=1)
        check_bool("trust_checkpoint", trust_checkpoint)
        if val_seed is not None:
            check_int("val_seed", val_seed, minimum=0)
        if val_env is not None and not callable(val_env):
            as_vector_env(val_env)  # refuse what is neither an env nor a factory now, not at the first validation
        if record_actions is None:
            record_actions = bool(dump_metrics or keep_metrics_in_memory)
        if (dump_metrics or checkpoint_freq is not None) and exp_dir is None:
            raise ValueError("dump_metrics=True and checkpoint_freq need exp_dir; pass exp_dir='runs/exp1'.")
        self.automatic_optimization = False
        self.seed = seed
        self.run_idx = run_idx
        self.train_agent = train
        self.compat = compat
        self.total_steps = total_steps
        self.num_episodes = num_episodes
        self.tuning_hp = tuning_hp
        self.exp_dir = None if exp_dir is None else os.fspath(exp_dir)
        self.steps_per_epoch = DEFAULT_STEPS_PER_EPOCH if steps_per_epoch is None else steps_per_epoch
        self.val_episodes = val_episodes
        self.trust_checkpoint = trust_checkpoint
        self.val_seed = seed + TEST_SEED_OFFSET if val_seed is None else val_seed
        self.calls_update = train or compat == "rlbase"
        self._rollout_options = dict(total_steps=total_steps, num_episodes=num_episodes, seed=seed,
                                     segment_steps=segment_steps, dump_transitions=dump_transitions,
                                     record_actions=record_actions, check_rewards=check_rewards)
        # object.__setattr__: an agent instance that is an nn.Module must not be registered twice (as a submodule here
        # and as self.agent), or checkpoints would hold its weights under two names.
        object.__setattr__(self, "_make_agent", agent)
        self._env_source = env
        self._env_from_datamodule = False
        #: The validation and test loops' greedy episodes and their evaluation env.
        self.evaluation = GreedyEvaluation(val_episodes, val_env)
        self._own_call_back = call_back
        #: The callable every seed-style log call goes through: ``call_back`` plus the Trainer's loggers.
        self.call_back = as_call_back(call_back, [])
        #: The run's episode records and the seed's files (metrics stream, best snapshot, agent files).
        self.recorder = RunRecorder(run_idx, exp_dir=self.exp_dir, dump_metrics=dump_metrics,
                                    keep_in_memory=keep_metrics_in_memory, checkpoint_freq=checkpoint_freq,
                                    metrics_dump_every=metrics_dump_every, episode_mode=num_episodes > 0)
        self.timer = StepTimer()
        self._times_steps = True
        self._add_act_time = self.timer.act.times.append  # called every vector step: no method of ours in between
        self._add_update_time = self.timer.update.times.append
        self._resumed = False
        self._train_started = False  # on_train_start ran in this fit
        self._run_ended = False  # end_run() done
        self._world_size = 1
        self._global_episodes = 0
        self._segment_start = perf_counter()
        #: The ``train/`` metrics of the current epoch, logged at its end.
        self.train_metrics = EpochTrainMetrics()
        # Which checkpoint is being written: "last" (the whole state) or "best" (the best episode's agent).
        self.checkpoint_kind = "last"
        #: Whether this fit's gradient steps skip Lightning's backward/optimizer wrappers because they would do
        #: nothing but count (set at train start; see :mod:`rl_lightning.direct_steps`).
        self.direct_gradient_steps = False
        self._agent_tag = f"agents/run_{run_idx}"
        self._timing_tag = f"timing/run_{run_idx}"
        self.rollout: Optional[RolloutDataset] = None
        if env is not None:
            self._build(env)

    def _build(self, env: EnvLike) -> None:
        """Build the vector env, the agent (calling the agent factory with the env) and the rollout dataset."""
        opts = self._rollout_options
        vector_env = as_vector_env(env() if callable(env) else env)
        agent = self._make_agent(vector_env) if callable(self._make_agent) else self._make_agent
        check_agent(agent, train=self.train_agent, tuning_hp=self.tuning_hp, calls_update=self.calls_update)
        segment_steps = opts["segment_steps"]
        if segment_steps is None:
            segment_steps = int(getattr(agent, "segment_steps", default_segment_steps(vector_env.num_envs)))
        check_int("segment_steps", segment_steps, minimum=1)
        self._use_agent(agent)
        self.rollout = RolloutDataset(
            vector_env, seed=opts["seed"], total_steps=opts["total_steps"], num_episodes=opts["num_episodes"],
            segment_steps=segment_steps, record_transitions=opts["dump_transitions"],
            record_actions=opts["record_actions"], count_reset_steps=self.compat == "rlbase",
        )
        self.rollout.attach(self)
        self.rollout.check_rewards = opts["check_rewards"]
        self.rollout.context = f"run {self.run_idx}"
        self._set_epoch_length(1)
        if not self.hparams:
            # What load_from_checkpoint(path) needs to rebuild the module alone: plain data only, where the env and
            # agent can be described (a registered env built by gymnasium.make_vec; a built-in agent class).
            self.save_hyperparameters({
                "env": describe_env(vector_env), "agent": describe_agent(agent),
                "total_steps": opts["total_steps"], "num_episodes": opts["num_episodes"], "seed": self.seed,
                "run_idx": self.run_idx, "train": self.train_agent, "compat": self.compat,
                "segment_steps": opts["segment_steps"], "steps_per_epoch": self.steps_per_epoch,
                "val_episodes": self.val_episodes, "val_seed": self.val_seed,
            })

    def _use_agent(self, agent: Any) -> None:
        if isinstance(agent, torch.nn.Module):
            # A Lightning-native agent: registered, so precision, DDP and checkpoints see its parameters.
            self.agent = agent
        else:
            # A plain object, kept out of nn.Module's registry: Lightning must not move it or call its train().
            object.__setattr__(self, "agent", agent)
        self._act = agent.act
        self._agent_log = getattr(agent, "log", None)

    @property
    def episodes(self) -> Optional[list]:
        """Every episode dict of the run, when ``keep_metrics_in_memory``; else ``None``."""
        return self.recorder.episodes

    @property
    def state(self) -> RunState:
        """What the run recorded so far: best snapshot, last return, checkpoint counter, unwritten episodes."""
        return self.recorder.state

    def _set_epoch_length(self, world_size: int) -> None:
        per_segment = self.rollout.segment_steps * self.rollout.num_envs * world_size
        self.rollout.segments_per_epoch = max(1, -(-self.steps_per_epoch // per_segment))

    @property
    def env(self) -> Any:
        """The vector env the rollout steps (replaced by the saved one when a checkpoint is loaded); ``None`` before
        a datamodule provided it."""
        return None if self.rollout is None else self.rollout.env

    # ------------------------------------------------------------------ Lightning hooks
    def configure_callbacks(self) -> list:
        """No callbacks of its own; refuses Trainer options that cannot apply to an agent before the fit starts
        (Lightning calls this before its own checks, so the message can say what to do instead)."""
        trainer = self._trainer
        if trainer is not None and trainer.gradient_clip_val:
            raise ValueError(
                f"Trainer(gradient_clip_val={trainer.gradient_clip_val!r}) clips gradients only under Lightning's "
                "automatic optimization, and an AgentModule's agent steps its own optimizers. Clip inside the agent: "
                "the built-in agents' max_grad_norm hyperparameter, or LightningAgent.gradient_step(optimizer, loss, "
                "max_grad_norm=...) (which clips through Lightning's clip_gradients) in your own agent's update."
            )
        return []

    def setup(self, stage: str) -> None:
        """Build the envs and agent from the datamodule when none were given; give the rollout this process's rank
        (ranks reset with different seeds and collect different data); check what DDP needs."""
        trainer = self.trainer
        datamodule = trainer.datamodule
        source = getattr(datamodule, "train_env", None)
        if self.rollout is None:
            if source is None:
                raise ValueError(
                    "AgentModule(agent, env=None) takes its env from the datamodule, but this fit has "
                    f"{'no datamodule' if datamodule is None else type(datamodule).__name__ + ' without train_env'}; "
                    "pass AgentModule(agent, env) or trainer.fit(module, datamodule=EnvDataModule(make_env)).")
            self._env_source = source
            self._env_from_datamodule = True
            self._build(source)
            if self.evaluation.val_env is None:
                self.evaluation.val_env = getattr(datamodule, "val_env", None)
        elif source is not None and not self._env_from_datamodule:
            raise ValueError(
                f"the env is given twice: to AgentModule and by the datamodule {type(datamodule).__name__}; pass "
                "AgentModule(agent) (env=None) to take the datamodule's env, or fit without the datamodule.")
        world_size = trainer.world_size
        if world_size > 1:
            self._check_ddp_agent(world_size)
        self._world_size = world_size
        self.rollout.global_rank = self.global_rank
        self.rollout.world_size = world_size
        self._set_epoch_length(world_size)
        if world_size > 1 and self.global_rank != 0:
            # Only rank 0 writes logs, metrics and agent files.
            self.call_back = EmptyCallBack()
            self.recorder.stop_writing()
        if stage in ("validate", "test") or (stage == "fit" and self._validates_in_fit()):
            self.evaluation.build(self._env_source, self.rollout.env)  # an impossible one is refused before any work

    def _check_ddp_agent(self, world_size: int) -> None:
        agent = self.agent
        if not isinstance(agent, torch.nn.Module):
            raise TypeError(
                f"agent {type(agent).__name__!r} is a plain seed-protocol agent, whose optimizers Lightning "
                f"cannot see: under DDP (world_size={world_size}) its copies on each rank would drift apart. Use a "
                "Lightning-native agent (a torch.nn.Module such as rl_lightning.agents.PPO), or one device."
            )
        if not getattr(agent, "lockstep_updates", False):
            raise TypeError(
                f"under DDP (world_size={world_size}) every rank must take the same gradient steps in the same order, "
                f"or the ranks' gradient all-reduces stop matching and the run hangs; {type(agent).__name__} does not "
                "declare that its updates happen in lockstep. If its gradient steps depend only on the count of "
                "vector steps (every n steps, as the built-in agents'), set the class attribute "
                "lockstep_updates = True. "
                "An agent that learns when its own episodes end (e.g. REINFORCE) cannot run under DDP: use one "
                "device, or learn on a fixed schedule of vector steps."
            )

    def _validates_in_fit(self) -> bool:
        trainer = self.trainer
        return bool(trainer.limit_val_batches) and trainer.check_val_every_n_epoch is not None

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.rollout, batch_size=None, collate_fn=_keep_as_is, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        """One item per validation: the greedy episodes are played in ``validation_step``."""
        return DataLoader([0], batch_size=None, collate_fn=_keep_as_is, num_workers=0)

    def test_dataloader(self) -> DataLoader:
        """One item per test: the greedy episodes are played in ``test_step``."""
        return DataLoader([0], batch_size=None, collate_fn=_keep_as_is, num_workers=0)

    def configure_optimizers(self) -> Any:
        """A Lightning-native agent's optimizers (and LR schedulers, in any form Lightning accepts); a plain
        seed-protocol agent owns its own, so ``None``."""
        configure = getattr(self.agent, "configure_optimizers", None)
        if isinstance(self.agent, torch.nn.Module) and callable(configure):
            return configure()
        return None

    def on_train_start(self) -> None:
        """The seed trainer's run start: ``set_hp``, ``call_back.reset``, ``reset``/``train`` or ``eval``,
        ``set_num_env``. The env is reset with its seeds when the first segment is collected.

        A run resumed from a checkpoint skips ``set_hp``, ``call_back.reset`` and ``reset``: its agent was
        restored as it was."""
        self._train_started = True
        agent = self.agent
        self._agent_log = getattr(agent, "log", None)  # the agent a checkpoint restored may be a new object
        self.direct_gradient_steps = lightning_step_machinery_idle(self.trainer, self)
        attach = getattr(agent, "attach_module", None)
        if callable(attach):
            attach(self)  # a Lightning-native agent learns through self.manual_backward and self.optimizers()
        if self._world_size == 1 or self.global_rank == 0:
            self.call_back = as_call_back(self._own_call_back, self.trainer.loggers)
        # The act/update timers feed only the ``timing/run_{i}`` logs; a run whose log calls all go nowhere skips them.
        self._times_steps = type(self.call_back) is not EmptyCallBack
        if not self._resumed:
            self.recorder.start()
            if self.tuning_hp is not None:
                agent.set_hp(self.tuning_hp)
            self.call_back.reset()
            self._send_hyperparams()
        if self.train_agent:
            if not self._resumed:
                agent.reset(self.seed)
            if callable(getattr(agent, "train", None)):
                agent.train()
            self._act = agent.act
        else:
            if callable(getattr(agent, "eval", None)):
                agent.eval()
            self._act = agent.act if self.compat == "rlbase" else greedy_act(agent)
        num_envs = self.rollout.num_envs
        if not self._resumed or getattr(agent, "num_envs", None) != num_envs:
            # A restored agent keeps its per-sub-env state (e.g. which sub-env is on its reset step).
            agent.set_num_env(num_envs)
        self._check_epoch_limit()
        self._segment_start = perf_counter()

    def _check_epoch_limit(self) -> None:
        """Warn when ``max_epochs`` would stop a step-budget run before its budget (Lightning's default is 1000)."""
        max_epochs = self.trainer.max_epochs
        if self.total_steps <= 0 or max_epochs is None or max_epochs < 0:
            return
        per_epoch = self.rollout.segments_per_epoch * self.rollout.segment_steps * self.rollout.num_envs * \
            self._world_size
        if max_epochs * per_epoch < self.total_steps:
            rank_zero_warn(
                f"Trainer(max_epochs={max_epochs}) stops this run after about {max_epochs * per_epoch:,} env steps, "
                f"before its budget of total_steps={self.total_steps:,} ({per_epoch:,} env steps per epoch). Pass "
                "Trainer(max_epochs=-1) to train to the budget; a stopped run continues with fit(..., "
                "ckpt_path='last').")

    def _send_hyperparams(self) -> None:
        """The run's seed and index, ``tuning_hp`` and the agent's own hyperparameters, to every logger."""
        log = getattr(self.call_back, "log_hyperparams", None)
        if not callable(log):
            return
        params: dict = {"seed": self.seed, "run_idx": self.run_idx}
        if self.tuning_hp is not None:
            params["tuning_hp"] = self.tuning_hp
        agent_hp = getattr(self.agent, "params", None) or getattr(self.agent, "hp", None)
        to_dict = getattr(agent_hp, "to_dict", None)
        if callable(to_dict):
            agent_hp = to_dict()
        if isinstance(agent_hp, dict):
            params["agent"] = agent_hp
        log(params)

    def training_step(self, dataloader_iter: Iterator) -> None:
        """Collect one segment (acting and learning at every vector step), log its episodes, and stop at the
        budget."""
        try:
            segment, _, _ = next(dataloader_iter)
        except StopIteration:
            self.trainer.should_stop = True
            return None
        self.on_segment(segment)
        budget_reached = segment.budget_reached
        episodes = segment.episodes
        if self._world_size > 1:
            episodes, budget_reached = self._gather_segment(segment)
        self._log_segment(segment, episodes)
        if not isinstance(self.agent, torch.nn.Module):
            self.count_optimizer_step()  # a seed-protocol agent's segment is one step
        self._step_lr_schedulers("step")
        if budget_reached:
            self.trainer.should_stop = True
            self.end_run()
        return None

    def _log_segment(self, segment: Segment, episodes: list) -> None:
        """Add the segment's training metrics to the epoch's (logged at the epoch's end)."""
        now = perf_counter()
        elapsed, self._segment_start = now - self._segment_start, now
        rate = segment.vector_steps * self.rollout.num_envs * self._world_size / elapsed if elapsed > 0 else math.nan
        self.train_metrics.add_segment(self.rollout.env_steps * self._world_size, rate,
                                       (float(e["ep_return"]) for e in episodes),
                                       (float(e["ep_length"]) for e in episodes))

    def count_optimizer_step(self) -> None:
        """Count one optimizer step Lightning cannot see, so ``global_step``, ``max_steps`` and
        ``ModelCheckpoint``'s schedules advance: a seed-protocol agent's segment, or a built-in agent's gradient step
        on the direct path (``direct_gradient_steps``, see :mod:`rl_lightning.direct_steps`)."""
        count_optimizer_step(self.trainer)

    def _step_lr_schedulers(self, interval: str) -> None:
        """Step the agent's LR schedulers of this ``interval`` (Lightning steps none under manual optimization):
        ``"step"`` ones after every segment, ``"epoch"`` ones at epoch ends, each every ``frequency`` of them."""
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return
        count = self.trainer.current_epoch + 1 if interval == "epoch" else \
            self.trainer.fit_loop.epoch_loop.total_batch_idx + 1
        for config in configs:
            if config.interval != interval or count % config.frequency:
                continue
            if config.reduce_on_plateau:
                value = self.trainer.callback_metrics.get(config.monitor)
                if value is None:
                    if config.strict:
                        raise ValueError(
                            f"the LR scheduler monitors {config.monitor!r}, which no part of the run logged; logged: "
                            f"{sorted(self.trainer.callback_metrics)}.")
                    continue
                config.scheduler.step(value)
            else:
                config.scheduler.step()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Log the epoch's training metrics after its last segment (the last batch, a stop, ``max_steps``), so that
        every callback's ``on_train_epoch_end`` sees them, as if each segment had logged its own."""
        trainer = self.trainer
        if trainer.should_stop or batch_idx + 1 >= trainer.num_training_batches \
                or 0 <= trainer.max_steps <= trainer.global_step:
            self._log_epoch_metrics()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics()  # an epoch that ended in a way the last batch could not tell
        self._step_lr_schedulers("epoch")

    def _log_epoch_metrics(self) -> None:
        for name, value in self.train_metrics.values().items():
            self.log(name, value, on_step=False, on_epoch=True, batch_size=1)
        self.train_metrics.reset()

    def on_fit_end(self) -> None:
        """A fit resumed from a checkpoint in which Lightning ran no training (e.g. ``max_epochs`` already reached)
        still writes the episodes the checkpoint held unwritten, and says why nothing was trained."""
        if self._resumed and not self._train_started and self.rollout is not None:
            self.flush_metrics()
            if not self.rollout.budget_reached:
                rank_zero_warn(
                    f"the fit resumed at {self.rollout.env_steps * self._world_size:,} env steps but Lightning trained "
                    f"nothing (current_epoch={self.trainer.current_epoch}, max_epochs={self.trainer.max_epochs}, "
                    f"global_step={self.trainer.global_step}, max_steps={self.trainer.max_steps}): the limit that "
                    "stopped the run is still reached. Raise it (e.g. Trainer(max_epochs=-1)) and fit again with "
                    "ckpt_path='last'.")

    # ------------------------------------------------------------------ validation and test: greedy episodes
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """``val_episodes`` greedy episodes on the evaluation env, logged as ``val/ep_return`` and friends."""
        if self.trainer.sanity_checking:
            return None  # the agent is not reset yet, and sanity checks must not move the run's generators
        self._evaluate("val", self.val_seed)
        return None

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """``val_episodes`` greedy episodes on the evaluation env with the test seeds, logged as ``test/...``."""
        self._evaluate("test", self.val_seed + TEST_SEED_OFFSET)
        return None

    def on_validation_model_eval(self) -> None:
        """Leave the module's mode alone: the evaluation switches the agent to greedy acting and back itself."""

    def on_validation_model_train(self) -> None:
        """Leave the module's mode alone (an agent trained with ``train=False`` stays in ``eval``)."""

    def on_test_model_eval(self) -> None:
        """As :meth:`on_validation_model_eval`."""

    def on_test_model_train(self) -> None:
        """As :meth:`on_validation_model_train`."""

    def _evaluate(self, prefix: str, seed: int) -> dict:
        """Play the greedy episodes (see :mod:`rl_lightning.greedy_evaluation`); log and return the metrics."""
        self.evaluation.build(self._env_source, self.rollout.env)
        values, count = self.evaluation.play(self.agent, seed, self.train_agent)
        metrics = {f"{prefix}/{name}": value for name, value in values.items()}
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=count, sync_dist=self._world_size > 1)
        return metrics

    def teardown(self, stage: str) -> None:
        self.evaluation.close()

    # ------------------------------------------------------------------ DDP: every rank steps its own envs
    def _gather_segment(self, segment: Segment) -> tuple:
        """Every rank's finished episodes (each tagged with its ``rank``) and whether any rank spent the budget.

        Every rank records the gathered episodes in rank order, numbering ``episode_index`` across ranks (rank 0
        alone writes them); under DDP an episode budget is checked once per segment, on the sum over ranks.
        """
        import torch.distributed as dist

        for episode in segment.episodes:
            episode["rank"] = self.global_rank
        gathered: list = [None] * self._world_size
        dist.all_gather_object(gathered, (segment.episodes, segment.budget_reached, self.trainer.global_step))
        steps = [step for _, _, step in gathered]
        if len(set(steps)) > 1:
            raise RuntimeError(
                f"under DDP the ranks took different numbers of optimizer steps by the end of this segment (rank: "
                f"global_step {dict(enumerate(steps))}): their gradient all-reduces no longer match. "
                f"{type(self.agent).__name__} declares lockstep_updates = True, but its gradient steps depend on "
                "something other than the count of vector steps (e.g. its own episodes); run it on one device.")
        episodes = [episode for rank_episodes, _, _ in gathered for episode in rank_episodes]
        self._global_episodes += len(episodes)
        budget_reached = any(done for _, done, _ in gathered)
        if self.num_episodes > 0:
            budget_reached = budget_reached or self._global_episodes >= self.num_episodes
        # Every rank records the same gathered episodes (only rank 0 writes files and logs), so every rank takes the
        # same decisions from them, e.g. BestReturnCheckpoint's, whose save is a collective.
        first = self._global_episodes - len(episodes)
        for k, episode in enumerate(episodes, start=first + 1):
            episode["episode_index"] = k
            self.recorder.record(episode, self.rollout.env_steps * self._world_size, self.agent, self.call_back)
        return episodes, budget_reached

    def on_segment(self, segment: Segment) -> None:
        """Called once per collected segment; subclasses learn from it here (the base agent learns per step)."""

    def flush_metrics(self) -> None:
        """Write the finished episodes not yet in the metrics stream (a chunk shorter than
        ``metrics_dump_every``); the seed trainer does this at the end of a run."""
        self.recorder.flush()

    def end_run(self) -> None:
        """The seed trainer's end of a run, once: flush the metrics stream, close the env, then write the Last and
        Best agent files (where ``checkpoint_freq`` is set).

        Called in the ``training_step`` that spends the budget, so the run's files are complete before a
        checkpoint can call the run finished (Lightning's callbacks, which save ``last.ckpt``, run before this
        module's ``on_train_end``): a kill after that loses nothing. A run stopped otherwise (interrupted,
        ``max_time``) ends in ``on_train_end``.
        """
        if self._run_ended:
            return
        self._run_ended = True
        self.recorder.flush()
        self.env.close()
        self.recorder.write_agent_files(self.agent)

    def on_train_end(self) -> None:
        """:meth:`end_run`, unless the budget's last ``training_step`` already did it."""
        self.end_run()

    # ------------------------------------------------------------------ RolloutDriver: called per vector step
    def act(self, observation: Any) -> Any:
        if not self._times_steps:
            return self._act(observation)
        start = perf_counter()
        action = self._act(observation)
        self._add_act_time(perf_counter() - start)
        return action

    def observe(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                env_steps: int) -> Optional[list]:
        agent = self.agent
        timed = self._times_steps
        if self.calls_update:
            start = perf_counter() if timed else 0.0
            agent.update(next_observation, reward, terminated, truncated, call_back=self._agent_call_back)
            if timed:
                self._add_update_time(perf_counter() - start)
        num_envs = self.rollout.num_envs
        if timed and env_steps % TIMING_LOG_EVERY < num_envs:
            timing = self.timer.summary(num_envs)
            if timing is not None:
                self.call_back(timing, self._timing_tag, env_steps, force=True)
        log = self._agent_log
        return log() if log is not None else None

    def _agent_call_back(self, data: dict) -> None:
        self.call_back(data, self._agent_tag, self.rollout.env_steps * self._world_size)

    @property
    def on_vector_step(self) -> Optional[Callable[[int], None]]:
        """The rollout's per-vector-step call: counting env steps towards the periodic agent files of step mode;
        ``None`` (nothing per step) otherwise."""
        return self._count_checkpoint_steps if self.recorder.counts_steps else None

    def _count_checkpoint_steps(self, env_steps: int) -> None:
        self.recorder.count_steps(self.rollout.num_envs, env_steps, self.agent)

    def on_episode_end(self, episode: dict, sub_env: int) -> None:
        """The seed trainer's per-episode work, in its order, at the vector step the episode finished on.

        Under DDP the episodes of all ranks are recorded by rank 0 at the end of the segment instead.
        """
        if self._world_size == 1:
            self.recorder.record(episode, self.rollout.env_steps, self.agent, self.call_back)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the run's whole state under ``checkpoint["rl_lightning"]``; see :mod:`rl_lightning.resume`.

        With ``checkpoint_kind == "best"`` (set by ``BestReturnCheckpoint`` while it writes) the file holds the
        agent of the best episode so far and no resume state."""
        state = self.state
        best = self.checkpoint_kind == "best"
        run = {"seed": self.seed, "run_idx": self.run_idx, "total_steps": self.total_steps,
               "num_episodes": self.num_episodes, "compat": self.compat, "train": self.train_agent}
        entry = run_entry(self.checkpoint_kind, self.agent, self.env, run, finished=self.rollout.budget_reached,
                          saved_agent=state.best_agent if best else self.agent.save(),
                          best_weights=state.best_weights if best else None, best_return=state.best_return)
        if not best:
            entry.update(recorder=self.recorder.state_dict(), rollout=self.rollout.state_dict(),
                         rng=capture_global_rng(), train_metrics=self.train_metrics.state_dict())
        checkpoint[CHECKPOINT_KEY] = pack_entry(entry)
        if best and state.best_weights is not None:
            # A best checkpoint's weights are those of the best episode, not the current ones.
            checkpoint["state_dict"].update({f"agent.{k}": v for k, v in self.state.best_weights.items()})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the run saved by :meth:`on_save_checkpoint`: agent, env, trackers, counters, RNGs when fitting;
        only the agent otherwise (``validate``, ``test``, ``load_from_checkpoint``), which leaves the run's files
        as they are."""
        self._upgrade_agent_layout(checkpoint)
        saved = read_entry(checkpoint, modules_of(self.env, self.agent), self.trust_checkpoint)
        check_compatible(saved, self.agent, self.env)
        if not isinstance(self.agent, torch.nn.Module):
            # A Lightning-native agent's weights come with the checkpoint's state_dict; a seed agent is rebuilt.
            self._use_agent(load_seed_agent(type(self.agent), saved["agent"]))
        trainer = self._trainer
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return
        if saved["kind"] != "last":
            raise ValueError(f"this is a {saved['kind']!r} checkpoint, which holds an agent but no run state; resume "
                             "from last.ckpt, or load its agent with rl_lightning.resume.load_agent(path).")
        self.recorder.load_state_dict(recorder_state(saved), finished=saved["finished"])
        self.rollout.load_state_dict(saved["rollout"], trust=self.trust_checkpoint)
        restore_global_rng(saved["rng"])
        self.train_metrics.load_state_dict(saved.get("train_metrics", {}))
        self._resumed = True
        self._run_ended = False

    def _upgrade_agent_layout(self, checkpoint: dict) -> None:
        """A checkpoint of an earlier layout of the agent's networks rewritten in place (``agent.upgrade_saved``):
        its weights, and the optimizer states Lightning restores after this hook."""
        upgrade = getattr(self.agent, "upgrade_saved", None)
        if not isinstance(self.agent, torch.nn.Module) or not callable(upgrade):
            return
        weights = {key[len("agent."):]: value for key, value in checkpoint["state_dict"].items()
                   if key.startswith("agent.")}
        saved = {"state_dict": weights, "optimizers": checkpoint.get("optimizer_states", [])}
        upgraded = upgrade(saved)
        if upgraded is saved:
            return
        others = {key: value for key, value in checkpoint["state_dict"].items() if not key.startswith("agent.")}
        agent_weights = {f"agent.{key}": value for key, value in upgraded["state_dict"].items()}
        checkpoint["state_dict"] = {**others, **agent_weights}
        if "optimizer_states" in checkpoint:
            checkpoint["optimizer_states"] = upgraded["optimizers"]

    def on_fit_start(self) -> None:
        """Refuse a callback that monitors a name in this module's namespaces (``train/``, ``val/``) that the run
        never logs, listing the names it does log."""
        self._train_started = False
        validates = self._validates_in_fit()
        logged = TRAIN_METRICS + (tuple(f"val/{name}" for name in EVAL_METRICS) if validates else ())
        for callback in self.trainer.callbacks:
            monitor = getattr(callback, "monitor", None)
            if not isinstance(monitor, str) or monitor in logged or monitor.split("/", 1)[0] not in ("train", "val"):
                continue
            hint = " Validation is off in this fit (limit_val_batches=0 or check_val_every_n_epoch=None)." \
                if monitor.startswith("val/") and not validates else ""
            raise ValueError(f"{type(callback).__name__}(monitor={monitor!r}): no part of this run logs {monitor!r}."
                             f"{hint} The run logs: {', '.join(logged)}.")

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Union[str, os.PathLike], map_location: Any = None,
                             hparams_file: Any = None, strict: Optional[bool] = None, **kwargs: Any) -> "AgentModule":
        """Lightning's ``load_from_checkpoint``, needing nothing but the path where the checkpoint describes its env
        (a registered env built by ``gymnasium.make_vec``) and agent (a built-in agent, or a seed-protocol agent
        rebuilt by its class's ``load``). Pass ``agent=`` and ``env=`` for anything else; the message says so.

        The module comes back with the checkpoint's agent (weights, or the seed agent's ``save`` dict) and a fresh
        env; its run state (counters, the env's state) is restored by ``trainer.fit(module, ckpt_path=path)``.
        """
        if "agent" not in kwargs or "env" not in kwargs:
            saved = load_hyperparameters(os.fspath(checkpoint_path))
            if "env" not in kwargs:
                kwargs["env"] = rebuild_env(saved.get("env"), os.fspath(checkpoint_path))
            if "agent" not in kwargs:
                kwargs["agent"] = rebuild_agent(saved.get("agent"), os.fspath(checkpoint_path))
        return super().load_from_checkpoint(checkpoint_path, map_location=map_location, hparams_file=hparams_file,
                                            strict=strict, **kwargs)
