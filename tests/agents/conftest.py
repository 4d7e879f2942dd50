import os
import sys

import pytest
import torch

# The agent tests import their helpers (agent_helpers.py) from this folder.
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _deterministic():
    """Same numbers on every run: one thread, deterministic kernels, a fixed global seed (agents use their own)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(previous)
