"""The ``rl-lightning`` command (also ``python -m rl_lightning``): one module per subcommand.

* ``fit``, ``validate``, ``test`` (:mod:`~rl_lightning.cli.lightning_cli`): LightningCLI's own subcommands, i.e.
  ``Trainer.fit`` (one run), ``Trainer.validate`` and ``Trainer.test`` (greedy episodes of a checkpoint, logged as
  ``val/ep_return`` and ``test/ep_return``); the ``model`` section is a
  :class:`~rl_lightning.cli.configured_module.ConfiguredAgentModule`.
* ``multirun`` (:mod:`~rl_lightning.cli.multirun`): ``OnlineTrainer.multi_run`` over seeds, the seed's files.
* ``evaluate`` (:mod:`~rl_lightning.cli.evaluate`): greedy evaluation episodes of a saved agent file
  (``Run1_Best_agent.t``, ``Run1_Last_agent.t``).
* ``plot``: :func:`rl_lightning.analysis.report.plot_main`; ``sweep``: :func:`rl_lightning.tune.cli.sweep_main`.

The LightningCLI subcommands and ``multirun`` read the same run configuration (:mod:`~rl_lightning.cli.run_config`):
the flat files of ``configs/``, or a ``fit --print_config`` output; ``fit`` writes into ``runs/<config name>`` and
``multirun`` into ``runs/<config name>_multirun`` by default. Bad input exits with status 2 before anything is
written, with a message naming what is wrong (:mod:`~rl_lightning.cli.checks`).

Output (:mod:`~rl_lightning.cli.output`): one log line per run start, a closing summary (returns, env steps/s, wall
time, the files, what to run next), warnings as ``rl-lightning COMMAND: warning: ...`` without source paths, and
Lightning's banners only with ``--verbose``. ``rl-lightning --help`` imports no subcommand, so neither Lightning nor
torch nor gymnasium.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, Optional

from rl_lightning.cli.checks import CLIError, nearest
from rl_lightning.cli.output import plain_warnings

__all__ = ["main", "CLIError", "RunConfig", "SUBCOMMANDS"]

#: Subcommand name -> one-line description (``rl-lightning --help`` lists them).
SUBCOMMANDS = {
    "fit": "train one run on a Lightning Trainer (LightningCLI: --config, --model.*, --trainer.*, --print_config)",
    "validate": "Lightning's validation loop on a --ckpt_path: greedy episodes, val/ep_return (LightningCLI, as fit)",
    "test": "Lightning's test loop on a --ckpt_path: greedy episodes, test/ep_return (LightningCLI, as fit)",
    "multirun": "OnlineTrainer.multi_run over several seeds, writing the seed's files in --exp_dir",
    "evaluate": "greedy evaluation episodes of a saved Best or Last agent file (Run1_Best_agent.t) of a run folder",
    "plot": "summary table, learning curves and aggregate scores of experiment folders",
    "sweep": "hyperparameter sweep with Optuna",
}


def _entry_point(command: str) -> Callable[[list[str]], int]:
    if command in ("fit", "validate", "test"):
        from rl_lightning.cli.lightning_cli import lightning_main

        return functools.partial(lightning_main, command)
    if command == "multirun":
        from rl_lightning.cli.multirun import multirun_main

        return multirun_main
    if command == "evaluate":
        from rl_lightning.cli.evaluate import evaluate_main

        return evaluate_main
    if command == "plot":
        from rl_lightning.analysis.report import plot_main

        return plot_main
    from rl_lightning.tune.cli import sweep_main

    return sweep_main


def usage() -> str:
    """The text of ``rl-lightning --help``."""
    lines = ["usage: rl-lightning {" + ",".join(SUBCOMMANDS) + "} ...", "",
             "Reinforcement-learning runs on Lightning.", "", "subcommands:"]
    lines += [f"  {name:<9} {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "`rl-lightning SUBCOMMAND --help` shows a subcommand's options."]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """The ``rl-lightning`` entry point; returns (and, as a console script, exits with) the exit status.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"rl-lightning: unknown subcommand {command!r}{nearest(command, SUBCOMMANDS)}.\n\n{usage()}",
              file=sys.stderr)
        return 2
    try:
        run = _entry_point(command)  # imported first: Lightning's import sets its own warning format
        with plain_warnings(command):
            return run(rest)
    except (CLIError, ValueError, TypeError, FileNotFoundError) as error:
        if not isinstance(error, CLIError) and _raised_inside_a_run(error):
            raise  # a bug in the user's env or agent: its traceback is the useful message
        print(f"rl-lightning {command}: error: {error}", file=sys.stderr)
        return 2


def __getattr__(name: str) -> type:
    # RunConfig imports the agents (torch, gymnasium): not for `rl-lightning --help`.
    if name == "RunConfig":
        from rl_lightning.cli.run_config import RunConfig

        return RunConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _raised_inside_a_run(error: BaseException) -> bool:
    """Whether ``error`` came from a running env or agent (the rollout notes where) rather than from a check."""
    return any("rl_lightning: raised in" in note for note in getattr(error, "__notes__", None) or [])


if __name__ == "__main__":
    sys.exit(main())
