"""What determines a run's numbers (:class:`RunSpec`) and when its monitors evaluate (:func:`evaluation_epochs`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import ConfigError

#: What a fallback may change: the sections of a reproduction config that determine a run.
FALLBACK_KEYS = ("model", "data", "trainer", "schedule", "seed_everything")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's numbers, plus its name in the report and in W&B.

    Attributes:
        experiment: the reproduction's name (the W&B group).
        label: the run's name within it.
        data_kind: "gaussian" (:class:`LinearTeacherDataModule`) or "mnist" (:class:`MNISTPairsDataModule`).
        data: the datamodule's keyword arguments (``batch_size`` is set from ``steps_per_epoch``).
        model: :class:`LeakyReLUTeacherNet` keyword arguments (``input_dim`` comes from the data).
        epochs: training epochs.
        evaluations: number of evaluations after epoch 0 (spread over the epochs, denser early).
        steps_per_epoch: Lightning steps per epoch; each runs about n / steps_per_epoch per-example SGD steps.
        seed: ``seed_everything`` seed before the network is built (its initialization).
        par_solution: also run :class:`PARSolutionMonitor` (Eq. 7 cosines, seed 0).
        plots: also run :class:`NeuronPlotMonitor` at the last epoch (2-D pictures to W&B).
    """

    experiment: str
    label: str
    data_kind: str
    data: dict[str, Any]
    model: dict[str, Any]
    epochs: int
    evaluations: int
    steps_per_epoch: int = 4
    seed: int = 0
    par_solution: bool = False
    plots: bool = False

    def key(self) -> str:
        """Identity of the numbers: two specs with equal keys train the same networks."""
        content = {k: v for k, v in self.as_dict().items() if k not in ("experiment", "label", "plots")}
        return json.dumps(content, sort_keys=True, default=str)

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment, "label": self.label, "data_kind": self.data_kind, "data": dict(self.data),
            "model": dict(self.model), "epochs": self.epochs, "evaluations": self.evaluations,
            "steps_per_epoch": self.steps_per_epoch, "seed": self.seed, "par_solution": self.par_solution,
            "plots": self.plots,
        }

    def with_overrides(self, override: Mapping[str, Any], label: str | None = None) -> RunSpec:
        """A copy with a fallback's overrides applied: a partial config in the form of the reproduction config.

        ``model`` (network arguments), ``data: {init_args: {...}}`` (datamodule arguments), ``trainer:
        {max_epochs: N}``, ``schedule: {evaluations, steps_per_epoch}`` and ``seed_everything``.
        """
        if unknown := sorted(set(override) - set(FALLBACK_KEYS)):
            raise ConfigError(f"fallback override has unknown key(s) {unknown}; valid: {', '.join(FALLBACK_KEYS)}.")
        data = dict(override.get("data") or {})
        init_args = dict(data.pop("init_args", None) or {})
        trainer = dict(override.get("trainer") or {})
        epochs = trainer.pop("max_epochs", self.epochs)
        schedule = dict(override.get("schedule") or {})
        evaluations = schedule.pop("evaluations", self.evaluations)
        steps_per_epoch = schedule.pop("steps_per_epoch", self.steps_per_epoch)
        for key, rest, valid in (("data", data, "init_args"), ("trainer", trainer, "max_epochs"), ("schedule", schedule, "evaluations, steps_per_epoch")):
            if rest:
                raise ConfigError(f"fallback override `{key}` has unknown key(s) {sorted(rest)}; valid: {valid}.")
        return RunSpec(
            experiment=self.experiment,
            label=label or self.label,
            data_kind=self.data_kind,
            data={**self.data, **init_args},
            model={**self.model, **(override.get("model") or {})},
            epochs=int(epochs),
            evaluations=int(evaluations),
            steps_per_epoch=int(steps_per_epoch),
            seed=int(override.get("seed_everything", self.seed)),
            par_solution=self.par_solution,
            plots=self.plots,
        )


def evaluation_epochs(epochs: int, evaluations: int) -> list[int]:
    """About ``evaluations`` epochs in 1..epochs, half log-spaced (early changes), half evenly; always the last."""
    if epochs < 1 or evaluations < 1:
        raise ConfigError(f"`trainer.max_epochs` and `schedule.evaluations` must be >= 1, got {epochs} and {evaluations}.")
    if evaluations >= epochs:
        return list(range(1, epochs + 1))
    log_part = np.geomspace(1, epochs, max(2, evaluations // 2))
    even_part = np.linspace(epochs / max(1, evaluations - evaluations // 2), epochs, max(1, evaluations - evaluations // 2))
    chosen = sorted({int(round(e)) for e in np.concatenate([log_part, even_part])} | {epochs})
    return [e for e in chosen if 1 <= e <= epochs]
