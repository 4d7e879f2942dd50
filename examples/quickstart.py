"""Quickstart: train the bundled PPO on CartPole-v1 with rl-baselines3-zoo's settings, end to end.

    python examples/quickstart.py

Runs 2 seeds of ``configs/ppo_cartpole.yaml`` through ``OnlineTrainer.multi_run`` (about a minute on 2 cores)
and writes every seed file to ``runs/quickstart/``: ``metrics_run{r}.pkl``, ``Run{r}_Best_agent.t``,
``Run{r}_Last_agent.t``, TensorBoard events, ``checkpoints/run{r}/{last,best}.ckpt``. Then it prints each run's
mean return over its last 100 episodes. ``RL_LIGHTNING_EXAMPLE_STEPS`` shrinks the budget (the smoke test
uses it).
"""

import os

import numpy as np
import torch

from rl_lightning import OnlineTrainer
from rl_lightning.agents import load_agent_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    torch.set_num_threads(1)
    config = load_agent_config(os.path.join(ROOT, "configs", "ppo_cartpole.yaml"))
    total_steps = int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", 60_000))
    trainer = OnlineTrainer(config.make_env, config.make_agent, exp_dir="runs/quickstart",
                            args={"config": config.to_dict(), "total_steps": total_steps})
    runs = trainer.multi_run(num_runs=2, total_steps=total_steps, seed_offset=0, checkpoint_freq=0, overwrite=True)
    for run, episodes in enumerate(runs, 1):
        last = [e["ep_return"] for e in episodes[-100:]]
        print(f"run {run}: {len(episodes)} episodes, mean return of the last {len(last)}: {np.mean(last):.1f}")
    print("files in runs/quickstart:", ", ".join(sorted(os.listdir("runs/quickstart"))))


if __name__ == "__main__":
    main()
