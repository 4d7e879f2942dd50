"""What a Lightning checkpoint of a run holds, and how a run continues from it exactly.

``checkpoint["rl_lightning"]`` (pickled into bytes, so that Lightning's ``weights_only`` loading of the file
still works: ``trainer.fit(module, ckpt_path="last")`` needs no flag) holds everything a run needs beyond
Lightning's own state (:func:`run_entry`): the agent (a plain seed-protocol agent through its own ``save``,
restored with its class's ``load``; a Lightning-native agent's weights and ``get_extra_state`` are already in
``checkpoint["state_dict"]``), and the ``state_dict`` of each part of the module: the rollout (the vector env, every
sub-env pickled where it can be, the episode trackers, step and episode counters) and the
:class:`~rl_lightning.recorder.RunRecorder` (the best return and its agent, the unwritten episodes, the metrics
stream's length), plus Python's, numpy's and torch's global generators. The module assembles and restores it
(``AgentModule.on_save_checkpoint`` / ``on_load_checkpoint``); this file holds the format, the checks and what
``load_from_checkpoint`` rebuilds from a checkpoint alone.

Security: the entry is a pickle; it is read with :func:`~rl_lightning.safe_pickle.load_run_state`, which constructs
nothing but plain data, numpy, torch tensors, gymnasium's classes and the classes of the resuming run's own env and
agent, and refuses anything else unless the file is trusted explicitly (``trust_checkpoint=True``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import tempfile
from typing import Any, Iterable, Optional

import torch

from rl_lightning.safe_pickle import load_run_state

__all__ = ["CHECKPOINT_KEY", "run_entry", "read_entry", "recorder_state", "check_compatible", "load_seed_agent",
           "load_agent", "load_checkpoint_entry", "CheckpointMismatchError", "describe_env", "describe_agent",
           "rebuild_env", "rebuild_agent", "load_hyperparameters"]

CHECKPOINT_KEY = "rl_lightning"
_FORMAT_VERSION = 2  # 2: the recorder's state under "recorder"


class CheckpointMismatchError(ValueError):
    """The checkpoint was written for another agent class or other spaces than the run loading it."""


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_class(path: str) -> type:
    module_name, _, qualname = path.rpartition(".")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_entry(kind: str, agent: Any, env: Any, run: dict, *, finished: bool, saved_agent: Any,
              best_weights: Optional[dict], best_return: float) -> dict:
    """The part of ``checkpoint["rl_lightning"]`` every kind of checkpoint holds: the agent (``saved_agent``: its
    ``save()`` dict), its class and spaces (checked on restore), the run's settings, whether its budget is spent.
    A ``"last"`` checkpoint adds ``recorder``, ``rollout`` and ``rng`` (the module's parts' ``state_dict`` s and the
    global generators); a ``"best"`` one holds the best episode's agent and weights, for loading, not resuming."""
    return {
        "version": _FORMAT_VERSION,
        "kind": kind,
        "agent_class": _class_path(type(agent)),
        "observation_space": env.single_observation_space,
        "action_space": env.single_action_space,
        "agent": saved_agent,
        "best_weights": best_weights,
        "best_return": best_return,
        "run": run,
        "finished": finished,
    }


def recorder_state(saved: dict) -> dict:
    """The recorder's ``state_dict`` in an entry (version 1 entries kept its three keys at the top level)."""
    if "recorder" in saved:
        return saved["recorder"]
    return {key: saved[key] for key in ("state", "stream_length", "episodes")}


def load_checkpoint_entry(path: str, trust: bool = False, allowed_modules: Iterable[str] = ()) -> dict:
    """The ``rl_lightning`` entry of a checkpoint file, read with :func:`~rl_lightning.safe_pickle.load_run_state`
    (plain data, numpy, torch and gymnasium classes, and classes of ``allowed_modules``; ``trust=True``: any).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable checkpoint, or was not written by an ``AgentModule``.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"the checkpoint file {path} is corrupted or not a checkpoint: {err}") from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise ValueError(f"the checkpoint file {path} was not written by rl_lightning's AgentModule")
    return unpack_entry(checkpoint[CHECKPOINT_KEY], path, allowed_modules, trust)


def pack_entry(entry: dict) -> bytes:
    """The entry as stored in the checkpoint file."""
    return pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_entry(blob: Any, where: str = "the checkpoint", allowed_modules: Iterable[str] = (),
                 trust: bool = False) -> dict:
    """The entry back from the checkpoint file (accepts an unpacked dict too), read without running code unless
    ``trust`` (see :func:`~rl_lightning.safe_pickle.load_run_state`)."""
    if isinstance(blob, dict):
        return blob
    return load_run_state(blob, f"the run state in {where}", allowed_modules, trust)


def load_agent(path: str, trust: bool = False) -> Any:
    """The agent stored in a Lightning checkpoint of a run (``last.ckpt`` or ``best.ckpt``), rebuilt through its
    class's ``load`` classmethod, as the seed's agent files are. The entry is read without running code unless
    ``trust``."""
    entry = load_checkpoint_entry(path, trust)
    from rl_lightning.agents.registry import resolve_agent

    return load_seed_agent(resolve_agent(entry["agent_class"], needs=("load",)), entry["agent"])


def check_compatible(saved: dict, agent: Any, env: Any) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``saved`` was written for ``agent``'s class and ``env``'s
    spaces."""
    agent_class = _class_path(type(agent))
    if saved["agent_class"] != agent_class:
        raise CheckpointMismatchError(
            f"the checkpoint holds an agent of class {saved['agent_class']}, but this run's agent is {agent_class}; "
            "resume with the agent class the checkpoint was written with."
        )
    for name in ("observation_space", "action_space"):
        here = getattr(env, f"single_{name}")
        if saved[name] != here:
            raise CheckpointMismatchError(
                f"the checkpoint's {name} is {saved[name]}, but this run's env has {here}; resume with the env "
                "the checkpoint was written with."
            )


def load_seed_agent(cls: type, saved: dict) -> Any:
    """Rebuild a seed-protocol agent with its class's ``load`` (``load(path, checkpoint=...)`` when offered)."""
    if "checkpoint" in inspect.signature(cls.load).parameters:
        return cls.load(None, checkpoint=saved)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resume_agent.t")
        torch.save(saved, path)
        return cls.load(path)


def read_entry(checkpoint: dict, allowed_modules: Iterable[str] = (), trust: bool = False) -> dict:
    """The ``rl_lightning`` entry of a loaded checkpoint dict, read without running code unless ``trust``: it accepts
    the classes of ``allowed_modules`` (the resuming run's env and agent) beside plain data.

    Raises:
        KeyError: the checkpoint was not written by an ``AgentModule``.
    """
    if CHECKPOINT_KEY not in checkpoint:
        raise KeyError(f"the checkpoint has no {CHECKPOINT_KEY!r} entry: it was not written by rl_lightning's "
                       f"AgentModule (keys: {sorted(checkpoint)})")
    return unpack_entry(checkpoint[CHECKPOINT_KEY], "the checkpoint", allowed_modules, trust)


# ---------------------------------------------------------------- what load_from_checkpoint rebuilds alone
_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN)


def describe_env(env: Any) -> Optional[dict]:
    """``{"id", "kwargs"}`` of a vector env that ``gymnasium.make_vec(id, **kwargs)`` builds again exactly (wrapper
    classes as class paths), or ``None`` where that is not so (an env assembled by hand, or wrapped afterwards)."""
    import gymnasium as gym

    spec = getattr(env, "spec", None)
    if spec is None or isinstance(env, gym.vector.VectorWrapper) or not isinstance(spec.id, str):
        return None
    kwargs = dict(spec.kwargs)
    wrappers = kwargs.get("wrappers")
    if wrappers:
        if not all(isinstance(w, type) for w in wrappers):
            return None
        kwargs["wrappers"] = [_class_path(w) for w in wrappers]
    return {"id": spec.id, "kwargs": kwargs} if _plain(kwargs) else None


def rebuild_env(description: Optional[dict], path: str) -> Any:
    """The env factory :func:`describe_env` described. Raises ``ValueError`` naming what to pass instead."""
    if not isinstance(description, dict):
        raise ValueError(f"the checkpoint {path} does not describe its env (it was built by your own code, not by "
                         "gymnasium.make_vec of a registered id); pass it: load_from_checkpoint(path, env=make_env).")
    import gymnasium as gym

    kwargs = dict(description["kwargs"])
    if kwargs.get("wrappers"):
        kwargs["wrappers"] = [_import_class(w) for w in kwargs["wrappers"]]
    return lambda: gym.make_vec(description["id"], **kwargs)


def describe_agent(agent: Any) -> Optional[dict]:
    """``{"class", "hyperparameters"}`` of a built-in (``LightningAgent``) agent; ``{"class"}`` of a seed-protocol
    agent, which its class's ``load`` rebuilds from the checkpoint; ``None`` for another ``nn.Module`` agent."""
    params = getattr(agent, "params", None)
    if isinstance(agent, torch.nn.Module):
        to_dict = getattr(params, "to_dict", None)
        if not callable(to_dict) or not hasattr(type(agent), "params_class") or not _plain(to_dict()):
            return None
        return {"class": _class_path(type(agent)), "hyperparameters": to_dict()}
    return {"class": _class_path(type(agent))} if callable(getattr(type(agent), "load", None)) else None


def rebuild_agent(description: Optional[dict], path: str) -> Any:
    """The agent (factory) :func:`describe_agent` described. Raises ``ValueError`` naming what to pass instead."""
    if not isinstance(description, dict):
        raise ValueError(f"the checkpoint {path} does not describe its agent (an nn.Module agent that is not a "
                         "built-in LightningAgent); pass it: load_from_checkpoint(path, agent=make_agent).")
    from rl_lightning.agents.registry import resolve_agent

    cls = resolve_agent(description["class"])
    if "hyperparameters" not in description:
        return load_agent(path)
    params = cls.params_class.from_dict(description["hyperparameters"])
    return lambda env: cls(env.single_observation_space, env.single_action_space, params, num_envs=env.num_envs)


def load_hyperparameters(path: str) -> dict:
    """The hyperparameters Lightning saved in a checkpoint (plain data; loaded with ``weights_only=True``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return dict(checkpoint.get("hyper_parameters") or {})
