"""Each logger as a Lightning ``Logger``: what ``self.log`` and ``save_hyperparameters`` send reaches the files."""

import csv
from argparse import Namespace

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from logfiles import read_hparams, read_jsonl, read_scalars
from torch.utils.data import DataLoader, TensorDataset

from rl_lightning.loggers import BasicCallBack, EmptyCallBack, JsonlCallback, TBCallBack

MAX_STEPS = 4


class TinyRegression(pl.LightningModule):
    """A linear model that logs its loss every step and remembers what it logged."""

    def __init__(self, lr: float = 0.125, optimizer: str = "sgd"):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, 1)
        self.losses: list[float] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=False)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def train_dataloader(self):
        generator = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(16, 2, generator=generator), torch.randn(16, 1, generator=generator))
        return DataLoader(data, batch_size=4)


def fit(tmp_path, logger):
    torch.manual_seed(0)
    module = TinyRegression()
    trainer = pl.Trainer(
        logger=logger,
        default_root_dir=tmp_path,
        max_steps=MAX_STEPS,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module)
    return module


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_jsonl_and_csv_logger_side_by_side_record_the_same_values(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    module = fit(tmp_path, [JsonlCallback(path), CSVLogger(tmp_path / "csv")])

    assert read_jsonl(path) == [
        {"step": 0, "tag": "hparams", "metrics": {"lr": 0.125}, "params": {"optimizer": "sgd"}},
        *(
            {"step": step, "tag": "lightning", "metrics": {"train/loss": loss, "epoch": 0.0}}
            for step, loss in enumerate(module.losses)
        ),
    ]
    assert len(module.losses) == MAX_STEPS
    with open(tmp_path / "csv" / "lightning_logs" / "version_0" / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [(int(row["step"]), float(row["train/loss"])) for row in rows] == list(enumerate(module.losses))


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
@pytest.mark.parametrize("make", [TBCallBack, BasicCallBack])
def test_tensorboard_loggers_use_the_metric_name_as_the_tag(tmp_path, make):
    module = fit(tmp_path, make(tmp_path / "tb"))

    scalars = read_scalars(tmp_path / "tb")
    assert sorted(scalars) == ["epoch", "train/loss"]
    assert scalars["train/loss"] == [(step, pytest.approx(loss)) for step, loss in enumerate(module.losses)]
    assert read_hparams(tmp_path / "tb") == {"lr": 0.125, "optimizer": "sgd"}


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_empty_callback_as_the_trainer_logger_writes_nothing(tmp_path):
    module = fit(tmp_path / "root", EmptyCallBack(tmp_path / "logs"))

    assert len(module.losses) == MAX_STEPS
    assert not (tmp_path / "logs").exists()


def test_jsonl_hyperparams_accept_a_nested_namespace(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log.log_hyperparams(Namespace(agent=Namespace(lr=0.5, layers=[64, 64]), seed=3, env="CartPole-v1", ok=True))
    log.finalize("success")

    assert read_jsonl(path) == [
        {
            "step": 0,
            "tag": "hparams",
            "metrics": {"agent/lr": 0.5, "seed": 3.0},
            "params": {"agent/layers": "[64, 64]", "env": "CartPole-v1", "ok": "True"},
        }
    ]


def test_tensorboard_hyperparams_keep_numbers_text_and_bools(tmp_path):
    tb = TBCallBack(tmp_path)
    tb.log_hyperparams({"agent": {"lr": 0.5, "layers": [64, 64]}, "env": "CartPole-v1", "ok": True})
    tb.finalize("success")

    assert read_hparams(tmp_path) == {"agent/lr": 0.5, "agent/layers": "[64, 64]", "env": "CartPole-v1", "ok": True}


def test_hyperparams_must_be_a_dict_or_namespace(tmp_path):
    with pytest.raises(TypeError, match=r"`params` must be a dict or argparse.Namespace, given list"):
        JsonlCallback(tmp_path / "m.jsonl").log_hyperparams([("lr", 0.1)])


def test_log_metrics_without_a_step_counts_its_calls(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = JsonlCallback(path)
    log.log_metrics({"val/return": 1.0})
    log.log_metrics({"val/return": 2.0})
    log.close()

    assert [(r["step"], r["metrics"]["val/return"]) for r in read_jsonl(path)] == [(0, 1.0), (1, 2.0)]


def test_directories_reported_to_lightning(tmp_path):
    jsonl = JsonlCallback(tmp_path / "run" / "metrics.jsonl")
    tb = TBCallBack(tmp_path / "tb")

    assert (jsonl.save_dir, jsonl.log_dir) == (str(tmp_path / "run"), str(tmp_path / "run"))
    assert (tb.save_dir, tb.log_dir) == (str(tmp_path / "tb"), str(tmp_path / "tb"))
