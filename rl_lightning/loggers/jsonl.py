"""JSON-lines logging: one ``{"step", "tag", "metrics"}`` record per call, cheap enough for every env step."""

from __future__ import annotations

import json
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

import orjson
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from typing_extensions import override

from rl_lightning.loggers._checks import (
    check_flush_every,
    check_path,
    check_writable_file,
    counter_error,
    metric_numbers,
)
from rl_lightning.loggers._flat import FlatLogger
from rl_lightning.loggers._params import flatten_params, is_number

# JSON has no NaN/inf; Python's json module writes and reads these tokens, so we write the same ones.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
# Bounds memory when flush_every is 0 or very large; only whole lines are ever written.
_MAX_HELD_LINES = 16384
LIGHTNING_TAG = "lightning"
HPARAMS_TAG = "hparams"


class _JsonlWriter:
    """Owns the JSONL file: holds records, formats them in batches, hands whole lines to the OS in one write.

    A call only appends ``(tag, keys, step, values)`` to :attr:`held`: plain numbers as given, other values
    converted (a tuple, so later changes to the caller's dict, or to a tensor in it, do not reach the record).
    :meth:`flush` converts them to floats and makes the text: consecutive records with the same tag and keys are
    filled into one repeated template in one ``%``, with the numbers' text from :func:`_number_tokens`. Batching
    keeps the per-call cost low inside a busy env loop (about 1 µs a call; converting every value at once doubled
    it). The file is opened (append mode, parent directories created) on the first flush, so a writer that has not
    flushed yet holds no file handle and can be pickled.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # (tag, keys, step as an int, values), or (line, None, 0, ()) for an already formatted line.
        self.held: list[tuple[Any, tuple[str, ...] | None, Any, tuple[Any, ...]]] = []
        self._file: Any = None
        self._templates: dict[tuple[str, tuple[str, ...]], bytes] = {}

    def hold_line(self, line: str) -> None:
        """Keep one already formatted line (ending in a newline) for the next :meth:`flush`."""
        self.held.append((line, None, 0, ()))

    def _text(self) -> tuple[bytes, Exception | None]:
        """The held records as JSON lines (UTF-8), and the error of the first record whose values are not numbers
        (that record is left out, the others are kept).

        Records holding NaN or inf take :meth:`_lines`, which writes JSON's tokens for them.
        """
        held = self.held
        chunks: list[bytes] = []
        error: Exception | None = None
        start, end = 0, len(held)
        while start < end:
            tag, keys = held[start][0], held[start][1]
            if keys is None:  # an already formatted line
                chunks.append(tag.encode("utf-8"))
                start += 1
                continue
            stop = start + 1
            while stop < end and held[stop][1] == keys and held[stop][0] == tag:
                stop += 1
            numbers: list = []
            try:
                for record in held[start:stop]:
                    numbers.append(record[2])
                    numbers += map(float, record[3])
                tokens = _number_tokens(numbers)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                tokens = None
            if tokens is not None:
                template = self._templates.get((tag, keys))
                if template is None:
                    template = self._templates[(tag, keys)] = _template(tag, keys).encode("utf-8")
                chunks.append((template * (stop - start)) % tokens)
            else:
                error = self._lines(held[start:stop], chunks) or error
            start = stop
        return b"".join(chunks), error

    @staticmethod
    def _lines(records: list, chunks: list[bytes]) -> Exception | None:
        """Format ``records`` one by one (NaN and inf as JSON's tokens); return the error of the first whose
        values are not numbers, leaving it out."""
        error: Exception | None = None
        for tag, keys, step, raw in records:
            try:
                values, _ = metric_numbers(dict(zip(keys, raw)), tag)  # raises, naming the tag and key
                line = _template(tag, keys) % (step, *map(_json_number, values))
                chunks.append(line.encode("utf-8"))
            except (TypeError, ValueError, OverflowError) as bad:
                error = error or bad
        return error

    def flush(self) -> None:
        """Hand every held line to the OS in one ``write``: from then on it survives the process being killed."""
        if not self.held:
            return
        text, error = self._text()
        data = memoryview(text)
        self.held.clear()
        if self._file is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - owned until close()
        while data:
            data = data[self._file.write(data) :]
        if error is not None:
            raise error

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        # A copy reopens the file in append mode on its own first flush.
        state = self.__dict__.copy()
        state["_file"] = None
        return state


def _template(tag: str, keys: tuple[str, ...]) -> str:
    """A record's line with ``%s`` for the step and each value, spaced as ``json.dumps`` spaces it."""
    metrics = ", ".join(json.dumps(str(key)).replace("%", "%%") + ": %s" for key in keys)
    return '{"step": %s, "tag": ' + json.dumps(str(tag)).replace("%", "%%") + ', "metrics": {' + metrics + "}}\n"


def _json_number(value: float) -> str:
    text = repr(value)
    return _NON_FINITE.get(text, text)


def _number_tokens(numbers: list) -> tuple[bytes, ...] | None:
    """The JSON text of each of ``numbers`` (floats and ints) exactly as ``json.dumps`` writes it, or ``None`` when
    one is NaN or infinite (orjson writes those as ``null``).

    orjson writes the same shortest round-trip digits as Python's ``repr``, several times faster. Its notation
    differs for exponents ("1e-7" for "1e-07", "1e16" for "1e+16") and for fractions below 1e-4, which it writes
    without an exponent ("0.00001" for "1e-05"): every token holding an "e" or a "0.0000" is written again with
    ``repr`` (found by searching the text, so the tokens that need nothing cost nothing). Raises ``TypeError``
    (``orjson.JSONEncodeError``) for an int beyond 64 bits.
    """
    text = orjson.dumps(numbers)  # b"[1,0.25,...]": the commas before a position count the tokens before it
    if b"null" in text:
        return None
    tokens = text[1:-1].split(b",")
    for marker in (b"e", b"0.0000"):
        index, counted_to = 0, 0
        at = text.find(marker)
        while at != -1:
            index += text.count(b",", counted_to, at)
            counted_to = at
            tokens[index] = repr(float(tokens[index])).encode()
            at = text.find(b",", at)  # on to the next token
            at = text.find(marker, at) if at != -1 else -1
    return tuple(tokens)


class JsonlCallback(FlatLogger):
    """Metrics as JSON lines, one record per call: ``{"step": int, "tag": str, "metrics": {key: float}}``.

    Lines without ``force`` are held in memory and handed to the OS once ``flush_every`` of them are held (and
    whenever 16384 lines are held), so a line waits for at most ``flush_every`` calls; a hand-over for any other
    reason starts the count again. ``force=True`` hands the line, and every line held before it, to the OS at once, so
    it survives the process being killed (``SIGKILL``); it does not ``fsync``, so a machine crash may still lose
    it. NaN and inf are written as ``NaN``, ``Infinity``, ``-Infinity``, which Python's ``json`` reads back. The
    file is opened in append mode, and its parent directory created, on the first hand-over.

    As a Lightning logger, ``log_metrics`` writes one record with tag ``"lightning"`` at the given step, and
    ``log_hyperparams`` one record with tag ``"hparams"`` at step 0: numeric values (flattened, ``"a/b"``) under
    ``"metrics"`` as floats, all other values under ``"params"`` as strings. Both are handed to the OS at once.

    Args:
        log_path: the ``.jsonl`` file; checked for writability now, created on the first write.
        flush_every: non-forced calls held before they are handed to the OS; ``0`` means only at forced writes,
            ``save``, ``close`` (or 16384 held lines).

    Raises:
        ValueError: negative ``flush_every``, or a ``log_path`` that cannot be written.
        TypeError: ``flush_every`` is not an int, or ``log_path`` is not a path.

    Example::

        log = JsonlCallback("runs/exp/metrics.jsonl")
        log({"loss": 0.5}, "agents/run_0", counter=10)
        log({"ep_return": 21.0}, "ep_return/run_0", counter=10, force=True)
        log.close()
    """

    def __init__(self, log_path: str | os.PathLike, flush_every: int = 100) -> None:
        super().__init__()
        path = check_path("log_path", log_path)
        check_writable_file("log_path", path)
        self.log_path = path
        self.flush_every = check_flush_every(flush_every)
        self._n_written = 0  # non-forced calls since the last hand-over to the OS
        self._lightning_calls = 0
        self._writer = _JsonlWriter(path)

    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool = False) -> None:
        """Write one record ``{"step": int(counter), "tag": tag, "metrics": data_dict as floats}``.

        Args:
            data_dict: ``{key: number}``.
            tag: group name such as ``"agents/run_0"``.
            counter: the record's step (usually env steps); truncated to an int.
            force: hand this record (and all held before it) to the OS now; not counted in ``flush_every``.

        Raises:
            TypeError: a value is not a real number (the message names the tag and key).
        """
        if getattr(rank_zero_only, "rank", 0):  # other ranks write nothing (inline: a decorator costs a call)
            return
        if type(counter) is int:
            step = counter
        else:
            try:
                step = int(counter)
            except (TypeError, ValueError, OverflowError):
                raise counter_error(counter, tag, "a finite number") from None
        # This runs on every env step. Values whose sum is a Python float are plain numbers: held as given,
        # converted at the flush. Anything else (tensors, numpy values, text) is converted now, so a tensor the
        # caller changes in place later keeps this call's value, and a value that is not a number fails here.
        try:
            total = sum(data_dict.values(), 0.0)
        except (AttributeError, TypeError, ValueError, RuntimeError, OverflowError):
            total = None
        if type(total) is not float:
            values, _ = metric_numbers(data_dict, tag)  # raises, naming the tag and key
            data_dict = dict(zip(data_dict, values))
        held = self._writer.held
        held.append((tag, tuple(data_dict), step, tuple(data_dict.values())))
        if force:
            self._hand_over()
            return
        self._n_written += 1
        if self._n_written == self.flush_every or len(held) >= _MAX_HELD_LINES:
            self._hand_over()

    def _hand_over(self) -> None:
        """Hand every held line to the OS; the next ``flush_every`` non-forced calls are counted from here."""
        self._n_written = 0
        self._writer.flush()

    def reset(self) -> None:
        """Start counting ``flush_every`` calls again; held lines and the file stay."""
        self._n_written = 0

    @rank_zero_only
    def close(self) -> None:
        """Hand held lines to the OS and close the file (a later call reopens it in append mode)."""
        self._n_written = 0
        self._writer.close()

    @property
    @override
    def save_dir(self) -> str:
        """The directory holding ``log_path``."""
        return os.path.dirname(os.path.abspath(self.log_path))

    @property
    @override
    def log_dir(self) -> str:
        """The directory holding ``log_path``."""
        return self.save_dir

    @override
    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Write ``metrics`` as one record with tag ``"lightning"`` at ``step`` (call count when ``None``)."""
        if step is None:
            step = self._lightning_calls
        self._lightning_calls += 1
        values, _ = metric_numbers(metrics, LIGHTNING_TAG)
        self._writer.held.append((LIGHTNING_TAG, tuple(metrics), int(step), values))
        self._hand_over()

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Write one ``"hparams"`` record at step 0: numbers under ``"metrics"``, the rest as text in ``"params"``."""
        flat = flatten_params(params)
        record = {
            "step": 0,
            "tag": HPARAMS_TAG,
            "metrics": {k: float(v) for k, v in flat.items() if is_number(v)},
            "params": {k: str(v) for k, v in flat.items() if not is_number(v)},
        }
        self._writer.hold_line(json.dumps(record) + "\n")
        self._hand_over()

    @override
    @rank_zero_only
    def save(self) -> None:
        """Hand held lines to the OS."""
        self._hand_over()

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Called by Lightning at the end of ``fit``: same as :meth:`close`."""
        self.close()
