"""TBCallBack: buffered TensorBoard scalars, read back with TensorBoard's EventAccumulator."""

import math
import pickle
import threading
import time

import cloudpickle
import pytest
import torch
from logfiles import event_files, read_scalars, read_wall_times
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary

from rl_lightning.loggers import BasicCallBack, TBCallBack


def test_avg_writes_the_window_mean_at_the_mean_step_every_flush_every_calls(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=4, flush_mode="avg")
    for step, loss in [(10, 1.0), (20, 2.0), (30, 3.0), (40, 6.0), (50, 0.5), (60, 1.5)]:
        tb({"loss": loss}, "agents/run_0", step)
    tb.close()

    # Calls 1-4 make one point; calls 5-6 are the remainder that close() writes.
    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(25, 3.0), (55, 1.0)]}


def test_avg_truncates_a_fractional_mean_step(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=2)
    tb({"loss": 1.0}, "agents/run_0", 1)
    tb({"loss": 2.0}, "agents/run_0", 2)
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(1, 1.5)]}


def test_raw_writes_the_last_value_at_the_last_step(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=3, flush_mode="raw")
    for step, loss in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        tb({"loss": loss, "epsilon": 1.0 / step}, "agents/run_0", step)
    tb.close()

    assert read_scalars(tmp_path) == {
        "agents/run_0/loss": [(3, 4.0), (4, 8.0)],
        "agents/run_0/epsilon": [(3, pytest.approx(1 / 3)), (4, 0.25)],
    }


def test_flush_every_counts_calls_across_all_tags(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=2)
    tb({"loss": 1.0}, "agents/run_0", 1)
    tb({"loss": 3.0}, "agents/run_1", 3)  # second call: both windows are written
    tb({"loss": 5.0}, "agents/run_0", 5)
    tb.close()

    assert read_scalars(tmp_path) == {
        "agents/run_0/loss": [(1, 1.0), (5, 5.0)],
        "agents/run_1/loss": [(3, 3.0)],
    }


def test_flush_every_zero_writes_only_at_close(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=0)
    for step in range(1, 101):
        tb({"loss": float(step)}, "agents/run_0", step)
    assert event_files(tmp_path) == []
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(50, 50.5)]}


def test_each_key_averages_over_the_calls_that_carried_it(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=4)
    tb({"loss": 1.0}, "agents/run_0", 1)
    tb({"loss": 3.0, "q": 10.0}, "agents/run_0", 2)
    tb({"loss": 5.0}, "agents/run_0", 3)
    tb({"q": 20.0}, "agents/run_0", 4)
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(2, 3.0)], "agents/run_0/q": [(3, 15.0)]}


def test_long_windows_stay_exact(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=0)
    for step in range(1, 10_001):
        tb({"loss": float(step % 4)}, "agents/run_0", step)
    tb.close()

    # Mean of 1, 2, 3, 0 repeated is 1.5; mean step of 1..10000 is 5000.5.
    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(5000, 1.5)]}


def test_force_writes_at_counter_and_leaves_the_window_and_call_count_alone(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=2)
    tb({"loss": 1.0}, "agents/run_0", 10)
    tb({"ep_return": 21.0}, "ep_return/run_0", 15, force=True)
    tb({"ep_length": 21}, "ep_length/run_0", 15, force=True)
    assert tb.global_counter == 1
    tb({"loss": 3.0}, "agents/run_0", 20)  # second non-forced call: the window is written
    tb.close()

    assert read_scalars(tmp_path) == {
        "agents/run_0/loss": [(15, 2.0)],
        "ep_return/run_0/ep_return": [(15, 21.0)],
        "ep_length/run_0/ep_length": [(15, 21.0)],
    }


def test_points_reach_the_event_file_in_batches_at_most_about_a_second_apart(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=1)
    tb({"loss": 1.0}, "agents/run_0", 1)
    tb({"ep_return": 9.0}, "ep_return/run_0", 1, force=True)
    assert read_scalars(tmp_path) == {}  # both wait for their batch

    time.sleep(1.05)
    tb({"loss": 2.0}, "agents/run_0", 2)  # the oldest point waited over a second: all three are written
    assert read_scalars(tmp_path) == {
        "agents/run_0/loss": [(1, 1.0), (2, 2.0)],
        "ep_return/run_0/ep_return": [(1, 9.0)],
    }
    tb.close()


def test_writing_needs_no_background_thread_and_experiment_opens_its_own_file(tmp_path):
    threads_before = threading.active_count()
    tb = TBCallBack(tmp_path, flush_every=1)
    tb({"ep_return": 9.0}, "ep_return/run_0", 1, force=True)
    tb.save()
    assert threading.active_count() == threads_before
    assert len(event_files(tmp_path)) == 1

    tb.experiment.add_text("note", "written by the SummaryWriter", global_step=3)
    tb.close()
    assert len(event_files(tmp_path)) == 2
    assert read_scalars(tmp_path) == {"ep_return/run_0/ep_return": [(1, 9.0)]}


def test_save_pushes_written_points_to_the_file_but_leaves_the_windows_open(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=100)
    tb({"loss": 1.0}, "agents/run_0", 4)
    tb({"ep_return": 9.0}, "ep_return/run_0", 5, force=True)
    tb.save()

    assert read_scalars(tmp_path) == {"ep_return/run_0/ep_return": [(5, 9.0)]}
    tb.close()
    assert read_scalars(tmp_path)["agents/run_0/loss"] == [(4, 1.0)]


def test_a_point_keeps_the_wall_time_at_which_it_was_written(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=0)
    called_at = time.time()
    tb({"ep_return": 1.0}, "ep_return/run_0", 1, force=True)
    time.sleep(0.5)
    tb.close()

    (wall_time,) = read_wall_times(tmp_path, "ep_return/run_0/ep_return")
    assert called_at <= wall_time < called_at + 0.25


def test_keys_of_one_forced_call_are_written_together(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=0)
    tb({"env_s": 1.5, "agent_s": 0.25, "steps_per_s": 640}, "timing/run_2", 800, force=True)
    tb.close()

    assert read_scalars(tmp_path) == {
        "timing/run_2/env_s": [(800, 1.5)],
        "timing/run_2/agent_s": [(800, 0.25)],
        "timing/run_2/steps_per_s": [(800, 640.0)],
    }


def test_the_event_file_is_framed_byte_for_byte_as_tensorboards_own_record_writer_frames_it(tmp_path):
    import io
    import struct

    from tensorboard.summary.writer.record_writer import RecordWriter

    # The records carry checksums computed in C (google-crc32c), not with tensorboard's pure-Python CRC32C.
    tb = TBCallBack(tmp_path, flush_every=2)
    for step in range(1, 40):
        tb({"loss": 1.0 / step, "q": step * 1e-3}, "agents/run_0", step)
        tb({"ep_return": float(step)}, "ep_return/run_0", step * 10, force=True)
    tb.close()
    (path,) = event_files(tmp_path)
    written = path.read_bytes()

    payloads, at = [], 0
    while at < len(written):
        (length,) = struct.unpack("<Q", written[at:at + 8])
        payloads.append(written[at + 12:at + 12 + length])
        at += 12 + length + 4
    reference = io.BytesIO()
    reference.close = lambda: None
    record_writer = RecordWriter(reference)
    for payload in payloads:
        record_writer.write(payload)
    assert len(payloads) > 40 and written == reference.getvalue()
    # The events themselves are encoded without protobuf's message objects, to the bytes protobuf would give.
    assert all(Event.FromString(payload).SerializeToString() == payload for payload in payloads)


def test_scalar_events_are_encoded_exactly_as_protobuf_encodes_them():
    import random

    from rl_lightning.loggers._tensorboard_common import scalar_event

    rng = random.Random(0)
    edge_values = [0.0, -0.0, math.nan, -math.inf, math.inf, 1e300, -1e300, 3.4028236e38, 2.0**-150, 1e-300]
    edge_steps = [0, 1, -1, 127, 128, 16384, 2**31, 2**63 - 1, -(2**63)]
    tags = ["", "a", "ep_return/run_1/ep_return", "é/ü" + "x" * 200]
    for _ in range(3000):
        values = [(rng.choice(tags), rng.choice(edge_values) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6))
                  for _ in range(rng.randint(0, 4))]
        step = rng.choice(edge_steps) if rng.random() < 0.5 else rng.randint(-10**12, 10**12)
        wall_time = rng.choice([0.0, -0.0, 1764750000.123456, rng.random() * 2e9])
        reference = Event(wall_time=wall_time, step=step, summary=Summary(
            value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values]))
        assert scalar_event(wall_time, step, values) == reference.SerializeToString(), (wall_time, step, values)
    with pytest.raises(ValueError, match="int64"):
        scalar_event(1.0, 2**63, [("a", 1.0)])


def test_nan_and_inf_are_written_as_such(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=1)
    tb({"loss": float("nan"), "grad": float("inf")}, "agents/run_0", 1)
    tb.close()

    scalars = read_scalars(tmp_path)
    step, loss = scalars["agents/run_0/loss"][0]
    assert step == 1 and math.isnan(loss)
    assert scalars["agents/run_0/grad"] == [(1, float("inf"))]


def test_reset_drops_the_windows_and_call_count(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=2)
    tb({"loss": 100.0}, "agents/run_0", 1)
    tb.reset()
    tb({"loss": 1.0}, "agents/run_0", 2)
    tb({"loss": 3.0}, "agents/run_0", 4)
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(3, 2.0)]}


def test_no_event_file_until_the_first_write(tmp_path):
    log_dir = tmp_path / "never"
    tb = TBCallBack(log_dir, flush_every=10)
    tb({"loss": 1.0}, "agents/run_0", 1)  # buffered, nothing written yet
    assert not log_dir.exists()
    TBCallBack(tmp_path / "unused").close()

    assert not (tmp_path / "unused").exists()
    tb.close()
    assert len(event_files(log_dir)) == 1


def test_picklable_before_the_first_write(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=1)
    copy = cloudpickle.loads(cloudpickle.dumps(tb))
    copy({"loss": 2.0}, "agents/run_0", 7)
    copy.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(7, 2.0)]}
    assert pickle.loads(pickle.dumps(tb)).flush_every == 1


def test_basic_callback_writes_every_call_unaveraged(tmp_path):
    basic = BasicCallBack(tmp_path)
    basic({"loss": 1.0, "epsilon": 0.5}, "agents/run_0", 1)
    basic({"loss": 2.0, "epsilon": 0.25}, "agents/run_0", 2, force=True)
    assert basic.global_counter == 2
    basic.close()

    assert read_scalars(tmp_path) == {
        "agents/run_0/loss": [(1, 1.0), (2, 2.0)],
        "agents/run_0/epsilon": [(1, 0.5), (2, 0.25)],
    }


def test_a_write_after_close_opens_a_new_event_file(tmp_path):
    basic = BasicCallBack(tmp_path)
    basic({"ep_return": 1.0}, "ep_return/run_0", 1)
    basic.close()
    basic({"ep_return": 2.0}, "ep_return/run_0", 2)
    basic.close()

    assert len(event_files(tmp_path)) == 2
    assert read_scalars(tmp_path) == {"ep_return/run_0/ep_return": [(1, 1.0), (2, 2.0)]}


def test_a_window_keeps_the_values_of_each_call_when_the_caller_reuses_its_dict(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=3, flush_mode="avg")
    metrics = {"loss": 0.0}
    for step, loss in [(10, 1.0), (20, 2.0), (30, 6.0)]:
        metrics["loss"] = loss  # one dict, updated in place between calls
        tb(metrics, "agents/run_0", step)
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/loss": [(20, 3.0)]}


def test_a_window_keeps_the_value_a_tensor_had_at_each_call_when_the_agent_changes_it_in_place(tmp_path):
    tb = TBCallBack(tmp_path, flush_every=3, flush_mode="avg")
    running_loss = torch.tensor(1.0)
    for step in (10, 20, 30):
        tb({"running_loss": running_loss}, "agents/run_0", step)
        running_loss.mul_(2.0)  # in place: 1, 2, 4 at the calls, 8 afterwards
    tb.close()

    assert read_scalars(tmp_path) == {"agents/run_0/running_loss": [(20, pytest.approx(7.0 / 3.0))]}  # float32
