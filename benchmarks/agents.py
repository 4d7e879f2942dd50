"""Built-in agents against Stable-Baselines3 and a plain-PyTorch floor: env-steps/s, side by side (issue 27).

    python benchmarks/agents.py [--agents ppo dqn sac] [--steps-ppo 50000] [--steps-dqn 20000] [--steps-sac 3000]
                                [--repeats 2] [--seed 0]

For each agent, with the zoo settings of its config (``configs/ppo_cartpole.yaml``, ``configs/dqn_cartpole.yaml``,
``configs/sac_pendulum.yaml``), three trainers run alternating in one process, one torch thread, ``--repeats``
rounds, every round on the same seed:

- ours: ``OnlineTrainer(config.make_env, config.make_agent, progress=False, checkpoint_interval=None)`` with
  ``EmptyCallBack``, ``multi_run(1, total_steps, seed_offset=seed, dump_metrics=False, keep_metrics_in_memory=True)``;
- SB3: Stable-Baselines3's algorithm with the same hyperparameters on ``make_vec_env(env_id, num_envs, seed=seed)``;
- floor: the lean plain-PyTorch script of the same math in ``benchmarks/floors/`` (its docstring says what it
  leaves out).

Each timing covers the whole run: env and model construction and training (for ours, ``multi_run`` with Lightning's
start-up). Printed: the median env-steps/s of each, ours/SB3 and ours/floor as ratios of medians against the issue's
targets, and each run's final return (the mean of its last 100 training episodes; for SAC its last 10). One short
untimed run of ours comes first: the first run in a process pays one-time costs that later runs do not.
Stable-Baselines3 is the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "floors"))
import dqn_floor
import ppo_floor
import sac_floor
from sb3_models import sb3_model

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.agents import AgentConfig, load_agent_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
AGENTS = {  # name: (config file, floor, final-return window, target ours/SB3, target ours/floor)
    "ppo": ("ppo_cartpole.yaml", ppo_floor.run, 100, 3.0, 0.9),
    "dqn": ("dqn_cartpole.yaml", dqn_floor.run, 100, 1.7, 0.9),
    "sac": ("sac_pendulum.yaml", sac_floor.run, 10, 1.4, 0.9),
}


def run_ours(config: AgentConfig, steps: int, seed: int, window: int) -> tuple[float, float]:
    start = time.perf_counter()
    trainer = OnlineTrainer(config.make_env, config.make_agent, progress=False, checkpoint_interval=None)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, total_steps=steps, seed_offset=seed, dump_metrics=False,
                                 keep_metrics_in_memory=True)[0]
    elapsed = time.perf_counter() - start
    returns = [e["ep_return"] for e in episodes[-window:]]
    return steps / elapsed, float(np.mean(returns)) if returns else float("nan")


def run_sb3(config: AgentConfig, steps: int, seed: int, window: int) -> tuple[float, float]:
    from stable_baselines3.common.env_util import make_vec_env

    start = time.perf_counter()
    env = make_vec_env(config.env_id, n_envs=config.num_envs, seed=seed, env_kwargs=config.env_kwargs)
    model = sb3_model(config, env, seed)
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - start
    returns = [info["r"] for info in model.ep_info_buffer][-window:]
    return steps / elapsed, float(np.mean(returns)) if returns else float("nan")


def compare(name: str, steps: int, repeats: int, seed: int) -> list[str]:
    file, floor, window, target_sb3, target_floor = AGENTS[name]
    config = load_agent_config(os.path.join(CONFIGS, file))
    runners: dict[str, Callable[[], tuple[float, float]]] = {
        "ours": lambda: run_ours(config, steps, seed, window),
        "SB3": lambda: run_sb3(config, steps, seed, window),
        "floor": lambda: floor(steps, seed),
    }
    results: dict[str, list[tuple[float, float]]] = {who: [] for who in runners}
    for _ in range(repeats):
        for who, runner in runners.items():
            results[who].append(runner())
    speed = {who: statistics.median(s for s, _ in rows) for who, rows in results.items()}
    lines = [(f"{config.agent} {config.env_id} x{config.num_envs}, {steps:,} env steps, {repeats} run(s) each, "
              f"seed {seed} (final return: last-{window} training mean)")]
    for who, rows in results.items():
        runs = ", ".join(f"{s:,.0f}" for s, _ in rows)
        finals = ", ".join(f"{r:.1f}" for _, r in rows)
        lines.append(f"  {who:<5} {speed[who]:8,.0f} env-steps/s (runs: {runs}; final return: {finals})")
    for ref, target in (("SB3", target_sb3), ("floor", target_floor)):
        ratio = speed["ours"] / speed[ref]
        lines.append(f"  ours/{ref:<5} {ratio:5.2f}  target >= {target}  {'met' if ratio >= target else 'NOT met'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="+", choices=list(AGENTS), default=list(AGENTS))
    parser.add_argument("--steps-ppo", type=int, default=50_000, help="env steps per PPO run")
    parser.add_argument("--steps-dqn", type=int, default=20_000, help="env steps per DQN run")
    parser.add_argument("--steps-sac", type=int, default=3_000, help="env steps per SAC run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each trainer per agent, alternating")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    args = parser.parse_args()
    if args.repeats < 1 or args.seed < 0 or min(args.steps_ppo, args.steps_dqn, args.steps_sac) < 1:
        parser.error("--repeats and --steps-* must be >= 1, --seed >= 0")

    torch.set_num_threads(1)
    logging.getLogger("rl_lightning").setLevel(logging.WARNING)
    run_ours(load_agent_config(os.path.join(CONFIGS, "ppo_cartpole.yaml")), 512, args.seed, 100)  # warm-up
    print(f"torch {torch.__version__}, 1 thread; env-steps/s are medians over runs; ratios of medians", flush=True)
    for name in args.agents:
        for line in compare(name, getattr(args, f"steps_{name}"), args.repeats, args.seed):
            print(line, flush=True)


if __name__ == "__main__":
    main()
