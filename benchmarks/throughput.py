"""Throughput: every figure of the table from one run of this script, on one machine, one thread.

    python benchmarks/throughput.py [--steps 200000] [--repeats 7] [--ppo-steps 100000] [--skip-ppo] [--skip-memory]

(a) the bare gymnasium loop: SyncVectorEnv CartPole-v1 with 1, 8 and 32 sub-envs stepping pre-sampled random
    actions (the limit);
(b) the same through OnlineTrainer with a random agent, with EmptyCallBack and with the default TBCallBack (neither
    writes the metrics stream, so the rows differ in the logger alone), and the TBCallBack row again with the metrics
    stream that multi_run writes by default;
(c) a per-step seed-protocol agent (numpy, updates every step, 1 sub-env): a minimal hand-written
    act/step/update loop vs OnlineTrainer;
(d) PPO on CartPole-v1 with rl-baselines3-zoo's settings: ours vs Stable-Baselines3 (``pip install
    stable-baselines3``), both with torch.set_num_threads(1);
(e) memory: peak RSS of a 20k-episode run with dump_metrics (no frames, no transitions) against a 1k-episode run,
    each in a fresh process.

One short OnlineTrainer run, not measured, comes first: the first run in a process pays one-time costs (a full
garbage collection of everything the imports left, ~0.2 s here) that no later run pays.

Rows of one case are measured in alternation and reported as medians. (b) and (c) run their reference before, between
and after rounds of our rows; each of our runs is rated against the mean of the two reference runs around it, and
the ratio printed is the median of those paired ratios (with their range).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from core import LinearQAgent  # noqa: E402  (the per-step agent of the core benchmark)

from rl_lightning import EmptyCallBack, OnlineTrainer  # noqa: E402
from rl_lightning.agents import RandomAgent  # noqa: E402


def sync_cartpole(num_envs: int):
    return lambda: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(num_envs)])


def bare_random(num_envs: int, steps: int) -> float:
    env = sync_cartpole(num_envs)()
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=(1024, num_envs))
    vector_steps = steps // num_envs
    start = time.perf_counter()
    for t in range(vector_steps):
        env.step(actions[t % 1024])
    elapsed = time.perf_counter() - start
    env.close()
    return vector_steps * num_envs / elapsed


def trainer_steps_per_s(make_env, make_agent, steps: int, logger: str, dump_metrics: bool = False) -> float:
    """Env steps per second of one ``OnlineTrainer`` run with ``EmptyCallBack`` (``logger="empty"``) or the default
    ``TBCallBack``, writing the metrics stream only with ``dump_metrics``."""
    with tempfile.TemporaryDirectory() as exp_dir:
        trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, progress=True, checkpoint_interval=None)
        if logger == "empty":
            trainer.call_back = EmptyCallBack()
        start = time.perf_counter()
        trainer.multi_run(1, total_steps=steps, seed_offset=0, dump_metrics=dump_metrics, keep_metrics_in_memory=False)
        return steps / (time.perf_counter() - start)


def bare_per_step(steps: int) -> float:
    env = sync_cartpole(1)()
    agent = LinearQAgent(env)
    agent.reset(0)
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        action = agent.act(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        agent.update(obs, reward, terminated, truncated)
    return steps / (time.perf_counter() - start)


def ppo_ours(steps: int) -> tuple:
    from rl_lightning.agents.config import load_agent_config

    config = load_agent_config(os.path.join(os.path.dirname(__file__), "..", "configs", "ppo_cartpole.yaml"))
    with tempfile.TemporaryDirectory() as exp_dir:
        trainer = OnlineTrainer(config.make_env, config.make_agent, exp_dir=exp_dir, checkpoint_interval=None)
        trainer.call_back = EmptyCallBack()
        start = time.perf_counter()
        runs = trainer.multi_run(1, total_steps=steps, seed_offset=0)
        elapsed = time.perf_counter() - start
    returns = [e["ep_return"] for e in runs[0][-100:]]
    return steps / elapsed, float(np.mean(returns))


def ppo_sb3(steps: int) -> tuple:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                ent_coef=0.0, learning_rate=lambda f: 1e-3 * f, clip_range=lambda f: 0.2 * f, seed=0, verbose=0,
                device="cpu")
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - start
    returns = [info["r"] for info in model.ep_info_buffer]
    return steps / elapsed, float(np.mean(returns[-100:]))


MEMORY_CHILD = """
import resource, sys, tempfile
import gymnasium as gym
from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.agents import RandomAgent
with tempfile.TemporaryDirectory() as d:
    t = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(8)]),
                      RandomAgent.for_env, exp_dir=d, progress=False, checkpoint_interval=None)
    t.call_back = EmptyCallBack()
    t.multi_run(1, num_episodes=int(sys.argv[1]), seed_offset=0, keep_metrics_in_memory=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(num_episodes: int) -> float:
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(num_episodes)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def median_of(repeats: int, *functions):
    results = [[] for _ in functions]
    for _ in range(repeats):
        for result, function in zip(results, functions):
            result.append(function())
    return [statistics.median(r) for r in results]


def paired_ratios(repeats: int, reference, *candidates) -> tuple:
    """Run ``reference`` before, between and after rounds of the candidates (ref, c1, c2, ref, c1, c2, ..., ref) and
    rate each candidate run against the mean of the two reference runs around it.

    The speed drifts by tens of percent over seconds to minutes; a ratio of neighbours in time is steadier than a
    ratio of medians taken over the whole case. Returns the reference's median speed, then per candidate
    ``(median speed, median ratio, lowest ratio, highest ratio)``.
    """
    refs = [reference()]
    speeds: list = [[] for _ in candidates]
    ratios: list = [[] for _ in candidates]
    for _ in range(repeats):
        for speed, candidate in zip(speeds, candidates):
            speed.append(candidate())
        refs.append(reference())
        around = (refs[-2] + refs[-1]) / 2
        for speed, ratio in zip(speeds, ratios):
            ratio.append(speed[-1] / around)
    return (statistics.median(refs), *[(statistics.median(speed), statistics.median(ratio), min(ratio), max(ratio))
                                      for speed, ratio in zip(speeds, ratios)])


def ratio_text(row: tuple, target: Optional[float]) -> str:
    speed, ratio, low, high = row
    aim = "no target" if target is None else f"target >= {target}"
    return f"{speed:10,.0f}  ratio {ratio:.2f} (paired runs {low:.2f}-{high:.2f}; {aim})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per measured run in (a)-(c)")
    parser.add_argument("--repeats", type=int, default=7, help="measured runs per row")
    parser.add_argument("--ppo-steps", type=int, default=100_000)
    parser.add_argument("--skip-ppo", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = []
    trainer_steps_per_s(sync_cartpole(8), RandomAgent.for_env, 8_192, "empty")  # the process's one-time costs

    for n in (1, 8, 32):
        (bare,) = median_of(args.repeats, lambda: bare_random(n, args.steps))
        lines.append(f"(a) bare loop, random actions, {n:2d} sub-envs          {bare:10,.0f} env-steps/s")
        if n == 8:
            bare8 = bare
    # (b)'s reference is measured again, around each round of (b)'s rows, so a slow spell hits both sides.
    bare8, empty, tb, tb_stream = paired_ratios(
        args.repeats,
        lambda: bare_random(8, args.steps),
        lambda: trainer_steps_per_s(sync_cartpole(8), RandomAgent.for_env, args.steps, "empty"),
        lambda: trainer_steps_per_s(sync_cartpole(8), RandomAgent.for_env, args.steps, "default"),
        lambda: trainer_steps_per_s(sync_cartpole(8), RandomAgent.for_env, args.steps, "default", dump_metrics=True),
    )
    lines.append(f"(b) bare loop, random actions,  8 sub-envs (around (b)'s runs) {bare8:10,.0f} env-steps/s")
    lines.append(f"(b) OnlineTrainer, random agent, 8 sub-envs, EmptyCallBack {ratio_text(empty, 0.8)}")
    lines.append(f"(b) OnlineTrainer, random agent, 8 sub-envs, TBCallBack    {ratio_text(tb, 0.7)}")
    lines.append(f"(b) the same, also writing the metrics stream (multi_run's default) {ratio_text(tb_stream, None)}")
    per_step = args.steps // 4
    bare_agent, ours_agent = paired_ratios(
        args.repeats, lambda: bare_per_step(per_step),
        lambda: trainer_steps_per_s(sync_cartpole(1), LinearQAgent, per_step, "empty"))
    lines.append(f"(c) per-step numpy agent, 1 sub-env: hand-written {bare_agent:8,.0f}, OnlineTrainer "
                 f"{ratio_text(ours_agent, 0.8)}")
    if not args.skip_ppo:
        try:
            sb3_speed, sb3_return = ppo_sb3(args.ppo_steps)
        except ImportError:
            sb3_speed = None
        ours_speed, ours_return = ppo_ours(args.ppo_steps)
        if sb3_speed is None:
            lines.append(f"(d) PPO CartPole-v1: ours {ours_speed:,.0f} env-steps/s (last-100 mean {ours_return:.0f}); "
                         "Stable-Baselines3 not installed")
        else:
            lines.append(f"(d) PPO CartPole-v1 {args.ppo_steps:,} steps: ours {ours_speed:,.0f} env-steps/s (last-100 "
                         f"mean {ours_return:.0f}), SB3 {sb3_speed:,.0f} (last-100 mean {sb3_return:.0f})  ratio "
                         f"{ours_speed / sb3_speed:.2f} (target >= 1.3)")
    if not args.skip_memory:
        small, large = peak_rss_mb(1_000), peak_rss_mb(20_000)
        lines.append(f"(e) peak RSS: 1k episodes {small:.0f} MB, 20k episodes {large:.0f} MB, difference "
                     f"{large - small:.1f} MB (target < 50 MB)")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
