"""The part every evaluating monitor shares: when to evaluate, logging, the float64 history, resuming."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import tempfile
import uuid
import weakref
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from lt_teacher.view import NetworkStateError

from ._wandb import update_summary


# Values published in the current training epoch and not yet given to the loggers, per trainer.
_PENDING: weakref.WeakKeyDictionary[Trainer, dict[str, float]] = weakref.WeakKeyDictionary()


def publish_epoch_values(trainer: Trainer, values: dict[str, float]) -> None:
    """Give one evaluation's values to ``trainer.callback_metrics`` and ``trainer.logged_metrics`` now, and to the
    loggers with the epoch's other evaluations (:func:`flush_epoch_values`).

    What ``pl_module.log_dict(values, on_epoch=True)`` in ``on_train_epoch_end`` would leave behind, at a
    fraction of its cost: Lightning's result collection accumulates, reduces and syncs every key (about half a
    millisecond per key, more than the evaluation itself for the 25-75 keys of a monitor), while these values
    are epoch values already identical on every process. ``callback_metrics`` (what ``ModelCheckpoint(monitor=...)``,
    ``EarlyStopping`` and the progress bar read) and ``logged_metrics`` get them as float64 tensors.
    """
    tensors = dict(zip(values, torch.tensor(list(values.values()), dtype=torch.float64).unbind()))
    for metrics in _metric_dicts(trainer):
        metrics.update(tensors)
    _PENDING.setdefault(trainer, {}).update(values)


def _metric_dicts(trainer: Trainer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dictionaries ``trainer.callback_metrics`` and ``trainer.logged_metrics`` return.

    Reading those properties first refreshes them from the epoch's result collection (about 0.1 ms, every
    evaluation), which values published here do not need: the same dictionaries are taken from the logger
    connector that holds them, or from the properties where a Lightning version keeps them elsewhere.
    """
    connector = getattr(trainer, "_logger_connector", None)
    callback, logged = getattr(connector, "_callback_metrics", None), getattr(connector, "_logged_metrics", None)
    if isinstance(callback, dict) and isinstance(logged, dict):
        return callback, logged
    return trainer.callback_metrics, trainer.logged_metrics


def flush_epoch_values(trainer: Trainer) -> None:
    """Every value published this epoch, to every logger in one ``log_metrics`` call (one W&B row, one CSV row),
    with ``epoch``, at the step Lightning logs the epoch's other values at (as its ``LearningRateMonitor`` does)."""
    values = _PENDING.pop(trainer, None)
    if not values or not trainer.loggers:
        return
    # Lightning logs the values of on_train_epoch_end one step back (FitLoop.on_advance_end): that of the epoch's last batch
    step = max(getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step) - 1, 0)
    row = {**values, "epoch": trainer.current_epoch}
    for logger in trainer.loggers:
        logger.log_metrics(row, step=step)
        logger.save()


class EvaluationCallback(Callback, ABC):
    """Calls :meth:`compute` after every ``every_n_epochs``-th training epoch (and the last, ``max_epochs``)
    and logs its values.

    After a training epoch the values go to the loggers and ``trainer.callback_metrics`` directly
    (:func:`publish_epoch_values`; they are already identical on every process, so no collective runs). In
    ``validate``/``test`` they are logged with ``pl_module.log`` (``sync_dist=True``), so the
    dictionaries those calls return hold them. :attr:`history` keeps each evaluation in float64 with ``epoch``
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
        self._train_loader: Any = None  # the training loader this fit's data were read from
        self._reread = False  # Lightning reloaded the training loader: read the data again before evaluating
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
        try:
            self._evaluate_epoch(trainer, pl_module)
        finally:  # the last monitor to run gives the epoch's values of every monitor to the loggers at once
            callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning's callback connector
            if [c for c in callbacks if isinstance(c, EvaluationCallback)][-1] is self:
                flush_epoch_values(trainer)

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train_loader, self._reread = None, False

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Notice a reloaded training loader (``reload_dataloaders_every_n_epochs``): the evaluations after it
        read the points the model now trains on, not those read at the start of training."""
        loader = trainer.train_dataloader
        if self._train_loader is not None and loader is not self._train_loader and getattr(self, "data", None) is None:
            self._reread = True
        self._train_loader = loader

    def _evaluate_epoch(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epochs_done = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epochs_done >= trainer.max_epochs
        if trainer.sanity_checking or (epochs_done % self.every_n_epochs != 0 and not last):
            return
        epoch = float(trainer.current_epoch + 1)
        try:
            if self._reread:  # the data of the epoch just trained, as on_train_start reads them (and checks the network on them)
                self._reread = False
                self.on_train_start(trainer, pl_module)
            values = self.compute(pl_module)
        except NetworkStateError as err:  # training brought the network there: say so, keep training and its checkpoints
            values = {key: math.nan for key in (self.history[-1] if self.history else {}) if key != "epoch"}
            rank_zero_warn(
                f"{type(self).__name__}: no diagnostics after epoch {int(epoch)} ({err}); "
                + ("they are logged as NaN" if values else "nothing is logged") + " until the network can be analysed again."
            )
        if values:
            publish_epoch_values(trainer, values)
        # rows of a later or the same epoch are another run's (this monitor reused by a new Trainer): a run's curve is monotone
        self.history = [row for row in self.history if row["epoch"] < epoch]
        self.history.append({"epoch": epoch, **values})
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
        flush_epoch_values(trainer)  # nothing left, unless a monitor's epoch hook was skipped
        self._hand_off(trainer)
        if trainer.world_size > 1:  # leave gloo's last work holding no Python tensor (the metric sync's): at interpreter
            trainer.strategy.barrier("lt_teacher_fit_end")  # exit it aborted a finished ddp/ddp_spawn run about 1 in 10 times
        if self.history:
            update_summary(trainer, {k: v for k, v in self.history[-1].items() if k != "epoch"})

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(row) for row in self.history]}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state_dict.get("history", [])]
        self._latest = None
