"""Every example runs end to end as a user runs it (a subprocess) with a tiny budget, and writes its files."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rl_lightning import OnlineTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 1024


def run_example(name, cwd, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args], cwd=cwd,
                            check=False, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "PYTHONPATH": ROOT, "RL_LIGHTNING_EXAMPLE_STEPS": str(STEPS)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def load_example(name):
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(ROOT, "examples", name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_seed_files(exp_dir, runs):
    metrics = OnlineTrainer.load_all_run_metrics(str(exp_dir))
    assert len(metrics) == runs and all(len(run) > 0 for run in metrics)
    assert all(sum(e["ep_length"] for e in run) <= STEPS for run in metrics)
    for run in range(1, runs + 1):
        assert (exp_dir / f"Run{run}_Last_agent.t").exists() and (exp_dir / f"Run{run}_Best_agent.t").exists()
        assert (exp_dir / "checkpoints" / f"run{run}" / "last.ckpt").exists()


def test_quickstart_trains_the_bundled_ppo_from_its_config(tmp_path):
    printed = run_example("quickstart.py", tmp_path)
    exp = tmp_path / "runs" / "quickstart"
    check_seed_files(exp, runs=2)
    config = os.path.join(ROOT, "configs", "ppo_cartpole.yaml")
    assert (exp / "config.py").read_text() == Path(config).read_text()
    args = yaml.safe_load((exp / "args.yaml").read_text())
    assert args["total_steps"] == STEPS and args["agent"] == "PPO" and args["num_runs"] == 2
    assert printed.count("mean return of the last") == 2


def test_own_numpy_agent_trains_unchanged_and_reloads(tmp_path):
    printed = run_example("own_numpy_agent.py", tmp_path, "--total_steps", str(STEPS))
    exp = tmp_path / "runs" / "own_numpy_agent"
    check_seed_files(exp, runs=2)
    example = load_example("own_numpy_agent.py")
    saved = torch.load(exp / "Run1_Last_agent.t", weights_only=False)
    agent = example.LinearReinforce.load(str(exp / "Run1_Last_agent.t"))
    observations = np.random.default_rng(0).normal(size=(16, 4))
    assert np.array_equal(agent.weights, saved["weights"]) and np.abs(saved["weights"]).sum() > 0
    assert np.array_equal(agent.act(observations, greedy=True), (observations @ saved["weights"]).argmax(-1))
    assert "reloaded" in printed


def test_custom_lightning_agent_trains_and_reloads(tmp_path):
    printed = run_example("custom_lightning_agent.py", tmp_path)
    exp = tmp_path / "runs" / "custom_lightning_agent"
    check_seed_files(exp, runs=1)
    saved = torch.load(exp / "Run1_Last_agent.t", weights_only=False)
    assert saved["agent_class"] == "__main__.ActorCritic" and saved["params"]["learning_rate"] == 1e-3
    # The script reloads its agent with ActorCritic.load (the class check needs the script's own class).
    assert "reloaded runs/custom_lightning_agent/Run1_Last_agent.t: ActorCritic with ActorCriticParams(" in printed


def test_plain_lightning_writes_logs_and_checkpoints_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "runs" / "plain_lightning"
    printed = run_example("plain_lightning.py", tmp_path)
    assert printed.startswith(f"{STEPS} env steps")
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["rl_lightning"] and last["global_step"] > 0
    # ModelCheckpoint(monitor="val/ep_return") kept the best-validated agents, scored by their validation.
    best = [name for name in os.listdir(out / "checkpoints") if name.startswith("best-epoch=")]
    assert 1 <= len(best) <= 2
    assert "test/ep_return" in printed
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum("ep_return/run_1" in json.dumps(r) for r in records) > 5
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out))
    printed = run_example("plain_lightning.py", tmp_path)  # the budget is spent: it resumes and stops at once
    assert printed.startswith(f"{STEPS} env steps")


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(os.path.join(ROOT, "examples")) if n.endswith(".py")))
def test_every_example_has_a_smoke_test(name):
    assert name in {"quickstart.py", "own_numpy_agent.py", "custom_lightning_agent.py", "plain_lightning.py"}
