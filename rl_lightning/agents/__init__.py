"""Built-in agents: PPO, DQN, SAC (Lightning-native ``LightningAgent`` s) and the random baseline.

Each speaks the seed agent protocol, so ``OnlineTrainer(make_env, PPO.for_env)`` runs it unchanged, and each is a
``torch.nn.Module`` that :class:`~rl_lightning.AgentModule` registers and learns through. Configs in YAML are
read by :func:`load_agent_config`.
"""

from rl_lightning.agents.base import LightningAgent
from rl_lightning.agents.config import AgentConfig, load_agent_config
from rl_lightning.agents.dqn import DQN, DQNParams
from rl_lightning.agents.hparams import Params
from rl_lightning.agents.ppo import PPO, PPOParams
from rl_lightning.agents.random_agent import RandomAgent
from rl_lightning.agents.replay_buffer import ReplayBuffer
from rl_lightning.agents.sac import SAC, SACParams

__all__ = [
    "PPO",
    "PPOParams",
    "DQN",
    "DQNParams",
    "SAC",
    "SACParams",
    "RandomAgent",
    "LightningAgent",
    "Params",
    "ReplayBuffer",
    "AgentConfig",
    "load_agent_config",
]
