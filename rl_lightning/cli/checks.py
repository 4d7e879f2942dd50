"""Checks on command-line input, run before anything is written: each error names what is wrong and what is valid.

Every check raises :class:`CLIError`, which :func:`rl_lightning.cli.main` prints on stderr and turns into exit
status 2.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any, Iterable, Sequence

import yaml

__all__ = ["CLIError", "nearest", "check_keys", "check_env_id", "import_class", "read_yaml"]


class CLIError(ValueError):
    """Bad command-line input; ``rl-lightning`` prints it and exits with status 2."""


def nearest(key: str, valid: Iterable[str]) -> str:
    """``" (nearest: 'a', 'b')"`` for the close matches of ``key`` among ``valid``, or ``""`` when none is close."""
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    return f" (nearest: {', '.join(map(repr, close))})" if close else ""


def check_keys(keys: Iterable[str], valid: Sequence[str], where: str) -> None:
    """Refuse the first of ``keys`` that is not in ``valid``.

    Args:
        keys: the keys given.
        valid: the keys allowed, in the order to list them.
        where: what held the keys, for the message (e.g. ``"configs/x.yaml"``, ``"--model.hyperparameters"``).
    """
    for key in keys:
        if key not in valid:
            raise CLIError(f"{where}: unknown key {key!r}{nearest(key, valid)}; valid keys are: {', '.join(valid)}.")


def check_env_id(env_id: str) -> None:
    """Refuse an ``env_id`` gymnasium has not registered, naming its close matches."""
    import gymnasium as gym

    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    hint = (f" Did you mean {', '.join(map(repr, close))}?" if close
            else " `python -c 'import gymnasium; gymnasium.pprint_registry()'` lists the registered ids.")
    raise CLIError(f"env_id={env_id!r} is not a registered gymnasium env.{hint}")


def import_class(path: str, what: str) -> type:
    """The class named by a dotted ``path`` (``"package.module.Class"``).

    Args:
        path: the class path.
        what: the parameter that gave it, for the message (e.g. ``"wrappers"``).
    """
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise CLIError(f"{what}={path!r} is not a class path; give 'package.module.Class'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CLIError(f"{what}={path!r}: cannot import module {module_name!r} ({error}).") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        raise CLIError(f"{what}={path!r}: module {module_name!r} has no class {name!r}{nearest(name, classes)}.")
    return cls


def read_yaml(path: str) -> Any:
    """The content of the YAML file at ``path`` (``1e-3`` read as a float); a syntax error names file, line and
    column."""
    from rl_lightning.agents.config import ConfigLoader

    if not os.path.isfile(path):
        raise CLIError(f"--config {path!r}: no such file.")
    with open(path) as f:
        try:
            return yaml.load(f, Loader=ConfigLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
            problem = getattr(error, "problem", None) or str(error)
            raise CLIError(f"invalid YAML in {where}: {problem}.") from None
