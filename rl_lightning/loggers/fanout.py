"""Sending the seed-style ``call_back(dict, tag, counter, force)`` calls to several loggers at once.

``AgentModule`` logs through one callable. When a ``lightning.pytorch.Trainer`` has loggers (``Trainer(logger=...)``)
every call reaches all of them: the seed-style loggers of :mod:`rl_lightning.loggers` receive the call as it is,
any other Lightning ``Logger`` (CSV, W&B, MLflow, ...) receives ``log_metrics({f"{tag}/{key}": value}, step=counter)``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from lightning.pytorch.loggers import Logger

__all__ = ["as_call_back", "CallBackFanOut", "LightningLoggerCallBack"]


class LightningLoggerCallBack:
    """A Lightning ``Logger`` seen as a seed-style callback."""

    def __init__(self, logger: Logger):
        self.logger = logger

    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool = False) -> None:
        self.logger.log_metrics({f"{tag}/{key}": float(value) for key, value in data_dict.items()}, step=int(counter))

    def reset(self) -> None:
        """Nothing to reset."""

    def close(self) -> None:
        self.logger.save()

    def log_hyperparams(self, params: Any) -> None:
        self.logger.log_hyperparams(params)


class CallBackFanOut:
    """Several seed-style callbacks called as one, in order."""

    def __init__(self, call_backs: Sequence[Any]):
        self.call_backs = list(call_backs)

    def __call__(self, data_dict: Mapping[str, Any], tag: str, counter: float, force: bool = False) -> None:
        for call_back in self.call_backs:
            call_back(data_dict, tag, counter, force)

    def reset(self) -> None:
        for call_back in self.call_backs:
            call_back.reset()

    def close(self) -> None:
        for call_back in self.call_backs:
            call_back.close()

    def log_hyperparams(self, params: Any) -> None:
        for call_back in self.call_backs:
            log = getattr(call_back, "log_hyperparams", None)
            if callable(log):
                log(params)


def as_call_back(own: Any, loggers: Sequence[Logger]) -> Any:
    """The one callable that reaches ``own`` (a seed-style callback or ``None``) and every logger in ``loggers``."""
    sinks: list = [] if own is None else [own]
    for logger in loggers:
        if logger is own or any(getattr(s, "logger", None) is logger for s in sinks):
            continue
        sinks.append(logger if callable(logger) and hasattr(logger, "reset") else LightningLoggerCallBack(logger))
    if not sinks:
        from rl_lightning.loggers.empty import EmptyCallBack

        return EmptyCallBack()
    return sinks[0] if len(sinks) == 1 else CallBackFanOut(sinks)
