"""Faults inside a run: the run stops, the error says where, and nothing recorded is lost."""

import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest

from rl_lightning import JsonlCallback, OnlineTrainer
from rl_lightning.resume import load_checkpoint_entry
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env


class FailingAgent(RecordingAgent):
    """Raises in ``method`` at its ``at``-th call."""

    def __init__(self, method, at):
        super().__init__()
        self.method, self.at, self.count = method, at, 0

    def _maybe_fail(self, name):
        if name == self.method:
            self.count += 1
            if self.count == self.at:
                raise RuntimeError(f"{name} broke")

    def act(self, observation, greedy=False):
        self._maybe_fail("act")
        return super().act(observation, greedy)

    def update(self, *args, **kwargs):
        self._maybe_fail("update")
        return super().update(*args, **kwargs)


class FailingStepEnv(CountingEnv):
    """A sub-env whose ``step`` raises at its 60th call."""

    steps = 0

    def step(self, action):
        FailingStepEnv.steps += 1
        if FailingStepEnv.steps == 60:
            raise OSError("simulator crashed")
        return super().step(action)


def _run(tmp_path, make_env, make_agent):
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=tmp_path, progress=False, segment_steps=8,
                            checkpoint_interval=300.0)
    trainer.call_back = JsonlCallback(str(tmp_path / "metrics.jsonl"))
    return trainer, trainer.multi_run(2, total_steps=400, seed_offset=0, metrics_dump_every=3, checkpoint_freq=0)


@pytest.mark.parametrize("method, consistent", [("act", True), ("update", False)])
def test_agent_raising_stops_the_run_with_where_it_failed(tmp_path, method, consistent):
    with pytest.raises(RuntimeError, match=f"{method} broke") as info:
        _run(tmp_path, make_counting_vec_env(2), lambda env: FailingAgent(method, at=50))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"raised in agent.{method} during run 1 after" in notes
    step = 98 if method == "act" else 100  # act fails before its vector step is counted; update after env.step
    assert f"after {step} env steps " in notes

    # Every episode finished before the failure is on disk; the stream ends on whole chunks.
    episodes = OnlineTrainer.load_run_metrics(tmp_path, 1)
    assert episodes and sum(e["ep_length"] for e in episodes) <= step
    # A last checkpoint exists; after an act failure it is the state at the failure itself.
    entry = load_checkpoint_entry(str(tmp_path / "checkpoints" / "run1" / "last.ckpt"))
    assert entry["rollout"]["env_steps"] == (step if consistent else 16)
    assert entry["rollout"]["episodes_done"] == (len(episodes) if consistent else entry["rollout"]["episodes_done"])


def test_env_step_raising_in_one_sub_env(tmp_path):
    FailingStepEnv.steps = 0
    with pytest.raises(OSError, match="simulator crashed") as info:
        _run(tmp_path, lambda: gym.vector.SyncVectorEnv([CountingEnv, FailingStepEnv]),
             lambda env: RecordingAgent())
    assert re.search(r"raised in env.step during run 1 after \d+ env steps ", "\n".join(info.value.__notes__))
    assert OnlineTrainer.load_run_metrics(tmp_path, 1)
    assert (tmp_path / "checkpoints" / "run1" / "last.ckpt").exists()


class NaNRewardEnv(CountingEnv):
    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, (math.nan if self.t == 2 else math.inf if self.t == 3 else reward), terminated, truncated, info


def test_nan_and_inf_rewards_are_recorded_as_they_are(tmp_path):
    trainer = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([NaNRewardEnv]), lambda env: RecordingAgent(),
                            exp_dir=tmp_path, progress=False)
    trainer.call_back = JsonlCallback(str(tmp_path / "metrics.jsonl"))
    episodes = trainer.multi_run(1, num_episodes=2, seed_offset=0)[0]
    assert all(math.isnan(e["ep_return"]) for e in episodes)
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    returns = [line["metrics"]["ep_return"] for line in logged if line["tag"] == "ep_return/run_1"]
    assert len(returns) == 2 and all(math.isnan(r) for r in returns)


def test_check_rewards_refuses_them(tmp_path):
    trainer = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([NaNRewardEnv]), lambda env: RecordingAgent(),
                            exp_dir=tmp_path, progress=False, check_rewards=True)
    with pytest.raises(ValueError, match=r"non-finite rewards \[nan\] \(sub-envs \[0\]\)") as info:
        trainer.multi_run(1, num_episodes=2, seed_offset=0)
    assert "raised in env.step during run 1 after 1 env steps " in "\n".join(info.value.__notes__)
