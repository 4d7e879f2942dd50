"""Run by test_ddp.py: a PPO AgentModule fitted with ``Trainer(strategy="ddp", devices=2)`` on CPU (gloo).

    python ddp_script.py OUT_DIR TOTAL_STEPS [--seed-agent | --episode-end-agent]

Lightning's DDP launcher starts rank 1 by re-running this script. Each rank writes ``rank{r}.json`` with a hash
of its final parameters, its sub-envs' seeds and its env-step count.
"""

import hashlib
import json
import os
import sys

import gymnasium as gym
import lightning.pytorch as pl
import torch

from rl_lightning import AgentModule, JsonlCallback
from rl_lightning.agents.ppo import PPO


def make_env():
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)])


class EpisodeEndAgent(PPO):
    """Learns when one of its own episodes ends (REINFORCE-like): ranks take different numbers of gradient steps."""

    lockstep_updates = False

    def update(self, next_observation, reward, terminated, truncated, call_back=None):
        if any(terminated) or any(truncated):
            loss = self.policy.value(self._obs_tensor(next_observation)).pow(2).mean()
            self.gradient_step(self.optimizer, loss)


def main(out_dir: str, total_steps: int, seed_agent: bool, episode_end_agent: bool) -> None:
    torch.set_num_threads(1)
    if seed_agent:
        from rl_lightning.testing import RecordingAgent

        make_agent = lambda env: RecordingAgent()  # noqa: E731
    elif episode_end_agent:
        make_agent = EpisodeEndAgent.for_env
    else:
        make_agent = lambda env: PPO.for_env(env, n_steps=16, batch_size=64, n_epochs=2)  # noqa: E731
    module = AgentModule(make_agent, make_env,
                         total_steps=total_steps, seed=7, exp_dir=out_dir, dump_metrics=True, checkpoint_freq=0,
                         keep_metrics_in_memory=True, call_back=JsonlCallback(os.path.join(out_dir, "metrics.jsonl")))
    trainer = pl.Trainer(strategy="ddp", devices=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(module)
    module.call_back.close()
    params = torch.cat([p.detach().flatten() for p in module.agent.parameters()])
    report = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "params_sha256": hashlib.sha256(params.numpy().tobytes()).hexdigest(),
        "optimizer_steps": trainer.global_step,
        "env_steps": module.rollout.env_steps,
        "sub_env_seeds": [int(env.np_random_seed) for env in module.env.envs],
        "episodes": [(e["rank"], e["ep_return"], e["episode_index"]) for e in module.episodes or []],
    }
    with open(os.path.join(out_dir, f"rank{trainer.global_rank}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), "--seed-agent" in sys.argv, "--episode-end-agent" in sys.argv)
