"""The per ``(tag, key)`` windows behind :class:`TBCallBack`: cheap to add to, summarised when written."""

from __future__ import annotations

# Folded window per (tag, key): [sum of values, sum of steps, count, last value, last step].
_SUM_VALUE, _SUM_STEP, _COUNT, _LAST_VALUE, _LAST_STEP = range(5)

HeldCall = tuple[str, tuple[str, ...], float, tuple]  # (tag, keys, step as a float, plain numbers as given or floats)


class _Windows:
    """Values since the last :meth:`drain`, per ``(tag, key)``.

    A call only appends ``(tag, keys, step, values)`` to :attr:`held`, plain numbers as given (others converted);
    converting to floats and summing happen in :meth:`fold`, a run of calls with the same tag and keys at a time,
    column by column with ``zip``, ``map(float)`` and ``sum``. That is much cheaper
    inside a busy env loop than updating per-key sums on every call. The owner folds every few thousand calls
    to bound memory.
    """

    def __init__(self) -> None:
        self.held: list[HeldCall] = []
        self._folded: dict[tuple[str, str], list[float]] = {}

    def __bool__(self) -> bool:
        return bool(self.held or self._folded)

    def fold(self) -> None:
        """Fold the held calls into the running sums and last values."""
        held, folded = self.held, self._folded
        start, end = 0, len(held)
        while start < end:
            tag, keys = held[start][0], held[start][1]
            stop = start + 1
            while stop < end and held[stop][1] == keys and held[stop][0] == tag:
                stop += 1
            run = held[start:stop]
            step_sum, last_step = sum(call[2] for call in run), run[-1][2]  # TBCallBack holds float(counter)
            for key, given in zip(keys, zip(*(call[3] for call in run))):
                column = tuple(map(float, given))
                window = folded.get((tag, key))
                if window is None:
                    folded[(tag, key)] = [sum(column), step_sum, len(run), column[-1], last_step]
                else:
                    window[_SUM_VALUE] += sum(column)
                    window[_SUM_STEP] += step_sum
                    window[_COUNT] += len(run)
                    window[_LAST_VALUE] = column[-1]
                    window[_LAST_STEP] = last_step
            start = stop
        held.clear()

    def drain(self, average: bool) -> list[tuple[str, float, float]]:
        """Return one ``(f"{tag}/{key}", value, step)`` per window, in first-seen order, and empty the windows.

        ``average=True`` gives the mean value at the mean step, ``False`` the last value at the last step.
        """
        self.fold()
        if average:
            points = [
                (f"{tag}/{key}", w[_SUM_VALUE] / w[_COUNT], w[_SUM_STEP] / w[_COUNT])
                for (tag, key), w in self._folded.items()
            ]
        else:
            points = [(f"{tag}/{key}", w[_LAST_VALUE], w[_LAST_STEP]) for (tag, key), w in self._folded.items()]
        self._folded.clear()
        return points

    def clear(self) -> None:
        """Drop every held value."""
        self.held.clear()
        self._folded.clear()
