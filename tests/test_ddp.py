"""DDP on CPU with two real processes (gloo): each rank steps its own envs, the policy stays one."""

import json
import os
import subprocess
import sys
import time

import pytest

from rl_lightning import OnlineTrainer

SCRIPT = os.path.join(os.path.dirname(__file__), "ddp_script.py")
TOTAL_STEPS = 4096


def _launch(out_dir, *args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, SCRIPT, str(out_dir), str(TOTAL_STEPS), *args], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp")
    result = _launch(out_dir)
    assert result.returncode == 0, result.stderr[-4000:]
    reports = [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    return out_dir, reports


def test_ranks_end_with_bitwise_equal_parameters_after_different_data(ddp_run):
    _, (rank0, rank1) = ddp_run
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["optimizer_steps"] == rank1["optimizer_steps"] > 0
    assert rank0["params_sha256"] == rank1["params_sha256"]
    # seed + global_rank * num_envs + i: rank 1 continues where rank 0's seeds end.
    assert rank0["sub_env_seeds"] == [7, 8, 9, 10] and rank1["sub_env_seeds"] == [11, 12, 13, 14]
    returns = {rank: [r for k, r, _ in rank0["episodes"] if k == rank] for rank in (0, 1)}
    assert returns[0] and returns[1] and returns[0] != returns[1]


def test_both_ranks_stop_at_the_same_global_step(ddp_run):
    _, (rank0, rank1) = ddp_run
    # total_steps counts env steps of all ranks: 2 ranks x 2048.
    assert rank0["env_steps"] == rank1["env_steps"] == TOTAL_STEPS // 2


def test_only_rank_zero_writes_and_the_pickle_holds_both_ranks(ddp_run):
    out_dir, (rank0, _) = ddp_run
    episodes = OnlineTrainer.load_run_metrics(out_dir, 1)
    assert {e["rank"] for e in episodes} == {0, 1}
    assert [e["episode_index"] for e in episodes] == list(range(1, len(episodes) + 1))
    assert [(e["rank"], e["ep_return"]) for e in episodes] == [(k, r) for k, r, _ in rank0["episodes"]]
    # One writer: each episode logged once, each agent file once.
    lines = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(line["tag"] == "ep_return/run_1" for line in lines) == len(episodes)
    assert sorted(p.name for p in out_dir.iterdir()) == ["Run1_Best_agent.t", "Run1_Last_agent.t", "metrics.jsonl",
                                                        "metrics_run1.pkl", "rank0.json", "rank1.json"]


def test_seed_protocol_agents_are_refused_under_ddp(tmp_path):
    result = _launch(tmp_path, "--seed-agent")
    assert result.returncode != 0
    assert "plain seed-protocol agent, whose optimizers Lightning cannot see" in result.stderr


def test_an_agent_that_learns_when_its_episodes_end_fails_fast_on_every_rank_instead_of_hanging(tmp_path):
    # Ranks whose gradient steps differ would wait on each other's all-reduce forever.
    start = time.monotonic()
    result = _launch(tmp_path, "--episode-end-agent")
    assert result.returncode != 0
    assert time.monotonic() - start < 120
    assert "does not declare that its updates happen in lockstep" in result.stderr
    assert "lockstep_updates = True" in result.stderr
