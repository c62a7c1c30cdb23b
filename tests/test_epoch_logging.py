"""The per-example engines' epoch loss reaches Lightning exactly as ``self.log`` put it there, at a fraction of the cost.

``LeakyReLUTeacherNet`` logs ``train/loss`` with ``self.log`` in the first epoch of a fit and then through
:class:`lt_teacher._epoch_logging.EpochValueLogger`'s direct update of the result metric that call registered.
Each test runs the same fit twice, with that shortcut and with ``self.log`` every epoch (the shortcut switched
off), and compares what a user can see: the CSV rows, ``callback_metrics``, ``logged_metrics``, the progress bar's
values, what callbacks read at each hook, ``ModelCheckpoint`` and ``EarlyStopping`` on ``train/loss``.
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lt_teacher import LeakyReLUTeacherNet
from lt_teacher._epoch_logging import EpochValueLogger
from lt_teacher.datamodules import LinearTeacherDataModule


class SeenAtEachHook(Callback):
    """What ``trainer.callback_metrics`` and ``trainer.progress_bar_metrics`` hold at the hooks that read them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def _record(self, hook: str, trainer: Trainer) -> None:
        value = trainer.callback_metrics.get("train/loss")
        self.seen.append((hook, None if value is None else (float(value), value.dtype), trainer.progress_bar_metrics.get("train/loss")))

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._record("train_batch_end", trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record("validation_end", trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record("train_epoch_end", trainer)


class AlsoLogsInTrainingStep(LeakyReLUTeacherNet):
    """A user's subclass that logs its own epoch value in ``training_step``, before and after the module's."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("before", float(batch_idx), on_step=False, on_epoch=True, batch_size=1)
        loss = super().training_step(batch, batch_idx)
        self.log("after", float(2 * batch_idx), on_step=False, on_epoch=True, batch_size=1)
        return loss


def _fit(tmp_path: Path, *, shortcut: bool, monkeypatch: pytest.MonkeyPatch, model_class: type = LeakyReLUTeacherNet,
         precision: str = "32-true", extra_callbacks: tuple[Callback, ...] = ()) -> dict[str, Any]:
    """A 4-epoch fit with 3 Lightning steps per epoch and a validation loop; what a user sees of it."""
    if not shortcut:
        monkeypatch.setattr(EpochValueLogger, "_update_registered_metric", lambda self, module, value: False)
    seen = SeenAtEachHook()
    logger = CSVLogger(tmp_path / ("fast" if shortcut else "log"), name="", version="")
    trainer = Trainer(
        max_epochs=4, accelerator="cpu", devices=1, logger=logger, precision=precision,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in extra_callbacks),
        enable_model_summary=False, callbacks=[seen, *extra_callbacks], log_every_n_steps=1,
    )
    seed_everything(0)
    model = model_class(input_dim=3, k=2, lr=0.2, engine="fused")
    trainer.fit(model, datamodule=LinearTeacherDataModule(dim=3, n_train=150, n_val=20, n_test=0, batch_size=50, seed=3))
    monkeypatch.undo()
    with (Path(logger.log_dir) / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {
        "model": model,
        "rows": rows,
        "seen": seen.seen,
        "callback": {key: (float(v), v.dtype) for key, v in trainer.callback_metrics.items()},
        "logged": {key: (float(v), v.dtype) for key, v in trainer.logged_metrics.items()},
        "pbar": dict(trainer.progress_bar_metrics),
        "global_step": trainer.global_step,
    }


@pytest.mark.parametrize("precision", ["32-true", "64-true"])
def test_the_epoch_loss_reaches_everything_as_self_log_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str) -> None:
    fast = _fit(tmp_path, shortcut=True, monkeypatch=monkeypatch, precision=precision)
    logged = _fit(tmp_path, shortcut=False, monkeypatch=monkeypatch, precision=precision)
    assert fast["model"]._train_loss.fast_calls == 3  # self.log in the first epoch only
    assert logged["model"]._train_loss.fast_calls == 0
    assert torch.equal(fast["model"].weight, logged["model"].weight)
    for what in ("rows", "seen", "callback", "logged", "pbar", "global_step"):
        assert fast[what] == logged[what], what
    epoch_rows = [row for row in fast["rows"] if row["train/loss"]]
    assert [(row["epoch"], row["step"]) for row in epoch_rows] == [("0", "2"), ("1", "5"), ("2", "8"), ("3", "11")]
    assert fast["callback"]["train/loss"][1] == (torch.float64 if precision == "64-true" else torch.float32)


def test_a_subclass_logging_in_training_step_sees_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fit(tmp_path, shortcut=True, monkeypatch=monkeypatch, model_class=AlsoLogsInTrainingStep)
    logged = _fit(tmp_path, shortcut=False, monkeypatch=monkeypatch, model_class=AlsoLogsInTrainingStep)
    assert fast["model"]._train_loss.fast_calls == 3
    for what in ("rows", "seen", "callback", "logged", "pbar"):
        assert fast[what] == logged[what], what
    assert fast["callback"]["before"][0] == 1.0 and fast["callback"]["after"][0] == 2.0  # means of 0, 1, 2 and 0, 2, 4


def test_model_checkpoint_and_early_stopping_monitor_the_epoch_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = {}
    for shortcut in (True, False):
        checkpoint = ModelCheckpoint(dirpath=tmp_path / str(shortcut), monitor="train/loss", mode="min", save_top_k=2)
        stopping = EarlyStopping(monitor="train/loss", mode="min", patience=1, min_delta=1e9)
        run = _fit(tmp_path / f"run{shortcut}", shortcut=shortcut, monkeypatch=monkeypatch, extra_callbacks=(checkpoint, stopping))
        results[shortcut] = (
            float(checkpoint.best_model_score), sorted(Path(p).name for p in checkpoint.best_k_models), run["global_step"],
            float(stopping.best_score),
        )
    assert results[True] == results[False]
    assert results[True][2] == 6  # epoch 0 sets the best, epochs 1 and 2 fail to beat it by 1e9: stop after 2 x 3 steps


def test_a_second_fit_with_a_new_trainer_logs_through_self_log_first(tmp_path: Path) -> None:
    model = LeakyReLUTeacherNet(input_dim=3, k=2, lr=0.2)
    data = LinearTeacherDataModule(dim=3, n_train=60, n_val=0, n_test=0, batch_size=60, seed=3)
    for epochs in (2, 5):
        trainer = Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False)
        calls_before = model._train_loss.fast_calls
        trainer.fit(model, datamodule=data)
        # each trainer's first epoch goes through self.log (a new result collection), the others do not
        assert model._train_loss.fast_calls - calls_before == epochs - 1
        assert "train/loss" in trainer.callback_metrics


def test_copies_of_the_module_leave_the_trainer_behind(tmp_path: Path) -> None:
    model = LeakyReLUTeacherNet(input_dim=3, k=2, lr=0.2)
    trainer = Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=LinearTeacherDataModule(dim=3, n_train=60, n_val=0, n_test=0, batch_size=60, seed=3))
    assert model._train_loss._registered is not None
    assert copy.deepcopy(model._train_loss)._registered is None


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="`name` must be a str, got int"):
        EpochValueLogger(3, prog_bar=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`prog_bar` must be a bool, got str"):
        EpochValueLogger("x", prog_bar="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`value` must be a torch.Tensor, got float"):
        EpochValueLogger("x", prog_bar=False).log(LeakyReLUTeacherNet(input_dim=2, k=1), 0.5)  # type: ignore[arg-type]
