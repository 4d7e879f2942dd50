"""``PeriodicEvaluation`` under a real Lightning Trainer fitting an AgentModule."""

import json

import lightning.pytorch as pl
import numpy as np
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from rl_lightning import AgentModule, EmptyCallBack, JsonlCallback, OnlineTrainer
from rl_lightning.agents import PPO
from rl_lightning.callbacks.evaluation import PeriodicEvaluation
from rl_lightning.testing import RecordingAgent


def _fit(module, callbacks, tmp_path):
    # limit_val_batches=0: the module's own validation loop would add greedy episodes of its own.
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=callbacks, default_root_dir=tmp_path,
                         limit_val_batches=0)
    trainer.fit(module)
    return trainer


def _module(make_env, call_back=None):
    # One sub-env and 15 vector steps per segment: segments end at env steps 15, 30, ..., 90 and 100.
    return AgentModule(RecordingAgent(), make_env, total_steps=100, seed=0, segment_steps=15,
                       keep_metrics_in_memory=True, call_back=call_back)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, action_env):
    tmp_path = tmp_path_factory.mktemp("periodic")
    log = JsonlCallback(tmp_path / "log.jsonl")
    evaluation = PeriodicEvaluation(action_env(1), every_n_steps=25, num_episodes=3, seed=11)
    module = _module(action_env(1), call_back=log)
    trainer = _fit(module, [evaluation], tmp_path)
    log.close()
    plain = _module(action_env(1))
    _fit(plain, [], tmp_path)
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    return dict(module=module, plain=plain, trainer=trainer, evaluation=evaluation, records=records)


def test_evaluations_run_at_the_first_segment_end_past_each_multiple(fitted):
    # Multiples of 25 are first reached at the segment ends 30, 60, 75 and 100.
    assert [h["env_steps"] for h in fitted["evaluation"].history] == [30, 60, 75, 100]
    eval_records = [r for r in fitted["records"] if r["tag"] == "eval/run_1"]
    assert [r["step"] for r in eval_records] == [30, 60, 75, 100]
    assert set(eval_records[0]["metrics"]) == {"ep_return_mean", "ep_return_std", "ep_length_mean"}


def test_eval_returns_are_greedy_episodes_from_the_eval_seed(fitted, lengths_oracle):
    lengths = lengths_oracle(11, 3)  # the eval env's one sub-env reset with seed 11, then autoreset
    for h in fitted["evaluation"].history:
        # Greedy action 1 on ActionRewardEnv: each step pays 1, so a return is its episode's length.
        assert h["returns"] == [float(n) for n in lengths] and h["lengths"] == lengths
        assert h["ep_return_mean"] == pytest.approx(np.mean(lengths))
        assert h["ep_return_std"] == pytest.approx(np.std(lengths))
    assert fitted["trainer"].callback_metrics["eval/ep_return_mean"].item() == pytest.approx(np.mean(lengths))


def test_modelcheckpoint_monitors_the_eval_return_of_a_lightning_native_agent(action_env, tmp_path):
    # Lightning's ModelCheckpoint saves only after optimizer steps: PPO takes them, seed-protocol agents do not.
    env = action_env(1)()
    agent = PPO(env.single_observation_space, env.single_action_space, n_steps=20, batch_size=10, n_epochs=1)
    evaluation = PeriodicEvaluation(action_env(1), every_n_steps=50, num_episodes=2)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="eval/ep_return_mean", mode="max", save_top_k=1)
    trainer = _fit(AgentModule(agent, env, total_steps=100, segment_steps=20), [evaluation, best], tmp_path)
    assert trainer.global_step > 0 and agent.training  # PPO learnt, and is back in training mode
    assert [h["env_steps"] for h in evaluation.history] == [60, 100]
    assert best.best_model_path.endswith(".ckpt")
    assert best.best_model_score.item() == pytest.approx(evaluation.history[-1]["ep_return_mean"])


def test_evaluation_leaves_training_untouched(fitted):
    module, plain = fitted["module"], fitted["plain"]
    agent = module.agent
    assert agent.training and agent.calls.count("eval") == 4 and agent.calls.count("train") == 5
    assert agent.calls.count("update") == 100 == plain.agent.calls.count("update")
    assert agent.weight == plain.agent.weight
    assert [(e["ep_return"], e["actions"]) for e in module.episodes] == \
        [(e["ep_return"], e["actions"]) for e in plain.episodes]


def test_each_run_of_multi_run_is_evaluated_on_its_own_schedule(action_env):
    evaluation = PeriodicEvaluation(action_env(1), every_n_steps=40, num_episodes=1)
    trainer = OnlineTrainer(action_env(1), lambda env: RecordingAgent(), progress=False, segment_steps=20,
                            trainer_kwargs={"callbacks": [evaluation]})
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(2, total_steps=80, seed_offset=0, dump_metrics=False)
    assert [(h["run"], h["env_steps"]) for h in evaluation.history] == [(1, 40), (1, 80), (2, 40), (2, 80)]


def test_the_first_episode_of_each_evaluation_is_recorded(action_env, lengths_oracle, tmp_path):
    evaluation = PeriodicEvaluation(action_env(1, render_mode="ansi"), every_n_steps=45, num_episodes=2, seed=2,
                                    video_dir=tmp_path / "videos")
    _fit(_module(action_env(1)), [evaluation], tmp_path)
    (length,) = lengths_oracle(2, 1)
    expected = "".join(f"--- step {t} ---\nt={t}\n" for t in range(length + 1))
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["run1_step45.txt", "run1_step90.txt"]
    assert (tmp_path / "videos" / "run1_step90.txt").read_text() == expected


def test_an_eval_env_with_another_sub_env_count_is_refused(action_env, tmp_path):
    evaluation = PeriodicEvaluation(action_env(2), every_n_steps=10)
    with pytest.raises(ValueError, match="the eval env has 2 sub-envs but the training env has 1; .*num_envs=1"):
        _fit(_module(action_env(1)), [evaluation], tmp_path)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(every_n_steps=0), ValueError, "every_n_steps must be an integer >= 1, got 0"),
    (dict(every_n_steps=10, num_episodes=1.5), TypeError, "num_episodes must be an integer"),
    (dict(every_n_steps=10, video_dir="v", video_formats=("avi",)), ValueError, "choose among gif, mp4, tensorboard"),
])
def test_bad_arguments_are_refused_by_name(action_env, kwargs, error, message):
    with pytest.raises(error, match=message):
        PeriodicEvaluation(action_env(1), **kwargs)
