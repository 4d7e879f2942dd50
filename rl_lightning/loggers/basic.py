"""Direct TensorBoard logging: every call is written as it is, with no averaging windows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only

from rl_lightning.loggers._checks import metric_numbers
from rl_lightning.loggers._tensorboard_common import _TensorBoardLoggerBase


class BasicCallBack(_TensorBoardLoggerBase):
    """TensorBoard scalars with no averaging: each call writes every key as ``f"{tag}/{key}"`` at ``counter``.

    Exact, but each call costs one TensorBoard event; prefer :class:`TBCallBack` for per-step logging. As in
    :class:`TBCallBack`, events reach the event file in batches (by the first write a second or more after the
    oldest waiting one, and at :meth:`save`/:meth:`close`) with their own step and wall time; the event file is
    created on the first write.

    Args:
        log_dir: directory for the event files; created on the first write, checked for writability now.

    Raises:
        ValueError: ``log_dir`` cannot be written.
        TypeError: ``log_dir`` is not a path.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        super().__init__(log_dir)
        self.global_counter = 0

    @rank_zero_only
    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool | None = None) -> None:
        """Write ``data_dict`` under ``tag`` at step ``counter``; ``force`` is accepted and changes nothing.

        Raises:
            TypeError: a value is not a real number (the message names the tag and key).
        """
        values, _ = metric_numbers(data_dict, tag)
        self.global_counter += 1
        self._writer.scalars((f"{tag}/{key}", value, counter) for key, value in zip(data_dict, values))

    def reset(self) -> None:
        """Zero the call count; the writer stays open."""
        self.global_counter = 0
