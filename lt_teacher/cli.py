"""The ``lt-teacher`` command line (LightningCLI): ``fit``, ``validate``, ``test``.

``lt-teacher fit`` with no arguments runs the main job on the embedded default: a 2-D linear-teacher
data set, :class:`~lt_teacher.LeakyReLUTeacherNet`, every monitor, a progress bar, a CSV log and a
W&B run (offline when no W&B credentials are found, online when they are). Every default can be
changed on the command line or in a YAML config (``--config configs/....yaml``); see ``--help``.
"""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lt_teacher.model import LeakyReLUTeacherNet

RUNS_DIR = "runs"
WANDB_PROJECT = "lt-teacher"


def wandb_credentials_present() -> bool:
    """True when W&B can log online: an API key in the environment or a login in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    if os.environ.get("WANDB_MODE", "").lower() in {"offline", "disabled", "dryrun"}:
        return False
    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def default_loggers(save_dir: str = RUNS_DIR) -> list[dict[str, Any]]:
    """A CSV log and a W&B run, offline unless credentials are present."""
    return [
        {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": save_dir, "name": "csv"}},
        {
            "class_path": "lightning.pytorch.loggers.WandbLogger",
            "init_args": {"save_dir": save_dir, "project": WANDB_PROJECT, "offline": not wandb_credentials_present()},
        },
    ]


DEFAULT_CALLBACKS: list[dict[str, Any]] = [
    {"class_path": "lt_teacher.callbacks.LinearTeacherMonitor"},
    {"class_path": "lt_teacher.callbacks.NeuronPlotMonitor", "init_args": {"every_n_epochs": 10}},
    # last.ckpt after every epoch: `lt-teacher fit --ckpt_path last` resumes an interrupted run
    {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}},
]

DEFAULT_DATA: dict[str, Any] = {
    "class_path": "lt_teacher.datamodules.LinearTeacherDataModule",
    # batch_size: with the fused engine the loader only paces the per-example SGD (see
    # LeakyReLUTeacherNet's `engine`), so 20 means 10 progress-bar steps per epoch, not minibatches.
    "init_args": {"dim": 2, "n_train": 200, "n_val": 200, "n_test": 1000, "seed": 0, "batch_size": 20},
}


class LinearTeacherCLI(LightningCLI):
    """LightningCLI with the paper's defaults; the model's ``input_dim`` follows the datamodule's."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.input_dim", "model.input_dim", apply_on="instantiate")
        parser.set_defaults(
            {
                "data": DEFAULT_DATA,
                "trainer.max_epochs": 50,
                "trainer.default_root_dir": RUNS_DIR,
                "trainer.logger": default_loggers(),
                "trainer.callbacks": DEFAULT_CALLBACKS,
                "trainer.log_every_n_steps": 50,
            }
        )

    def before_instantiate_classes(self) -> None:
        """``fit --ckpt_path last``: resume the newest last.ckpt into its own CSV version and W&B run."""
        self._resume = None
        if self.subcommand != "fit" or self.config["fit"].get("ckpt_path") != "last":
            return
        from lt_teacher._resume import find_last, point_loggers_at

        config = self.config["fit"]
        resume = find_last(config.trainer.logger, config.trainer.default_root_dir or RUNS_DIR)
        if resume is None:
            self.parser.error(
                "--ckpt_path last: found no last.ckpt of an earlier run (looked in the CSV log versions under "
                f"{config.trainer.default_root_dir or RUNS_DIR}); run without --ckpt_path to start a new run, or pass "
                "--ckpt_path PATH/TO/FILE.ckpt."
            )
        point_loggers_at(config.trainer.logger, resume)
        config.ckpt_path = str(resume.checkpoint)
        self._resume = resume

    def before_fit(self) -> None:
        from lt_teacher._resume import keep_earlier_rows, keep_last

        keep_last(self.trainer)
        resume = getattr(self, "_resume", None)
        if resume is not None:
            keep_earlier_rows(self.trainer, resume)

    def after_fit(self) -> None:
        self._report_locations()

    def _report_locations(self) -> None:
        if not self.trainer.is_global_zero:
            return
        lines = ["", "lt-teacher: run finished."]
        for logger in self.trainer.loggers:
            name = type(logger).__name__
            if name == "WandbLogger":
                run_dir = Path(logger.experiment.dir).parent
                offline = bool(logger.experiment.offline)
                lines.append(f"  W&B run ({'offline' if offline else 'online'}): {run_dir}")
                if offline:
                    lines.append(f"    upload later with: wandb sync {run_dir}")
            elif logger.log_dir is not None:
                lines.append(f"  {name}: {logger.log_dir}")
        for callback in self.trainer.callbacks:
            saved = getattr(callback, "saved_files", None)
            if saved:
                lines.append(f"  plots ({type(callback).__name__}): {Path(saved[-1]).parent}")
        print("\n".join(lines), flush=True)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``lt-teacher`` console script."""
    if (args if args is not None else sys.argv[1:])[:1] == ["reproduce"]:  # lt-teacher reproduce ...: see lt_teacher.reproduce
        from lt_teacher.reproduce import main as reproduce_main

        if code := reproduce_main((args if args is not None else sys.argv[1:])[1:]):
            raise SystemExit(code)
        return
    LinearTeacherCLI(
        LeakyReLUTeacherNet,
        LightningDataModule,
        subclass_mode_data=True,
        args=args if args is not None else sys.argv[1:],
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
    )


if __name__ == "__main__":
    main()
