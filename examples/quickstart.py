"""Quickstart: train the bundled PPO on CartPole-v1 with rl-baselines3-zoo's settings, end to end.

    python examples/quickstart.py                 # 2 seeds x 100k env steps, about 20 s on 2 cores
    python examples/quickstart.py --total_steps 20000

Runs 2 seeds of ``configs/ppo_cartpole.yaml`` through ``OnlineTrainer.multi_run`` and writes every seed file to
``runs/quickstart/``: ``metrics_run{r}.pkl``, ``Run{r}_Best_agent.t``, ``Run{r}_Last_agent.t``, TensorBoard
events, ``checkpoints/run{r}/{last,best}.ckpt``, ``config.py`` (the config file) and ``args.yaml``. Then it
prints each run's mean return over its last 100 episodes against the config's solve threshold (475).
The same run from the command line: ``rl-lightning multirun --config configs/ppo_cartpole.yaml --num_runs 2``.

``--total_steps`` (or the ``RL_LIGHTNING_EXAMPLE_STEPS`` environment variable) sets the env steps per run.
"""

import argparse
import os

import numpy as np
import torch

from rl_lightning import OnlineTrainer
from rl_lightning.agents import load_agent_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "ppo_cartpole.yaml")
EXP_DIR = "runs/quickstart"


def main() -> None:
    config = load_agent_config(CONFIG)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int,
                        default=int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", str(config.total_steps))),
                        help=f"env steps per run, summed over the 8 sub-envs (default {config.total_steps})")
    parser.add_argument("--num_runs", type=int, default=2, help="runs, one seed each (default 2)")
    args = parser.parse_args()
    for name in ("total_steps", "num_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}.")

    torch.set_num_threads(1)  # small networks: one thread is fastest, and runs are reproducible
    trainer = OnlineTrainer(config.make_env, config.make_agent, exp_dir=EXP_DIR, config=CONFIG,
                            args={**config.to_dict(), **vars(args)})
    runs = trainer.multi_run(num_runs=args.num_runs, total_steps=args.total_steps, seed_offset=0, checkpoint_freq=0,
                             overwrite=True)

    for run, episodes in enumerate(runs, 1):
        last = [e["ep_return"] for e in episodes[-100:]]
        verdict = "solved" if np.mean(last) >= config.threshold else "not solved yet"
        print(f"run {run}: {len(episodes)} episodes; mean return of the last {len(last)}: {np.mean(last):.1f} "
              f"({verdict}; threshold {config.threshold:g})")
    print(f"files in {EXP_DIR}: {', '.join(sorted(os.listdir(EXP_DIR)))}")
    print(f"next: `tensorboard --logdir {EXP_DIR}`, `rl-lightning plot {EXP_DIR}`, or "
          f"`rl-lightning evaluate --exp-dir {EXP_DIR}` (greedy episodes of run 1's best agent)")


if __name__ == "__main__":
    main()
