"""A2C: its losses on hand-computed cases, one update against a hand-written oracle, and short learning runs."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import evaluate, make_cartpole, make_target_env, reset_env, train

from rl_lightning.agents import A2C
from rl_lightning.agents.a2c import pg_loss, v_loss
from rl_lightning.testing import CountingEnv


def test_pg_loss_and_v_loss():
    advantages, log_prob = torch.tensor([1.0, -2.0]), torch.log(torch.tensor([0.5, 0.25]))
    assert pg_loss(advantages, log_prob).item() == pytest.approx(-(np.log(0.5) - 2 * np.log(0.25)) / 2)
    assert v_loss(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])).item() == pytest.approx(1.0)


def _oracle_update(agent, observations, actions, rewards, terminated, truncated, next_obs, real):
    """A2C's update written out: n-step returns per sub-env (λ = 1), then one RMSprop step on the rollout's loss."""
    p = agent.params
    steps, num_envs = rewards.shape
    with torch.no_grad():
        flat = torch.as_tensor(observations).reshape(steps * num_envs, -1)
        values = agent.policy.value(flat).reshape(steps, num_envs)
        last_values = agent.policy.value(torch.as_tensor(next_obs))
    returns = torch.zeros(steps, num_envs)
    for i in range(num_envs):
        following = last_values[i]  # the value of what the last step led to
        for t in range(steps - 1, -1, -1):
            if terminated[t, i]:
                following = torch.tensor(0.0)
            elif truncated[t, i] and t + 1 < steps:
                following = values[t + 1, i]  # the final observation is what the next (reset) step acts on
            returns[t, i] = rewards[t, i] + p.gamma * following
            following = returns[t, i]
    mask = torch.as_tensor(real).reshape(-1)
    obs = torch.as_tensor(observations).reshape(steps * num_envs, -1)[mask]
    acts = torch.as_tensor(actions).reshape(-1)[mask]
    returns, old_values = returns.reshape(-1)[mask], values.reshape(-1)[mask]
    logits = agent.policy.actor(obs)
    log_prob = torch.log_softmax(logits, -1).gather(-1, acts.long().unsqueeze(-1)).squeeze(-1)
    loss = -((returns - old_values) * log_prob).mean() + p.vf_coef * ((agent.policy.value(obs) - returns) ** 2).mean()
    optimizer = torch.optim.RMSprop(agent.parameters(), lr=p.learning_rate, alpha=0.99, eps=p.rms_prop_eps)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(agent.parameters()), p.max_grad_norm)
    optimizer.step()


@pytest.mark.parametrize("truncate", [False, True])
def test_one_update_is_one_rmsprop_step_on_the_n_step_return_loss(truncate):
    env = gym.vector.SyncVectorEnv([lambda: CountingEnv(2, 4, truncate=truncate) for _ in range(3)])
    agent = A2C.for_env(env, n_steps=8)
    agent.reset(0)
    agent.set_num_env(3)
    obs = reset_env(env, 0)
    observations, actions, rewards, terminated, truncated = [], [], [], [], []
    for _ in range(8):
        action = agent.act(obs)
        next_obs, reward, term, trunc, _ = env.step(action)
        if len(rewards) == 7:
            oracle = copy.deepcopy(agent)  # the agent as it learns: rollout full, weights not yet changed
        observations.append(obs), actions.append(action), rewards.append(reward)
        terminated.append(term), truncated.append(trunc)
        agent.update(next_obs, reward, term, trunc)
        obs = next_obs
    assert agent.n_updates == 1
    real = np.ones((8, 3), dtype=bool)
    real[1:] = ~(np.array(terminated) | np.array(truncated))[:-1]  # a step after an episode's end is a reset step
    assert (~real).sum() > 2
    _oracle_update(oracle, np.array(observations, dtype=np.float32), np.array(actions), np.array(rewards),
                   np.array(terminated), np.array(truncated), obs, real)
    for key, value in oracle.weights().items():
        torch.testing.assert_close(agent.weights()[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_a2c_learns_cartpole_in_twenty_thousand_steps():
    agent, episodes = train(make_cartpole(8), A2C.for_env, total_steps=20_000)  # the zoo's settings are the defaults
    assert np.mean([e["ep_return"] for e in episodes[-20:]]) > 100  # a random policy averages about 22
    assert evaluate(agent, make_cartpole(1), num_episodes=5) > 100


def test_a2c_learns_continuous_actions():
    agent, _ = train(make_target_env(4), lambda env: A2C.for_env(env, n_steps=16, learning_rate=3e-3, gamma=0.5),
                     total_steps=6_000)
    # Random actions earn about -6.7 per 10-step episode; the optimum is 0.
    assert evaluate(agent, make_target_env(1), num_episodes=10) > -1.5


def test_a2c_segments_hold_whole_rollouts_and_the_zoo_defaults_are_sb3s():
    agent = A2C.for_env(make_cartpole(8)())
    assert agent.segment_steps == 130 and agent.segment_steps % agent.params.n_steps == 0
    p = agent.params
    assert (p.n_steps, p.gamma, p.gae_lambda, p.learning_rate, p.ent_coef, p.vf_coef, p.max_grad_norm) == \
        (5, 0.99, 1.0, 7e-4, 0.0, 0.5, 0.5)
    assert isinstance(agent.optimizer, torch.optim.RMSprop) and agent.optimizer.defaults["eps"] == 1e-5
    assert agent.optimizer.defaults["alpha"] == 0.99 and not p.normalize_advantage
