"""``FlatLogger``: the Lightning ``Logger`` base of our loggers, whose files go straight into ``save_dir``."""

from __future__ import annotations

from lightning.pytorch.loggers.logger import Logger
from typing_extensions import override


class FlatLogger(Logger):
    """A ``Logger`` with an empty ``name`` and ``version``: no ``name/version_N`` subfolders, so a run's files
    stay where the seed trainer put them, and Lightning puts checkpoints in ``save_dir/checkpoints``."""

    @property
    @override
    def name(self) -> str:
        return ""

    @property
    @override
    def version(self) -> str:
        return ""
