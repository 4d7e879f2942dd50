"""How long the ``rl-lightning`` command takes to answer ``--help``: the whole command, process start included.

    python benchmarks/cli_startup.py [--repeats 5]

``rl-lightning --help`` imports neither Lightning nor torch nor gymnasium (target: under 1 s);
``rl-lightning fit --help`` needs LightningCLI, so it pays for them. Each command runs ``--repeats`` times in a new
process, after one unmeasured run that warms the file cache; the median wall time is printed, and the range.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = {"rl-lightning --help": ["--help"], "rl-lightning fit --help": ["fit", "--help"]}


def wall_times(args: list[str], repeats: int) -> list[float]:
    """Seconds of each run of the console script (``python -m rl_lightning`` where it is not installed)."""
    script = shutil.which("rl-lightning", path=os.path.dirname(sys.executable))
    command = [sys.executable, script] if script else [sys.executable, "-m", "rl_lightning"]
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([*command, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per command (default 5)")
    repeats = parser.parse_args().repeats
    print(f"median wall time over {repeats} runs (range), on {os.cpu_count()} cores:")
    for label, args in COMMANDS.items():
        times = wall_times(args, repeats)
        print(f"  {label:<24} {statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})")


if __name__ == "__main__":
    main()
