"""A lean plain-PyTorch SAC on Pendulum-v1 with rl-baselines3-zoo's settings: the speed floor for our SAC.

Same math and schedule as ``configs/sac_pendulum.yaml`` and Stable-Baselines3's SAC (lr 1e-3, otherwise SAC's
defaults): actor and twin critics 256x256 ReLU, a squashed Gaussian policy (log std clamped to [-20, 2]), batch
256, one gradient step per env step from step 100 on (uniform random actions before), entropy coefficient tuned
towards ``-action_dim`` from 1.0, gamma 0.99, Polyak targets with tau 0.005 after every step. Per gradient step, in
SB3's order: the entropy coefficient, then the critics (0.5 x the sum of both MSEs against
``r + gamma (1 - terminated) (min target Q - alpha log pi)``), then the actor (``alpha log pi - min Q``).

Lean where it can be: both critics (and both targets) are one stack of weights evaluated with ``baddbmm``; the
actor's loss reads the critics through detached weights, so no critic gradients are computed for it; three fused
Adams; Polyak with ``torch._foreach_lerp_``; acting under ``inference_mode``.

Env: the config's, ``gym.make_vec("Pendulum-v1", 1, vectorization_mode="sync")`` with next-step autoreset. The
step after an episode ended is its reset step: as in ours it counts as an env step and is not stored (Pendulum only
truncates, at 200 steps, so that is one step in 201). Actions are stored in [-1, 1] and scaled by 2 for the env.

Left out compared with ours: Lightning, callbacks, metrics, checkpoints, a fixed entropy coefficient option and
``target_update_interval``/``gradient_steps`` other than 1.
"""

from __future__ import annotations

import math
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

LR, BATCH, STARTS, GAMMA, TAU, HIDDEN = 1e-3, 256, 100, 0.99, 0.005, 256


def _linear_stack(n: int, fan_in: int, fan_out: int) -> list[torch.Tensor]:
    """``n`` nn.Linear-initialised layers as one (n, in, out) weight and (n, 1, out) bias."""
    layers = [nn.Linear(fan_in, fan_out) for _ in range(n)]
    w = torch.stack([layer.weight.detach().T for layer in layers]).requires_grad_()
    b = torch.stack([layer.bias.detach()[None] for layer in layers]).requires_grad_()
    return [w, b]


def twin_q(p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Both critics at once: (2, B) Q values of ``x = [obs, action]``."""
    h = torch.relu(torch.baddbmm(p[1], x.expand(2, *x.shape), p[0]))
    h = torch.relu(torch.baddbmm(p[3], h, p[2]))
    return torch.baddbmm(p[5], h, p[4]).squeeze(-1)


def run(total_steps: int, seed: int) -> tuple[float, float]:
    """Train for ``total_steps`` env steps (reset steps included); return (env steps/s, last-10 training mean)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make_vec("Pendulum-v1", 1, vectorization_mode="sync")
    obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    scale = float(env.single_action_space.high[0])
    actor = nn.Sequential(nn.Linear(obs_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, 2 * act_dim))
    critic = (_linear_stack(2, obs_dim + act_dim, HIDDEN) + _linear_stack(2, HIDDEN, HIDDEN)
              + _linear_stack(2, HIDDEN, 1))
    target = [p.detach().clone() for p in critic]
    log_alpha = torch.zeros(1, requires_grad=True)
    target_entropy = -float(act_dim)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=LR, fused=True)
    critic_opt = torch.optim.Adam(critic, lr=LR, fused=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=LR, fused=True)

    def policy(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = actor(obs).chunk(2, -1)
        log_std = log_std.clamp(-20.0, 2.0)
        noise = torch.randn_like(mean)
        u = mean + log_std.exp() * noise
        a = torch.tanh(u)
        log_prob = (-0.5 * noise ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return a, log_prob - torch.log(1 - a ** 2 + 1e-6).sum(-1)

    b_obs, b_next = torch.zeros(total_steps, obs_dim), torch.zeros(total_steps, obs_dim)
    b_act, b_rew, b_term = torch.zeros(total_steps, act_dim), torch.zeros(total_steps), torch.zeros(total_steps)
    full = 0
    obs, _ = env.reset(seed=seed)
    was_done, ep_ret, returns = False, 0.0, []
    for step in range(1, total_steps + 1):
        if step <= STARTS:
            action = torch.from_numpy(rng.uniform(-1, 1, act_dim).astype(np.float32))
        else:
            with torch.inference_mode():
                action = policy(torch.from_numpy(obs[0]))[0]
        next_obs, reward, term, trunc, _ = env.step(scale * action.numpy()[None])
        if not was_done:  # a reset step is no transition
            b_obs[full], b_next[full], b_act[full] = torch.from_numpy(obs[0]), torch.from_numpy(next_obs[0]), action
            b_rew[full], b_term[full] = float(reward[0]), float(term[0])
            full += 1
            ep_ret += float(reward[0])
        was_done = bool(term[0] or trunc[0])
        if was_done:
            returns.append(ep_ret)
            ep_ret = 0.0
        obs = next_obs
        if step <= STARTS:
            continue
        idx = torch.randint(full, (BATCH,))
        o, o2, a, r, d = b_obs[idx], b_next[idx], b_act[idx], b_rew[idx], b_term[idx]
        a_pi, log_pi = policy(o)
        alpha = log_alpha.detach().exp()
        alpha_loss = -(log_alpha * (log_pi + target_entropy).detach()).mean()
        alpha_opt.zero_grad(set_to_none=False)
        alpha_loss.backward()
        alpha_opt.step()
        with torch.no_grad():
            a2, log_pi2 = policy(o2)
            q_next = twin_q(target, torch.cat([o2, a2], -1)).min(0).values - alpha * log_pi2
            y = r + GAMMA * (1 - d) * q_next
        q = twin_q(critic, torch.cat([o, a], -1))
        critic_loss = 0.5 * ((q - y) ** 2).mean(1).sum()
        critic_opt.zero_grad(set_to_none=False)
        critic_loss.backward()
        critic_opt.step()
        q_pi = twin_q([p.detach() for p in critic], torch.cat([o, a_pi], -1)).min(0).values
        actor_loss = (alpha * log_pi - q_pi).mean()
        actor_opt.zero_grad(set_to_none=False)
        actor_loss.backward()
        actor_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(target, critic, TAU)
    elapsed = time.perf_counter() - start
    env.close()
    return total_steps / elapsed, float(np.mean(returns[-10:])) if returns else float("nan")


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(run(3_000, 0))
