"""``rl-lightning fit`` under ``--trainer.strategy ddp``: Lightning starts rank 1 by re-running the command line,
which must reach the same subcommand whether the command was ``python -m rl_lightning`` or the console script."""

import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from rl_lightning.metrics_stream import read_metrics_stream

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PPO_CONFIG = os.path.join(ROOT, "configs", "ppo_cartpole.yaml")
CONSOLE_SCRIPT = shutil.which("rl-lightning", path=os.path.dirname(sys.executable))
ENTRY_POINTS = {
    "python -m rl_lightning": [sys.executable, "-m", "rl_lightning"],
    "console script": [sys.executable, CONSOLE_SCRIPT] if CONSOLE_SCRIPT else None,
}


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_fit_with_two_gloo_processes_on_cpu_finishes_and_writes_the_run(tmp_path, entry_point):
    command = ENTRY_POINTS[entry_point]
    if command is None:
        pytest.skip("the rl-lightning console script is not installed beside this Python (pip install -e .)")
    # Its own process group, so a run that hangs takes rank 1 (started by rank 0) down with it.
    process = subprocess.Popen(
        [*command, "fit", "--config", PPO_CONFIG, "--trainer.strategy", "ddp", "--trainer.devices", "2",
         "--trainer.accelerator", "cpu", "--model.total_steps", "512", "--model.num_envs", "2",
         "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path / "run"), "--verbose"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": ROOT})
    try:
        _, stderr = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"the 2-process run did not end within 90 s; its stderr ends with:\n{stderr[-4000:]}")
    assert process.returncode == 0, stderr[-4000:]
    # Rank 1 re-ran the command line, --verbose (the command line's own option) included: Lightning's messages show.
    assert "usage: rl-lightning" not in stderr and "MEMBER: 2/2" in stderr
    run = tmp_path / "run"
    episodes = read_metrics_stream(str(run / "metrics_run1.pkl"))
    assert episodes and {e["rank"] for e in episodes} == {0, 1}
    assert sum(e["ep_length"] for e in episodes) <= 512  # the budget is summed over sub-envs and ranks
    assert (run / "Run1_Last_agent.t").exists() and (run / "config.yaml").exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["total_steps"] == 512
