"""Test doubles for the sweep tests: an env that pays the action played (registered as ``ActionPays-v0``), an
agent that plays the action its hyperparameters choose (also as a YAML-config agent class with ``for_env``),
and a barrier that makes worker processes start their first trial together."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import gymnasium as gym
import numpy as np

from rl_lightning.agents import Params
from rl_lightning.testing import CountingEnv, RecordingAgent


class ActionPaysEnv(CountingEnv):
    """A :class:`CountingEnv` whose step reward is the action played (0 or 1): an episode's return is the
    number of steps on which the agent played 1."""

    def step(self, action: Any):
        observation, _, terminated, truncated, info = super().step(action)
        return observation, float(action), terminated, truncated, info


gym.register("ActionPays-v0", entry_point=ActionPaysEnv)


def make_action_pays_env(num_envs: int = 2):
    """A factory of ``SyncVectorEnv`` s of ``num_envs`` :class:`ActionPaysEnv` s (episodes of 3 to 7 steps)."""
    return lambda: gym.vector.SyncVectorEnv([ActionPaysEnv for _ in range(num_envs)])


class ChosenActionAgent(RecordingAgent):
    """A :class:`RecordingAgent` that plays ``hp["action"]`` on every sub-env at every step, so that on
    :class:`ActionPaysEnv` its return is ``hp["action"] * episode length``: the hyperparameter decides the score.
    Until ``set_hp`` it plays 0 (``OnlineTrainer``'s preflight check acts once before the run calls ``set_hp``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.hp = {"action": 0}

    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        self.calls.append("act")
        return np.full(self.num_envs, int(self.hp["action"]), dtype=np.int64)


def make_chosen_action_agent(env: Any) -> ChosenActionAgent:
    return ChosenActionAgent()


@dataclasses.dataclass(frozen=True)
class ChosenActionParams(Params):
    """The hyperparameters of :class:`ConfiguredAgent`.

    Args:
        action: the action played at every step (0 or 1).
        width: unused; an int hyperparameter of at least 1, as a network width is.
    """

    action: int = 1
    width: int = 8

    def check(self) -> None:
        self._range("action", 0, 1)
        self._range("width", 1)


class ConfiguredAgent(ChosenActionAgent):
    """:class:`ChosenActionAgent` as a YAML agent config names an agent class: built by ``for_env`` with its
    hyperparameters, checked by :class:`ChosenActionParams`."""

    params_class = ChosenActionParams

    @classmethod
    def for_env(cls, env: Any, **hp: Any) -> "ConfiguredAgent":
        agent = cls()
        agent.params = ChosenActionParams.from_dict(hp)
        agent.hp = agent.params.to_dict()
        return agent


class Barrier:
    """A zero-argument env factory that, on its first call in each process, waits until ``parties`` processes
    have called it (each leaves a file in ``folder``), then builds the env of ``make_env``.

    It makes sweep workers start their first trials together, so a test sees them share the study.
    """

    def __init__(self, folder: str, parties: int, make_env: Any, timeout: float = 60.0):
        self.folder, self.parties, self.make_env, self.timeout = folder, parties, make_env, timeout
        self._arrived = False

    def __call__(self) -> Any:
        if not self._arrived:
            self._arrived = True
            os.makedirs(self.folder, exist_ok=True)
            open(os.path.join(self.folder, f"arrived_{os.getpid()}"), "w").close()
            deadline = time.monotonic() + self.timeout
            while len(os.listdir(self.folder)) < self.parties and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.make_env()
