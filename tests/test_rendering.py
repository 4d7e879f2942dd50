"""Frames per episode for each render mode, as the seed trainer records them."""

import gymnasium as gym
import numpy as np
import pytest

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.agents import RandomAgent
from rl_lightning.testing import CountingEnv, RecordingAgent


def _episodes(make_env, num_episodes=3, agent=None):
    trainer = OnlineTrainer(make_env, agent or RandomAgent.for_env, progress=False)
    trainer.call_back = EmptyCallBack()
    return trainer.multi_run(1, num_episodes=num_episodes, seed_offset=0, dump_metrics=False)[0]


def test_rgb_array_records_the_first_frame_and_one_per_step():
    pytest.importorskip("pygame")
    episodes = _episodes(lambda: gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                                              render_mode="rgb_array"))
    for episode in episodes:
        assert len(episode["frames"]) == episode["ep_length"] + 1
        assert all(frame.shape == (400, 600, 3) and frame.dtype == np.uint8 for frame in episode["frames"])


def test_ansi_frames_show_each_state_of_the_episode():
    episodes = _episodes(lambda: gym.vector.SyncVectorEnv([lambda: CountingEnv(render_mode="ansi")] * 2),
                         agent=lambda env: RecordingAgent())
    for episode in episodes:
        assert episode["frames"] == [f"t={t}" for t in range(episode["ep_length"] + 1)]


def test_rgb_array_list_takes_the_sub_envs_own_frame_list_at_episode_end():
    pytest.importorskip("pygame")
    episodes = _episodes(lambda: gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                                              render_mode="rgb_array_list"))
    for episode in episodes:
        assert isinstance(episode["frames"], list) and len(episode["frames"]) >= episode["ep_length"]
        assert episode["frames"][0].shape == (400, 600, 3)


class _HumanCounting(CountingEnv):
    """Counts its own human-mode renders."""

    metadata = {"render_modes": ["human"], "render_fps": 30}

    def __init__(self):
        super().__init__(render_mode="human")
        self.renders = 0

    def render(self):
        self.renders += 1


def test_human_renders_the_first_sub_env_and_keeps_no_frames():
    trainer = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([_HumanCounting, _HumanCounting]),
                            lambda env: RecordingAgent(), progress=False)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, total_steps=20, seed_offset=0, dump_metrics=False)[0]
    assert all(e["frames"] == [] for e in episodes)
    # Once at reset, then once after each of the 10 vector steps, always on sub-env 0.
    assert [sub.renders for sub in trainer.env.envs] == [11, 0]


def test_unknown_render_mode_is_refused_before_the_run(tmp_path):
    trainer = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([lambda: CountingEnv(render_mode="odd")]),
                            lambda env: RecordingAgent(), exp_dir=tmp_path / "exp", progress=False)
    with pytest.raises(ValueError, match="render_mode='odd' is not supported; valid render modes are"):
        trainer.multi_run(1, num_episodes=1)
    assert not (tmp_path / "exp").exists()
