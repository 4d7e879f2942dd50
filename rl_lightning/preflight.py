"""Checks of a user's env, agent and exp_dir that run before any file is written.

The env's observations and the agent's actions are checked on copies: a first reset, one ``act`` and one
``env.step`` on deep copies of the run's env and agent, so the run itself starts exactly as it would without
the check. Objects that cannot be copied skip this; the same checks then run on the run's first vector step.
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


def preflight(env: Any, agent: Any, seed: int, train: bool, tuning_hp: Any = None) -> None:
    """Reset a copy of ``env``, let a copy of ``agent`` act once and step once; raise ``ValueError`` when an
    observation does not fit the observation space or the actions have the wrong shape or dtype."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env, agent = copy.deepcopy((env, agent))
    except Exception:  # noqa: BLE001 - uncopyable objects are checked on the run's first step instead
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
