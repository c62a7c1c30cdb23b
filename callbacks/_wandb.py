"""The few W&B calls the monitors make (rank zero only, never for a value that is monitored)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import WandbLogger


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def define_epoch_axis(trainer: Trainer, namespaces: Iterable[str]) -> None:
    """Plot the monitors' keys against the epoch, so curves line up whatever the step count."""
    if not trainer.is_global_zero:
        return
    for logger in wandb_loggers(trainer):
        experiment = logger.experiment
        experiment.define_metric("epoch")
        for namespace in namespaces:
            experiment.define_metric(f"{namespace}/*", step_metric="epoch")


def update_summary(trainer: Trainer, values: Mapping[str, float]) -> None:
    if not trainer.is_global_zero:
        return
    for logger in wandb_loggers(trainer):
        logger.experiment.summary.update(dict(values))
