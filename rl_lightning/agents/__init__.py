"""Built-in agents."""

from rl_lightning.agents.random_agent import RandomAgent

__all__ = ["RandomAgent"]
