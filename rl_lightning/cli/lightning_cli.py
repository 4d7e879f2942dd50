"""``rl-lightning fit``, ``validate`` and ``test``: Lightning's own subcommands, through ``LightningCLI``.

The configuration has Lightning's sections: ``model`` (a :class:`~rl_lightning.cli.configured_module.
ConfiguredAgentModule`: env, agent, hyperparameters, budget, seed, epoch length, validation episodes) and
``trainer`` (every ``lightning.pytorch.Trainer`` argument). A flat file of ``configs/`` is read as the ``model``
section, so all of these run::

    rl-lightning fit --config configs/ppo_cartpole.yaml --model.hyperparameters.n_steps 16
    rl-lightning fit --config configs/ppo_cartpole.yaml --print_config > run.yaml
    rl-lightning fit --config run.yaml --trainer.max_time 00:00:05:00
    rl-lightning validate --config configs/ppo_cartpole.yaml --ckpt_path runs/ppo_cartpole/checkpoints/last.ckpt
    rl-lightning test --config configs/ppo_cartpole.yaml --ckpt_path last

``fit`` writes into ``trainer.default_root_dir`` (default ``runs/<config file name>``, or ``runs/fit`` without
a config): TensorBoard events (unless ``--trainer.logger`` names other loggers), ``config.yaml`` (the
resolved configuration), ``checkpoints/last.ckpt`` (exact resume with ``--ckpt_path``) and
``checkpoints/best.ckpt`` (the best episode's agent), and the seed's files ``metrics_run1.pkl``,
``Run1_Last_agent.t`` and ``Run1_Best_agent.t``, which ``rl-lightning plot`` and ``rl-lightning evaluate`` read.

``validate`` and ``test`` run the module's validation or test loop (greedy episodes on an evaluation env) with the
weights of ``--ckpt_path``, and print and log ``val/ep_return`` (``test/...``). They write none of the seed's
files and add no checkpoint callbacks; their metrics go to Lightning's default logger, a new
``<default_root_dir>/lightning_logs/version_N`` folder, unless ``--trainer.logger`` says otherwise.

Each subcommand ends with a short summary (:mod:`~rl_lightning.cli.lightning_summary`); Lightning's banners and tips
(``GPU available: ...``, the litlogger tip, why the loop stopped) and, for ``validate``/``test``, its results table
show only with ``--verbose``, the command line's own option (taken out before LightningCLI parses the rest).

Under a DDP strategy Lightning starts the other ranks by re-running the command line (``sys.argv``); each rank
translates it again, so the arguments are parsed from ``args=`` and ``sys.argv`` is left as the user gave it.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
import warnings
from typing import Any, Optional

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_warn

from rl_lightning.cli.checks import CLIError, check_keys, read_yaml
from rl_lightning.cli.configured_module import MODEL_KEYS, ConfiguredAgentModule
from rl_lightning.cli.lightning_summary import FitClock, fit_summary, loop_summary
from rl_lightning.cli.output import quiet_lightning
from rl_lightning.cli.run_config import RUN_KEYS

__all__ = ["RLLightningCLI", "lightning_main", "translate_argv", "LIGHTNING_SUBCOMMANDS", "DEFAULT_ROOT_DIR"]

#: The subcommands this module runs: ``Trainer.fit``, ``Trainer.validate`` and ``Trainer.test``.
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")
#: Where a subcommand writes when neither ``--trainer.default_root_dir`` nor a config file names a folder.
DEFAULT_ROOT_DIR = "runs/fit"
# Lightning's defaults changed where an RL run differs: the module stops the fit at its budget, so epochs (a fixed
# number of env steps each) do not end it; no validation episodes before the first training step.
_TRAINER_DEFAULTS = {"max_epochs": -1, "default_root_dir": DEFAULT_ROOT_DIR, "enable_model_summary": False,
                     "num_sanity_val_steps": 0}
_DESCRIPTIONS = {
    "fit": (
        "Train one run on a Lightning Trainer. --config takes a flat run configuration (configs/*.yaml) or a "
        "--print_config output; --model.KEY overrides a run setting (--model.hyperparameters.NAME one "
        "hyperparameter) and --trainer.KEY a Trainer argument. The budget is --model.total_steps env steps "
        "(--trainer.max_steps counts optimizer steps, as in Lightning); an epoch is --model.steps_per_epoch env "
        "steps. Files go to --trainer.default_root_dir (default runs/<config file name>): TensorBoard events, "
        "config.yaml, checkpoints/last.ckpt and best.ckpt, metrics_run1.pkl, Run1_Last_agent.t, Run1_Best_agent.t. "
        "--ckpt_path last resumes an interrupted run from <default_root_dir>/checkpoints/last.ckpt. It ends with a "
        "summary (final and best return, env steps/s, the files, what to run next); --verbose also shows "
        "Lightning's banners and tips."),
    "validate": (
        "Run the validation loop once: --model.val_episodes greedy episodes on an evaluation env, printed and "
        "logged as val/ep_return (mean), val/ep_return_std and val/ep_length. --config and --model.* describe the "
        "model as for fit; --ckpt_path gives its weights (a fit's checkpoints/last.ckpt or best.ckpt; 'last' is "
        "<default_root_dir>/checkpoints/last.ckpt). Writes none of the run's files; the metrics go to a new "
        "<default_root_dir>/lightning_logs/version_N unless --trainer.logger says otherwise. --verbose also shows "
        "Lightning's banners and results table."),
    "test": (
        "Run the test loop once: --model.val_episodes greedy episodes on an evaluation env with other seeds than "
        "validation's, printed and logged as test/ep_return (mean), test/ep_return_std and test/ep_length. "
        "--config and --model.* describe the model as for fit; --ckpt_path gives its weights (a fit's "
        "checkpoints/last.ckpt or best.ckpt; 'last' is <default_root_dir>/checkpoints/last.ckpt). Writes none of "
        "the run's files; the metrics go to a new <default_root_dir>/lightning_logs/version_N unless "
        "--trainer.logger says otherwise. --verbose also shows Lightning's banners and results table."),
}
# The top-level keys of a config in the CLI's own layout besides the sections checked key by key.
_TOP_LEVEL_KEYS = ("seed_everything", "trainer", "model", "data", "ckpt_path", "weights_only", "verbose")


class RLLightningCLI(LightningCLI):
    """``LightningCLI`` with ``fit``, ``validate`` and ``test``, and what every RL fit wants: the episode progress
    bar, ``last.ckpt`` and ``best.ckpt`` in ``default_root_dir/checkpoints``, the seed's files in
    ``default_root_dir``, and a TensorBoard logger there unless ``--trainer.logger`` says otherwise. ``validate``
    and ``test`` get none of these: they read a checkpoint and write only their own logger's files."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"},
                "validate": {"model", "dataloaders", "datamodule"},
                "test": {"model", "dataloaders", "datamodule"}}

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse ``args`` (the translated arguments, the subcommand first) with the model settings that
        ``--ckpt_path`` holds, resolving ``last`` to ``<default_root_dir>/checkpoints/last.ckpt``.

        The checkpoint's settings are read as one more config file right after the last ``--config``: they beat
        the config files (so the agent built has the checkpoint's hyperparameters and its weights fit), and the
        options after the last ``--config`` beat them (``--model.val_episodes 20`` is used). A checkpoint of another
        module than :class:`ConfiguredAgentModule` lends its weights only. ``sys.argv`` is left alone: under a
        DDP strategy, Lightning starts the other ranks by re-running it, the user's whole command line, which
        each rank translates again.
        """
        self.config = parser.parse_args(args)
        subcommand = self.config["subcommand"]
        path = _checkpoint_path(self.config[subcommand])
        settings = _checkpoint_settings(path) if path is not None else {}
        if settings:
            at = _after_last_config(args)
            layered = yaml.safe_dump(settings, default_flow_style=True, width=1 << 20)
            self.config = parser.parse_args([*args[:at], "--model", layered, *args[at:]])
        if path is not None:
            self.config[subcommand]["ckpt_path"] = path

    def _parse_ckpt_path(self) -> None:
        """Nothing: :meth:`parse_arguments` has read the checkpoint's settings. (Lightning's own version of this
        hook, called right after parsing, lets them override the whole command line.)"""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("trainer.default_root_dir", "model.exp_dir")

    def before_instantiate_classes(self) -> None:
        """``fit`` refuses to resume a finished run (it spent its budget, so ``--ckpt_path`` would train nothing),
        and says so when a new run replaces an earlier one's files; ``validate`` and ``test`` write none of the seed's
        files (``model.exp_dir`` is cleared)."""
        config = self.config[self.subcommand]
        if self.subcommand != "fit":
            config["model"]["exp_dir"] = None
        elif config.get("ckpt_path") and os.path.isfile(config["ckpt_path"]):
            _refuse_a_finished_run(config["ckpt_path"], bool(config["model"].get("trust_checkpoint")))
        elif not config.get("ckpt_path"):
            root = config["trainer"].get("default_root_dir") or DEFAULT_ROOT_DIR
            if os.path.isfile(os.path.join(root, "checkpoints", "last.ckpt")):
                rank_zero_warn(f"{root} holds an earlier fit; this one replaces its files. --ckpt_path last would "
                               "continue it instead, --trainer.default_root_dir writes elsewhere.")

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        if self.subcommand != "fit":
            return super().instantiate_trainer(**kwargs)
        from rl_lightning.callbacks import BestReturnCheckpoint, EpisodeProgressBar, LastCheckpoint
        from rl_lightning.loggers import TBCallBack

        config = self.config_init[self.subcommand]["trainer"]
        root = config.get("default_root_dir") or DEFAULT_ROOT_DIR
        folder = os.path.join(root, "checkpoints")
        ours = [LastCheckpoint(folder), BestReturnCheckpoint(folder), FitClock()]
        if config.get("enable_progress_bar") is not False:
            ours.insert(0, EpisodeProgressBar())
        kwargs.setdefault("callbacks", [*(config.get("callbacks") or []), *ours])
        if config.get("logger") in (None, True):
            kwargs.setdefault("logger", TBCallBack(root, flush_every=1))
        return super().instantiate_trainer(**kwargs)


def _take_switch(argv: list[str], option: str) -> tuple[bool, list[str]]:
    """``(on, the other arguments)``: ``option`` (or ``option true|false``, ``option=true|false``) is the command
    line's own switch (``--verbose``, ``--trust-checkpoint``), not LightningCLI's."""
    on, rest, i = False, [], 0
    while i < len(argv):
        name, _, value = argv[i].partition("=")
        if name != option:
            rest.append(argv[i])
            i += 1
            continue
        if not value and i + 1 < len(argv) and argv[i + 1].lower() in ("true", "false"):
            value, i = argv[i + 1], i + 1
        if value.lower() not in ("", "true", "false"):
            raise CLIError(f"{option} takes no value, or true or false; got {value!r}.")
        on = value.lower() != "false"
        i += 1
    return on, rest


def _checkpoint_path(config: Any) -> Optional[str]:
    """The file ``--ckpt_path`` names (``last``: ``<default_root_dir>/checkpoints/last.ckpt``), or ``None`` when it
    is not given or is another of Lightning's keywords (``best``, ``hpc``, ``registry``)."""
    path = config.get("ckpt_path")
    if path is None or path in ("best", "hpc", "registry") or str(path).startswith("registry:"):
        return None
    if path == "last":
        root = config["trainer"].get("default_root_dir") or DEFAULT_ROOT_DIR
        path = os.path.join(root, "checkpoints", "last.ckpt")
        if not os.path.isfile(path):
            raise CLIError(f"--ckpt_path last: there is no checkpoint at {path} ('last' is "
                           "<default_root_dir>/checkpoints/last.ckpt). Give the --trainer.default_root_dir of the run "
                           "(or its config file), a checkpoint file, or no --ckpt_path to start a new run.")
        return path
    if not os.path.isfile(path):
        raise CLIError(f"--ckpt_path {path}: no such file; give a checkpoint file (e.g. "
                       "runs/<name>/checkpoints/last.ckpt) or 'last'.")
    return str(path)


def _checkpoint_settings(path: str) -> dict:
    """The ``model`` settings a :class:`ConfiguredAgentModule` saved in the checkpoint at ``path`` (without
    ``exp_dir``, which follows ``--trainer.default_root_dir``); ``{}`` for another module's checkpoint."""
    import torch

    saved = dict(torch.load(path, weights_only=True, map_location="cpu").get("hyper_parameters") or {})
    for key in ("_instantiator", "_class_path", "exp_dir"):
        saved.pop(key, None)
    return saved if saved and set(saved) <= set(MODEL_KEYS) else {}


def _after_last_config(args: list[str]) -> int:
    """The index in ``args`` (translated: ``--config PATH`` pairs) just after the last config file, or just after
    the subcommand when there is none."""
    ends = [i + 2 for i, arg in enumerate(args) if arg == "--config"]
    return max(ends, default=1)


def _refuse_a_finished_run(path: str, trust: bool = False) -> None:
    from rl_lightning.resume import load_checkpoint_entry

    try:
        finished = load_checkpoint_entry(path, trust).get("finished", False)
    except ValueError as error:
        raise CLIError(f"--ckpt_path {path}: {error}") from None
    if finished:
        raise CLIError(f"--ckpt_path {path}: this run is finished (it spent its budget); there is nothing to "
                       "resume. Start a new run, e.g. with another --trainer.default_root_dir, or run "
                       "`rl-lightning validate` or `rl-lightning test` with this --ckpt_path.")


def _trainer_keys() -> tuple:
    import lightning.pytorch as pl

    return tuple(name for name in inspect.signature(pl.Trainer.__init__).parameters if name != "self")


def _check_cli_config(values: dict, path: str) -> None:
    """Refuse unknown keys of a config in the CLI's own layout (``model:``/``trainer:`` sections)."""
    check_keys(values, _TOP_LEVEL_KEYS, path)
    for section, valid in (("model", MODEL_KEYS), ("trainer", _trainer_keys())):
        if isinstance(values.get(section), dict):
            check_keys(values[section], valid, f"{path}, section {section}")


def _config_path(argv: list[str], i: int) -> Optional[tuple[str, int]]:
    """``(path, args used)`` when ``argv[i]`` is ``--config PATH`` or ``--config=PATH``, else ``None``."""
    if argv[i] in ("--config", "-c") and i + 1 < len(argv):
        return argv[i + 1], 2
    if argv[i].startswith("--config="):
        return argv[i].split("=", 1)[1], 1
    return None


def _check_option(arg: str) -> None:
    """Refuse ``--model.KEY`` or ``--trainer.KEY`` with a ``KEY`` that does not exist, naming the nearest."""
    for section, valid in (("model", MODEL_KEYS), ("trainer", None)):
        if arg.startswith(f"--{section}."):
            key = arg[len(section) + 3:].split("=", 1)[0].split(".", 1)[0]
            valid = valid or _trainer_keys()
            if key not in valid and key not in ("help", "init_args"):
                check_keys([key], valid, f"--{section}.{key}")


def translate_argv(argv: list[str], scratch: str) -> list[str]:
    """``argv`` as ``LightningCLI`` takes it: each flat config file rewritten into ``scratch`` as a ``model``
    section, ``trainer.default_root_dir`` defaulting to ``runs/<first config's name>``, and unknown keys refused.

    Args:
        argv: the arguments after the subcommand.
        scratch: a folder for the rewritten config files (deleted by the caller after the run).
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        found = _config_path(argv, i)
        if found is None:
            _check_option(argv[i])
            out.append(argv[i])
            i += 1
            continue
        path, used = found
        values = read_yaml(path)
        if not isinstance(values, dict):
            raise CLIError(f"{path}: a config is a mapping of keys to values, got {type(values).__name__}.")
        if any(key in _TOP_LEVEL_KEYS for key in values):  # the CLI's own layout, e.g. a --print_config output
            _check_cli_config(values, path)
        else:
            check_keys(values, RUN_KEYS, path)
            translated = os.path.join(scratch, f"{len(out)}_{os.path.basename(path)}")
            with open(translated, "w") as f:
                yaml.safe_dump({"model": values}, f, sort_keys=False)
            path = translated
        if not any(a == "--config" or a.startswith("--config=") for a in out) and not any(
                a.startswith("--trainer.default_root_dir") for a in argv):
            name = os.path.splitext(os.path.basename(found[0]))[0]
            out += ["--trainer.default_root_dir", os.path.join("runs", name)]  # the config and later args win
        out += ["--config", path]
        i += used
    return out


def lightning_main(subcommand: str, argv: list[str]) -> int:
    """``rl-lightning fit|validate|test ...``; returns the exit status (2 for bad input, with the reason on stderr).

    Args:
        subcommand: one of :data:`LIGHTNING_SUBCOMMANDS`.
        argv: the arguments after the subcommand.
    """
    if subcommand not in LIGHTNING_SUBCOMMANDS:
        raise ValueError(f"subcommand={subcommand!r} is not a LightningCLI subcommand here; valid values are: "
                         f"{', '.join(LIGHTNING_SUBCOMMANDS)}.")
    verbose, argv = _take_switch(argv, "--verbose")
    # Trusting a checkpoint is the command line's decision alone, never a value read from a file.
    trust, argv = _take_switch(argv, "--trust-checkpoint")
    parser_kwargs = {"prog": "rl-lightning", **{name: {"prog": f"rl-lightning {name}", "description": text}
                                                for name, text in _DESCRIPTIONS.items()}}
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), quiet_lightning(verbose):
        # AgentModule takes dataloader_iter on purpose (no prefetch); Lightning flags that as experimental.
        warnings.filterwarnings("ignore", message=".*dataloader_iter.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        if subcommand != "fit":  # fit's checkpoint callbacks, whose states a checkpoint holds, have no use here
            warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks used to")
        # Said in the command line's words by before_instantiate_classes, and expected when resuming.
        warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        if not verbose:  # a seed agent steps its own optimizers; the run's metrics go through its call_back
            warnings.filterwarnings("ignore", message=".*configure_optimizers` returned `None`")
            warnings.filterwarnings("ignore", message=".*is smaller than the logging interval")
        cli_argv = translate_argv(argv, scratch)
        if trust:
            cli_argv += ["--model.trust_checkpoint", "true"]
        if subcommand != "fit":  # Lightning's results table: the summary below says the same
            cli_argv += ["--verbose", str(verbose).lower()]
        start = time.perf_counter()
        try:
            cli = RLLightningCLI(ConfiguredAgentModule, trainer_defaults=_TRAINER_DEFAULTS,
                                 args=[subcommand, *cli_argv], parser_kwargs=parser_kwargs,
                                 save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
                                 seed_everything_default=False)
        except SystemExit as stop:  # --help, --print_config, or jsonargparse's own error (already printed)
            return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        if cli.trainer.is_global_zero:
            summary = fit_summary(cli) if subcommand == "fit" else loop_summary(cli, time.perf_counter() - start)
            print(summary, flush=True)
    return 0

