"""Bad input is refused before any work, with an error naming the parameter, the value and what is valid."""

import argparse
import os

import gymnasium as gym
import pytest

from rl_lightning import AgentModule, OnlineTrainer
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env


def _trainer(tmp_path, **kwargs):
    return OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / "exp",
                         progress=False, **kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_runs=1), ValueError, "Exactly one of num_episodes or total_steps"),
    (dict(num_runs=1, num_episodes=5, total_steps=100), ValueError, "Exactly one of num_episodes or total_steps"),
    (dict(num_runs=0, num_episodes=5), ValueError, "num_runs must be an integer >= 1, got 0"),
    (dict(num_runs="3", num_episodes=5), TypeError, "num_runs must be an integer, got '3'"),
    (dict(num_runs=1, num_episodes=-2), ValueError, "num_episodes must be an integer >= 0, got -2"),
    (dict(num_runs=1, total_steps=1.5), TypeError, "total_steps must be an integer, got 1.5"),
    (dict(num_runs=1, total_steps=10, checkpoint_freq=-1), ValueError, "checkpoint_freq must be an integer >= 0"),
    (dict(num_runs=1, total_steps=10, num_workers=0), ValueError, "num_workers must be an integer >= 1, got 0"),
    (dict(num_runs=1, total_steps=10, metrics_dump_every=0), ValueError, "metrics_dump_every must be an integer >= 1"),
    (dict(num_runs=1, total_steps=10, seed_offset=-1), ValueError, "seed_offset must be an integer >= 0, got -1"),
])
def test_bad_multi_run_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        _trainer(tmp_path).multi_run(**kwargs)
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(total_steps=10), "dump_metrics=True requires exp_dir"),
    (dict(total_steps=10, dump_metrics=False, checkpoint_freq=5), "checkpoint_freq=5 requires exp_dir"),
])
def test_files_need_an_exp_dir(kwargs, message):
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), progress=False)
    with pytest.raises(ValueError, match=message):
        trainer.multi_run(1, **kwargs)


def test_an_agent_missing_methods_is_named_with_all_of_them(tmp_path):
    class Half:
        def act(self, observation):
            return [0]

    trainer = OnlineTrainer(make_counting_vec_env(1), lambda env: Half(), exp_dir=tmp_path / "exp", progress=False)
    with pytest.raises(TypeError, match=r"agent 'Half' is missing the method\(s\) set_num_env, save, reset, update"):
        trainer.multi_run(1, total_steps=10, tuning_hp=None)
    assert not (tmp_path / "exp").exists()


def test_tuning_hp_needs_set_hp(tmp_path):
    class NoSetHp(RecordingAgent):
        set_hp = None

    trainer = OnlineTrainer(make_counting_vec_env(1), lambda env: NoSetHp(), exp_dir=tmp_path / "exp", progress=False)
    with pytest.raises(TypeError, match="set_hp"):
        trainer.multi_run(1, total_steps=10, tuning_hp={"lr": 1})


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(config="no/such/config.py"), ValueError, "config='no/such/config.py' does not exist"),
    (dict(args=["--lr", "1"]), TypeError, "args must be an argparse.Namespace, a dict or None; got list"),
    (dict(compat="rlbase2"), ValueError, "compat='rlbase2' is not supported; valid values are 'default', 'rlbase'"),
    (dict(train="yes"), TypeError, "train must be True or False, got 'yes'"),
])
def test_bad_constructor_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        _trainer(tmp_path, **kwargs)
    assert not (tmp_path / "exp").exists()


def test_exp_dir_that_is_a_file(tmp_path):
    (tmp_path / "exp").write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        _trainer(tmp_path)


def test_args_none_writes_no_args_yaml_and_dicts_are_accepted(tmp_path):
    _trainer(tmp_path).multi_run(1, total_steps=10, seed_offset=0)
    assert "args.yaml" not in os.listdir(tmp_path / "exp")
    _trainer(tmp_path, args={"lr": 0.1}).multi_run(1, total_steps=10, seed_offset=0, overwrite=True)
    assert OnlineTrainer.load_args(tmp_path / "exp") == argparse.Namespace(lr=0.1)


def test_a_plain_env_factory_is_wrapped_into_one_sub_env(tmp_path):
    trainer = OnlineTrainer(CountingEnv, lambda env: RecordingAgent(), progress=False)
    runs = trainer.multi_run(1, num_episodes=2, dump_metrics=False)
    assert isinstance(trainer.env, gym.vector.SyncVectorEnv) and trainer.env.num_envs == 1
    assert len(runs[0]) == 2


def test_something_that_is_no_env(tmp_path):
    trainer = OnlineTrainer(lambda: "CartPole-v1", lambda env: RecordingAgent(), progress=False)
    with pytest.raises(TypeError, match="env must be a gymnasium.vector.VectorEnv, a gymnasium.Env"):
        trainer.multi_run(1, num_episodes=2, dump_metrics=False)


def test_disabled_autoreset_is_refused():
    def make():
        return gym.vector.SyncVectorEnv([CountingEnv], autoreset_mode=gym.vector.AutoresetMode.DISABLED)

    with pytest.raises(ValueError, match="autoreset_mode=.*DISABLED.* is not supported"):
        OnlineTrainer(make, lambda env: RecordingAgent(), progress=False).multi_run(1, 2, dump_metrics=False)


def test_agent_module_checks_its_arguments_too():
    with pytest.raises(ValueError, match="Exactly one of num_episodes or total_steps"):
        AgentModule(RecordingAgent(), make_counting_vec_env(1))
    with pytest.raises(ValueError, match="dump_metrics=True and checkpoint_freq need exp_dir"):
        AgentModule(RecordingAgent(), make_counting_vec_env(1), total_steps=10, dump_metrics=True)
