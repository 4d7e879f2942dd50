"""YAML agent configs: the shipped ones load and build, and every mistake is reported with what is valid."""

import os

import gymnasium as gym
import pytest

from rl_lightning.agents import A2C, DQN, PPO, SAC, TD3, AgentConfig, RandomAgent, load_agent_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


@pytest.mark.parametrize("name, agent_class, num_envs", [
    ("ppo_cartpole.yaml", PPO, 8), ("dqn_cartpole.yaml", DQN, 1), ("sac_pendulum.yaml", SAC, 1),
    ("random_cartpole.yaml", RandomAgent, 8), ("a2c_cartpole.yaml", A2C, 8), ("td3_pendulum.yaml", TD3, 1),
])
def test_shipped_configs_build_their_env_and_agent(name, agent_class, num_envs):
    config = load_agent_config(os.path.join(CONFIGS, name))
    env = config.make_env()
    agent = config.make_agent(env)
    assert isinstance(agent, agent_class) and env.num_envs == num_envs
    assert config.threshold in (475.0, -200.0)


def test_the_zoo_settings_arrive_typed():
    ppo = load_agent_config(os.path.join(CONFIGS, "ppo_cartpole.yaml"))
    params = ppo.build_params()
    assert (params.n_steps, params.batch_size, params.n_epochs, params.gamma, params.gae_lambda) == (32, 256, 20, 0.98,
                                                                                                    0.8)
    assert params.learning_rate == 1e-3 and params.learning_rate_schedule == params.clip_range_schedule == "linear"
    assert ppo.total_steps == 100_000 and ppo.vectorization_mode == "vector_entry_point"
    dqn = load_agent_config(os.path.join(CONFIGS, "dqn_cartpole.yaml")).build_params()
    assert dqn.net_arch == (256, 256) and dqn.learning_rate == 2.3e-3 and dqn.train_freq == 256
    a2c = load_agent_config(os.path.join(CONFIGS, "a2c_cartpole.yaml"))
    assert a2c.total_steps == 500_000 and a2c.num_envs == 8
    assert a2c.build_params() == A2C.params_class(ent_coef=0.0)  # the zoo's CartPole: A2C's defaults, 8 envs
    td3 = load_agent_config(os.path.join(CONFIGS, "td3_pendulum.yaml"))
    p = td3.build_params()
    assert td3.total_steps == 20_000 and td3.num_envs == 1
    assert (p.gamma, p.buffer_size, p.learning_starts, p.action_noise_std, p.train_freq, p.gradient_steps,
            p.learning_rate, p.net_arch) == (0.98, 200_000, 10_000, 0.1, 1, 1, 1e-3, (400, 300))
    assert (p.batch_size, p.tau, p.policy_delay, p.target_policy_noise, p.target_noise_clip) == (256, 0.005, 2, 0.2,
                                                                                                 0.5)


def _write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


BASE = "env_id: CartPole-v1\nagent: PPO\ntotal_steps: 1000\n"


def test_unknown_top_level_key_lists_the_valid_keys(tmp_path):
    with pytest.raises(ValueError, match=r"unknown config key\(s\) 'n_envs'; valid keys are: env_id, agent, "
                                         r"total_steps, num_envs, vectorization_mode, env_kwargs, hyperparameters, "
                                         r"solve_threshold\."):
        load_agent_config(_write(tmp_path, BASE + "n_envs: 8\n"))


def test_unknown_hyperparameter_lists_the_agents_valid_keys(tmp_path):
    with pytest.raises(ValueError, match=r"unknown PPOParams key\(s\) 'lr'; valid keys are: n_steps, batch_size, "):
        load_agent_config(_write(tmp_path, BASE + "hyperparameters:\n  lr: 0.001\n"))


def test_missing_keys_wrong_types_and_bad_values(tmp_path):
    with pytest.raises(ValueError, match=r"missing config key\(s\) total_steps; valid keys are"):
        load_agent_config(_write(tmp_path, "env_id: CartPole-v1\nagent: PPO\n"))
    with pytest.raises(TypeError, match=r"config key num_envs must be int, got '8'"):
        load_agent_config(_write(tmp_path, BASE + "num_envs: '8'\n"))
    with pytest.raises(ValueError, match=r"total_steps=0 is out of range; valid range: \[1, inf\)"):
        load_agent_config(_write(tmp_path, "env_id: CartPole-v1\nagent: PPO\ntotal_steps: 0\n"))
    with pytest.raises(ValueError, match=r"PPOParams.gamma=2.0 is out of range; valid range: \[0, 1\]"):
        load_agent_config(_write(tmp_path, BASE + "hyperparameters:\n  gamma: 2.0\n"))
    with pytest.raises(ValueError, match=r"vectorization_mode='threads' is not supported; valid values are 'sync'"):
        load_agent_config(_write(tmp_path, BASE + "vectorization_mode: threads\n"))
    with pytest.raises(ValueError, match=r"env_id='CartPol-v1' is not a registered gymnasium env"):
        load_agent_config(_write(tmp_path, BASE.replace("CartPole", "CartPol")))
    with pytest.raises(ValueError, match=r"agent='PPO2' is not a registered agent \(nearest: 'PPO'\); registered "
                                         r"agents: A2C, DQN, PPO, RandomAgent, SAC, TD3\."):
        load_agent_config(_write(tmp_path, BASE.replace("PPO", "PPO2")))
    with pytest.raises(ValueError, match=r"agent 'RandomAgent' takes no hyperparameters; got gamma"):
        load_agent_config(_write(tmp_path, BASE.replace("PPO", "RandomAgent") + "hyperparameters:\n  gamma: 0.9\n"))


def test_exponents_without_a_dot_are_floats_and_class_paths_work(tmp_path):
    config = load_agent_config(_write(tmp_path, BASE.replace("PPO", "rl_lightning.agents.ppo.PPO")
                                      + "hyperparameters:\n  learning_rate: 3e-4\n"))
    assert config.build_params().learning_rate == 3e-4 and config.agent_class is PPO


def test_a_config_built_in_code_is_checked_too():
    config = AgentConfig(env_id="Pendulum-v1", agent="SAC", total_steps=10, hyperparameters={"net_arch": [8]})
    assert isinstance(config.make_agent(config.make_env()), SAC)
    assert isinstance(config.make_env(num_envs=2), gym.vector.VectorEnv)
