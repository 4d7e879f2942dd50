"""``RunRecorder``: what the seed trainer does with every finished episode, and the files it leaves.

It owns, for one run:

- the metrics stream ``metrics_run{r}.pkl`` (chunks of ``metrics_dump_every`` episode dicts) and the episode dicts
  kept in memory (``keep_metrics_in_memory``);
- the best-agent snapshot (``agent.save()`` when an episode's return is ``>=`` the best so far) and the last return;
- the per-episode log calls ``ep_return/run_{r}`` and ``ep_length/run_{r}`` (``force=True``);
- the seed's agent files: ``Run{r}_E{n}_agent.t`` every ``checkpoint_freq`` episodes (episode mode) or env steps
  (step mode), ``Run{r}_Last_agent.t`` and ``Run{r}_Best_agent.t`` at the end.

:class:`~rl_lightning.module.AgentModule` calls :meth:`RunRecorder.record` at the vector step an episode finished
on, in the seed trainer's order. Its :meth:`state_dict` goes into the run's Lightning checkpoint; on resume
:meth:`load_state_dict` cuts the metrics stream back to the checkpoint's length, so the episodes written after it
are replayed once, neither lost nor doubled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

import numpy as np
import torch

from rl_lightning.metrics_stream import MetricsStreamWriter, metrics_stream_path, read_metrics_stream

__all__ = ["RunRecorder", "RunState"]


@dataclass
class RunState:
    """What a run has recorded so far.

    Kept in a plain object because ``nn.Module.__setattr__`` costs microseconds per assignment, and these
    change at every vector step.

    Attributes:
        best_return: the highest episode return so far.
        best_agent: the ``agent.save()`` dict taken when that episode finished (ties: the later episode).
        last_return: the return of the last finished episode, ``None`` before the first.
        checkpoint_counter: episodes (episode mode) or env steps (step mode) since the last periodic file.
        pending: finished episodes not yet written to the metrics stream.
        best_weights: for a Lightning-native agent, its parameters and buffers at the best episode.
        best_updates: how many times the best snapshot was taken (ties included): a checkpoint of the best agent is
            due when it changed.
    """

    best_return: float = -np.inf
    best_agent: Optional[dict] = None
    last_return: Optional[float] = None
    checkpoint_counter: int = 0
    pending: list = field(default_factory=list)
    best_weights: Optional[dict] = None
    best_updates: int = 0


class RunRecorder:
    """Records one run's finished episodes and writes the seed's files.

    Args:
        run_idx: 1-based run index (tags ``ep_return/run_{run_idx}``, file names).
        exp_dir: folder of the files; needed by ``dump_metrics`` and ``checkpoint_freq``.
        dump_metrics: stream episode dicts to ``exp_dir/metrics_run{run_idx}.pkl``.
        keep_in_memory: keep every episode dict in :attr:`episodes`.
        checkpoint_freq: ``None`` writes no agent files; otherwise Last and Best at the end and, when positive,
            ``Run{r}_E{n}_agent.t`` every ``checkpoint_freq`` episodes (``episode_mode``) or env steps.
        metrics_dump_every: episodes per chunk of the metrics stream.
        episode_mode: the run's budget counts episodes (the log counter is then the episode index).
    """

    def __init__(self, run_idx: int, *, exp_dir: Optional[str], dump_metrics: bool, keep_in_memory: bool,
                 checkpoint_freq: Optional[int], metrics_dump_every: int, episode_mode: bool):
        self.run_idx = run_idx
        self.exp_dir = exp_dir
        self.checkpoint_freq = checkpoint_freq
        self.metrics_dump_every = metrics_dump_every
        self.episode_mode = episode_mode
        self.stream = MetricsStreamWriter(metrics_stream_path(exp_dir, run_idx)) if dump_metrics else None
        #: Every episode dict of the run, when kept in memory; else ``None``.
        self.episodes: Optional[list] = [] if keep_in_memory else None
        self.state = RunState()
        self._return_tag = f"ep_return/run_{run_idx}"
        self._length_tag = f"ep_length/run_{run_idx}"

    def stop_writing(self) -> None:
        """Write no files from now on (a DDP rank other than 0: rank 0 records every rank's episodes)."""
        self.stream = None
        self.checkpoint_freq = None

    def start(self) -> None:
        """A fresh run starts: a stale metrics file of the same run is removed."""
        if self.stream is not None:
            self.stream.remove_stale()

    @property
    def counts_steps(self) -> bool:
        """Whether :meth:`count_steps` is due at every vector step (periodic agent files in step mode)."""
        return bool(self.checkpoint_freq) and not self.episode_mode

    def record(self, episode: dict, counter: int, agent: Any, call_back: Callable) -> None:
        """The seed trainer's per-episode work, in its order: stream, memory, best snapshot, the two log calls,
        the episode-mode periodic file. ``counter`` is the log step in step mode (the run's env steps)."""
        state = self.state
        if self.stream is not None:
            state.pending.append(episode)
            if len(state.pending) >= self.metrics_dump_every:
                self.stream.append(state.pending)
                state.pending = []
        if self.episodes is not None:
            self.episodes.append(episode)
        ep_return = episode["ep_return"]
        if ep_return >= state.best_return:
            state.best_return = ep_return
            state.best_agent = agent.save()
            state.best_updates += 1
            if isinstance(agent, torch.nn.Module):
                state.best_weights = {k: v.detach().clone() for k, v in agent.state_dict().items()
                                      if not k.endswith("_extra_state")}
        if self.episode_mode:
            counter = episode["episode_index"]
        call_back({"ep_return": ep_return}, self._return_tag, counter, force=True)
        call_back({"ep_length": episode["ep_length"]}, self._length_tag, counter, force=True)
        state.last_return = ep_return
        if self.episode_mode:
            state.checkpoint_counter += 1
            self._maybe_periodic_file(episode["episode_index"], agent)

    def count_steps(self, num_env_steps: int, env_steps: int, agent: Any) -> None:
        """Step mode: ``num_env_steps`` more env steps towards the next periodic agent file."""
        self.state.checkpoint_counter += num_env_steps
        self._maybe_periodic_file(env_steps, agent)

    def _maybe_periodic_file(self, n: int, agent: Any) -> None:
        if self.checkpoint_freq and self.state.checkpoint_counter >= self.checkpoint_freq:
            agent.save(os.path.join(self.exp_dir, f"Run{self.run_idx}_E{n}"))
            self.state.checkpoint_counter = 0

    def flush(self) -> None:
        """Write the finished episodes not yet in the metrics stream (a chunk shorter than ``metrics_dump_every``);
        the seed trainer does this at the end of a run."""
        if self.stream is not None and self.state.pending:
            self.stream.append(self.state.pending)
            self.state.pending = []

    def write_agent_files(self, agent: Any) -> None:
        """``Run{r}_Last_agent.t`` (``agent.save``) and ``Run{r}_Best_agent.t`` (the best snapshot), where
        ``checkpoint_freq`` is set."""
        if self.checkpoint_freq is not None:
            agent.save(os.path.join(self.exp_dir, f"Run{self.run_idx}_Last"))
            torch.save(self.state.best_agent, os.path.join(self.exp_dir, f"Run{self.run_idx}_Best_agent.t"))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The recorded state, the metrics stream's length in bytes, and the kept episodes where no stream holds
        them."""
        stream = self.stream
        length = os.path.getsize(stream.path) if stream is not None and os.path.exists(stream.path) else 0
        state = {f.name: getattr(self.state, f.name) for f in fields(RunState)}
        state["pending"] = list(state["pending"])
        return {"state": state, "stream_length": length, "episodes": self.episodes if stream is None else None}

    def load_state_dict(self, saved: dict, finished: bool) -> None:
        """Continue from :meth:`state_dict`: the stream is cut back to the saved length (episodes written after the
        checkpoint are replayed, not doubled); a ``finished`` run's unwritten episodes are written now, since
        Lightning may skip the loop of a finished run and with it the run's end.

        Raises:
            FileNotFoundError: the checkpoint continues a metrics file that is missing.
        """
        state = self.state
        for name, value in saved["state"].items():
            setattr(state, name, value)
        stream = self.stream
        if stream is not None:
            length = saved["stream_length"]
            size = os.path.getsize(stream.path) if os.path.exists(stream.path) else 0
            if size > length:
                with open(stream.path, "r+b") as f:
                    f.truncate(length)
            elif length and not os.path.exists(stream.path):
                raise FileNotFoundError(f"the checkpoint continues {stream.path}, which is missing")
            if finished:
                self.flush()
        if self.episodes is not None:
            if saved["episodes"] is not None:
                self.episodes[:] = saved["episodes"]
            elif stream is not None and os.path.exists(stream.path):
                self.episodes[:] = read_metrics_stream(stream.path) + list(state.pending)
