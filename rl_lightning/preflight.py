"""Checks of a user's env, agent and exp_dir that run before any file is written.

The env's observations and the agent's actions are checked with a first reset, one ``act`` and one ``env.step``
on stand-ins for the run's env and agent, so the run itself starts exactly as it would without the check. Where
the user gave factories, the stand-ins are a second env and agent built by them; otherwise they are deep copies.
``copy.deepcopy`` reads the ``__dict__`` of every object it copies, and on CPython 3.11 an object whose
``__dict__`` has been read has its attributes read more slowly from then on (the interpreter's fast path for
instance attributes no longer applies to it): copying the run's env made an 8-sub-env CartPole ``SyncVectorEnv``
step 4-9% slower for the whole run, and copying a per-step numpy agent made its ``act`` and ``update`` ~11%
slower. Objects that cannot be copied skip the check; the same checks then run on the run's first vector step.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from typing import Any

from rl_lightning.data.envs import check_actions, check_observation
from rl_lightning.seeding import sub_env_seeds

__all__ = ["preflight", "check_writable_dir", "check_can_create_dir"]


def preflight(env: Any, agent: Any, seed: int, train: bool, tuning_hp: Any = None, check_env: Any = None,
              check_agent: Any = None) -> None:
    """Reset a stand-in for ``env``, let a stand-in for ``agent`` act once and step once; raise ``ValueError`` when
    an observation does not fit the observation space or the actions have the wrong shape or dtype.

    Args:
        check_env: a second env built like ``env`` (from the same factory) to check instead of a copy of ``env``;
            closed afterwards. A copy of the agent refers to it (and to its spaces) wherever ``agent`` refers to
            ``env`` (or to its spaces), so ``env`` itself is not copied.
        check_agent: a second agent built like ``agent`` (from the same factory) on ``check_env``, to act instead
            of a copy of ``agent``; used only with ``check_env``.
    """
    if check_env is not None and _shares_an_env(check_env, env):
        # The factory hands out the same env: checking it would reset, step and close the run's.
        check_env = check_agent = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if check_env is None:
                env, agent = copy.deepcopy((env, agent))
            else:
                agent = check_agent if check_agent is not None else copy.deepcopy(agent, _stand_ins(env, check_env))
                env = check_env
    except Exception:  # noqa: BLE001 - uncopyable objects are checked on the run's first step instead
        if check_env is not None:
            check_env.close()
        return
    try:
        seeds = sub_env_seeds(seed, env.num_envs)
        observation, _ = env.reset(seed=seeds if hasattr(env, "envs") else seeds[0])
        check_observation(env, observation, "env.reset()")
        if tuning_hp is not None:
            agent.set_hp(tuning_hp)
        if train and callable(getattr(agent, "reset", None)):
            agent.reset(seed)
        agent.set_num_env(env.num_envs)
        action = agent.act(observation)
        check_actions(env, action)
        next_observation = env.step(action)[0]
        check_observation(env, next_observation, "env.step()")
    finally:
        env.close()


def _shares_an_env(check_env: Any, env: Any) -> bool:
    """Whether ``check_env`` is ``env`` or holds one of its sub-envs (a factory returning one env instance)."""
    if check_env is env:
        return True
    sub_envs = {id(sub_env) for sub_env in getattr(env, "envs", ())}
    return any(id(sub_env) in sub_envs for sub_env in getattr(check_env, "envs", ()))


def _stand_ins(env: Any, check_env: Any) -> dict:
    """A ``copy.deepcopy`` memo that maps ``env`` and its spaces (what agents commonly keep) to ``check_env``'s."""
    memo = {id(env): check_env}
    for name in ("observation_space", "action_space", "single_observation_space", "single_action_space"):
        original, stand_in = getattr(env, name, None), getattr(check_env, name, None)
        if original is not None and stand_in is not None:
            memo[id(original)] = stand_in
    return memo


def check_can_create_dir(name: str, path: str) -> None:
    """Raise ``ValueError`` when ``path`` could not be created or written, without creating anything: its nearest
    existing ancestor must be a writable folder on a filesystem mounted read-write."""
    ancestor = os.path.abspath(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"{name}={path!r} cannot be created: {ancestor!r} is a file; pass a folder path.")
    if not os.access(ancestor, os.W_OK) or os.statvfs(ancestor).f_flag & os.ST_RDONLY:
        raise ValueError(f"{name}={path!r} is not a writable folder ({ancestor!r} is read-only); pass a folder you "
                         "can write to.")


def check_writable_dir(name: str, path: str) -> None:
    """Raise ``ValueError`` when ``path`` (created if missing) cannot hold new files."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_check_"):
            pass
    except OSError as err:
        raise ValueError(f"{name}={path!r} is not a writable folder ({err.strerror or err}); pass a folder you can "
                         "write to.") from err
