"""Rollout segments: how vector-env steps reach ``training_step``.

Glossary (every count in rl_lightning says which of these it means):

- **vector step**: one ``env.step(actions)`` call on the vector env; it advances every sub-env once.
- **env step**: one sub-env's share of a vector step. A vector step of 8 sub-envs is 8 env steps;
  ``total_steps`` and every ``steps`` counter count env steps, summed over sub-envs.
- **reset step**: under gymnasium's next-step autoreset, the vector step right after a sub-env's episode
  ended, which that sub-env spends on resetting (action ignored, reward 0). It counts as env steps for
  the budget; by default it belongs to no episode (``compat="rlbase"`` counts it into the next one).
- **episode**: one sub-env's run from reset to ``terminated or truncated``; ``num_episodes`` counts
  episodes across all sub-envs.
- **segment**: ``segment_steps`` consecutive vector steps collected in one go; the last segment of a run
  is cut where the budget is reached.
- **Lightning step**: one ``training_step`` call; it consumes exactly one segment.
- **epoch**: ``segments_per_epoch`` segments (``AgentModule(steps_per_epoch=...)`` env steps, rounded up to whole
  segments); Lightning's epoch-end hooks, validation, schedulers and monitors run at its end. The run's budget
  may end an epoch early; a segment never spans two epochs' budgets.

Why segments: Lightning's fixed cost per ``training_step`` (~200 µs here) is larger than a whole vector
step of a cheap env, so one ``training_step`` per vector step would cap throughput at a third of a bare
loop. Inside a segment every vector step still runs act → env.step → update, in order, with the current
agent: the :class:`RolloutDriver` (the :class:`~rl_lightning.module.AgentModule`) is called back at each.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol

import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from torch.utils.data import IterableDataset

from rl_lightning.data.envs import autoreset_mode, check_actions, check_observation, check_render_mode
from rl_lightning.data.episodes import EpisodeTracker
from rl_lightning.safe_pickle import load_run_state, modules_of
from rl_lightning.seeding import sub_env_seeds

__all__ = ["RolloutDataset", "RolloutDriver", "Segment", "greedy_episodes"]


class RolloutDriver(Protocol):
    """What the rollout calls back at every vector step (implemented by ``AgentModule``)."""

    def act(self, observation: Any) -> Any:
        """Actions for the batched ``observation``."""

    def observe(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                env_steps: int) -> Optional[list]:
        """After ``env.step``: learn from the step; return the agent's ``log()`` entries or ``None``."""

    #: Called with the run's env steps after each vector step is recorded, before finished episodes are handled;
    #: ``None`` where the driver has nothing to do per vector step (read once per segment).
    on_vector_step: Optional[Callable[[int], None]]

    def on_episode_end(self, episode: dict, sub_env: int) -> None:
        """A sub-env's episode finished on this vector step; ``episode`` is its episode dict."""


@dataclass
class Segment:
    """What one ``training_step`` receives: a stretch of consecutive vector steps.

    Attributes:
        episodes: episode dicts finished in this segment, in the order they finished.
        vector_steps: vector steps collected in this segment.
        env_steps: env steps of the run so far (summed over sub-envs), reset steps included.
        episodes_done: episodes finished in the run so far.
        budget_reached: the run's step or episode budget is spent; no segment follows.
    """

    episodes: list = field(default_factory=list)
    vector_steps: int = 0
    env_steps: int = 0
    episodes_done: int = 0
    budget_reached: bool = False


class RolloutDataset(IterableDataset):
    """Steps a vector env and yields :class:`Segment` s until the run's budget is spent.

    The dataset owns the vector env and the per-sub-env :class:`EpisodeTracker`. Iterating it continues the
    run where the last iteration stopped, so a second epoch ends at once once the budget is spent.
    Exactly one of ``total_steps`` and ``num_episodes`` is positive.

    Args:
        env: the vector env (see :func:`rl_lightning.data.envs.as_vector_env`).
        seed: the run's seed; sub-env ``i`` of rank ``r`` resets with ``seed + r * num_envs + i``.
        total_steps: step budget in env steps summed over sub-envs; the run stops after the first whole
            vector step that reaches it.
        num_episodes: episode budget across sub-envs; the run stops after the vector step on which the count
            reaches it, keeping every episode that finished on that step.
        segment_steps: vector steps per segment (per ``training_step``).
        record_transitions: keep each step's ``(obs, action, reward, terminated, truncated)`` in the episode.
        record_actions: keep each step's action in the episode's ``actions`` list (else it stays empty).
        count_reset_steps: count reset steps into the next episode, as the seed trainer did.
        global_rank: this process's rank (its block of sub-env seeds).
        world_size: number of processes stepping their own envs (DDP); ``total_steps`` counts env steps of all
            of them: every rank steps the same number of vector steps, so each stops after the first whole
            vector step where ``env_steps * world_size >= total_steps``.
    """

    def __init__(self, env: VectorEnv, *, seed: int, total_steps: int = 0, num_episodes: int = 0,
                 segment_steps: int = 128, record_transitions: bool = False, record_actions: bool = True,
                 count_reset_steps: bool = False,
                 global_rank: int = 0, world_size: int = 1):
        super().__init__()
        check_render_mode(env)
        self.env = env
        self.num_envs = int(env.num_envs)
        self.seed = seed
        self.total_steps = total_steps
        self.num_episodes = num_episodes
        self.segment_steps = segment_steps
        #: Segments per Lightning epoch: the length Lightning reads (``len(dataset)``) to end each epoch.
        self.segments_per_epoch = 1
        self.global_rank = global_rank
        self.world_size = world_size
        self.render_mode = getattr(env, "render_mode", None)
        # Reset steps exist only under next-step autoreset; elsewhere there is nothing to leave out.
        self._skips_reset_steps = not count_reset_steps and autoreset_mode(env) is AutoresetMode.NEXT_STEP
        self.tracker = EpisodeTracker(self.num_envs, seed, record_transitions=record_transitions,
                                      record_actions=record_actions)
        self.driver: Optional[RolloutDriver] = None
        self.env_steps = 0
        self.episodes_done = 0
        self._observation: Any = None
        self._reset_next = np.zeros(self.num_envs, dtype=bool)
        self._no_reset = self._reset_next  # never written to: _reset_next is replaced, not changed in place
        self._any_reset_next = False
        #: Set (e.g. by a SIGINT handler) to stop at the end of the current vector step with KeyboardInterrupt.
        self.interrupt_requested = False
        #: Raise ``ValueError`` on NaN or infinite rewards instead of recording them as they are.
        self.check_rewards = False
        #: Where the run is, for error notes (e.g. ``"run 2"``).
        self.context = ""
        #: The call in progress, for error notes.
        self.stage = "nothing yet"
        #: False between ``env.step`` and the end of that vector step's bookkeeping.
        self.consistent = True
        self._check_first_step = False

    @property
    def budget_reached(self) -> bool:
        """Whether the step or episode budget is spent."""
        if self.total_steps > 0:
            return self.env_steps * self.world_size >= self.total_steps
        return self.episodes_done >= self.num_episodes

    def _vector_steps_left(self) -> int:
        """Vector steps the next segment may take: ``segment_steps``, fewer where the step budget ends first (none
        once a budget is spent)."""
        if self.total_steps <= 0:
            return 0 if self.budget_reached else self.segment_steps
        per_vector_step = self.num_envs * self.world_size
        left = self.total_steps - self.env_steps * self.world_size
        return max(0, min(self.segment_steps, -(-left // per_vector_step)))

    def __len__(self) -> int:
        """Segments per epoch (see :attr:`segments_per_epoch`): Lightning ends an epoch after this many
        ``training_step`` s, and each epoch iterates the dataset afresh from where the run stands."""
        return self.segments_per_epoch

    def attach(self, driver: RolloutDriver) -> None:
        """Set who acts and learns at each vector step."""
        self.driver = driver

    def __iter__(self) -> Iterator[Segment]:
        if self.driver is None:
            raise RuntimeError("RolloutDataset has no driver: call attach(AgentModule) before iterating it.")
        while not self.budget_reached:
            yield self.collect()

    def reset_env(self) -> None:
        """Reset every sub-env with its seed and record the first frames.

        ``SyncVectorEnv`` and ``AsyncVectorEnv`` get the list of sub-env seeds; a native vector env (e.g.
        CartPole's ``vector_entry_point``) takes one integer, the first of that list, and spreads it itself.
        """
        seeds = sub_env_seeds(self.seed, self.num_envs, self.global_rank)
        per_sub_env = isinstance(self.env, (SyncVectorEnv, AsyncVectorEnv))
        self._observation, _ = self.env.reset(seed=seeds if per_sub_env else seeds[0])
        self._render_step()

    def _render_step(self) -> None:
        if self.render_mode == "human":
            self.env.envs[0].render()
        elif self.render_mode in ("ansi", "rgb_array"):
            self.tracker.add_frames(self.env.render())

    def collect(self) -> Segment:
        """Run up to ``segment_steps`` vector steps (fewer where the budget ends) and return them.

        An exception raised inside carries a note naming the call that failed (``agent.act``, ``env.step``,
        ``agent.update``, ...), the run and the env step. :attr:`consistent` tells whether the run's state is
        still that of the end of a whole vector step (true when ``agent.act`` failed, false once the env moved).
        """
        try:
            return self._collect()
        except Exception as err:
            if hasattr(err, "add_note"):
                err.add_note(f"rl_lightning: raised in {self.stage} during {self.context or 'the run'} after "
                             f"{self.env_steps} env steps ({self.env_steps // self.num_envs} vector steps).")
            raise

    def _collect(self) -> Segment:
        if self._observation is None:
            self.stage = "env.reset"
            self.reset_env()
            check_observation(self.env, self._observation, "env.reset()")
            self._check_first_step = True
        env, driver, tracker = self.env, self.driver, self.tracker
        act, observe, on_vector_step, on_episode_end = (driver.act, driver.observe, driver.on_vector_step,
                                                        driver.on_episode_end)
        skips_reset_steps = self._skips_reset_steps
        renders = self.render_mode is not None
        # The budget is checked once here for steps; an episode budget can only be reached where an episode ends.
        counts_episodes = self.total_steps <= 0
        last_step = self._vector_steps_left()
        episodes: list = []
        vector_steps = 0
        while vector_steps < last_step:
            observation = self._observation
            self.stage = "agent.act"
            action = act(observation)
            if self._check_first_step:
                check_actions(env, action)
            self.consistent = False
            self.stage = "env.step"
            next_observation, reward, terminated, truncated, info = env.step(action)
            if self._check_first_step:
                check_observation(env, next_observation, "env.step()")
                self._check_first_step = False
            if self.check_rewards and not np.all(np.isfinite(reward)):
                raise ValueError(f"env.step() returned non-finite rewards {np.asarray(reward).tolist()} (sub-envs "
                                 f"{np.flatnonzero(~np.isfinite(reward)).tolist()}); check_rewards=True refuses them.")
            if renders:
                self._render_step()
            # Python bools and lists where numpy's per-call cost (about a microsecond on small arrays) would show.
            counted = ~self._reset_next if self._any_reset_next else None
            tracker.record_step(observation, action, reward, terminated, truncated, info, counted)
            self.env_steps += self.num_envs
            self.stage = "agent.update"
            entries = observe(next_observation, reward, terminated, truncated, self.env_steps)
            if entries is not None:
                tracker.add_logs(entries, counted)
            self.stage = "the step's bookkeeping"
            if on_vector_step is not None:
                on_vector_step(self.env_steps)
            self._observation = next_observation
            vector_steps += 1
            ended = np.asarray(terminated).tolist()
            cut = np.asarray(truncated).tolist()
            any_done = True in ended or True in cut
            if any_done:
                self.stage = "the episode-end bookkeeping"
                for i, (end, cut_i) in enumerate(zip(ended, cut)):
                    if not (end or cut_i):
                        continue
                    self.episodes_done += 1
                    if self.render_mode == "rgb_array_list":
                        tracker.frames[i] = env.envs[i].render()
                    episode = tracker.finish(i, self.episodes_done)
                    on_episode_end(episode, i)
                    episodes.append(episode)
            if skips_reset_steps:
                self._reset_next = np.logical_or(terminated, truncated) if any_done else self._no_reset
                self._any_reset_next = any_done
            self.consistent = True
            if self.interrupt_requested:
                # Raised between vector steps, so a checkpoint taken now is a consistent state.
                self.interrupt_requested = False
                raise KeyboardInterrupt
            if any_done and counts_episodes and self.budget_reached:
                break
        return Segment(episodes, vector_steps, self.env_steps, self.episodes_done, self.budget_reached)

    # ------------------------------------------------------------------ checkpoints
    def env_state(self) -> Optional[bytes]:
        """The vector env pickled (every sub-env's state), or ``None`` when it cannot be pickled.

        Python's own pickle, classes by reference, so that :func:`~rl_lightning.safe_pickle.load_run_state` can read
        it back without running code; a ``SyncVectorEnv``'s ``env_fns`` (factories, often lambdas, used only when it
        was built) are left out.
        """
        env_fns = self.env.__dict__.get("env_fns")
        if env_fns is not None:
            self.env.env_fns = None
        try:
            return pickle.dumps(self.env, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - any env may refuse: subprocesses, sockets, render windows, lambdas
            return None
        finally:
            if env_fns is not None:
                self.env.env_fns = env_fns

    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly: counters, the current observation, the episode
        trackers and the env itself (``env`` is ``None`` where it cannot be pickled)."""
        tracker = self.tracker
        return {
            "env_steps": self.env_steps,
            "episodes_done": self.episodes_done,
            "observation": self._observation,
            "reset_next": self._reset_next.copy(),
            "tracker": {name: getattr(tracker, name) for name in _TRACKER_FIELDS},
            "env": self.env_state() if self._observation is not None else None,
        }

    def load_state_dict(self, state: dict, trust: bool = False) -> None:
        """Continue from :meth:`state_dict`. Without a saved env, the env is reset with a warning and the
        episodes that were running start over.

        The saved env is read with :func:`~rl_lightning.safe_pickle.load_run_state`, accepting the classes of this
        rollout's own env (``trust=True``: any pickle)."""
        self.env_steps = state["env_steps"]
        self.episodes_done = state["episodes_done"]
        for name in _TRACKER_FIELDS:
            setattr(self.tracker, name, state["tracker"][name])
        if state["env"] is not None:
            env = load_run_state(state["env"], "the env saved in the checkpoint", modules_of(self.env), trust)
            self.env.close()
            self.env = env
            self._observation = state["observation"]
            self._reset_next = state["reset_next"]
            self._any_reset_next = self._skips_reset_steps and bool(self._reset_next.any())
        elif state["observation"] is not None:
            warnings.warn(
                f"the checkpoint holds no state of {type(self.env).__name__} (it could not be pickled); the env is "
                "reset and the episodes that were running when the checkpoint was taken start over.",
                RuntimeWarning,
                stacklevel=2,
            )
            self.tracker = EpisodeTracker(self.num_envs, self.seed, self.tracker.record_transitions,
                                          self.tracker.record_actions)
            self._observation = None


class _KeepEpisodes:
    """The rollout's driver while playing greedy episodes: the given ``act``, no learning, episodes kept."""

    on_vector_step = None  # nothing per vector step

    def __init__(self, act: Callable[[Any], Any]):
        self.act = act
        self.episodes: list = []

    def observe(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                env_steps: int) -> None:
        return None

    def on_episode_end(self, episode: dict, sub_env: int) -> None:
        self.episodes.append(episode)


def greedy_episodes(env: VectorEnv, act: Callable[[Any], Any], num_episodes: int, seed: int) -> list:
    """Play ``num_episodes`` episodes (across sub-envs) on ``env`` with ``act`` and no learning, from a reset with
    sub-env ``i`` seeded ``seed + i``; return the first ``num_episodes`` episode dicts to finish.

    The episodes are counted as a run counts them (reset steps left out), so the same ``act`` and ``seed`` give
    the same episodes every time. Several sub-envs may finish on the last vector step: the extra ones are dropped.
    """
    rollout = RolloutDataset(env, seed=seed, num_episodes=num_episodes, segment_steps=1 << 30)
    driver = _KeepEpisodes(act)
    rollout.attach(driver)
    while not rollout.budget_reached:
        rollout.collect()
    return driver.episodes[:num_episodes]


_TRACKER_FIELDS = ("returns", "lengths", "actions", "transitions", "frames", "agent_logs")
