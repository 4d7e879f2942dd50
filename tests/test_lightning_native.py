"""A Lightning user's habits on an RL run (issue 23): epochs, fresh metrics, validation and test loops, checkpoints
that restore alone, datamodules, clipping and schedulers, and every stop resumable. Each test drives a plain
``lightning.pytorch.Trainer`` with Lightning's own callbacks, as a user who never read our code would."""

import os
import time
from dataclasses import dataclass
from datetime import timedelta

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint, Timer
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from rl_lightning import AgentModule, EnvDataModule
from rl_lightning.agents import PPO, LightningAgent, Params
from rl_lightning.callbacks import BestReturnCheckpoint, LastCheckpoint
from rl_lightning.loading import load_run_metrics
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env


def trainer(tmp_path=None, **kwargs):
    defaults = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                    max_epochs=-1, default_root_dir=tmp_path)
    defaults.update(kwargs)
    if not any(isinstance(c, ModelCheckpoint) for c in defaults.get("callbacks", [])):
        defaults.setdefault("enable_checkpointing", False)
    return pl.Trainer(**defaults)


class EpochLog(Callback):
    """What a user's epoch-end callback sees: the run's env steps, episodes so far and the logged metrics."""

    def __init__(self):
        self.env_steps, self.episodes, self.metrics = [], [], []

    def on_train_epoch_end(self, trainer, pl_module):
        self.env_steps.append(pl_module.rollout.env_steps)
        self.episodes.append(len(pl_module.episodes))
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def counting_module(total_steps=1_000, **kwargs):
    # 2 sub-envs, segments of 10 vector steps: 20 env steps per training_step.
    kwargs.setdefault("segment_steps", 10)
    return AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=total_steps, seed=3,
                       keep_metrics_in_memory=True, **kwargs)


# ---------------------------------------------------------------- 1. epochs
def test_an_epoch_is_steps_per_epoch_env_steps_and_epoch_end_callbacks_fire_through_the_run():
    log = EpochLog()
    trainer(callbacks=[log], limit_val_batches=0).fit(counting_module(steps_per_epoch=100))
    assert log.env_steps == list(range(100, 1_001, 100))


def test_steps_per_epoch_rounds_up_to_whole_segments_and_the_budget_ends_the_last_epoch():
    log = EpochLog()
    module = counting_module(total_steps=250, steps_per_epoch=50)  # 50 env steps: 2.5 segments of 20 -> 3
    trainer(callbacks=[log], limit_val_batches=0).fit(module)
    assert log.env_steps == [60, 120, 180, 240, 250]
    assert module.rollout.env_steps == 250


def test_lightnings_default_max_epochs_that_would_cut_the_budget_is_named(recwarn):
    module = counting_module(total_steps=1_000, steps_per_epoch=100)
    with pytest.warns(UserWarning, match=r"max_epochs=3\) stops this run after about 300 env steps.*max_epochs=-1"):
        trainer(max_epochs=3, limit_val_batches=0).fit(module)
    assert module.rollout.env_steps == 300


# ---------------------------------------------------------------- 2. fresh training metrics
def test_training_metrics_are_the_epochs_own_episodes_and_model_checkpoint_keeps_the_top_two(tmp_path):
    log = EpochLog()
    best = ModelCheckpoint(dirpath=tmp_path, monitor="train/ep_return", mode="max", save_top_k=2,
                           filename="{epoch}")
    module = counting_module(total_steps=2_000, steps_per_epoch=200)
    trainer(tmp_path, callbacks=[log, best], limit_val_batches=0).fit(module)
    bounds = [0] + log.episodes
    epoch_means = [np.mean([e["ep_return"] for e in module.episodes[a:b]]) for a, b in zip(bounds, bounds[1:])]
    assert [m["train/ep_return"] for m in log.metrics] == pytest.approx(epoch_means)
    assert [m["train/episodes"] for m in log.metrics] == [b - a for a, b in zip(bounds, bounds[1:])]
    assert len(set(np.round(epoch_means, 6))) > 3  # the values move both ways, as the episodes do
    # Two files, the two best epochs, each scored with its own epoch's mean return.
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in best.best_k_models)
    top_two = sorted(range(len(epoch_means)), key=lambda k: epoch_means[k])[-2:]
    assert sorted(os.path.basename(p) for p in best.best_k_models) == sorted(f"epoch={k}.ckpt" for k in top_two)
    for path, score in best.best_k_models.items():
        epoch = int(os.path.basename(path)[len("epoch="):-len(".ckpt")])
        assert float(score) == pytest.approx(epoch_means[epoch])


class StopAtSegment(Callback):
    """Stops the run after segment ``batch_idx`` of epoch ``epoch``, as Timer or a user's callback would."""

    def __init__(self, epoch, batch_idx):
        self.epoch, self.batch_idx = epoch, batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch_idx:
            trainer.should_stop = True


@pytest.mark.parametrize("stop", [dict(callbacks=[StopAtSegment(1, 3)]), dict(max_steps=14)],
                         ids=["should_stop", "max_steps"])
def test_an_epoch_cut_short_by_a_stop_logs_its_own_episodes_to_every_epoch_end_callback(stop):
    log = EpochLog()
    module = counting_module(total_steps=2_000, steps_per_epoch=200)  # 10 segments of 20 env steps per epoch
    trainer(callbacks=[log] + stop.pop("callbacks", []), limit_val_batches=0, **stop).fit(module)
    assert log.env_steps == [200, 280] and module.rollout.env_steps == 280  # the second epoch: 4 of 10 segments
    assert [m["train/env_steps"] for m in log.metrics] == [200, 280]
    assert [m["train/episodes"] for m in log.metrics] == [log.episodes[0], log.episodes[1] - log.episodes[0]]
    assert log.metrics[1]["train/ep_return"] == pytest.approx(
        np.mean([e["ep_return"] for e in module.episodes[log.episodes[0]:]]))


def test_best_return_checkpoint_scores_the_agent_it_holds_and_refuses_other_monitors(tmp_path):
    module = counting_module(total_steps=600, exp_dir=tmp_path, checkpoint_freq=0)
    best = BestReturnCheckpoint(tmp_path / "ckpt")
    trainer(callbacks=[best], limit_val_batches=0).fit(module)
    best_episode = max(range(len(module.episodes)), key=lambda k: (module.episodes[k]["ep_return"], k))
    assert float(best.best_model_score) == module.episodes[best_episode]["ep_return"]
    seed_best = torch.load(tmp_path / "Run1_Best_agent.t", weights_only=False)
    from rl_lightning.resume import load_agent

    assert load_agent(best.best_model_path).save() == {**seed_best}
    with pytest.raises(ValueError, match=r"monitor='eval/ep_return_mean'.*ModelCheckpoint\(monitor='val/ep_return'"):
        BestReturnCheckpoint(tmp_path, monitor="eval/ep_return_mean")


# ---------------------------------------------------------------- 4. validation and test loops
class ActionRewardEnv(CountingEnv):
    """Pays the action taken: a greedy RecordingAgent (action 1) earns its episode's length."""

    def step(self, action):
        observation, _, terminated, truncated, info = super().step(action)
        return observation, float(action), terminated, truncated, info


def action_env(num_envs=2):
    return lambda: gym.vector.SyncVectorEnv([lambda: ActionRewardEnv() for _ in range(num_envs)])


def greedy_oracle(seed, num_envs, count):
    """The first ``count`` episode lengths of sub-envs reset with ``seed + i``, finishing in vector-step order."""
    envs = [ActionRewardEnv() for _ in range(num_envs)]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)
    finished, t = [], 0
    while len(finished) < count:
        t += 1
        for env in envs:
            if env.t == env.length:  # its reset step
                env.reset()
                continue
            env.step(1)
            if env.t == env.length:
                finished.append(float(env.length))
    return finished[:count]


def test_validate_and_test_play_greedy_episodes_from_their_own_seeds():
    module = AgentModule(lambda env: RecordingAgent(), action_env(2), total_steps=200, seed=0, val_episodes=6,
                         val_seed=40)
    (val,) = trainer().validate(module)
    (test,) = trainer().test(module)
    assert val["val/ep_return"] == pytest.approx(np.mean(greedy_oracle(40, 2, 6)))
    assert test["test/ep_return"] == pytest.approx(np.mean(greedy_oracle(1_000_040, 2, 6)))
    assert val["val/ep_return_std"] == pytest.approx(np.std(greedy_oracle(40, 2, 6)))


def test_validation_in_fit_leaves_the_training_run_exactly_as_without_it():
    def run(**kwargs):
        module = AgentModule(lambda env: RecordingAgent(), action_env(2), total_steps=600, seed=5, segment_steps=10,
                             steps_per_epoch=100, keep_metrics_in_memory=True)
        log = EpochLog()
        trainer(callbacks=[log], **kwargs).fit(module)
        return [(e["ep_return"], e["ep_length"], list(e["actions"])) for e in module.episodes], log

    without, _ = run(limit_val_batches=0)
    with_validation, log = run()
    assert with_validation == without
    assert all(m["val/ep_return"] == pytest.approx(np.mean(greedy_oracle(1_000_005, 2, 5))) for m in log.metrics)


def test_an_env_instance_that_cannot_be_copied_is_refused_before_the_run_when_validation_is_on():
    class Uncopyable(CountingEnv):
        def __deepcopy__(self, memo):
            raise TypeError("holds a socket")

    module = AgentModule(RecordingAgent(), gym.vector.SyncVectorEnv([Uncopyable]), total_steps=100)
    with pytest.raises(ValueError, match=r"val_env=.*limit_val_batches=0"):
        trainer().fit(module)
    assert module.rollout.env_steps == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps_per_epoch=0), r"steps_per_epoch must be an integer >= 1, got 0"),
    (dict(val_episodes=-1), r"val_episodes must be an integer >= 1, got -1"),
])
def test_bad_epoch_and_validation_options_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        counting_module(**kwargs)


# ---------------------------------------------------------------- 5. checkpoints restore alone
def cartpole():
    return gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")


def test_load_from_checkpoint_needs_only_the_path_for_a_built_in_agent(tmp_path):
    module = AgentModule(lambda env: PPO.for_env(env, n_steps=16, batch_size=32, n_epochs=1), cartpole,
                         total_steps=512, seed=1)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer(tmp_path, callbacks=[checkpoint], limit_val_batches=0).fit(module)
    loaded = AgentModule.load_from_checkpoint(tmp_path / "last.ckpt")
    assert isinstance(loaded.agent, PPO) and loaded.agent.params == module.agent.params
    for (name, a), (_, b) in zip(module.agent.state_dict().items(), loaded.agent.state_dict().items()):
        if not name.endswith("_extra_state"):
            assert torch.equal(a, b), name
    obs = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    module.agent.eval(), loaded.agent.eval()
    assert np.array_equal(module.agent.act(obs), loaded.agent.act(obs))


def test_load_from_checkpoint_of_an_env_built_by_hand_says_what_to_pass(tmp_path):
    module = counting_module(total_steps=100)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer(tmp_path, callbacks=[checkpoint], limit_val_batches=0).fit(module)
    with pytest.raises(ValueError, match=r"does not describe its env.*env=make_env"):
        AgentModule.load_from_checkpoint(tmp_path / "last.ckpt")
    loaded = AgentModule.load_from_checkpoint(tmp_path / "last.ckpt", env=make_counting_vec_env(2))
    assert loaded.agent.weight == module.agent.weight  # the seed agent, rebuilt by its class's load


# ---------------------------------------------------------------- 6. envs as a datamodule
def test_fit_with_an_env_datamodule_equals_the_short_form():
    short = counting_module(total_steps=400)
    trainer(limit_val_batches=0).fit(short)
    module = AgentModule(lambda env: RecordingAgent(), total_steps=400, seed=3, segment_steps=10,
                         keep_metrics_in_memory=True)
    trainer(limit_val_batches=0).fit(module, datamodule=EnvDataModule(make_counting_vec_env(2)))
    assert [e["ep_length"] for e in module.episodes] == [e["ep_length"] for e in short.episodes]
    (val,) = trainer().validate(module, datamodule=EnvDataModule(make_counting_vec_env(2)))
    assert val["val/ep_return"] > 0


def test_env_datamodule_mistakes_are_named_before_the_run():
    with pytest.raises(TypeError, match="env must be a gymnasium.vector.VectorEnv"):
        EnvDataModule(None)
    with pytest.raises(ValueError, match="the env is given twice"):
        trainer().fit(counting_module(), datamodule=EnvDataModule(make_counting_vec_env(2)))
    with pytest.raises(ValueError, match=r"takes its env from the datamodule, but this fit has no datamodule"):
        trainer().fit(AgentModule(lambda env: RecordingAgent(), total_steps=100))


# ---------------------------------------------------------------- 7. max_steps
def test_max_steps_counts_segments_for_a_seed_protocol_agent_and_stops_exactly():
    module = counting_module(total_steps=1_000)
    fitted = trainer(max_steps=3, limit_val_batches=0)
    fitted.fit(module)
    assert fitted.global_step == 3 and module.rollout.env_steps == 60


def test_max_steps_with_a_built_in_agent_overshoots_by_less_than_one_segments_gradient_steps():
    module = AgentModule(lambda env: PPO.for_env(env, n_steps=16, batch_size=16, n_epochs=2), cartpole,
                         total_steps=4_096, seed=0)
    fitted = trainer(max_steps=10, limit_val_batches=0)
    fitted.fit(module)
    per_segment = 2 * 2  # n_epochs x (32 samples / batch 16)
    assert 10 <= fitted.global_step < 10 + per_segment


# ---------------------------------------------------------------- 8. clipping and schedulers
@dataclass(frozen=True)
class TinyParams(Params):
    learning_rate: float = 0.1


class ScheduledAgent(LightningAgent):
    """One linear layer, one gradient step per vector step, and an epoch-interval StepLR handed to Lightning."""

    params_class = TinyParams
    lockstep_updates = True

    def __init__(self, observation_space, action_space, params=None, num_envs=1, **hp):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.layer = nn.Linear(1, 2)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=self.params.learning_rate)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    def reset_parameters(self, generator):
        nn.init.zeros_(self.layer.weight), nn.init.zeros_(self.layer.bias)

    def configure_optimizers(self):
        scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)
        return {"optimizer": self.optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def act(self, observation, greedy=False):
        return np.zeros(len(observation), dtype=np.int64)

    def update(self, next_observation, reward, terminated, truncated, call_back=None):
        self.env_steps += self.num_envs
        loss = self.layer(self._obs_tensor(next_observation)).pow(2).mean()
        self.gradient_step(self.optimizer, loss, max_grad_norm=1.0)


def test_epoch_lr_schedulers_step_at_each_epoch_end_and_learning_rate_monitor_logs_them(tmp_path):
    module = AgentModule(ScheduledAgent.for_env, make_counting_vec_env(2), total_steps=300, seed=0,
                         segment_steps=10, steps_per_epoch=100)
    fitted = trainer(tmp_path, logger=CSVLogger(tmp_path), limit_val_batches=0,
                     callbacks=[LearningRateMonitor(logging_interval="epoch")])
    fitted.fit(module)
    assert module.agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)
    metrics = open(os.path.join(fitted.logger.log_dir, "metrics.csv")).read()
    rates = sorted({float(v) for line in metrics.splitlines()[1:] for v in line.split(",")[:1] if v})
    assert "lr-SGD" in metrics.splitlines()[0] and len(rates) >= 3


def test_trainer_gradient_clip_val_is_refused_naming_the_agents_way_to_clip():
    module = AgentModule(ScheduledAgent.for_env, make_counting_vec_env(2), total_steps=100)
    with pytest.raises(ValueError, match=r"gradient_clip_val=0.5.*gradient_step\(optimizer, loss, max_grad_norm"):
        trainer(gradient_clip_val=0.5).fit(module)


# ---------------------------------------------------------------- 3. every stop resumable
class SlowSegments(Callback):
    """Makes each segment take at least 5 ms, so a 20 ms Timer stops the run a few segments in."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        time.sleep(0.005)


class StopAtEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def resumable(exp_dir):
    return AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=1_200, seed=7,
                       segment_steps=10, steps_per_epoch=200, exp_dir=exp_dir, dump_metrics=True,
                       metrics_dump_every=7, checkpoint_freq=0)


def episodes_of(exp_dir):
    return [(e["ep_return"], e["ep_length"], [int(a) for a in e["actions"]]) for e in load_run_metrics(exp_dir, 1)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    exp_dir = tmp_path_factory.mktemp("whole")
    trainer(limit_val_batches=0).fit(resumable(exp_dir))
    return episodes_of(exp_dir)


STOPS = {
    "max_steps": dict(max_steps=17),
    "max_epochs": dict(max_epochs=2),
    "should_stop": dict(callbacks=[StopAtEpoch(1)]),
    "early_stopping": dict(callbacks=[EarlyStopping(monitor="train/episodes", mode="max", patience=0,
                                                    check_on_train_epoch_end=True)]),
    "timer": dict(callbacks=[SlowSegments(), Timer(duration=timedelta(milliseconds=20), interval="step")]),
}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_a_run_stopped_by_lightning_continues_from_last_ckpt_to_its_budget_as_if_never_stopped(
        stop, tmp_path, uninterrupted):
    first = dict(STOPS[stop])
    callbacks = first.pop("callbacks", [])
    module = resumable(tmp_path)
    trainer(callbacks=[LastCheckpoint(tmp_path / "ckpt"), *callbacks], limit_val_batches=0, **first).fit(module)
    assert module.rollout.env_steps < 1_200  # stopped early
    written = episodes_of(tmp_path)
    assert written == uninterrupted[:len(written)]  # what was on disk is the run's own start
    # The same Trainer arguments with the limit lifted; a fresh module, as in a new process.
    resumed = resumable(tmp_path)
    trainer(callbacks=[LastCheckpoint(tmp_path / "ckpt")], limit_val_batches=0).fit(resumed, ckpt_path="last")
    assert resumed.rollout.env_steps == 1_200
    assert episodes_of(tmp_path) == uninterrupted


def test_resuming_while_the_limit_still_holds_trains_nothing_loses_nothing_and_says_why(tmp_path, uninterrupted):
    module = resumable(tmp_path)
    trainer(callbacks=[LastCheckpoint(tmp_path / "ckpt")], max_epochs=2, limit_val_batches=0).fit(module)
    before = episodes_of(tmp_path)
    again = resumable(tmp_path)
    with pytest.warns(UserWarning, match=r"trained nothing.*max_epochs=2.*Raise it"):
        trainer(callbacks=[LastCheckpoint(tmp_path / "ckpt")], max_epochs=2, limit_val_batches=0).fit(
            again, ckpt_path="last")
    assert episodes_of(tmp_path) == before == uninterrupted[:len(before)]


def test_a_monitor_that_nothing_logs_is_refused_before_the_run_listing_what_is_logged():
    module = counting_module()
    with pytest.raises(ValueError, match=r"monitor='val/ep_retrun'.*no part of this run logs.*train/ep_return, "):
        trainer(callbacks=[EarlyStopping(monitor="val/ep_retrun")]).fit(module)
    with pytest.raises(ValueError, match=r"Validation is off in this fit"):
        trainer(callbacks=[EarlyStopping(monitor="val/ep_return")], limit_val_batches=0).fit(module)
    assert module.rollout.env_steps == 0


# ---------------------------------------------------------------- on CartPole with the bundled PPO
def ppo_cartpole(total_steps, **kwargs):
    return AgentModule(lambda env: PPO.for_env(env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98,
                                               gae_lambda=0.8, learning_rate=1e-3),
                       lambda: gym.make_vec("CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point"),
                       total_steps=total_steps, seed=0, **kwargs)


def test_model_checkpoint_on_val_return_keeps_the_two_best_agents_each_scored_by_a_revalidation(tmp_path):
    best = ModelCheckpoint(tmp_path, filename="best-{epoch}", monitor="val/ep_return", mode="max", save_top_k=2)
    module = ppo_cartpole(12_288, steps_per_epoch=2_048, val_episodes=4)
    trainer(tmp_path, callbacks=[best]).fit(module)
    assert len(best.best_k_models) == 2
    for path, score in best.best_k_models.items():
        fresh = ppo_cartpole(12_288, steps_per_epoch=2_048, val_episodes=4)
        (result,) = trainer().validate(fresh, ckpt_path=path, verbose=False)
        assert result["val/ep_return"] == pytest.approx(float(score))


def test_early_stopping_ends_a_cartpole_run_once_the_greedy_return_reaches_a_threshold():
    module = ppo_cartpole(100_000, steps_per_epoch=4_096, val_episodes=4)
    fitted = trainer(callbacks=[EarlyStopping(monitor="val/ep_return", mode="max", stopping_threshold=150.0,
                                              patience=1_000)])
    fitted.fit(module)
    assert fitted.callback_metrics["val/ep_return"] >= 150.0
    assert module.rollout.env_steps < 100_000


def test_an_agent_instance_is_saved_once_in_the_checkpoint(tmp_path):
    agent = PPO.for_env(cartpole(), n_steps=16, batch_size=32, n_epochs=1)
    module = AgentModule(agent, cartpole, total_steps=256)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer(tmp_path, callbacks=[checkpoint], limit_val_batches=0).fit(module)
    keys = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert keys and all(key.startswith("agent.") for key in keys)
