"""A bare, hand-written seed-trainer loop: the oracle the trainer's output must equal.

It follows the reference pages line by line (``origin-behaviour.md`` "One run, in order") with no
Lightning, no segments and no shared code with ``rl_lightning``'s rollout, so a disagreement points at a
real deviation from the contract.
"""

from __future__ import annotations

import numpy as np


def bare_run(env, agent, seed, *, total_steps=0, num_episodes=0, count_reset_steps=False, train=True):
    """Run one seed-trainer run and return ``(episodes, save_points)``.

    ``save_points`` lists ``(episode_index, agent.save())`` for every best-agent snapshot, in order.
    """
    if train:
        agent.reset(seed)
        agent.train()
    else:
        agent.eval()
    n = env.num_envs
    agent.set_num_env(n)
    obs, _ = env.reset(seed=[seed + i for i in range(n)])
    returns = np.zeros(n, dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int64)
    actions = [[] for _ in range(n)]
    logs = [[] for _ in range(n)]
    reset_next = np.zeros(n, dtype=bool)
    steps = episodes_done = 0
    best = -np.inf
    episodes, save_points = [], []
    while (steps < total_steps) if total_steps else (episodes_done < num_episodes):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        for i in range(n):
            if count_reset_steps or not reset_next[i]:
                actions[i].append(action[i])
                returns[i] += reward[i]
                lengths[i] += 1
        steps += n
        if train:
            agent.update(next_obs, reward, terminated, truncated, call_back=None)
        entries = agent.log()
        for i in range(n):
            if entries[i] is not None and (count_reset_steps or not reset_next[i]):
                logs[i].append(entries[i])
        obs = next_obs
        dones = np.logical_or(terminated, truncated)
        for i in range(n):
            if not dones[i]:
                continue
            episodes_done += 1
            episodes.append({
                "ep_return": float(returns[i]), "ep_length": int(lengths[i]), "actions": actions[i],
                "agent_seed": seed, "episode_index": episodes_done,
                "agent_logs": {"reward": np.concatenate([e["reward"] for e in logs[i]])} if logs[i] else None,
            })
            if returns[i] >= best:
                best = returns[i]
                save_points.append((episodes_done, agent.save()))
            returns[i], lengths[i], actions[i], logs[i] = 0.0, 0, [], []
        reset_next = dones
    return episodes, save_points
