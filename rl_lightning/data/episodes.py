"""Per-sub-environment episode bookkeeping: returns, lengths, actions, transitions, frames, agent logs.

An *episode dict* has exactly the seed trainer's eight keys, in its order:
``ep_return`` (float, summed in float32), ``ep_length`` (int, env steps), ``frames`` (list, ``[]`` when not
rendering), ``transitions`` (list of ``(obs, action, reward, terminated, truncated)``, ``[]`` unless
recorded), ``actions`` (list of the sub-env's actions), ``agent_seed`` (the run's seed),
``episode_index`` (1-based, counted across sub-envs) and ``agent_logs`` (dict of concatenated numpy
arrays, or ``None``).
"""

from __future__ import annotations

from array import array
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["EpisodeTracker", "concat_dicts_of_arrays", "get_single_observation", "extract_actual_rewards"]

# Sub-envs up to which returns are summed in a Python array of C floats rather than a numpy array.
_SMALL = 8


def get_single_observation(observation: Any, index: int) -> Any:
    """Return sub-env ``index``'s entry of a batched observation (dict observations key by key)."""
    if isinstance(observation, dict):
        return {k: (v[index] if hasattr(v, "__getitem__") else v) for k, v in observation.items()}
    if hasattr(observation, "__getitem__"):
        return observation[index]
    raise NotImplementedError(f"Vectorized Observation type {type(observation)} is not defined")


def extract_actual_rewards(info: Any, reward: np.ndarray) -> np.ndarray:
    """Rewards to sum into returns: ``info["actual_reward"]`` where the env reports it, else ``reward``.

    ``info`` is either a list of per-sub-env dicts or gymnasium's dict of batched arrays; in the latter,
    the ``actual_reward`` array is used only when its shape matches the reward's.
    """
    if isinstance(info, (list, tuple)) and len(info) == len(reward):
        return np.asarray(
            [entry.get("actual_reward", reward[j]) if isinstance(entry, dict) else reward[j]
             for j, entry in enumerate(info)],
            dtype=np.float32,
        )
    if isinstance(info, dict) and "actual_reward" in info:
        actual = np.asarray(info["actual_reward"], dtype=np.float32)
        if actual.shape == reward.shape:
            return actual
    return reward


def concat_dicts_of_arrays(chunks: Sequence[dict], axis: int = 0) -> Optional[dict]:
    """Concatenate dicts of numpy arrays key by key (union of keys, sorted); ``None`` for no chunks.

    Raises:
        TypeError: a value is not a numpy array.
    """
    if not chunks:
        return None
    keys = sorted({key for chunk in chunks for key in chunk})
    out = {}
    for key in keys:
        arrays = []
        for chunk in chunks:
            if key not in chunk:
                continue
            value = chunk[key]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"agent.log() value for key {key!r} must be np.ndarray, got {type(value).__name__}")
            arrays.append(value)
        if arrays:
            out[key] = np.concatenate(arrays, axis=axis)
    return out


class EpisodeTracker:
    """Accumulates the running episode of every sub-environment.

    Args:
        num_envs: number of sub-environments.
        seed: the run's seed, stored in every episode dict as ``agent_seed``.
        record_transitions: keep ``(obs, action, reward, terminated, truncated)`` per step.
        record_actions: keep every action of the episode.
    """

    def __init__(self, num_envs: int, seed: int, record_transitions: bool = False, record_actions: bool = True):
        self.num_envs = num_envs
        self.seed = seed
        self.record_transitions = record_transitions
        self.record_actions = record_actions
        # Returns are summed in float32, as the seed trainer's numpy array did. Up to _SMALL sub-envs a Python
        # array of C floats does it: adding a step's rewards one by one there costs less than one numpy call, and
        # rounds each sum to float32 exactly as numpy's float32 += float64 does.
        self.returns: Any = array("f", bytes(4 * num_envs)) if num_envs <= _SMALL else np.zeros(num_envs, np.float32)
        # Lengths as (vector steps recorded) - (each episode's start): one int add per step, not a numpy add.
        self._vector_steps = 0
        self._starts = np.zeros(num_envs, dtype=np.int64)
        self.actions: list[list] = [[] for _ in range(num_envs)]
        self.transitions: list[list] = [[] for _ in range(num_envs)]
        self.frames: list[Any] = [[] for _ in range(num_envs)]
        self.agent_logs: list[list] = [[] for _ in range(num_envs)]

    @property
    def lengths(self) -> np.ndarray:
        """Steps so far of each sub-env's running episode (a new array)."""
        return self._vector_steps - self._starts

    @lengths.setter
    def lengths(self, value: np.ndarray) -> None:
        self._starts = self._vector_steps - np.asarray(value, dtype=np.int64)

    def record_step(self, observation: Any, action: Any, reward: np.ndarray, terminated: np.ndarray,
                    truncated: np.ndarray, info: Any, counted: Optional[np.ndarray]) -> None:
        """Add one vector step. ``counted[i]`` False marks sub-env ``i``'s reset step, which joins no episode.

        ``observation`` is the batch *before* the step (what the transition starts from).
        """
        rewards = extract_actual_rewards(info, reward) if info else reward  # most steps' info is empty
        if counted is None:  # the hot path: every sub-env's step belongs to its episode
            if self.record_actions:
                for actions, a in zip(self.actions, action):
                    actions.append(a)
            if self.record_transitions:
                self._record_transitions(range(self.num_envs), observation, action, reward, terminated, truncated)
            returns = self.returns
            if isinstance(returns, array):
                for i, r in enumerate(np.asarray(rewards).tolist()):
                    returns[i] += r
            else:
                returns += rewards
            self._vector_steps += 1
            return
        # A reset step is in progress in one or a few sub-envs: Python loops over the flags, as on the hot path.
        flags = counted.tolist()
        if self.record_actions:
            for actions, a, joins in zip(self.actions, action, flags):
                if joins:
                    actions.append(a)
        if self.record_transitions:
            self._record_transitions(counted.nonzero()[0], observation, action, reward, terminated, truncated)
        returns = self.returns
        if isinstance(returns, array):
            for i, (r, joins) in enumerate(zip(np.asarray(rewards).tolist(), flags)):
                if joins:
                    returns[i] += r
        else:
            returns += np.where(counted, rewards, 0)
        self._vector_steps += 1
        starts = self._starts
        for i, joins in enumerate(flags):
            if not joins:
                starts[i] += 1  # the reset step joins no episode: the next one starts a step later

    def _record_transitions(self, envs: Any, observation: Any, action: Any, reward: np.ndarray,
                            terminated: np.ndarray, truncated: np.ndarray) -> None:
        for i in envs:
            self.transitions[i].append((get_single_observation(observation, i), action[i], reward[i],
                                        bool(terminated[i]), bool(truncated[i])))

    def add_logs(self, entries: Optional[Sequence], counted: Optional[np.ndarray]) -> None:
        """Keep the non-``None`` entries of ``agent.log()`` (one per sub-env) for their sub-env's episode."""
        for i, entry in enumerate(entries):
            if entry is not None and (counted is None or counted[i]):
                self.agent_logs[i].append(entry)

    def add_frames(self, frames: Sequence) -> None:
        """Append one rendered frame per sub-env."""
        for i, frame in enumerate(frames):
            self.frames[i].append(frame)

    def finish(self, i: int, episode_index: int) -> dict:
        """Return sub-env ``i``'s finished episode dict and start its next episode."""
        episode = {
            "ep_return": float(self.returns[i]),
            "ep_length": self._vector_steps - int(self._starts[i]),
            "frames": self.frames[i],
            "transitions": self.transitions[i],
            "actions": self.actions[i],
            "agent_seed": self.seed,
            "episode_index": episode_index,
            "agent_logs": concat_dicts_of_arrays(self.agent_logs[i], axis=0),
        }
        self.returns[i] = 0.0
        self._starts[i] = self._vector_steps
        self.transitions[i] = []
        self.actions[i] = []
        self.agent_logs[i] = []
        self.frames[i] = []
        return episode
