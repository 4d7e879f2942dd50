"""``GreedyEvaluation``: the episodes of ``AgentModule``'s validation and test loops.

Each validation (or test) plays ``num_episodes`` greedy episodes of the training agent on an evaluation env of its
own, whose sub-env ``i`` resets with ``seed + i`` every time: the same starts each time, so what changes between
validations comes from the agent. Greedy acting follows the seed protocol: ``agent.eval()`` before and
``agent.train()`` after for an agent that has both (an agent that was not training stays in ``eval``); otherwise
``act(obs, greedy=True)`` where ``act`` takes it. ``update`` and ``reset`` are never called, and Python's, numpy's
and torch's global generators are put back afterwards, so the training run collects exactly what it would without.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import numpy as np
import torch

from rl_lightning.data.envs import EnvLike, as_vector_env
from rl_lightning.data.rollout import greedy_episodes
from rl_lightning.protocol import greedy_act
from rl_lightning.seeding import capture_global_rng, restore_global_rng

__all__ = ["GreedyEvaluation", "EVAL_METRICS"]

#: What each validation or test reports (logged under ``val/`` or ``test/``): the greedy returns' mean, standard
#: deviation, min and max, and the mean episode length.
EVAL_METRICS = ("ep_return", "ep_return_std", "ep_return_min", "ep_return_max", "ep_length")


class GreedyEvaluation:
    """Greedy episodes on an evaluation env, built once per fit.

    Args:
        num_episodes: episodes per evaluation, across the evaluation env's sub-envs (the first to finish are kept).
        val_env: the evaluation env or a factory of it; ``None``: the training env's factory called again, else a
            copy of the training env.
    """

    def __init__(self, num_episodes: int, val_env: Optional[EnvLike] = None):
        self.num_episodes = num_episodes
        self.val_env = val_env
        self.env: Any = None

    def build(self, train_env_source: Any, train_env: Any) -> Any:
        """The evaluation env (built on the first call), with as many sub-envs as ``train_env``.

        Raises:
            ValueError: no evaluation env can be had (an instance that cannot be copied), or its sub-env count
                differs from the training env's.
        """
        if self.env is not None:
            return self.env
        source = self.val_env
        if source is None and callable(train_env_source):
            source = train_env_source
        try:
            env = as_vector_env(source() if callable(source) else source) if source is not None else \
                copy.deepcopy(train_env)
        except Exception as error:  # noqa: BLE001 - any env may refuse to be copied
            raise ValueError(
                f"validation and test need an evaluation env, and none was given: the env {type(train_env).__name__} "
                f"is an instance that cannot be copied ({error}). Pass AgentModule(..., val_env=make_eval_env) or "
                "give env as a factory; or turn validation off with Trainer(limit_val_batches=0).") from error
        if env.num_envs != train_env.num_envs:
            num_envs = env.num_envs
            env.close()
            raise ValueError(f"the evaluation env has {num_envs} sub-envs but the training env has "
                             f"{train_env.num_envs}, and the agent acts for {train_env.num_envs}: build val_env "
                             f"with num_envs={train_env.num_envs}.")
        self.env = env
        return env

    def play(self, agent: Any, seed: int, training: bool) -> tuple[dict, int]:
        """Play the greedy episodes from ``seed``; return ``({name: value} for :data:`EVAL_METRICS`, episodes)``.

        ``training``: the agent's mode when it has no ``training`` attribute of its own.
        """
        env = self.env
        if getattr(agent, "num_envs", None) != env.num_envs:  # validate/test before any fit
            agent.set_num_env(env.num_envs)
        switches = callable(getattr(agent, "eval", None)) and callable(getattr(agent, "train", None))
        was_training = bool(getattr(agent, "training", training))
        rng = capture_global_rng()
        if switches:
            agent.eval()
        try:
            with torch.no_grad():
                episodes = greedy_episodes(env, greedy_act(agent), self.num_episodes, seed)
        finally:
            if switches and was_training:
                agent.train()
            restore_global_rng(rng)
        returns = np.array([e["ep_return"] for e in episodes], dtype=np.float64)
        lengths = np.array([e["ep_length"] for e in episodes], dtype=np.float64)
        values = (returns.mean(), returns.std(), returns.min(), returns.max(), lengths.mean())
        return {name: float(value) for name, value in zip(EVAL_METRICS, values, strict=True)}, len(episodes)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
