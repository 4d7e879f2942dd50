"""A lean plain-PyTorch DQN on CartPole-v1 with rl-baselines3-zoo's settings: the speed floor for our DQN.

Same math and schedule as ``configs/dqn_cartpole.yaml`` and Stable-Baselines3's DQN: a 256x256 ReLU Q-network,
Huber loss on batches of 64, Adam (lr 2.3e-3, fused), gradient norm clipped at 10, a 100k replay buffer, learning
from env step 1,000 on, 128 gradient steps every 256 env steps, a hard target copy every 10 env steps (counted from
the start, as SB3 does), epsilon linear from 1 to 0.04 over the first 16% of the budget, random actions before
``learning_starts``. A truncated episode bootstraps from its final observation; a terminated one from 0.

Env: the config's, ``gym.make_vec("CartPole-v1", 1, vectorization_mode="sync")`` with next-step autoreset. The step
after an episode ended is its reset step (action ignored, reward 0): as in ours it counts as an env step and is not
stored. Acting is a greedy forward pass under ``inference_mode``; the buffer is preallocated torch tensors sampled
with ``torch.randint``.

Left out compared with ours: Lightning, callbacks, metrics (losses and Q statistics are not logged), checkpoints,
double Q and soft targets (off in these settings), and agent state for exact resume.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

LR, BATCH, BUFFER, STARTS, GAMMA = 2.3e-3, 64, 100_000, 1_000, 0.99
TARGET_EVERY, TRAIN_FREQ, GRAD_STEPS, EXPL_FRACTION, FINAL_EPS, MAX_NORM = 10, 256, 128, 0.16, 0.04, 10.0


def run(total_steps: int, seed: int) -> tuple[float, float]:
    """Train for ``total_steps`` env steps (reset steps included); return (env steps/s, last-100 training mean)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make_vec("CartPole-v1", 1, vectorization_mode="sync")
    obs_dim, n_act = env.single_observation_space.shape[0], env.single_action_space.n
    q_net = nn.Sequential(nn.Linear(obs_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_act))
    target = nn.Sequential(nn.Linear(obs_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_act))
    target.load_state_dict(q_net.state_dict())
    target.requires_grad_(False)
    params = list(q_net.parameters())
    opt = torch.optim.Adam(params, lr=LR, fused=True)
    size = min(BUFFER, total_steps)
    b_obs, b_next = torch.zeros(size, obs_dim), torch.zeros(size, obs_dim)
    b_act, b_rew, b_term = torch.zeros(size, dtype=torch.long), torch.zeros(size), torch.zeros(size)
    pos = full = 0

    obs, _ = env.reset(seed=seed)
    was_done, ep_ret, returns = False, 0.0, []
    for step in range(1, total_steps + 1):
        eps = max(FINAL_EPS, 1.0 + (FINAL_EPS - 1.0) * (step - 1) / (EXPL_FRACTION * total_steps))
        if step <= STARTS or rng.random() < eps:
            action = int(rng.integers(n_act))
        else:
            with torch.inference_mode():
                action = int(q_net(torch.from_numpy(obs)).argmax())
        next_obs, reward, term, trunc, _ = env.step(np.array([action]))
        if not was_done:  # a reset step is no transition
            b_obs[pos], b_next[pos] = torch.from_numpy(obs[0]), torch.from_numpy(next_obs[0])
            b_act[pos], b_rew[pos], b_term[pos] = action, float(reward[0]), float(term[0])
            pos, full = (pos + 1) % size, min(full + 1, size)
            ep_ret += float(reward[0])
        was_done = bool(term[0] or trunc[0])
        if was_done:
            returns.append(ep_ret)
            ep_ret = 0.0
        obs = next_obs
        if step % TARGET_EVERY == 0:
            torch._foreach_copy_(list(target.parameters()), params)
        if step % TRAIN_FREQ == 0 and step > STARTS:
            for _ in range(GRAD_STEPS):
                idx = torch.randint(full, (BATCH,), generator=gen)
                with torch.no_grad():
                    next_q = target(b_next[idx]).max(1).values
                    y = b_rew[idx] + GAMMA * (1.0 - b_term[idx]) * next_q
                q = q_net(b_obs[idx]).gather(1, b_act[idx].unsqueeze(1)).squeeze(1)
                loss = nn.functional.smooth_l1_loss(q, y)
                opt.zero_grad(set_to_none=False)
                loss.backward()
                nn.utils.clip_grad_norm_(params, MAX_NORM, foreach=True)
                opt.step()
    elapsed = time.perf_counter() - start
    env.close()
    return total_steps / elapsed, float(np.mean(returns[-100:])) if returns else float("nan")


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(run(20_000, 0))
