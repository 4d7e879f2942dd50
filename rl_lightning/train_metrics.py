"""``EpochTrainMetrics``: the ``train/`` metrics of one Lightning epoch, gathered per segment, logged once.

Logging through ``self.log`` costs about a millisecond per segment for seven metrics (Lightning rebuilds its result
collection per call), as much as several env steps of a built-in agent. The module therefore adds each segment's
numbers here and logs the epoch's aggregates once, after the epoch's last segment (in ``on_train_batch_end``), so
every callback's ``on_train_epoch_end`` and every logger see them. The values are those Lightning's per-segment
``on_epoch`` aggregation gives: means weighted by episodes, min, max, sums, and the last step count.
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["TRAIN_METRICS", "EpochTrainMetrics"]

#: The training metrics an AgentModule logs at each epoch's end.
TRAIN_METRICS = ("train/ep_return", "train/ep_return_min", "train/ep_return_max", "train/ep_length", "train/episodes",
                 "train/env_steps", "train/env_steps_per_s")


class EpochTrainMetrics:
    """Running aggregates of the segments of the current epoch (its own ``state_dict``, for mid-epoch resumes)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new epoch."""
        self.segments = 0
        self.env_steps = 0.0
        self.rate_sum, self.rate_count = 0.0, 0
        self.episodes, self.return_sum, self.length_sum = 0, 0.0, 0.0
        self.return_min, self.return_max = math.inf, -math.inf

    def add_segment(self, env_steps: int, env_steps_per_s: float, returns: Iterable[float],
                    lengths: Iterable[float]) -> None:
        """One segment: the run's env steps after it (summed over ranks), its env-steps/s (``nan``: unmeasured) and
        the returns and lengths of the episodes that ended in it."""
        self.segments += 1
        self.env_steps = float(env_steps)
        if not math.isnan(env_steps_per_s):
            self.rate_sum += env_steps_per_s
            self.rate_count += 1
        for ep_return, length in zip(returns, lengths, strict=True):
            self.episodes += 1
            self.return_sum += ep_return
            self.length_sum += length
            self.return_min = min(self.return_min, ep_return)
            self.return_max = max(self.return_max, ep_return)

    def values(self) -> dict[str, float]:
        """The epoch's metrics by name (none before a segment; the episode metrics only when an episode ended)."""
        if not self.segments:
            return {}
        values = {"train/env_steps": self.env_steps, "train/episodes": float(self.episodes)}
        if self.rate_count:
            values["train/env_steps_per_s"] = self.rate_sum / self.rate_count
        if self.episodes:
            values.update({"train/ep_return": self.return_sum / self.episodes, "train/ep_return_min": self.return_min,
                           "train/ep_return_max": self.return_max,
                           "train/ep_length": self.length_sum / self.episodes})
        return values

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        self.reset()
        for name, value in state.items():
            if hasattr(self, name):
                setattr(self, name, value)
