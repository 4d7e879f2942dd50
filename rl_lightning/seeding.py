"""Seeds: one place computes the seed of every run, rank and sub-environment.

The formulas are the seed trainer's contract (``trainers-seed.md``); experiments made with it are
reproduced only if they stay exactly as they are.
"""

from __future__ import annotations

import random
from typing import Any, Optional

import numpy as np
import torch

__all__ = ["run_seed", "sub_env_seeds", "MAX_SEED", "capture_global_rng", "restore_global_rng"]

#: Largest seed drawn when no ``seed_offset`` is given (inclusive), as the seed trainer draws it.
MAX_SEED = 2**32 - 1


def run_seed(
    run_idx: int,
    seed_offset: Optional[int],
    num_episodes: int = 0,
    total_steps: int = 0,
    rng: Optional[random.Random] = None,
) -> int:
    """Return the seed of run ``run_idx`` (1-based).

    With a ``seed_offset``: ``(run_idx - 1) * num_episodes + seed_offset`` in episode mode
    (``num_episodes > 0``) and ``(run_idx - 1) * total_steps + seed_offset`` in step mode.
    Without one: a draw from ``rng`` (Python's global :mod:`random` by default) in ``[0, 2**32 - 1]``.

    Args:
        run_idx: 1-based index of the run.
        seed_offset: the user's offset, or ``None`` for a random seed.
        num_episodes: episodes per run (episode mode), 0 in step mode.
        total_steps: env steps per run, summed over sub-envs (step mode), 0 in episode mode.
        rng: the generator to draw from when ``seed_offset`` is ``None``.
    """
    if seed_offset is None:
        return (rng or random).randint(0, MAX_SEED)
    per_run = num_episodes if num_episodes > 0 else total_steps
    return (run_idx - 1) * per_run + seed_offset


def sub_env_seeds(seed: int, num_envs: int, global_rank: int = 0) -> list[int]:
    """Return the reset seeds of a rank's sub-environments: ``seed + global_rank * num_envs + i``.

    On one process (``global_rank == 0``) this is the seed trainer's ``[seed + i for i in range(num_envs)]``;
    under DDP every rank gets its own block of seeds, so ranks collect different data.

    Args:
        seed: the run's seed.
        num_envs: sub-environments per rank.
        global_rank: this process's rank among all processes.
    """
    first = seed + global_rank * num_envs
    return [first + i for i in range(num_envs)]


def capture_global_rng() -> dict[str, Any]:
    """The state of every process-global generator: Python's ``random``, numpy's legacy global one, torch's
    CPU generator and, where CUDA is available, every CUDA device's."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_global_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_global_rng` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
