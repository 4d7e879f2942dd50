"""PPO: its loss functions on hand-computed cases, its rollout bookkeeping, and a short learning run."""

import numpy as np
import pytest
import torch
from agent_helpers import bare_loop, evaluate, make_cartpole, make_target_env, train

from rl_lightning.agents import PPO
from rl_lightning.agents.ppo import approx_kl, clipfrac, explained_variance, gae, pg_loss, v_loss
from rl_lightning.testing import CountingEnv

ZOO = dict(n_steps=32, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8, learning_rate=1e-3)


def _column(*values):
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)  # [T, 1]: one sub-env


def test_gae_runs_backwards_and_stops_at_episode_ends():
    gamma, lam = 0.9, 0.5
    rewards, values = _column(1, 2, 3), _column(0.5, 1.0, 1.5)
    next_values = _column(1.0, 1.5, 2.0)
    no = _column(0, 0, 0)
    advantages = gae(rewards, values, next_values, no, no, gamma, lam)
    # deltas: 1 + .9*1 - .5 = 1.4; 2 + .9*1.5 - 1 = 2.35; 3 + .9*2 - 1.5 = 3.3
    a2 = 3.3
    a1 = 2.35 + gamma * lam * a2
    a0 = 1.4 + gamma * lam * a1
    torch.testing.assert_close(advantages, _column(a0, a1, a2))


def test_gae_bootstraps_a_truncated_step_from_its_final_observation_and_a_terminated_one_from_zero():
    gamma, lam = 0.9, 0.5
    rewards, values = _column(1, 1, 1), _column(2.0, 3.0, 4.0)
    # Step 1 ends an episode: next_values[1] = V(final observation) = 10; step 2 starts the next episode.
    next_values = _column(3.0, 10.0, 5.0)
    dones = _column(0, 1, 0)
    truncated = gae(rewards, values, next_values, _column(0, 0, 0), dones, gamma, lam)
    terminated = gae(rewards, values, next_values, _column(0, 1, 0), dones, gamma, lam)
    a2 = 1 + 0.9 * 5.0 - 4.0  # 1.5, not carried into step 1 (done)
    torch.testing.assert_close(truncated[1:], _column(1 + 0.9 * 10.0 - 3.0, a2))  # 7.0: bootstrapped from 10
    torch.testing.assert_close(terminated[1:], _column(1 - 3.0, a2))  # -2.0: no bootstrap
    torch.testing.assert_close(truncated[0], _column(1 + 0.9 * 3.0 - 2.0 + 0.45 * 7.0)[0])


def test_pg_loss_clips_the_ratio_on_the_side_the_advantage_favours():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5, 0.5])
    advantages = torch.tensor([1.0, -1.0, 2.0, -2.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A): 0.5 | -1 | min(3, 2.4) = 2.4 | min(-3, -2.4) = -3 | min(-0.5, -0.8) = -0.8
    expected = -(0.5 - 1.0 + 2.4 - 3.0 - 0.8) / 5
    assert pg_loss(advantages, ratio, 0.2).item() == pytest.approx(expected)


def test_v_loss_with_and_without_value_clipping():
    values, returns, old = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0]), torch.tensor([0.0, 2.9])
    assert v_loss(values, returns).item() == pytest.approx((1 + 1) / 2)
    # clipped predictions: 0 + clamp(1, ±0.5) = 0.5 -> error 2.25 > 1; 2.9 + clamp(0.1) = 3.0 -> error 1
    assert v_loss(values, returns, old, 0.5).item() == pytest.approx((2.25 + 1) / 2)


def test_approx_kl_clipfrac_and_explained_variance():
    log_ratio = torch.log(torch.tensor([1.0, 2.0, 0.5]))
    expected_kl = np.mean([(r - 1) - np.log(r) for r in (1.0, 2.0, 0.5)])
    assert approx_kl(log_ratio).item() == pytest.approx(expected_kl)
    assert clipfrac(log_ratio.exp(), 0.2).item() == pytest.approx(2 / 3)
    returns = torch.tensor([1.0, 2.0, 3.0])
    assert explained_variance(returns, returns).item() == pytest.approx(1.0)
    assert explained_variance(torch.full((3,), 2.0), returns).item() == pytest.approx(0.0)


@pytest.mark.parametrize("truncate", [False, True])
def test_the_rollout_masks_reset_steps_and_keeps_terminated_and_truncated_apart(truncate):
    import gymnasium as gym

    env = gym.vector.SyncVectorEnv([lambda: CountingEnv(3, 5, truncate=truncate) for _ in range(2)])
    agent = PPO.for_env(env, n_steps=40)
    bare_loop(agent, env, 39)  # one step short of a full rollout: nothing learned, the rollout is intact
    obs = agent.observations[:39, :, 0]
    real = agent.real[:39]
    # A reset step acts on the previous episode's final observation (t = episode length >= 3) and is masked;
    # every real step acts on an observation counted from the reset (t < length).
    ended = agent.dones[:39].astype(bool)
    np.testing.assert_array_equal(real[1:], ~ended[:-1])
    assert (obs[~real] >= 3).all() and (obs[0] == 0).all()
    assert agent.terminated[:39].sum() == (0 if truncate else ended.sum())
    assert real.sum() == 2 * 39 - ended[:-1].sum()


def test_ppo_learns_cartpole_in_a_few_thousand_steps():
    agent, episodes = train(make_cartpole(8), lambda env: PPO.for_env(env, **ZOO), total_steps=4_000)
    last = np.mean([e["ep_return"] for e in episodes[-20:]])
    assert last > 60  # a random policy averages about 22
    assert evaluate(agent, make_cartpole(1), num_episodes=5) > 60


def test_ppo_learns_continuous_actions():
    agent, _ = train(make_target_env(4), lambda env: PPO.for_env(env, n_steps=64, batch_size=64, learning_rate=3e-3,
                                                                 gamma=0.5), total_steps=4_000)
    # Random actions earn about -6.7 per 10-step episode; the optimum is 0.
    assert evaluate(agent, make_target_env(1), num_episodes=10) > -1.0


def test_linear_schedules_need_a_horizon_outside_a_step_budget():
    import gymnasium as gym

    env = gym.make_vec("CartPole-v1", num_envs=2)
    agent = PPO.for_env(env, n_steps=4, learning_rate_schedule="linear")
    with pytest.raises(ValueError, match="anneal_steps"):
        bare_loop(agent, env, 4)
    scheduled = PPO.for_env(env, n_steps=4, batch_size=8, learning_rate=1e-3, learning_rate_schedule="linear",
                            anneal_steps=16)
    bare_loop(scheduled, env, 4)  # 8 of 16 env steps spent: half the initial learning rate
    assert scheduled.optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-3)
