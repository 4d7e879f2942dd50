"""Read back what the loggers wrote, with the readers users have: TensorBoard's own and ``json``."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData


def event_files(log_dir: str | Path) -> list[Path]:
    """Every TensorBoard event file under ``log_dir`` (none if the directory does not exist)."""
    return sorted(Path(log_dir).rglob("events.out.tfevents.*"))


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` in file order, as TensorBoard loads them (values are float32)."""
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]
    }


def read_wall_times(log_dir: str | Path, tag: str) -> list[float]:
    """The wall time (seconds since the epoch) of each point of ``tag``."""
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [event.wall_time for event in accumulator.Scalars(tag)]


def read_hparams(log_dir: str | Path) -> dict[str, object]:
    """The hyperparameters shown in TensorBoard's HParams tab: ``{name: number, text or bool}``."""
    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    contents = accumulator.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(contents["_hparams_/session_start_info"]).session_start_info
    values = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    return values


def read_jsonl(path: str | Path) -> list[dict]:
    """Every record of a JSONL file; fails on a partial or malformed line."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file.read().splitlines()]
