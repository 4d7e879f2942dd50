"""Learning benchmark: train an agent config over several seeds and report how well and how fast it learned.

Usage::

    python benchmarks/learning.py --config configs/ppo_cartpole.yaml --seeds 5
    python benchmarks/learning.py --config configs/a2c_cartpole.yaml --seeds 3 --sb3   # beside Stable-Baselines3

Every seed is one ``OnlineTrainer.multi_run`` run (run seed = seed, sub-env ``i`` resets with ``seed + i``).
Printed per seed:

- ``last100``: mean return of the last 100 training episodes (fewer if fewer finished);
- ``greedy``: mean return of a greedy evaluation over ``--eval-episodes`` episodes on a fresh one-sub-env env
  (``OnlineTrainer(train=False)``, seeds from ``10_000 + seed``);
- ``solved_at``: the first env step (summed over sub-envs) at which the mean of the last 100 training episodes
  (fewer before 100 finished, as Stable-Baselines3 logs it) reaches the solve threshold, ``-`` if never;
- ``best``: the *best agent* figure, a second reading beside ``greedy`` (which always rates the final agent).
  Every ``--periodic-eval-every`` env steps training pauses for a greedy evaluation of ``--periodic-eval-episodes``
  episodes (at least one per sub-env) on an env of the training env's size, seeded from ``20_000 + seed`` (not the
  final evaluation's seeds, so picking the best does not peek at them); a copy of the agent is kept whenever that
  mean beats every earlier one, as rl-baselines3-zoo's ``EvalCallback`` keeps ``best_model.zip``. ``best`` is that
  copy's greedy mean over the same ``--eval-episodes`` episodes as ``greedy``, and ``@`` the env step it was taken at.
  A built-in learning agent acts greedily without drawing from its generator, so the final agent is the one a run
  without periodic evaluations trains (``--periodic-eval-every 0`` turns them off);
- ``wall`` and ``steps/s``: the training run's wall time (Lightning's start-up included, the periodic evaluations
  left out) and env steps per second.

With ``--sb3`` (PPO, A2C, DQN, SAC and TD3 configs; ``benchmarks/sb3_models.py``) every seed is also trained by
Stable-Baselines3's algorithm with the same hyperparameters, env, budget and seeds (``make_vec_env(env_id, n_envs,
seed=seed)``: sub-env ``i`` resets with ``seed + i`` too), and rated the same way: ``last100`` and ``solved_at``
from its Monitor's training episodes, ``greedy`` from ``evaluate_policy(deterministic=True)`` over
``--eval-episodes`` episodes on a one-sub-env env seeded ``10_000 + seed``. It has no periodic evaluations, so no
``best`` column. Stable-Baselines3 is the ``bench`` extra.

Torch runs on one thread (``torch.set_num_threads(1)``) so that figures compare across machines' core counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import sys
import time
from collections import deque
from typing import Any, Optional

import numpy as np
import torch

from rl_lightning import OnlineTrainer
from rl_lightning.agents import AgentConfig, load_agent_config
from rl_lightning.callbacks import PeriodicEvaluation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sb3_models import sb3_model  # noqa: E402  (beside this script)

WINDOW = 100
EVAL_SEED_OFFSET = 10_000
PERIODIC_EVAL_SEED_OFFSET = 20_000


class EpisodeRecorder:
    """A seed-style ``call_back`` that keeps ``(env_step, ep_return)`` of every training episode."""

    def __init__(self) -> None:
        self.episodes: list[tuple[int, float]] = []

    def __call__(self, data: dict, tag: str, counter: int, force: Optional[bool] = None) -> None:
        if tag.startswith("ep_return/"):
            self.episodes.append((int(counter), float(data["ep_return"])))

    def reset(self) -> None:
        self.episodes = []

    def close(self) -> None:
        """Nothing to flush."""


class BestAgentEvaluation(PeriodicEvaluation):
    """``PeriodicEvaluation`` that also keeps a copy of the agent (``agent.save()``) at its best evaluation.

    Only a strictly higher mean replaces the copy, so a tie keeps the earlier agent. ``seconds`` is the time spent
    evaluating and copying, which the benchmark leaves out of the training wall time.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.best_mean = float("-inf")
        self.best_step: Optional[int] = None
        self.best_checkpoint: Optional[dict] = None
        self.seconds = 0.0

    def evaluate(self, pl_module: Any, env_steps: int) -> dict:
        start = time.perf_counter()
        result = super().evaluate(pl_module, env_steps)
        if result["ep_return_mean"] > self.best_mean:
            self.best_mean, self.best_step = result["ep_return_mean"], int(env_steps)
            self.best_checkpoint = pl_module.agent.save()
        self.seconds += time.perf_counter() - start
        return result


def first_solved_step(episodes: list[tuple[int, float]], threshold: Optional[float]) -> Optional[int]:
    """The first env step at which the trailing ``WINDOW``-episode mean return reaches ``threshold``."""
    if threshold is None:
        return None
    window: deque = deque(maxlen=WINDOW)
    for step, ep_return in episodes:
        window.append(ep_return)
        if sum(window) / len(window) >= threshold:
            return step
    return None


def greedy_mean(config: AgentConfig, agent: Any, seed: int, eval_episodes: int) -> float:
    """Mean return of ``eval_episodes`` greedy episodes of ``agent`` on a fresh one-sub-env env (seeds from
    ``10_000 + seed``)."""
    evaluator = OnlineTrainer(lambda: config.make_env(num_envs=1), agent, train=False, progress=False)
    evaluator.call_back = EpisodeRecorder()
    episodes = evaluator.multi_run(1, num_episodes=eval_episodes, seed_offset=EVAL_SEED_OFFSET + seed,
                                   dump_metrics=False, keep_metrics_in_memory=True)[0]
    return float(np.mean([e["ep_return"] for e in episodes]))


def run_seed(config: AgentConfig, seed: int, eval_episodes: int, periodic_every: int = 0,
             periodic_episodes: int = 5) -> dict:
    """Train one seed, evaluate its final agent (and, with ``periodic_every``, its best one) greedily, and return
    its figures."""
    recorder = EpisodeRecorder()
    periodic = None
    if periodic_every > 0:
        periodic = BestAgentEvaluation(config.make_env, every_n_steps=periodic_every,
                                       num_episodes=max(periodic_episodes, config.num_envs),
                                       seed=PERIODIC_EVAL_SEED_OFFSET + seed)
    trainer = OnlineTrainer(config.make_env, config.make_agent, progress=False,
                            trainer_kwargs=None if periodic is None else {"callbacks": [periodic]})
    trainer.call_back = recorder
    start = time.perf_counter()
    trainer.multi_run(1, total_steps=config.total_steps, seed_offset=seed, dump_metrics=False,
                      keep_metrics_in_memory=False)
    wall = time.perf_counter() - start - (0.0 if periodic is None else periodic.seconds)
    returns = [r for _, r in recorder.episodes]
    greedy = greedy_mean(config, trainer.agent, seed, eval_episodes)

    best, best_at = None, None
    if periodic is not None and periodic.best_checkpoint is not None:
        best_agent = type(trainer.agent).load(None, periodic.best_checkpoint)
        best, best_at = greedy_mean(config, best_agent, seed, eval_episodes), periodic.best_step
    return {
        "seed": seed,
        "episodes": len(returns),
        "last100": float(np.mean(returns[-WINDOW:])) if returns else float("nan"),
        "greedy": greedy,
        "solved_at": first_solved_step(recorder.episodes, config.threshold),
        "best_greedy": best,
        "best_at": best_at,
        "wall_s": wall,
        "steps_per_s": config.total_steps / wall,
    }


def run_sb3_seed(config: AgentConfig, seed: int, eval_episodes: int) -> dict:
    """Train Stable-Baselines3's algorithm on one seed and rate it as :func:`run_seed` rates ours."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    class Episodes(BaseCallback):
        """``(env_step, ep_return)`` of every training episode, from the Monitor wrappers' ``episode`` infos."""

        def __init__(self) -> None:
            super().__init__()
            self.episodes: list[tuple[int, float]] = []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.episodes.append((self.num_timesteps, float(info["episode"]["r"])))
            return True

    start = time.perf_counter()
    env = make_vec_env(config.env_id, n_envs=config.num_envs, seed=seed, env_kwargs=config.env_kwargs)
    model = sb3_model(config, env, seed)
    recorder = Episodes()
    model.learn(total_timesteps=config.total_steps, callback=recorder)
    wall = time.perf_counter() - start
    eval_env = make_vec_env(config.env_id, n_envs=1, seed=EVAL_SEED_OFFSET + seed, env_kwargs=config.env_kwargs)
    greedy, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=True)
    returns = [r for _, r in recorder.episodes]
    return {"seed": seed, "episodes": len(returns),
            "last100": float(np.mean(returns[-WINDOW:])) if returns else float("nan"), "greedy": float(greedy),
            "solved_at": first_solved_step(recorder.episodes, config.threshold), "best_greedy": None, "best_at": None,
            "wall_s": wall, "steps_per_s": config.total_steps / wall}


def _row(result: dict) -> str:
    solved = "-" if result["solved_at"] is None else f"{result['solved_at']:,}"
    best = "" if result["best_greedy"] is None else (f"best agent: greedy {result['best_greedy']:8.1f} @ "
                                                     f"{result['best_at']:>7,} | ")
    return (f"seed {result['seed']:>3} | last100 {result['last100']:8.1f} | greedy {result['greedy']:8.1f} | "
            f"solved_at {solved:>8} | {best}wall {result['wall_s']:6.1f} s | {result['steps_per_s']:7,.0f} steps/s")


def summarize(config: AgentConfig, results: list[dict], who: str = "") -> str:
    threshold = config.threshold
    solved = [r["solved_at"] for r in results if r["solved_at"] is not None]
    lines = [f"{who}{config.agent} on {config.env_id}, {config.total_steps:,} env steps, {len(results)} seed(s), "
             f"threshold {threshold}"]
    if threshold is not None:
        lines.append(f"  last100 >= threshold: {sum(r['last100'] >= threshold for r in results)}/{len(results)}; "
                     f"greedy >= threshold: {sum(r['greedy'] >= threshold for r in results)}/{len(results)}")
        lines.append(f"  solved by the budget: {len(solved)}/{len(results)}; median first step to solve (unsolved "
                     f"seeds count as never): {_median_step(solved, len(results))}")
        rated = [r["best_greedy"] for r in results if r["best_greedy"] is not None]
        if rated:
            lines.append(f"  best agent (periodic evaluation), greedy >= threshold: "
                         f"{sum(b >= threshold for b in rated)}/{len(rated)}")
    median = statistics.median
    lines.append(f"  median last100 {median(r['last100'] for r in results):.1f}, median greedy "
                 f"{median(r['greedy'] for r in results):.1f}, median {median(r['steps_per_s'] for r in results):,.0f} "
                 f"steps/s, total wall {sum(r['wall_s'] for r in results):.1f} s")
    return "\n".join(lines)


def _median_step(solved: list, runs: int) -> str:
    """Median over all runs of the first solving step, an unsolved run counting as never (infinity)."""
    median = statistics.median(sorted(solved) + [float("inf")] * (runs - len(solved)))
    return "never" if median == float("inf") else f"{median:,.0f}"


def main(argv: Optional[list] = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="agent config YAML, e.g. configs/ppo_cartpole.yaml")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (runs)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first run; runs use consecutive seeds")
    parser.add_argument("--eval-episodes", type=int, default=20, help="greedy evaluation episodes per seed")
    parser.add_argument("--total-steps", type=int, default=None, help="override the config's step budget")
    parser.add_argument("--periodic-eval-every", type=int, default=5_000,
                        help="env steps between the periodic greedy evaluations that pick the best agent (0: none)")
    parser.add_argument("--periodic-eval-episodes", type=int, default=5,
                        help="episodes per periodic evaluation (at least one per sub-env)")
    parser.add_argument("--sb3", action="store_true",
                        help="also train Stable-Baselines3's algorithm on the same seeds (A2C and TD3 configs)")
    parser.add_argument("--json", default=None, help="also write the per-seed figures to this JSON file")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.eval_episodes < 1 or args.first_seed < 0 or (args.total_steps or 1) < 1:
        parser.error("--seeds, --eval-episodes and --total-steps must be >= 1, --first-seed >= 0")
    if args.periodic_eval_every < 0 or args.periodic_eval_episodes < 1:
        parser.error("--periodic-eval-every must be >= 0, --periodic-eval-episodes >= 1")

    torch.set_num_threads(1)
    logging.getLogger("rl_lightning").setLevel(logging.WARNING)
    config = load_agent_config(args.config)
    if args.total_steps is not None:
        config = dataclasses.replace(config, total_steps=args.total_steps)
    print(f"config {args.config}: {config.agent} on {config.env_id} x{config.num_envs} ({config.vectorization_mode}), "
          f"{config.total_steps:,} env steps, hyperparameters {config.hyperparameters}", flush=True)
    results: list[dict[str, Any]] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        results.append(run_seed(config, seed, args.eval_episodes, args.periodic_eval_every,
                                args.periodic_eval_episodes))
        print(_row(results[-1]), flush=True)
    sb3_results: list[dict[str, Any]] = []
    if args.sb3:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            sb3_results.append(run_sb3_seed(config, seed, args.eval_episodes))
            print("SB3  " + _row(sb3_results[-1]), flush=True)
    print(summarize(config, results))
    if sb3_results:
        print(summarize(config, sb3_results, who="Stable-Baselines3 "))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": config.to_dict(), "results": results, "sb3_results": sb3_results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
