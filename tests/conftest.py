import os
import subprocess
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


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write to: a read-only tmpfs when running as root (root ignores permissions), else
    a folder without write permission."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)]).returncode != 0:
            pytest.skip("running as root where mount is not permitted: no way to make a read-only folder")
        yield path
        subprocess.run(["umount", str(path)])
    else:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)
