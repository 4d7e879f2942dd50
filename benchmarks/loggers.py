"""What logging costs: per call, and as env-steps/s of a bare per-step CartPole loop.

Run ``python benchmarks/loggers.py`` (about a minute on 2 cores; ``--steps``/``--repeats`` shorten it).

1. Cost per call in microseconds (µs) of each logger, forced and not, with the file closed inside the timing
   so deferred work (TensorBoard's writer thread, held JSONL lines) is counted. Also the alternatives weighed
   for the design: averaging with ``torchmetrics.MeanMetric`` instead of float sums, and ``os.fsync`` after a
   forced JSONL write.
2. Throughput: a ``SyncVectorEnv`` with one ``CartPole-v1`` sub-env (so env steps = vector steps) and a tiny
   numpy agent that sends ``{"loss", "epsilon", "q_max"}`` to ``agents/run_1`` every step, plus forced
   ``ep_return``/``ep_length`` writes at each episode end. Each logger runs the same seeded steps; runs are
   interleaved, and the best of the repeats is compared with ``EmptyCallBack``'s best (as ``timeit`` takes the
   minimum: on a shared machine the slower runs measure the neighbours, not the logger). Rates per wall-clock
   second and per CPU second of the process (all threads, so TensorBoard's writer thread counts) are both
   shown; the second is steadier when other processes compete for the cores.
   Two policies bracket the per-episode cost: an untrained one (short episodes) and a balancing one (episodes
   of up to 500 steps). This loop does nothing but step, act and log, so it shows a logger's cost at its largest.
3. A whole per-step run, the issue's target: ``OnlineTrainer.multi_run`` with one ``CartPole-v1`` sub-env and a
   seed-protocol agent that learns (a linear TD update) and sends ``{"loss", "epsilon", "q_max"}`` through its
   ``call_back`` on every step, with each logger as ``trainer.call_back`` (which also receives the forced
   ``ep_return``/``ep_length`` writes). Timed from Lightning's ``on_train_start`` to the end of ``multi_run``
   (the logger's ``close()`` included, the Trainer's construction not); interleaved repeats, best of the repeats.
   Targets: ``JsonlCallback`` >= 0.95x and ``TBCallBack(flush_every=100)`` >= 0.9x of ``EmptyCallBack``.

Every section also runs ``SeedStyleJsonl``: what the origin trainer's ``JsonlCallback`` does per call, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import sys

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from core import LinearQAgent  # noqa: E402  (the per-step agent of the core benchmark)

from rl_lightning import OnlineTrainer  # noqa: E402
from rl_lightning.loggers import BasicCallBack, EmptyCallBack, JsonlCallback, TBCallBack  # noqa: E402

AGENT_TAG, RETURN_TAG, LENGTH_TAG = "agents/run_1", "ep_return/run_1", "ep_length/run_1"

class SeedStyleJsonl:
    """The reference: what the origin trainer's ``JsonlCallback`` does per call (``json.dumps`` of the record into a
    line-buffered text file, flushed at ``force`` and every 100 calls)."""

    def __init__(self, log_dir: str) -> None:
        self.file = open(os.path.join(log_dir, "seed.jsonl"), "a", buffering=1)  # noqa: SIM115
        self.calls = 0

    def __call__(self, data_dict: dict, tag: str, counter: float, force: bool = False) -> None:
        record = {"step": int(counter), "tag": str(tag), "metrics": {k: float(v) for k, v in data_dict.items()}}
        self.file.write(json.dumps(record) + "\n")
        if force:
            self.file.flush()
            return
        self.calls += 1
        if self.calls % 100 == 0:
            self.file.flush()

    def reset(self) -> None:
        self.calls = 0

    def close(self) -> None:
        self.file.close()


LOGGERS: dict[str, Callable[[str], object]] = {
    "EmptyCallBack": EmptyCallBack,
    "JsonlCallback(flush_every=100)": lambda d: JsonlCallback(os.path.join(d, "metrics.jsonl"), flush_every=100),
    "seed-style JSONL (reference)": SeedStyleJsonl,
    "TBCallBack(flush_every=100)": lambda d: TBCallBack(d, flush_every=100),
    "TBCallBack(flush_every=1000)": lambda d: TBCallBack(d, flush_every=1000),
    "TBCallBack(flush_every=1)": lambda d: TBCallBack(d, flush_every=1),
    "BasicCallBack": BasicCallBack,
}
# Loggers that write TensorBoard events on every call run fewer steps to keep the benchmark short.
SLOW = {"TBCallBack(flush_every=1)", "BasicCallBack"}

POLICIES = {
    # Pushes toward the side the pole falls to: episodes reach the 500-step truncation.
    "balancing": np.array([[0.0, 0.0, -1.0, -1.0], [0.0, 0.0, 1.0, 1.0]]),
    # An untrained linear policy: episodes of a few dozen steps, the worst case for per-episode writes.
    "untrained": np.random.default_rng(1).normal(size=(2, 4)),
}


class TinyAgent:
    """Epsilon-greedy over linear Q-values; ``metrics`` computes a TD error, as a learning agent would."""

    def __init__(self, weights: np.ndarray, epsilon: float, seed: int) -> None:
        self.weights = weights
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.rng.random() < self.epsilon:
            return self.rng.integers(0, 2, size=1)
        return np.argmax(obs @ self.weights.T, axis=1)

    def metrics(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray) -> dict[str, float]:
        q = obs[0] @ self.weights.T
        td_error = reward + 0.99 * float(np.max(next_obs[0] @ self.weights.T)) - float(q[action[0]])
        return {"loss": td_error * td_error, "epsilon": self.epsilon, "q_max": float(np.max(q))}


def run_loop(logger, weights: np.ndarray, n_steps: int, seed: int = 0) -> tuple[float, float, float]:
    """Run ``n_steps`` env steps with ``logger``, ``close()`` included.

    Returns:
        env steps per wall-clock second, env steps per CPU second of this process (all threads), mean episode
        length in env steps.
    """
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
    agent = TinyAgent(weights, epsilon=0.05, seed=seed)
    obs, _ = envs.reset(seed=seed)
    ep_return, ep_length, lengths = 0.0, 0, []
    autoreset = False  # gymnasium 1.x NEXT_STEP autoreset: the step after an episode end only resets
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(1, n_steps + 1):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, _ = envs.step(action)
        logger(agent.metrics(obs, action, float(reward[0]), next_obs), AGENT_TAG, step)
        if autoreset:
            autoreset = False
        else:
            ep_return += float(reward[0])
            ep_length += 1
            if terminated[0] or truncated[0]:
                logger({"ep_return": ep_return}, RETURN_TAG, step, force=True)
                logger({"ep_length": ep_length}, LENGTH_TAG, step, force=True)
                lengths.append(ep_length)
                ep_return, ep_length, autoreset = 0.0, 0, True
        obs = next_obs
    logger.close()
    elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
    envs.close()
    return n_steps / elapsed, n_steps / cpu_elapsed, statistics.fmean(lengths) if lengths else float(n_steps)


def per_call_us(make: Callable[[str], object], force: bool, n_calls: int) -> float:
    """Microseconds per call, ``close()`` included."""
    metrics = {"loss": 0.25, "epsilon": 0.05, "q_max": 1.5}
    with tempfile.TemporaryDirectory() as log_dir:
        logger = make(log_dir)
        start = time.perf_counter()
        for step in range(n_calls):
            logger(metrics, AGENT_TAG, step, force)
        logger.close()
        return (time.perf_counter() - start) / n_calls * 1e6


def meanmetric_vs_float_sums_us(n_values: int) -> tuple[float, float]:
    """Microseconds to add one value to a running mean: ``torchmetrics.MeanMetric`` vs two float sums."""
    from torchmetrics import MeanMetric

    mean = MeanMetric()
    start = time.perf_counter()
    for i in range(n_values):
        mean.update(float(i))
    mean.compute()
    torchmetrics_us = (time.perf_counter() - start) / n_values * 1e6
    window = [0.0, 0.0, 0]
    start = time.perf_counter()
    for i in range(n_values):
        window[0] += float(i)
        window[1] += float(i)
        window[2] += 1
    return torchmetrics_us, (time.perf_counter() - start) / n_values * 1e6


def fsync_us(n_writes: int) -> float:
    """Microseconds for ``os.fsync`` after each one-line write (what a durable forced JSONL write would add)."""
    line = b'{"step": 1, "tag": "ep_return/run_1", "metrics": {"ep_return": 21.0}}\n'
    with tempfile.TemporaryDirectory() as log_dir, open(os.path.join(log_dir, "m.jsonl"), "ab", buffering=0) as file:
        start = time.perf_counter()
        for _ in range(n_writes):
            file.write(line)
            os.fsync(file.fileno())
        return (time.perf_counter() - start) / n_writes * 1e6


def report_per_call(n_calls: int) -> None:
    print("Cost per call, µs (3 metrics per call, close() included, best of 5)")
    print(f"  {'logger':34s} {'not forced':>11s} {'forced':>11s}")
    for name, make in LOGGERS.items():
        n_unforced = n_calls // 20 if name in SLOW else n_calls
        n_forced = n_calls // 20 if "TB" in name or name in SLOW else n_calls
        unforced = min(per_call_us(make, False, n_unforced) for _ in range(5))
        forced = min(per_call_us(make, True, n_forced) for _ in range(5))
        print(f"  {name:34s} {unforced:11.2f} {forced:11.2f}")
    torchmetrics_us, sums_us = meanmetric_vs_float_sums_us(n_calls // 4)
    print(f"  running mean of one value: torchmetrics.MeanMetric {torchmetrics_us:.2f} µs, float sums {sums_us:.2f} µs")
    print(f"  os.fsync after a forced JSONL line: {fsync_us(200):.1f} µs")


def report_throughput(n_steps: int, repeats: int) -> None:
    for policy, weights in POLICIES.items():
        wall: dict[str, list[float]] = {name: [] for name in LOGGERS}
        cpu: dict[str, list[float]] = {name: [] for name in LOGGERS}
        mean_length = 0.0
        for repeat in range(repeats):
            names = list(LOGGERS)
            names = names[repeat % len(names) :] + names[: repeat % len(names)]  # rotate to spread drift
            for name in names:
                steps = n_steps // 4 if name in SLOW else n_steps
                with tempfile.TemporaryDirectory() as log_dir:
                    wall_rate, cpu_rate, mean_length = run_loop(LOGGERS[name](log_dir), weights, steps)
                wall[name].append(wall_rate)
                cpu[name].append(cpu_rate)
        print(
            f"\nThroughput, {policy} policy (mean episode {mean_length:.0f} env steps), {n_steps} env steps "
            f"({n_steps // 4} for the per-call writers) x {repeats} interleaved repeats, best of the repeats"
        )
        print(f"  {'logger':34s} {'env steps/s':>11s} {'vs Empty':>9s} {'per CPU s':>10s} {'vs Empty':>9s}")
        for name in LOGGERS:
            best_wall, best_cpu = max(wall[name]), max(cpu[name])
            wall_ratio = best_wall / max(wall["EmptyCallBack"])
            cpu_ratio = best_cpu / max(cpu["EmptyCallBack"])
            print(f"  {name:34s} {best_wall:11.0f} {wall_ratio:8.3f}x {best_cpu:10.0f} {cpu_ratio:8.3f}x")


class LoggingLinearQAgent(LinearQAgent):
    """The core benchmark's per-step agent, also reporting three metrics through ``call_back`` every step."""

    def update(self, observation, reward, terminated, truncated, call_back=None):
        q = self._obs @ self.w.T
        td_error = super().update(observation, reward, terminated, truncated)
        if call_back is not None:
            call_back({"loss": float(td_error @ td_error), "epsilon": self.epsilon, "q_max": float(q.max())})


class _TrainStart(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        self.time, self.cpu_time = time.perf_counter(), time.process_time()


def run_online_trainer(make_logger: Callable[[str], object], n_steps: int) -> tuple[float, float]:
    """Env steps per wall-clock second and per CPU second (all threads) of one ``OnlineTrainer`` run with
    ``make_logger(exp_dir)`` as its ``call_back``."""
    start = _TrainStart()
    with tempfile.TemporaryDirectory() as exp_dir:
        trainer = OnlineTrainer(lambda: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")]),
                                LoggingLinearQAgent, exp_dir=exp_dir, progress=False, checkpoint_interval=None,
                                trainer_kwargs={"callbacks": [start]})
        trainer.call_back = make_logger(exp_dir)
        trainer.multi_run(1, total_steps=n_steps, seed_offset=0, dump_metrics=False, keep_metrics_in_memory=False)
        return n_steps / (time.perf_counter() - start.time), n_steps / (time.process_time() - start.cpu_time)


def report_online_trainer(n_steps: int, repeats: int) -> None:
    names = ["EmptyCallBack", "JsonlCallback(flush_every=100)", "TBCallBack(flush_every=100)",
             "seed-style JSONL (reference)"]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            wall_rate, cpu_rate = run_online_trainer(LOGGERS[name], n_steps)
            wall[name].append(wall_rate)
            cpu[name].append(cpu_rate)
    print(f"\nWhole per-step run through OnlineTrainer (1 sub-env, the agent logs every step), {n_steps} env steps "
          f"x {repeats} interleaved repeats, best of the repeats")
    print(f"  {'logger':34s} {'env steps/s':>11s} {'vs Empty':>9s} {'per CPU s':>10s} {'vs Empty':>9s} {'target':>7s}")
    targets = {"JsonlCallback(flush_every=100)": 0.95, "TBCallBack(flush_every=100)": 0.9}
    for name in names:
        wall_ratio = max(wall[name]) / max(wall["EmptyCallBack"])
        cpu_ratio = max(cpu[name]) / max(cpu["EmptyCallBack"])
        target = f"{targets[name]:.2f}" if name in targets else ""
        print(f"  {name:34s} {max(wall[name]):11.0f} {wall_ratio:8.3f}x {max(cpu[name]):10.0f} {cpu_ratio:8.3f}x "
              f"{target:>7s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="calls per per-call measurement")
    parser.add_argument("--steps", type=int, default=6000, help="env steps per throughput run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per logger and policy")
    parser.add_argument("--run-steps", type=int, default=30000, help="env steps per OnlineTrainer run")
    args = parser.parse_args()
    report_per_call(args.calls)
    report_throughput(args.steps, args.repeats)
    report_online_trainer(args.run_steps, args.repeats)


if __name__ == "__main__":
    main()
