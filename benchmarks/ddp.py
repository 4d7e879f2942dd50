"""Env-steps/s and updates/s of PPO on CartPole-v1 with 1 and 2 DDP processes, 8 sub-envs per rank.

    python benchmarks/ddp.py [--config configs/ppo_cartpole.yaml configs/ppo_cartpole_wide.yaml]
                             [--steps-per-rank 100000] [--accelerator cpu|gpu]

Each ``--config`` (an agent config, ``rl_lightning.agents.config``) is measured in turn; by default the zoo's
CartPole settings, whose update is too small to pay for a collective on a CPU, and ``ppo_cartpole_wide.yaml``, whose
update is compute-bound (512x512 networks, 2,048-sample minibatches: see its comments).
Equal work per rank: each rank steps ``--steps-per-rank`` env steps, so 2 ranks do twice the total work.
Each configuration runs in its own ``python`` process (Lightning's DDP launcher starts the second rank by
re-running this script with ``--child``); the fit's wall time is measured on rank 0 from the first to the
last training step. Target on 2 CPU processes: >= 1.6x the env-steps/s of one process.

It also prints what the collective costs on this machine, without rl_lightning or Lightning: the time of one gloo
``all_reduce`` of a PPO-sized gradient (two processes), and a plain ``torch`` MLP training step with and without
``DistributedDataParallel``. Every PPO gradient step pays one such all-reduce (20 per 256-step rollout with the
zoo settings), which bounds the speed-up whatever the library does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

RESULT = "ddp_bench_result.json"


CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
DEFAULT_CONFIGS = [os.path.join(CONFIGS, "ppo_cartpole.yaml"), os.path.join(CONFIGS, "ppo_cartpole_wide.yaml")]


def child(devices: int, steps_per_rank: int, accelerator: str, out_dir: str, config_path: str) -> None:
    import lightning.pytorch as pl
    import torch

    from rl_lightning import AgentModule
    from rl_lightning.agents import load_agent_config

    torch.set_num_threads(1)

    class Clock(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    config = load_agent_config(config_path)
    module = AgentModule(config.make_agent, config.make_env, total_steps=steps_per_rank * devices, seed=0)
    clock = Clock()
    trainer = pl.Trainer(strategy="ddp" if devices > 1 else "auto", devices=devices, accelerator=accelerator,
                         logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False, callbacks=[clock], max_epochs=-1, limit_val_batches=0)
    trainer.fit(module)
    if trainer.global_rank == 0:
        with open(os.path.join(out_dir, RESULT), "w") as f:
            json.dump({"seconds": clock.seconds, "env_steps": module.rollout.env_steps * devices,
                       "updates": trainer.global_step}, f)


def _collective_costs(rank: int, port: int, steps: int, out_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch import nn

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
    gradient = torch.ones(sum(p.numel() for p in model.parameters()))
    for _ in range(20):
        dist.all_reduce(gradient)
    start = time.perf_counter()
    for _ in range(steps):
        dist.all_reduce(gradient)
    result = {"all_reduce_ms": (time.perf_counter() - start) / steps * 1e3, "floats": gradient.numel()}
    batch = torch.randn(256, 4)
    for name, net in (("plain_step_ms", model), ("ddp_step_ms", nn.parallel.DistributedDataParallel(model))):
        optimizer = torch.optim.Adam(net.parameters(), 1e-3)
        for i in range(steps + 20):
            if i == 20:
                start = time.perf_counter()
            loss = net(batch).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        result[name] = (time.perf_counter() - start) / steps * 1e3
    if rank == 0:
        with open(os.path.join(out_dir, RESULT), "w") as f:
            json.dump(result, f)
    dist.barrier()  # neither process tears gloo down while the other still uses it
    dist.destroy_process_group()


def collective_costs(steps: int = 300) -> dict:
    """gloo all-reduce time and a plain torch MLP step with and without DDP, two processes on this machine."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_collective_costs, args=(port, steps, out_dir), nprocs=2)
        with open(os.path.join(out_dir, RESULT)) as f:
            return json.load(f)


def measure(devices: int, steps_per_rank: int, accelerator: str, config_path: str) -> dict:
    with tempfile.TemporaryDirectory() as out_dir:
        subprocess.run([sys.executable, __file__, "--child", str(devices), "--steps-per-rank", str(steps_per_rank),
                        "--accelerator", accelerator, "--out", out_dir, "--config", config_path], check=True,
                       capture_output=True)
        with open(os.path.join(out_dir, RESULT)) as f:
            return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", nargs="+", default=DEFAULT_CONFIGS, help="agent config(s) to measure")
    parser.add_argument("--steps-per-rank", type=int, default=100_000)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.steps_per_rank, args.accelerator, args.out, args.config[0])
        return
    for config_path in args.config:
        rows = {devices: measure(devices, args.steps_per_rank, args.accelerator, config_path) for devices in (1, 2)}
        print(f"\n{os.path.basename(config_path)}: {args.steps_per_rank:,} env steps per rank, {args.accelerator}")
        print(f"{'devices':>8s} {'env-steps/s':>12s} {'updates/s':>10s} {'wall s':>8s}")
        for devices, row in rows.items():
            print(f"{devices:8d} {row['env_steps'] / row['seconds']:12,.0f} {row['updates'] / row['seconds']:10.1f} "
                  f"{row['seconds']:8.1f}")
        speedup = (rows[2]["env_steps"] / rows[2]["seconds"]) / (rows[1]["env_steps"] / rows[1]["seconds"])
        print(f"2 devices / 1 device env-steps/s: {speedup:.2f}x (target >= 1.6x)", flush=True)
    if args.accelerator == "cpu":
        costs = collective_costs()
        print(f"\nThe collective on this machine (2 processes, gloo, no Lightning): all_reduce of {costs['floats']:,} "
              f"floats {costs['all_reduce_ms']:.2f} ms; a 64x64 MLP training step {costs['plain_step_ms']:.2f} ms "
              f"without DDP, {costs['ddp_step_ms']:.2f} ms with DDP")


if __name__ == "__main__":
    main()
