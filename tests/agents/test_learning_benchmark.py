"""benchmarks/learning.py: its solve-step rule and one tiny run end to end."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
_spec = importlib.util.spec_from_file_location("learning_benchmark", os.path.join(ROOT, "benchmarks", "learning.py"))
learning = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(learning)


def test_first_solved_step_uses_the_trailing_hundred_episode_mean():
    episodes = [(10 * k, 0.0) for k in range(1, 101)] + [(2000 + k, 500.0) for k in range(1, 101)]
    # 100 zeros then 500s: the 100-episode mean reaches 475 once 95 of the last 100 are 500s.
    assert learning.first_solved_step(episodes, 475.0) == 2095
    assert learning.first_solved_step([(5, 480.0)], 475.0) == 5  # fewer than 100 episodes: their mean
    assert learning.first_solved_step(episodes, None) is None
    assert learning._median_step([100, 300], 3) == "300" and learning._median_step([100], 3) == "never"


def test_a_tiny_run_prints_and_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "results.json"
    results = learning.main(["--config", os.path.join(ROOT, "configs", "random_cartpole.yaml"), "--seeds", "2",
                             "--total-steps", "400", "--eval-episodes", "2", "--json", str(out)])
    printed = capsys.readouterr().out
    assert [r["seed"] for r in results] == [0, 1]
    assert all(word in printed for word in ("last100", "greedy", "steps/s", "solved by the budget: 0/2"))
    saved = json.loads(out.read_text())
    assert saved["config"]["total_steps"] == 400 and len(saved["results"]) == 2
    assert all(r["solved_at"] is None and 5 < r["last100"] < 60 for r in results)
    with pytest.raises(SystemExit):
        learning.main(["--config", "x.yaml", "--seeds", "0"])


def test_the_best_agent_column_leaves_the_final_agent_as_a_run_without_it_trains(tmp_path, capsys):
    config = tmp_path / "ppo.yaml"
    config.write_text("env_id: CartPole-v1\nnum_envs: 2\nvectorization_mode: vector_entry_point\nagent: PPO\n"
                      "hyperparameters: {n_steps: 16, batch_size: 32, n_epochs: 2}\ntotal_steps: 512\n")
    common = ["--config", str(config), "--seeds", "1", "--eval-episodes", "2"]
    plain = learning.main(common + ["--periodic-eval-every", "0"])[0]
    assert plain["best_greedy"] is None and "best agent" not in capsys.readouterr().out

    with_best = learning.main(common + ["--periodic-eval-every", "128", "--periodic-eval-episodes", "3"])[0]
    printed = capsys.readouterr().out
    # Periodic greedy evaluations draw nothing from PPO's generator: the final agent trains exactly the same.
    assert {k: with_best[k] for k in ("episodes", "last100", "greedy", "solved_at")} == \
        {k: plain[k] for k in ("episodes", "last100", "greedy", "solved_at")}
    # Evaluations at 128, 256, 384 and 512 env steps (a rollout is 32); the best one's copy is rated on its own.
    assert with_best["best_at"] in (128, 256, 384, 512) and with_best["best_greedy"] > 0
    assert "best agent: greedy" in printed and "best agent (periodic evaluation)" in printed


def test_sb3_runs_beside_on_the_same_seeds_with_the_same_hyperparameters(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env

    a2c_config = learning.load_agent_config(os.path.join(ROOT, "configs", "a2c_cartpole.yaml"))
    a2c = learning.sb3_model(a2c_config, make_vec_env("CartPole-v1", n_envs=8, seed=0), seed=0)
    assert (a2c.n_steps, a2c.gamma, a2c.gae_lambda, a2c.ent_coef, a2c.vf_coef, a2c.max_grad_norm) == \
        (5, 0.99, 1.0, 0.0, 0.5, 0.5)
    assert type(a2c.policy.optimizer).__name__ == "RMSprop" and a2c.policy.optimizer.defaults["eps"] == 1e-5
    td3_config = learning.load_agent_config(os.path.join(ROOT, "configs", "td3_pendulum.yaml"))
    td3 = learning.sb3_model(td3_config, make_vec_env("Pendulum-v1", n_envs=1, seed=0), seed=0)
    assert (td3.gamma, td3.buffer_size, td3.learning_starts, td3.batch_size, td3.tau, td3.policy_delay,
            td3.target_policy_noise, td3.target_noise_clip) == (0.98, 200_000, 10_000, 256, 0.005, 2, 0.2, 0.5)
    assert td3.action_noise._sigma.tolist() == [0.1] and td3.policy.net_args["net_arch"] == [400, 300]

    out = tmp_path / "results.json"
    learning.main(["--config", os.path.join(ROOT, "configs", "a2c_cartpole.yaml"), "--seeds", "1", "--total-steps",
                   "400", "--eval-episodes", "2", "--periodic-eval-every", "0", "--sb3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "SB3  seed   0 | last100" in printed and "Stable-Baselines3 A2C on CartPole-v1, 400 env steps" in printed
    saved = json.loads(out.read_text())
    assert [r["seed"] for r in saved["sb3_results"]] == [0] and saved["sb3_results"][0]["episodes"] > 0
