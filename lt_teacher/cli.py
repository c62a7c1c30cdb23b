"""The ``lt-teacher`` command line (LightningCLI): ``fit``, ``validate``, ``test`` (and ``reproduce``).

``lt-teacher fit`` with no arguments runs the main job on the embedded default: a 2-D linear-teacher
data set, :class:`~lt_teacher.LeakyReLUTeacherNet`, every monitor, a progress bar, a CSV log and a
W&B run (offline when no W&B credentials are found, online when they are). Every default can be
changed on the command line or in a YAML config (``--config configs/....yaml``); see ``--help``.

Around LightningCLI: short error messages (``--traceback`` or ``LT_TEACHER_TRACEBACK=1`` for the
full traceback), ``--model.x`` and ``--data.x`` for every argument (``--*.init_args.x`` also works),
a fixed default seed (0, printed), a progress bar with two diagnostics, a model summary of Eq. (1),
the curves of the monitored quantities, and at the end a table of the final diagnostics and where
everything was written. See :mod:`lt_teacher._cli_support` and :mod:`lt_teacher.summary`.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, ModelSummary, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from typing_extensions import override

from lt_teacher._cli_support import (
    HELP,
    USER_ERRORS,
    accelerator_flag_error,
    argument_error_text,
    condense,
    normalize_flags,
    optimizer_flag_error,
    package_version,
    report_error,
    run_name,
    stopped_by_signal,
    silence_package_noise,
    traceback_requested,
    wandb_credentials_present,
)
from lt_teacher._chunk_plan import OLD_ENGINE_NAMES, per_example_precision_problem
from lt_teacher._resume import Resume, checked_checkpoint_epochs, dropped_model_flags, keep_earlier_rows, keep_last
from lt_teacher._resume import offline_segments, pin_log_versions, point_loggers_at, resolve_ckpt_path
from lt_teacher.model import LeakyReLUTeacherNet

RUNS_DIR = "runs"
WANDB_PROJECT = "lt-teacher"


def default_loggers(save_dir: str = RUNS_DIR) -> list[dict[str, Any]]:
    """A CSV log and a W&B run, offline unless credentials are present; no W&B run under ``WANDB_MODE=disabled``."""
    csv_log = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": save_dir, "name": "csv"}}
    if os.environ.get("WANDB_MODE", "").strip().lower() == "disabled":
        return [csv_log]
    init = {"save_dir": save_dir, "project": WANDB_PROJECT, "offline": not wandb_credentials_present()}
    return [csv_log, {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": init}]


DEFAULT_CALLBACKS: list[dict[str, Any]] = [
    {"class_path": "lt_teacher.callbacks.LinearTeacherMonitor"},
    {"class_path": "lt_teacher.callbacks.NeuronPlotMonitor", "init_args": {"every_n_epochs": 10}},
    # last.ckpt after every epoch, monitors included: `lt-teacher fit --ckpt_path last` resumes an interrupted run
    {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True, "save_on_train_epoch_end": True}},
]

DEFAULT_DATA: dict[str, Any] = {
    "class_path": "lt_teacher.datamodules.LinearTeacherDataModule",
    # batch_size: with the fused engine the loader only paces the per-example SGD (see
    # LeakyReLUTeacherNet's `engine`), so 20 means 10 progress-bar steps per epoch, not minibatches.
    "init_args": {"dim": 2, "n_train": 200, "n_val": 200, "n_test": 1000, "seed": 0, "batch_size": 20},
}


SUBCOMMANDS = ("fit", "validate", "test")
HARDWARE_FLAGS = ("accelerator", "devices", "strategy", "precision")
# Wrong inputs, one message each: USER_ERRORS and Lightning's name for a wrong Trainer argument.
COMMAND_ERRORS: tuple[type[BaseException], ...] = (*USER_ERRORS, MisconfigurationException)


class LoggedConfig(SaveConfigCallback):
    """Saves ``config.yaml`` to the log dir (Lightning's behaviour) and gives every W&B run the full resolved
    config as namespaced keys (``trainer.max_epochs``, ``model.alpha``, ``data.init_args.seed``, ...)."""

    @override
    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        resolved = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        resolved["lt_teacher_version"] = package_version()
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(resolved, allow_val_change=True)


class LinearTeacherCLI(LightningCLI):
    """LightningCLI with the paper's defaults; the model's ``input_dim`` follows the datamodule's."""

    _resume: Resume | None = None  # fit --ckpt_path last: the run it continues
    _checkpoint_epochs: int | None = None  # the training epochs of the checkpoint loaded (--ckpt_path)

    @override
    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("exit_on_error", False)  # main() turns a parse error into a short message
        return super().init_parser(**kwargs)

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.input_dim", "model.input_dim", apply_on="instantiate")
        parser.set_defaults({"data": DEFAULT_DATA, "trainer.max_epochs": 50, "trainer.default_root_dir": RUNS_DIR,
                             "trainer.logger": default_loggers(), "trainer.callbacks": DEFAULT_CALLBACKS})
        try:  # validate/test: our table replaces Lightning's metric table
            parser.set_defaults({"verbose": False})
        except (KeyError, ArgumentError):
            pass

    @override
    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            argv = sys.argv[1:] if args is None else list(args)
            sub = argv[0] if argv and argv[0] in SUBCOMMANDS else None
            target = self._subcommand_parsers.get(sub, parser) if sub else parser
            raise CommandLineError(argument_error_text(str(err), target, sub)) from err
        self._resolve_ckpt_path()

    def _resolve_ckpt_path(self) -> None:
        """``--ckpt_path last`` -> a file before LightningCLI reads the model's hyper-parameters from it (as from any path)."""
        sub = self.config.get("subcommand")
        if sub in SUBCOMMANDS:
            config = self.config[sub]
            try:
                config.ckpt_path, self._resume = resolve_ckpt_path(sub, config.get("ckpt_path"), config.trainer.logger,
                                                                   config.trainer.default_root_dir or RUNS_DIR)
            except (FileNotFoundError, ValueError) as err:
                raise CommandLineError(str(err)) from err

    @override
    def _parse_ckpt_path(self) -> None:
        """LightningCLI builds the model with ``--ckpt_path``'s arguments: a model flag set to another value is an error."""
        sub = self.config.get("subcommand")
        given = self.config[sub].get("model") if sub in SUBCOMMANDS else None
        given = dict(vars(given)) if given is not None and not isinstance(given, (str, type(None))) else None
        super()._parse_ckpt_path()
        if given is not None and (problem := dropped_model_flags(given, vars(self.config[sub].model), self._subcommand_parsers[sub].get_defaults().model, self.config[sub].ckpt_path, sub)):
            raise CommandLineError(problem)

    @override
    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except USER_ERRORS as err:  # name the flag of the argument the message names
            if "Union subtypes" in str(err):  # a datamodule's own error, inside jsonargparse's wrapping
                data_error = ValueError(f"the datamodule rejected its arguments:\n{condense(str(err))}")
                names = re.findall(r"`(\w+)`", str(data_error))
                if names:
                    data_error.lt_teacher_hint = f"set it with --data.{names[0]} (lt-teacher {self.subcommand} --data.help CLASS)"  # type: ignore[attr-defined]
                raise data_error from err
            parser = self._parser(self.subcommand)
            options = [o for a in parser._actions for o in a.option_strings]
            names = re.findall(r"`(\w+)`", str(err))
            flags = [o for name in names for o in options if o.endswith(f".{name}") and o.count(".") == 1]
            from_data = any("datamodules" in frame.filename for frame in traceback.extract_tb(err.__traceback__))
            if not flags and names and from_data:
                flags = [f"--data.{names[0]}"]
            if flags:
                err.lt_teacher_hint = f"set it with {' or '.join(dict.fromkeys(flags))} (lt-teacher {self.subcommand} --help)"  # type: ignore[attr-defined]
            raise

    def _name_wandb_runs(self) -> None:
        """Every W&B run gets a readable name (data, alpha, init scale) and the subcommand as its job type."""
        config = self.config[self.subcommand]
        loggers = config.trainer.logger
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            if getattr(logger, "class_path", None) != "lightning.pytorch.loggers.WandbLogger":
                continue
            if logger.init_args.get("name") is None:
                logger.init_args.name = run_name(config)
            if logger.init_args.get("job_type") is None:  # W&B's "job type": fit, validate or test
                logger.init_args.job_type = self.subcommand

    @override
    def after_instantiate_classes(self) -> None:
        self._check_checkpoint()
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is None:
                # WandbLogger always passes `anonymous`, which W&B >= 0.19 warns about; W&B looks for a git
                # root in save_dir and warns when the folder does not exist yet.
                logger._wandb_init.pop("anonymous", None)
                Path(logger.save_dir or RUNS_DIR).mkdir(parents=True, exist_ok=True)
        # The full resolved config goes to the loggers (LoggedConfig) with namespaced keys; Lightning's flat
        # merge of the model's and the datamodule's hparams would log an ambiguous `seed`.
        for module in (self.model, self.datamodule):
            if module is not None:
                module._log_hyperparams = False

    def _check_checkpoint(self) -> None:
        """The checkpoint must fit the model, the data and the trainer the flags built (an error before any run folder
        or resumed log is touched); its completed epochs head the final table of validate/test."""
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        if ckpt_path is None and self.subcommand in ("validate", "test"):
            print(f"lt-teacher {self.subcommand}: no --ckpt_path, so the network is evaluated as initialized (untrained); "
                  "pass --ckpt_path last for the last fit's network", file=sys.stderr)
        if ckpt_path is not None and Path(ckpt_path).is_file():
            try:
                self._checkpoint_epochs = checked_checkpoint_epochs(ckpt_path, self.subcommand, self.model, self.datamodule, self.trainer)
            except ValueError as err:
                raise CommandLineError(str(err)) from err

    @override
    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured trainer, plus what the command line adds: a progress bar with two diagnostics, a model
        summary of Eq. (1) and the curves of the monitored quantities (each unless turned off or already given)."""
        from lt_teacher.callbacks import CurvePlotMonitor, LinearTeacherProgressBar, TeacherNetSummary
        from lt_teacher.callbacks._evaluation_callback import EvaluationCallback

        config = self._get(self.config_init, "trainer", default={})
        given = config.get("callbacks") or []
        given = given if isinstance(given, list) else [given]
        extra: list[Callback] = []
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in given):
            extra.append(LinearTeacherProgressBar())
        if config.get("enable_model_summary") is not False and not any(isinstance(c, ModelSummary) for c in given):
            extra.append(TeacherNetSummary())
        if any(isinstance(c, EvaluationCallback) for c in given) and not any(isinstance(c, CurvePlotMonitor) for c in given):
            extra.append(CurvePlotMonitor())
        try:
            return super().instantiate_trainer(callbacks=[*given, *extra], **kwargs)
        except MisconfigurationException as err:  # e.g. more --trainer.devices than the machine has
            flags = ", ".join(f"--trainer.{k} {config[k]}" for k in HARDWARE_FLAGS if config.get(k) not in (None, "auto"))
            raise CommandLineError(f"the Trainer cannot run with {flags or 'these arguments'}: {err}") from err

    def _sensible_log_interval(self) -> None:
        """Log every step when an epoch has fewer than Lightning's 50 steps (unless the user chose)."""
        if self._get(self.config, "trainer").get("log_every_n_steps") is not None or self.datamodule is None:
            return
        try:
            batches = len(self.datamodule.train_dataloader())
        except Exception:  # noqa: BLE001 - a datamodule that cannot tell: keep Lightning's default
            return
        self.trainer.log_every_n_steps = max(1, min(50, batches))  # type: ignore[attr-defined]  # set in Trainer.__init__ by its connector

    @override
    def before_instantiate_classes(self) -> None:
        """Refuse flags that cannot work, before any run exists; ``fit --ckpt_path last`` continues its CSV version and W&B run."""
        self._name_wandb_runs()
        config = self.config[self.subcommand]
        problem = accelerator_flag_error(config.trainer.accelerator)
        if self.subcommand == "fit":
            engine = OLD_ENGINE_NAMES.get(config.model.engine, config.model.engine)
            problem = problem or optimizer_flag_error(engine, config.get("optimizer"), config.get("lr_scheduler"))
            precision = per_example_precision_problem(config.trainer.precision) if engine != "lightning" else None
            if precision and not problem:
                problem = (f"--trainer.precision {config.trainer.precision}: --model.engine {engine} trains only under --trainer.precision "
                           f"32-true (the default) or 64-true, since {precision}; use one of those, or --model.engine lightning")
        if problem:
            raise CommandLineError(problem)
        if self.subcommand == "fit":
            point_loggers_at(config.trainer.logger, self._resume)

    def before_fit(self) -> None:
        self._sensible_log_interval()
        pin_log_versions(self.trainer)
        keep_last(self.trainer, self._resume)
        if self._resume is not None:
            keep_earlier_rows(self.trainer, self._resume)

    def before_validate(self) -> None:
        pin_log_versions(self.trainer)

    def before_test(self) -> None:
        pin_log_versions(self.trainer)

    def after_fit(self) -> None:
        self._report("fit")

    def after_validate(self) -> None:
        self._report("validate")

    def after_test(self) -> None:
        self._report("test")

    def _report(self, stage: str) -> None:
        if not self.trainer.is_global_zero:
            return
        from lt_teacher.callbacks._evaluation_callback import EvaluationCallback
        from lt_teacher.summary import summary_table

        values: dict[str, float] = {}
        for callback in _trainer_callbacks(self.trainer):
            if isinstance(callback, EvaluationCallback):
                values.update(callback.latest)
        epochs = int(values.get("epoch", self.trainer.current_epoch))
        if stage != "fit" and self._checkpoint_epochs is not None:  # validate/test: the epochs of the checkpoint evaluated
            epochs = self._checkpoint_epochs
        table = summary_table(values, title=f"of {stage}, after {epochs} training epoch{'s' if epochs != 1 else ''}")
        lines = ["", table] if table else []
        lines += ["", f"lt-teacher: {stage} finished (seed {self._get(self.config, 'seed_everything')})."]
        for logger in self.trainer.loggers:
            name = type(logger).__name__
            if isinstance(logger, WandbLogger):
                run_dir = Path(logger.experiment.dir).parent
                offline = bool(logger.experiment.offline)
                lines.append(f"  W&B run ({'offline' if offline else 'online'}): {run_dir}  [{logger.experiment.name}]")
                if offline:  # a resumed offline run: every segment, oldest first (one W&B group)
                    segments = [d for d in offline_segments(self.trainer) if Path(d).exists() and Path(d) != run_dir]
                    lines.append(f"    upload later with: wandb sync {' '.join([*segments, str(run_dir)])}")
            elif logger.log_dir is not None:
                lines.append(f"  {name}: {logger.log_dir}")
        for callback in _trainer_callbacks(self.trainer):
            saved = getattr(callback, "saved_files", None)
            if saved:
                lines.append(f"  plots ({type(callback).__name__}): {Path(saved[-1]).parent if len(saved) > 1 else saved[-1]}")
        print("\n".join(lines), flush=True)


def _trainer_callbacks(trainer: Trainer) -> list[Callback]:
    """``trainer.callbacks`` (an attribute Lightning's callback connector sets, unknown to the type checker)."""
    callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]
    return callbacks


class CommandLineError(Exception):
    """A wrong command line or config value, already phrased for the user."""


def _run_reproduce(argv: list[str], full_traceback: bool) -> None:
    from lt_teacher.reproduce import main as reproduce_main

    try:
        code = reproduce_main(argv)
    except USER_ERRORS as err:
        if full_traceback:
            raise
        raise SystemExit(report_error(err, "lt-teacher reproduce", full_traceback=False)) from None
    if code:
        raise SystemExit(code)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``lt-teacher`` console script."""
    full_traceback, argv = traceback_requested(list(sys.argv[1:] if args is None else args))
    if not argv or argv[0] in ("-h", "--help"):
        print(HELP)
        return
    if argv[0] in ("--version", "-V"):
        print(f"lt-teacher {package_version()}")
        return
    if argv[0] == "reproduce":  # lt-teacher reproduce ...: see lt_teacher.reproduce
        _run_reproduce(argv[1:], full_traceback)
        return
    if argv[0] not in SUBCOMMANDS:
        close = difflib.get_close_matches(argv[0], [*SUBCOMMANDS, "reproduce"], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"lt-teacher: error: unknown command {argv[0]!r}; expected fit, validate, test or reproduce.{hint}", file=sys.stderr)
        print("  (lt-teacher --help lists them)", file=sys.stderr)
        raise SystemExit(2)
    silence_package_noise()
    saved_argv = sys.argv
    # LightningCLI reads sys.argv itself (passing `args` as well makes it warn): hand it the normalized flags there.
    # sys.argv[0] stays the script that runs (the console script, or lt_teacher/cli.py): DDP's launcher restarts it per process.
    sys.argv = [saved_argv[0] if saved_argv else "lt-teacher", *normalize_flags(argv)]
    try:
        LinearTeacherCLI(
            LeakyReLUTeacherNet,
            LightningDataModule,
            subclass_mode_data=True,
            seed_everything_default=0,
            save_config_callback=LoggedConfig,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"default_env": False},
        )
    except (CommandLineError, ArgumentError) as err:
        if full_traceback:
            raise
        message = str(err) if isinstance(err, CommandLineError) else condense(str(err))
        print(f"lt-teacher {argv[0]}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    except COMMAND_ERRORS as err:
        if full_traceback:
            raise
        raise SystemExit(report_error(err, f"lt-teacher {argv[0]}", full_traceback=False)) from None
    except (KeyboardInterrupt, SystemExit) as err:  # a signal stops the run: exit with its status, never 0
        raise SystemExit(stopped_by_signal(err, f"lt-teacher {argv[0]}", resumable=argv[0] == "fit")) from None
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    main()
