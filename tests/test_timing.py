"""The ``timing/run_{r}`` figures: averages over every call of the run and over the last 200 calls."""

import pytest

from rl_lightning.timing import StepTimer


def test_averages_cover_every_call_and_the_moving_window_the_last_ones_across_summaries():
    timer = StepTimer(window=3)
    acts = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    updates = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    for a, u in zip(acts[:2], updates[:2]):
        timer.add_act(a)
        timer.add_update(u)
    first = timer.summary(num_envs=2)
    assert first["time_act_avg_iter_s"] == pytest.approx(0.15)
    assert first["time_act_ma_iter_s"] == pytest.approx(0.15)  # fewer calls than the window: all of them
    for a, u in zip(acts[2:], updates[2:]):
        timer.add_act(a)
        timer.add_update(u)
    second = timer.summary(num_envs=2)
    assert second["time_act_avg_iter_s"] == pytest.approx(sum(acts) / 7)
    assert second["time_update_avg_iter_s"] == pytest.approx(4.0)
    assert second["time_act_avg_envstep_s"] == pytest.approx(sum(acts) / 7 / 2)
    assert second["time_update_avg_envstep_s"] == pytest.approx(2.0)
    assert second["time_act_ma_iter_s"] == pytest.approx(0.6)  # the last three calls
    assert second["time_update_ma_iter_s"] == pytest.approx(6.0)
    assert timer.summary(num_envs=2) == second  # no new calls, same figures


def test_no_figures_before_both_act_and_update_were_timed():
    timer = StepTimer()
    assert timer.summary(num_envs=1) is None
    timer.add_act(0.1)
    assert timer.summary(num_envs=1) is None
    timer.add_update(0.2)
    assert timer.summary(num_envs=1)["time_update_avg_iter_s"] == pytest.approx(0.2)


def test_a_run_writes_the_six_timing_figures_every_2000_env_steps(tmp_path):
    import json

    import lightning.pytorch as pl

    from rl_lightning import AgentModule, JsonlCallback
    from rl_lightning.testing import RecordingAgent, make_counting_vec_env

    log = JsonlCallback(str(tmp_path / "metrics.jsonl"))
    module = AgentModule(RecordingAgent(), make_counting_vec_env(2), total_steps=4_100, call_back=log)
    pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(module)
    log.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    timing = [r for r in records if r["tag"] == "timing/run_1"]
    assert [r["step"] for r in timing] == [2_000, 4_000]  # the vector step where steps % 2000 < num_envs
    for record in timing:
        assert sorted(record["metrics"]) == sorted([
            "time_act_avg_iter_s", "time_update_avg_iter_s", "time_act_avg_envstep_s", "time_update_avg_envstep_s",
            "time_act_ma_iter_s", "time_update_ma_iter_s"])
        assert all(value > 0 for value in record["metrics"].values())
        figures = record["metrics"]
        assert figures["time_act_avg_envstep_s"] == pytest.approx(figures["time_act_avg_iter_s"] / 2)


def test_a_window_of_no_calls_is_refused():
    with pytest.raises(ValueError, match=r"window must be a number of calls >= 1, got 0"):
        StepTimer(window=0)
