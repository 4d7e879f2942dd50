import os
import sys

import pytest
import torch

# Tests import the bare-loop oracle beside them.
sys.path.insert(0, os.path.dirname(__file__))
# Headless pygame for the render tests.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(autouse=True)
def _one_thread():
    """Numbers compared across runs come from one thread."""
    torch.set_num_threads(1)
    yield
