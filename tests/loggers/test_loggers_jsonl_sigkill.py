"""A forced JSONL record survives the process being killed with SIGKILL right after the call returns."""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest
from logfiles import read_jsonl

CHILD = textwrap.dedent(
    """
    import sys, time
    from rl_lightning.loggers import JsonlCallback

    log = JsonlCallback(sys.argv[1], flush_every=1000)
    for episode in range(int(sys.argv[2])):
        log({"loss": 0.5}, "agents/run_0", episode)
        log({"ep_return": float(episode)}, "ep_return/run_0", episode, force=True)
    log({"loss": 0.25}, "agents/run_0", 10_000)  # held in memory: lost with the process
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL and select on pipes")
def test_forced_records_survive_sigkill(tmp_path):
    path = tmp_path / "metrics.jsonl"
    n_episodes = 50
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    stderr_path = tmp_path / "child_stderr.txt"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(n_episodes)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    try:
        readable, _, _ = select.select([child.stdout], [], [], 120)
        line = child.stdout.readline().strip() if readable else "(no output within 120 s)"
        assert line == "ready", stderr_path.read_text()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    records = read_jsonl(path)
    forced = [r for r in records if r["tag"] == "ep_return/run_0"]
    assert [r["metrics"]["ep_return"] for r in forced] == [float(e) for e in range(n_episodes)]
    # Each forced write also pushed the non-forced line held before it; the last held line died with the process.
    assert len(records) == 2 * n_episodes
    assert all(r["step"] != 10_000 for r in records)
