"""TD3: its losses on hand-computed cases, the delayed actor and target updates, what enters the replay buffer, and a
short learning run."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import TargetEnv, bare_loop, evaluate, make_target_env, reset_env, train

from rl_lightning.agents import TD3
from rl_lightning.agents.td3 import actor_loss, critic_loss, smoothed_target_action, td_target


def test_target_policy_smoothing_clips_the_noise_then_the_action():
    target = torch.tensor([[0.0, 0.9, -0.2]])
    noise = torch.tensor([[0.7, 0.3, -0.1]])
    # noise clipped to ±0.5: 0.5, 0.3, -0.1; actions clipped to [-1, 1]: 0.5, 1.0 (not 1.2), -0.3
    torch.testing.assert_close(smoothed_target_action(target, noise, 0.5), torch.tensor([[0.5, 1.0, -0.3]]))


def test_td_target_critic_and_actor_losses():
    torch.testing.assert_close(td_target(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), torch.tensor([3.0, 3.0]),
                                         0.9), torch.tensor([1 + 0.9 * 3.0, 1.0]))
    loss = critic_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx((0 + 1) / 2 + (1 + 1) / 2)  # the sum of both critics' MSE, as SB3
    assert actor_loss(torch.tensor([2.0, 4.0])).item() == pytest.approx(-3.0)


def test_the_actor_and_the_targets_move_every_policy_delay_critic_steps():
    env = gym.vector.SyncVectorEnv([lambda: TargetEnv(length=5) for _ in range(2)])
    agent = TD3.for_env(env, net_arch=(8,), learning_starts=10, batch_size=4, gradient_steps=1, policy_delay=3)
    agent.reset(0)
    agent.set_num_env(2)
    obs = reset_env(env, 0)
    for vector_step in range(1, 16):
        before = {name: [p.clone() for p in getattr(agent, name).parameters()]
                  for name in ("actor", "critic", "actor_target", "critic_target")}
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs
        moved = {name: any(not torch.equal(a, b) for a, b in zip(params, getattr(agent, name).parameters(),
                                                                 strict=True))
                 for name, params in before.items()}
        learned = 2 * vector_step > 10  # more than learning_starts env steps taken
        assert agent.n_updates == max(0, vector_step - 5)
        delayed = learned and agent.n_updates % 3 == 0
        assert moved == {"actor": delayed, "critic": learned, "actor_target": delayed, "critic_target": delayed}


def test_reset_steps_never_enter_the_replay_buffer_and_truncation_bootstraps():
    env = gym.vector.SyncVectorEnv([lambda: TargetEnv(length=3) for _ in range(2)])
    agent = TD3.for_env(env, net_arch=(8,), learning_starts=10**6)
    bare_loop(agent, env, 12)  # episodes of 3 steps, each followed by a reset step: 9 real steps per sub-env
    assert len(agent.buffer) == 2 * 9 and agent.buffer.terminated.sum().item() == 0
    assert (agent.buffer.rewards[:18] < 0).all()  # a reset step would have paid exactly 0


def test_exploration_noise_and_bounds():
    space = gym.spaces.Box(np.array([0.0, -4.0], dtype=np.float32), np.array([2.0, 4.0], dtype=np.float32))
    agent = TD3(gym.spaces.Box(-1, 1, (3,)), space, net_arch=(8,), learning_starts=0, action_noise_std=0.5)
    obs = np.zeros((1, 3), dtype=np.float32)
    noisy = np.stack([agent.act(obs)[0] for _ in range(50)])
    assert all(space.contains(a) for a in noisy) and noisy.std(0).min() > 0.1
    agent.eval()
    greedy = agent.act(obs)
    assert np.array_equal(greedy, agent.act(obs)) and space.contains(greedy[0])


def test_td3_learns_a_continuous_target():
    agent, _ = train(make_target_env(4), lambda env: TD3.for_env(env, net_arch=(32, 32), learning_starts=200,
                                                                 batch_size=64, gamma=0.5), total_steps=1_500)
    # Random actions earn about -6.7 per 10-step episode; the optimum is 0.
    assert evaluate(agent, make_target_env(1), num_episodes=10) > -1.0
