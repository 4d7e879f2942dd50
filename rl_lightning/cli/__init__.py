"""The ``rl-lightning`` command (also ``python -m rl_lightning``): one module per subcommand.

* ``fit`` (:mod:`~rl_lightning.cli.fit`): one run on a Lightning ``Trainer`` through ``LightningCLI``.
* ``multirun`` (:mod:`~rl_lightning.cli.multirun`): ``OnlineTrainer.multi_run`` over seeds, the seed's files.
* ``validate`` (:mod:`~rl_lightning.cli.validate`): greedy evaluation episodes of a saved agent.
* ``plot``: :func:`rl_lightning.analysis.report.plot_main`; ``sweep``: :func:`rl_lightning.tune.cli.sweep_main`.

``fit`` and ``multirun`` read the same run configuration (:mod:`~rl_lightning.cli.run_config`): the flat files
of ``configs/``, or a ``fit --print_config`` output. Bad input exits with status 2 before anything is written,
with a message naming what is wrong (:mod:`~rl_lightning.cli.checks`).
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

from rl_lightning.cli.checks import CLIError, nearest
from rl_lightning.cli.run_config import RunConfig

__all__ = ["main", "CLIError", "RunConfig", "SUBCOMMANDS"]

#: Subcommand name -> one-line description (``rl-lightning --help`` lists them).
SUBCOMMANDS = {
    "fit": "train one run on a Lightning Trainer (LightningCLI: --config, --model.*, --trainer.*, --print_config)",
    "multirun": "OnlineTrainer.multi_run over several seeds, writing the seed's files in --exp_dir",
    "validate": "greedy evaluation episodes of a saved Best or Last agent",
    "plot": "summary table, learning curves and aggregate scores of experiment folders",
    "sweep": "hyperparameter sweep with Optuna",
}


def _entry_point(command: str) -> Callable[[list[str]], int]:
    if command == "fit":
        from rl_lightning.cli.fit import fit_main

        return fit_main
    if command == "multirun":
        from rl_lightning.cli.multirun import multirun_main

        return multirun_main
    if command == "validate":
        from rl_lightning.cli.validate import validate_main

        return validate_main
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
        return _entry_point(command)(rest)
    except (CLIError, ValueError, TypeError, FileNotFoundError) as error:
        if not isinstance(error, CLIError) and _raised_inside_a_run(error):
            raise  # a bug in the user's env or agent: its traceback is the useful message
        print(f"rl-lightning {command}: error: {error}", file=sys.stderr)
        return 2


def _raised_inside_a_run(error: BaseException) -> bool:
    """Whether ``error`` came from a running env or agent (the rollout notes where) rather than from a check."""
    return any("rl_lightning: raised in" in note for note in getattr(error, "__notes__", None) or [])


if __name__ == "__main__":
    sys.exit(main())
