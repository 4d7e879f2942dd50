"""``train=False``: greedy acting without updates, and a loaded agent keeps its weights."""

import numpy as np

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.testing import RecordingAgent, make_counting_vec_env


def _train_then_load(tmp_path):
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(greedy_action=1),
                            exp_dir=tmp_path / "train", progress=False)
    trainer.multi_run(1, total_steps=40, seed_offset=0, checkpoint_freq=0)
    return RecordingAgent.load(str(tmp_path / "train" / "Run1_Last_agent.t"))


def _evaluate(agent, compat="default"):
    trainer = OnlineTrainer(make_counting_vec_env(2), agent, train=False, compat=compat, progress=False)
    trainer.call_back = EmptyCallBack()
    return trainer.multi_run(1, num_episodes=4, seed_offset=0, dump_metrics=False, keep_metrics_in_memory=True)[0]


def test_evaluation_calls_eval_never_reset_nor_update_and_acts_greedily(tmp_path):
    agent = _train_then_load(tmp_path)
    weight = agent.weight
    episodes = _evaluate(agent)
    assert agent.calls[:2] == ["eval", "set_num_env"]
    assert "reset" not in agent.calls and "update" not in agent.calls and "train" not in agent.calls
    assert all(e["actions"] == [1] * e["ep_length"] for e in episodes)
    assert agent.weight == weight and agent.updates == 20


def test_rlbase_evaluation_still_calls_update_as_the_origin_did(tmp_path):
    agent = _train_then_load(tmp_path)
    _evaluate(agent, compat="rlbase")
    assert agent.calls[:2] == ["eval", "set_num_env"] and "reset" not in agent.calls
    assert agent.calls.count("update") == agent.calls.count("act")


class _NoEvalAgent(RecordingAgent):
    """A plain agent without eval()/train() whose act takes ``greedy``."""

    eval = None
    train = None


def test_agent_without_eval_gets_greedy_true():
    agent = _NoEvalAgent(greedy_action=0)
    episodes = _evaluate(agent)
    assert all(set(np.asarray(e["actions"]).tolist()) == {0} for e in episodes)
