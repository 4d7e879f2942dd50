"""What a built-in agent's file (``Run{r}_Last_agent.t`` and the others) holds: plain data only.

Spaces are written as their parameters (:func:`encode_space`), arrays as torch tensors, so a file loads with
``torch.load(weights_only=True)``: opening it cannot run code chosen by whoever wrote it. Files of earlier versions
(gymnasium spaces and numpy arrays pickled as objects) still load, with a warning once per process, through
:func:`~rl_lightning.safe_pickle.load_run_state`'s rules (numpy, torch and gymnasium's classes, nothing else).
"""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_lightning.safe_pickle import restricted_unpickler_module

__all__ = ["encode_space", "decode_space", "load_agent_file"]

_warned_old_format = False


def encode_space(space: gym.Space) -> Any:
    """``space`` as plain data: ``{"kind": "Box", "low", "high", "dtype"}``, ``{"kind": "Discrete", "n", "start"}``,
    ``{"kind": "MultiDiscrete", "nvec", "start"}`` or ``{"kind": "MultiBinary", "n"}``; another space as it is."""
    if isinstance(space, gym.spaces.Box):
        return {"kind": "Box", "low": torch.from_numpy(np.array(space.low)),
                "high": torch.from_numpy(np.array(space.high)), "dtype": np.dtype(space.dtype).name}
    if isinstance(space, gym.spaces.Discrete):
        return {"kind": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"kind": "MultiDiscrete", "nvec": torch.from_numpy(np.array(space.nvec)),
                "start": torch.from_numpy(np.array(space.start))}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"kind": "MultiBinary", "n": np.asarray(space.n).tolist()}
    return space


def decode_space(data: Any) -> gym.Space:
    """The space :func:`encode_space` wrote (a space object, from a file of an earlier version, as it is)."""
    if isinstance(data, gym.Space):
        return data
    kind = data["kind"]
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        return gym.spaces.Box(data["low"].numpy().astype(dtype), data["high"].numpy().astype(dtype), dtype=dtype)
    if kind == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data["start"])
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(data["nvec"].numpy(), start=data["start"].numpy())
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(data["n"])
    raise ValueError(f"unknown space kind {kind!r} in an agent file; known: Box, Discrete, MultiDiscrete, MultiBinary.")


def load_agent_file(path: str, trust: bool = False) -> Any:
    """The dict a built-in agent's ``save(path)`` wrote, loaded with ``weights_only=True``; a file of an earlier
    version through the restricted unpickler, with a one-time warning. ``trust=True`` loads any file with
    Python's plain unpickler (only for files whose author you trust).

    Raises:
        rl_lightning.safe_pickle.UntrustedFileError: the file names anything beyond plain data, numpy, torch and
            gymnasium's classes (and ``trust`` is False).
    """
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    checkpoint = torch.load(path, map_location="cpu", weights_only=False,
                            pickle_module=restricted_unpickler_module(f"the agent file {path}"))
    global _warned_old_format
    if not _warned_old_format:
        _warned_old_format = True
        warnings.warn(f"{path} was written by an earlier version of rl_lightning (spaces pickled as objects); it was "
                      "read without running code, but save the agent again to have a file that loads with "
                      "torch.load(weights_only=True).", UserWarning, stacklevel=3)
    return checkpoint
