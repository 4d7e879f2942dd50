"""Act/update timing, logged as the seed trainer did under ``timing/run_{r}``."""

from __future__ import annotations

from typing import Optional

__all__ = ["StepTimer", "TIMING_LOG_EVERY"]

#: Env steps between timing records: one is written on the vector step where ``steps % 2000 < num_envs``.
TIMING_LOG_EVERY = 2000


class StepTimer:
    """Running totals and a moving window (``window`` calls) of ``agent.act`` and ``agent.update`` times.

    Times are seconds per call ("iter" = one vector step); "envstep" figures divide by ``num_envs``. A call's time
    is only appended (``act_times.append``, ``update_times.append``, the per-step cost); totals and windows are
    brought up to date when :meth:`summary` asks for them.
    """

    def __init__(self, window: int = 200):
        self.window = window
        self.act_total = 0.0
        self.update_total = 0.0
        self.act_count = 0
        self.update_count = 0
        #: Seconds of the ``act`` calls since the last summary, after the window's earlier ones.
        self.act_times: list[float] = []
        #: Seconds of the ``update`` calls since the last summary, after the window's earlier ones.
        self.update_times: list[float] = []
        self._act_window = 0  # leading entries of act_times already counted in the totals
        self._update_window = 0

    def add_act(self, seconds: float) -> None:
        self.act_times.append(seconds)

    def add_update(self, seconds: float) -> None:
        self.update_times.append(seconds)

    def _settle(self) -> None:
        """Fold the times appended since the last call into the totals; keep the last ``window`` of each."""
        new_act = self.act_times[self._act_window:]
        self.act_total += sum(new_act)
        self.act_count += len(new_act)
        del self.act_times[:-self.window]
        self._act_window = len(self.act_times)
        new_update = self.update_times[self._update_window:]
        self.update_total += sum(new_update)
        self.update_count += len(new_update)
        del self.update_times[:-self.window]
        self._update_window = len(self.update_times)

    def summary(self, num_envs: int) -> Optional[dict]:
        """The six timing figures, or ``None`` before both act and update were timed."""
        self._settle()
        if self.act_count == 0 or self.update_count == 0:
            return None
        act_avg = self.act_total / self.act_count
        update_avg = self.update_total / self.update_count
        return {
            "time_act_avg_iter_s": act_avg,
            "time_update_avg_iter_s": update_avg,
            "time_act_avg_envstep_s": act_avg / max(num_envs, 1),
            "time_update_avg_envstep_s": update_avg / max(num_envs, 1),
            "time_act_ma_iter_s": sum(self.act_times) / len(self.act_times),
            "time_update_ma_iter_s": sum(self.update_times) / len(self.update_times),
        }
