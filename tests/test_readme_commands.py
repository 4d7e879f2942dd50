"""Every shell command in the README runs as pasted (issue 25), with tiny budgets so the suite stays short.

The fenced ``bash`` blocks are read in order and run in one scratch folder holding the repository's ``configs/`` and
``examples/``, so a later command finds the files an earlier one wrote (``rl-lightning plot runs/quickstart`` after
the Quickstart). Only budgets change: env steps, runs, trials, episodes. The Quickstart's ``pip install`` is what
made this environment, and its ``python -m pytest`` is this suite, so neither runs again.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

# (pattern, replacement) applied to each command: budgets only.
SHRINK = [
    (r"--model\.total_steps \d+", "--model.total_steps 512"),
    (r"--model\.steps_per_epoch \d+", "--model.steps_per_epoch 256"),
    (r"--model\.val_episodes \d+", "--model.val_episodes 2"),
    (r"--total_steps \d+", "--total_steps 512"),
    (r"--total-steps \d+", "--total-steps 256"),
    (r"--num_runs \d+", "--num_runs 2"),
    (r"--num-runs \d+", "--num-runs 1"),
    (r"--n-trials \d+", "--n-trials 2"),
    (r"--episodes \d+", "--episodes 2"),
    (r"--trainer\.max_time \S+", "--trainer.max_time 00:00:00:02"),
]
# Budget flags each command gets when it has none.
BUDGET = {
    "fit": "--model.total_steps 512 --model.steps_per_epoch 256 --model.val_episodes 2",
    "validate": "--model.val_episodes 2",
    "test": "--model.val_episodes 2",
    "multirun": "--total_steps 512",
    "sweep": "--total-steps 256",
}


def readme_commands():
    """The README's shell commands, in order: continuation lines joined, comments dropped."""
    text = open(README).read()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            for part in (p.strip() for p in line.split("&&")):
                if part and not part.startswith("pip install") and part != "python -m pytest":
                    commands.append(part)
    return commands


def shrunk(command):
    for pattern, replacement in SHRINK:
        command = re.sub(pattern, replacement, command)
    words = command.split()
    if "--print_config" in words:
        # The printed config is fed back by the next commands: a budget that --trainer.max_time (2 s) cuts short
        # with room to spare (PPO trains ~12k env steps/s here).
        return command.replace("--print_config", "--model.total_steps 60000 --print_config")
    if words[:1] == ["rl-lightning"] and len(words) > 1 and "--help" not in words and "run.yaml" not in words:
        budget = BUDGET.get(words[1], "")
        flag = budget.split()[0] if budget else None
        if flag and flag not in command:
            command = command.replace(">", f"{budget} >", 1) if ">" in command else f"{command} {budget}"
    return command


def test_the_readme_has_commands_for_each_first_hour_task():
    commands = readme_commands()
    for start in ("python examples/quickstart.py", "rl-lightning fit", "rl-lightning multirun", "rl-lightning plot",
                  "rl-lightning evaluate", "rl-lightning sweep", "rl-lightning validate", "rl-lightning test"):
        assert any(c.startswith(start) for c in commands), start


def test_every_readme_command_runs_as_pasted(tmp_path):
    for name in ("configs", "examples"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    env = dict(os.environ, RL_LIGHTNING_EXAMPLE_STEPS="1024", PYTHONUNBUFFERED="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    failures = []
    for command in readme_commands():
        command = shrunk(command)
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        if result.returncode != 0:
            failures.append(f"$ {command}\n(exit {result.returncode})\n{result.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)
