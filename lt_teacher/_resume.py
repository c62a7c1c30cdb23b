"""Resuming a ``lt-teacher fit`` run: one run, one CSV version, one W&B run.

``lt-teacher fit --ckpt_path last`` finds the newest ``last.ckpt`` of earlier runs, continues the CSV
log version it belongs to (keeping the rows logged before the checkpoint) and the W&B run whose id
the checkpoint holds (:class:`RunIdentity` writes it there).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from typing_extensions import override

CHECKPOINT_KEY = "lt_teacher_run"


class RunIdentity(Callback):
    """Stores the loggers' identities in every checkpoint: ``checkpoint["lt_teacher_run"]``.

    ``{"wandb_id": ..., "csv_version": ...}``; a resumed run reads them back to continue the same
    W&B run and CSV version.
    """

    @override
    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        identity: dict[str, Any] = {}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                identity["wandb_id"] = logger.version
            elif isinstance(logger, CSVLogger):
                identity["csv_version"] = logger.version
        checkpoint[CHECKPOINT_KEY] = identity


@dataclass(frozen=True)
class Resume:
    """Where a run resumes from: the checkpoint, its CSV version folder, W&B run id and global step."""

    checkpoint: Path
    version_dir: Path | None
    wandb_id: str | None
    global_step: int


def _init_args(entry: Any) -> Any:
    return entry.get("init_args") if hasattr(entry, "get") else None


def find_last(logger_config: Any, default_root_dir: str | Path) -> Resume | None:
    """The newest ``last.ckpt`` of an earlier run with these loggers, or None.

    With a CSV (or TensorBoard) logger first, checkpoints live in ``<save_dir>/<name>/version_*/checkpoints``;
    otherwise anywhere under ``default_root_dir``.
    """
    entries = logger_config if isinstance(logger_config, list) else [logger_config] if logger_config not in (None, False, True) else []
    roots: list[Path] = []
    for entry in entries:
        class_path = str(entry.get("class_path", "")) if hasattr(entry, "get") else ""
        args = _init_args(entry)
        if args is not None and class_path.endswith(("CSVLogger", "TensorBoardLogger")):
            roots.append(Path(str(args.get("save_dir") or default_root_dir)) / str(args.get("name") or "lightning_logs"))
    found = [p for root in roots for p in root.glob("*/checkpoints/last*.ckpt")]
    if not roots:
        found = list(Path(default_root_dir).rglob("last*.ckpt"))
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    state = torch.load(newest, map_location="cpu", weights_only=False)
    identity = state.get(CHECKPOINT_KEY) or {}
    version_dir = newest.parent.parent if roots else None
    return Resume(newest, version_dir, identity.get("wandb_id"), int(state.get("global_step", 0)))


def point_loggers_at(logger_config: Any, resume: Resume) -> None:
    """Set the CSV logger's version to the resumed folder and the W&B logger's id to the resumed run."""
    entries = logger_config if isinstance(logger_config, list) else [logger_config]
    for entry in entries:
        class_path = str(entry.get("class_path", "")) if hasattr(entry, "get") else ""
        args = _init_args(entry)
        if args is None:
            continue
        if class_path.endswith(("CSVLogger", "TensorBoardLogger")) and resume.version_dir is not None:
            args["version"] = resume.version_dir.name
        elif class_path.endswith("WandbLogger") and resume.wandb_id:
            args["id"] = resume.wandb_id


def keep_earlier_rows(trainer: Trainer, resume: Resume) -> None:
    """Lightning's CSV writer deletes an existing metrics.csv; put back the rows logged before the checkpoint."""
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or not trainer.is_global_zero:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            keys = list(reader.fieldnames or [])
            rows = [row for row in reader if _step(row) < resume.global_step]
        writer = logger.experiment  # creating the writer removes the old file
        with path.open("w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            out.writerows(rows)
        writer.metrics_keys = sorted(keys)


def _step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0


def keep_last(trainer: Trainer) -> None:
    """``save_last=True`` for every ModelCheckpoint that leaves it unset, so ``--ckpt_path last`` can resume."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.save_last is None:
            callback.save_last = True
    callbacks: list[Callback] = getattr(trainer, "callbacks")  # set by Lightning's callback connector, not declared
    if not any(isinstance(c, RunIdentity) for c in callbacks):
        callbacks.append(RunIdentity())
