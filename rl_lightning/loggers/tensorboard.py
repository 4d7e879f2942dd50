"""Buffered TensorBoard logging: one point per (tag, key) every ``flush_every`` calls."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_only
from typing_extensions import override

from rl_lightning.loggers._checks import check_flush_every, counter_error, metric_numbers
from rl_lightning.loggers._tensorboard_common import _TensorBoardLoggerBase
from rl_lightning.loggers._windows import _Windows

_FLUSH_MODES = ("avg", "raw")
# Calls held before they are folded into running sums, which bounds memory whatever flush_every is.
_FOLD_EVERY = 4096


class TBCallBack(_TensorBoardLoggerBase):
    """TensorBoard scalars, buffered so that per-step agents pay little per call.

    Each call without ``force`` adds its values to a window per ``(tag, key)``. Every ``flush_every`` calls
    (counted across all tags) each window is written once as the scalar ``f"{tag}/{key}"``, then all windows are
    cleared:

    * ``flush_mode="avg"``: the mean of the window's values at the mean of its steps;
    * ``flush_mode="raw"``: the window's last value at its last step.

    TensorBoard steps are integers, so a mean step is truncated toward zero; a NaN or inf in a window makes its
    mean NaN or inf.

    ``force=True`` writes each value as it is at step ``counter``, outside the windows and the call count
    (episode returns use it).

    Written points reach the event file in batches: with the first write a second or more after the oldest one
    waiting, or at :meth:`save`/:meth:`close`. Each keeps its step and the wall time at which it was written, so
    the event file holds what writing each at once would give, for far less work. Events are written in this
    thread, framed as tensorboard frames them, not through ``SummaryWriter``'s background thread, which costs
    about three times as much per event; :attr:`experiment` still gives a ``SummaryWriter`` for images and other
    summaries. The event file is created on the first write.

    Args:
        log_dir: directory for the event files; created on the first write, checked for writability now.
        flush_every: calls (across all tags) between writes; ``0`` writes the windows only at :meth:`close`.
        flush_mode: ``"avg"`` or ``"raw"``, as above.

    Raises:
        ValueError: unknown ``flush_mode``, negative ``flush_every``, or a ``log_dir`` that cannot be written.
        TypeError: ``flush_every`` is not an int, or ``log_dir`` is not a path.

    Example::

        tb = TBCallBack("runs/exp", flush_every=100)
        tb({"loss": 0.5}, "agents/run_0", counter=10)  # into the windows
        tb({"ep_return": 21.0}, "ep_return/run_0", counter=10, force=True)  # written as is
        tb.close()  # writes the windows' remainder
    """

    def __init__(self, log_dir: str | os.PathLike, flush_every: int = 1000, flush_mode: str = "avg") -> None:
        if flush_mode not in _FLUSH_MODES:
            raise ValueError(f"`flush_mode` must be one of {_FLUSH_MODES}, given {flush_mode!r}.")
        self.flush_every = check_flush_every(flush_every)
        self.flush_mode = flush_mode
        super().__init__(log_dir)
        self.global_counter = 0
        self._windows = _Windows()

    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool = False) -> None:
        """Log ``data_dict`` under ``tag`` at x-axis value ``counter`` (usually env steps).

        Args:
            data_dict: ``{key: number}``; each becomes the scalar ``f"{tag}/{key}"``.
            tag: group name such as ``"agents/run_0"``.
            counter: step of these values if written (the x axis).
            force: write these values as they are, bypassing the windows and the call count.

        Raises:
            TypeError: a value is not a real number (the message names the tag and key).
        """
        if getattr(rank_zero_only, "rank", 0):  # other ranks write nothing (inline: a decorator costs a call)
            return
        try:
            step = float(counter)
        except (TypeError, ValueError, OverflowError):
            raise counter_error(counter, tag, "a number") from None
        # This runs on every env step. Values whose sum is a Python float are plain numbers: held as given,
        # converted when the windows are folded. Anything else (tensors, numpy values, text) is converted now, so
        # a tensor the caller changes in place later keeps this call's value, and a value that is not a number
        # fails here.
        try:
            total = sum(data_dict.values(), 0.0)
        except (AttributeError, TypeError, ValueError, RuntimeError, OverflowError):
            total = None
        if type(total) is not float:
            values, _ = metric_numbers(data_dict, tag)  # raises, naming the tag and key
            data_dict = dict(zip(data_dict, values))
        if force:
            self._writer.scalars((f"{tag}/{key}", float(value), counter) for key, value in data_dict.items())
            return
        held = self._windows.held
        held.append((tag, tuple(data_dict), step, tuple(data_dict.values())))
        self.global_counter += 1
        if self.flush_every and self.global_counter % self.flush_every == 0:
            self._write()
        elif len(held) >= _FOLD_EVERY:
            self._windows.fold()

    def _write(self) -> None:
        self._writer.scalars(self._windows.drain(average=self.flush_mode == "avg"))

    def reset(self) -> None:
        """Drop the windows and zero the call count; the writer stays."""
        self.global_counter = 0
        self._windows.clear()

    @override
    @rank_zero_only
    def close(self) -> None:
        """Write the windows' remainder, then close the writer (a later write opens a new event file)."""
        if self._windows:
            self._write()
        self._writer.close()
