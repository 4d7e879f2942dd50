"""From gymnasium vector envs to rollout segments."""

from rl_lightning.data.datamodule import EnvDataModule
from rl_lightning.data.envs import as_vector_env
from rl_lightning.data.episodes import EpisodeTracker
from rl_lightning.data.rollout import RolloutDataset, Segment

__all__ = ["RolloutDataset", "Segment", "EpisodeTracker", "EnvDataModule", "as_vector_env"]
