"""The per-run metrics stream: ``metrics_run{r}.pkl``, a sequence of pickled lists of episode dicts.

Chunks are appended as a run goes (highest pickle protocol), so a crash loses at most the chunk being
written; readers load chunk after chunk until the end of the file. A torn final chunk (the process was
killed while writing it) is dropped with a warning, never an exception.

Security: reading a pickle runs code chosen by whoever wrote it. Load metrics files only from sources you
trust.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import warnings
from typing import Any, Sequence

import numpy as np

from rl_lightning.safe_pickle import UntrustedFileError, load_plain_data

__all__ = ["MetricsStreamWriter", "read_metrics_stream", "metrics_stream_path", "dumps_episodes"]


def _numpy_scalar(value: np.generic) -> tuple:
    return type(value), (value.item(),)


# numpy scalars (an episode's actions are numpy scalars) pickle through numpy's own reduce, which stores a dtype
# and raw bytes per value: about 2.5 µs each. Reduced to their type and value as a Python number they load back as
# the same numpy type with the same value, 3-4 times faster and in half the bytes. (Types whose value a Python
# number cannot hold exactly, such as longdouble, keep numpy's reduce.)
# A list of scalars of one of these types also round-trips through an array of that type bit for bit (NaN
# payloads included): _SameTypeScalars below.
_NUMPY_SCALAR_TYPES = frozenset((np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                                 np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128))
_DISPATCH_TABLE = copyreg.dispatch_table.copy()
for _type in _NUMPY_SCALAR_TYPES:
    _DISPATCH_TABLE[_type] = _numpy_scalar


class _SameTypeScalars:
    """Pickles a list of numpy scalars of one type (an episode's ``actions``) as ``list(array)``: one array instead
    of a reduce per value. It loads back, with numpy and the standard library alone, as a list of scalars of the
    same type with the same bits; this class is not needed to read it."""

    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values

    def __reduce__(self) -> tuple:
        return list, (np.asarray(self.values),)


def _packed(episode: Any) -> Any:
    """``episode``, or a shallow copy whose ``actions`` pickle as one array when they are numpy scalars of one type."""
    actions = episode.get("actions") if isinstance(episode, dict) else None
    if type(actions) is not list or not actions:
        return episode
    kind = type(actions[0])
    if kind not in _NUMPY_SCALAR_TYPES or not all(type(a) is kind for a in actions):
        return episode
    packed = dict(episode)
    packed["actions"] = _SameTypeScalars(actions)
    return packed


def dumps_episodes(chunk: Any) -> bytes:
    """``pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)``, numpy scalars reduced as described above and an
    episode's ``actions`` stored as one array (:class:`_SameTypeScalars`); ``pickle.loads`` reads back the same
    objects."""
    if isinstance(chunk, list):
        chunk = [_packed(episode) for episode in chunk]
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH_TABLE
    pickler.dump(chunk)
    return buffer.getvalue()


def metrics_stream_path(exp_dir: str, run_idx: int) -> str:
    """``exp_dir/metrics_run{run_idx}.pkl``."""
    return os.path.join(exp_dir, f"metrics_run{run_idx}.pkl")


class MetricsStreamWriter:
    """Appends chunks of episode dicts to one run's metrics file.

    Args:
        path: the file, usually :func:`metrics_stream_path`.
    """

    def __init__(self, path: str):
        self.path = path

    def remove_stale(self) -> None:
        """Delete a file left by an earlier run, so a fresh run does not append to it."""
        if os.path.exists(self.path):
            os.remove(self.path)

    def append(self, chunk: Sequence[dict]) -> None:
        """Append one chunk (a list of episode dicts); an empty chunk writes nothing.

        Raises:
            OSError: the write failed (a full disk, say); the file is cut back to its earlier chunks, which
                stay readable, and the message says so.
        """
        if not chunk:
            return
        data = dumps_episodes(list(chunk))
        with open(self.path, "ab", buffering=0) as f:
            start = f.seek(0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[f.write(view):]
            except OSError as err:
                _cut_back(f, start)
                raise OSError(err.errno, f"writing {len(chunk)} episodes to the metrics stream {self.path} failed "
                                         f"({err.strerror or err}); the file was cut back to its {start} bytes of "
                                         "earlier chunks, which stay readable") from err


def _cut_back(f, size: int) -> None:
    """Drop a partly written chunk; a failure here leaves a torn tail, which readers drop with a warning."""
    try:
        f.truncate(size)
    except OSError:
        pass


def read_metrics_stream(path: str, safe: bool = False) -> list:
    """Return every episode dict of a metrics file, chunk after chunk.

    Args:
        path: the ``metrics_run{r}.pkl`` file.
        safe: read it without running code: only dicts, lists, tuples, sets, numbers, strings, bytes, ``None``,
            numpy scalars and arrays are constructed (see :func:`~rl_lightning.safe_pickle.load_plain_data`);
            default: Python's plain unpickler, as the seed's loaders do (only for files whose author you trust).

    Raises:
        FileNotFoundError: no file at ``path``.
        TypeError: a chunk is not a list (the file is not a metrics stream).
        rl_lightning.safe_pickle.UntrustedFileError: with ``safe``, a chunk names anything else.
    """
    episodes: list = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while f.tell() < size:
            start = f.tell()
            try:
                chunk = load_plain_data(f, f"the metrics file {path}") if safe else pickle.load(f)
            except UntrustedFileError:
                raise
            except (EOFError, pickle.UnpicklingError, ValueError, AttributeError, IndexError) as err:
                warnings.warn(
                    f"{path}: the chunk at byte {start} is incomplete ({type(err).__name__}); it was dropped and the "
                    f"{len(episodes)} episodes before it were loaded. The run was probably killed while writing it.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            if not isinstance(chunk, list):
                raise TypeError(f"{path}: expected each pickle chunk to be a list, got {type(chunk).__name__}")
            episodes.extend(chunk)
    return episodes
