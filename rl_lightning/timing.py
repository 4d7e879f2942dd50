"""Act/update timing, logged as the seed trainer did under ``timing/run_{r}``."""

from __future__ import annotations

from collections import deque
from typing import Optional

__all__ = ["StepTimer", "TIMING_LOG_EVERY"]

#: Env steps between timing records: one is written on the vector step where ``steps % 2000 < num_envs``.
TIMING_LOG_EVERY = 2000


class StepTimer:
    """Running totals and a moving window (``window`` calls) of ``agent.act`` and ``agent.update`` times.

    Times are seconds per call ("iter" = one vector step); "envstep" figures divide by ``num_envs``.
    """

    def __init__(self, window: int = 200):
        self.act_total = 0.0
        self.update_total = 0.0
        self.act_count = 0
        self.update_count = 0
        self.act_window: deque = deque(maxlen=window)
        self.update_window: deque = deque(maxlen=window)

    def add_act(self, seconds: float) -> None:
        self.act_total += seconds
        self.act_count += 1
        self.act_window.append(seconds)

    def add_update(self, seconds: float) -> None:
        self.update_total += seconds
        self.update_count += 1
        self.update_window.append(seconds)

    def summary(self, num_envs: int) -> Optional[dict]:
        """The six timing figures, or ``None`` before both act and update were timed."""
        if self.act_count == 0 or self.update_count == 0:
            return None
        act_avg = self.act_total / self.act_count
        update_avg = self.update_total / self.update_count
        return {
            "time_act_avg_iter_s": act_avg,
            "time_update_avg_iter_s": update_avg,
            "time_act_avg_envstep_s": act_avg / max(num_envs, 1),
            "time_update_avg_envstep_s": update_avg / max(num_envs, 1),
            "time_act_ma_iter_s": sum(self.act_window) / len(self.act_window) if self.act_window else act_avg,
            "time_update_ma_iter_s": (sum(self.update_window) / len(self.update_window)
                                      if self.update_window else update_avg),
        }
