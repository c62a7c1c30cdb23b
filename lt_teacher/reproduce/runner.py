"""One training run of a reproduction: data, the fused-engine network, the monitors and a W&B run.

A :class:`RunSpec` fixes everything that determines a run's numbers (data, network, epochs,
evaluation schedule, seed); :func:`train` runs it with Lightning and returns the monitors'
float64 histories. Within one ``lt-teacher reproduce`` invocation identical specs are trained
once (``fig7`` reuses the runs of ``fig2-*``), so ``all`` pays for every distinct run once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer, seed_everything
from torch import Tensor

from lt_teacher.callbacks import LinearTeacherMonitor, NeuronPlotMonitor, PARSolutionMonitor
from lt_teacher.datamodules import LinearTeacherDataModule, MNISTPairsDataModule
from lt_teacher.datamodules.idx_files import find_split_files
from lt_teacher.functional.par_svm import PARSolution
from lt_teacher.model import LeakyReLUTeacherNet

from .config import ConfigError

DATA_KINDS = ("gaussian", "mnist")
WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_PROJECT = "lt-teacher"


class DataNotFound(ConfigError):
    """The real data set a reproduction needs is not on this machine."""


# ----------------------------------------------------------------------------- MNIST on disk
@dataclass(frozen=True)
class MNISTLocation:
    """Where MNIST was found and which split the runs use (the report states it)."""

    data_dir: Path
    split_source: str  # "official" or "test-split"
    note: str


def _mnist_candidates() -> list[Path]:
    """Folders searched for ``MNIST/raw`` when ``data_dir: auto``, in order."""
    repo = Path(__file__).resolve().parents[2]  # the repository root of an editable install
    candidates = [Path(p) for p in (os.environ.get("LT_TEACHER_DATA_DIR"),) if p]
    candidates += [Path("data"), Path("../shared/data"), repo / "data", repo.parent / "shared" / "data"]
    unique: list[Path] = []
    for path in candidates:
        if path.resolve() not in [u.resolve() for u in unique]:
            unique.append(path)
    return unique


def _relative(path: Path) -> str:
    """``path`` relative to the working directory (reports name no absolute path of the machine that made them)."""
    try:
        return os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:  # another drive (Windows)
        return path.name


def locate_mnist(data_dir: str, split_source: str) -> MNISTLocation:
    """Resolve ``data_dir: auto`` and ``split_source: auto`` to the official split found on disk.

    ``auto`` split: the official training split if its files exist, else the official *test* split
    divided into train/val/test (never silently: the note says so and the report prints it).
    """
    if split_source not in ("auto", "official", "test-split"):
        raise ConfigError(f"`data.split_source` must be auto, official or test-split, got {split_source!r}.")
    candidates = _mnist_candidates() if data_dir == "auto" else [Path(data_dir)]
    for root in candidates:
        raw = root / "MNIST" / "raw"
        _, missing_test = find_split_files(raw, "test")
        if missing_test:
            continue
        _, missing_train = find_split_files(raw, "train")
        if split_source == "official" and missing_train:
            raise DataNotFound(
                f"split_source=official, but the official MNIST training files {missing_train} are not in {raw}; "
                "use `--set data.split_source=auto` (or test-split), or put the files there."
            )
        chosen = split_source if split_source != "auto" else ("test-split" if missing_train else "official")
        shown = _relative(raw)
        if chosen == "official":
            note = f"official MNIST split from {shown}: training (with a held-out validation share) and test files."
        else:
            note = (
                f"only the official MNIST *test* split (t10k, 10,000 images) is on this machine ({shown}); "
                "the official training files are not, so the training and test sets (and a validation set if val_fraction > 0) are a seeded, per-label "
                "division of the official test split. Numbers are therefore not on the official training set."
            )
        return MNISTLocation(root, chosen, note)
    looked = ", ".join(str(c / "MNIST" / "raw") for c in candidates)
    raise DataNotFound(
        f"MNIST not found (looked for t10k-images-idx3-ubyte[.gz] in: {looked}). Set LT_TEACHER_DATA_DIR or "
        "`--set data.data_dir=PATH` (torchvision layout PATH/MNIST/raw), or `--set data.download=true` with internet."
    )


# ----------------------------------------------------------------------------- run specification
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

    def with_overrides(self, override: dict[str, Any], label: str | None = None) -> RunSpec:
        """A copy with ``{"model": {...}, "data": {...}, "epochs": ...}`` overrides applied."""
        allowed = {"model", "data", "epochs", "evaluations", "steps_per_epoch", "seed"}
        if unknown := sorted(set(override) - allowed):
            raise ConfigError(f"fallback override has unknown key(s) {unknown}; valid: {', '.join(sorted(allowed))}.")
        return RunSpec(
            experiment=self.experiment,
            label=label or self.label,
            data_kind=self.data_kind,
            data={**self.data, **override.get("data", {})},
            model={**self.model, **override.get("model", {})},
            epochs=int(override.get("epochs", self.epochs)),
            evaluations=int(override.get("evaluations", self.evaluations)),
            steps_per_epoch=int(override.get("steps_per_epoch", self.steps_per_epoch)),
            seed=int(override.get("seed", self.seed)),
            par_solution=self.par_solution,
            plots=self.plots,
        )


def evaluation_epochs(epochs: int, evaluations: int) -> list[int]:
    """About ``evaluations`` epochs in 1..epochs, half log-spaced (early changes), half evenly; always the last."""
    if epochs < 1 or evaluations < 1:
        raise ConfigError(f"`train.epochs` and `train.evaluations` must be >= 1, got {epochs} and {evaluations}.")
    if evaluations >= epochs:
        return list(range(1, epochs + 1))
    log_part = np.geomspace(1, epochs, max(2, evaluations // 2))
    even_part = np.linspace(epochs / max(1, evaluations - evaluations // 2), epochs, max(1, evaluations - evaluations // 2))
    chosen = sorted({int(round(e)) for e in np.concatenate([log_part, even_part])} | {epochs})
    return [e for e in chosen if 1 <= e <= epochs]


# ----------------------------------------------------------------------------- monitors on a schedule
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


# ----------------------------------------------------------------------------- results and context
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
        if self.wandb not in WANDB_MODES:
            raise ConfigError(f"--wandb must be one of {', '.join(WANDB_MODES)}, got {self.wandb!r}.")

    def offline(self) -> bool:
        if self.wandb == "online":
            return False
        if self.wandb == "offline":
            return True
        from lt_teacher.cli import wandb_credentials_present

        return not wandb_credentials_present()


# ----------------------------------------------------------------------------- training
def _closest_argument(err: TypeError, cls: type) -> str:
    """" Did you mean 'alpha'?" for an unexpected keyword argument close to one of ``cls``'s, else ""."""
    import inspect
    import re

    from lt_teacher._cli_support import suggest

    match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    if not match:
        return ""
    names = [p for klass in cls.__mro__ if "__init__" in vars(klass) for p in inspect.signature(klass.__init__).parameters]
    close = suggest(match.group(1), [n for n in names if n not in {"self", "args", "kwargs"}])
    return f" Did you mean {close!r}?" if close else ""


def make_datamodule(kind: str, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """The datamodule of a run and, for MNIST, the note on which split was used."""
    where = f"`data` ({kind})"
    if kind == "gaussian":
        try:
            return LinearTeacherDataModule(**kwargs), None
        except TypeError as err:
            raise ConfigError(f"{where}: {err} (see LinearTeacherDataModule's arguments).{_closest_argument(err, LinearTeacherDataModule)}") from err
    if kind == "mnist":
        args = dict(kwargs)
        location = locate_mnist(str(args.pop("data_dir", "auto")), str(args.pop("split_source", "auto")))
        if location.split_source == "official":
            args.pop("test_fraction", None)  # the official test split is the test set
        try:
            dm = MNISTPairsDataModule(data_dir=location.data_dir, split_source=location.split_source, **args)
        except TypeError as err:
            raise ConfigError(f"{where}: {err} (see MNISTPairsDataModule's arguments).{_closest_argument(err, MNISTPairsDataModule)}") from err
        return dm, location.note
    raise ConfigError(f"`data.kind` must be one of {', '.join(DATA_KINDS)}, got {kind!r}.")


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")


def _wandb_logger(spec: RunSpec, ctx: Context, run_dir: Path) -> Any:
    from lightning.pytorch.loggers import WandbLogger

    run_dir.mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=WANDB_PROJECT,
        name=f"{spec.experiment}/{spec.label}",
        group=spec.experiment,
        tags=wandb_tags(spec),
        job_type="reproduce",
        save_dir=str(run_dir),
        offline=ctx.offline(),
        config=spec.as_dict(),
        settings=wandb_settings(),
    )


def wandb_tags(spec: RunSpec) -> list[str]:
    """Tags that let the W&B UI set the runs of one reproduction side by side: the reproduction, the data set
    the run's claims are about, and whether it is the config's setting or a fallback tried when a claim failed
    (a run can serve several claims, so the claim texts themselves are in the report)."""
    data = spec.label.split(",")[0].split("[")[0].strip()
    role = "fallback" if "[" in spec.label else "config-setting"
    return [tag[:64] for tag in (spec.experiment, "reproduce", data, role) if tag]


def wandb_settings() -> Any:
    """No system-metrics sampler per run: on a 2-core machine it competes with the training it measures."""
    import wandb

    try:
        return wandb.Settings(x_disable_stats=True)
    except Exception:  # an older or newer wandb without this setting: its defaults
        return wandb.Settings()


def train(spec: RunSpec, ctx: Context) -> RunResult:
    """Train ``spec`` (or return the identical run trained earlier in this invocation)."""
    key = spec.key()
    if key in ctx.cache:
        return ctx.cache[key]
    _quiet_lightning()
    dm, note = make_datamodule(spec.data_kind, dict(spec.data))
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
        raise ConfigError(f"`model`: {err} (see LeakyReLUTeacherNet's arguments).{_closest_argument(err, LeakyReLUTeacherNet)}") from err
    schedule = evaluation_epochs(spec.epochs, spec.evaluations)
    monitor = ScheduledLinearTeacherMonitor(schedule)
    callbacks: list[Any] = [monitor]
    par_monitor = None
    if spec.par_solution:
        par_monitor = ScheduledPARSolutionMonitor(schedule)
        callbacks.append(par_monitor)
    run_dir = ctx.runs_dir / spec.experiment
    if spec.plots and dm.input_dim == 2:
        callbacks.append(NeuronPlotMonitor(every_n_epochs=spec.epochs, save_dir=run_dir / "plots" / _slug(spec.label)))
    logger: Any = False
    if ctx.wandb != "disabled":
        logger = _wandb_logger(spec, ctx, run_dir)
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
    hp = net.hparams
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
    )
    ctx.cache[key] = result
    ctx.trained.append(result)
    ctx.echo(f"  [{spec.experiment}] {spec.label}: {spec.epochs} epochs x {n_train} points x {hp.num_seeds} seeds in {seconds:.1f} s")
    return result


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "run"
