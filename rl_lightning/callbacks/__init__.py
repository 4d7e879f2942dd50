"""Lightning callbacks for RL runs."""

from rl_lightning.callbacks.checkpoint import BestReturnCheckpoint, LastCheckpoint
from rl_lightning.callbacks.evaluation import PeriodicEvaluation
from rl_lightning.callbacks.progress import EpisodeProgressBar

__all__ = ["EpisodeProgressBar", "LastCheckpoint", "BestReturnCheckpoint", "PeriodicEvaluation"]
