"""DQN: TD targets and ε on hand-computed cases, what enters the replay buffer, and a short learning run."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import evaluate, make_cartpole, reset_env, train

from rl_lightning.agents import DQN
from rl_lightning.agents.dqn import epsilon, q_loss, td_target
from rl_lightning.testing import CountingEnv


def test_td_target_zeroes_the_bootstrap_only_on_termination():
    rewards, terminated = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0])
    next_q = torch.tensor([[2.0, 5.0], [7.0, 3.0]])
    torch.testing.assert_close(td_target(rewards, terminated, next_q, 0.9), torch.tensor([1 + 0.9 * 5.0, 1.0]))


def test_double_q_picks_with_the_online_network_and_values_with_the_target():
    rewards, terminated = torch.tensor([0.0]), torch.tensor([0.0])
    next_q_target, next_q_online = torch.tensor([[2.0, 5.0]]), torch.tensor([[9.0, 1.0]])
    torch.testing.assert_close(td_target(rewards, terminated, next_q_target, 0.5, next_q_online), torch.tensor([1.0]))


def test_q_loss_is_huber():
    assert q_loss(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0])).item() == pytest.approx((0.125 + 2.5) / 2)


def test_epsilon_decays_linearly_then_stays():
    assert epsilon(0.0, 1.0, 0.04, 0.16) == 1.0
    assert epsilon(0.08, 1.0, 0.04, 0.16) == pytest.approx(0.52)
    assert epsilon(0.5, 1.0, 0.04, 0.16) == pytest.approx(0.04)
    assert epsilon(0.3, 1.0, 0.1, 0.0) == 0.1


def _fill(truncate, vector_steps=60, num_envs=3):
    env = gym.vector.SyncVectorEnv([lambda: CountingEnv(3, 6, truncate=truncate) for _ in range(num_envs)])
    agent = DQN.for_env(env, learning_starts=10**6, exploration_fraction=0.0)  # acts, stores, never learns
    agent.reset(0)
    agent.set_num_env(num_envs)
    obs, _ = env.reset(seed=list(range(num_envs)))
    reset_steps = endings = 0
    ended = np.zeros(num_envs, dtype=bool)
    for _ in range(vector_steps):
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        reset_steps += ended.sum()
        ended = terminated | truncated
        endings += ended.sum()
        obs = next_obs
    return agent.buffer, vector_steps * num_envs - reset_steps, endings


@pytest.mark.parametrize("truncate", [False, True])
def test_reset_steps_never_enter_the_replay_buffer(truncate):
    buffer, real_steps, endings = _fill(truncate)
    n = len(buffer)
    assert n == real_steps and endings > 10
    # CountingEnv counts steps since the reset: every real transition goes from t to t + 1, the last one of an
    # episode to its final observation (t = length). A reset step's would go from that count back to 0.
    torch.testing.assert_close(buffer.next_observations[:n, 0], buffer.observations[:n, 0] + 1)
    # Only termination is stored as terminal: a truncated episode's last transition bootstraps.
    assert buffer.terminated[:n].sum().item() == (0 if truncate else endings)


def test_learning_phases_and_target_syncs_follow_stable_baselines3s_step_counts():
    # Two sub-envs: learn every 4 vector steps once more than 16 env steps were taken (vector steps 12, 16, 20, 24),
    # and copy the online network into the target every 10 // 2 = 5 vector steps, between learning phases only.
    env = gym.vector.SyncVectorEnv([lambda: CountingEnv(3, 6) for _ in range(2)])
    agent = DQN.for_env(env, learning_starts=16, train_freq=4, gradient_steps=3, target_update_interval=10,
                        batch_size=4, exploration_fraction=0.0)
    agent.reset(0)
    agent.set_num_env(2)
    obs = reset_env(env, 0)
    for vector_step in range(1, 25):
        target_before = [p.clone() for p in agent.q_target.parameters()]
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs
        phases = len([s for s in range(4, vector_step + 1, 4) if 2 * s > 16])
        assert agent.n_updates == 3 * phases
        target_moved = any(not torch.equal(a, b) for a, b in zip(target_before, agent.q_target.parameters()))
        assert target_moved == (vector_step in (15, 20))  # at 5 and 10 nothing was learned yet: a copy changes nothing
        if vector_step == 15:  # no learning phase on this step: the target is now the online network
            assert all(torch.equal(a, b) for a, b in zip(agent.q_net.parameters(), agent.q_target.parameters()))


def test_dqn_learns_cartpole_quickly_with_frequent_updates():
    hp = dict(learning_rate=1e-3, batch_size=64, buffer_size=20_000, learning_starts=500, target_update_interval=200,
              train_freq=4, gradient_steps=4, exploration_fraction=0.2, exploration_final_eps=0.05)
    agent, episodes = train(make_cartpole(4), lambda env: DQN.for_env(env, **hp), total_steps=8_000)
    assert np.mean([e["ep_return"] for e in episodes[-20:]]) > 45  # a random policy averages about 22
    assert evaluate(agent, make_cartpole(1), num_episodes=5) > 45
