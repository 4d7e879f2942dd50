"""A sweep config written in Python, for agents that have no YAML agent config (your own seed-protocol agents).

    rl-lightning sweep --config configs/sweeps/python_config_example.py \
        --search-space configs/sweeps/python_config_space.yaml --n-trials 20 --study-name my-agent

``rl-lightning sweep`` calls ``make_env()`` and ``make_agent(env)`` for every run of every trial. With
``make_agent(env)`` the trial's hyperparameters reach the agent through ``agent.set_hp(hp)`` before
``agent.reset(seed)`` (the seed agent protocol); define ``make_agent(env, hp)`` instead to build the agent with
them. ``num_runs``, ``total_steps`` or ``num_episodes`` set here are defaults for the command's options.
"""

import gymnasium as gym

from rl_lightning.agents import PPO

num_runs = 2
total_steps = 20_000  # env steps per run, summed over the 8 sub-envs


def make_env():
    return gym.make_vec("CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point")


def make_agent(env):
    # set_hp may change any hyperparameter but the network's shape (net_arch, activation).
    return PPO.for_env(env, n_steps=32, batch_size=256, n_epochs=10)
