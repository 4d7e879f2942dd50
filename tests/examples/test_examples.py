"""Every example runs end to end with a tiny budget (``RL_LIGHTNING_EXAMPLE_STEPS``) and writes its files."""

import os
import subprocess
import sys

import pytest
import torch

from rl_lightning import OnlineTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, cwd):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)], cwd=cwd, capture_output=True,
                            text=True, timeout=240,
                            env={**os.environ, "PYTHONPATH": ROOT, "RL_LIGHTNING_EXAMPLE_STEPS": "1024"})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name, exp, runs", [("quickstart.py", "quickstart", 2),
                                              ("own_numpy_agent.py", "own_numpy_agent", 2),
                                              ("custom_lightning_agent.py", "custom_lightning_agent", 1)])
def test_onlinetrainer_examples_write_the_seed_files(tmp_path, name, exp, runs):
    run_example(name, tmp_path)
    metrics = OnlineTrainer.load_all_run_metrics(str(tmp_path / "runs" / exp))
    assert len(metrics) == runs and all(len(run) > 0 for run in metrics)
    assert sum(e["ep_length"] for e in metrics[0]) <= 1024
    assert (tmp_path / "runs" / exp / "Run1_Last_agent.t").exists()


def test_plain_lightning_example_writes_logs_and_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "runs" / "plain_lightning"
    run_example("plain_lightning.py", tmp_path)
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert (out / "metrics.jsonl").read_text().count('"ep_return/run_1"') > 5
    assert (out / "checkpoints" / "best.ckpt").exists()
    printed = run_example("plain_lightning.py", tmp_path)  # budget spent: resumes and stops at once
    assert printed.startswith("1024 env steps") and last["global_step"] > 0
