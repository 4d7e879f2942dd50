"""A plain Lightning ``Trainer`` with rl_lightning's module, loggers and checkpoints (no OnlineTrainer).

    python examples/plain_lightning.py
    python examples/plain_lightning.py --total_steps 10000

``AgentModule`` is a ``LightningModule`` that steps its own vector env and stops at its budget; the seed-style
loggers are Lightning ``Logger`` s (here JSON lines and TensorBoard side by side); ``LastCheckpoint`` and
``BestReturnCheckpoint`` are ``ModelCheckpoint`` s. Rerunning the script continues from ``last.ckpt``
(``ckpt_path``) until the budget is spent.

``--total_steps`` (or the ``RL_LIGHTNING_EXAMPLE_STEPS`` environment variable) sets the env steps of the run
(default 50000, about 20 seconds).
"""

import argparse
import os

import gymnasium as gym
import lightning.pytorch as pl
import torch

from rl_lightning import AgentModule, EpisodeProgressBar, JsonlCallback, TBCallBack
from rl_lightning.agents import PPO
from rl_lightning.callbacks import BestReturnCheckpoint, LastCheckpoint

OUT = "runs/plain_lightning"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int, default=int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", "50000")),
                        help="env steps of the run, summed over the 8 sub-envs (default 50000)")
    total_steps = parser.parse_args().total_steps

    torch.set_num_threads(1)
    module = AgentModule(lambda env: PPO.for_env(env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98,
                                                 gae_lambda=0.8, learning_rate=1e-3),
                         lambda: gym.make_vec("CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point"),
                         total_steps=total_steps, seed=0)
    checkpoints = os.path.join(OUT, "checkpoints")
    trainer = pl.Trainer(
        max_epochs=1,
        logger=[JsonlCallback(os.path.join(OUT, "metrics.jsonl")), TBCallBack(OUT, flush_every=100)],
        callbacks=[EpisodeProgressBar(), LastCheckpoint(checkpoints), BestReturnCheckpoint(checkpoints)],
        enable_model_summary=False,
    )
    resume = os.path.exists(os.path.join(checkpoints, "last.ckpt"))
    trainer.fit(module, ckpt_path=os.path.join(checkpoints, "last.ckpt") if resume else None)
    print(f"{module.rollout.env_steps} env steps, {module.rollout.episodes_done} episodes; files in {OUT}:",
          ", ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    main()
