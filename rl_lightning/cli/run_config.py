"""``RunConfig``: one run's env, agent and budget, as the command line configures it.

It is the schema of the flat files in ``configs/`` (the keys of :mod:`rl_lightning.agents.config`, plus
``wrappers`` and ``seed``) and of ``fit``'s ``model`` section, so one file serves ``fit`` and ``multirun``::

    env_id: CartPole-v1              # a registered gymnasium id (required)
    num_envs: 8                      # sub-envs of the vector env (default 1)
    vectorization_mode: sync         # sync | async | vector_entry_point (default sync)
    env_kwargs: {}                   # keyword arguments of gymnasium.make_vec (default none)
    wrappers: []                     # class paths of wrappers applied to each sub-env, in order (default none)
    agent: PPO                       # a built-in agent name, or a class path "package.module.Class" (required)
    hyperparameters: {n_steps: 32}   # the agent's hyperparameters, its Params fields (default none)
    total_steps: 100000              # env steps of a run, summed over sub-envs (required)
    seed: 0                          # the run's seed; sub-env i resets with seed + i (default 0)
    solve_threshold: 475             # a 100-episode mean return counted as solved (default: the env spec's)

Building a ``RunConfig`` checks everything before any work: the env id (with its close matches), the agent
class, the wrapper classes, and the hyperparameters' names (with the nearest valid ones), types and ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from rl_lightning.agents.config import AgentConfig, resolve_agent_class
from rl_lightning.cli.checks import CLIError, check_env_id, check_keys, import_class

__all__ = ["RunConfig", "RUN_KEYS", "REQUIRED_KEYS"]


@dataclass(frozen=True)
class RunConfig(AgentConfig):
    """One run's settings: an :class:`~rl_lightning.agents.AgentConfig` (env, agent, hyperparameters, budget) plus
    the sub-envs' ``wrappers`` and the run's ``seed`` (see the module docstring for each key and its unit).

    Raises:
        CLIError: an unknown env id, agent class, wrapper class or hyperparameter name; a value of the wrong
            type or out of range.
    """

    wrappers: tuple = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("env_id", str), ("agent", str), ("env_kwargs", dict), ("hyperparameters", dict)):
            if not isinstance(getattr(self, name), kind):
                raise CLIError(f"{name} must be a {'string' if kind is str else 'mapping'}, got "
                               f"{getattr(self, name)!r}.")
        check_env_id(self.env_id)
        try:
            agent_class = resolve_agent_class(self.agent)
        except ValueError as error:  # the registry names the nearest registered agents
            raise CLIError(str(error)) from None
        params_class = getattr(agent_class, "params_class", None)
        if params_class is not None:
            check_keys(self.hyperparameters, params_class.field_names(), f"hyperparameters of {self.agent}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise CLIError(f"seed must be an integer >= 0, got {self.seed!r}.")
        if not isinstance(self.wrappers, (list, tuple)) or not all(isinstance(w, str) for w in self.wrappers):
            raise CLIError(f"wrappers must be a list of class paths 'package.module.Class', got {self.wrappers!r}.")
        object.__setattr__(self, "wrappers", tuple(self.wrappers))
        if self.wrappers and self.vectorization_mode == "vector_entry_point":
            raise CLIError(f"wrappers={list(self.wrappers)} cannot wrap the sub-envs of a native vector env "
                           "(vectorization_mode='vector_entry_point'); use vectorization_mode 'sync' or 'async'.")
        for path in self.wrappers:
            import_class(path, "wrappers")
        try:
            super().__post_init__()  # the types, ranges and hyperparameter values, as a config file's
        except (TypeError, ValueError) as error:
            raise CLIError(str(error)) from None

    @classmethod
    def from_dict(cls, values: Any, where: str) -> "RunConfig":
        """Build from a mapping, refusing unknown keys (naming the nearest valid ones) and missing required ones.

        Args:
            values: the mapping, e.g. a flat config file's content.
            where: what it came from, for the messages (e.g. the file's path).
        """
        if not isinstance(values, dict):
            raise CLIError(f"{where}: a run configuration is a mapping of keys to values, got "
                           f"{type(values).__name__}; valid keys are: {', '.join(RUN_KEYS)}.")
        check_keys(values, RUN_KEYS, where)
        missing = [key for key in REQUIRED_KEYS if values.get(key) is None]
        if missing:
            raise CLIError(f"{where}: missing required key(s) {', '.join(missing)}; valid keys are: "
                           f"{', '.join(RUN_KEYS)}.")
        given = {key: value for key, value in values.items() if value is not None}
        return cls(**given)

    @property
    def agent_config(self) -> AgentConfig:
        """The env and agent part alone, as :mod:`rl_lightning.agents.config` reads it from a file."""
        return AgentConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(AgentConfig)})

    def make_env(self, num_envs: Optional[int] = None) -> Any:
        """A fresh vector env of ``num_envs`` sub-envs (default: the config's), each wrapped by ``wrappers`` in
        order."""
        import gymnasium as gym

        if not self.wrappers:
            return super().make_env(num_envs)
        wrappers = [import_class(path, "wrappers") for path in self.wrappers]
        return gym.make_vec(self.env_id, num_envs=num_envs or self.num_envs,
                            vectorization_mode=self.vectorization_mode, wrappers=wrappers, **self.env_kwargs)

    @property
    def agent_class_path(self) -> str:
        """The agent's class as ``"package.module.Class"`` (what ``rl-lightning evaluate`` loads it with)."""
        cls = self.agent_class
        return f"{cls.__module__}.{cls.__qualname__}"

    def to_dict(self) -> dict:
        """The settings as a YAML-ready mapping (``wrappers`` as a list; without ``path``)."""
        values = super().to_dict()
        values["wrappers"] = list(self.wrappers)
        return values


#: Every key of a run configuration, in the order listed in messages (``path`` is where a file was read from,
#: not a key).
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name != "path")
#: Keys without a default.
REQUIRED_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig)
                      if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
