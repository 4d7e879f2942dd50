"""Agent configs: one YAML file names an env, an agent class, its hyperparameters and the step budget.

Schema (``configs/*.yaml``; every key typed and checked, unknown keys refused with the list of valid ones)::

    env_id: CartPole-v1            # a registered gymnasium id (required)
    num_envs: 8                    # sub-envs per vector env (default 1)
    vectorization_mode: sync       # sync | async | vector_entry_point (default sync)
    env_kwargs: {}                 # keyword arguments for gymnasium.make_vec (default none)
    agent: PPO                     # a registered agent name, or a class path "package.module.Class" (required)
    hyperparameters:               # the agent's hyperparameters (its Params dataclass's fields; default none)
      n_steps: 32
    total_steps: 100000            # env steps per run, summed over sub-envs (required)
    solve_threshold: 475           # a 100-episode mean return that counts as solved (default: the env spec's)

``load_agent_config(path)`` returns an :class:`AgentConfig` whose ``make_env`` and ``make_agent`` are the two
factories :class:`~rl_lightning.OnlineTrainer` takes::

    config = load_agent_config("configs/ppo_cartpole.yaml")
    OnlineTrainer(config.make_env, config.make_agent).multi_run(3, total_steps=config.total_steps, seed_offset=0)

Numbers such as ``1e-3`` are read as floats (YAML 1.1 would read them as strings).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import gymnasium as gym
import yaml

from rl_lightning.agents.hparams import Params, check_range
from rl_lightning.agents.registry import resolve_agent

__all__ = ["AgentConfig", "load_agent_config", "resolve_agent_class", "VECTORIZATION_MODES", "ConfigLoader"]

#: ``vectorization_mode`` values, as ``gymnasium.make_vec`` takes them.
VECTORIZATION_MODES = ("sync", "async", "vector_entry_point")


class ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, reading ``1e-3`` (no dot) as a float, as YAML 1.2 does: how every config file of
    ``configs/`` is read (``yaml.load(f, Loader=ConfigLoader)``)."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)$|^[-+]?(?:\d[\d_]*\.\d*|\.\d+)$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def resolve_agent_class(name: str) -> type:
    """The agent class ``name`` names, through the registry (see :func:`~rl_lightning.agents.resolve_agent`): a
    registered name (``"PPO"``) or a class path (``"my_package.agents.MyAgent"``), with a ``for_env`` factory.

    Raises:
        ValueError: an unknown name (the nearest registered names are listed), module or class, or a class without
            a ``for_env(env, **hyperparameters)`` factory.
    """
    try:
        return resolve_agent(name, needs=("for_env",))
    except TypeError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class AgentConfig:
    """A validated agent config (see the module docstring for the YAML schema).

    Attributes:
        path: the file it was read from (``None`` when built in code).
    """

    env_id: str
    agent: str
    total_steps: int
    num_envs: int = 1
    vectorization_mode: str = "sync"
    env_kwargs: dict = field(default_factory=dict)
    hyperparameters: dict = field(default_factory=dict)
    solve_threshold: Optional[float] = None
    path: Optional[str] = None

    def __post_init__(self) -> None:
        _check_type("env_id", self.env_id, str)
        _check_type("agent", self.agent, str)
        _check_type("total_steps", self.total_steps, int)
        _check_type("num_envs", self.num_envs, int)
        _check_type("env_kwargs", self.env_kwargs, dict)
        _check_type("hyperparameters", self.hyperparameters, dict)
        if self.solve_threshold is not None:
            _check_type("solve_threshold", self.solve_threshold, (int, float))
        check_range("total_steps", self.total_steps, 1)
        check_range("num_envs", self.num_envs, 1)
        if self.vectorization_mode not in VECTORIZATION_MODES:
            raise ValueError(f"vectorization_mode={self.vectorization_mode!r} is not supported; valid values are "
                             f"{', '.join(map(repr, VECTORIZATION_MODES))}.")
        try:
            gym.spec(self.env_id)
        except gym.error.Error as error:
            raise ValueError(f"env_id={self.env_id!r} is not a registered gymnasium env ({error}).") from None
        self.build_params()  # checks the hyperparameters now, not at the first run

    @property
    def agent_class(self) -> type:
        return resolve_agent_class(self.agent)

    def build_params(self) -> Optional[Params]:
        """The hyperparameters as the agent's ``Params`` dataclass (``None`` for an agent without one)."""
        params_class = getattr(self.agent_class, "params_class", None)
        if params_class is None:
            if self.hyperparameters:
                raise ValueError(f"agent {self.agent!r} takes no hyperparameters; got "
                                 f"{', '.join(sorted(self.hyperparameters))}.")
            return None
        return params_class.from_dict(self.hyperparameters)

    @property
    def threshold(self) -> Optional[float]:
        """``solve_threshold``, else the env spec's ``reward_threshold`` (``None`` when neither is set)."""
        if self.solve_threshold is not None:
            return float(self.solve_threshold)
        return gym.spec(self.env_id).reward_threshold

    def make_env(self, num_envs: Optional[int] = None) -> gym.vector.VectorEnv:
        """A fresh vector env of ``num_envs`` sub-envs (default: the config's)."""
        return gym.make_vec(self.env_id, num_envs=num_envs or self.num_envs,
                            vectorization_mode=self.vectorization_mode, **self.env_kwargs)

    def make_agent(self, env: gym.vector.VectorEnv) -> Any:
        """A fresh agent for ``env``: ``agent_class.for_env(env, **hyperparameters)``."""
        return self.agent_class.for_env(env, **self.hyperparameters)

    def to_dict(self) -> dict:
        """The config as the YAML mapping it came from (without ``path``)."""
        values = dataclasses.asdict(self)
        values.pop("path")
        return values


def _check_type(name: str, value: Any, expected: Union[type, tuple]) -> None:
    if isinstance(value, bool) or not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise TypeError(f"config key {name} must be {names}, got {value!r} ({type(value).__name__}).")


def load_agent_config(path: Union[str, os.PathLike]) -> AgentConfig:
    """Read and validate a YAML agent config.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown or missing keys (the message lists the valid ones), values out of range, an unknown
            env id or agent, or unknown hyperparameters (listing the agent's valid ones).
        TypeError: a value of the wrong type.
    """
    path = os.fspath(path)
    with open(path) as f:
        values = yaml.load(f, Loader=ConfigLoader)
    if not isinstance(values, dict):
        raise ValueError(f"{path}: an agent config is a YAML mapping of keys to values, got {type(values).__name__}.")
    valid = [f.name for f in dataclasses.fields(AgentConfig) if f.name != "path"]
    required = [f.name for f in dataclasses.fields(AgentConfig)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{path}: unknown config key(s) {', '.join(map(repr, unknown))}; valid keys are: "
                         f"{', '.join(valid)}.")
    missing = [name for name in required if name not in values]
    if missing:
        raise ValueError(f"{path}: missing config key(s) {', '.join(missing)}; valid keys are: {', '.join(valid)}.")
    return AgentConfig(**values, path=path)
