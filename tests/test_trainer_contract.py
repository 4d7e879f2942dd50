"""The OnlineTrainer contract: files, episode dicts, seeds, stopping rules and call order, exactly.

Every run here uses the numpy ``RecordingAgent`` and the ``CountingEnv`` of ``rl_lightning.testing``; the
expected episodes come from the bare hand-written loop in ``oracle.py``.
"""

import argparse
import os
import pickle

import numpy as np
import pytest
import torch

from oracle import bare_run
from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.testing import RecordingAgent, make_counting_vec_env

EPISODE_KEYS = ["ep_return", "ep_length", "frames", "transitions", "actions", "agent_seed", "episode_index",
                "agent_logs"]


def _trainer(tmp_path, num_envs=2, compat="default", **kwargs):
    trainer = OnlineTrainer(make_counting_vec_env(num_envs), lambda env: RecordingAgent(), exp_dir=tmp_path / "exp",
                            compat=compat, progress=False, **kwargs)
    trainer.call_back = EmptyCallBack()
    return trainer


def _oracle(num_envs, seed, **kwargs):
    return bare_run(make_counting_vec_env(num_envs)(), RecordingAgent(), seed, **kwargs)


def _same(a, b):
    """Deep equality that compares numpy arrays (inside episode dicts) by value and dtype."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _comparable(episode):
    return {k: episode[k] for k in ("ep_return", "ep_length", "actions", "agent_seed", "episode_index")}


@pytest.mark.parametrize("compat", ["default", "rlbase"])
def test_step_mode_matches_the_bare_loop(tmp_path, compat):
    trainer = _trainer(tmp_path, compat=compat)
    runs = trainer.multi_run(2, total_steps=61, seed_offset=5, keep_metrics_in_memory=True)

    for run_idx, episodes in enumerate(runs, start=1):
        seed = (run_idx - 1) * 61 + 5
        expected, _ = _oracle(2, seed, total_steps=61, count_reset_steps=compat == "rlbase")
        assert [_comparable(e) for e in episodes] == [_comparable(e) for e in expected]
        for got, want in zip(episodes, expected):
            assert list(got) == EPISODE_KEYS
            assert got["frames"] == [] and got["transitions"] == []
            np.testing.assert_array_equal(got["agent_logs"]["reward"], want["agent_logs"]["reward"])
    # 31 vector steps of 2 sub-envs: the first whole vector step that reaches 61 env steps ends the run.
    assert trainer.agent.updates == 31


def test_reset_steps_join_no_episode_by_default_and_the_next_one_in_rlbase(tmp_path):
    default = _trainer(tmp_path / "a", num_envs=1).multi_run(1, total_steps=40, seed_offset=0)[0]
    rlbase = _trainer(tmp_path / "b", num_envs=1, compat="rlbase").multi_run(
        1, total_steps=40, seed_offset=0, keep_metrics_in_memory=True)[0]
    # CountingEnv pays 1 per counted step, so return == length, and its episodes last 3..7 steps.
    assert all(e["ep_return"] == e["ep_length"] for e in default)
    assert all(3 <= e["ep_length"] <= 7 for e in default)
    assert all(len(e["actions"]) == e["ep_length"] for e in default + rlbase)
    # The origin counts the reset step into every episode after the first.
    assert [e["ep_length"] for e in rlbase] == [default[0]["ep_length"]] + [e["ep_length"] + 1 for e in default[1:]]


def test_the_origins_dump_actions_switch_leaves_actions_empty(tmp_path):
    trainer = _trainer(tmp_path, num_envs=2)
    trainer._dump_actions = False  # what origin scripts set to keep the metrics files small
    episodes = trainer.multi_run(1, total_steps=60, seed_offset=0)[0]
    assert episodes and all(e["actions"] == [] and e["ep_length"] > 0 for e in episodes)
    assert [e["actions"] for e in OnlineTrainer.load_run_metrics(str(tmp_path / "exp"), 1)] == [[] for _ in episodes]


def test_episode_mode_keeps_every_episode_of_the_last_vector_step(tmp_path):
    # Sub-envs with the same episode length finish on the same vector step.
    trainer = OnlineTrainer(make_counting_vec_env(3, min_length=4, max_length=4), lambda env: RecordingAgent(),
                            exp_dir=tmp_path / "exp", progress=False)
    runs = trainer.multi_run(1, num_episodes=4, seed_offset=0)
    assert [e["episode_index"] for e in runs[0]] == [1, 2, 3, 4, 5, 6]
    expected, _ = _oracle(3, 0, num_episodes=4)
    expected_cm = bare_run(make_counting_vec_env(3, min_length=4, max_length=4)(), RecordingAgent(), 0,
                           num_episodes=4)[0]
    assert [_comparable(e) for e in runs[0]] == [_comparable(e) for e in expected_cm]
    assert len(expected) >= 4


def test_seeds_follow_the_seed_formulas(tmp_path):
    step_runs = _trainer(tmp_path / "s").multi_run(3, total_steps=20, seed_offset=7)
    assert [run[0]["agent_seed"] for run in step_runs] == [7, 27, 47]
    episode_runs = _trainer(tmp_path / "e").multi_run(3, num_episodes=2, seed_offset=7)
    assert [run[0]["agent_seed"] for run in episode_runs] == [7, 9, 11]
    random_runs = _trainer(tmp_path / "r").multi_run(2, num_episodes=2)
    seeds = [run[0]["agent_seed"] for run in random_runs]
    assert all(0 <= s <= 2**32 - 1 for s in seeds) and seeds[0] != seeds[1]
    assert all(e["agent_seed"] == seeds[0] for e in random_runs[0])


@pytest.mark.parametrize("checkpoint_interval, end_saves", [
    (None, ["save"]),  # the Last agent file, through agent.save(path); the Best dict was kept in memory
    # Before it, the Lightning checkpoint last.ckpt takes the agent's save() dict when written: after the first
    # segment (here the only one) and at the end of the run.
    (300.0, ["save", "save", "save"]),
])
def test_call_order_is_the_seed_trainers(tmp_path, checkpoint_interval, end_saves):
    trainer = _trainer(tmp_path, num_envs=2, checkpoint_interval=checkpoint_interval)
    trainer.multi_run(1, total_steps=20, seed_offset=0, tuning_hp={"lr": 0.1}, checkpoint_freq=0)
    calls = trainer.agent.calls

    oracle_agent = RecordingAgent()
    oracle_agent.set_hp({"lr": 0.1})
    bare_run(make_counting_vec_env(2)(), oracle_agent, 0, total_steps=20)
    assert calls == oracle_agent.calls + end_saves
    assert calls[:4] == ["set_hp", "reset", "train", "set_num_env"]
    assert calls[4:7] == ["act", "update", "log"]


def test_files_in_exp_dir(tmp_path):
    config = tmp_path / "my_config.py"
    config.write_text("LR = 0.5\n")
    trainer = _trainer(tmp_path, config=str(config), args=argparse.Namespace(lr=0.5, env="counting"))
    trainer.multi_run(2, total_steps=40, seed_offset=0, checkpoint_freq=16)
    exp = tmp_path / "exp"
    # Periodic files every 16 env steps (counter reset after each save), named by the env-step count.
    assert sorted(os.listdir(exp)) == sorted([
        "all_metrics.pkl", "args.yaml", "config.py", "metrics_run1.pkl", "metrics_run2.pkl", "checkpoints",
        "Run1_E16_agent.t", "Run1_E32_agent.t", "Run1_Last_agent.t", "Run1_Best_agent.t",
        "Run2_E16_agent.t", "Run2_E32_agent.t", "Run2_Last_agent.t", "Run2_Best_agent.t",
    ])
    assert OnlineTrainer.load_args(exp) == argparse.Namespace(lr=0.5, env="counting")
    assert OnlineTrainer.load_config(exp).LR == 0.5
    last = RecordingAgent.load(str(exp / "Run1_Last_agent.t"))
    assert last.updates == 20
    with open(exp / "all_metrics.pkl", "rb") as f:
        all_metrics = pickle.load(f)
    assert _same(all_metrics, OnlineTrainer.load_all_run_metrics(exp))


def test_episode_mode_periodic_checkpoints_count_episodes(tmp_path):
    trainer = _trainer(tmp_path)
    runs = trainer.multi_run(1, num_episodes=5, seed_offset=0, checkpoint_freq=2)
    saved = sorted(n for n in os.listdir(tmp_path / "exp") if n.startswith("Run1_E"))
    assert saved == ["Run1_E2_agent.t", "Run1_E4_agent.t"] + (["Run1_E6_agent.t"] if len(runs[0]) == 6 else [])


def test_best_agent_file_holds_the_best_episodes_agent(tmp_path):
    trainer = _trainer(tmp_path)
    runs = trainer.multi_run(1, total_steps=60, seed_offset=3, checkpoint_freq=0)
    episodes = runs[0]
    best_index = max(range(len(episodes)), key=lambda k: (episodes[k]["ep_return"], k))  # ties: the later one
    _, save_points = _oracle(2, 3, total_steps=60)
    best_episode, best_snapshot = save_points[-1]
    assert best_episode == episodes[best_index]["episode_index"]
    best = torch.load(tmp_path / "exp" / "Run1_Best_agent.t", weights_only=False)
    # The agent as it was when that episode finished, not as it ended the run.
    assert _same(best, best_snapshot)
    assert best["updates"] < trainer.agent.updates
    restored = RecordingAgent.load(None, checkpoint=best)
    assert restored.weight == best_snapshot["weight"]


def test_metrics_stream_is_chunked_and_survives_a_torn_chunk(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.multi_run(1, total_steps=100, seed_offset=0, metrics_dump_every=4, keep_metrics_in_memory=False)
    path = tmp_path / "exp" / "metrics_run1.pkl"
    chunks = []
    with open(path, "rb") as f:
        while True:
            try:
                chunks.append(pickle.load(f))
            except EOFError:
                break
    assert all(len(c) == 4 for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= 4
    whole = OnlineTrainer.load_run_metrics(tmp_path / "exp", 1)
    assert len(whole) == sum(map(len, chunks))

    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.warns(RuntimeWarning, match="incomplete"):
        torn = OnlineTrainer.load_run_metrics(tmp_path / "exp", 1)
    assert _same(torn, whole[: len(whole) - len(chunks[-1])])



def test_numpy_values_in_episodes_load_back_as_the_same_numpy_types_and_values(tmp_path):
    from rl_lightning.metrics_stream import MetricsStreamWriter, read_metrics_stream

    values = [np.int64(-3), np.int32(7), np.uint8(255), np.bool_(True), np.float32(0.1), np.float16(1.5),
              np.float64(np.pi), np.complex64(1 - 2j), np.float32("nan"), np.longdouble(1) / 3]
    episode = {"ep_return": 21.0, "actions": values, "agent_logs": {"q": np.arange(3, dtype=np.float32)}}
    writer = MetricsStreamWriter(str(tmp_path / "metrics_run1.pkl"))
    writer.append([episode])

    (loaded,) = read_metrics_stream(writer.path)
    assert [type(v) for v in loaded["actions"]] == [type(v) for v in values]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(loaded["actions"], values))  # bit for bit, NaN included
    assert loaded["agent_logs"]["q"].dtype == np.float32 and loaded["agent_logs"]["q"].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("values", [
    [np.int64(1), np.int64(0), np.int64(-5)],  # a discrete agent's actions
    [np.float32(0.25), np.float32("nan"), np.float32("-inf"), np.float32(-0.0)],
    [np.bool_(True), np.bool_(False)],
], ids=["int64", "float32", "bool"])
def test_metrics_files_load_with_plain_pickle_where_rl_lightning_is_not_installed(tmp_path, values):
    import subprocess
    import sys

    from rl_lightning.metrics_stream import MetricsStreamWriter

    path = tmp_path / "metrics_run1.pkl"
    MetricsStreamWriter(str(path)).append([{"ep_return": 1.0, "actions": values}, {"ep_return": 2.0, "actions": []}])
    # What the seed's analysis code does, in a process that cannot import rl_lightning.
    reader = ("import pickle, sys; sys.modules['rl_lightning'] = None; chunk = pickle.load(open(sys.argv[1], 'rb')); "
              "acts = chunk[0]['actions']; print(type(acts).__name__, [type(a).__name__ for a in acts], "
              "[a.tobytes().hex() for a in acts], chunk[1]['actions'])")
    out = subprocess.run([sys.executable, "-c", reader, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ("list " + str([type(v).__name__ for v in values]) + " "
                           + str([v.tobytes().hex() for v in values]) + " []").split()


def test_lean_mode_returns_none_and_writes_no_aggregate(tmp_path):
    trainer = _trainer(tmp_path)
    assert trainer.multi_run(1, total_steps=20, seed_offset=0, keep_metrics_in_memory=False) is None
    assert not (tmp_path / "exp" / "all_metrics.pkl").exists()
    assert len(OnlineTrainer.load_run_metrics(tmp_path / "exp", 1)) > 0


def test_rlbase_defaults_are_the_origins(tmp_path):
    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / "exp",
                            compat="rlbase", progress=False)
    assert isinstance(trainer.call_back, EmptyCallBack)
    assert trainer.multi_run(1, total_steps=20, seed_offset=0) is None
    assert not (tmp_path / "exp" / "all_metrics.pkl").exists()


def test_default_logger_is_tensorboard_created_on_first_write(tmp_path):
    from rl_lightning import JsonlCallback, TBCallBack

    trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / "a",
                            progress=False)
    assert isinstance(trainer.call_back, TBCallBack)
    trainer.multi_run(1, total_steps=20, seed_offset=0)
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path / "a"))

    swapped = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / "b",
                            progress=False)
    swapped.call_back = JsonlCallback(str(tmp_path / "b" / "metrics.jsonl"))
    swapped.multi_run(1, total_steps=20, seed_offset=0)
    assert not any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path / "b"))
    assert (tmp_path / "b" / "metrics.jsonl").read_text().count('"tag": "ep_return/run_1"') > 0


def test_actual_reward_replaces_the_reward_in_returns(tmp_path):
    trainer = OnlineTrainer(make_counting_vec_env(2, actual_reward=True), lambda env: RecordingAgent(),
                            exp_dir=tmp_path / "exp", progress=False)
    episodes = trainer.multi_run(1, total_steps=40, seed_offset=0)[0]
    assert all(e["ep_return"] == 2.0 * e["ep_length"] for e in episodes)


def test_transitions_start_from_the_observation_before_the_step(tmp_path):
    trainer = _trainer(tmp_path, num_envs=1)
    episodes = trainer.multi_run(1, num_episodes=2, seed_offset=0, dump_transitions=True)[0]
    for episode in episodes:
        observations = [float(t[0][0]) for t in episode["transitions"]]
        assert observations == list(range(episode["ep_length"]))
        assert [t[3] for t in episode["transitions"]] == [False] * (episode["ep_length"] - 1) + [True]
        assert episode["actions"] == [t[1] for t in episode["transitions"]]
    assert OnlineTrainer.load_transitions(tmp_path / "exp")[0][1] == episodes[1]["transitions"]


def test_same_seed_offset_gives_identical_runs(tmp_path):
    first = _trainer(tmp_path / "a").multi_run(2, total_steps=80, seed_offset=11)
    second = _trainer(tmp_path / "b").multi_run(2, total_steps=80, seed_offset=11)
    assert [[_comparable(e) for e in run] for run in first] == [[_comparable(e) for e in run] for run in second]


def test_parallel_workers_with_lambda_factories_equal_one_worker(tmp_path):
    offset = 4

    def make(exp):
        trainer = OnlineTrainer(make_counting_vec_env(2), lambda env: RecordingAgent(), exp_dir=tmp_path / exp,
                                progress=False)
        trainer.call_back = EmptyCallBack()
        return trainer

    serial = make("serial").multi_run(3, total_steps=50, seed_offset=offset, checkpoint_freq=0)
    parallel = make("parallel").multi_run(3, total_steps=50, seed_offset=offset, checkpoint_freq=0, num_workers=2)
    assert [[_comparable(e) for e in run] for run in parallel] == [[_comparable(e) for e in run] for run in serial]
    assert _same(OnlineTrainer.load_all_run_metrics(tmp_path / "parallel"), parallel)
    assert sorted(os.listdir(tmp_path / "parallel")) == sorted(os.listdir(tmp_path / "serial"))


def test_instances_instead_of_factories(tmp_path):
    from rl_lightning.testing import CountingEnv

    agent = RecordingAgent()
    trainer = OnlineTrainer(CountingEnv(), agent, exp_dir=tmp_path / "exp", progress=False)
    with pytest.warns(UserWarning, match="num_workers=1"):
        runs = trainer.multi_run(2, num_episodes=3, seed_offset=0, num_workers=2)
    assert trainer.agent is agent and trainer.env.num_envs == 1  # a plain Env became a one-sub-env SyncVectorEnv
    assert [len(r) for r in runs] == [3, 3]


def test_the_check_before_run_1_leaves_the_runs_env_and_agent_untouched(tmp_path):
    import gymnasium as gym

    from rl_lightning.testing import CountingEnv

    # Before any file is written, one reset, act and env.step check the env and agent on stand-ins: a second env
    # from the env factory and a second agent from the agent factory, built on that env. Copies of the run's own
    # would run more slowly for the whole run on Python 3.11 (copying reads an object's __dict__). The run's env
    # and agent are the ones built for it, and the trained agent's calls are exactly the run's own.
    built_envs, built_agents, copied = [], [], []

    class EnvThatNoticesCopies(gym.vector.SyncVectorEnv):
        def __deepcopy__(self, memo):
            copied.append(self)
            return EnvThatNoticesCopies([lambda: CountingEnv(), lambda: CountingEnv()])

    class AgentThatNoticesCopies(RecordingAgent):
        def __deepcopy__(self, memo):
            copied.append(self)
            return AgentThatNoticesCopies()

    def make_env():
        built_envs.append(EnvThatNoticesCopies([lambda: CountingEnv(), lambda: CountingEnv()]))
        return built_envs[-1]

    def make_agent(env):
        built_agents.append(AgentThatNoticesCopies())
        built_agents[-1].env = env
        return built_agents[-1]

    trainer = OnlineTrainer(make_env, make_agent, exp_dir=tmp_path / "factories", progress=False)
    trainer.call_back = EmptyCallBack()
    runs = trainer.multi_run(1, total_steps=20, seed_offset=0)

    run_env, check_env = built_envs
    run_agent, check_agent = built_agents
    assert copied == []
    assert trainer.env is run_env and trainer.agent is run_agent and run_agent.env is run_env
    assert check_agent.env is check_env and check_agent.calls == ["reset", "set_num_env", "act"]
    assert check_env.closed
    assert run_agent.calls[:3] == ["reset", "train", "set_num_env"]

    agent = RecordingAgent()
    from_instances = OnlineTrainer(make_counting_vec_env(2)(), agent, exp_dir=tmp_path / "instances", progress=False)
    from_instances.call_back = EmptyCallBack()
    instance_runs = from_instances.multi_run(1, total_steps=20, seed_offset=0)
    assert from_instances.agent is agent and agent.calls == run_agent.calls
    assert [_comparable(e) for e in instance_runs[0]] == [_comparable(e) for e in runs[0]]


def test_an_agent_factory_that_cannot_build_a_second_agent_has_the_run_agent_checked_on_a_copy(tmp_path):
    # A callable agent that hands out itself (as an nn.Module agent does when called), or a factory that fails on
    # its second call: the check acts with a copy, so the run's agent sees only the run's own calls.
    class AgentThatIsItsFactory(RecordingAgent):
        def __call__(self, env):
            return self

    agent = AgentThatIsItsFactory()
    trainer = OnlineTrainer(make_counting_vec_env(2), agent, exp_dir=tmp_path / "itself", progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=20, seed_offset=0)
    assert trainer.agent is agent and agent.calls[:3] == ["reset", "train", "set_num_env"]

    built = []

    def make_agent_once(env):
        if built:
            raise RuntimeError("this factory builds one agent")
        built.append(RecordingAgent())
        return built[-1]

    trainer = OnlineTrainer(make_counting_vec_env(2), make_agent_once, exp_dir=tmp_path / "once", progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=20, seed_offset=0)
    assert trainer.agent is built[0] and built[0].calls == agent.calls


def test_a_factory_that_hands_out_one_env_has_it_checked_on_a_copy(tmp_path):
    # A second call of such a factory returns the run's own env: the check must not reset, step or close it.
    from rl_lightning.testing import CountingEnv

    seen = []

    class EnvThatNotesCalls(CountingEnv):
        def reset(self, **kwargs):
            seen.append(("reset", self))
            return super().reset(**kwargs)

        def close(self):
            seen.append(("close", self))
            super().close()

    shared = EnvThatNotesCalls()
    trainer = OnlineTrainer(lambda: shared, lambda env: RecordingAgent(), exp_dir=tmp_path / "exp", progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=20, seed_offset=0)

    calls = [name for name, env in seen if env is shared]
    assert calls[0] == "reset" and calls[-1] == "close" and calls.count("close") == 1  # the run's own calls only
    assert trainer.env.envs[0] is shared


def test_rerun_into_a_used_exp_dir_moves_the_earlier_results_aside(tmp_path):
    _trainer(tmp_path).multi_run(1, total_steps=20, seed_offset=0, checkpoint_freq=0)
    first = OnlineTrainer.load_run_metrics(tmp_path / "exp", 1)
    with pytest.warns(UserWarning, match="moved to"):
        _trainer(tmp_path).multi_run(1, total_steps=40, seed_offset=1)
    exp = tmp_path / "exp"
    (moved,) = os.listdir(exp / "previous")
    assert _same(OnlineTrainer.load_run_metrics(exp / "previous" / moved, 1), first)
    assert sorted(os.listdir(exp / "previous" / moved)) == ["Run1_Best_agent.t", "Run1_Last_agent.t",
                                                            "all_metrics.pkl", "checkpoints", "metrics_run1.pkl"]
    assert OnlineTrainer.load_run_metrics(exp, 1)[0]["agent_seed"] == 1
    assert not (exp / "Run1_Last_agent.t").exists()

    _trainer(tmp_path).multi_run(1, total_steps=20, seed_offset=2, overwrite=True)
    assert os.listdir(exp / "previous") == [moved]
    assert OnlineTrainer.load_run_metrics(exp, 1)[0]["agent_seed"] == 2
