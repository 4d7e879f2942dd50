"""The contract every logger keeps, whichever the trainer is given."""

import cloudpickle
import pytest
from lightning.pytorch.loggers import Logger

from rl_lightning.loggers import BasicCallBack, EmptyCallBack, JsonlCallback, TBCallBack

LOGGERS = {
    "tb": lambda root: TBCallBack(root / "tb", flush_every=1),
    "basic": lambda root: BasicCallBack(root / "basic"),
    "jsonl": lambda root: JsonlCallback(root / "jsonl" / "metrics.jsonl", flush_every=1),
    "empty": lambda root: EmptyCallBack(root / "empty"),
}


@pytest.fixture(params=sorted(LOGGERS))
def make(request):
    return LOGGERS[request.param]


@pytest.fixture(params=sorted(LOGGERS))
def named(request):
    return request.param, LOGGERS[request.param]


def test_is_a_lightning_logger_with_string_name_and_version(tmp_path, make):
    log = make(tmp_path)
    assert isinstance(log, Logger)
    assert (log.name, log.version) == ("", "")


def test_construction_creates_no_file(tmp_path, make):
    make(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_seed_interface_after_a_cloudpickle_round_trip(tmp_path, named):
    name, make = named
    log = cloudpickle.loads(cloudpickle.dumps(make(tmp_path)))
    log({"ep_return": 1.0}, "ep_return/run_0", 1, force=True)
    log({"loss": 0.5}, "agents/run_0", 2)
    log({"loss": 0.5}, "agents/run_0", 3, False)
    log.reset()
    log.close()
    log.close()  # closing twice is harmless

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(written) == (0 if name == "empty" else 1)


def test_empty_callback_writes_nothing(tmp_path):
    log = EmptyCallBack(tmp_path / "empty")
    log({"ep_return": 1.0}, "ep_return/run_0", 1, force=True)
    log.log_metrics({"train/loss": 1.0}, step=0)
    log.log_hyperparams({"lr": 0.1})
    log.finalize("success")

    assert list(tmp_path.iterdir()) == []
    assert EmptyCallBack().save_dir is None
