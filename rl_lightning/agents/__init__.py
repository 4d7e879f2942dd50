"""Agents: the public agent API, the registry that names agents, and the built-in ones.

- Write your own: derive from :class:`LightningAgent` (or :class:`OnPolicyAgent` / :class:`OffPolicyAgent`, which
  hold what PPO and A2C, or DQN, SAC and TD3, share); ``examples/custom_lightning_agent.py`` shows the whole API.
- Name it: :func:`register_agent` (or the entry-point group ``rl_lightning.agents`` of your package);
  :func:`resolve_agent` turns a registered name or a class path into the class, for configs, the CLI, evaluation
  and checkpoints alike.
- Built-in: PPO, A2C, DQN, SAC, TD3 (Lightning-native ``LightningAgent`` s, one file each) and the random baseline.

Each speaks the seed agent protocol, so ``OnlineTrainer(make_env, PPO.for_env)`` runs it unchanged, and each
learning agent is a ``torch.nn.Module`` that :class:`~rl_lightning.AgentModule` registers and learns through.
Configs in YAML are read by :func:`load_agent_config`. Importing this package imports nothing of the module or
the trainer.
"""

from rl_lightning.agents.a2c import A2C, A2CParams
from rl_lightning.agents.base import LightningAgent
from rl_lightning.agents.config import AgentConfig, load_agent_config
from rl_lightning.agents.context import AgentContext
from rl_lightning.agents.dqn import DQN, DQNParams
from rl_lightning.agents.hparams import Params
from rl_lightning.agents.off_policy import OffPolicyAgent, polyak_update
from rl_lightning.agents.on_policy import OnPolicyAgent, RolloutBatch
from rl_lightning.agents.ppo import PPO, PPOParams
from rl_lightning.agents.random_agent import RandomAgent
from rl_lightning.agents.registry import (ENTRY_POINT_GROUP, register_agent, registered_agents, resolve_agent,
                                          unregister_agent)
from rl_lightning.agents.replay_buffer import ReplayBuffer
from rl_lightning.agents.sac import SAC, SACParams
from rl_lightning.agents.td3 import TD3, TD3Params

__all__ = [
    "PPO",
    "PPOParams",
    "A2C",
    "A2CParams",
    "DQN",
    "DQNParams",
    "SAC",
    "SACParams",
    "TD3",
    "TD3Params",
    "RandomAgent",
    "LightningAgent",
    "OnPolicyAgent",
    "OffPolicyAgent",
    "AgentContext",
    "Params",
    "ReplayBuffer",
    "RolloutBatch",
    "polyak_update",
    "register_agent",
    "unregister_agent",
    "resolve_agent",
    "registered_agents",
    "ENTRY_POINT_GROUP",
    "AgentConfig",
    "load_agent_config",
]
