"""Bad input fails at construction (or, for metric values, at the call) with a message naming what is wrong."""

import os

import pytest

from rl_lightning.loggers import BasicCallBack, JsonlCallback, TBCallBack


def test_unknown_flush_mode(tmp_path):
    with pytest.raises(ValueError, match=r"`flush_mode` must be one of \('avg', 'raw'\), given 'mean'"):
        TBCallBack(tmp_path, flush_mode="mean")


@pytest.mark.parametrize(
    "make", [lambda p, n: TBCallBack(p, flush_every=n), lambda p, n: JsonlCallback(p / "m.jsonl", n)]
)
def test_negative_flush_every(tmp_path, make):
    with pytest.raises(ValueError, match=r"`flush_every` must be >= 0, given -1; allowed: 0 \(write only at close\)"):
        make(tmp_path, -1)


@pytest.mark.parametrize("value", [10.0, "10", True, None])
@pytest.mark.parametrize(
    "make", [lambda p, n: TBCallBack(p, flush_every=n), lambda p, n: JsonlCallback(p / "m.jsonl", n)]
)
def test_flush_every_must_be_an_int(tmp_path, make, value):
    with pytest.raises(
        TypeError, match=rf"`flush_every` must be an int, given {value!r} of type {type(value).__name__}"
    ):
        make(tmp_path, value)


@pytest.mark.parametrize("make", [TBCallBack, BasicCallBack, lambda p: JsonlCallback(os.path.join(p, "m.jsonl"))])
def test_log_path_under_a_file_is_refused_before_anything_is_created(tmp_path, make):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"'.*blocker/logs'.* exists and is not a directory; allowed: an existing"):
        make(str(blocker / "logs"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_jsonl_path_that_is_a_directory(tmp_path):
    with pytest.raises(ValueError, match=r"`log_path`=.* is a directory; allowed: a file path"):
        JsonlCallback(tmp_path)


@pytest.mark.parametrize("make", [TBCallBack, lambda p: JsonlCallback(os.path.join(p, "m.jsonl"))])
def test_unwritable_directory(read_only_dir, make):
    with pytest.raises(ValueError, match=r"'.*ro' is not writable by this process"):
        make(str(read_only_dir / "logs"))


@pytest.mark.parametrize("make", [TBCallBack, BasicCallBack, JsonlCallback])
def test_log_path_must_be_a_path(make):
    with pytest.raises(TypeError, match=r"must be a non-empty str or os.PathLike path, given 3"):
        make(3)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("value", ["1.5", None, [1.0, 2.0], 1 + 2j])
@pytest.mark.parametrize(
    "make", [lambda p: TBCallBack(p, flush_every=1), BasicCallBack, lambda p: JsonlCallback(p / "m.jsonl")]
)
def test_non_numeric_metric_value_names_tag_and_key(tmp_path, make, value, force):
    log = make(tmp_path)
    with pytest.raises(TypeError, match=r"Metric 'loss' under tag 'agents/run_0' has value .* allowed: a real number"):
        log({"epsilon": 0.1, "loss": value}, "agents/run_0", 1, force=force)
    log.close()


@pytest.mark.parametrize(
    "make", [lambda p: TBCallBack(p, flush_every=1), BasicCallBack, lambda p: JsonlCallback(p / "m.jsonl")]
)
def test_data_dict_must_be_a_mapping(tmp_path, make):
    log = make(tmp_path)
    with pytest.raises(TypeError, match=r"`data_dict` for tag 'agents/run_0' must be a mapping .* given \[0.5\]"):
        log([0.5], "agents/run_0", 1)
    log.close()


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("make", [lambda p: TBCallBack(p, flush_every=1), lambda p: JsonlCallback(p / "m.jsonl")])
def test_counter_that_is_not_a_number_names_tag_and_value(tmp_path, make, force):
    log = make(tmp_path)
    with pytest.raises(TypeError, match=r"`counter` for tag 'agents/run_0' must be a (finite )?number .* given 'ten'"):
        log({"loss": 0.5}, "agents/run_0", "ten", force=force)
    log.close()
