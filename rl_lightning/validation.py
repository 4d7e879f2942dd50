"""Checks on user input, run before any work: each error names the parameter, the value and what is valid."""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Optional

__all__ = ["COMPAT_MODES", "check_budget", "check_choice", "check_int", "check_bool"]

#: ``compat`` values: ``"default"`` (rl_lightning's behaviour) and ``"rlbase"`` (the origin trainer's, exactly).
COMPAT_MODES = ("default", "rlbase")


def check_int(name: str, value: Any, minimum: Optional[int] = None) -> None:
    """Raise ``TypeError`` unless ``value`` is an integer (not a bool), ``ValueError`` if below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_bool(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")


def check_choice(name: str, value: Any, allowed: Iterable) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; valid values are {', '.join(map(repr, allowed))}.")


def check_budget(num_episodes: Any, total_steps: Any) -> None:
    """Exactly one of ``num_episodes`` and ``total_steps`` must be a positive integer; the other 0 (or None)."""
    for name, value in (("num_episodes", num_episodes), ("total_steps", total_steps)):
        if value is not None:
            check_int(name, value, minimum=0)
    if bool(num_episodes) == bool(total_steps):
        raise ValueError(
            "Exactly one of num_episodes or total_steps must be non-zero; got "
            f"num_episodes={num_episodes!r}, total_steps={total_steps!r}. Pass num_episodes=100 (episode mode) or "
            "total_steps=20_000 (step mode, env steps summed over sub-envs)."
        )
