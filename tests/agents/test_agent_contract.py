"""What every built-in agent promises: the seed protocol under OnlineTrainer, save → load → same greedy actions,
greedy evaluation without updates, learning through Lightning equal to learning alone, and checked hyperparameters."""

import copy
import io

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from agent_helpers import TargetEnv, bare_loop, make_cartpole, make_target_env, reset_env

from rl_lightning import AgentModule, EmptyCallBack, OnlineTrainer
from rl_lightning.agents import DQN, PPO, SAC, DQNParams, PPOParams, RandomAgent, SACParams
from rl_lightning.testing import CountingEnv

# (name, make_env, make_agent, total_steps): small, fast settings for each agent and action kind.
CASES = [
    ("ppo-discrete", make_cartpole(4), lambda env: PPO.for_env(env, n_steps=16, batch_size=32, n_epochs=2), 640),
    ("ppo-continuous", make_target_env(2), lambda env: PPO.for_env(env, n_steps=16, batch_size=16, n_epochs=2), 320),
    ("dqn", make_cartpole(2), lambda env: DQN.for_env(env, learning_starts=64, batch_size=16, net_arch=(16,),
                                                      anneal_steps=400), 400),
    ("sac", make_target_env(2), lambda env: SAC.for_env(env, learning_starts=32, batch_size=16, net_arch=(16,)), 200),
]
IDS = [case[0] for case in CASES]


def _observations(make_env, n=16):
    env = make_env()
    space = gym.vector.utils.batch_space(env.single_observation_space, n)
    space.seed(7)
    return np.clip(space.sample(), -2, 2).astype(np.float32)


def _weights(agent):
    return agent.weights()


@pytest.mark.parametrize("name, make_env, make_agent, total_steps", CASES, ids=IDS)
def test_save_then_load_gives_the_same_greedy_actions(tmp_path, name, make_env, make_agent, total_steps):
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=tmp_path, progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=total_steps, seed_offset=0, checkpoint_freq=0, dump_metrics=False)
    trained = trainer.agent
    loaded = type(trained).load(str(tmp_path / "Run1_Last_agent.t"))
    assert loaded is not trained and loaded.params == trained.params
    trained.eval()
    loaded.eval()
    obs = _observations(make_env)
    np.testing.assert_array_equal(loaded.act(obs), trained.act(obs))
    best = type(trained).load(None, checkpoint=torch.load(tmp_path / "Run1_Best_agent.t", weights_only=False))
    assert best.eval().act(obs).shape == trained.act(obs).shape


@pytest.mark.parametrize("name, make_env, make_agent, total_steps", CASES, ids=IDS)
def test_evaluation_acts_greedily_and_never_learns(name, make_env, make_agent, total_steps):
    agent = make_agent(make_env())
    before = _weights(agent)
    trainer = OnlineTrainer(make_env, agent, train=False, progress=False)  # an instance is reused as it is
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, num_episodes=4, seed_offset=0, dump_metrics=False, keep_metrics_in_memory=True)[0]
    assert trainer.agent is agent and not agent.training and agent.env_steps == 0
    for key, value in _weights(agent).items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    obs = _observations(make_env, n=1)
    agent.set_num_env(1)
    assert all(np.array_equal(agent.act(obs), agent.act(obs)) for _ in range(3))  # greedy: deterministic
    assert len(episodes) >= 4


@pytest.mark.parametrize("name, make_env, make_agent, total_steps", CASES, ids=IDS)
def test_learning_through_lightning_equals_learning_alone(name, make_env, make_agent, total_steps):
    """The same run twice: once fitted by Lightning (backward and optimizer steps through the module), once by a
    bare loop (the agent's own backward and steps). Same seeds, so the same episodes and the same weights."""
    agent = make_agent(make_env())
    module = AgentModule(agent, make_env, total_steps=total_steps, seed=3, keep_metrics_in_memory=True)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False)
    trainer.fit(module)
    assert trainer.global_step > 0  # optimizer steps went through Lightning's optimizers
    alone = make_agent(make_env())
    bare_loop(alone, make_env(), total_steps // agent.num_envs, seed=3)
    assert alone.env_steps == agent.env_steps == total_steps
    for key, value in _weights(alone).items():
        torch.testing.assert_close(value, agent.weights()[key], rtol=0, atol=0, msg=key)


def test_an_agent_detached_after_a_fit_learns_on_its_own():
    agent = PPO.for_env(make_cartpole(2)(), n_steps=8, batch_size=16, n_epochs=1)
    OnlineTrainer(make_cartpole(2), agent, progress=False).multi_run(1, total_steps=32, seed_offset=0,
                                                                      dump_metrics=False)
    assert agent._lightning_module() is None  # the fit is over: no trainer to step through
    before = _weights(agent)
    env = make_cartpole(2)()
    obs = reset_env(env, 0)
    for _ in range(8):
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs
    assert any(not torch.equal(v, before[k]) for k, v in _weights(agent).items())


def test_random_agent_runs_through_the_trainer_and_reloads(tmp_path):
    trainer = OnlineTrainer(make_cartpole(2), RandomAgent.for_env, exp_dir=tmp_path, progress=False)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, total_steps=400, seed_offset=0, checkpoint_freq=0, dump_metrics=False)[0]
    assert 10 < np.mean([e["ep_return"] for e in episodes]) < 40
    loaded = RandomAgent.load(str(tmp_path / "Run1_Last_agent.t"))
    assert loaded.action_space == trainer.agent.action_space and loaded.num_envs == 2


def test_a_loaded_random_agent_continues_the_same_action_stream(tmp_path):
    import gymnasium as gym

    agent = RandomAgent(gym.spaces.Discrete(3), num_envs=4)
    agent.reset(7)
    for _ in range(100):
        agent.act(None)
    loaded = RandomAgent.load(None, checkpoint=agent.save())  # what a resumed run restores
    # 300 more vector steps cross the boundary of the 256-step block drawn at once.
    assert all(np.array_equal(agent.act(None), loaded.act(None)) for _ in range(300))


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("params_class, name, value, valid", [
    (PPOParams, "gamma", 1.5, r"\[0, 1\]"),
    (PPOParams, "clip_range", 0.0, r"\(0, inf\)"),
    (PPOParams, "n_steps", 0, r"\[1, inf\)"),
    (PPOParams, "ent_coef", -0.1, r"\[0, inf\)"),
    (DQNParams, "exploration_final_eps", 2.0, r"\[0, 1\]"),
    (DQNParams, "tau", 0.0, r"\(0, 1\]"),
    (DQNParams, "learning_starts", -1, r"\[0, inf\)"),
    (SACParams, "learning_rate", -1e-3, r"\(0, inf\)"),
    (SACParams, "batch_size", 0, r"\[1, inf\)"),
])
def test_bad_hyperparameters_name_the_parameter_the_value_and_the_valid_range(params_class, name, value, valid):
    with pytest.raises(ValueError, match=rf"{params_class.__name__}\.{name}={value!r} is out of range; "
                                         rf"valid range: {valid}"):
        params_class(**{name: value})


def test_wrong_types_and_unknown_hyperparameters_are_refused():
    with pytest.raises(TypeError, match=r"PPOParams.n_steps must be int, got 32.5"):
        PPOParams(n_steps=32.5)
    with pytest.raises(TypeError, match=r"DQNParams.double_q must be bool, got 'yes'"):
        DQNParams(double_q="yes")
    with pytest.raises(ValueError, match=r"unknown PPOParams key\(s\) 'n_step'; valid keys are: n_steps, "):
        PPO.for_env(make_cartpole(2)(), n_step=32)
    assert PPOParams(net_arch=[32, 32]).net_arch == (32, 32)  # YAML lists become tuples


def test_agents_refuse_spaces_they_cannot_handle():
    with pytest.raises(TypeError, match="DQN needs a Discrete action space"):
        DQN.for_env(make_target_env(1)())
    with pytest.raises(TypeError, match="SAC needs a bounded Box action space"):
        SAC.for_env(make_cartpole(1)())
    with pytest.raises(TypeError, match="needs a Box observation space"):
        PPO(gym.spaces.Discrete(3), gym.spaces.Discrete(2))


def test_agents_need_next_step_autoreset():
    env = gym.vector.SyncVectorEnv([TargetEnv], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="autoreset_mode=AutoresetMode.NEXT_STEP"):
        SAC.for_env(env)


def test_set_hp_changes_what_it_can_and_refuses_structural_changes():
    agent = DQN.for_env(gym.vector.SyncVectorEnv([lambda: CountingEnv()]), learning_starts=10)
    agent.set_hp({"learning_rate": 5e-4, "gamma": 0.9})
    agent.reset(0)
    assert agent.params.gamma == 0.9 and agent.optimizer.param_groups[0]["lr"] == 5e-4
    with pytest.raises(ValueError, match="set_hp cannot change net_arch"):
        agent.set_hp({"net_arch": [8]})
    with pytest.raises(ValueError, match="DQNParams.gamma=-1"):
        agent.set_hp({"gamma": -1})
    assert copy.deepcopy(agent).params == agent.params


@pytest.mark.parametrize("name, make_env, make_agent, total_steps", CASES, ids=IDS)
def test_the_state_dict_carries_the_training_state_so_a_copy_continues_identically(name, make_env, make_agent,
                                                                                    total_steps):
    """What a Lightning checkpoint restores (weights, optimizer state and the agent's extra state: counters,
    generator, rollout or replay buffer) continues the run exactly; it loads with ``weights_only``."""

    def run(agent, env, obs, vector_steps):
        for _ in range(vector_steps):
            next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            agent.update(next_obs, reward, terminated, truncated)
            obs = next_obs
        return obs

    env = make_env()
    agent = make_agent(env)
    agent.reset(5)
    agent.set_num_env(env.num_envs)
    half = total_steps // (2 * env.num_envs) + 3  # mid-rollout, mid-episode
    obs = run(agent, env, reset_env(env, 5), half)
    file = io.BytesIO()
    torch.save({"state_dict": agent.state_dict(), "optimizers": [o.state_dict() for o in agent.optimizer_list]}, file)
    file.seek(0)
    saved = torch.load(file, weights_only=True)
    twin = make_agent(make_env())
    twin.load_state_dict(saved["state_dict"])
    for optimizer, state in zip(twin.optimizer_list, saved["optimizers"], strict=True):
        optimizer.load_state_dict(state)
    twin_env, twin_obs = copy.deepcopy(env), obs.copy()
    run(agent, env, obs, half)
    run(twin, twin_env, twin_obs, half)
    assert twin.env_steps == agent.env_steps == 2 * half * env.num_envs
    for key, value in _weights(twin).items():
        torch.testing.assert_close(value, agent.weights()[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("precision, case", [("bf16-mixed", 0), ("bf16-mixed", 3), ("64-true", 2)],
                         ids=["bf16-ppo", "bf16-sac", "64-dqn"])
def test_lightning_precision_plugins_reach_the_agent(precision, case):
    """bf16 autocast (fused Adam clipped under MixedPrecision, bfloat16 outputs to numpy) and float64 weights."""
    _, make_env, make_agent, total_steps = CASES[case]
    trainer = OnlineTrainer(make_env, make_agent, progress=False, trainer_kwargs={"precision": precision})
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=total_steps, seed_offset=0, dump_metrics=False)
    agent = trainer.agent
    assert agent.n_updates > 0
    assert agent.dtype == (torch.float64 if precision == "64-true" else torch.float32)
    agent.eval()
    assert agent.act(_observations(make_env, n=agent.num_envs)).shape[0] == agent.num_envs
