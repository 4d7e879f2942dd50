"""``evaluate`` and ``rl-lightning validate``: a saved agent plays greedy episodes, as OnlineTrainer(train=False)."""

import json
import os

import numpy as np
import pytest
import torch

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning import evaluation as evaluation_module
from rl_lightning.evaluation import LoadedAgent, evaluate, load_agent, register_agent_format, validate_main
from rl_lightning.metrics_stream import read_metrics_stream
from rl_lightning.testing import RecordingAgent


def _returns(episodes):
    return [e["ep_return"] for e in episodes]


def test_evaluating_a_best_agent_reproduces_its_greedy_returns(trained_greedy_agent, action_env, tmp_path):
    exp_dir = trained_greedy_agent
    first = evaluate(exp_dir, RecordingAgent, action_env(2), which="best", num_episodes=5, seed=3,
                     out_dir=tmp_path / "first")
    second = evaluate(exp_dir, "rl_lightning.testing.RecordingAgent", action_env(2), which="best", num_episodes=5,
                      seed=3, out_dir=tmp_path / "second")
    direct = OnlineTrainer(action_env(2), lambda env: RecordingAgent.load(str(exp_dir / "Run1_Best_agent.t")),
                           train=False, progress=False)
    direct.call_back = EmptyCallBack()
    episodes = direct.multi_run(1, num_episodes=5, seed_offset=3, dump_metrics=False)[0][:5]

    assert first.agent_path == str(exp_dir / "Run1_Best_agent.t") and len(first.episodes) == 5
    assert _returns(first.episodes) == _returns(second.episodes) == _returns(episodes)
    # The greedy action is 1 and ActionRewardEnv pays the action: every step paid 1.
    np.testing.assert_array_equal(first.returns, first.lengths)
    assert all(e["actions"] == [1] * e["ep_length"] for e in first.episodes)

    assert _returns(read_metrics_stream(str(tmp_path / "first" / "metrics.pkl"))) == _returns(first.episodes)
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["returns"] == _returns(first.episodes) and summary["which"] == "best" and summary["seed"] == 3
    assert summary["ep_return_mean"] == pytest.approx(first.returns.mean())


def test_the_loaded_agent_is_the_one_that_plays(tmp_path, action_env, lengths_oracle):
    # A Last file written by agent.save(path), of an agent whose greedy action 0 earns nothing.
    RecordingAgent(greedy_action=0).save(str(tmp_path / "Run2_Last"))
    result = evaluate(tmp_path, RecordingAgent, action_env(1), run=2, which="last", num_episodes=3, seed=5)
    assert result.returns.tolist() == [0.0, 0.0, 0.0]
    assert result.lengths.tolist() == lengths_oracle(5, 3)  # one sub-env reset with seed 5, then autoreset
    assert result.out_dir == os.path.join(str(tmp_path), "eval", "run2_last")
    assert os.path.isfile(os.path.join(result.out_dir, "summary.json"))


def test_a_missing_agent_file_lists_the_agent_files_there(trained_greedy_agent, action_env):
    with pytest.raises(FileNotFoundError, match=r"no best agent of run 3 .* agent files there: Run1_Best_agent.t, "
                                                r"Run1_Last_agent.t"):
        evaluate(trained_greedy_agent, RecordingAgent, action_env(1), run=3)
    with pytest.raises(ValueError, match="which='worst' is not supported; valid values are 'best', 'last'"):
        load_agent(trained_greedy_agent, RecordingAgent, which="worst")
    with pytest.raises(ValueError, match="module 'rl_lightning.testing' has no 'Nope'; its classes are: .*"
                                         "RecordingAgent"):
        load_agent(trained_greedy_agent, "rl_lightning.testing.Nope")


def test_videos_need_an_env_that_renders(trained_greedy_agent, action_env, tmp_path):
    with pytest.raises(ValueError, match="the env recorded no frames: build it with render_mode='rgb_array'"):
        evaluate(trained_greedy_agent, RecordingAgent, action_env(1), num_episodes=1, out_dir=tmp_path,
                 video_dir=tmp_path / "videos")


def test_ansi_episodes_are_written_as_text_files(trained_greedy_agent, action_env, tmp_path):
    result = evaluate(trained_greedy_agent, RecordingAgent, action_env(1, render_mode="ansi"), num_episodes=2,
                      out_dir=tmp_path, video_dir=tmp_path / "videos")
    assert result.video_paths == [str(tmp_path / "videos" / f"episode_00{i}.txt") for i in (1, 2)]
    for path, length in zip(result.video_paths, result.lengths):
        assert open(path).read() == "".join(f"--- step {t} ---\nt={t}\n" for t in range(length + 1))
    assert all(e["frames"] == [] for e in result.episodes)  # frames went to the files, not into memory


def test_another_agent_format_plugs_in_by_name(monkeypatch, action_env, tmp_path):
    monkeypatch.setattr(evaluation_module, "AGENT_FORMATS", dict(evaluation_module.AGENT_FORMATS))

    def load_test_format(exp_dir, agent_class, run, which):
        return LoadedAgent(agent_class(greedy_action=0), f"{exp_dir}/test-format/{which}", "test-format", run, which)

    register_agent_format("test-format", load_test_format)
    result = evaluate(tmp_path, RecordingAgent, action_env(1), num_episodes=2, agent_format="test-format")
    assert result.returns.tolist() == [0.0, 0.0] and result.agent_path.endswith("test-format/best")
    with pytest.raises(ValueError, match="agent format 'test-format' is already registered"):
        register_agent_format("test-format", load_test_format)
    with pytest.raises(ValueError, match="agent_format='onnx' is not supported; valid values are 'seed', "
                                         "'lightning', 'test-format'"):
        load_agent(tmp_path, RecordingAgent, agent_format="onnx")


def test_validate_command_plays_cartpole_and_writes_gifs(tmp_path, capsys):
    pytest.importorskip("pygame")
    image = pytest.importorskip("PIL.Image")
    # A Best file is torch.save of the agent's save() dict, as the trainer writes it.
    torch.save(RecordingAgent(greedy_action=1).save(), tmp_path / "Run1_Best_agent.t")
    code = validate_main(["--exp-dir", str(tmp_path), "--agent-class", "rl_lightning.testing.RecordingAgent",
                          "--env-id", "CartPole-v1", "--num-envs", "2", "--episodes", "3", "--seed", "4", "--video"])
    assert code == 0
    out = tmp_path / "eval" / "run1_best"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_episodes"] == 3 and summary["returns"] == [float(n) for n in summary["lengths"]]
    for index, length in enumerate(summary["lengths"], 1):
        with image.open(out / "videos" / f"episode_00{index}.gif") as gif:
            assert gif.n_frames == length + 1 and gif.size == (600, 400)
    printed = capsys.readouterr().out
    assert "3 greedy episodes on CartPole-v1 (seed 4)" in printed and "3 video file(s)" in printed


def test_validate_command_reports_a_missing_agent(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        validate_main(["--exp-dir", str(tmp_path), "--agent-class", "rl_lightning.testing.RecordingAgent",
                       "--env-id", "CartPole-v1", "--which", "last"])
    assert exit_info.value.code == 2
    assert "no last agent of run 1" in capsys.readouterr().err


def test_a_best_file_of_a_run_without_episodes_is_named(tmp_path, action_env):
    torch.save(None, tmp_path / "Run1_Best_agent.t")  # what the trainer writes when no episode finished
    with pytest.raises(ValueError, match="holds no agent: run 1 finished no episode.*which='last'"):
        evaluate(tmp_path, RecordingAgent, action_env(1))


def test_evaluation_reads_the_lightning_checkpoints_too(tmp_path):
    from rl_lightning import EmptyCallBack, OnlineTrainer
    from rl_lightning.evaluation import evaluate
    from rl_lightning.testing import RecordingAgent, make_counting_vec_env

    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path, progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=60, seed_offset=0, checkpoint_freq=0)
    for which in ("best", "last"):
        seed_format = evaluate(tmp_path, RecordingAgent, make_counting_vec_env(2), which=which, num_episodes=4)
        lightning = evaluate(tmp_path, RecordingAgent, make_counting_vec_env(2), which=which, num_episodes=4,
                             agent_format="lightning")
        assert [e["ep_return"] for e in lightning.episodes] == [e["ep_return"] for e in seed_format.episodes]
