"""The seed agent protocol: what a user's plain-object agent offers, and the checks run before training.

Users bring agents written for the seed trainer (``agent-protocol.md``): plain Python objects, not
LightningModules. This module names what rl_lightning calls on them and checks an agent before any
work starts, so a missing method is reported once, with all the names, instead of as an
``AttributeError`` deep inside a run.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Protocol, runtime_checkable

import numpy as np

__all__ = ["SeedAgent", "check_agent", "required_agent_methods", "greedy_act"]


@runtime_checkable
class SeedAgent(Protocol):
    """A seed-protocol agent. All methods act on batches over sub-environments.

    Optional methods, used when present: ``log() -> list`` (per-sub-env dicts of numpy arrays or
    ``None``), ``train()``, ``eval()``, ``set_hp(hp)``, a ``device`` attribute, and the classmethod
    ``load(path)`` that restores a file written by ``save``.
    """

    def act(self, observation: Any) -> Any:
        """Return one action per sub-environment for the batched ``observation``."""

    def update(self, observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Learn from one vector step; ``call_back(dict_of_scalars)`` logs the agent's own metrics."""

    def reset(self, seed: int) -> None:
        """Re-initialise the agent from ``seed`` (called once at the start of every training run)."""

    def set_num_env(self, num_envs: int) -> None:
        """Tell the agent how many sub-environments it acts for."""

    def save(self, file_path: Optional[str] = None) -> dict:
        """Return a picklable checkpoint dict; with a path, also write ``f"{file_path}_agent.t"``."""


def required_agent_methods(train: bool, tuning_hp: Any = None, calls_update: Optional[bool] = None) -> list[str]:
    """Names of the methods a run calls on the agent.

    Args:
        train: whether the run trains (``reset`` and ``update`` are called).
        tuning_hp: the run's ``tuning_hp``; ``set_hp`` is needed when it is not ``None``.
        calls_update: whether ``update`` is called; defaults to ``train``.
    """
    names = ["act", "set_num_env", "save"]
    if train:
        names.append("reset")
    if train if calls_update is None else calls_update:
        names.append("update")
    if tuning_hp is not None:
        names.append("set_hp")
    return names


def check_agent(agent: Any, train: bool = True, tuning_hp: Any = None, calls_update: Optional[bool] = None) -> None:
    """Raise ``TypeError`` naming every method the run needs and ``agent`` lacks.

    A LightningModule is refused with a pointer to the right entry point: the seed trainer's
    agents are plain objects and rl_lightning wraps them itself.
    """
    missing = [name for name in required_agent_methods(train, tuning_hp, calls_update)
               if not callable(getattr(agent, name, None))]
    if missing:
        raise TypeError(
            f"agent {type(agent).__name__!r} is missing the method(s) {', '.join(missing)} that the seed agent "
            f"protocol requires for this run (train={train}, tuning_hp={'set' if tuning_hp is not None else None}). "
            "Implement them (see rl_lightning.protocol.SeedAgent) or pass a factory that builds such an agent."
        )


def greedy_act(agent: Any) -> Callable[[Any], Any]:
    """The ``act`` to use for greedy acting without updates (``train=False``).

    An agent with ``eval()`` acts greedily by itself once evaluated, so its plain ``act`` is used.
    One without ``eval()`` whose ``act`` accepts ``greedy`` is called with ``greedy=True``.
    """
    act = agent.act
    if callable(getattr(agent, "eval", None)):
        return act
    try:
        params = inspect.signature(act).parameters
    except (TypeError, ValueError):
        return act
    if "greedy" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return lambda observation: act(observation, greedy=True)
    return act
