"""A plain Lightning ``Trainer`` with rl_lightning's module: Lightning's own callbacks doing the RL thing.

    python examples/plain_lightning.py
    python examples/plain_lightning.py --total_steps 10000

``AgentModule`` is a ``LightningModule`` that steps its own vector env and stops at its budget. An epoch is
``steps_per_epoch`` env steps; at each epoch end the module validates (greedy episodes on an evaluation env) and
logs ``val/ep_return``, so Lightning's ``ModelCheckpoint(monitor="val/ep_return")`` keeps the best-validated agents
and ``EarlyStopping`` ends the run once the greedy return reaches CartPole's maximum. ``LastCheckpoint`` keeps
``last.ckpt`` (the whole run state); rerunning the script continues from it (``ckpt_path="last"``) until the budget
is spent. The seed-style loggers are Lightning ``Logger`` s (here JSON lines and TensorBoard side by side). At the
end the best checkpoint is tested (``trainer.test``: greedy episodes from the test seeds).

``--total_steps`` (or the ``RL_LIGHTNING_EXAMPLE_STEPS`` environment variable) sets the env steps of the run
(default 50000, about 20 seconds).
"""

import argparse
import os

import gymnasium as gym
import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from rl_lightning import AgentModule, EpisodeProgressBar, JsonlCallback, TBCallBack
from rl_lightning.agents import PPO
from rl_lightning.callbacks import LastCheckpoint

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
                         total_steps=total_steps, seed=0, steps_per_epoch=min(5_000, total_steps), val_episodes=8)
    checkpoints = os.path.join(OUT, "checkpoints")
    best = ModelCheckpoint(checkpoints, filename="best-{epoch}", monitor="val/ep_return", mode="max", save_top_k=2)
    trainer = pl.Trainer(
        max_epochs=-1,  # the module stops at its budget
        logger=[JsonlCallback(os.path.join(OUT, "metrics.jsonl")), TBCallBack(OUT, flush_every=100)],
        callbacks=[EpisodeProgressBar(), LastCheckpoint(checkpoints), best,
                   EarlyStopping(monitor="val/ep_return", mode="max", stopping_threshold=500.0, patience=1_000)],
        enable_model_summary=False,
    )
    trainer.fit(module, ckpt_path="last" if os.path.exists(os.path.join(checkpoints, "last.ckpt")) else None)
    print(f"{module.rollout.env_steps} env steps, {module.rollout.episodes_done} episodes, "
          f"{trainer.current_epoch} epochs; files in {OUT}:", ", ".join(sorted(os.listdir(OUT))))
    if best.best_model_path:
        (result,) = trainer.test(module, ckpt_path=best.best_model_path, verbose=False)
        print(f"best checkpoint {os.path.basename(best.best_model_path)}: "
              f"val/ep_return {float(best.best_model_score):.1f}, test/ep_return {result['test/ep_return']:.1f}")


if __name__ == "__main__":
    main()
