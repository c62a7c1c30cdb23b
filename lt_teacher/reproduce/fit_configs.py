"""The run-level part of a reproduction config speaks ``lt-teacher fit``'s language, checked by its parser.

``seed_everything``, ``model``, ``data`` (``class_path`` + ``init_args``) and ``trainer`` of a
reproduction config are the keys of an ``lt-teacher fit`` config with the same meaning: they are
parsed by the same jsonargparse parser as LightningCLI builds for ``lt-teacher fit``
(:func:`fit_parser`), so a typo or a wrong type is reported with the key before anything trains.
Every trained run gets its own complete fit config (:func:`run_fit_config`), written next to the
report: ``lt-teacher fit --config reports/<name>/runs/<run>.yaml`` re-runs it alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import yaml
from jsonargparse import ArgumentError
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser

from lt_teacher._cli_support import condense, suggest
from lt_teacher.model import LeakyReLUTeacherNet

from .dialect import DATA_CLASSES
from .errors import ConfigError
from .run_spec import RunSpec

#: The keys of a reproduction config that are ``lt-teacher fit`` config keys.
RUN_LEVEL_KEYS = ("seed_everything", "model", "data", "trainer")
#: The Trainer arguments a reproduction config may set; the runs fix the others (no checkpoints, no validation loop).
TRAINER_KEYS = ("max_epochs",)


@functools.lru_cache(maxsize=1)
def fit_parser() -> LightningArgumentParser:
    """The arguments of an ``lt-teacher fit`` config, as LightningCLI builds them for :class:`~lt_teacher.cli.LinearTeacherCLI`."""
    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_argument("--seed_everything", type=bool | int, default=0)
    parser.add_lightning_class_args(Trainer, "trainer")
    parser.add_lightning_class_args(LeakyReLUTeacherNet, "model", subclass_mode=False)
    parser.add_lightning_class_args(LightningDataModule, "data", subclass_mode=True)
    parser.link_arguments("data.input_dim", "model.input_dim", apply_on="instantiate")
    return parser


def _options() -> list[str]:
    return [o.lstrip("-") for action in fit_parser()._actions for o in action.option_strings]


def check_run_sections(settings: Mapping[str, Any], where: str) -> None:
    """Parse the run-level keys of ``settings`` with :func:`fit_parser`; a wrong one raises :class:`ConfigError` naming it."""
    fit = {key: settings[key] for key in RUN_LEVEL_KEYS if key in settings}
    if not fit:
        return  # no training (supplementary Figure 4)
    data = fit.setdefault("data", {"class_path": DATA_CLASSES["gaussian"]})  # the parser needs a datamodule
    if data is not None and (not isinstance(data, Mapping) or "class_path" not in data):
        raise ConfigError(
            f"{where}: `data` is a datamodule as in `lt-teacher fit` configs: {{class_path: "
            f"lt_teacher.datamodules.LinearTeacherDataModule, init_args: {{dim: 2, ...}}}}, got {data!r}."
        )
    trainer = fit.get("trainer") or {}
    if isinstance(trainer, Mapping) and (extra := sorted(set(trainer) - set(TRAINER_KEYS))):
        raise ConfigError(f"{where}: `trainer` sets {extra}; a reproduction sets only {', '.join(TRAINER_KEYS)} (its runs fix the rest).")
    try:
        fit_parser().parse_object(fit)
    except ArgumentError as err:
        message = condense(str(err))
        hint = ""
        match = re.search(r"Group '(\w+)' does not accept option '(\w+)'|Option '(\w+)' is not accepted", message)
        if match:
            group, name = (match.group(1), match.group(2)) if match.group(1) else ("data", match.group(3))
            close = suggest(f"{group}.{name}", _options() if group != "data" else [f"data.{k}" for k in _data_arguments(data)])
            hint = f" Did you mean {close.split('.', 1)[1]!r}?" if close else ""
        raise ConfigError(f"{where}: {message}{hint}") from err


def _data_arguments(data: Any) -> list[str]:
    import importlib
    import inspect

    module_name, _, class_name = str(data.get("class_path", "")).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name or "lt_teacher.datamodules"), class_name)
    except (ImportError, AttributeError):
        return []
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and not klass.__module__.startswith("lightning"):
            names += [p for p in inspect.signature(vars(klass)["__init__"]).parameters if p not in {"self", "args", "kwargs"}]
    return names


def run_fit_config(spec: RunSpec, class_path: str, init_args: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """The ``lt-teacher fit`` config that trains the networks of ``spec`` (its monitors evaluate every epoch)."""
    callbacks: list[dict[str, Any]] = [{"class_path": "lt_teacher.callbacks.LinearTeacherMonitor"}]
    if spec.par_solution:
        callbacks.append({"class_path": "lt_teacher.callbacks.PARSolutionMonitor"})
    return {
        "seed_everything": spec.seed,
        "model": {"engine": "fused", **spec.model},
        "data": {"class_path": class_path, "init_args": {**init_args, "batch_size": batch_size}},
        "trainer": {
            "max_epochs": spec.epochs,
            "enable_checkpointing": False,
            "num_sanity_val_steps": 0,
            "limit_val_batches": 0,
            "log_every_n_steps": max(1, spec.steps_per_epoch),
            "callbacks": callbacks,
        },
    }


def fit_config_text(config: Mapping[str, Any], *, reproduction: str, label: str) -> str:
    """``config`` as a YAML file for ``lt-teacher fit --config``, with a comment saying which run it is."""
    head = (
        f"# {reproduction}: the run '{label}' of `lt-teacher reproduce {reproduction}`, as an `lt-teacher fit` config.\n"
        "# Re-run it alone: lt-teacher fit --config THIS_FILE (the monitors then evaluate every epoch).\n"
    )
    return head + yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
