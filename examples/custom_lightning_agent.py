"""A custom Lightning-native agent: a one-step actor-critic built on ``rl_lightning.agents.LightningAgent``.

    python examples/custom_lightning_agent.py
    python examples/custom_lightning_agent.py --total_steps 10000

A ``LightningAgent`` is a ``torch.nn.Module``: AgentModule registers its networks and optimizers, so
Lightning's precision, DDP and checkpointing apply. It uses public names only. What a subclass writes:

* a frozen ``Params`` dataclass of its hyperparameters (checked when built; ``set_hp`` changes them);
* ``__init__``: networks, optimizers in ``self.optimizer_list``, then ``self.reset(0)``;
* ``reset_parameters(generator)``: initialise every weight from ``generator`` (runs are reproducible);
* ``act(observation, greedy=False)`` and ``update(next_observation, reward, terminated, truncated, call_back)``.
  A class missing one of them is refused when built, with every missing name.

What the base does for it: ``self.obs_tensor(obs)`` (a batch on the agent's device and dtype), ``self.rng`` (the
seeded generator to draw from), ``self.count_step(terminated, truncated)`` (counts env steps and says which
sub-envs' steps are real transitions, not reset steps), ``self.gradient_step(optimizer, loss, max_grad_norm)``
(backward, clipping and step; through Lightning while a Trainer fits the agent). While fitted it receives one
``AgentContext`` (``self.context``: the run's ``total_steps``, ``world_size``, device, wrapped optimizers) and reads
nothing else from the trainer. Saving, loading (``Run1_Last_agent.t``), Lightning checkpoints and exact resume come
from the base too. ``@register_agent`` names it, so a config's ``agent: ActorCritic`` finds it; a package registers
its agents for every process with an entry point in the group ``rl_lightning.agents``.

``--total_steps`` (or the ``RL_LIGHTNING_EXAMPLE_STEPS`` environment variable) sets the env steps of the run
(default 60000, about 20 seconds).
"""

import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_lightning import OnlineTrainer
from rl_lightning.agents import LightningAgent, Params, register_agent


@dataclass(frozen=True)
class ActorCriticParams(Params):
    """Args: learning_rate (Adam), gamma (discount), hidden (width of the shared layer)."""

    learning_rate: float = 3e-3
    gamma: float = 0.99
    hidden: int = 64

    def check(self) -> None:
        self._range("learning_rate", 0, low_inclusive=False)
        self._range("gamma", 0, 1)
        self._range("hidden", 1)


@register_agent
class ActorCritic(LightningAgent):
    """Softmax policy and state value on one shared hidden layer, one TD(0) actor-critic step per vector step."""

    params_class = ActorCriticParams
    structural_params = ("hidden",)
    lockstep_updates = True  # one gradient step every vector step: the same on every DDP rank

    def __init__(self, observation_space: gym.Space, action_space: gym.Space,
                 params: Optional[ActorCriticParams] = None, num_envs: int = 1, **hp: Any):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        hidden = self.params.hidden
        self.body = nn.Sequential(nn.Linear(observation_space.shape[0], hidden), nn.Tanh())
        self.policy = nn.Linear(hidden, int(action_space.n))
        self.value = nn.Linear(hidden, 1)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.params.learning_rate)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Orthogonal weights (small for the policy head, so the first policy is near uniform), zero biases."""
        for layer, gain in ((self.body[0], 2**0.5), (self.policy, 0.01), (self.value, 1.0)):
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            nn.init.zeros_(layer.bias)

    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """One action per sub-env: sampled from the policy while training, the likeliest when greedy or in eval."""
        obs = self.obs_tensor(observation)
        with torch.no_grad():
            logits = self.policy(self.body(obs))
        if greedy or not self.training:
            return logits.argmax(-1).cpu().numpy()
        actions = torch.multinomial(logits.softmax(-1), 1, generator=self.rng).squeeze(-1)
        self.last_step = (obs, actions)
        return actions.cpu().numpy()

    def update(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """One actor-critic step on this vector step's transitions (reset steps masked out)."""
        if not self.training:
            return
        real = torch.from_numpy(self.count_step(terminated, truncated)).float()  # 0 at reset steps
        obs, actions = self.last_step
        reward_t = torch.as_tensor(reward, dtype=torch.float32)
        done = torch.as_tensor(terminated, dtype=torch.float32)
        with torch.no_grad():
            target = reward_t + self.params.gamma * (1 - done) * self.value(self.body(
                self.obs_tensor(next_observation))).squeeze(-1)
        hidden = self.body(obs)
        value = self.value(hidden).squeeze(-1)
        log_prob = torch.log_softmax(self.policy(hidden), -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        advantage = (target - value).detach()
        loss = ((-log_prob * advantage + 0.5 * (target - value) ** 2) * real).sum() / real.sum().clamp(min=1)
        self.gradient_step(self.optimizer, loss)  # manual_backward + Lightning's optimizer step when attached
        if call_back is not None and self.env_steps % 1000 < self.num_envs:
            call_back({"loss": float(loss), "value": float(value.mean())})


EXP_DIR = "runs/custom_lightning_agent"


def make_env() -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(8)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total_steps", type=int, default=int(os.environ.get("RL_LIGHTNING_EXAMPLE_STEPS", "60000")),
                        help="env steps of the run, summed over the 8 sub-envs (default 60000)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    trainer = OnlineTrainer(make_env, lambda env: ActorCritic.for_env(env, learning_rate=1e-3), exp_dir=EXP_DIR)
    runs = trainer.multi_run(num_runs=1, total_steps=args.total_steps, seed_offset=0, checkpoint_freq=0,
                             overwrite=True)
    returns = [e["ep_return"] for e in runs[0]]
    print(f"{len(returns)} episodes; mean return of the first 50 {np.mean(returns[:50]):.1f}, "
          f"of the last 50 {np.mean(returns[-50:]):.1f}")
    agent = ActorCritic.load(os.path.join(EXP_DIR, "Run1_Last_agent.t"))
    print(f"reloaded {EXP_DIR}/Run1_Last_agent.t: {type(agent).__name__} with {agent.params}")


if __name__ == "__main__":
    main()
