"""Exact resume: a run interrupted by SIGTERM or Ctrl-C and resumed equals the run never interrupted."""

import os
import signal
import subprocess
import sys

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from oracle import bare_run
from rl_lightning import AgentModule, OnlineTrainer
from rl_lightning.callbacks import BestReturnCheckpoint, LastCheckpoint
from rl_lightning.resume import CheckpointMismatchError, load_agent, load_checkpoint_entry, pack_entry, unpack_entry
from rl_lightning.testing import CountingEnv, RecordingAgent, make_counting_vec_env

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_script.py")


def _same(a, b):
    """Deep equality that compares tensors and arrays bit for bit."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(b, np.ndarray) and isinstance(a, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _run_script(exp_dir, *args, timeout=240):
    return subprocess.run([sys.executable, SCRIPT, str(exp_dir), *args], capture_output=True, text=True,
                          timeout=timeout)


def _interrupted_run(exp_dir, sig, *args):
    child = subprocess.Popen([sys.executable, SCRIPT, str(exp_dir), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "started"
        child.send_signal(sig)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    return child.returncode, out, err


def _episodes(exp_dir):
    return [[(e["ep_return"], e["ep_length"], [int(a) for a in e["actions"]], e["episode_index"]) for e in run]
            for run in OnlineTrainer.load_all_run_metrics(exp_dir)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    exp_dir = tmp_path_factory.mktemp("uninterrupted")
    result = _run_script(exp_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return exp_dir


def test_dqn_with_its_replay_buffer_resumes_bit_for_bit(tmp_path):
    reference = tmp_path / "reference"
    assert _run_script(reference, "--dqn").returncode == 0
    code, _, err = _interrupted_run(tmp_path / "resumed", signal.SIGTERM, "--dqn")
    assert code == 143, err[-2000:]
    result = _run_script(tmp_path / "resumed", "--resume", "--dqn")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _episodes(tmp_path / "resumed") == _episodes(reference)
    for run in (1, 2):
        resumed = torch.load(tmp_path / "resumed" / f"Run{run}_Last_agent.t", weights_only=False)
        expected = torch.load(reference / f"Run{run}_Last_agent.t", weights_only=False)
        assert _same(resumed, expected)  # network weights, target network, optimizer and generator state


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, uninterrupted, sig):
    code, out, err = _interrupted_run(tmp_path, sig)
    assert code != 0 and "finished" not in out
    # SIGTERM exits with 128 + 15, as a preempted job should; Ctrl-C with Lightning's 1.
    assert code == (143 if sig == signal.SIGTERM else 1), err[-2000:]
    entries = {run: load_checkpoint_entry(str(tmp_path / "checkpoints" / f"run{run}" / "last.ckpt"))
               for run in (1, 2) if (tmp_path / "checkpoints" / f"run{run}" / "last.ckpt").exists()}
    (stopped,) = [run for run, entry in entries.items() if not entry["finished"]]
    entry = entries[stopped]
    assert 0 < entry["rollout"]["env_steps"] < 24_000
    # The unwritten episodes were flushed before exiting: the stream holds every episode the checkpoint counted.
    assert len(OnlineTrainer.load_run_metrics(tmp_path, stopped)) == entry["rollout"]["episodes_done"]

    result = _run_script(tmp_path, "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _episodes(tmp_path) == _episodes(uninterrupted)
    for run in (1, 2):
        resumed = torch.load(tmp_path / f"Run{run}_Last_agent.t", weights_only=False)
        reference = torch.load(uninterrupted / f"Run{run}_Last_agent.t", weights_only=False)
        assert resumed == reference  # weight, update count and the agent's generator state, bit for bit
        assert torch.load(tmp_path / f"Run{run}_Best_agent.t", weights_only=False) == torch.load(
            uninterrupted / f"Run{run}_Best_agent.t", weights_only=False)


def test_resume_of_a_finished_multi_run_keeps_it(uninterrupted, tmp_path):
    trainer = OnlineTrainer(lambda: None, lambda env: RecordingAgent(), exp_dir=uninterrupted, progress=False)
    before = _episodes(uninterrupted)
    # Both runs finished: nothing is built or run again (the env factory returning None would fail).
    with pytest.raises(TypeError, match="env must be"):
        trainer.multi_run(2, total_steps=24_000, seed_offset=3, resume=True)
    assert _episodes(uninterrupted) == before


def test_plain_lightning_fit_resumes_from_last(tmp_path):
    def fit(ckpt_path=None, max_segments=None):
        module = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=400, seed=1,
                             segment_steps=10, keep_metrics_in_memory=True)
        # The first fit stops after 7 segments (one epoch of 7 batches); the second runs to the budget.
        trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                             callbacks=[LastCheckpoint(tmp_path / "ckpt", every_n_segments=1)],
                             limit_train_batches=max_segments, max_epochs=1 if max_segments else None)
        trainer.fit(module, ckpt_path=ckpt_path)
        return module

    stopped = fit(max_segments=7)
    assert stopped.rollout.env_steps == 140
    resumed = fit(ckpt_path="last")
    reference = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=400, seed=1,
                            segment_steps=10, keep_metrics_in_memory=True)
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
               enable_model_summary=False).fit(reference)
    assert resumed.rollout.env_steps == 400
    assert [(e["ep_return"], e["actions"]) for e in resumed.episodes] == [
        (e["ep_return"], e["actions"]) for e in reference.episodes]
    assert resumed.agent.save() == reference.agent.save()


def test_best_checkpoint_holds_the_agent_of_the_best_episode(tmp_path):
    module = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=300, seed=3,
                         segment_steps=7)
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[BestReturnCheckpoint(tmp_path)]).fit(module)
    _, save_points = bare_run(make_counting_vec_env(2)(), RecordingAgent(), 3, total_steps=300)
    best = load_agent(str(tmp_path / "best.ckpt"))
    assert isinstance(best, RecordingAgent)
    assert best.save() == save_points[-1][1]  # the snapshot taken when the best episode (ties: the later) ended
    assert best.updates < module.agent.updates


def test_resume_without_checkpoint_names_the_path(tmp_path):
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match=r"no run of exp_dir=.* has a checkpoint .*checkpoints/run1/last\.ckpt"):
        trainer.multi_run(2, total_steps=40, resume=True)


def test_checkpoint_of_another_agent_class_or_spaces_is_refused(tmp_path):
    OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path,
                  progress=False).multi_run(1, total_steps=40, seed_offset=0)
    entry_path = tmp_path / "checkpoints" / "run1" / "last.ckpt"
    # Pretend the run was interrupted, so that resume=True tries to continue it.
    checkpoint = torch.load(entry_path, weights_only=True)
    entry = unpack_entry(checkpoint["rl_lightning"])
    entry["finished"] = False
    checkpoint["rl_lightning"] = pack_entry(entry)
    torch.save(checkpoint, entry_path)

    class OtherAgent(RecordingAgent):
        pass

    other = OnlineTrainer(make_counting_vec_env(2), lambda env: OtherAgent(), exp_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"agent of class rl_lightning\.testing\.RecordingAgent, but .*"
                                                      r"OtherAgent"):
        other.multi_run(1, total_steps=40, seed_offset=0, resume=True)

    wider = OnlineTrainer(make_counting_vec_env(2, max_length=9), lambda env: RecordingAgent(), exp_dir=tmp_path,
                          progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"observation_space is Box\(0\.0, 7\.0.*this run's env has Box"):
        wider.multi_run(1, total_steps=40, seed_offset=0, resume=True)


def test_corrupted_checkpoint_is_named(tmp_path):
    path = tmp_path / "checkpoints" / "run1" / "last.ckpt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="last.ckpt is corrupted or not a checkpoint"):
        trainer.multi_run(1, total_steps=40, resume=True)


def test_an_env_that_cannot_be_pickled_is_reset_with_a_warning(tmp_path):
    class Unpicklable(CountingEnv):
        def __reduce__(self):
            raise TypeError("no pickling")

    def make():
        import gymnasium as gym

        return gym.vector.SyncVectorEnv([Unpicklable, Unpicklable])

    def fit(ckpt_path=None, batches=None):
        module = AgentModule(lambda env: RecordingAgent(), make, total_steps=200, seed=0, segment_steps=10)
        pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                   callbacks=[LastCheckpoint(tmp_path, every_n_segments=1)], limit_train_batches=batches,
                   max_epochs=1 if batches else None).fit(module, ckpt_path=ckpt_path)
        return module

    fit(batches=3)
    with pytest.warns(RuntimeWarning, match="could not be pickled.*reset"):
        module = fit(ckpt_path="last")
    assert module.rollout.env_steps == 200
    assert np.all(module.rollout.tracker.lengths >= 0)


def test_fitting_a_finished_run_again_from_its_last_checkpoint_keeps_every_episode(tmp_path):
    def fit():
        module = AgentModule(lambda env: RecordingAgent(), make_counting_vec_env(2), total_steps=300, seed=1,
                             segment_steps=10, exp_dir=str(tmp_path), dump_metrics=True, metrics_dump_every=10_000)
        # One epoch, as `rl-lightning fit` sets it: a finished run's checkpoint then ends the epoch too.
        trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                             callbacks=[LastCheckpoint(tmp_path / "ckpt")], max_epochs=1)
        trainer.fit(module, ckpt_path="last" if (tmp_path / "ckpt" / "last.ckpt").exists() else None)
        return module

    fit()  # every episode waits for the end-of-run flush (metrics_dump_every is larger than the run)
    written = OnlineTrainer.load_run_metrics(str(tmp_path), 1)
    assert written and load_checkpoint_entry(str(tmp_path / "ckpt" / "last.ckpt"))["finished"]
    fit()  # Lightning finds the epoch done and skips the loop (no on_train_end): the episodes on disk stay
    assert _same(OnlineTrainer.load_run_metrics(str(tmp_path), 1), written)


def test_a_finished_runs_last_checkpoint_finds_its_files_complete(tmp_path):
    # Lightning saves last.ckpt before the module's on_train_end; the run's files must be complete by then, so a
    # process killed right after that checkpoint (which marks the run finished, never to be resumed) loses nothing.
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path, progress=False,
                            segment_steps=10, checkpoint_interval=0)
    trainer.multi_run(1, total_steps=300, seed_offset=1, checkpoint_freq=0, metrics_dump_every=10_000)

    entry = load_checkpoint_entry(str(tmp_path / "checkpoints" / "run1" / "last.ckpt"))
    assert entry["finished"]
    recorded = entry["recorder"]
    assert recorded["state"]["pending"] == []  # every episode already in the metrics stream
    assert recorded["stream_length"] == os.path.getsize(tmp_path / "metrics_run1.pkl")
    assert len(OnlineTrainer.load_run_metrics(str(tmp_path), 1)) == entry["rollout"]["episodes_done"]
