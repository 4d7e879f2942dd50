"""What the command line prints (issue 25): a closing summary per subcommand, Lightning's banners only with
``--verbose``, warnings in the command line's words without source paths, no third-party noise on a headless
machine, and ``rl-lightning --help`` without Lightning, torch or gymnasium.

Lightning's banners and SDL's errors bypass Python's ``sys.stderr`` (a logging handler made at import, C code), so
what a user sees is read from a subprocess."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from rl_lightning.cli import main

# Lightning's LightningCLI calls jsonargparse APIs that jsonargparse 4.49+ deprecates; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RANDOM_CONFIG = os.path.join(ROOT, "configs", "random_cartpole.yaml")
BANNERS = ("GPU available", "TPU available", "litlogger", "`Trainer.fit` stopped")
# A headless machine: no display, no sound, no XDG_RUNTIME_DIR, no SDL drivers chosen (tests/conftest.py sets one).
HEADLESS = {name: value for name, value in os.environ.items()
            if name not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER")}


def python(code, cwd):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, check=False, capture_output=True, text=True,
                          timeout=240, env={**HEADLESS, "PYTHONPATH": ROOT})


def test_fit_and_test_end_with_a_summary_and_show_lightning_banners_only_with_verbose(tmp_path):
    fit = ["fit", "--config", RANDOM_CONFIG, "--model.total_steps", "400", "--trainer.enable_progress_bar", "false"]
    test = ["test", "--config", RANDOM_CONFIG, "--ckpt_path", "last", "--model.val_episodes", "2", "--verbose",
            "--trainer.enable_progress_bar", "false"]
    result = python(f"import sys\nfrom rl_lightning.cli import main\nassert main({fit}) == 0\n"
                    f"print('--- test', file=sys.stderr, flush=True)\nassert main({test}) == 0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fit_err, test_err = result.stderr.split("--- test")
    assert not any(banner in fit_err for banner in BANNERS), fit_err
    assert "GPU available" in test_err  # --verbose brings them back
    lines = result.stdout.splitlines()
    fit_summary = lines[:lines.index("                rl-lightning evaluate --exp-dir runs/random_cartpole") + 1]
    assert fit_summary[0] == "fit: RandomAgent on CartPole-v1, 400 env steps"
    assert fit_summary[1].startswith("  final return  ") and fit_summary[2].startswith("  best episode  ")
    assert fit_summary[3].startswith("  validation    val/ep_return ")
    assert fit_summary[4].startswith("  speed         400 env steps in ") and "env steps/s" in fit_summary[4]
    assert fit_summary[5].startswith("  files         runs/random_cartpole: Run1_Best_agent.t, Run1_Last_agent.t, "
                                     "checkpoints/, config.yaml, metrics_run1.pkl")
    assert fit_summary[6] == "  next          rl-lightning plot runs/random_cartpole"
    header = "test: 2 greedy episodes of runs/random_cartpole/checkpoints/last.ckpt in "
    test_summary = lines[next(i for i, line in enumerate(lines) if line.startswith(header)):]
    assert [line.split()[0] for line in test_summary[1:]] == [
        "test/ep_return", "test/ep_return_std", "test/ep_return_min", "test/ep_return_max", "test/ep_length",
        "logged"]
    assert "Test metric" in result.stdout  # --verbose: Lightning's results table too


def test_multirun_logs_each_run_start_ends_with_a_summary_and_moves_a_fit_aside_in_cli_words(tmp_path):
    earlier = tmp_path / "exp"  # what `rl-lightning fit --trainer.default_root_dir exp` leaves
    earlier.mkdir()
    (earlier / "config.yaml").write_text("model: {}\n")
    (earlier / "metrics_run1.pkl").write_bytes(b"")
    args = ["multirun", "--config", RANDOM_CONFIG, "--num_runs", "2", "--total_steps", "200", "--exp_dir", "exp",
            "--no_progress"]
    result = python(f"from rl_lightning.cli import main\nassert main({args}) == 0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    moved = os.listdir(earlier / "previous")
    assert result.stderr.splitlines()[0] == (
        f"rl-lightning multirun: warning: exp held the results of an earlier `rl-lightning fit`; they were moved to "
        f"exp/previous/{moved[0]}. Pass --overwrite to replace them instead.")
    assert "overwrite=True" not in result.stderr and ".py:" not in result.stderr
    assert "Run 1 | CartPole-v1 | RandomAgent | seed 0 | 200 env steps | 8 sub-envs | exp" in result.stderr
    assert "Run 2 | CartPole-v1 | RandomAgent | seed 200 | 200 env steps | 8 sub-envs | exp" in result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "multirun: 2 runs of RandomAgent on CartPole-v1"
    assert out[1].startswith("  final return  ") and "over runs" in out[1]
    assert out[2].startswith("  best episode  ") and "(run " in out[2]
    assert out[3].startswith("  speed         400 env steps in ") and out[3].endswith(" env steps/s)")
    assert out[4].startswith("  files         exp: Run{1..2}_Best_agent.t, Run{1..2}_Last_agent.t, ")
    assert out[5] == "  next          rl-lightning plot exp"


def test_fit_and_multirun_default_to_different_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["multirun", "--config", RANDOM_CONFIG, "--total_steps", "200", "--no_progress"]) == 0
    assert main(["fit", "--config", RANDOM_CONFIG, "--model.total_steps", "200",
                 "--trainer.enable_progress_bar", "false"]) == 0
    multirun, fit = tmp_path / "runs" / "random_cartpole_multirun", tmp_path / "runs" / "random_cartpole"
    assert (multirun / "args.yaml").exists() and not (multirun / "config.yaml").exists()
    assert (fit / "config.yaml").exists() and not (fit / "args.yaml").exists()
    assert "rl-lightning plot runs/random_cartpole_multirun" in capsys.readouterr().out


def test_evaluate_prints_a_summary_and_no_banner_or_headless_sdl_noise(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pygame")
    monkeypatch.chdir(tmp_path)
    assert main(["multirun", "--config", RANDOM_CONFIG, "--total_steps", "200", "--no_progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--help"]) == 0
    usage = capsys.readouterr().out
    assert "[--agent-class AGENT_CLASS] [--env-id ENV_ID]" in " ".join(usage.split())  # not required

    args = ["evaluate", "--exp_dir", "runs/random_cartpole_multirun", "--episodes", "2", "--video"]
    result = python(f"from rl_lightning.cli import main\nassert main({args}) == 0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Run 1 | CartPole-v1 | RandomAgent | seed 0 | 2 episodes | 1 sub-env"], result.stderr  # 1 sub-env, no XDG
    out = tmp_path / "runs" / "random_cartpole_multirun" / "eval" / "run1_best"
    summary = json.loads((out / "summary.json").read_text())
    lines = result.stdout.splitlines()
    assert lines[0] == ("evaluate: runs/random_cartpole_multirun/Run1_Best_agent.t: 2 greedy episodes on CartPole-v1 "
                        "(seed 0)")
    assert lines[1] == (f"  return  {summary['ep_return_mean']:.2f} ± {summary['ep_return_std']:.2f} (best episode "
                        f"{max(summary['returns']):.2f})")
    assert lines[3].startswith(f"  speed   {sum(summary['lengths'])} env steps in ")
    assert lines[-1] == "  next    rl-lightning plot runs/random_cartpole_multirun"


def test_help_imports_neither_lightning_nor_torch_nor_gymnasium(tmp_path):
    result = python("import sys, rl_lightning.cli as cli\nassert cli.main(['--help']) == 0\n"
                    "print(sorted(m for m in ('lightning', 'torch', 'gymnasium') if m in sys.modules))", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    # The public names import on first use, as before.
    import rl_lightning
    from rl_lightning import OnlineTrainer

    assert OnlineTrainer.__module__ == "rl_lightning.trainer" and len(rl_lightning.__all__) == 12
    assert all(getattr(rl_lightning, name) is not None for name in rl_lightning.__all__)


def test_verbose_takes_true_or_false_and_nothing_else(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", RANDOM_CONFIG, "--verbose=maybe"]) == 2
    assert "--verbose takes no value, or true or false; got 'maybe'" in capsys.readouterr().err
    assert main(["fit", "--config", RANDOM_CONFIG, "--verbose=false", "--print_config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["agent"] == "RandomAgent"
    assert os.listdir(tmp_path) == []
