"""A lean plain-PyTorch PPO on CartPole-v1 with rl-baselines3-zoo's settings: the speed floor for our PPO.

Same math and settings as ``configs/ppo_cartpole.yaml`` (8 sub-envs x 32 vector steps, one 256-sample minibatch,
20 epochs, gamma 0.98, GAE lambda 0.8, linear learning rate 1e-3 -> 0 and clip range 0.2 -> 0, advantages
standardised, value weight 0.5, gradient norm clipped at 0.5, Adam eps 1e-5, separate 64x64 tanh actor and critic
with orthogonal init), written as lean as we could:

- the actor's and the critic's hidden layers are stacked and evaluated as one batched matmul (``baddbmm``);
- fused Adam; acting under ``inference_mode`` into preallocated buffers; the categorical sample is the argmax of
  logits plus Gumbel noise drawn once per rollout; log-probs and values are computed once per rollout in one batch;
- gymnasium's native vector CartPole (``vector_entry_point``), as the config uses.

Reset steps are handled as ours handles them: under next-step autoreset the vector step after a sub-env's episode
ended is its reset step (action ignored, reward 0); it stays in the rollout and is dropped before the losses. The
value of the observation after an episode's last step is that episode's final observation, so a truncated step
bootstraps from it and a terminated one from 0, as ours and SB3 do.

Left out compared with ours: Lightning (no ``Trainer``, no ``training_step``, no optimizer wrapper), callbacks,
metrics (no loss statistics, explained variance or episode logging beyond a list of returns), checkpoints, seeding
of sub-envs one by one (the vector env is reset with one seed), the ``target_kl`` and value-clipping branches (off
in the zoo settings), and one flat parameter/gradient buffer.
"""

from __future__ import annotations

import math
import time

import gymnasium as gym
import numpy as np
import torch

N_ENVS, N_STEPS, N_EPOCHS, HIDDEN = 8, 32, 20, 64
GAMMA, LAM, LR, CLIP, VF_COEF, MAX_NORM = 0.98, 0.8, 1e-3, 0.2, 0.5, 0.5


def _ortho(*shape: int, gain: float) -> torch.Tensor:
    w = torch.empty(*shape)
    torch.nn.init.orthogonal_(w, gain)
    return w


def run(total_steps: int, seed: int) -> tuple[float, float]:
    """Train for ``total_steps`` env steps (reset steps included); return (env steps/s, last-100 training mean)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    env = gym.make_vec("CartPole-v1", N_ENVS, vectorization_mode="vector_entry_point")
    obs_dim, n_act = env.single_observation_space.shape[0], env.single_action_space.n
    g = math.sqrt(2)
    # [actor, critic] hidden layers stacked; weights stored (in, out) for baddbmm.
    w1 = torch.stack([_ortho(HIDDEN, obs_dim, gain=g).T for _ in range(2)]).requires_grad_()
    b1 = torch.zeros(2, 1, HIDDEN, requires_grad=True)
    w2 = torch.stack([_ortho(HIDDEN, HIDDEN, gain=g).T for _ in range(2)]).requires_grad_()
    b2 = torch.zeros(2, 1, HIDDEN, requires_grad=True)
    w_pi = _ortho(n_act, HIDDEN, gain=0.01).T.contiguous().requires_grad_()
    b_pi = torch.zeros(n_act, requires_grad=True)
    w_v, b_v = _ortho(1, HIDDEN, gain=1.0).T.contiguous().requires_grad_(), torch.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2, w_pi, b_pi, w_v, b_v]
    opt = torch.optim.Adam(params, lr=LR, eps=1e-5, fused=True)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(torch.baddbmm(b1, x.expand(2, *x.shape), w1))
        h = torch.tanh(torch.baddbmm(b2, h, w2))
        return torch.addmm(b_pi, h[0], w_pi), torch.addmm(b_v, h[1], w_v).squeeze(-1)

    obs_buf = torch.zeros(N_STEPS + 1, N_ENVS, obs_dim)
    act_buf = torch.zeros(N_STEPS, N_ENVS, dtype=torch.long)
    rew_buf, term_buf, done_buf = (torch.zeros(N_STEPS, N_ENVS) for _ in range(3))
    real_buf = torch.zeros(N_STEPS, N_ENVS, dtype=torch.bool)
    obs, _ = env.reset(seed=seed)
    obs_buf[0] = torch.from_numpy(obs)
    was_done = np.zeros(N_ENVS, dtype=bool)
    ep_ret, returns = np.zeros(N_ENVS), []
    steps = 0
    while steps < total_steps:
        gumbel = -torch.empty(N_STEPS, N_ENVS, n_act).exponential_().log()
        with torch.inference_mode():
            for t in range(N_STEPS):
                logits, _ = forward(obs_buf[t])
                action = (logits + gumbel[t]).argmax(-1)
                act_buf[t] = action
                obs, reward, term, trunc, _ = env.step(action.numpy())
                real_buf[t] = torch.from_numpy(~was_done)
                done = term | trunc
                ep_ret += reward
                for i in np.flatnonzero(done):
                    returns.append(ep_ret[i])
                    ep_ret[i] = 0.0
                was_done = done
                obs_buf[t + 1] = torch.from_numpy(obs)
                rew_buf[t], term_buf[t], done_buf[t] = (torch.from_numpy(x.astype(np.float32))
                                                        for x in (reward, term, done))
        steps += N_STEPS * N_ENVS
        progress = 1.0 - min(steps / total_steps, 1.0)
        for group in opt.param_groups:
            group["lr"] = LR * progress
        clip = CLIP * progress

        with torch.no_grad():
            logits, values = forward(obs_buf.flatten(0, 1))
            values = values.view(N_STEPS + 1, N_ENVS)
            logp_all = torch.log_softmax(logits.view(N_STEPS + 1, N_ENVS, n_act)[:-1], -1)
            old_logp = logp_all.gather(-1, act_buf.unsqueeze(-1)).squeeze(-1)
            deltas = rew_buf + GAMMA * (1 - term_buf) * values[1:] - values[:-1]
            carry = GAMMA * LAM * (1 - done_buf)
            adv, running = torch.empty_like(deltas), torch.zeros(N_ENVS)
            for t in range(N_STEPS - 1, -1, -1):
                running = deltas[t] + carry[t] * running
                adv[t] = running
            ret = adv + values[:-1]
            real = real_buf.flatten()
            b_obs, b_act, b_logp = obs_buf[:-1].flatten(0, 1)[real], act_buf.flatten()[real], old_logp.flatten()[real]
            b_ret, b_adv = ret.flatten()[real], adv.flatten()[real]
            b_adv = (b_adv - b_adv.mean()) / (b_adv.std() + 1e-8)  # one minibatch: the same every epoch
        for _ in range(N_EPOCHS):
            logits, v = forward(b_obs)
            logp = torch.log_softmax(logits, -1).gather(-1, b_act.unsqueeze(-1)).squeeze(-1)
            ratio = (logp - b_logp).exp()
            pg_loss = -torch.min(b_adv * ratio, b_adv * ratio.clamp(1 - clip, 1 + clip)).mean()
            v_loss = torch.nn.functional.mse_loss(v, b_ret)
            opt.zero_grad(set_to_none=False)
            (pg_loss + VF_COEF * v_loss).backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_NORM, foreach=True)
            opt.step()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed, float(np.mean(returns[-100:])) if returns else float("nan")


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(run(50_000, 0))
