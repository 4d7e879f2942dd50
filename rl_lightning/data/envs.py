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
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

__all__ = ["EnvLike", "RENDER_MODES", "as_vector_env", "autoreset_mode", "check_render_mode"]

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
