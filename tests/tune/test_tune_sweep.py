"""``run_sweep`` on tiny budgets: the database and trial folders it writes, resuming, pruning, grid search,
the summary and the importance plot.

The agent is :class:`ChosenActionAgent` on :class:`ActionPaysEnv` (``tune_doubles``): it plays the action its
``tuning_hp`` names, and the env pays the action, so ``action=1`` scores the mean episode length and
``action=0`` scores 0. Every trial uses the same env seeds (``seed_offset=0``), so equal hyperparameters give
equal objectives.
"""

import csv
import os

import optuna
import pytest
from PIL import Image
from tune_doubles import ChosenActionAgent, make_action_pays_env, make_chosen_action_agent

from rl_lightning import OnlineTrainer
from rl_lightning.tune import format_table, run_sweep, summarize

ACTION = {"action": {"type": "categorical", "choices": [0, 1]}}
SPACE = {**ACTION, "noise": {"type": "float", "low": 0.0, "high": 1.0}}
TINY = dict(num_runs=1, total_steps=20)  # 10 vector steps of 2 sub-envs: about 4 episodes


def _sweep(tmp_path, n_trials, space=SPACE, **kwargs):
    options = dict(storage=f"sqlite:///{tmp_path}/sweep.db", study_name="s", sweep_dir=tmp_path / "sweep",
                   sampler_seed=0, **TINY)
    options.update(kwargs)
    return run_sweep(make_action_pays_env(), make_chosen_action_agent, space, n_trials=n_trials, **options)


def _params(study):
    return [(t.number, t.state.name, t.params, t.value) for t in study.trials]


def test_a_sweep_writes_its_study_and_resumes_it_up_to_n_trials(tmp_path):
    study = _sweep(tmp_path, 4, num_runs=2)
    assert (tmp_path / "sweep.db").is_file()
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    first_four = _params(study)

    # Each trial trained its runs in its own folder, with the usual files and its hyperparameters in args.yaml.
    trial_0 = study.trials[0]
    assert trial_0.user_attrs["exp_dir"] == str(tmp_path / "sweep" / "trial_0")
    assert {"metrics_run1.pkl", "metrics_run2.pkl", "args.yaml"} <= set(os.listdir(tmp_path / "sweep" / "trial_0"))
    assert OnlineTrainer.load_args(trial_0.user_attrs["exp_dir"]).tuning_hp == trial_0.params
    runs = OnlineTrainer.load_all_run_metrics(trial_0.user_attrs["exp_dir"])
    last_k = [sum(e["ep_return"] for e in run[-10:]) / len(run[-10:]) for run in runs]
    assert trial_0.value == pytest.approx(sum(last_k) / 2)  # the mean over runs of the last-10-episode return

    # Rerun asking for 6: the 4 trials are kept as they are and 2 more run.
    resumed = _sweep(tmp_path, 6, num_runs=2)
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3, 4, 5]
    assert _params(resumed)[:4] == first_four
    assert sorted(os.listdir(tmp_path / "sweep")) == [
        "param_importances.png", "summary.csv", *(f"trial_{n}" for n in range(6))]

    # A rerun asking for no more trials than the study holds runs none.
    assert len(_sweep(tmp_path, 5, num_runs=2).trials) == 6


def test_resuming_with_other_settings_is_refused(tmp_path):
    _sweep(tmp_path, 1, write_summary=False)
    with pytest.raises(ValueError, match=r"study 's' was run with other settings, so its trials would not be "
                                         r"comparable \(num_runs: stored 1, given 3\)"):
        _sweep(tmp_path, 2, num_runs=3)


def test_pruning_stops_a_clearly_bad_trial_after_its_first_report(tmp_path):
    # Three good trials, then a bad one, in this order: seed the study as users seed theirs with known configs.
    storage = f"sqlite:///{tmp_path}/sweep.db"
    seeded = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    for action in (1, 1, 1, 0):
        seeded.enqueue_trial({"action": action})
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    # Report twice per run; a segment is 5 vector steps, so the first report comes mid-run 1 (after 10 env steps).
    study = _sweep(tmp_path, 4, space=ACTION, pruner=pruner, reports_per_run=2, segment_steps=5, num_runs=2,
                   write_summary=False)

    good, bad = study.trials[:3], study.trials[3]
    assert [t.state.name for t in good] == ["COMPLETE"] * 3
    assert sorted(good[0].intermediate_values) == [0, 1, 2, 3]  # 2 runs x 2 reports, the last one the objective
    assert good[0].intermediate_values[3] == good[0].value
    assert bad.state.name == "PRUNED"
    assert bad.intermediate_values == {0: 0.0}
    # Run 1 stopped at its first report and wrote its files; run 2 never started.
    assert sorted(n for n in os.listdir(bad.user_attrs["exp_dir"]) if n.startswith("metrics")) == ["metrics_run1.pkl"]
    episodes = OnlineTrainer.load_run_metrics(bad.user_attrs["exp_dir"], 1)
    assert sum(e["ep_length"] for e in episodes) < TINY["total_steps"]


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """A grid search over action x noise: 4 grid points, 4 trials."""
    tmp_path = tmp_path_factory.mktemp("grid")
    space = {**ACTION, "noise": {"type": "float", "low": 0.0, "high": 1.0, "grid": [0.25, 0.75]}}
    return _sweep(tmp_path, None, space=space, grid=True), tmp_path / "sweep"


def test_grid_search_visits_every_grid_point_once(grid_sweep):
    study, _ = grid_sweep
    visited = sorted((t.params["action"], t.params["noise"]) for t in study.trials)
    assert visited == [(0, 0.25), (0, 0.75), (1, 0.25), (1, 0.75)]


def test_the_summary_lists_trials_best_first_in_a_table_a_csv_and_an_importance_plot(grid_sweep):
    study, sweep_dir = grid_sweep
    rows = summarize(study)
    assert [row["params"]["action"] for row in rows] == [1, 1, 0, 0]
    values = [row["value"] for row in rows]
    assert values == sorted(values, reverse=True) and values[0] > 0 == values[-1]
    assert [row["number"] for row in rows[:2]] == sorted(row["number"] for row in rows[:2])  # ties: by number

    table = format_table(rows).splitlines()
    assert table[0].split() == ["number", "state", "value", "action", "noise", "last_step", "last_value", "duration_s"]
    assert table[1].split()[1:4] == ["COMPLETE", f"{values[0]:.4g}", "1"]

    with open(sweep_dir / "summary.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [int(row["number"]) for row in written] == [row["number"] for row in rows]
    assert written[0]["exp_dir"] == rows[0]["exp_dir"]

    with Image.open(sweep_dir / "param_importances.png") as image:
        assert image.format == "PNG" and image.size[0] > 100


def test_hyperparameters_can_go_to_the_agent_factory_instead_of_set_hp(tmp_path):
    built = []

    def make_agent(env, hp):
        agent = ChosenActionAgent()
        agent.hp = hp  # taken at construction, as built-in agents take the hyperparameters that shape networks
        built.append(agent)
        return agent

    study = run_sweep(make_action_pays_env(), make_agent, ACTION, n_trials=2, hp_to="factory", sampler_seed=0,
                      sweep_dir=tmp_path / "sweep", write_summary=False, **TINY)
    # One agent per run trains; multi_run also builds one per trial for its check before run 1, with the same hp.
    trained = [agent.hp for agent in built if "update" in agent.calls]
    assert trained == [t.params for t in study.trials for _ in range(TINY["num_runs"])]
    assert len(built) == len(trained) + len(study.trials)
    assert not any("set_hp" in agent.calls for agent in built)


def test_a_run_that_finishes_no_episode_fails_the_trial_with_the_remedy(tmp_path):
    with pytest.raises(ValueError, match=r"trial 0: run\(s\) \[1\] finished no episode within total_steps=4, so "
                                         "the objective is undefined; raise total_steps"):
        _sweep(tmp_path, 1, total_steps=4, write_summary=False)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/sweep.db")
    assert [t.state.name for t in study.trials] == ["FAIL"]


def test_a_failed_trial_stops_the_sweep_and_the_rerun_replaces_it(tmp_path):
    def broken_agent(env):
        raise RuntimeError("agent bug")

    with pytest.raises(RuntimeError, match="agent bug"):
        run_sweep(make_action_pays_env(), broken_agent, ACTION, n_trials=2, storage=f"sqlite:///{tmp_path}/sweep.db",
                  study_name="s", sweep_dir=tmp_path / "sweep", sampler_seed=0, **TINY)
    # Fixed, the same command completes the study: failed trials do not count towards n_trials.
    study = _sweep(tmp_path, 2, space=ACTION, write_summary=False)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
