"""``AgentModule``: a seed-protocol agent trained by a real Lightning ``Trainer``.

Each ``training_step`` pulls one :class:`~rl_lightning.data.rollout.Segment` from the
:class:`~rl_lightning.data.rollout.RolloutDataset`; pulling it is what collects it, so every vector step
runs act → env.step → update with the current agent and nothing is collected ahead (``training_step``
takes ``dataloader_iter``, which turns off Lightning's prefetch). What the seed trainer does per finished
episode happens at the vector step the episode finished on: the metrics stream, the best-agent
snapshot, the ``ep_return``/``ep_length`` callback and the periodic checkpoint. Per-episode logging goes
straight to the ``call_back`` logger, bypassing ``self.log``'s per-call machinery.

The module stops the fit itself when the budget is spent (``trainer.should_stop``), so
``lightning.pytorch.Trainer().fit(AgentModule(...))`` ends at the run's budget whatever ``max_epochs`` is.
"""

from __future__ import annotations

import os
from time import perf_counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from rl_lightning.data.envs import EnvLike, as_vector_env
from rl_lightning.data.rollout import RolloutDataset, Segment
from rl_lightning.loggers.empty import EmptyCallBack
from rl_lightning.loggers.fanout import as_call_back
from rl_lightning.metrics_stream import MetricsStreamWriter, metrics_stream_path
from rl_lightning.protocol import check_agent, greedy_act
from rl_lightning.resume import CHECKPOINT_KEY, pack_entry, restore_run, run_checkpoint
from rl_lightning.timing import TIMING_LOG_EVERY, StepTimer
from rl_lightning.validation import COMPAT_MODES, check_budget, check_choice, check_int

__all__ = ["AgentModule", "RunState", "DEFAULT_SEGMENT_STEPS", "default_segment_steps"]

#: Vector steps per ``training_step`` for agents that do not ask for another length (measured: ~0.9x a bare loop).
DEFAULT_SEGMENT_STEPS = 128
#: Env steps a default segment holds at least, up to :data:`MAX_DEFAULT_SEGMENT_STEPS` vector steps: Lightning's
#: fixed cost per ``training_step`` (~550 µs here) stays near 1% of a segment of a cheap env (512 vector steps of
#: 8 CartPole sub-envs take ~75 ms; 128 of them took ~19 ms, and the fixed cost was ~3% of the run).
DEFAULT_SEGMENT_ENV_STEPS = 4096
#: The most vector steps a default segment holds (1, 2 or 4 sub-envs), so a slow per-step agent still reaches
#: Lightning (progress bar, checkpoints, ``max_time``) every few seconds.
MAX_DEFAULT_SEGMENT_STEPS = 1024


def default_segment_steps(num_envs: int) -> int:
    """Vector steps per segment when neither the caller nor the agent says: ``4096 // num_envs``, kept between
    128 and 1024 (1024 for up to 4 sub-envs, 512 for 8, 128 from 32 on)."""
    per_env = DEFAULT_SEGMENT_ENV_STEPS // max(int(num_envs), 1)
    return max(DEFAULT_SEGMENT_STEPS, min(MAX_DEFAULT_SEGMENT_STEPS, per_env))


@dataclass
class RunState:
    """What a run has recorded so far.

    Kept in a plain object because ``nn.Module.__setattr__`` costs microseconds per assignment, and these
    change at every vector step.

    Attributes:
        best_return: the highest episode return so far.
        best_agent: the ``agent.save()`` dict taken when that episode finished (ties: the later episode).
        last_return: the return of the last finished episode, ``None`` before the first.
        checkpoint_counter: episodes (episode mode) or env steps (step mode) since the last periodic file.
        pending: finished episodes not yet written to the metrics stream.
        best_weights: for a Lightning-native agent, its parameters and buffers at the best episode.
    """

    best_return: float = -np.inf
    best_agent: Optional[dict] = None
    last_return: Optional[float] = None
    checkpoint_counter: int = 0
    pending: list = field(default_factory=list)
    best_weights: Optional[dict] = None


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
    """

    def __init__(
        self,
        agent: Any,
        env: EnvLike,
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
        if record_actions is None:
            record_actions = bool(dump_metrics or keep_metrics_in_memory)
        if (dump_metrics or checkpoint_freq is not None) and exp_dir is None:
            raise ValueError("dump_metrics=True and checkpoint_freq need exp_dir; pass exp_dir='runs/exp1'.")
        self.automatic_optimization = False

        vector_env = as_vector_env(env() if callable(env) else env)
        agent = agent(vector_env) if callable(agent) else agent
        self.calls_update = train or compat == "rlbase"
        check_agent(agent, train=train, tuning_hp=tuning_hp, calls_update=self.calls_update)
        if segment_steps is None:
            segment_steps = int(getattr(agent, "segment_steps", default_segment_steps(vector_env.num_envs)))
        check_int("segment_steps", segment_steps, minimum=1)
        if isinstance(agent, torch.nn.Module):
            # A Lightning-native agent: registered, so precision, DDP and checkpoints see its parameters.
            self.agent = agent
        else:
            # A plain object, kept out of nn.Module's registry: Lightning must not move it or call its train().
            object.__setattr__(self, "agent", agent)
        self.rollout = RolloutDataset(
            vector_env, seed=seed, total_steps=total_steps, num_episodes=num_episodes,
            segment_steps=segment_steps, record_transitions=dump_transitions, record_actions=record_actions,
            count_reset_steps=compat == "rlbase",
        )
        self.rollout.attach(self)
        self.rollout.check_rewards = check_rewards
        self.rollout.context = f"run {run_idx}"
        self.seed = seed
        self.run_idx = run_idx
        self.train_agent = train
        self.compat = compat
        self.total_steps = total_steps
        self.num_episodes = num_episodes
        self.tuning_hp = tuning_hp
        self.exp_dir = None if exp_dir is None else os.fspath(exp_dir)
        self.checkpoint_freq = checkpoint_freq
        self.metrics_dump_every = metrics_dump_every
        self.keep_metrics_in_memory = keep_metrics_in_memory
        self._own_call_back = call_back
        #: The callable every seed-style log call goes through: ``call_back`` plus the Trainer's loggers.
        self.call_back = as_call_back(call_back, [])
        self._stream = MetricsStreamWriter(metrics_stream_path(self.exp_dir, run_idx)) if dump_metrics else None

        #: Every episode dict of the run, when ``keep_metrics_in_memory``; else ``None``.
        self.episodes: Optional[list] = [] if keep_metrics_in_memory else None
        #: What the run recorded so far: best snapshot, last return, checkpoint counter, unwritten episodes.
        self.state = RunState()
        self.timer = StepTimer()
        self._times_steps = True
        self._add_act_time = self.timer.act.times.append  # called every vector step: no method of ours in between
        self._add_update_time = self.timer.update.times.append
        self._resumed = False
        self._run_ended = False  # end_run() done
        self._world_size = 1
        self._global_episodes = 0
        # Which checkpoint is being written: "last" (the whole state) or "best" (the best episode's agent).
        self.checkpoint_kind = "last"
        self._act = agent.act
        self._agent_log = getattr(agent, "log", None)
        self._agent_tag = f"agents/run_{run_idx}"
        self._timing_tag = f"timing/run_{run_idx}"
        self._return_tag = f"ep_return/run_{run_idx}"
        self._length_tag = f"ep_length/run_{run_idx}"

    @property
    def env(self) -> Any:
        """The vector env the rollout steps (replaced by the saved one when a checkpoint is loaded)."""
        return self.rollout.env

    # ------------------------------------------------------------------ Lightning hooks
    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.rollout, batch_size=None, collate_fn=_keep_as_is, num_workers=0)

    def configure_optimizers(self) -> Any:
        """A Lightning-native agent's optimizers; a plain seed-protocol agent owns its own, so ``None``."""
        configure = getattr(self.agent, "configure_optimizers", None)
        if isinstance(self.agent, torch.nn.Module) and callable(configure):
            return configure()
        return None

    def on_train_start(self) -> None:
        """The seed trainer's run start: ``set_hp``, ``call_back.reset``, ``reset``/``train`` or ``eval``,
        ``set_num_env``. The env is reset with its seeds when the first segment is collected.

        A run resumed from a checkpoint skips ``set_hp``, ``call_back.reset`` and ``reset``: its agent was
        restored as it was."""
        agent = self.agent
        self._agent_log = getattr(agent, "log", None)  # the agent a checkpoint restored may be a new object
        attach = getattr(agent, "attach_module", None)
        if callable(attach):
            attach(self)  # a Lightning-native agent learns through self.manual_backward and self.optimizers()
        if self._world_size == 1 or self.global_rank == 0:
            self.call_back = as_call_back(self._own_call_back, self.trainer.loggers)
        # The act/update timers feed only the ``timing/run_{i}`` logs; a run whose log calls all go nowhere skips them.
        self._times_steps = type(self.call_back) is not EmptyCallBack
        if not self._resumed:
            if self._stream is not None:
                self._stream.remove_stale()
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
        """Collect one segment (acting and learning at every vector step) and stop at the budget."""
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
        if episodes:
            # The monitor of BestReturnCheckpoint, logged only when this segment holds the best return so far
            # (self.log costs about as much as a hundred env steps); per-episode values go through call_back.
            segment_best = max(e["ep_return"] for e in episodes)
            if segment_best >= self.state.best_return or self._world_size > 1:
                self.log("ep_return", segment_best, logger=False, on_step=True, on_epoch=False, batch_size=1)
        if budget_reached:
            self.trainer.should_stop = True
            self.end_run()
        return None

    # ------------------------------------------------------------------ DDP: every rank steps its own envs
    def setup(self, stage: str) -> None:
        """Give the rollout this process's rank, so ranks reset with different seeds and collect different data."""
        world_size = self.trainer.world_size if self._trainer is not None else 1
        if world_size > 1 and not isinstance(self.agent, torch.nn.Module):
            raise TypeError(
                f"agent {type(self.agent).__name__!r} is a plain seed-protocol agent, whose optimizers Lightning "
                f"cannot see: under DDP (world_size={world_size}) its copies on each rank would drift apart. Use a "
                "Lightning-native agent (a torch.nn.Module such as rl_lightning.agents.PPO), or one device."
            )
        self._world_size = world_size
        self.rollout.global_rank = self.global_rank
        self.rollout.world_size = world_size
        if world_size > 1 and self.global_rank != 0:
            # Only rank 0 writes logs, metrics and agent files.
            self.call_back = EmptyCallBack()
            self._stream = None
            self.checkpoint_freq = None

    def _gather_segment(self, segment: Segment) -> tuple:
        """Every rank's finished episodes (each tagged with its ``rank``) and whether any rank spent the budget.

        Rank 0 records the gathered episodes in rank order, numbering ``episode_index`` across ranks; under DDP
        an episode budget is checked once per segment, on the sum over ranks.
        """
        import torch.distributed as dist

        for episode in segment.episodes:
            episode["rank"] = self.global_rank
        gathered: list = [None] * self._world_size
        dist.all_gather_object(gathered, (segment.episodes, segment.budget_reached))
        episodes = [episode for rank_episodes, _ in gathered for episode in rank_episodes]
        self._global_episodes += len(episodes)
        budget_reached = any(done for _, done in gathered)
        if self.num_episodes > 0:
            budget_reached = budget_reached or self._global_episodes >= self.num_episodes
        if self.global_rank == 0:
            first = self._global_episodes - len(episodes)
            for k, episode in enumerate(episodes, start=first + 1):
                episode["episode_index"] = k
                self._record_episode(episode, self.rollout.env_steps * self._world_size)
        return episodes, budget_reached

    def on_segment(self, segment: Segment) -> None:
        """Called once per collected segment; subclasses learn from it here (the base agent learns per step)."""

    def flush_metrics(self) -> None:
        """Write the finished episodes not yet in the metrics stream (a chunk shorter than
        ``metrics_dump_every``); the seed trainer does this at the end of a run."""
        if self._stream is not None and self.state.pending:
            self._stream.append(self.state.pending)
            self.state.pending = []

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
        self.flush_metrics()
        self.env.close()
        if self.checkpoint_freq is not None:
            self.agent.save(os.path.join(self.exp_dir, f"Run{self.run_idx}_Last"))
            torch.save(self.state.best_agent, os.path.join(self.exp_dir, f"Run{self.run_idx}_Best_agent.t"))

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
        return self._count_checkpoint_steps if self.checkpoint_freq and self.total_steps > 0 else None

    def _count_checkpoint_steps(self, env_steps: int) -> None:
        self.state.checkpoint_counter += self.rollout.num_envs
        self._maybe_periodic_checkpoint(env_steps)

    def on_episode_end(self, episode: dict, sub_env: int) -> None:
        """The seed trainer's per-episode work, in its order, at the vector step the episode finished on.

        Under DDP the episodes of all ranks are recorded by rank 0 at the end of the segment instead.
        """
        if self._world_size == 1:
            counter = self.rollout.env_steps if self.total_steps > 0 else episode["episode_index"]
            self._record_episode(episode, counter)

    def _record_episode(self, episode: dict, counter: int) -> None:
        state = self.state
        if self._stream is not None:
            state.pending.append(episode)
            if len(state.pending) >= self.metrics_dump_every:
                self._stream.append(state.pending)
                state.pending = []
        if self.episodes is not None:
            self.episodes.append(episode)
        ep_return = episode["ep_return"]
        if ep_return >= state.best_return:
            state.best_return = ep_return
            state.best_agent = self.agent.save()
            if isinstance(self.agent, torch.nn.Module):
                state.best_weights = {k: v.detach().clone() for k, v in self.agent.state_dict().items()
                                      if not k.endswith("_extra_state")}
        if self.num_episodes > 0:
            counter = episode["episode_index"]
        self.call_back({"ep_return": ep_return}, self._return_tag, counter, force=True)
        self.call_back({"ep_length": episode["ep_length"]}, self._length_tag, counter, force=True)
        state.last_return = ep_return
        if self.num_episodes > 0:
            state.checkpoint_counter += 1
            self._maybe_periodic_checkpoint(episode["episode_index"])

    def _maybe_periodic_checkpoint(self, n: int) -> None:
        if self.checkpoint_freq and self.state.checkpoint_counter >= self.checkpoint_freq:
            self.agent.save(os.path.join(self.exp_dir, f"Run{self.run_idx}_E{n}"))
            self.state.checkpoint_counter = 0

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the run's whole state under ``checkpoint["rl_lightning"]``; see :mod:`rl_lightning.resume`."""
        checkpoint[CHECKPOINT_KEY] = pack_entry(run_checkpoint(self))
        if self.checkpoint_kind == "best" and self.state.best_weights is not None:
            # A best checkpoint's weights are those of the best episode, not the current ones.
            checkpoint["state_dict"].update({f"agent.{k}": v for k, v in self.state.best_weights.items()})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the run saved by :meth:`on_save_checkpoint`: agent, env, trackers, counters, RNGs."""
        restore_run(self, checkpoint)
        self._resumed = True
