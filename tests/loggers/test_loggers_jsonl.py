"""JsonlCallback: one JSON record per call, held back between flushes, forced records pushed to the OS at once."""

import json
import math

import cloudpickle
import numpy as np
import pytest
import torch
from logfiles import read_jsonl

from rl_lightning.loggers import JsonlCallback


def test_each_call_is_one_record_with_step_tag_and_float_metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log({"loss": 0.25, "epsilon": 1}, "agents/run_0", 3)
    log({"ep_return": np.float32(21.0)}, "ep_return/run_0", 7.9, force=True)
    log({"ep_length": torch.tensor(21)}, "ep_length/run_0", 7, force=True)
    log.close()

    assert read_jsonl(path) == [
        {"step": 3, "tag": "agents/run_0", "metrics": {"loss": 0.25, "epsilon": 1.0}},
        {"step": 7, "tag": "ep_return/run_0", "metrics": {"ep_return": 21.0}},
        {"step": 7, "tag": "ep_length/run_0", "metrics": {"ep_length": 21.0}},
    ]


def test_lines_are_exactly_what_json_dumps_writes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    metrics = {"q_mean": 0.1 + 0.2, 'ü"%r': 1e300, "count": 3}
    log(metrics, 'timing/"run_0"', 12, force=True)
    log.close()

    expected = {"step": 12, "tag": 'timing/"run_0"', "metrics": {k: float(v) for k, v in metrics.items()}}
    assert path.read_text() == json.dumps(expected) + "\n"


def test_numbers_of_every_magnitude_are_written_digit_for_digit_as_json_dumps_writes_them(tmp_path):
    # Held records are formatted in batches by a faster route than json.dumps; the text must not differ anywhere:
    # random bit patterns (every exponent), everyday magnitudes, and the edges where notations change.
    rng = np.random.default_rng(0)
    from_bits = rng.integers(0, 2**64, size=60000, dtype=np.uint64).view(np.float64)
    everyday = rng.uniform(-1, 1, size=60000) * 10.0 ** rng.integers(-12, 20, size=60000)
    edges = [0.0, -0.0, 1e-4, 9.9999e-5, -1e-5, 1e16, 9999999999999998.0, 1e15, 5e-324, 1.7976931348623157e308,
             10.00001, 0.00012, 1.0, 191.0]
    values = [float(v) for v in np.concatenate([from_bits, everyday, edges]) if math.isfinite(v)]
    steps = [*range(len(values) // 3 - 2), 2**63 - 1, 2**70]  # ints beyond 64 bits too
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=0)
    expected = []
    for step, i in zip(steps, range(0, len(values) - 2, 3)):
        metrics = {"loss": values[i], "q": values[i + 1], "kl": values[i + 2]}
        log(metrics, "agents/run_0", step)
        expected.append(json.dumps({"step": step, "tag": "agents/run_0", "metrics": metrics}) + "\n")
    log.close()

    assert path.read_text() == "".join(expected)


def test_a_refused_call_leaves_no_trace_and_the_records_around_it_are_intact(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log({"loss": 1.0, "q": 0.5}, "agents/run_0", 1)
    with pytest.raises(TypeError, match="Metric 'q' under tag 'agents/run_0'"):
        log({"loss": 2.0, "q": "high"}, "agents/run_0", 2)  # "loss" was fine: it must not stay behind either
    with pytest.raises(TypeError, match="`counter` for tag 'agents/run_0' must be a finite number .* given nan"):
        log({"loss": 3.0, "q": 0.5}, "agents/run_0", float("nan"))
    log({"loss": 4.0, "q": 0.25}, "agents/run_0", 4)
    log.close()

    assert read_jsonl(path) == [
        {"step": 1, "tag": "agents/run_0", "metrics": {"loss": 1.0, "q": 0.5}},
        {"step": 4, "tag": "agents/run_0", "metrics": {"loss": 4.0, "q": 0.25}},
    ]


def test_nan_and_inf_use_the_tokens_python_json_reads_back(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log({"loss": float("nan"), "up": float("inf"), "down": -math.inf}, "agents/run_0", 1, force=True)
    log.close()

    assert (
        path.read_text()
        == '{"step": 1, "tag": "agents/run_0", "metrics": {"loss": NaN, "up": Infinity, "down": -Infinity}}\n'
    )
    (record,) = read_jsonl(path)
    assert math.isnan(record["metrics"]["loss"]) and record["metrics"]["up"] == math.inf


def test_records_keep_their_call_order_across_tags_keys_and_non_finite_values(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=0)
    calls = [
        ({"loss": 1.0}, "agents/run_0", 1),
        ({"loss": 2.0, "q": 0.5}, "agents/run_0", 2),
        ({"loss": float("inf")}, "agents/run_0", 3),
        ({"loss": 4.0}, "agents/run_0", 4),
        ({"loss": 5.0}, "agents/run_1", 5),
        ({"loss": 6.0}, "agents/run_0", 6),
    ]
    for metrics, tag, step in calls:
        log(metrics, tag, step)
    log.log_hyperparams({"lr": 0.5})
    log({"ep_return": 7.0}, "ep_return/run_0", 7, force=True)
    log.close()

    assert read_jsonl(path) == [
        *({"step": step, "tag": tag, "metrics": metrics} for metrics, tag, step in calls),
        {"step": 0, "tag": "hparams", "metrics": {"lr": 0.5}, "params": {}},
        {"step": 7, "tag": "ep_return/run_0", "metrics": {"ep_return": 7.0}},
    ]


def test_at_most_16384_lines_are_held_whatever_flush_every_says(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=0)
    for step in range(16384):
        log({"loss": 1.0}, "agents/run_0", step)

    assert len(read_jsonl(path)) == 16384
    log.close()


def test_non_forced_lines_reach_the_file_every_flush_every_calls(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=3)
    log({"loss": 1.0}, "agents/run_0", 1)
    log({"loss": 2.0}, "agents/run_0", 2)
    assert not path.exists()
    log({"loss": 3.0}, "agents/run_0", 3)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3]
    log({"loss": 4.0}, "agents/run_0", 4)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3]
    log.close()

    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3, 4]


def test_a_forced_record_pushes_itself_and_every_line_held_before_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=100)
    log({"loss": 1.0}, "agents/run_0", 1)
    log({"ep_return": 9.0}, "ep_return/run_0", 1, force=True)

    assert [r["tag"] for r in read_jsonl(path)] == ["agents/run_0", "ep_return/run_0"]
    log.close()


def test_forced_records_do_not_count_toward_flush_every(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=2)
    log({"ep_return": 9.0}, "ep_return/run_0", 1, force=True)
    log({"loss": 1.0}, "agents/run_0", 2)
    assert len(read_jsonl(path)) == 1
    log({"loss": 1.0}, "agents/run_0", 3)
    assert len(read_jsonl(path)) == 3
    log.close()


def test_a_forced_write_starts_the_flush_every_count_again(tmp_path):
    # A forced write hands over every held line, so the next flush_every calls are counted from it: a non-forced
    # line never waits for more than flush_every calls, and no write is made for lines a forced one just took.
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=3)
    log({"loss": 1.0}, "agents/run_0", 1)
    log({"loss": 2.0}, "agents/run_0", 2)
    log({"ep_return": 9.0}, "ep_return/run_0", 2, force=True)
    log({"loss": 3.0}, "agents/run_0", 3)
    log({"loss": 4.0}, "agents/run_0", 4)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 2]
    log({"loss": 5.0}, "agents/run_0", 5)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 2, 3, 4, 5]
    log.close()


def test_reset_restarts_the_flush_count(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=2)
    log({"loss": 1.0}, "agents/run_0", 1)
    log.reset()
    log({"loss": 2.0}, "agents/run_0", 2)
    assert not path.exists()
    log({"loss": 3.0}, "agents/run_0", 3)
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3]
    log.close()


def test_appends_to_an_existing_file_and_creates_missing_parents(tmp_path):
    path = tmp_path / "a" / "b" / "metrics.jsonl"
    first = JsonlCallback(path)
    assert not path.parent.exists()
    first({"ep_return": 1.0}, "ep_return/run_0", 1)
    first.close()
    second = JsonlCallback(path)
    second({"ep_return": 2.0}, "ep_return/run_0", 2)
    second.close()

    assert [r["metrics"]["ep_return"] for r in read_jsonl(path)] == [1.0, 2.0]


def test_a_call_after_close_reopens_the_file_in_append_mode(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log({"x": 1.0}, "t", 1)
    log.close()
    log({"x": 2.0}, "t", 2)
    log.close()

    assert [r["step"] for r in read_jsonl(path)] == [1, 2]


def test_picklable_before_the_first_write_and_the_copy_writes_its_own_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=1)
    copy = cloudpickle.loads(cloudpickle.dumps(log))
    copy({"ep_return": 5.0}, "ep_return/run_3", 40)
    copy.close()

    assert read_jsonl(path) == [{"step": 40, "tag": "ep_return/run_3", "metrics": {"ep_return": 5.0}}]


def test_flush_every_zero_holds_lines_until_close(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=0)
    for step in range(500):
        log({"loss": 1.0}, "agents/run_0", step)
    assert not path.exists()
    log.close()

    assert [r["step"] for r in read_jsonl(path)] == list(range(500))


def test_a_record_keeps_the_values_of_its_call_when_the_caller_reuses_its_dict(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=100)
    metrics = {"loss": 1.0}
    for loss in (1.0, 2.0, 3.0):
        metrics["loss"] = loss  # one dict, updated in place between calls, as some agents do
        log(metrics, "agents/run_0", int(loss))
    log.close()

    assert [record["metrics"]["loss"] for record in read_jsonl(path)] == [1.0, 2.0, 3.0]


def test_a_record_keeps_the_value_a_tensor_had_at_the_call_when_the_agent_changes_it_in_place(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path, flush_every=100)
    running_loss, visits = torch.tensor(0.5), np.zeros(())
    for step in (1, 2, 3):
        log({"running_loss": running_loss}, "agents/run_0", step)
        log({"visits": visits}, "counts/run_0", step)
        running_loss.mul_(2.0)  # in place, as a running statistic kept on the agent is updated
        visits += 1
    log.close()

    assert [record["metrics"] for record in read_jsonl(path)] == [
        {"running_loss": 0.5}, {"visits": 0.0}, {"running_loss": 1.0}, {"visits": 1.0},
        {"running_loss": 2.0}, {"visits": 2.0},
    ]
