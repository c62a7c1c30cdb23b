"""Resuming a ``lt-teacher fit`` run: one run, one CSV version, one W&B run; and what the command line
reads of a checkpoint before it uses one.

``lt-teacher fit --ckpt_path last`` finds the newest ``last.ckpt`` of earlier runs, continues the CSV
log version it belongs to (keeping the rows logged before the checkpoint) and the W&B run whose id
the checkpoint holds (:class:`RunIdentity` writes it there). W&B cannot resume an offline run: a second
offline run of the same id starts its history at step 0 again, and ``wandb sync`` of both keeps one
history only. An offline run is therefore continued in a new run of the same W&B group (the first
segment's id), and the final message lists every segment's folder to sync. ``validate`` and ``test`` find the same
``last.ckpt`` (:func:`resolve_ckpt_path`) and evaluate it in a run of their own; :func:`checkpoint_mismatch`
and :func:`completed_epochs` read a checkpoint for the command line's messages and its final table.
"""

from __future__ import annotations

import csv
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from typing_extensions import override

from lt_teacher._checkpoints import plain_value, differing_arguments, run_parameter_dtype

CHECKPOINT_KEY = "lt_teacher_run"


class RunIdentity(Callback):
    """Stores the loggers' identities in every checkpoint: ``checkpoint["lt_teacher_run"]``.

    ``{"wandb_id": ..., "wandb_group": ..., "wandb_offline_dirs": [...], "csv_version": ...}``; a resumed run reads
    them back to continue the same W&B run (online) or group (offline: the folders of its earlier segments) and
    CSV version.
    """

    def __init__(self, earlier_offline_dirs: list[str] | None = None) -> None:
        self.earlier_offline_dirs = list(earlier_offline_dirs or [])

    @override
    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        identity: dict[str, Any] = {}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                identity["wandb_id"] = logger.version
                run = logger.experiment  # on other processes than rank zero Lightning's dummy, whose every attribute is a no-op
                if trainer.is_global_zero and getattr(run, "offline", False) is True:
                    identity["wandb_group"] = getattr(run, "group", None) or logger.version
                    identity["wandb_offline_dirs"] = [*self.earlier_offline_dirs, str(Path(run.dir).parent)]
            elif isinstance(logger, CSVLogger):
                identity["csv_version"] = logger.version
        checkpoint[CHECKPOINT_KEY] = identity


@dataclass(frozen=True)
class Resume:
    """Where a run resumes from: the checkpoint, its CSV version folder, W&B run id and global step, and for an
    offline W&B run its group and the folders of its segments so far."""

    checkpoint: Path
    version_dir: Path | None
    wandb_id: str | None
    global_step: int
    wandb_group: str | None = None
    wandb_offline_dirs: tuple[str, ...] = ()


def _init_args(entry: Any) -> Any:
    return entry.get("init_args") if hasattr(entry, "get") else None


def _logger_entries(logger_config: Any) -> list[tuple[str, Any]]:
    """(class path, init_args) of each logger of a ``--trainer.logger`` config that has its arguments."""
    entries = logger_config if isinstance(logger_config, list) else [logger_config] if logger_config not in (None, False, True) else []
    pairs = [(str(entry.get("class_path", "")) if hasattr(entry, "get") else "", _init_args(entry)) for entry in entries]
    return [(class_path, args) for class_path, args in pairs if args is not None]


def find_last(logger_config: Any, default_root_dir: str | Path) -> Resume | None:
    """The newest ``last.ckpt`` of an earlier run with these loggers, or None.

    With a CSV (or TensorBoard) logger first, checkpoints live in ``<save_dir>/<name>/version_*/checkpoints``;
    otherwise anywhere under ``default_root_dir``.
    """
    roots: list[Path] = []
    for class_path, args in _logger_entries(logger_config):
        if class_path.endswith(("CSVLogger", "TensorBoardLogger")):
            roots.append(Path(str(args.get("save_dir") or default_root_dir)) / str(args.get("name") or "lightning_logs"))
    found = [p for root in roots for p in root.glob("*/checkpoints/last*.ckpt")]
    if not roots:
        found = list(Path(default_root_dir).rglob("last*.ckpt"))
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    state = read_checkpoint(newest, "last", weights_only=False)
    identity = state.get(CHECKPOINT_KEY) or {}
    version_dir = newest.parent.parent if roots else None
    return Resume(newest, version_dir, identity.get("wandb_id"), int(state.get("global_step", 0)),
                  identity.get("wandb_group"), tuple(identity.get("wandb_offline_dirs") or ()))


def read_checkpoint(path: str | Path, flag: str, **load_kwargs: Any) -> dict[str, Any]:
    """``torch.load`` of a checkpoint on the CPU; a file it cannot read (truncated by a kill during a save, not a
    checkpoint at all) is a ValueError naming ``--ckpt_path flag`` and what to do, not the unpickler's traceback."""
    try:
        state = torch.load(path, map_location="cpu", **load_kwargs)
    except Exception as err:  # zip/pickle/EOF/runtime errors of a damaged file, each phrased differently
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:160]  # its first sentence
        raise ValueError(
            f"--ckpt_path {flag}: {path} cannot be read as a checkpoint ({type(err).__name__}: {reason}); a save interrupted "
            "by a kill leaves such a file: pass an earlier checkpoint of the run (its checkpoints/ folder), or start a new run"
        ) from err
    if not isinstance(state, dict):
        raise ValueError(f"--ckpt_path {flag}: {path} holds a {type(state).__name__}, not a Lightning checkpoint; pass a .ckpt file of lt-teacher fit")
    return state


#: The parameter dtype of each ``--trainer.precision`` that converts the module (the others keep float32).
_PRECISION_OF_DTYPE = {torch.float64: "64-true", torch.float32: "32-true", torch.float16: "16-true", torch.bfloat16: "bf16-true"}


def precision_mismatch(ckpt_path: str, checkpoint: dict[str, Any], dtype: torch.dtype, precision: Any) -> str | None:
    """Why ``checkpoint`` should not load under ``--trainer.precision precision``, whose parameters are ``dtype``:
    its floating tensors are of another dtype, so loading would round them (a 64-true run going on in float32)."""
    saved = {v.dtype for v in (checkpoint.get("state_dict") or {}).values() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    if all(torch.promote_types(d, dtype) == dtype for d in saved):  # the run's dtype holds every saved value exactly
        return None
    names = ", ".join(sorted(str(d).removeprefix("torch.") for d in saved))
    flags = " or ".join(f"--trainer.precision {_PRECISION_OF_DTYPE[d]}" for d in saved if d in _PRECISION_OF_DTYPE)
    return (f"--trainer.precision {precision}: --ckpt_path {ckpt_path} holds {names} weights and this precision computes in "
            f"{str(dtype).removeprefix('torch.')}, which would round them; pass {flags or 'the precision it was trained with'}")


def point_loggers_at(logger_config: Any, resume: Resume | None) -> None:
    """The loggers of a fit: a resumed one continues its CSV version folder and its W&B run (online) or group
    (offline, where W&B cannot resume a run: see the module docstring); a new offline W&B run is the first segment
    of its own group, named by its id, so that after ``wandb sync`` the segments show as one group."""
    for class_path, args in _logger_entries(logger_config):
        if class_path.endswith(("CSVLogger", "TensorBoardLogger")) and resume is not None and resume.version_dir is not None:
            args["version"] = resume.version_dir.name
        elif not class_path.endswith("WandbLogger"):
            continue
        elif resume is None:
            if wandb_offline(args) and not args.get("group"):
                args["id"] = args.get("id") or new_run_id()
                args["group"] = args["id"]
        elif (resume.wandb_group or resume.wandb_id) and wandb_offline(args):
            args["group"] = resume.wandb_group or resume.wandb_id  # also a run begun online and resumed offline
            args["id"] = new_run_id()  # never the resumed run's (or a fixed) id: offline, that restarts its history
        elif resume.wandb_id:
            args["id"] = resume.wandb_id


def new_run_id() -> str:
    """A fresh W&B run id (8 lowercase letters and digits, as W&B makes them)."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def wandb_offline(logger_args: Any) -> bool:
    """Whether a WandbLogger of these arguments logs offline (its ``offline`` or ``WANDB_MODE``)."""
    return bool(logger_args.get("offline")) or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun")


def keep_earlier_rows(trainer: Trainer, resume: Resume) -> None:
    """Lightning's CSV writer deletes an existing metrics.csv; put back the rows logged before the checkpoint.

    The rows go to ``.metrics.csv.resume`` first, and that file replaces metrics.csv once the writer has removed it,
    so a kill in between leaves them on disk, where the next resume takes them from.
    """
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or not trainer.is_global_zero:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        kept = path.with_name(".metrics.csv.resume")
        source = path if path.is_file() else kept if kept.is_file() else None
        if source is None:
            continue
        with source.open(newline="") as f:
            reader = csv.DictReader(f)
            keys = list(reader.fieldnames or [])
            rows = [row for row in reader if _step(row) < resume.global_step]
        partial = path.with_name(f".metrics.csv.{os.getpid()}.tmp")
        with partial.open("w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            out.writerows(rows)
        os.replace(partial, kept)
        writer = logger.experiment  # creating the writer removes the old file
        os.replace(kept, path)
        writer.metrics_keys = sorted(keys)


def _step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0


def keep_last(trainer: Trainer, resume: Resume | None = None) -> None:
    """``save_last=True`` and saving at the end of the training epoch for every ModelCheckpoint that leaves them
    unset, so ``--ckpt_path last`` resumes from the last finished epoch, monitors included.

    Left to Lightning, a checkpoint saves at the end of validation when there is validation: before the epoch's
    ``on_train_epoch_end`` (where the monitors evaluate), and with ``check_val_every_n_epoch`` > 1 only every
    that many epochs, so a finished fit could leave ``last.ckpt`` epochs behind.
    """
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.save_last is None:
            callback.save_last = True
        # not for a checkpoint that monitors a metric (it must save when validation logged it), nor when validation
        # runs within epochs (a checkpoint after each is Lightning's choice there)
        epoch_end_validation = getattr(trainer, "val_check_interval", 1.0) == 1.0
        if isinstance(callback, ModelCheckpoint) and callback.monitor is None and epoch_end_validation \
                and getattr(callback, "_save_on_train_epoch_end", False) is None:
            callback._save_on_train_epoch_end = True
    callbacks: list[Callback] = getattr(trainer, "callbacks")  # set by Lightning's callback connector, not declared
    if not any(isinstance(c, RunIdentity) for c in callbacks):
        callbacks.append(RunIdentity(list(resume.wandb_offline_dirs) if resume is not None else None))


def offline_segments(trainer: Trainer) -> list[str]:
    """The folders of the earlier offline W&B segments of the run ``trainer`` continues (oldest first), if any."""
    identity = next((c for c in getattr(trainer, "callbacks", []) if isinstance(c, RunIdentity)), None)
    return identity.earlier_offline_dirs if identity is not None else []


def completed_epochs(checkpoint: dict[str, Any]) -> int:
    """The training epochs a Lightning checkpoint had finished when it was saved.

    ``checkpoint["epoch"]`` is the epoch being run (0-based) while an epoch is under way, the number done after
    ``fit`` ended; the fit loop's progress tells which: an epoch that was started and not yet marked completed
    counts once its training part ran (``processed``) or its last batch did (a checkpoint of the end-of-epoch
    validation).
    """
    loops = checkpoint.get("loops") or {}
    fit_loop = loops.get("fit_loop") or {}
    epochs = (fit_loop.get("epoch_progress") or {}).get("current")
    if not epochs:  # a checkpoint without loop state: Lightning's own count
        return int(checkpoint.get("epoch", 0))
    done = int(epochs.get("completed", 0))
    if int(epochs.get("started", 0)) > done:  # saved inside epoch `done`
        last_batch_ran = bool((fit_loop.get("epoch_loop.batch_progress") or {}).get("is_last_batch"))
        if int(epochs.get("processed", 0)) > done or last_batch_ran:
            done += 1
    return done


def resolve_ckpt_path(subcommand: str, ckpt_path: str | None, logger_config: Any, root: str | Path) -> tuple[str | None, Resume | None]:
    """The checkpoint a command loads: ``last`` is the newest last.ckpt of an earlier run (:func:`find_last`) for fit,
    validate and test alike; a local path must name a file. Returns it and, for ``fit --ckpt_path last``, the run
    to continue. Raises FileNotFoundError (no such file) or ValueError (a file that is no readable checkpoint), naming
    the flag, before any run folder exists."""
    if ckpt_path is None or ckpt_path in ("best", "hpc") or str(ckpt_path).startswith("registry") or "://" in str(ckpt_path):
        return ckpt_path, None  # Lightning's own names, and remote files
    if ckpt_path != "last":
        if not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"--ckpt_path {ckpt_path}: no such file; pass a .ckpt file, or --ckpt_path last for the newest last.ckpt under {root}")
        read_checkpoint(ckpt_path, ckpt_path, weights_only=False)  # a damaged file: one message, here
        return ckpt_path, None
    resume = find_last(logger_config, root)
    if resume is None:
        start = "run without --ckpt_path to start a new run" if subcommand == "fit" else "train one with lt-teacher fit"
        raise FileNotFoundError(f"--ckpt_path last: found no last.ckpt of an earlier run (looked in the CSV log versions under {root}); "
                                f"{start}, or pass --ckpt_path PATH/TO/FILE.ckpt.")
    return str(resume.checkpoint), resume if subcommand == "fit" else None  # validate/test evaluate it in a run of their own


def checkpoint_mismatch(ckpt_path: str, checkpoint: dict[str, Any], model: LightningModule, data_hparams: Any) -> str | None:
    """Why ``checkpoint`` cannot load into ``model`` (built from this command's flags): every tensor whose shape or
    presence differs, and the saved model/data arguments that differ from this run's; None when it fits."""
    saved = {k: tuple(v.shape) for k, v in (checkpoint.get("state_dict") or {}).items() if hasattr(v, "shape")}
    built = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shapes = [f"{name} {saved.get(name, 'missing')} in the checkpoint, {built.get(name, 'missing')} here"
              for name in sorted(saved.keys() | built.keys()) if saved.get(name) != built.get(name)]
    if not shapes:
        return None
    args = differing_arguments(checkpoint.get("datamodule_hyper_parameters"), data_hparams, "data")
    args += differing_arguments(checkpoint.get("hyper_parameters"), model.hparams, "model")
    return (f"--ckpt_path {ckpt_path}: the checkpoint was trained with other model/data arguments: {'; '.join(shapes)}"
            + (f" (it has {', '.join(args)})" if args else "") + "; pass the arguments it was trained with, or another checkpoint")


def dropped_model_flags(given: dict[str, Any], used: dict[str, Any], defaults: Any, ckpt_path: str, subcommand: str) -> str | None:
    """Why a command should not run: model arguments (flags or a ``--config`` file) set to a value other than their
    default and than the one ``ckpt_path``'s arguments put in their place (LightningCLI builds the model from the
    checkpoint's), which would be dropped silently."""
    defaults = dict(vars(defaults)) if defaults is not None else {}
    dropped = [f"model.{name}={plain_value(value)!r} (the checkpoint's: {plain_value(used[name])!r})" for name, value in given.items()
               if name in used and name in defaults and plain_value(value) != plain_value(defaults[name]) and plain_value(value) != plain_value(used[name])]
    if not dropped:
        return None
    other = "start a new run without --ckpt_path" if subcommand == "fit" else "pass another checkpoint"
    return (f"--ckpt_path {ckpt_path}: a run from a checkpoint keeps the model arguments it was trained with, so "
            f"{', '.join(dropped)}, given on the command line or in a --config file, would be ignored; drop it or give the "
            f"checkpoint's value, or {other}")


def pin_log_versions(trainer: Trainer) -> None:
    """Fix the version folder of every CSV and TensorBoard logger now, in this process: under ``ddp_spawn`` the worker
    processes create it, and a version first asked for afterwards (the closing message) would name the next one."""
    for logger in trainer.loggers:
        if isinstance(logger, (CSVLogger, TensorBoardLogger)):
            logger.version  # noqa: B018: computed once and kept, then shipped to the workers with the logger


#: Data arguments that change how the points are served, not which points there are: a resumed fit may change them.
_SERVING_ARGUMENTS = frozenset({"batch_size", "eval_batch_size", "num_workers", "data_dir", "download"})


def training_data_mismatch(ckpt_path: str, checkpoint: dict[str, Any], data_hparams: Any) -> str | None:
    """Why a fit should not go on from ``checkpoint`` with these data arguments: other points (another ``seed``,
    ``n_train``, pair...) would continue a training run on a training set it did not start with."""
    saved = {k: v for k, v in dict(checkpoint.get("datamodule_hyper_parameters") or {}).items() if k not in _SERVING_ARGUMENTS}
    args = differing_arguments(saved, data_hparams, "data")
    if not args:
        return None
    return (f"--ckpt_path {ckpt_path}: the checkpoint was trained on data of other arguments ({', '.join(args)}); a resumed fit "
            "goes on with the data it started with (its training set, and the validation and test curves it logs): pass those "
            "--data arguments, or start a new run without --ckpt_path")


def checked_checkpoint_epochs(ckpt_path: str, subcommand: str | None, model: LightningModule, datamodule: Any, trainer: Trainer) -> int:
    """The epochs ``ckpt_path`` has trained, once it is known to fit the model and data the flags built, the trainer's
    precision and, for fit, ``max_epochs``; otherwise a ValueError saying which flag to change."""
    checkpoint = read_checkpoint(ckpt_path, ckpt_path, weights_only=True, mmap=True)
    epochs = completed_epochs(checkpoint)
    problem = checkpoint_mismatch(ckpt_path, checkpoint, model, getattr(datamodule, "hparams", {}))
    if not problem and subcommand == "fit":
        problem = training_data_mismatch(ckpt_path, checkpoint, getattr(datamodule, "hparams", {}))
    problem = problem or precision_mismatch(ckpt_path, checkpoint, run_parameter_dtype(trainer), trainer.precision)
    max_epochs = trainer.max_epochs
    if not problem and subcommand == "fit" and max_epochs not in (None, -1) and epochs > max_epochs:
        problem = f"--trainer.max_epochs {max_epochs}: --ckpt_path {ckpt_path} has trained {epochs} epochs; pass a larger --trainer.max_epochs to go on"
    if problem:
        raise ValueError(problem)
    return epochs
