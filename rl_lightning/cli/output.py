"""What the command line prints: a closing summary per subcommand, and nothing alarming or irrelevant before it.

* :func:`summary_block` lays out a subcommand's closing summary: a header line, then aligned ``label  value`` rows
  (returns, speed, the files written, the commands to run next).
* :func:`quiet_lightning` silences Lightning's banners and tips (``GPU available: ...``, the litlogger tip,
  "``Trainer.fit` stopped: ...``"), which ``--verbose`` keeps.
* :func:`plain_warnings` prints each warning as one ``rl-lightning COMMAND: warning: ...`` line, without the Python
  source path that :mod:`warnings` puts first, and says in the command line's words what a folder move means.
* :func:`headless_video` keeps SDL (pygame, which gymnasium renders with) from printing errors about the missing
  display or sound card of a headless machine; frames are rendered off-screen all the same.

Only the standard library is imported here: ``rl-lightning --help`` must not load Lightning, torch or gymnasium.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from typing import Iterator, Optional, Sequence

__all__ = ["FINAL_EPISODES", "final_return", "return_rows", "duration", "speed", "folder_contents", "summary_block",
           "quiet_lightning", "plain_warnings", "headless_video"]

#: A run's final return is the mean return of its last this many episodes (the seed's "last-100 mean").
FINAL_EPISODES = 100
# Lightning's loggers of banners and tips (``rank_zero_info``), and of the DDP process-group messages.
_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                      "lightning.fabric.utilities.rank_zero", "lightning.fabric.utilities.distributed")


def final_return(returns: Sequence[float]) -> float:
    """The mean of the last :data:`FINAL_EPISODES` returns (of all of them, when fewer)."""
    last = list(returns)[-FINAL_EPISODES:]
    return float(sum(last) / len(last))


def return_rows(returns: Sequence[float]) -> list:
    """The summary rows of one run's episode returns (in the order they finished): its final return and its best
    episode."""
    if len(returns) == 0:
        return [("return", "no episode finished")]
    which = (f"the last {FINAL_EPISODES} of {len(returns)} episodes" if len(returns) > FINAL_EPISODES
             else f"all {len(returns)} episodes" if len(returns) > 1 else "its one episode")
    return [("final return", f"{final_return(returns):.2f} (mean of {which})"),
            ("best episode", f"{max(returns):.2f}")]


def duration(seconds: float) -> str:
    """``"8.4 s"``, ``"3 min 07 s"`` or ``"1 h 02 min"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def speed(env_steps: int, seconds: float) -> str:
    """``"4,096 env steps in 8.4 s (488 env steps/s)"``."""
    rate = f" ({env_steps / seconds:,.0f} env steps/s)" if seconds > 0 else ""
    return f"{env_steps:,} env steps in {duration(seconds)}{rate}"


def _braces(numbers: list) -> str:
    numbers = sorted(numbers)
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{{{numbers[0]}..{numbers[-1]}}}"
    return "{" + ",".join(map(str, numbers)) + "}"


def folder_contents(folder: str) -> str:
    """``"runs/x: config.yaml, metrics_run{1..3}.pkl, checkpoints/, TensorBoard events"``: the folder's entries,
    sub-folders with a ``/``, each run's files folded into one name, TensorBoard's event files as one entry."""
    if not os.path.isdir(folder):
        return folder
    groups: dict = {}
    events = False
    for name in sorted(os.listdir(folder)):
        if name.startswith("events.out.tfevents."):
            events = True
            continue
        shown = name + ("/" if os.path.isdir(os.path.join(folder, name)) else "")
        match = re.fullmatch(r"(.*(?:Run|run))(\d+)(_.*|\..*)", shown)
        key = (match.group(1), match.group(3)) if match else (shown, None)
        groups.setdefault(key, []).append(int(match.group(2)) if match else None)
    names = [head if tail is None else head + (str(runs[0]) if len(runs) == 1 else _braces(runs)) + tail
             for (head, tail), runs in groups.items()]
    return f"{folder}: " + ", ".join(names + (["TensorBoard events"] if events else []))


def summary_block(header: str, rows: Sequence[tuple]) -> str:
    """``header``, then one line per ``(label, value)`` row, labels aligned; a value may hold several lines (e.g.
    the commands to run next), each indented under the first."""
    width = max((len(label) for label, _ in rows), default=0)
    lines = [header]
    for label, value in rows:
        first, *rest = str(value).split("\n")
        lines.append(f"  {label:<{width}}  {first}")
        lines += [f"  {'':<{width}}  {line}" for line in rest]
    return "\n".join(lines)


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Hide Lightning's INFO messages (hardware banners, tips, why a loop stopped) unless ``verbose``; its warnings
    and errors still show."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _moved_aside(warning: Warning, overwrite_flag: str) -> Optional[str]:
    """The command line's words for an :class:`~rl_lightning.trainer.ExpDirMovedWarning` (earlier results moved
    aside); ``None`` for another warning."""
    moved_to, exp_dir = getattr(warning, "moved_to", None), getattr(warning, "exp_dir", None)
    if moved_to is None or exp_dir is None:
        return None
    earlier = "an earlier `rl-lightning fit`" if getattr(warning, "earlier", None) == "fit" else "an earlier multirun"
    return (f"{exp_dir} held the results of {earlier}; they were moved to {moved_to}. Pass {overwrite_flag} to "
            "replace them instead.")


@contextlib.contextmanager
def plain_warnings(command: str, overwrite_flag: Optional[str] = None) -> Iterator[None]:
    """Show every warning raised inside as ``rl-lightning COMMAND: warning: MESSAGE`` (no source file and line,
    which mean nothing to a command-line user). Warnings are still warnings: filters and ``pytest.warns`` see
    them as before.

    Args:
        command: the subcommand, e.g. ``"multirun"``.
        overwrite_flag: the subcommand's option that replaces earlier results (``"--overwrite"``); the warning
            that earlier results were moved aside names it instead of the Python argument ``overwrite=True``.
    """
    shown_before = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None) -> str:
        text = _moved_aside(message, overwrite_flag) if overwrite_flag and isinstance(message, Warning) else None
        return f"rl-lightning {command}: warning: {text or message}\n"

    warnings.formatwarning = format_warning
    try:
        yield
    finally:
        warnings.formatwarning = shown_before


def headless_video() -> None:
    """Before an env renders frames (``render_mode="rgb_array"``): SDL drivers that need neither a display nor a
    sound card, where the user set none. On a headless machine SDL would otherwise print ``error:
    XDG_RUNTIME_DIR is invalid or not set`` and ALSA errors, though the frames come out right."""
    for name in ("SDL_VIDEODRIVER", "SDL_AUDIODRIVER"):
        os.environ.setdefault(name, "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
