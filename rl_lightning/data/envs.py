"""Building and checking the vector environment a run steps.

Supported autoreset mode: gymnasium's ``AutoresetMode.NEXT_STEP`` (the default of ``SyncVectorEnv``,
``AsyncVectorEnv`` and the native vector envs) and ``AutoresetMode.SAME_STEP``. After a sub-env's
episode ends, NEXT_STEP spends the sub-env's next vector step on its reset: the action is ignored,
the reward is 0 and the observation is the new episode's first one. That step is the *reset step*
of :mod:`rl_lightning.data.rollout`. ``AutoresetMode.DISABLED`` leaves resets to the caller and is
refused.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

__all__ = ["EnvLike", "RENDER_MODES", "as_vector_env", "autoreset_mode", "check_render_mode", "check_observation",
           "check_actions"]

#: An env or a factory of one: a ``gymnasium.vector.VectorEnv``, a plain ``gymnasium.Env`` (wrapped into a
#: one-sub-env ``SyncVectorEnv``), or a zero-argument callable returning either.
EnvLike = Union[VectorEnv, gym.Env, Callable[[], Union[VectorEnv, gym.Env]]]

#: Render modes whose frames are recorded per episode (``None`` records nothing).
RENDER_MODES = (None, "human", "ansi", "rgb_array", "rgb_array_list")

# Render modes that need each sub-env object (``env.envs[i]``), which only SyncVectorEnv exposes.
_PER_SUB_ENV_MODES = ("human", "rgb_array_list")


def as_vector_env(env: Any) -> VectorEnv:
    """Return ``env`` as a vector env; a plain ``gymnasium.Env`` becomes a one-sub-env ``SyncVectorEnv``.

    Raises:
        TypeError: ``env`` is neither.
    """
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, gym.Env):
        return SyncVectorEnv([lambda: env])
    raise TypeError(
        f"env must be a gymnasium.vector.VectorEnv, a gymnasium.Env, or a factory returning one; got "
        f"{type(env).__name__}. Build one with gymnasium.make_vec('CartPole-v1', num_envs=8)."
    )


def autoreset_mode(env: VectorEnv) -> AutoresetMode:
    """Return the vector env's autoreset mode, refusing ``DISABLED``.

    Raises:
        ValueError: the mode is ``AutoresetMode.DISABLED`` or unknown.
    """
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if isinstance(mode, str):
        mode = AutoresetMode(mode)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(
            f"env autoreset_mode={mode!r} is not supported; use AutoresetMode.NEXT_STEP (gymnasium's default) "
            "or AutoresetMode.SAME_STEP, e.g. SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)."
        )
    return mode


def check_render_mode(env: VectorEnv) -> None:
    """Raise ``ValueError`` when the env's render mode is unknown or cannot be recorded per sub-env."""
    mode = getattr(env, "render_mode", None)
    if mode not in RENDER_MODES:
        raise ValueError(f"env render_mode={mode!r} is not supported; valid render modes are {RENDER_MODES}.")
    if mode in _PER_SUB_ENV_MODES and not hasattr(env, "envs"):
        raise ValueError(
            f"env render_mode={mode!r} renders through each sub-env (env.envs[i].render()), which "
            f"{type(env).__name__} does not expose; use gymnasium.vector.SyncVectorEnv for this render mode."
        )


def check_observation(env: VectorEnv, observation: Any, where: str) -> None:
    """Raise ``ValueError`` when a batched observation does not fit the env's (batched) observation space.

    Args:
        where: what returned it, for the message (``"env.reset()"``, ``"env.step()"``).
    """
    space = env.observation_space
    if space.contains(observation):
        return
    shape = getattr(observation, "shape", None)
    dtype = getattr(observation, "dtype", type(observation).__name__)
    raise ValueError(
        f"{where} returned an observation that does not fit the env's observation space: got shape {shape} and dtype "
        f"{dtype}, expected {space} (the single-env space {env.single_observation_space} batched over "
        f"{env.num_envs} sub-envs). Fix the env's observation_space or what it returns; "
        "gymnasium.utils.env_checker.check_env(env) pinpoints the mismatch."
    )


def check_actions(env: VectorEnv, action: Any) -> None:
    """Raise ``ValueError`` when ``agent.act`` returned actions of the wrong shape or dtype for the env.

    Bounds of continuous (Box) actions are not checked: envs commonly clip them.
    """
    single = env.single_action_space
    expected = (env.num_envs, *single.shape) if single.shape is not None else (env.num_envs,)
    array = np.asarray(action)
    problem = None
    if array.shape != expected:
        problem = f"shape {array.shape}"
    elif array.dtype == object or not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        problem = f"dtype {array.dtype}"
    elif isinstance(single, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        if not np.issubdtype(array.dtype, np.integer):
            problem = f"dtype {array.dtype} (discrete actions must be integers)"
        elif not env.action_space.contains(array.astype(env.action_space.dtype)):
            problem = f"values {array.tolist()} outside {single}"
    if problem is not None:
        raise ValueError(
            f"agent.act returned actions of {problem}; the env expects one action per sub-env: shape {expected} "
            f"of {single} (dtype {single.dtype}). Return a numpy array with one row per sub-env "
            f"(env.num_envs = {env.num_envs})."
        )
