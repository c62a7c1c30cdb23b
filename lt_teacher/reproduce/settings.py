"""The sections of a reproduction config every experiment uses, validated: :class:`ExperimentSettings`.

A config has two parts. The run-level part (``seed_everything``, ``model``, ``data``, ``trainer``) has
the form and the arguments of an ``lt-teacher fit`` config (checked by its parser, :mod:`.fit_configs`);
a reproduction uses ``trainer.max_epochs`` of the Trainer and fixes the rest. The experiment-level part
is a small typed schema (:mod:`.schema`): ``schedule``, ``criteria``, ``fallback`` and the experiment's
own sections (``init``, ``pairs``, ...). :meth:`ExperimentSettings.spec` turns them into the
:class:`~.run_spec.RunSpec` of a run; :func:`setting_tables` builds the report's two setting tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .config import ConfigError, LoadedConfig, require_keys
from .data import data_kind
from .run_spec import FALLBACK_KEYS, RunSpec
from .schema import Schedule, positive_ints, read_section

COMMON_KEYS = ("name", "experiment", "title", "paper", "notes", "seed_everything", "model", "data", "trainer", "schedule", "criteria")
DEFAULT_MAX_EPOCHS = 100


class ExperimentSettings:
    """The sections of a resolved config that every experiment uses, validated.

    Attributes:
        cfg: the loaded config (name, source, scale, overrides).
        name: the reproduction's name.
        where: "config NAME (SOURCE)", the prefix of every error message about it.
        seed: ``seed_everything``, the seed set before each network is built.
        max_epochs: ``trainer.max_epochs``.
        schedule: the :class:`~.schema.Schedule` of ``schedule``.
        criteria: the experiment's thresholds, a dataclass filled from ``criteria``.
        model: the :class:`~lt_teacher.LeakyReLUTeacherNet` arguments of ``model``.
        data: the datamodule's arguments (``data.init_args``) plus ``kind`` ("gaussian" or "mnist", from ``data.class_path``).
        resolved: the whole resolved mapping (experiment-specific keys such as ``init`` or ``pairs``).
    """

    def __init__(self, cfg: LoadedConfig, extra_keys: Sequence[str], criteria: type[Any]) -> None:
        s = cfg.settings
        self.cfg = cfg
        self.name = cfg.name
        self.where = where = f"config {cfg.name!r} ({cfg.source})"
        require_keys(s, {k: None for k in (*COMMON_KEYS, *extra_keys)}, where)
        self.schedule: Schedule = read_section(Schedule, s.get("schedule"), where, "schedule")
        positive_ints(self.schedule, where, "schedule")
        self.criteria: Any = read_section(criteria, s.get("criteria"), where, "criteria")
        trainer = s.get("trainer") or {}
        if not isinstance(trainer, Mapping):
            raise ConfigError(f"{where}: `trainer` must be a mapping like {{max_epochs: 100}}, got {trainer!r}.")
        self.max_epochs = trainer.get("max_epochs", DEFAULT_MAX_EPOCHS)
        if isinstance(self.max_epochs, bool) or not isinstance(self.max_epochs, int) or self.max_epochs < 1:
            raise ConfigError(f"{where}: `trainer.max_epochs` must be an int >= 1, got {self.max_epochs!r}.")
        self.seed = s.get("seed_everything", 0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{where}: `seed_everything` must be an int >= 0, got {self.seed!r}.")
        self.model = dict(s.get("model") or {})
        data = s.get("data") or {}
        self.data = {"kind": data_kind(data.get("class_path"), where), **(data.get("init_args") or {})} if data else {}
        self.resolved = s

    def spec(self, label: str, data: Mapping[str, Any], model: Mapping[str, Any], **flags: Any) -> RunSpec:
        """The run ``label`` on ``data`` (datamodule arguments with ``kind``) with network ``model``, at this config's schedule."""
        data = dict(data)
        kind = data.pop("kind", "gaussian")
        return RunSpec(
            experiment=self.name, label=label, data_kind=kind, data=data, model=dict(model),
            epochs=int(self.max_epochs), evaluations=int(self.schedule.evaluations),
            steps_per_epoch=int(self.schedule.steps_per_epoch), seed=int(self.seed), **flags,
        )

    def fallbacks(self) -> list[dict[str, Any]]:
        """``fallback``: the settings tried in order when a claim fails, each a partial config like ``{model: {init_std: 1.0e-4}}``."""
        value = self.resolved.get("fallback") or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{self.where}: `fallback` must be a list of overrides like {{model: {{init_std: 1.0e-4}}}}, got {value!r}.")
        for i, override in enumerate(value):
            if unknown := sorted(set(override) - set(FALLBACK_KEYS)):
                raise ConfigError(f"{self.where}: `fallback[{i}]` has unknown key(s) {unknown}; valid keys: {', '.join(FALLBACK_KEYS)}.")
        return value


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]``; an ``init_args`` level is left out of the key (``data.dim`` like ``--data.dim``)."""
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += flatten(prefix if k == "init_args" else (f"{prefix}.{k}" if prefix else str(k)), v)
        return out
    return [(prefix, value)]


def setting_tables(settings: Mapping[str, Any], sections: Sequence[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(stated, choices): the paper's stated values against the ones used, and every other setting with its note."""
    paper = settings.get("paper") or {}
    states = dict(paper.get("states") or {}) if isinstance(paper, Mapping) else {}
    notes = dict(settings.get("notes") or {})
    used = dict(item for name in sections if name in settings for item in flatten(name, settings[name]))
    stated: list[tuple[str, str]] = []
    for key, paper_value in states.items():
        value = used.get(key, paper_value)
        same = str(value) == str(paper_value)
        stated.append((key, f"{value}" if same else f"{value} (paper: {paper_value}; changed in this config)"))
    choices = [(k, f"{v}", str(notes.get(k, ""))) for k, v in used.items() if k not in states]
    return stated, choices
