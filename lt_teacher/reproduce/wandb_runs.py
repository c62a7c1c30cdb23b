"""The W&B side of a reproduction: one run per training run (named, grouped and tagged), offline without credentials."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lt_teacher._cli_support import wandb_credentials_present

from .config import ConfigError
from .run_spec import RunSpec

WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_PROJECT = "lt-teacher"


def check_wandb_mode(mode: str) -> str:
    if mode not in WANDB_MODES:
        raise ConfigError(f"--wandb must be one of {', '.join(WANDB_MODES)}, got {mode!r}.")
    return mode


def wandb_offline(mode: str) -> bool:
    """Whether runs of ``mode`` (see ``WANDB_MODES``) are logged offline: ``auto`` is online only with credentials."""
    if mode == "online":
        return False
    if mode == "offline":
        return True
    return not wandb_credentials_present()


def wandb_logger(spec: RunSpec, run_dir: Path, *, offline: bool) -> Any:
    """The W&B logger of one training run: named ``<reproduction>/<run>``, grouped by reproduction, tagged."""
    from lightning.pytorch.loggers import WandbLogger

    run_dir.mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=WANDB_PROJECT,
        name=f"{spec.experiment}/{spec.label}",
        group=spec.experiment,
        tags=wandb_tags(spec),
        job_type="reproduce",
        save_dir=str(run_dir),
        offline=offline,
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


def log_untrained(runs_dir: Path, name: str, values: dict[str, float], image: Path, *, offline: bool) -> dict[str, Any]:
    """A W&B run for a reproduction without training: its measured values and figure; returns its row of the runs table."""
    import wandb

    start = time.perf_counter()
    run_dir = runs_dir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=WANDB_PROJECT, name=f"{name}/measures", group=name, job_type="reproduce", dir=str(run_dir),
                     mode="offline" if offline else "online", reinit="finish_previous", settings=wandb_settings())
    run.summary.update(values)
    run.log({"figure": wandb.Image(str(image))})
    wandb_dir = str(Path(run.dir).parent)
    run.finish()
    return {"label": "measures (no training)", "seeds": 0, "epochs": 0, "n_train": 0, "sgd_steps": 0,
            "seconds": round(time.perf_counter() - start, 3), "wandb": wandb_dir}
