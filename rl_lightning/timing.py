"""Act/update timing, logged as the seed trainer did under ``timing/run_{r}``."""

from __future__ import annotations

from typing import Optional

__all__ = ["StepTimer", "TIMING_LOG_EVERY"]

#: Env steps between timing records: one is written on the vector step where ``steps % 2000 < num_envs``.
TIMING_LOG_EVERY = 2000


class _CallTimes:
    """Seconds of one kind of call: each call's time is appended to :attr:`times`, and folded into the running
    total and count when :meth:`settle` runs."""

    __slots__ = ("times", "total", "count", "_settled")

    def __init__(self) -> None:
        #: The last settled window of call times, then every call's time since.
        self.times: list[float] = []
        self.total = 0.0
        self.count = 0
        self._settled = 0  # leading entries of times already in total and count

    def settle(self, window: int) -> None:
        """Add the times appended since the last settle to the total; keep only the last ``window`` times."""
        new = self.times[self._settled:]
        self.total += sum(new)
        self.count += len(new)
        del self.times[:-window]
        self._settled = len(self.times)


class StepTimer:
    """Running totals and a moving window (``window`` calls) of ``agent.act`` and ``agent.update`` times.

    Times are seconds per call ("iter" = one vector step); "envstep" figures divide by ``num_envs``. A call's time
    is only appended (``timer.act.times.append``, the whole per-step cost); totals and windows are brought up to
    date when :meth:`summary` asks for them.
    """

    def __init__(self, window: int = 200):
        if window < 1:
            raise ValueError(f"window must be a number of calls >= 1, got {window!r}.")
        self.window = window
        self.act = _CallTimes()
        self.update = _CallTimes()

    def add_act(self, seconds: float) -> None:
        self.act.times.append(seconds)

    def add_update(self, seconds: float) -> None:
        self.update.times.append(seconds)

    def summary(self, num_envs: int) -> Optional[dict]:
        """The six timing figures, or ``None`` before both act and update were timed."""
        act, update = self.act, self.update
        act.settle(self.window)
        update.settle(self.window)
        if act.count == 0 or update.count == 0:
            return None
        act_avg = act.total / act.count
        update_avg = update.total / update.count
        return {
            "time_act_avg_iter_s": act_avg,
            "time_update_avg_iter_s": update_avg,
            "time_act_avg_envstep_s": act_avg / max(num_envs, 1),
            "time_update_avg_envstep_s": update_avg / max(num_envs, 1),
            "time_act_ma_iter_s": sum(act.times) / len(act.times),
            "time_update_ma_iter_s": sum(update.times) / len(update.times),
        }
