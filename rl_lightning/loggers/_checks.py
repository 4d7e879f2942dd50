"""Argument checks shared by the loggers: done in ``__init__`` or at call time, never with ``assert``."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

_REPR_LIMIT = 80


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def check_path(name: str, value: Any) -> str:
    """Return ``value`` as a ``str`` path, or raise ``TypeError`` if it is not a ``str`` or ``os.PathLike``."""
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return path
    raise TypeError(f"`{name}` must be a non-empty str or os.PathLike path, given {_short_repr(value)}.")


def check_flush_every(value: Any) -> int:
    """Return ``flush_every`` as an ``int`` (calls between writes; 0 means only at close)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`flush_every` must be an int, given {_short_repr(value)} of type {type(value).__name__}; "
            "allowed: 0 (write only at close) or a positive number of calls."
        )
    if value < 0:
        raise ValueError(
            f"`flush_every` must be >= 0, given {value}; "
            "allowed: 0 (write only at close) or a positive number of calls."
        )
    return int(value)


def _nearest_existing(path: str) -> str:
    """The longest prefix of ``path`` that exists on disk (``path`` itself when it exists)."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def check_writable_dir(name: str, path: str) -> None:
    """Raise ``ValueError`` unless ``path`` is, or could be created as, a writable directory.

    Nothing is created here: the directory is made on the first write.
    """
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise ValueError(
            f"`{name}`={path!r} cannot be used as a log directory: {existing!r} exists and is not a directory; "
            "allowed: an existing writable directory or a path whose existing parent is a writable directory."
        )
    # os.access alone says yes to root everywhere; a read-only mount refuses root too.
    if not os.access(existing, os.W_OK | os.X_OK) or os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise ValueError(
            f"`{name}`={path!r} cannot be used as a log directory: {existing!r} is not writable by this process; "
            "allowed: an existing writable directory or a path whose existing parent is a writable directory."
        )


def check_writable_file(name: str, path: str) -> None:
    """Raise ``ValueError`` unless ``path`` is, or could be created as, a file this process may append to."""
    if os.path.isdir(path):
        raise ValueError(f"`{name}`={path!r} is a directory; allowed: a file path such as 'logs/metrics.jsonl'.")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"`{name}`={path!r} exists but is not writable; allowed: a file this process may write.")
        return
    check_writable_dir(name, os.path.dirname(os.path.abspath(path)))


def metric_numbers(metrics: Mapping[str, Any], tag: str) -> tuple[tuple[float, ...], float]:
    """Convert the values of ``metrics`` to floats on the hot path; return them and their sum.

    The sum is NaN or inf when a value is (or when finite values overflow), which lets callers keep a fast path
    for finite values.

    Raises:
        TypeError: ``metrics`` is not a mapping, or a value is not a real number (the message names ``tag`` and
            the key).
    """
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"`data_dict` for tag {tag!r} must be a mapping of metric names to numbers, "
            f"given {_short_repr(metrics)} of type {type(metrics).__name__}."
        )
    try:
        # ``float()`` alone would accept text such as "1.5"; adding to 0.0 refuses text and None.
        total = sum(metrics.values(), 0.0)
        return tuple(map(float, metrics.values())), total
    except (TypeError, ValueError, RuntimeError, OverflowError):
        values = tuple(to_float(value, tag, key) for key, value in metrics.items())
        return values, sum(values)


def counter_error(counter: Any, tag: str, allowed: str) -> TypeError:
    """The error for a ``counter`` (a record's step) that cannot be converted; ``allowed`` says what can."""
    return TypeError(f"`counter` for tag {tag!r} must be {allowed} (the record's step), given {counter!r} of type "
                     f"{type(counter).__name__}.")


def to_float(value: Any, tag: str | None, key: str) -> float:
    """Convert one metric value to ``float``; NaN and inf pass through, text and containers are refused."""
    if not isinstance(value, (str, bytes, bytearray)):
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            pass
    where = f"Metric {key!r}" if tag is None else f"Metric {key!r} under tag {tag!r}"
    raise TypeError(
        f"{where} has value {_short_repr(value)} of type {type(value).__name__}; "
        "allowed: a real number (int, float, numpy scalar or one-element tensor; NaN and inf included)."
    )
