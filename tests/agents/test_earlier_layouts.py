"""Files written before PPO's and A2C's actor and critic were stacked into one network still load, exactly.

``tests/agents/data/ppo_two_mlps*`` were written by the previous version (two ``nn.Sequential`` MLPs,
``policy.actor.0.weight`` ...): a PPO CartPole agent (8x8 networks, seed 5) stopped by ``max_steps=8`` after 64 env
steps of a 256-step budget, saved as an agent file and as the run's ``last.ckpt``.
"""

import os
import shutil

import gymnasium as gym
import lightning.pytorch as pl
import torch

from rl_lightning import AgentModule
from rl_lightning.agents import PPO

DATA = os.path.join(os.path.dirname(__file__), "data")


def two_mlp_outputs(weights: dict, obs: torch.Tensor, prefix: str = "policy.") -> tuple[torch.Tensor, torch.Tensor]:
    """The actor's logits and the critic's values computed by hand from the earlier layout's tensors."""
    def mlp(net):
        h = obs
        for k in (0, 2):
            h = torch.tanh(h @ weights[f"{prefix}{net}.{k}.weight"].T + weights[f"{prefix}{net}.{k}.bias"])
        return h @ weights[f"{prefix}{net}.4.weight"].T + weights[f"{prefix}{net}.4.bias"]
    return mlp("actor"), mlp("critic").squeeze(-1)


def observations() -> torch.Tensor:
    return torch.tensor([[0.0, 0.1, -0.02, 0.3], [0.5, -1.0, 0.1, -0.4], [-0.2, 0.3, 0.05, 1.0]])


def test_an_agent_file_of_the_two_mlp_layout_loads_the_same_policy_and_adam_state():
    path = os.path.join(DATA, "ppo_two_mlps_agent.t")
    saved = torch.load(path, weights_only=True)
    agent = PPO.load(path)
    logits, values = two_mlp_outputs(saved["state_dict"], observations())
    with torch.no_grad():
        torch.testing.assert_close(agent.policy.actor(observations()), logits)
        torch.testing.assert_close(agent.policy.value(observations()), values)
    # Adam's moments follow their parameters: the first hidden layer's are the actor's and the critic's, stacked.
    old_state, names = saved["optimizers"][0]["state"], list(saved["state_dict"])
    moments = agent.optimizer.state[agent.policy.hidden_weights[0]]
    for field in ("exp_avg", "exp_avg_sq"):
        expected = torch.stack([old_state[names.index(f"policy.{net}.0.weight")][field] for net in ("actor", "critic")])
        assert torch.equal(moments[field], expected)
    assert float(moments["step"]) == float(old_state[0]["step"]) > 0


def test_a_lightning_checkpoint_of_the_two_mlp_layout_resumes_to_its_budget(tmp_path):
    ckpt = shutil.copy(os.path.join(DATA, "ppo_two_mlps_last.ckpt"), tmp_path / "last.ckpt")
    module = AgentModule(lambda env: PPO.for_env(env, net_arch=(8, 8), n_steps=16, batch_size=16, n_epochs=2),
                         lambda: gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point"),
                         total_steps=256, seed=5)
    seen = {}

    class FirstSegment(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            with torch.no_grad():
                seen["logits"] = pl_module.agent.policy.actor(observations())
            seen["global_step"] = trainer.global_step

    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, max_epochs=-1, limit_val_batches=0, callbacks=[FirstSegment()])
    trainer.fit(module, ckpt_path=ckpt)
    weights = torch.load(ckpt, weights_only=False)["state_dict"]
    torch.testing.assert_close(seen["logits"], two_mlp_outputs(weights, observations(), "agent.policy.")[0])
    assert seen["global_step"] == 8 and module.rollout.env_steps == 256
    assert trainer.global_step == 8 + (256 - 64) // 32 * 2 * 2  # 6 more rollouts of 2 epochs x 2 minibatches
