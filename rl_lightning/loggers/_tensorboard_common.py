"""The TensorBoard side shared by :class:`TBCallBack` and :class:`BasicCallBack`.

``_TensorBoardWriter`` owns the event file and creates it when it first writes, so an instance that never
writes leaves no event file and stays picklable until then. ``_TensorBoardLoggerBase`` is the Lightning
``Logger`` face both callbacks share.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import struct
import time
from argparse import Namespace
from collections.abc import Iterable
from typing import Any

import google_crc32c
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from tensorboard.compat.proto.event_pb2 import Event
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from typing_extensions import override

from rl_lightning.loggers._checks import check_path, check_writable_dir, to_float
from rl_lightning.loggers._flat import FlatLogger
from rl_lightning.loggers._params import flatten_params, is_number

# Events kept before they are written together (see _TensorBoardWriter).
_DELIVERY_INTERVAL_S = 1.0
_MAX_PENDING_EVENTS = 1024
# Tells apart the event files one process opens in the same second (as tensorboard's own writer does).
_file_numbers = itertools.count()


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C checksum of ``data`` that TFRecord files (TensorBoard's event files) carry."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_PACK_FLOAT = struct.Struct("<f").pack
_PACK_DOUBLE = struct.Struct("<d").pack
_ZERO_DOUBLE = bytes(8)
_UINT64 = (1 << 64) - 1


def _varint(n: int) -> bytes:
    """``n`` (0 <= n < 2**64) as a protobuf varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _float32(value: float) -> bytes:
    """``value`` as the float32 protobuf stores for it (C's double-to-float cast: out of range becomes inf)."""
    try:
        return _PACK_FLOAT(value)
    except OverflowError:
        return _PACK_FLOAT(math.copysign(math.inf, value))


def scalar_event(wall_time: float, step: int, values: list) -> bytes:
    """The serialized ``Event(wall_time, step, summary=Summary(value=[Summary.Value(tag, simple_value), ...]))``
    for ``values`` of ``(tag, number)``: the bytes protobuf's ``SerializeToString`` gives, without building the
    message objects (~4 µs an event with protobuf, most of what writing one cost).

    Raises:
        ValueError: ``step`` does not fit an int64 (as protobuf refuses it).
    """
    if not -(1 << 63) <= step < (1 << 63):
        raise ValueError(f"TensorBoard steps are int64; step {step} is out of range.")
    summary = bytearray()
    for tag, value in values:
        name = tag.encode()
        entry = (b"\x0a" + _varint(len(name)) + name if name else b"") + b"\x15" + _float32(value)
        summary += b"\x0a" + _varint(len(entry)) + entry
    # Fields in number order; proto3 leaves out a zero wall time and step.
    wall = _PACK_DOUBLE(wall_time)
    head = (b"\x09" + wall if wall != _ZERO_DOUBLE else b"") + (b"\x10" + _varint(step & _UINT64) if step else b"")
    return head + b"\x2a" + _varint(len(summary)) + bytes(summary)


def tf_record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord: its length (uint64), the length's checksum, the data, its checksum."""
    length = struct.pack("<Q", len(data))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), data, struct.pack("<I", masked_crc32c(data))))


class _TensorBoardWriter:
    """Writes TensorBoard events to one event file in ``log_dir``, opened on the first write (and again after
    ``close``).

    TensorBoard's ``SummaryWriter`` hands every event to a background thread, and the two threads then take
    Python's GIL from each other: about three times what writing the event costs (``benchmarks/README.md``). So
    events are kept here, each with its step and wall time, and written together, in this thread: by the first
    write at least ``_DELIVERY_INTERVAL_S`` after the oldest one (or once ``_MAX_PENDING_EVENTS`` wait), and at
    :meth:`flush`/:meth:`close`. Each batch reaches the OS in one write. Records are framed as tensorboard's
    ``RecordWriter`` frames them, with the checksums from google-crc32c's C code (tensorboard's own pure-Python
    CRC32C took ~17 µs per event, half of what logging an episode to TensorBoard cost). The file is named as
    tensorboard names its own (``events.out.tfevents.<time>.<host>.<pid>.<n>``) and opens with the same version
    record.
    """

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self._file: Any = None  # the event file, opened by the first write
        self._summary_writer: SummaryWriter | None = None
        self._pending: list[tuple[int, float, list[tuple[str, float]]]] = []  # (step, wall time, [(tag, value)])

    @property
    def summary_writer(self) -> SummaryWriter:
        """A ``SummaryWriter`` for what else a user writes (images, histograms): its own event file, same folder."""
        if self._summary_writer is None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._summary_writer = SummaryWriter(log_dir=self.log_dir)
        return self._summary_writer

    def _open(self) -> Any:
        os.makedirs(self.log_dir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%s.%s" % (time.time(), socket.gethostname(), os.getpid(),
                                                      next(_file_numbers))
        self._file = open(os.path.join(self.log_dir, name), "ab")  # noqa: SIM115 - closed by close()
        self._file.write(tf_record(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()))
        return self._file

    def scalars(self, points: Iterable[tuple[str, float, float]]) -> None:
        """Write ``(tag, value, step)`` points stamped with the current time, one event per step.

        TensorBoard steps are integers, so ``step`` is truncated toward zero; values are stored as float32, as
        ``SummaryWriter.add_scalar`` stores them. Consecutive points at the same step share one event (with the
        wall time of the first): TensorBoard reads every value of an event, and each event costs its encoding and
        checksums.
        """
        now = time.time()
        pending = self._pending
        oldest = pending[0][1] if pending else now
        for tag, value, step in points:
            whole_step = int(step)
            if pending and pending[-1][0] == whole_step:
                pending[-1][2].append((tag, value))
            else:
                pending.append((whole_step, now, [(tag, value)]))
        if now - oldest >= _DELIVERY_INTERVAL_S or len(pending) >= _MAX_PENDING_EVENTS:
            self._deliver()

    def _deliver(self) -> None:
        if not self._pending:
            return
        events = [scalar_event(walltime, step, values) for step, walltime, values in self._pending]
        self._pending.clear()
        self._write(events)

    def _write(self, events: list) -> None:
        """Write serialized events, each framed as a record."""
        file = self._file or self._open()
        file.write(b"".join(tf_record(event) for event in events))
        file.flush()

    def hyperparams(self, params: dict[str, Any]) -> None:
        """Write ``params`` for TensorBoard's HParams tab; values that are not numbers, bools or text become text."""
        clean = {k: v if (is_number(v) or isinstance(v, (bool, str))) else str(v) for k, v in params.items()}
        self._deliver()
        now = time.time()
        self._write([Event(wall_time=now, summary=summary).SerializeToString() for summary in hparams(clean, {})])

    def flush(self) -> None:
        """Write pending events (and flush the ``SummaryWriter`` of :attr:`summary_writer`, if one was opened)."""
        self._deliver()
        if self._summary_writer is not None:
            self._summary_writer.flush()

    def close(self) -> None:
        """Write pending events and close the event file (and the ``SummaryWriter``, if one was opened)."""
        self._deliver()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._summary_writer is not None:
            self._summary_writer.close()
            self._summary_writer = None

    def __getstate__(self) -> dict[str, Any]:
        # An open file (and a SummaryWriter's thread) cannot be copied; a copy opens its own on its first write.
        state = self.__dict__.copy()
        state["_file"] = state["_summary_writer"] = None
        return state


class _TensorBoardLoggerBase(FlatLogger):
    """Lightning ``Logger`` methods common to the TensorBoard callbacks.

    ``log_metrics`` writes each metric as it is (no windows), its name used as the TensorBoard tag
    (``"train/loss"`` stays ``"train/loss"``). ``log_hyperparams`` writes them for the HParams tab, nested keys
    joined with ``/``. ``save`` (which Lightning calls after each ``log_metrics``) writes the events waiting
    for their batch.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        super().__init__()
        path = check_path("log_dir", log_dir)
        check_writable_dir("log_dir", path)
        self._writer = _TensorBoardWriter(path)
        self._lightning_calls = 0

    @property
    @override
    def save_dir(self) -> str:
        """The directory holding the event files."""
        return self._writer.log_dir

    @property
    @override
    def log_dir(self) -> str:
        """The directory holding the event files."""
        return self._writer.log_dir

    @property
    @rank_zero_experiment
    def experiment(self) -> SummaryWriter:
        """A ``SummaryWriter`` in :attr:`log_dir` for anything beyond scalars (images, histograms, graphs), created
        on first access. It writes its own event file beside this logger's; TensorBoard reads both."""
        return self._writer.summary_writer

    @override
    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Write each metric as it is at ``step`` (optimizer steps from Lightning; call count when ``None``)."""
        if step is None:
            step = self._lightning_calls
        self._lightning_calls += 1
        self._writer.scalars((name, to_float(value, None, name), step) for name, value in metrics.items())

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Write ``params`` (a dict or ``argparse.Namespace``, nested allowed) for TensorBoard's HParams tab."""
        self._writer.hyperparams(flatten_params(params))

    @override
    @rank_zero_only
    def save(self) -> None:
        """Write the events waiting for their batch to the event file; values still buffered by ``flush_every``
        stay buffered."""
        self._writer.flush()

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Called by Lightning at the end of ``fit``: same as :meth:`close`."""
        self.close()

    @rank_zero_only
    def close(self) -> None:
        """Close the writer (a later write opens a new event file)."""
        self._writer.close()
