"""A monitor's epoch values reach everything ``pl_module.log`` would feed (issue 11: log every key cheaply).

The monitors hand an evaluation to the loggers and ``trainer.callback_metrics`` directly (one
``log_metrics`` call per logger), not through Lightning's per-key result collection. What users rely on:
``ModelCheckpoint(monitor=...)`` and ``EarlyStopping`` on a diagnostic, ``callback_metrics`` and
``logged_metrics`` holding the exact float64 values, and one logger row per evaluation with its epoch.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher.callbacks import LinearTeacherMonitor, MarginMonitor
from lt_teacher.datamodules import LinearTeacherDataModule


def _data() -> LinearTeacherDataModule:
    return LinearTeacherDataModule(dim=4, n_train=40, n_val=0, n_test=0, batch_size=40, seed=1)


def test_values_reach_callback_metrics_logged_metrics_and_the_csv_rows(tmp_path: Path) -> None:
    monitor = LinearTeacherMonitor(splits=("train",))
    trainer = Trainer(
        max_epochs=3, accelerator="cpu", devices=1, logger=CSVLogger(tmp_path), enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor],
    )
    trainer.fit(LeakyReLUTeacherNet(input_dim=4, k=3, lr=0.1), datamodule=_data())
    last = monitor.history[-1]
    for key, value in last.items():
        if key == "epoch":
            continue
        assert trainer.callback_metrics[key].dtype == torch.float64
        assert float(trainer.callback_metrics[key]) == value or (value != value and trainer.callback_metrics[key].isnan())
        assert float(trainer.logged_metrics[key]) == float(trainer.callback_metrics[key]) or value != value
    assert "train/loss" in trainer.callback_metrics  # the module's own logging is untouched
    with (Path(trainer.logger.log_dir) / "metrics.csv").open() as f:  # type: ignore[union-attr]
        rows = list(csv.DictReader(f))
    evaluated = [row for row in rows if row.get("margin/smoothed")]
    assert [int(row["epoch"]) for row in evaluated] == [0, 1, 2]  # one row per evaluation, with its epoch
    assert [float(row["margin/smoothed"]) for row in evaluated] == [row["margin/smoothed"] for row in monitor.history]
    assert all(row["step"] for row in evaluated)


def test_model_checkpoint_and_early_stopping_monitor_a_diagnostic(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="margin/loss", mode="min", save_top_k=1)
    # the loss of a separable problem falls every epoch: with patience 0 and an impossible min_delta, stop at once
    stopping = EarlyStopping(monitor="margin/loss", mode="min", patience=0, min_delta=1e9)
    trainer = Trainer(
        max_epochs=5, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[MarginMonitor(), checkpoint, stopping],
    )
    trainer.fit(LeakyReLUTeacherNet(input_dim=4, k=3, lr=0.1), datamodule=_data())
    assert trainer.current_epoch == 2  # epoch 0 sets the best value, epoch 1 fails to beat it by 1e9: stop
    assert checkpoint.best_model_path and Path(checkpoint.best_model_path).exists()
    assert float(checkpoint.best_model_score) == min(row["margin/loss"] for row in trainer.callbacks[0].history)  # type: ignore[attr-defined]


def test_the_row_has_the_step_of_the_epochs_other_values(tmp_path: Path) -> None:
    trainer = Trainer(
        max_epochs=2, accelerator="cpu", devices=1, logger=CSVLogger(tmp_path), enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[MarginMonitor()],
    )
    trainer.fit(LeakyReLUTeacherNet(input_dim=4, k=3, lr=0.1, engine="lightning"), datamodule=_data())
    with (Path(trainer.logger.log_dir) / "metrics.csv").open() as f:  # type: ignore[union-attr]
        rows = list(csv.DictReader(f))
    for epoch in ("0", "1"):
        own = {row["step"] for row in rows if row["epoch"] == epoch and row.get("train/loss")}
        ours = {row["step"] for row in rows if row["epoch"] == epoch and row.get("margin/loss")}
        assert own == ours and len(ours) == 1, rows


def test_published_values_go_into_the_dictionaries_the_trainer_properties_return() -> None:
    """Publishing skips the properties' refresh from the result collection; the dictionaries it writes must be the
    very ones ``trainer.callback_metrics`` and ``trainer.logged_metrics`` return (whatever this Lightning keeps)."""
    from lt_teacher.callbacks._evaluation_callback import _metric_dicts

    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    callback, logged = _metric_dicts(trainer)
    assert callback is trainer.callback_metrics and logged is trainer.logged_metrics
