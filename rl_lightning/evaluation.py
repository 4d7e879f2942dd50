"""Evaluating a saved agent: load a run's Best or Last agent, play greedy episodes, record metrics and videos.

``evaluate(exp_dir, MyAgent, make_env, run=1, which="best", num_episodes=10)`` loads
``exp_dir/Run1_Best_agent.t`` with ``MyAgent.load(path)`` and plays the episodes through
``OnlineTrainer(..., train=False)``: the same contract as every other run (``eval()`` where the agent has
it, else ``act(obs, greedy=True)``; no ``reset``, no ``update``; sub-env ``i`` resets with ``seed + i``).
It writes ``metrics.pkl`` (the episode dicts, one metrics-stream chunk, frames left out) and
``summary.json`` into ``out_dir``, and, with ``video_dir``, one video per episode.

Agent files come in *formats*, each a loader registered by name in :data:`AGENT_FORMATS`:

- ``"seed"`` (the default): the seed trainer's files, ``Run{r}_Best_agent.t`` (``torch.save`` of the best
  episode's ``agent.save()`` dict) and ``Run{r}_Last_agent.t`` (written by ``agent.save(path)``); both are
  read by the agent class's ``load(path)``.

- ``"lightning"``: the Lightning checkpoints ``exp_dir/checkpoints/run{r}/best.ckpt`` and ``last.ckpt`` that
  OnlineTrainer writes (:mod:`rl_lightning.resume`); the agent travels inside through its class's ``load``.

Another format plugs in with :func:`register_agent_format` and is then chosen with ``agent_format=``; nothing
else changes.

``evaluate_main(argv)`` is the ``rl-lightning evaluate`` command over :func:`evaluate` (``validate_main`` is its
name from before Lightning's own ``validate`` subcommand took that name).

Security: agent files and metrics files are pickles; load them only from sources you trust.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import lightning.pytorch as pl
import numpy as np

from rl_lightning.analysis.video import VIDEO_FORMATS, VideoRecorder
from rl_lightning.callbacks.progress import EpisodeProgressBar
from rl_lightning.loggers import EmptyCallBack
from rl_lightning.trainer import OnlineTrainer
from rl_lightning.validation import check_choice, check_int

__all__ = [
    "WHICH",
    "AGENT_FORMATS",
    "LoadedAgent",
    "EvaluationResult",
    "register_agent_format",
    "seed_agent_path",
    "load_agent",
    "resolve_agent_class",
    "env_factory",
    "evaluate",
    "evaluate_main",
    "validate_main",
]

#: Which agent of a run to load: the one of its best episode, or the one at its end.
WHICH = ("best", "last")


@dataclass(frozen=True)
class LoadedAgent:
    """An agent read from an experiment folder, and where it came from."""

    agent: Any
    path: str
    agent_format: str
    run: int
    which: str


#: ``loader(exp_dir, agent_class, run, which) -> LoadedAgent``, as registered with :func:`register_agent_format`.
AgentLoader = Callable[[str, Any, int, str], LoadedAgent]


def seed_agent_path(exp_dir: str | os.PathLike, run: int = 1, which: str = "best") -> str:
    """``exp_dir/Run{run}_Best_agent.t`` or ``exp_dir/Run{run}_Last_agent.t``."""
    check_choice("which", which, WHICH)
    return os.path.join(os.fspath(exp_dir), f"Run{run}_{which.capitalize()}_agent.t")


def _agent_files(exp_dir: str) -> list:
    return sorted(n for n in os.listdir(exp_dir) if n.endswith("_agent.t")) if os.path.isdir(exp_dir) else []


def _holds_no_agent(path: str) -> bool:
    """Whether a Best file is ``torch.save(None)``: the trainer writes that when no episode finished."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True) is None
    except Exception:  # noqa: BLE001 - unreadable is not "empty": the agent class's own error is the one to show
        return False


def _load_seed_format(exp_dir: str, agent_class: Any, run: int, which: str) -> LoadedAgent:
    path = seed_agent_path(exp_dir, run, which)
    if not os.path.isfile(path):
        found = _agent_files(exp_dir)
        raise FileNotFoundError(
            f"no {which} agent of run {run} in {exp_dir!r} (looked for {path}); agent files there: "
            f"{', '.join(found) if found else 'none'}. They are written by multi_run(..., checkpoint_freq=0) or any "
            "checkpoint_freq."
        )
    try:
        agent = agent_class.load(path)
    except Exception as err:
        if which == "best" and _holds_no_agent(path):
            raise ValueError(f"{path} holds no agent: run {run} finished no episode, so it has no best agent. "
                             "Evaluate which='last' instead.") from err
        raise
    return LoadedAgent(agent, path, "seed", run, which)


#: Agent-file formats by name; :func:`load_agent` dispatches on ``agent_format``.
def _load_lightning_format(exp_dir: str, agent_class: Any, run: int, which: str) -> LoadedAgent:
    from rl_lightning.resume import load_checkpoint_entry, load_seed_agent

    path = os.path.join(exp_dir, "checkpoints", f"run{run}", f"{which}.ckpt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {which} Lightning checkpoint of run {run} in {exp_dir!r} (looked for {path}); "
                                "OnlineTrainer writes them when it has an exp_dir (best.ckpt needs checkpoint_freq).")
    entry = load_checkpoint_entry(path)
    saved_class = entry["agent_class"]
    if f"{agent_class.__module__}.{agent_class.__qualname__}" != saved_class:
        raise ValueError(f"{path} holds an agent of class {saved_class}, not {agent_class.__module__}."
                         f"{agent_class.__qualname__}; pass agent_class={saved_class!r}.")
    return LoadedAgent(load_seed_agent(agent_class, entry["agent"]), path, "lightning", run, which)


AGENT_FORMATS: dict = {"seed": _load_seed_format, "lightning": _load_lightning_format}


def register_agent_format(name: str, loader: AgentLoader, *, replace: bool = False) -> None:
    """Make ``load_agent(..., agent_format=name)`` (and so :func:`evaluate`) read agents with ``loader``.

    Args:
        name: the format's name, e.g. ``"lightning"``.
        loader: ``loader(exp_dir, agent_class, run, which) -> LoadedAgent``; raise ``FileNotFoundError``
            naming the files looked for when the agent is missing.
        replace: allow replacing a format already registered.

    Raises:
        ValueError: ``name`` is taken and ``replace`` is False.
    """
    if name in AGENT_FORMATS and not replace:
        raise ValueError(f"agent format {name!r} is already registered; pass replace=True to replace it.")
    if not callable(loader):
        raise TypeError(f"loader must be callable (exp_dir, agent_class, run, which) -> LoadedAgent, got {loader!r}.")
    AGENT_FORMATS[name] = loader


def resolve_agent_class(agent_class: Union[str, type]) -> type:
    """The agent class itself, a registered name (``"PPO"``) or a class path (``"package.module.Class"`` or
    ``"package.module:Class"``), resolved by :func:`rl_lightning.agents.registry.resolve_agent`.

    Raises:
        ValueError: an unknown name (the nearest registered ones are listed) or a path naming nothing.
        TypeError: the class has no ``load`` classmethod, which restores saved agents.
    """
    from rl_lightning.agents.registry import resolve_agent

    return resolve_agent(agent_class, needs=("load",))


def load_agent(exp_dir: str | os.PathLike, agent_class: Union[str, type], *, run: int = 1, which: str = "best",
               agent_format: str = "seed") -> LoadedAgent:
    """Load run ``run``'s ``which`` agent of ``exp_dir`` with the loader of ``agent_format``.

    Raises:
        ValueError: an unknown ``which`` or ``agent_format``.
        FileNotFoundError: the agent file is missing (the agent files present are listed).
    """
    check_int("run", run, minimum=1)
    check_choice("which", which, WHICH)
    check_choice("agent_format", agent_format, AGENT_FORMATS)
    return AGENT_FORMATS[agent_format](os.fspath(exp_dir), resolve_agent_class(agent_class), run, which)


def env_factory(env_id: str, num_envs: int = 1, render_mode: Optional[str] = None, wrappers: Sequence[type] = (),
                **env_kwargs: Any) -> Callable:
    """A factory of ``gymnasium.make_vec(env_id, num_envs, vectorization_mode="sync", render_mode=..., wrappers=...,
    **env_kwargs)``: ``wrappers`` are wrapper classes applied to each sub-env in order."""
    import gymnasium as gym

    check_int("num_envs", num_envs, minimum=1)
    wrappers = list(wrappers)
    return lambda: gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", render_mode=render_mode,
                                wrappers=wrappers or None, **env_kwargs)


@dataclass
class EvaluationResult:
    """What :func:`evaluate` played.

    Attributes:
        episodes: the episode dicts, in the order they finished (``frames`` emptied: they went to videos).
        agent_path: the agent file evaluated.
        out_dir: the folder holding ``metrics.pkl`` and ``summary.json``.
        video_paths: the video files written.
        seed: sub-env ``i`` reset with ``seed + i``.
    """

    episodes: list
    agent_path: str
    out_dir: str
    seed: int
    video_paths: list = field(default_factory=list)

    @property
    def returns(self) -> np.ndarray:
        return np.array([e["ep_return"] for e in self.episodes], dtype=np.float64)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([e["ep_length"] for e in self.episodes], dtype=np.int64)

    def summary(self) -> dict:
        """The content of ``summary.json``: the episodes' returns and lengths, their mean and std (ddof=0)."""
        returns, lengths = self.returns, self.lengths
        return {
            "agent_path": self.agent_path, "seed": self.seed, "num_episodes": len(self.episodes),
            "ep_return_mean": float(returns.mean()), "ep_return_std": float(returns.std()),
            "ep_length_mean": float(lengths.mean()), "ep_length_std": float(lengths.std()),
            "returns": returns.tolist(), "lengths": lengths.tolist(),
        }


class _EpisodeSink(pl.Callback):
    """Writes each finished episode's video as soon as its segment ends, then drops its frames, so that an
    evaluation holds at most the running episodes' frames in memory."""

    def __init__(self, num_episodes: int, recorder: Optional[VideoRecorder]):
        self.num_episodes = num_episodes
        self.recorder = recorder
        self.seen = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._drain(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._drain(pl_module)
        if self.recorder is not None:
            self.recorder.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.recorder is not None:
            self.recorder.close()

    def _drain(self, pl_module: pl.LightningModule) -> None:
        episodes = pl_module.episodes
        for episode in episodes[self.seen:]:
            index = episode["episode_index"]
            if self.recorder is not None and index <= self.num_episodes:
                if not episode["frames"]:
                    raise ValueError("video_dir is set but the env recorded no frames: build it with "
                                     "render_mode='rgb_array' (or 'ansi'), e.g. env_factory(env_id, "
                                     "render_mode='rgb_array').")
                self.recorder.record(episode["frames"], f"episode_{index:03d}", step=index)
            episode["frames"] = []
        self.seen = len(episodes)


def evaluate(exp_dir: str | os.PathLike, agent_class: Union[str, type], make_env: Callable[[], Any], *,
             run: int = 1, which: str = "best", num_episodes: int = 10, seed: int = 0,
             out_dir: Optional[str | os.PathLike] = None, video_dir: Optional[str | os.PathLike] = None,
             video_formats: Sequence[str] = ("gif",), fps: float = 30, agent_format: str = "seed",
             progress: bool = False) -> EvaluationResult:
    """Play ``num_episodes`` greedy episodes with run ``run``'s ``which`` agent of ``exp_dir``.

    Args:
        exp_dir: the training run's experiment folder (read only; results go to ``out_dir``).
        agent_class: the agent's class (with a ``load(path)`` classmethod), or its dotted path.
        make_env: a zero-argument factory of the evaluation env (a vector env or a plain ``gymnasium.Env``); for
            videos, built with ``render_mode="rgb_array"`` (or ``"ansi"`` for text frames).
        run: the 1-based run index.
        which: ``"best"`` or ``"last"``.
        num_episodes: episodes kept, across sub-envs: the first ``num_episodes`` to finish. With several
            sub-envs the trainer may finish a few more on the last vector step; those are dropped.
        seed: sub-env ``i`` resets with ``seed + i`` (the same episodes every call).
        out_dir: where ``metrics.pkl`` and ``summary.json`` go; default ``exp_dir/eval/run{run}_{which}``.
        video_dir: write each kept episode's frames to ``video_dir/episode_{index:03d}.<ext>``; ``None``: no video.
        video_formats: among ``"gif"``, ``"mp4"``, ``"tensorboard"`` (one event file in ``video_dir``, tag
            ``eval/run{run}_{which}``, step = episode index); ANSI frames always go to ``.txt``.
        fps: frames per second of the videos.
        agent_format: a name in :data:`AGENT_FORMATS`.
        progress: show the run's progress bar.

    Raises:
        FileNotFoundError: the agent file is missing.
        ValueError: bad arguments, or ``video_dir`` with an env that records no frames.
    """
    check_int("num_episodes", num_episodes, minimum=1)
    check_int("seed", seed, minimum=0)
    if not callable(make_env):
        raise TypeError(f"make_env must be a zero-argument factory of the env, got {type(make_env).__name__}; "
                        "e.g. rl_lightning.evaluation.env_factory('CartPole-v1').")
    recorder = None if video_dir is None else VideoRecorder(video_dir, video_formats, fps,
                                                            tag=f"eval/run{run}_{which}")
    loaded = load_agent(exp_dir, agent_class, run=run, which=which, agent_format=agent_format)
    out = os.fspath(out_dir) if out_dir is not None else os.path.join(os.fspath(exp_dir), "eval", f"run{run}_{which}")

    sink = _EpisodeSink(num_episodes, recorder)
    # These callbacks are the run's whole list, so the progress bar (and whether there is one) is set here too.
    callbacks = ([EpisodeProgressBar()] if progress else []) + [sink]
    trainer = OnlineTrainer(make_env, lambda env: loaded.agent, train=False, progress=progress,
                            trainer_kwargs={"callbacks": callbacks, "enable_progress_bar": progress})
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, num_episodes=num_episodes, seed_offset=seed, dump_metrics=False,
                                 keep_metrics_in_memory=True)[0]
    video_paths = [] if recorder is None else recorder.paths
    result = EvaluationResult(episodes[:num_episodes], loaded.path, out, seed, video_paths)

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "metrics.pkl"), "wb") as f:
        pickle.dump(result.episodes, f, protocol=pickle.HIGHEST_PROTOCOL)  # one chunk: read_metrics_stream reads it
    summary = {"exp_dir": os.fspath(exp_dir), "run": run, "which": which, "agent_format": agent_format,
               **result.summary(), "video_paths": result.video_paths}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return result


# ---------------------------------------------------------------------- rl-lightning evaluate
def _video_render_mode(env_id: str) -> str:
    """``"rgb_array"`` when the env offers it (or says nothing), else ``"ansi"``."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.spec(env_id).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    modes = getattr(creator, "metadata", {}).get("render_modes", [])
    if not modes or "rgb_array" in modes:
        return "rgb_array"
    if "ansi" in modes:
        return "ansi"
    raise ValueError(f"{env_id} renders only in {modes}; --video needs 'rgb_array' or 'ansi'.")


def _evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rl-lightning evaluate",
        description="Load a run's Best or Last agent from an experiment folder and play greedy episodes.",
        epilog="For a folder written by `rl-lightning fit` or `rl-lightning multirun`, --agent-class and --env-id "
               "may be left out: `rl-lightning evaluate` reads them from its config.yaml or args.yaml.",
    )
    parser.add_argument("--exp-dir", required=True, help="the training run's experiment folder")
    parser.add_argument("--agent-class", help="the agent's class, e.g. my_pkg.agents.DQNAgent (default: the "
                                              "folder's)")
    parser.add_argument("--env-id", help="a registered gymnasium id, e.g. CartPole-v1 (default: the folder's)")
    parser.add_argument("--num-envs", type=int, default=1, help="sub-envs of the evaluation env (default 1)")
    parser.add_argument("--which", choices=WHICH, default="best", help="best or last agent (default best)")
    parser.add_argument("--run", type=int, default=1, help="1-based run index (default 1)")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes to play (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="sub-env i resets with seed + i (default 0)")
    parser.add_argument("--out", default=None, help="output folder (default EXP_DIR/eval/run{RUN}_{WHICH})")
    parser.add_argument("--video", action="store_true", help="write one video per episode into OUT/videos")
    parser.add_argument("--video-format", nargs="+", choices=VIDEO_FORMATS, default=["gif"], dest="video_formats",
                        help="video formats (default gif); ANSI envs always write .txt")
    parser.add_argument("--fps", type=float, default=30, help="video frames per second (default 30)")
    parser.add_argument("--agent-format", default="seed", help="agent-file format (default seed)")
    return parser


def evaluate_main(argv: Optional[list] = None, env_kwargs: Optional[dict] = None,
                  wrappers: Sequence[type] = ()) -> int:
    """``rl-lightning evaluate --exp-dir D --agent-class pkg.mod.Class --env-id CartPole-v1 [...]``.

    Prints a summary: the evaluated agent, the returns and lengths (mean ± std, best), env steps/s and wall time,
    the files written and what to run next; returns 0. Bad arguments, a missing agent file or an unknown env exit
    with status 2 and the reason.

    Args:
        argv: the command-line arguments.
        env_kwargs: keyword arguments of ``gymnasium.make_vec`` for the evaluation env (the training run's).
        wrappers: wrapper classes applied to each sub-env in order (the training run's).
    """
    import gymnasium as gym

    from rl_lightning.cli.output import headless_video

    parser = _evaluate_parser()
    args = parser.parse_args(argv)
    missing = [option for option, value in (("--agent-class", args.agent_class), ("--env-id", args.env_id))
               if not value]
    if missing:
        parser.error(f"{' and '.join(missing)} needed: {args.exp_dir} holds no config.yaml (rl-lightning fit) or "
                     f"args.yaml (rl-lightning multirun) to read {'them' if len(missing) > 1 else 'it'} from.")
    out = args.out or os.path.join(args.exp_dir, "eval", f"run{args.run}_{args.which}")
    start = time.perf_counter()
    try:
        if args.video:
            headless_video()
        render_mode = _video_render_mode(args.env_id) if args.video else None
        make_env = env_factory(args.env_id, args.num_envs, render_mode, wrappers, **(env_kwargs or {}))
        result = evaluate(args.exp_dir, args.agent_class, make_env, run=args.run, which=args.which,
                          num_episodes=args.episodes, seed=args.seed, out_dir=out,
                          video_dir=os.path.join(out, "videos") if args.video else None,
                          video_formats=args.video_formats, fps=args.fps, agent_format=args.agent_format)
    except (FileNotFoundError, ValueError, TypeError, ImportError, gym.error.Error) as err:
        parser.error(str(err))
    print(_summary(args, result, out, time.perf_counter() - start), flush=True)
    return 0


def _summary(args: argparse.Namespace, result: EvaluationResult, out: str, seconds: float) -> str:
    """The closing summary of ``rl-lightning evaluate``."""
    from rl_lightning.cli.output import folder_contents, speed, summary_block

    s = result.summary()
    best = max(s["returns"])
    rows = [("return", f"{s['ep_return_mean']:.2f} ± {s['ep_return_std']:.2f} (best episode {best:.2f})"),
            ("length", f"{s['ep_length_mean']:.2f} ± {s['ep_length_std']:.2f}"),
            ("speed", speed(int(sum(s["lengths"])), seconds)),
            ("files", folder_contents(out))]
    if args.video:
        rows.append(("videos", f"{len(result.video_paths)} video file(s) in {os.path.join(out, 'videos')}"))
    folder = shlex.quote(args.exp_dir)
    commands = [f"rl-lightning plot {folder}"]
    if not args.video:
        options = (f" --run {args.run}" if args.run != 1 else "") + (f" --which {args.which}" if args.which != "best"
                                                                      else "")
        if not any(os.path.isfile(os.path.join(args.exp_dir, name)) for name in ("config.yaml", "args.yaml")):
            options += f" --agent-class {shlex.quote(args.agent_class)} --env-id {shlex.quote(args.env_id)}"
        commands.insert(0, f"rl-lightning evaluate --exp-dir {folder}{options} --video")
    rows.append(("next", "\n".join(commands)))
    header = (f"evaluate: {result.agent_path}: {s['num_episodes']} greedy episodes on {args.env_id} "
              f"(seed {args.seed})")
    return summary_block(header, rows)


#: The name of :func:`evaluate_main` before ``rl-lightning validate`` became Lightning's validation loop.
validate_main = evaluate_main
