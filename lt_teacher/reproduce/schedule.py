"""The monitors of a reproduction run, evaluated at epoch 0 and after the epochs of :func:`~.run_spec.evaluation_epochs`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning.pytorch import LightningModule, Trainer

from lt_teacher.callbacks import LinearTeacherMonitor, PARSolutionMonitor


class _ScheduleMixin:
    """Evaluate at epoch 0 (at the start of training, before any step) and after the epochs in ``eval_epochs``.

    Mixed in before a monitor class (``class M(_ScheduleMixin, LinearTeacherMonitor)``): ``super()``
    is then the monitor, whose own evaluation, logging and ``history`` are used unchanged.
    """

    history: list[dict[str, float]]

    def __init__(self, eval_epochs: Sequence[int], **kwargs: Any) -> None:
        super().__init__(every_n_epochs=1, **kwargs)  # type: ignore[call-arg]
        self.eval_epochs = frozenset(int(e) for e in eval_epochs)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)  # type: ignore[misc]
        values = self.compute(pl_module)  # type: ignore[attr-defined]
        self.history.insert(0, {"epoch": 0.0, **values})
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({**values, "epoch": 0.0}, step=trainer.global_step)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch + 1 in self.eval_epochs:
            super().on_train_epoch_end(trainer, pl_module)  # type: ignore[misc]


class ScheduledLinearTeacherMonitor(_ScheduleMixin, LinearTeacherMonitor):
    """:class:`LinearTeacherMonitor` evaluated at epoch 0 and after each epoch in ``eval_epochs``."""


class ScheduledPARSolutionMonitor(_ScheduleMixin, PARSolutionMonitor):
    """:class:`PARSolutionMonitor` evaluated at epoch 0 and after each epoch in ``eval_epochs``."""
