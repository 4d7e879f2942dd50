"""What a Lightning checkpoint of a run holds, and how a run continues from it exactly.

``checkpoint["rl_lightning"]`` (pickled into bytes, so that Lightning's ``weights_only`` loading of the file
still works: ``trainer.fit(module, ckpt_path="last")`` needs no flag) holds everything a run needs beyond Lightning's own state: the agent (a
plain seed-protocol agent through its own ``save``, restored with its class's ``load``; a Lightning-native
agent's weights and ``get_extra_state`` are already in ``checkpoint["state_dict"]``), the vector env (every
sub-env pickled, where it can be), the episode trackers, step and episode counters, the best return and
its agent, the unwritten episodes, the metrics stream's length, and Python's, numpy's and torch's global
generators. A resumed run truncates its metrics stream to the saved length and replays from there, so no
episode is written twice or lost. A finished run's stream gets the episodes its end writes at once, on
restore: Lightning skips the loop, and ``on_train_end``, of a run whose epoch is done.

Security: restoring a run unpickles that entry, which runs code chosen by whoever wrote the file, as the
seed's metrics pickles and agent files do. Resume only from checkpoints you trust.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import tempfile
from typing import TYPE_CHECKING, Any, Optional

import torch

from rl_lightning.metrics_stream import read_metrics_stream
from rl_lightning.seeding import capture_global_rng, restore_global_rng

if TYPE_CHECKING:  # pragma: no cover
    from rl_lightning.module import AgentModule

__all__ = ["CHECKPOINT_KEY", "run_checkpoint", "restore_run", "restore_agent", "load_agent", "load_checkpoint_entry",
           "CheckpointMismatchError", "describe_env", "describe_agent", "rebuild_env", "rebuild_agent",
           "load_hyperparameters"]

CHECKPOINT_KEY = "rl_lightning"
_FORMAT_VERSION = 1


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


def _stream_length(module: "AgentModule") -> int:
    stream = module._stream
    return os.path.getsize(stream.path) if stream is not None and os.path.exists(stream.path) else 0


def run_checkpoint(module: "AgentModule") -> dict:
    """The ``checkpoint["rl_lightning"]`` entry for ``module``'s current state.

    With ``module.checkpoint_kind == "best"`` the entry holds the agent of the best episode so far and no
    resume state (a best checkpoint is for loading the agent, not for continuing the run); it is cheap to
    write, which matters because the seed's ``>=`` rule rewrites it on every tie. ``"agent"`` holds the
    current agent, also without resume state.
    """
    agent = module.agent
    state = module.state
    best = module.checkpoint_kind == "best"
    agent_only = module.checkpoint_kind != "last"
    entry = {
        "version": _FORMAT_VERSION,
        "kind": module.checkpoint_kind,
        "agent_class": _class_path(type(agent)),
        "observation_space": module.env.single_observation_space,
        "action_space": module.env.single_action_space,
        "agent": state.best_agent if best else agent.save(),
        "best_weights": state.best_weights if best else None,
        "best_return": state.best_return,
        "run": {"seed": module.seed, "run_idx": module.run_idx, "total_steps": module.total_steps,
                "num_episodes": module.num_episodes, "compat": module.compat, "train": module.train_agent},
        "finished": module.rollout.budget_reached,
    }
    if agent_only:
        return entry
    entry.update(
        state={"best_return": state.best_return, "best_agent": state.best_agent, "last_return": state.last_return,
               "checkpoint_counter": state.checkpoint_counter, "pending": list(state.pending),
               "best_weights": state.best_weights, "best_updates": state.best_updates},
        rollout=module.rollout.state_dict(),
        stream_length=_stream_length(module),
        episodes=module.episodes if module._stream is None else None,
        rng=capture_global_rng(),
    )
    return entry


def load_checkpoint_entry(path: str) -> dict:
    """The ``rl_lightning`` entry of a checkpoint file (it is a pickle: load files you trust).

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
    return unpack_entry(checkpoint[CHECKPOINT_KEY])


def pack_entry(entry: dict) -> bytes:
    """The entry as stored in the checkpoint file."""
    return pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_entry(blob: Any) -> dict:
    """The entry back from the checkpoint file (accepts an unpacked dict too)."""
    return blob if isinstance(blob, dict) else pickle.loads(blob)


def load_agent(path: str) -> Any:
    """The agent stored in a Lightning checkpoint of a run (``last.ckpt`` or ``best.ckpt``), rebuilt through its
    class's ``load`` classmethod, as the seed's agent files are."""
    entry = load_checkpoint_entry(path)
    return _load_agent(_import_class(entry["agent_class"]), entry["agent"])


def _check_compatible(module: "AgentModule", saved: dict) -> None:
    agent_class = _class_path(type(module.agent))
    if saved["agent_class"] != agent_class:
        raise CheckpointMismatchError(
            f"the checkpoint holds an agent of class {saved['agent_class']}, but this run's agent is {agent_class}; "
            "resume with the agent class the checkpoint was written with."
        )
    for name in ("observation_space", "action_space"):
        here = getattr(module.env, f"single_{name}")
        if saved[name] != here:
            raise CheckpointMismatchError(
                f"the checkpoint's {name} is {saved[name]}, but this run's env has {here}; resume with the env "
                "the checkpoint was written with."
            )


def _load_agent(cls: type, saved: dict) -> Any:
    """Rebuild a seed-protocol agent with its class's ``load`` (``load(path, checkpoint=...)`` when offered)."""
    if "checkpoint" in inspect.signature(cls.load).parameters:
        return cls.load(None, checkpoint=saved)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resume_agent.t")
        torch.save(saved, path)
        return cls.load(path)


def _entry(checkpoint: dict) -> dict:
    if CHECKPOINT_KEY not in checkpoint:
        raise KeyError(f"the checkpoint has no {CHECKPOINT_KEY!r} entry: it was not written by rl_lightning's "
                       f"AgentModule (keys: {sorted(checkpoint)})")
    return unpack_entry(checkpoint[CHECKPOINT_KEY])


def restore_agent(module: "AgentModule", checkpoint: dict) -> None:
    """Put the checkpoint's agent (of any kind of checkpoint: last, best, or a ``ModelCheckpoint`` file) into
    ``module`` and nothing else: no env, counters, generators or files change. A Lightning-native agent's weights
    come with the checkpoint's ``state_dict``; a seed-protocol agent is rebuilt by its class's ``load``."""
    saved = _entry(checkpoint)
    _check_compatible(module, saved)
    if not isinstance(module.agent, torch.nn.Module):
        object.__setattr__(module, "agent", _load_agent(type(module.agent), saved["agent"]))
        module._act = module.agent.act


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
        raise ValueError(f"the checkpoint {path} does not describe its agent (an nn.Module agent that is not a built-in "
                         "LightningAgent); pass it: load_from_checkpoint(path, agent=make_agent).")
    cls = _import_class(description["class"])
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


def restore_run(module: "AgentModule", checkpoint: dict) -> None:
    """Put ``module`` back in the state :func:`run_checkpoint` captured.

    Raises:
        KeyError: the checkpoint was not written by an ``AgentModule``.
        CheckpointMismatchError: another agent class or other spaces.
    """
    saved = _entry(checkpoint)
    if saved["kind"] != "last":
        raise ValueError(f"this is a {saved['kind']!r} checkpoint, which holds an agent but no run state; resume "
                         "from last.ckpt, or load its agent with rl_lightning.resume.load_agent(path).")
    _check_compatible(module, saved)
    if not isinstance(module.agent, torch.nn.Module):
        object.__setattr__(module, "agent", _load_agent(type(module.agent), saved["agent"]))
        module._act = module.agent.act
    state = module.state
    for name, value in saved["state"].items():
        setattr(state, name, value)
    module.rollout.load_state_dict(saved["rollout"])
    stream = module._stream
    if stream is not None:
        length = saved["stream_length"]
        size = os.path.getsize(stream.path) if os.path.exists(stream.path) else 0
        if size > length:
            with open(stream.path, "r+b") as f:
                f.truncate(length)  # episodes written after the checkpoint are replayed, not duplicated
        elif length and not os.path.exists(stream.path):
            raise FileNotFoundError(f"the checkpoint continues {stream.path}, which is missing")
        if saved["finished"]:
            # Lightning may skip the loop of a finished run, and with it on_train_end: write the episodes the
            # run's end wrote (or was writing when it stopped) again now, after the checkpoint's length.
            stream.append(state.pending)
            state.pending = []
    if module.episodes is not None:
        if saved["episodes"] is not None:
            module.episodes[:] = saved["episodes"]
        elif stream is not None and os.path.exists(stream.path):
            module.episodes[:] = read_metrics_stream(stream.path) + list(state.pending)
    restore_global_rng(saved["rng"])
