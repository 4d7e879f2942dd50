"""Lightning callbacks for RL runs."""

from rl_lightning.callbacks.progress import EpisodeProgressBar

__all__ = ["EpisodeProgressBar"]
