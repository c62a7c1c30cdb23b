"""The part every evaluating monitor shares: when to evaluate, logging, the float64 history, resuming."""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from ._wandb import update_summary


class EvaluationCallback(Callback, ABC):
    """Calls :meth:`compute` after every ``every_n_epochs``-th training epoch (and the last, ``max_epochs``)
    and logs its values.

    Every process logs the same keys (``sync_dist=True``; the values are already identical), so no
    collective runs on one rank only. :attr:`history` keeps each evaluation in float64 with ``epoch``
    counting completed epochs; it is saved in checkpoints, so a resumed run continues its curves, and
    its last row becomes the W&B run summary.

    ``trainer.validate`` and ``trainer.test`` evaluate once, at the end of their epoch, and log the
    same keys (not added to :attr:`history`, which holds the training curves). :attr:`latest` is the
    most recent evaluation of any of the three, with ``epoch`` the completed training epochs.

    With ``strategy="ddp_spawn"`` (or ``ddp_notebook``) training runs in child processes that Lightning
    sends no callback state back from; global rank zero therefore writes the history to a private
    temporary file after each evaluation, and :attr:`history` in the launching process reads it back
    after ``fit`` returns.
    """

    every_n_epochs: int

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[str, float] | None = None  # an evaluation outside fit (validate/test)
        self._skip_evaluation = False
        self._history: list[dict[str, float]] = []
        # the same path in the launching process and in the spawned copies of this callback
        self._handoff = str(Path(tempfile.gettempdir()) / f"lt_teacher_history_{os.getpid()}_{uuid.uuid4().hex}.json")

    @property
    def history(self) -> list[dict[str, float]]:
        """Every evaluation so far, ``{"epoch": completed epochs, key: float64 value, ...}``."""
        handoff = Path(self._handoff)
        if multiprocessing.parent_process() is None and handoff.is_file():  # the launcher after ddp_spawn
            try:
                self._history = [dict(row) for row in json.loads(handoff.read_text(encoding="utf-8"))]
            finally:
                handoff.unlink(missing_ok=True)
        return self._history

    @history.setter
    def history(self, rows: list[dict[str, float]]) -> None:
        self._history = rows

    def _hand_off(self, trainer: Trainer) -> None:
        """In a spawned training process, rank zero leaves the history for the launching process."""
        if multiprocessing.parent_process() is None or not trainer.is_global_zero:
            return
        handoff = Path(self._handoff)
        partial = handoff.with_suffix(".part")
        partial.write_text(json.dumps(self._history), encoding="utf-8")
        os.replace(partial, handoff)

    @property
    def latest(self) -> dict[str, float]:
        """The most recent evaluation: of ``validate``/``test`` if one ran after training, else the last of
        :attr:`history` (``{}`` before any)."""
        if self._latest is not None:
            return dict(self._latest)
        history = self.history
        return dict(history[-1]) if history else {}

    @abstractmethod
    def compute(self, pl_module: LightningModule) -> dict[str, float]:
        """One evaluation: key -> float64 value, identical on every process."""

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epochs_done = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epochs_done >= trainer.max_epochs
        if trainer.sanity_checking or (epochs_done % self.every_n_epochs != 0 and not last):
            return
        values = self.compute(pl_module)
        if values:  # every key in one call, from one float64 tensor (no per-key tensor construction)
            logged = torch.tensor(list(values.values()), dtype=torch.float64, device=pl_module.device).unbind()
            pl_module.log_dict(dict(zip(values, logged)), on_step=False, on_epoch=True, sync_dist=True)
        self.history.append({"epoch": float(trainer.current_epoch + 1), **values})
        self._latest = None
        self._hand_off(trainer)

    # ------------------------------------------------------ trainer.validate / trainer.test
    def prepare_evaluation(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Read the data an evaluation needs; training calls it through ``on_train_start``."""
        self.on_train_start(trainer, pl_module)

    def _start_outside_fit(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._skip_evaluation = False
        if trainer.state.fn not in (TrainerFn.VALIDATING, TrainerFn.TESTING):
            return
        try:
            self.prepare_evaluation(trainer, pl_module)
        except ValueError as err:  # e.g. trainer.validate(model, dataloaders=...) with no training data
            self._skip_evaluation = True
            rank_zero_warn(f"{type(self).__name__}: no evaluation in {trainer.state.fn.value}: {err}")

    def _evaluate_outside_fit(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn not in (TrainerFn.VALIDATING, TrainerFn.TESTING) or self._skip_evaluation:
            return
        values = self.compute(pl_module)
        for key, value in values.items():
            pl_module.log(key, value, on_step=False, on_epoch=True, sync_dist=True)
        self._latest = {"epoch": float(trainer.current_epoch), **values}
        update_summary(trainer, values)

    @override
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start_outside_fit(trainer, pl_module)

    @override
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._evaluate_outside_fit(trainer, pl_module)

    on_test_start = on_validation_start  # trainer.test: the same (both hooks carry @override's marker)
    on_test_epoch_end = on_validation_epoch_end

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._hand_off(trainer)
        if self.history:
            update_summary(trainer, {k: v for k, v in self.history[-1].items() if k != "epoch"})

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(row) for row in self.history]}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state_dict.get("history", [])]
        self._latest = None
