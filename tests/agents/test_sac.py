"""SAC: its losses on hand-computed cases, what enters the replay buffer, and a short learning run."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import TargetEnv, bare_loop, evaluate, make_target_env, train

from rl_lightning.agents import SAC
from rl_lightning.agents.sac import actor_loss, alpha_loss, critic_loss, soft_td_target, squashed_gaussian


def test_squashed_gaussian_log_prob_matches_torch_distributions():
    mean, log_std = torch.tensor([[0.3, -1.0]]), torch.tensor([[-0.5, 0.2]])
    noise = torch.tensor([[0.7, -1.3]])
    action, log_prob = squashed_gaussian(mean, log_std, noise)
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform()])
    torch.testing.assert_close(action, torch.tanh(mean + log_std.exp() * noise))
    torch.testing.assert_close(log_prob, reference.log_prob(action).sum(-1), rtol=1e-4, atol=1e-4)


def test_soft_td_target_critic_actor_and_alpha_losses():
    target = soft_td_target(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), torch.tensor([4.0, 4.0]),
                            torch.tensor([-2.0, -2.0]), torch.tensor(0.5), gamma=0.9)
    torch.testing.assert_close(target, torch.tensor([1 + 0.9 * (4.0 + 1.0), 1.0]))
    loss = critic_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx(0.5 * ((0 + 1) / 2 + (1 + 1) / 2))
    assert actor_loss(torch.tensor([-1.0, -3.0]), torch.tensor([2.0, 4.0]), torch.tensor(0.5)).item() == \
        pytest.approx(((-0.5 - 2.0) + (-1.5 - 4.0)) / 2)
    # Entropy below the target (log_prob + target > 0): the gradient on log α is negative, so α grows.
    log_alpha = torch.zeros((), requires_grad=True)
    alpha_loss(log_alpha, torch.tensor([0.5]), target_entropy=-0.2).backward()
    assert log_alpha.grad.item() == pytest.approx(-0.3)


def test_reset_steps_never_enter_the_replay_buffer_and_truncation_bootstraps():
    env = gym.vector.SyncVectorEnv([lambda: TargetEnv(length=3) for _ in range(2)])
    agent = SAC.for_env(env, net_arch=(8,), learning_starts=10**6)
    bare_loop(agent, env, 12)  # episodes of 3 steps, each followed by a reset step: 9 real steps per sub-env
    assert len(agent.buffer) == 2 * 9
    assert agent.buffer.terminated.sum().item() == 0  # truncated, never terminated
    # TargetEnv pays -(action - observation)^2 <= 0; a reset step would have paid exactly 0.
    assert (agent.buffer.rewards[:18] < 0).all()


def test_sac_learns_a_continuous_target():
    agent, _ = train(make_target_env(4), lambda env: SAC.for_env(env, net_arch=(32, 32), learning_starts=200,
                                                                 batch_size=64, learning_rate=3e-3),
                     total_steps=1_500)
    # Random actions earn about -6.7 per 10-step episode; the optimum is 0.
    assert evaluate(agent, make_target_env(1), num_episodes=10) > -1.0


def test_sac_rescales_actions_to_the_bounds():
    space = gym.spaces.Box(np.array([0.0, -4.0], dtype=np.float32), np.array([2.0, 4.0], dtype=np.float32))
    agent = SAC(gym.spaces.Box(-1, 1, (3,)), space, net_arch=(8,), learning_starts=0)
    actions = agent.act(np.zeros((1, 3), dtype=np.float32))
    assert actions.shape == (1, 2) and space.contains(actions[0])
    np.testing.assert_allclose(agent._to_env_action(np.array([[-1.0, 1.0]])), [[0.0, 4.0]])
