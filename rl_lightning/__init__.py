"""rl_lightning: reinforcement-learning training on PyTorch Lightning, with the OnlineTrainer contract.

Public names: :class:`OnlineTrainer` (the seed trainer's front door), :class:`AgentModule` (an agent as a
LightningModule), :class:`RolloutDataset` (vector-env steps as rollout segments), the seed-style loggers
(``TBCallBack``, ``JsonlCallback``, ``BasicCallBack``, ``EmptyCallBack``) and :class:`EpisodeProgressBar`.
"""

import logging as _logging

from rl_lightning.callbacks import EpisodeProgressBar
from rl_lightning.data import EnvDataModule, RolloutDataset, Segment
from rl_lightning.loggers import BasicCallBack, EmptyCallBack, JsonlCallback, TBCallBack
from rl_lightning.module import AgentModule
from rl_lightning.protocol import SeedAgent, check_agent
from rl_lightning.trainer import OnlineTrainer

__all__ = [
    "OnlineTrainer",
    "AgentModule",
    "RolloutDataset",
    "EnvDataModule",
    "Segment",
    "SeedAgent",
    "check_agent",
    "TBCallBack",
    "JsonlCallback",
    "BasicCallBack",
    "EmptyCallBack",
    "EpisodeProgressBar",
]
__version__ = "0.1.0"

# As Lightning does for its own logger: show run banners (INFO) when the application configured no logging.
_logger = _logging.getLogger(__name__)
if not _logging.getLogger().handlers and not _logger.handlers:
    _logger.setLevel(_logging.INFO)
    _logger.addHandler(_logging.StreamHandler())
    _logger.propagate = False
