"""Episode frames recorded by real runs, written as GIF, MP4, TensorBoard video summaries and ANSI text."""

import gymnasium as gym
import numpy as np
import pytest

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.agents import RandomAgent
from rl_lightning.analysis import VideoRecorder, save_ansi, save_gif, save_mp4, save_video, write_video_summary
from rl_lightning.testing import CountingEnv, RecordingAgent


def _episodes(make_env, agent, num_episodes=2):
    trainer = OnlineTrainer(make_env, agent, progress=False)
    trainer.call_back = EmptyCallBack()
    return trainer.multi_run(1, num_episodes=num_episodes, seed_offset=0, dump_metrics=False)[0]


@pytest.fixture(scope="module")
def cartpole_episode():
    pytest.importorskip("pygame")
    episodes = _episodes(lambda: gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                                              render_mode="rgb_array"), RandomAgent.for_env)
    return episodes[0]


def test_gif_holds_one_frame_per_recorded_frame_of_the_episode(cartpole_episode, tmp_path):
    image = pytest.importorskip("PIL.Image")
    frames = cartpole_episode["frames"]
    assert len(frames) == cartpole_episode["ep_length"] + 1  # the reset frame, then one per step
    assert any((a == b).all() for a, b in zip(frames, frames[1:]))  # repeated frames, which Pillow alone would merge
    path = save_gif(frames, tmp_path / "episode.gif", fps=25)
    with image.open(path) as gif:
        assert gif.format == "GIF" and gif.size == (600, 400)
        assert gif.n_frames == len(frames)
        assert gif.info["duration"] == 40 and gif.info["loop"] == 0
        for i, frame in enumerate(frames):  # CartPole draws in few colours: each palette holds them exactly
            gif.seek(i)
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), frame)


def test_mp4_holds_every_frame(cartpole_episode, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    iio = pytest.importorskip("imageio.v3")
    frames = cartpole_episode["frames"]
    path = save_mp4(frames, tmp_path / "episode.mp4", fps=30)
    decoded = list(iio.imiter(path, plugin="FFMPEG"))
    assert len(decoded) == len(frames) and decoded[0].shape == (400, 600, 3)


def test_odd_sized_frames_are_padded_for_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    iio = pytest.importorskip("imageio.v3")
    frames = [np.full((17, 31, 3), 10 * i, dtype=np.uint8) for i in range(5)]
    decoded = list(iio.imiter(save_mp4(frames, tmp_path / "odd.mp4"), plugin="FFMPEG"))
    assert len(decoded) == 5 and decoded[0].shape == (18, 32, 3)


def test_video_summary_is_an_animated_gif_in_tensorboard(cartpole_episode, tmp_path):
    pytest.importorskip("PIL")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    write_video_summary(tmp_path, "eval/video", cartpole_episode["frames"], step=7)
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    (image,) = events.Images("eval/video")
    assert image.step == 7 and (image.width, image.height) == (600, 400)
    assert image.encoded_image_string.startswith(b"GIF8")


def test_recorder_writes_every_format_and_one_event_file(cartpole_episode, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    recorder = VideoRecorder(tmp_path / "videos", formats=("gif", "mp4", "tensorboard"), tag="eval/video")
    recorder.record(cartpole_episode["frames"][:4], "episode_001", step=1)
    recorder.record(cartpole_episode["frames"][:3], "episode_002", step=2)
    recorder.close()
    names = sorted(p.name for p in (tmp_path / "videos").iterdir())
    assert names[:4] == ["episode_001.gif", "episode_001.mp4", "episode_002.gif", "episode_002.mp4"]
    assert len(names) == 5 and names[4].startswith("events.out.tfevents")


def test_ansi_frames_go_to_a_text_file(tmp_path):
    episodes = _episodes(lambda: gym.vector.SyncVectorEnv([lambda: CountingEnv(render_mode="ansi")]),
                         lambda env: RecordingAgent(), num_episodes=1)
    episode = episodes[0]
    path = save_ansi(episode["frames"], tmp_path / "episode.txt")
    expected = "".join(f"--- step {t} ---\nt={t}\n" for t in range(episode["ep_length"] + 1))
    assert open(path).read() == expected
    # save_video sends text frames to .txt whatever formats are asked for.
    assert save_video(episode["frames"], tmp_path / "again", formats=("gif", "mp4")) == [str(tmp_path / "again.txt")]
    assert (tmp_path / "again.txt").read_text() == expected


@pytest.mark.parametrize("call, error, message", [
    (lambda p: save_gif([], p / "x.gif"), ValueError, "no frames to write"),
    (lambda p: save_gif(["t=0"], p / "x.gif"), TypeError, "write them with save_ansi"),
    (lambda p: save_gif([np.zeros((2, 2, 3), np.uint8)], p / "x.gif", fps=0), ValueError, "fps must be a positive"),
    (lambda p: save_video([np.zeros((2, 2, 3), np.uint8)], p / "x", formats=("avi",)), ValueError,
     "choose among gif, mp4, tensorboard"),
])
def test_bad_video_input_is_refused_with_the_reason(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)
