"""``AgentModule`` under a plain Lightning ``Trainer``: it stops by itself at its budget."""

import lightning.pytorch as pl
import pytest

from rl_lightning import AgentModule, EpisodeProgressBar, JsonlCallback
from rl_lightning.testing import RecordingAgent, make_counting_vec_env


def _fit(module, **trainer_kwargs):
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_model_summary=False,
                         enable_progress_bar=False, **trainer_kwargs)
    trainer.fit(module)
    return trainer


@pytest.mark.parametrize("max_epochs", [None, 1, 5])
def test_plain_trainer_stops_at_the_step_budget_whatever_max_epochs(max_epochs):
    agent = RecordingAgent()
    module = AgentModule(agent, make_counting_vec_env(4), total_steps=1_000, seed=0, segment_steps=16)
    trainer = _fit(module, max_epochs=max_epochs)
    assert module.rollout.env_steps == 1_000 and agent.updates == 250
    assert trainer.current_epoch <= 1  # no epoch after the budget ran
    assert trainer.state.finished


def test_plain_trainer_stops_at_the_episode_budget():
    module = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), num_episodes=25, seed=0, segment_steps=8,
                         keep_metrics_in_memory=True)
    _fit(module)
    assert 25 <= len(module.episodes) < 27
    assert module.rollout.episodes_done == len(module.episodes)


def test_every_training_step_consumes_one_segment_acting_and_learning_in_order():
    agent = RecordingAgent(with_log=False)
    module = AgentModule(agent, make_counting_vec_env(2), total_steps=100, seed=0, segment_steps=10)
    trainer = _fit(module, limit_val_batches=0)  # no validation: its greedy episodes would come between
    # 50 vector steps in segments of 10: five training steps.
    assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == 5
    assert agent.calls[:3] == ["reset", "train", "set_num_env"]
    # Best-agent snapshots ("save") fall between steps; around them, every act is followed by its update.
    assert [c for c in agent.calls[3:] if c != "save"] == ["act", "update"] * 50


def test_our_progress_bar_replaces_lightnings(tmp_path, capsys):
    module = AgentModule(RecordingAgent(), make_counting_vec_env(2), total_steps=200, seed=0,
                         call_back=JsonlCallback(str(tmp_path / "m.jsonl")))
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_model_summary=False,
                         callbacks=[EpisodeProgressBar()])
    trainer.fit(module)
    assert trainer.progress_bar_callback.__class__ is EpisodeProgressBar
    err = capsys.readouterr().err
    assert "Run 1: env steps" in err and "200/200" in err
    module.call_back.close()
    assert (tmp_path / "m.jsonl").read_text().count("ep_return/run_1") == module.rollout.episodes_done


def test_trainer_loggers_receive_every_call_back_record(tmp_path):
    import csv
    import json

    from lightning.pytorch.loggers import CSVLogger

    jsonl = JsonlCallback(str(tmp_path / "metrics.jsonl"))
    module = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=100, seed=0,
                         tuning_hp={"lr": 0.5})
    trainer = pl.Trainer(accelerator="cpu", logger=[jsonl, CSVLogger(str(tmp_path), name="csv", version=0)],
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    returns = [r for r in records if r["tag"] == "ep_return/run_1"]
    assert len(returns) == module.rollout.episodes_done > 0
    hparams = [r for r in records if r["tag"] == "hparams"]
    # Lightning logs the module's saved hyperparameters (what load_from_checkpoint rebuilds from), the run its seed
    # and tuning_hp.
    logged = {k: v for r in hparams for k, v in r["metrics"].items()}
    assert logged["seed"] == 0.0 and logged["tuning_hp/lr"] == 0.5 and logged["total_steps"] == 100.0
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    csv_returns = [float(row["ep_return/run_1/ep_return"]) for row in rows if row.get("ep_return/run_1/ep_return")]
    assert csv_returns == [r["metrics"]["ep_return"] for r in returns]


class _SegmentReader(AgentModule):
    """A subclass that reads every finished episode of each segment, as a user's learning hook would."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list = []

    def on_segment(self, segment):
        self.seen.extend(segment.episodes)


@pytest.mark.parametrize("options, recorded", [
    ({}, False),  # nobody keeps or dumps the episode dicts: the actions are not copied
    ({"keep_metrics_in_memory": True}, True),
    ({"record_actions": True}, True),
    ({"keep_metrics_in_memory": True, "record_actions": False}, False),
])
def test_actions_are_recorded_when_the_episode_dicts_are_read(options, recorded):
    module = _SegmentReader(RecordingAgent(), make_counting_vec_env(2), total_steps=200, seed=0, segment_steps=10,
                            **options)
    _fit(module)
    assert module.seen, "the run finished episodes"
    for episode in module.seen:
        assert len(episode["actions"]) == (episode["ep_length"] if recorded else 0)


def test_record_actions_refuses_what_is_not_a_bool_or_none():
    with pytest.raises(TypeError, match=r"record_actions must be True, False or None.*got 'yes'"):
        AgentModule(RecordingAgent(), make_counting_vec_env(2), total_steps=10, record_actions="yes")


@pytest.mark.parametrize("num_envs, vector_steps", [(1, 1024), (4, 1024), (8, 512), (16, 256), (32, 128), (64, 128)])
def test_default_segments_hold_4096_env_steps_within_128_to_1024_vector_steps(num_envs, vector_steps):
    module = AgentModule(RecordingAgent(), make_counting_vec_env(num_envs), total_steps=10 * num_envs * vector_steps)
    trainer = _fit(module)
    assert module.rollout.segment_steps == vector_steps
    assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == 10  # ten segments spend the budget
