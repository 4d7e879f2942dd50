"""rl_lightning: reinforcement-learning training on PyTorch Lightning, with the OnlineTrainer contract.

Public names: :class:`OnlineTrainer` (the seed trainer's front door), :class:`AgentModule` (an agent as a
LightningModule), :class:`RolloutDataset` (vector-env steps as rollout segments), the seed-style loggers
(``TBCallBack``, ``JsonlCallback``, ``BasicCallBack``, ``EmptyCallBack``) and :class:`EpisodeProgressBar`.

They are imported on first use (PEP 562), so ``import rl_lightning`` (and so ``rl-lightning --help``) loads neither
Lightning nor torch nor gymnasium; ``from rl_lightning import OnlineTrainer`` works as before.
"""

import importlib as _importlib
import logging as _logging

# Public name -> the module that defines it.
_SOURCES = {
    "OnlineTrainer": "rl_lightning.trainer",
    "AgentModule": "rl_lightning.module",
    "RolloutDataset": "rl_lightning.data",
    "EnvDataModule": "rl_lightning.data",
    "Segment": "rl_lightning.data",
    "SeedAgent": "rl_lightning.protocol",
    "check_agent": "rl_lightning.protocol",
    "TBCallBack": "rl_lightning.loggers",
    "JsonlCallback": "rl_lightning.loggers",
    "BasicCallBack": "rl_lightning.loggers",
    "EmptyCallBack": "rl_lightning.loggers",
    "EpisodeProgressBar": "rl_lightning.callbacks",
}

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


def __getattr__(name: str):
    """Import a public name's module the first time the name is read, and keep the name here."""
    if name not in _SOURCES:
        raise AttributeError(f"module 'rl_lightning' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


# As Lightning does for its own logger: show run banners (INFO) when the application configured no logging.
_logger = _logging.getLogger(__name__)
if not _logging.getLogger().handlers and not _logger.handlers:
    _logger.setLevel(_logging.INFO)
    _logger.addHandler(_logging.StreamHandler())
    _logger.propagate = False
