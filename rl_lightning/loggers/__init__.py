"""Loggers for RL runs: each is a seed-style callback ``cb(data_dict, tag, counter, force=False)`` and a
Lightning ``Logger`` (``Trainer(logger=...)``).

* :class:`TBCallBack` - buffered TensorBoard scalars (mean or last value every ``flush_every`` calls).
* :class:`BasicCallBack` - TensorBoard scalars written on every call.
* :class:`JsonlCallback` - one JSON line per call.
* :class:`EmptyCallBack` - logs nothing.

All open their files on the first write, so they can be pickled and sent to worker processes before then.
"""

from rl_lightning.loggers.basic import BasicCallBack
from rl_lightning.loggers.empty import EmptyCallBack
from rl_lightning.loggers.jsonl import JsonlCallback
from rl_lightning.loggers.tensorboard import TBCallBack

__all__ = ["BasicCallBack", "EmptyCallBack", "JsonlCallback", "TBCallBack"]
