"""Crashes: SIGKILL at random points, each followed by resume, and a disk that fills up while writing metrics."""

import multiprocessing
import os
import pickle
import random
import resource
import signal
import time
import warnings

import gymnasium as gym
import pytest
import torch

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.metrics_stream import MetricsStreamWriter, read_metrics_stream
from rl_lightning.testing import RecordingAgent

TOTAL_STEPS = 6_000
KILLS = 20


def _make_env():
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(2)])


def _multi_run(exp_dir, resume):
    torch.set_num_threads(1)
    # checkpoint_interval=0: last.ckpt after every segment, so every attempt makes progress.
    trainer = OnlineTrainer(_make_env, lambda env: RecordingAgent(), exp_dir=exp_dir, progress=False,
                            segment_steps=16, checkpoint_interval=0)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(2, total_steps=TOTAL_STEPS, seed_offset=1, checkpoint_freq=0, metrics_dump_every=4,
                      keep_metrics_in_memory=False, resume=resume)


def _child(exp_dir, resume):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _multi_run(exp_dir, resume)


def _episodes(exp_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a torn final chunk is dropped with a warning
        return [[(e["ep_return"], e["ep_length"], [int(a) for a in e["actions"]]) for e in run]
                for run in OnlineTrainer.load_all_run_metrics(exp_dir)]


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    context = multiprocessing.get_context("fork")  # children start at once: everything is already imported
    reference = context.Process(target=_child, args=(str(tmp_path / "reference"), False))
    reference.start()
    reference.join(120)
    assert reference.exitcode == 0

    exp_dir = str(tmp_path / "killed")
    rng = random.Random(0)
    started = False
    for attempt in range(KILLS):
        child = context.Process(target=_child, args=(exp_dir, started))
        child.start()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode in (-signal.SIGKILL, 0)
        started = started or os.path.exists(os.path.join(exp_dir, "checkpoints", "run1", "last.ckpt"))
        # The metrics stream always loads (a torn last chunk is dropped, never an exception).
        if os.path.isdir(exp_dir):
            _episodes(exp_dir)
    final = context.Process(target=_child, args=(exp_dir, started))
    final.start()
    final.join(120)
    assert final.exitcode == 0
    assert _episodes(exp_dir) == _episodes(str(tmp_path / "reference"))
    for run in (1, 2):
        assert torch.load(os.path.join(exp_dir, f"Run{run}_Last_agent.t"), weights_only=False) == torch.load(
            tmp_path / "reference" / f"Run{run}_Last_agent.t", weights_only=False)


def _fill_disk_child(path, queue):
    # RLIMIT_FSIZE makes writes past the limit fail (EFBIG), as a full disk fails them (ENOSPC).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    writer = MetricsStreamWriter(path)
    chunk = [{"ep_return": float(i), "frames": [b"x" * 1000]} for i in range(10)]
    writer.append(chunk)
    size = os.path.getsize(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + size // 2, resource.RLIM_INFINITY))
    try:
        writer.append(chunk)
        queue.put(("no error", None))
    except OSError as err:
        queue.put(("OSError", str(err)))


def test_a_full_disk_gives_a_clear_error_and_keeps_earlier_chunks(tmp_path):
    path = str(tmp_path / "metrics_run1.pkl")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fill_disk_child, args=(path, queue))
    child.start()
    kind, message = queue.get(timeout=30)
    child.join(30)
    assert kind == "OSError"
    assert "writing 10 episodes to the metrics stream" in message and "earlier chunks, which stay readable" in message
    episodes = read_metrics_stream(path)  # no warning needed: the torn write was cut back
    assert [e["ep_return"] for e in episodes] == [float(i) for i in range(10)]
    with open(path, "rb") as f:
        assert pickle.load(f) == episodes
