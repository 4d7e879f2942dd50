"""A logger that logs nothing: the baseline for benchmarks and for runs that need no metrics."""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from typing_extensions import override

from rl_lightning.loggers._flat import FlatLogger


class EmptyCallBack(FlatLogger):
    """Accepts every call of the logger interface and writes nothing, creating no file or directory.

    Args:
        log_dir: accepted for the seed's signature and reported as ``save_dir``; never written to.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        self._log_dir = None if log_dir is None else os.fspath(log_dir)

    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool | None = None) -> None:
        """Do nothing."""

    def reset(self) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    @property
    @override
    def save_dir(self) -> str | None:
        """The ``log_dir`` given, unused."""
        return self._log_dir

    @override
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Do nothing."""

    @override
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""
