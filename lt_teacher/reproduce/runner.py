"""One training run of a reproduction: data, the fused-engine network, the monitors and a W&B run.

A :class:`RunSpec` fixes everything that determines a run's numbers (data, network, epochs,
evaluation schedule, seed); :func:`train` runs it with Lightning and returns the monitors'
float64 histories. Within one ``lt-teacher reproduce`` invocation identical specs are trained
once (``fig7`` reuses the runs of ``fig2-*``), so ``all`` pays for every distinct run once.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Trainer, seed_everything
from torch import Tensor

from lt_teacher.callbacks import NeuronPlotMonitor
from lt_teacher.functional.par_svm import PARSolution
from lt_teacher.model import LeakyReLUTeacherNet

from .config import ConfigError
from .data import closest_argument, make_datamodule
from .fit_configs import run_fit_config
from .run_spec import RunSpec, evaluation_epochs
from .schedule import ScheduledLinearTeacherMonitor, ScheduledPARSolutionMonitor
from .wandb_runs import check_wandb_mode, wandb_logger, wandb_offline


@dataclass
class RunResult:
    """What a run produced: the monitors' float64 histories, the final weights and the data."""

    spec: RunSpec
    history: list[dict[str, float]]  # LinearTeacherMonitor.history (epoch 0 first)
    par_history: list[dict[str, float]]  # PARSolutionMonitor.history ([] unless spec.par_solution)
    par_solution: PARSolution | None
    weight: Tensor  # (S, 2k, d') final first-layer weights, float64
    alpha: float
    v: float
    k: int
    splits: dict[str, tuple[Tensor, Tensor]]  # "train"/"val"/"test" -> (x, y)
    seconds: float
    sgd_steps: int  # per-example updates over all seeds
    wandb_dir: str | None
    data_note: str | None = None
    fit_config: dict[str, Any] = field(default_factory=dict)  # the `lt-teacher fit` config of this run

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1]

    @property
    def num_seeds(self) -> int:
        return int(self.weight.shape[0])

    def w(self, seed: int = 0) -> Tensor:
        return self.weight[seed, : self.k]

    def u(self, seed: int = 0) -> Tensor:
        return self.weight[seed, self.k :]

    def per_seed(self, key: str, row: dict[str, float] | None = None) -> list[float]:
        """The value of ``key`` for every seed in ``row`` (default: the last evaluation)."""
        row = self.last if row is None else row
        if self.num_seeds == 1:
            return [row[key]]
        return [row[f"{key}/seed_{s}"] for s in range(self.num_seeds)]

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, mean over seeds, std over seeds) of ``key`` from the history."""
        epochs = np.array([row["epoch"] for row in self.history])
        mean = np.array([row[key] for row in self.history])
        std = np.array([row.get(f"{key}/std", 0.0) for row in self.history])
        return epochs, mean, std


@dataclass
class Context:
    """Shared by every run of one invocation: where outputs go, W&B mode, the run cache, printing."""

    runs_dir: Path
    wandb: str = "auto"
    echo: Callable[[str], None] = print
    cache: dict[str, RunResult] = field(default_factory=dict)
    trained: list[RunResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_wandb_mode(self.wandb)

    def offline(self) -> bool:
        """Whether this invocation's W&B runs are offline (``--wandb auto``: online only with credentials)."""
        return wandb_offline(self.wandb)


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")


def train(spec: RunSpec, ctx: Context) -> RunResult:
    """Train ``spec`` (or return the identical run trained earlier in this invocation)."""
    key = spec.key()
    if key in ctx.cache:
        return ctx.cache[key]
    _quiet_lightning()
    prepared = make_datamodule(spec.data_kind, dict(spec.data))
    dm, note = prepared.datamodule, prepared.note
    x_train, _ = dm.train_tensors()
    n_train = int(x_train.shape[0])
    if spec.steps_per_epoch < 1:
        raise ConfigError(f"`train.steps_per_epoch` must be >= 1, got {spec.steps_per_epoch}.")
    dm.batch_size = max(1, math.ceil(n_train / spec.steps_per_epoch))  # the loader only paces the fused SGD
    seed_everything(spec.seed, verbose=False)
    model_args = {"engine": "fused", **spec.model}
    try:
        net = LeakyReLUTeacherNet(input_dim=dm.input_dim, **model_args)
    except TypeError as err:
        raise ConfigError(f"`model`: {err} (see LeakyReLUTeacherNet's arguments).{closest_argument(err, LeakyReLUTeacherNet)}") from err
    schedule = evaluation_epochs(spec.epochs, spec.evaluations)
    monitor = ScheduledLinearTeacherMonitor(schedule)
    callbacks: list[Any] = [monitor]
    par_monitor = None
    if spec.par_solution:
        par_monitor = ScheduledPARSolutionMonitor(schedule)
        callbacks.append(par_monitor)
    run_dir = ctx.runs_dir / spec.experiment
    if spec.plots and dm.input_dim == 2:
        callbacks.append(NeuronPlotMonitor(every_n_epochs=spec.epochs, save_dir=run_dir / "plots" / file_slug(spec.label)))
    logger: Any = False
    if ctx.wandb != "disabled":
        logger = wandb_logger(spec, run_dir, offline=ctx.offline())
    trainer = Trainer(
        max_epochs=spec.epochs,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=max(1, spec.steps_per_epoch),
        default_root_dir=str(run_dir),
    )
    start = time.perf_counter()
    trainer.fit(net, datamodule=dm)
    seconds = time.perf_counter() - start
    wandb_dir = None
    if logger:
        experiment = logger.experiment
        wandb_dir = str(Path(experiment.dir).parent)
        experiment.finish()
    hp: Any = net.hparams  # an AttributeDict of the network's arguments
    result = RunResult(
        spec=spec,
        history=[dict(row) for row in monitor.history],
        par_history=[dict(row) for row in par_monitor.history] if par_monitor else [],
        par_solution=par_monitor.solution if par_monitor else None,
        weight=net.weight.detach().to(torch.float64).clone(),
        alpha=float(hp.alpha),
        v=float(hp.v),
        k=int(hp.k),
        splits={name: dm.tensors(name) for name in ("train", "val", "test")},
        seconds=seconds,
        sgd_steps=spec.epochs * n_train * int(hp.num_seeds),
        wandb_dir=wandb_dir,
        data_note=note,
        fit_config=run_fit_config(spec, prepared.class_path, prepared.init_args, dm.batch_size),
    )
    ctx.cache[key] = result
    ctx.trained.append(result)
    ctx.echo(f"  [{spec.experiment}] {spec.label}: {spec.epochs} epochs x {n_train} points x {hp.num_seeds} seeds in {seconds:.1f} s")
    return result


def file_slug(text: str) -> str:
    """``text`` as a file name: letters, digits and ``-_.``, everything else ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "run"
