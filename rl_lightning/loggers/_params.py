"""Hyperparameters as one flat ``{name: value}`` dict, shared by the loggers' ``log_hyperparams``."""

from __future__ import annotations

import numbers
from argparse import Namespace
from collections.abc import Mapping
from typing import Any


def flatten_params(params: Mapping[str, Any] | Namespace, separator: str = "/") -> dict[str, Any]:
    """Flatten nested mappings and namespaces into ``{"outer/inner": value}``.

    Raises:
        TypeError: ``params`` is neither a mapping nor an ``argparse.Namespace``.
    """
    if isinstance(params, Namespace):
        params = vars(params)
    if not isinstance(params, Mapping):
        raise TypeError(
            f"`params` must be a dict or argparse.Namespace, given {type(params).__name__}; "
            "allowed: a mapping of hyperparameter names to values."
        )
    flat: dict[str, Any] = {}
    for key, value in params.items():
        inner = vars(value) if isinstance(value, Namespace) else value
        if isinstance(inner, Mapping) and inner:
            for inner_key, inner_value in flatten_params(inner, separator).items():
                flat[f"{key}{separator}{inner_key}"] = inner_value
        else:
            flat[str(key)] = inner
    return flat


def is_number(value: Any) -> bool:
    """True for real numbers (``int``, ``float``, numpy scalars); ``bool`` counts as a label, not a number."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
