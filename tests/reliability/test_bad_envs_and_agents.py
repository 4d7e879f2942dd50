"""Envs and agents that break the contract are refused before any file is written."""

import gymnasium as gym
import numpy as np
import pytest

from rl_lightning import OnlineTrainer
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env


class OutOfSpaceEnv(CountingEnv):
    """Declares observations in [0, max_length] but returns 100."""

    def step(self, action):
        observation, *rest = super().step(action)
        return np.array([100.0], dtype=np.float32), *rest


class WrongShapeAgent(RecordingAgent):
    def act(self, observation, greedy=False):
        super().act(observation, greedy)
        return np.zeros((self.num_envs, 3), dtype=np.int64)


class FloatActionAgent(RecordingAgent):
    def act(self, observation, greedy=False):
        return np.full(self.num_envs, 0.5)


@pytest.mark.parametrize("make_env, make_agent, message", [
    (lambda: gym.vector.SyncVectorEnv([OutOfSpaceEnv]), lambda env: RecordingAgent(),
     r"env.step\(\) returned an observation that does not fit the env's observation space: got shape \(1, 1\)"),
    (make_counting_vec_env(2), lambda env: WrongShapeAgent(),
     r"agent.act returned actions of shape \(2, 3\); the env expects one action per sub-env: shape \(2,\)"),
    (make_counting_vec_env(2), lambda env: FloatActionAgent(),
     r"agent.act returned actions of dtype float64 \(discrete actions must be integers\)"),
], ids=["observation outside its space", "actions of the wrong shape", "float actions for a discrete space"])
def test_refused_before_any_file(tmp_path, make_env, make_agent, message):
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=tmp_path / "exp", progress=False)
    with pytest.raises(ValueError, match=message):
        trainer.multi_run(1, total_steps=20, seed_offset=0)
    assert not (tmp_path / "exp").exists()


def test_the_check_leaves_the_run_itself_untouched(tmp_path):
    checked = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), progress=False)
    runs = checked.multi_run(1, total_steps=40, seed_offset=0, dump_metrics=False)
    # The check acted on copies: the run's own agent saw exactly the protocol's calls.
    assert checked.agent.calls[:3] == ["reset", "train", "set_num_env"]
    assert runs[0][0]["agent_seed"] == 0


def test_read_only_exp_dir(read_only_dir):
    with pytest.raises(ValueError, match=r"exp_dir='.*/ro/exp' is not a writable folder \('.*/ro' is read-only\)"):
        OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=read_only_dir / "exp")
